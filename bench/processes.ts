/**
 * The processes of the daemon section: kbusd, the baseline relay, and the
 * fixture processes (bench/fixtures) that play publishers, listeners and so
 * on. A Fleet remembers every process it started and kills them all in
 * `stop()`, and on the way out of the bench process whatever happens.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Answer } from './fixtures/ipc.js';
import { HELLO } from './fixtures/ipc.js';

/**
 * Node flags that profile a process when KBUS_BENCH_PROFILE=DIR is set:
 * its .cpuprofile goes into DIR/<label>, spaces made dashes.
 */
export function profileFlags(label: string): string[] {
  const dir = process.env.KBUS_BENCH_PROFILE;
  return dir ? ['--cpu-prof', '--cpu-prof-dir', join(dir, label.replaceAll(' ', '-'))] : [];
}

/** dist/bench, where this file runs from. */
const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(HERE, '..', '..');
export const KBUSD = join(ROOT, 'bin', 'kbusd');
/** The Node flags bin/kbusd's first lines run it with, as a user would run it. */
export const KBUSD_NODE_FLAGS = ['--max-semi-space-size=4'];
/** The kbus command line (its `limpet` subcommand runs a Limpet). */
export const KBUS_CLI = join(ROOT, 'bin', 'kbus');
export const RELAY = join(HERE, 'relay.js');
export const KBUS_PEER = join(HERE, 'fixtures', 'kbus-peer.js');
export const RELAY_PEER = join(HERE, 'fixtures', 'relay-peer.js');
export const REDIS_PEER = join(HERE, 'fixtures', 'redis-peer.js');
/** A client written straight on the socket protocol, without the project's client. */
export const WIRE_PEER = join(HERE, 'fixtures', 'wire-peer.js');
/** Many Ksocks in one process (the scaling section). */
export const SCALE_PEER = join(HERE, 'fixtures', 'scale-peer.js');

const START_TIMEOUT_MS = 10_000;
const CALL_TIMEOUT_MS = 30_000;

/** A server process (kbusd or the relay) serving a Unix socket. */
export interface Server {
  readonly socket: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** Stops it with SIGTERM and waits (bounded) for the exit. */
  stop(): Promise<void>;
  /** What it has written to stderr so far. */
  stderr(): string;
}

/** A fixture process and its commands. */
export class Peer {
  private nextId = HELLO + 1;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  private exitError: Error | undefined;

  constructor(
    readonly label: string,
    readonly process: ChildProcess,
  ) {
    process.on('message', (answer: Answer) => {
      const waiter = this.pending.get(answer.id);
      if (!waiter) return;
      this.pending.delete(answer.id);
      if (answer.error !== undefined) waiter.reject(new Error(`${label}: ${answer.error}`));
      else waiter.resolve(answer.value);
    });
    process.on('exit', (code, signal) => {
      this.exitError = new Error(`${label} exited (${signal ?? code})`);
      for (const w of this.pending.values()) w.reject(this.exitError);
      this.pending.clear();
    });
  }

  /** Resolves once the fixture has said hello (it is connected and set up). */
  ready(timeoutMs = START_TIMEOUT_MS): Promise<unknown> {
    return this.wait(HELLO, timeoutMs, 'start');
  }

  call<T>(
    cmd: string,
    args: Record<string, unknown> = {},
    timeoutMs = CALL_TIMEOUT_MS,
  ): Promise<T> {
    const id = this.nextId++;
    const answer = this.wait(id, timeoutMs, cmd);
    this.process.send({ id, cmd, args });
    return answer as Promise<T>;
  }

  private wait(id: number, timeoutMs: number, what: string): Promise<unknown> {
    if (this.exitError) return Promise.reject(this.exitError);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.label}: ${what} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }
}

export class Fleet {
  private readonly children = new Set<ChildProcess>();
  private readonly dir = mkdtempSync(join(tmpdir(), 'kbus-bench-'));
  private sockets = 0;
  /** Last resort: the bench process is exiting with children still alive. */
  private readonly onExit = () => {
    for (const child of this.children) child.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  };
  /** Interrupted (Ctrl-C, kill): take the children down too, then go. */
  private readonly onSignal = (signal: NodeJS.Signals) => {
    this.onExit();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };

  constructor() {
    process.on('exit', this.onExit);
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  private track(child: ChildProcess): ChildProcess {
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  private socketPath(prefix: string): string {
    return join(this.dir, `${prefix}-${++this.sockets}.sock`);
  }

  /** Starts kbusd (extra node flags, e.g. --cpu-prof, before the script; kbusd options after it). */
  startKbusd(nodeFlags: readonly string[] = [], options: readonly string[] = []): Promise<Server> {
    const socket = this.socketPath('kbusd');
    const argv = [...KBUSD_NODE_FLAGS, ...nodeFlags, KBUSD, '--socket', socket, ...options];
    return this.startServer('kbusd', argv, socket, 'serving');
  }

  startRelay(nodeFlags: readonly string[] = []): Promise<Server> {
    const socket = this.socketPath('relay');
    return this.startServer('relay', [...nodeFlags, RELAY, '--socket', socket], socket, 'serving');
  }

  /**
   * Starts redis-server on a Unix socket only (no TCP, no persistence), if
   * it is installed; undefined if not.
   */
  async startRedis(): Promise<Server | undefined> {
    const socket = this.socketPath('redis');
    const argv = ['--port', '0', '--unixsocket', socket, '--save', '', '--appendonly', 'no'];
    const child = this.track(spawn('redis-server', argv, { stdio: ['ignore', 'pipe', 'pipe'] }));
    const failed = await new Promise<boolean>((resolve) => {
      child.once('error', () => resolve(true));
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (text: string) => {
        if (/ready to accept connections/i.test(text)) resolve(false);
      });
      child.once('exit', () => resolve(true));
      setTimeout(() => resolve(true), START_TIMEOUT_MS);
    });
    if (failed) {
      child.kill('SIGKILL');
      return undefined;
    }
    child.stdout!.resume();
    return {
      socket,
      pid: child.pid!,
      process: child,
      stderr: () => '',
      stop: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      },
    };
  }

  /**
   * Starts a Limpet on the bus served at `bus` (`kbus --socket BUS limpet
   * ARGS`); resolves once its stderr shows `readyText`.
   */
  startLimpet(
    label: string,
    bus: string,
    args: readonly string[],
    readyText: string,
  ): Promise<Server> {
    const argv = [...profileFlags(label), KBUS_CLI, '--socket', bus, 'limpet', ...args];
    return this.startServer(label, argv, bus, readyText);
  }

  /** Starts a program other than Node (nats-server); resolves once its stderr shows `readyText`. */
  startProgram(
    label: string,
    command: string,
    args: readonly string[],
    readyText: string,
  ): Promise<Server> {
    return this.startServer(label, [...args], '', readyText, command);
  }

  private async startServer(
    label: string,
    argv: string[],
    socket: string,
    readyText: string,
    command = process.execPath,
  ): Promise<Server> {
    // stdin is a pipe: the relay exits when it closes.
    const child = this.track(spawn(command, argv, { stdio: ['pipe', 'ignore', 'pipe'] }));
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      stderr += text;
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${label} did not start within ${START_TIMEOUT_MS} ms: ${stderr}`));
      }, START_TIMEOUT_MS);
      const check = () => {
        if (stderr.includes(readyText)) {
          clearTimeout(timer);
          child.stderr!.off('data', check);
          resolve();
        }
      };
      child.stderr!.on('data', check);
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${label} exited before serving: ${stderr}`));
      });
    });
    return {
      socket,
      pid: child.pid!,
      process: child,
      stderr: () => stderr,
      stop: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      },
    };
  }

  /** Forks a fixture with its JSON arguments; resolves once it is ready for calls. */
  async fork(label: string, script: string, args: object): Promise<Peer> {
    const profiled = profileFlags(label);
    const execArgv = profiled.length > 0 ? profiled : process.execArgv;
    const child = this.track(
      fork(script, [JSON.stringify(args)], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        execArgv,
      }),
    );
    const peer = new Peer(label, child);
    await peer.ready();
    return peer;
  }

  /** Kills every process still running and waits for them to exit. */
  async stop(): Promise<void> {
    const exits = [...this.children].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) resolve();
          else child.once('exit', () => resolve());
        }),
    );
    for (const child of this.children) child.kill('SIGTERM');
    const timer = setTimeout(() => {
      for (const child of this.children) child.kill('SIGKILL');
    }, 3_000);
    await Promise.all(exits);
    clearTimeout(timer);
    process.off('exit', this.onExit);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Kills some processes (fixtures done with) and waits for them. */
  async kill(peers: readonly Peer[]): Promise<void> {
    await Promise.all(
      peers.map(
        ({ process: child }) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
  }
}

/** VmRSS of a process, in KiB (Linux /proc). */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]);
}

/** CPU time a process has used (user + system, every thread), in ms (Linux /proc). */
/**
 * What a process has done in the kernel, from /proc: read and write system
 * calls (syscr, syscw: every read, write, recv and send), and the times its
 * main thread, where Node's event loop runs, went to sleep waiting
 * (voluntary context switches: each is a wake-up later). NaN once gone.
 */
export function kernelCounts(pid: number): { reads: number; writes: number; sleeps: number } {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? Number.NaN);
    return {
      reads: field(io, /^syscr:\s+(\d+)/m),
      writes: field(io, /^syscw:\s+(\d+)/m),
      sleeps: field(status, /^voluntary_ctxt_switches:\s+(\d+)/m),
    };
  } catch {
    return { reads: Number.NaN, writes: Number.NaN, sleeps: Number.NaN };
  }
}

export function cpuMs(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return Number.NaN; // gone: the run it was part of reports why
  }
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line, in clock ticks (USER_HZ, 100).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
