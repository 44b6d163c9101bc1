/**
 * Test support: real nats-server processes with JetStream, on 127.0.0.1
 * ports found free a moment before, storing in a temporary directory; and
 * kbusd processes joined to them in cluster mode.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { connect } from 'nats';
import { Ksock } from '../../src/client/index.js';
import { freePort } from '../limpet/helpers.js';
import { type RunningDaemon, startDaemon, tempDir } from '../support/daemon.js';
import { waitFor } from '../support/wait.js';

/**
 * Waits until the JetStream of the servers at `urls` makes a key-value
 * bucket (so a cluster has elected its meta leader), as kbusd's first step
 * in the cluster does.
 */
async function jetStreamReady(urls: string[]): Promise<void> {
  const nc = await connect({ servers: urls, maxReconnectAttempts: -1 });
  try {
    await waitFor(async () => {
      try {
        await nc.jetstream({ timeout: 1000 }).views.kv('kbus_test_ready', { history: 1 });
        return true;
      } catch {
        return false;
      }
    }, 'the JetStream cluster to elect a meta leader and make a bucket');
  } finally {
    await nc.close();
  }
}

/** The nats-server to run: $NATS_SERVER, else the one on PATH. */
export function natsServerPath(): string {
  const path = process.env.NATS_SERVER ?? 'nats-server';
  const found = spawnSync(path, ['--version'], { encoding: 'utf8' });
  assert.ok(
    found.status === 0,
    `the cluster tests need nats-server (with JetStream) on PATH or in $NATS_SERVER: ` +
      `install it (Debian/Ubuntu: apt-get install nats-server; or https://nats.io/download/)`,
  );
  return path;
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** Its command line, to start it again on the same port and store. */
  readonly args: string[];
  log(): string;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>;
}

async function waitListening(child: ChildProcess, log: () => string): Promise<void> {
  await waitFor(
    () => {
      assert.equal(child.exitCode, null, `nats-server exited: ${log()}`);
      return log().includes('Server is ready');
    },
    () => `nats-server to be ready: ${log()}`,
  );
}

function run(args: string[], cleanup: Set<() => unknown>): NatsServer & { started: Promise<void> } {
  const child = spawn(natsServerPath(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (t: string) => {
    text += t;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = Number(args[args.indexOf('-p') + 1]);
  const server = {
    url: `nats://127.0.0.1:${port}`,
    port,
    process: child,
    args,
    log: () => text,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    started: waitListening(child, () => text),
  };
  cleanup.add(() => server.kill());
  return server;
}

/** Everything a test started, stopped in reverse order. */
export class Stack {
  private readonly actions = new Set<() => unknown>();
  private readonly dir = tempDir('kbus-nats-');

  add(action: () => unknown): void {
    this.actions.add(action);
  }

  /** One nats-server with JetStream. */
  async nats(): Promise<NatsServer> {
    const port = await freePort();
    const server = run(
      ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(this.dir.path, `js-${port}`)],
      this.actions,
    );
    await server.started;
    return server;
  }

  /** Starts a killed nats-server again: same port, same JetStream store. */
  /** One nats-server without JetStream (kbusd cannot join through it). */
  async natsWithoutJetStream(): Promise<NatsServer> {
    const port = await freePort();
    const server = run(['-a', '127.0.0.1', '-p', String(port)], this.actions);
    await server.started;
    return server;
  }

  /** Stops `server` and starts it again on the same port with JetStream. */
  async restartWithJetStream(server: NatsServer): Promise<NatsServer> {
    await server.kill();
    const args = [...server.args, '-js', '-sd', join(this.dir.path, `js-${server.port}`)];
    const again = run(args, this.actions);
    await again.started;
    return again;
  }

  async restart(server: NatsServer): Promise<NatsServer> {
    await server.kill();
    const again = run(server.args, this.actions);
    await again.started;
    return again;
  }

  /** Three nats-servers with JetStream, routed to one another. */
  async natsCluster(): Promise<NatsServer[]> {
    const ports = [await freePort(), await freePort(), await freePort()];
    const routes = [await freePort(), await freePort(), await freePort()];
    const routeList = routes.map((p) => `nats://127.0.0.1:${p}`).join(',');
    const servers = ports.map((port, i) =>
      run(
        [
          '-a',
          '127.0.0.1',
          '-p',
          String(port),
          '-n',
          `n${i}`,
          '-js',
          '-sd',
          join(this.dir.path, `js-${port}`),
          '--cluster_name',
          'kbus-test',
          '--cluster',
          `nats://127.0.0.1:${routes[i]}`,
          '--routes',
          routeList,
        ],
        this.actions,
      ),
    );
    await Promise.all(servers.map((s) => s.started));
    // JetStream needs a meta leader before buckets can be made: wait until one can be.
    await jetStreamReady(ports.map((p) => `nats://127.0.0.1:${p}`));
    return servers;
  }

  /** A kbusd joined to `urls` as bus `busId`. */
  async kbusd(urls: string[], busId: number, extra: string[] = []): Promise<RunningDaemon> {
    const d = await startDaemon([
      '--cluster',
      urls.join(','),
      '--bus-id',
      String(busId),
      '--cluster-timeout',
      String(CLUSTER_TIMEOUT_MS),
      ...extra,
    ]);
    this.add(() => d.stop());
    return d;
  }

  async ksock(d: RunningDaemon): Promise<Ksock> {
    const k = await Ksock.connect({ socket: d.socket });
    this.add(() => k.close());
    return k;
  }

  async stop(): Promise<void> {
    const actions = [...this.actions].reverse();
    this.actions.clear();
    for (const action of actions) {
      try {
        await action();
      } catch {
        // Stopping what already stopped.
      }
    }
    this.dir.remove();
  }
}

/** The agent's Ksock is the first opened on each device. */
export const AGENT = 1;

/** kbusd's --cluster-timeout in these tests (Stack.kbusd). */
export const CLUSTER_TIMEOUT_MS = 2000;

/** A message's data as text. */
export const text = (m: { data: Uint8Array }) => Buffer.from(m.data).toString();

/** Answers every request it reads with its data and a '!', until closed. */
export function echo(k: Ksock): void {
  void (async () => {
    for (;;) {
      const m = await k.receive();
      if (m.wantsYouToReply) await k.replyTo(m, `${text(m)}!`);
    }
  })().catch(() => {});
}

/** Names the agent on `at`'s device 0 is bound to, as listener or replier. */
export async function agentBindings(at: Ksock, kind: 'L' | 'R'): Promise<string[]> {
  const names: string[] = [];
  for (const line of (await at.bindings()).split('\n')) {
    const m = /^\s*0:\s+(\d+)\s+\d+\s+([LR])\s+(\S+)$/.exec(line);
    if (m && Number(m[1]) === AGENT && m[2] === kind) names.push(m[3]!);
  }
  return names;
}

/** Waits until the agent on `at` listens to `name`: interest from another bus has arrived. */
export async function waitInterest(at: Ksock, name: string): Promise<void> {
  await waitFor(
    async () => (await agentBindings(at, 'L')).includes(name),
    `interest in ${name} to reach the bus`,
  );
}
