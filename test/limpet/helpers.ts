/**
 * Helpers for the Limpet tests: hex, bounded waits, free ports, real
 * `kbus limpet` processes (and their cleanup), buses linked by a Limpet
 * pair, and waiting for proxy repliers to propagate.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { type KbusMessage, Ksock, Status } from '../../src/client/index.js';
import { ROOT, type RunningDaemon, startDaemon, tempDir } from '../support/daemon.js';
import { DEADLINE_MS, waitFor, within } from '../support/wait.js';

export { DEADLINE_MS, waitFor, within };

export const KBUS = join(ROOT, 'bin', 'kbus');

export function fromHex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}

/** A TCP port that was free a moment ago (listen on 0, close). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}

/** Cleanup actions, run last-in first-out; each failure is collected, none stops the rest. */
export class Cleanup {
  private readonly actions: (() => unknown)[] = [];

  add(action: () => unknown): void {
    this.actions.push(action);
  }

  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (let action = this.actions.pop(); action; action = this.actions.pop()) {
      try {
        await action();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw errors[0];
  }
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A `kbus limpet` child process. */
export interface LimpetProcess {
  readonly child: ChildProcess;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>;
  readonly running: boolean;
  /** Waits (bounded) until stderr matches. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Waits (bounded) for the exit. */
  exit(timeoutMs?: number): Promise<Exit>;
  /** SIGKILL if still running, and wait for the exit. */
  kill(): Promise<Exit>;
}

export interface LimpetSpawnOptions {
  /** The daemon's socket, given as --socket (or -S, or KBUS_SOCKET; see `via`). */
  socket: string;
  via?: '--socket' | '-S' | 'env';
}

/** Starts `kbus [--socket S] limpet args...`; registers a kill with `cleanup`. */
export function spawnLimpet(
  args: string[],
  options: LimpetSpawnOptions,
  cleanup: Cleanup,
): LimpetProcess {
  const via = options.via ?? '--socket';
  const env = { ...process.env };
  delete env.KBUS_SOCKET;
  const head: string[] = [];
  if (via === 'env') env.KBUS_SOCKET = options.socket;
  else head.push(via, options.socket);
  const child = spawn(process.execPath, [KBUS, ...head, 'limpet', ...args], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  const watchers = new Set<() => void>();
  child.stderr!.on('data', (text: string) => {
    stderr += text;
    for (const w of watchers) w();
  });
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let done = false;
  void exited.then(() => {
    done = true;
    for (const w of watchers) w();
  });
  const limpet: LimpetProcess = {
    child,
    stderr: () => stderr,
    exited,
    get running() {
      return !done;
    },
    waitForStderr(pattern, timeoutMs = DEADLINE_MS) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`timed out waiting for ${pattern} from the Limpet: ${stderr}`));
        }, timeoutMs);
        function check() {
          if (pattern.test(stderr)) {
            clearTimeout(timer);
            watchers.delete(check);
            resolve();
          } else if (done) {
            clearTimeout(timer);
            watchers.delete(check);
            reject(new Error(`the Limpet exited without printing ${pattern}: ${stderr}`));
          }
        }
        watchers.add(check);
        check();
      });
    },
    exit(timeoutMs = DEADLINE_MS) {
      return within(exited, () => `the Limpet's exit (stderr: ${stderr})`, timeoutMs);
    },
    async kill() {
      if (!done) {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
      }
      return exited;
    },
  };
  cleanup.add(() => limpet.kill());
  return limpet;
}

/** Starts a kbusd; registers its stop with `cleanup`. */
export async function daemon(cleanup: Cleanup, args: string[] = []): Promise<RunningDaemon> {
  const d = await startDaemon(args);
  cleanup.add(() => d.stop());
  return d;
}

/** Opens a Ksock on a daemon; registers its close with `cleanup`. */
export async function ksock(d: RunningDaemon, cleanup: Cleanup): Promise<Ksock> {
  const k = await Ksock.connect({ socket: d.socket });
  cleanup.add(() => k.close());
  return k;
}

/** Waits until REPLIER(name) satisfies `ok`; resolves with it. */
export async function waitReplier(
  k: Ksock,
  name: string,
  ok: (replier: number) => boolean = (r) => r !== 0,
  what = `a replier for ${name}`,
): Promise<number> {
  let replier = 0;
  await waitFor(async () => {
    replier = await k.replier(name);
    return ok(replier);
  }, what);
  return replier;
}

/** Receives until `pick` accepts a message; the others are returned too, in order. */
export async function receiveUntil(
  k: Ksock,
  pick: (m: KbusMessage) => boolean,
  what: string,
  timeoutMs = DEADLINE_MS,
): Promise<{ found: KbusMessage; before: KbusMessage[] }> {
  const before: KbusMessage[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out waiting for ${what}`);
    let m: KbusMessage;
    try {
      m = await k.receive({ timeout: left });
    } catch (err) {
      throw new Error(
        `timed out waiting for ${what} (got ${before.map((b) => b.name).join(', ')})`,
        { cause: err },
      );
    }
    if (pick(m)) return { found: m, before };
    before.push(m);
  }
}

/** Receives the next message, bounded. */
export function next(k: Ksock, what: string, timeoutMs = DEADLINE_MS): Promise<KbusMessage> {
  return within(k.receive(), what, timeoutMs);
}

/** The decoded bind event if `m` is a genuine one. */
export function bindEventOf(m: KbusMessage) {
  return m instanceof Status && m.isSynthetic ? m.replierBindEvent : undefined;
}

export type LinkKind = 'tcp' | 'unix';

export interface LinkAddresses {
  /** What the server is given. */
  server: string;
  /** What the client is given. */
  client: string;
  kind: LinkKind;
  /** For a Unix link, the socket path. */
  path?: string;
}

/** A fresh link address of the given kind (a temporary dir for Unix links). */
export async function linkAddress(kind: LinkKind, cleanup: Cleanup): Promise<LinkAddresses> {
  if (kind === 'tcp') {
    const port = await freePort();
    return { kind, server: `127.0.0.1:${port}`, client: `127.0.0.1:${port}` };
  }
  const dir = tempDir('kbus-link-');
  cleanup.add(() => dir.remove());
  const path = join(dir.path, 'link.sock');
  return { kind, server: path, client: path, path };
}

export interface PairOptions {
  kind: LinkKind;
  serverId: number;
  clientId: number;
  /** Spell the switches as the original did: -server -id 2 -kbus 0. */
  original?: boolean;
  serverArgs?: string[];
  clientArgs?: string[];
  serverVia?: LimpetSpawnOptions['via'];
  clientVia?: LimpetSpawnOptions['via'];
}

export interface Pair {
  server: LimpetProcess;
  client: LimpetProcess;
  address: LinkAddresses;
}

/**
 * Starts a Limpet pair: the server on `serverBus` first (waiting until it
 * listens), then the client on `clientBus`. Does not wait for the Ksocks;
 * see `ready`.
 */
export async function startPair(
  serverBus: RunningDaemon,
  clientBus: RunningDaemon,
  options: PairOptions,
  cleanup: Cleanup,
): Promise<Pair> {
  const address = await linkAddress(options.kind, cleanup);
  const o = options.original;
  const server = spawnLimpet(
    [
      o ? '-server' : '--server',
      o ? '-id' : '--id',
      String(options.serverId),
      o ? '-kbus' : '--kbus',
      '0',
      ...(options.serverArgs ?? []),
      address.server,
    ],
    { socket: serverBus.socket, via: options.serverVia },
    cleanup,
  );
  await server.waitForStderr(LISTENING);
  const client = spawnLimpet(
    [
      o ? '-client' : '--client',
      o ? '-id' : '--id',
      String(options.clientId),
      o ? '-kbus' : '--kbus',
      '0',
      ...(options.clientArgs ?? []),
      address.client,
    ],
    { socket: clientBus.socket, via: options.clientVia },
    cleanup,
  );
  return { server, client, address };
}

let probes = 0;

/**
 * Waits until the Limpets between `near` and `far` both have their Ksocks
 * set up, by proxying a probe replier each way. Resolves with the Ksock id
 * of the Limpet on each side. The probes stay bound until `cleanup`.
 */
export async function linked(
  near: RunningDaemon,
  far: RunningDaemon,
  cleanup: Cleanup,
): Promise<{ nearLimpet: number; farLimpet: number }> {
  const n = ++probes;
  const nearProbe = await ksock(near, cleanup);
  const farProbe = await ksock(far, cleanup);
  const nearName = `$.LimpetProbe.Near${n}.P${process.pid}`;
  const farName = `$.LimpetProbe.Far${n}.P${process.pid}`;
  await farProbe.bind(farName, { replier: true });
  await nearProbe.bind(nearName, { replier: true });
  const nearLimpet = await waitReplier(nearProbe, farName);
  const farLimpet = await waitReplier(farProbe, nearName);
  return { nearLimpet, farLimpet };
}

/** True if the path exists. */
export function exists(path: string): boolean {
  return existsSync(path);
}

/**
 * A raw peer on a Limpet's link: connects (TCP or Unix), collects every byte
 * the Limpet writes, and decodes its frames after the 8-byte greeting.
 */
export class RawPeer {
  readonly received: Buffer[] = [];
  private closedFlag = false;
  private readonly watchers = new Set<() => void>();
  private constructor(readonly socket: import('node:net').Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.received.push(chunk);
      this.notify();
    });
    socket.on('close', () => {
      this.closedFlag = true;
      this.notify();
    });
    socket.on('error', () => {});
  }

  static async connect(address: LinkAddresses, cleanup: Cleanup): Promise<RawPeer> {
    const net = await import('node:net');
    const socket =
      address.kind === 'unix'
        ? net.connect(address.path!)
        : net.connect(Number(address.client.split(':')[1]), '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const peer = new RawPeer(socket);
    cleanup.add(() => socket.destroy());
    return peer;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  bytes(): Buffer {
    return Buffer.concat(this.received);
  }

  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(bytes, (err) => (err ? reject(err) : resolve())),
    );
  }

  private notify(): void {
    for (const w of this.watchers) w();
  }

  /** Waits (bounded) until `condition` holds, re-checked on every byte and on close. */
  until(condition: () => boolean, what: string, timeoutMs = DEADLINE_MS): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.watchers.delete(check);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const check = () => {
        if (condition()) {
          clearTimeout(timer);
          this.watchers.delete(check);
          resolve();
        }
      };
      this.watchers.add(check);
      check();
    });
  }

  /** Waits for the link to close. */
  waitClosed(what = 'the link to close'): Promise<void> {
    return this.until(() => this.closedFlag, what);
  }
}

/** What a server Limpet logs once it listens (not its warning about TLS). */
export const LISTENING = /: listening on (port \d+|\/|\S+:\d+$)/m;
