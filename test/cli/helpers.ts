/**
 * Helpers for the `kbus` command-line tests: run `bin/kbus` as a real
 * process (to completion, or in the background while the test watches its
 * output), bounded waits, and polling the daemon's bindings and stats.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Ksock } from '../../src/client/index.js';
import { ROOT } from '../support/daemon.js';
import { DEADLINE_MS, waitFor, within } from '../support/wait.js';

export { DEADLINE_MS, waitFor, within };

export const KBUS = join(ROOT, 'bin', 'kbus');
export const FIXTURES = join(ROOT, 'test', 'cli', 'fixtures');

export interface RunOptions {
  /** Given as KBUS_SOCKET in the environment (not as --socket). */
  socket?: string;
  /** Written to standard input, which is then closed (empty when not given). */
  input?: string | Uint8Array;
  /** Extra environment variables. */
  env?: NodeJS.ProcessEnv;
  /** Killed (and the test failed) after this long. */
  timeoutMs?: number;
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

function environment(options: RunOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  if (options.socket !== undefined) env.KBUS_SOCKET = options.socket;
  // An undefined value in `options.env` removes the variable.
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete env[key];
  return env;
}

/** Every background process started and not yet known to have exited. */
const running = new Set<ChildProcess>();

/** Runs `kbus args...` to completion. */
export function kbus(args: string[], options: RunOptions = {}): Promise<Finished> {
  const timeoutMs = options.timeoutMs ?? DEADLINE_MS;
  const child = spawn(process.execPath, [KBUS, ...args], {
    env: environment(options),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  running.add(child);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
  child.stdin.on('error', () => {});
  child.stdin.end(options.input ?? '');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `kbus ${args.join(' ')} did not finish within ${timeoutMs} ms; stdout: ${Buffer.concat(out)}; stderr: ${Buffer.concat(err)}`,
        ),
      );
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      const stdoutBytes = Buffer.concat(out);
      resolve({
        code,
        signal,
        stdout: stdoutBytes.toString(),
        stderr: Buffer.concat(err).toString(),
        stdoutBytes,
      });
    });
  });
}

/** A `kbus` process left running while the test works with it. */
export class Background {
  readonly child: ChildProcess;
  private out = '';
  private err = '';
  private readonly finished: Promise<Finished>;

  constructor(
    readonly args: string[],
    options: RunOptions = {},
  ) {
    this.child = spawn(process.execPath, [KBUS, ...args], {
      env: environment(options),
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    running.add(this.child);
    if (options.input !== undefined) {
      this.child.stdin!.on('error', () => {});
      this.child.stdin!.end(options.input);
    }
    const bytes: Buffer[] = [];
    this.child.stdout!.on('data', (chunk: Buffer) => {
      bytes.push(chunk);
      this.out += chunk.toString();
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.err += chunk.toString();
    });
    this.finished = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        running.delete(this.child);
        resolve({
          code,
          signal,
          stdout: this.out,
          stderr: this.err,
          stdoutBytes: Buffer.concat(bytes),
        });
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  get exitedYet(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Complete lines of stdout so far. */
  lines(): string[] {
    const lines = this.out.split('\n');
    lines.pop();
    return lines;
  }

  /** Waits (bounded) until stdout satisfies `predicate`. */
  async waitForOutput(predicate: (stdout: string) => boolean, what: string): Promise<void> {
    await waitFor(() => {
      if (predicate(this.out)) return true;
      if (this.exitedYet) {
        throw new Error(
          `kbus ${this.args.join(' ')} exited (${this.child.exitCode ?? this.child.signalCode}) before ${what}; stdout: ${this.out}; stderr: ${this.err}`,
        );
      }
      return false;
    }, what);
  }

  /** Waits (bounded) for the process to exit. */
  exit(timeoutMs = DEADLINE_MS): Promise<Finished> {
    return within(this.finished, `kbus ${this.args.join(' ')} to exit`, timeoutMs);
  }

  /** Sends `signal` and waits for the exit. */
  stop(signal: NodeJS.Signals = 'SIGINT'): Promise<Finished> {
    if (!this.exitedYet) this.child.kill(signal);
    return this.exit();
  }
}

/** Kills whatever background processes are still running (for after hooks). */
export async function killStragglers(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null) {
      waits.push(new Promise((resolve) => child.once('close', resolve)));
      child.kill('SIGKILL');
    }
  }
  running.clear();
  await within(Promise.all(waits), 'stray kbus processes to die');
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The /proc/kbus/bindings line for a binding: `  0:        N      PID  L  $.name`
 * (device in 3 columns, Ksock id and pid in 8 each), any Ksock id.
 */
export function bindingPattern(pid: number, name: string, replier = false, device = 0): RegExp {
  return new RegExp(
    `^${String(device).padStart(3)}: +\\d+ ${String(pid).padStart(8)}  ${replier ? 'R' : 'L'}  ${escapeRegExp(name)}$`,
    'm',
  );
}

/** Reads the bindings text through the client library. */
export async function bindingsText(socket: string): Promise<string> {
  const ksock = await Ksock.connect({ socket, mode: 'r' });
  try {
    return await ksock.bindings();
  } finally {
    await ksock.close();
  }
}

/** Reads the stats text through the client library. */
export async function statsText(socket: string): Promise<string> {
  const ksock = await Ksock.connect({ socket, mode: 'r' });
  try {
    return await ksock.stats();
  } finally {
    await ksock.close();
  }
}

/** Waits until the process `pid` has bound `name` (as listener, or replier). */
export async function waitForBinding(
  socket: string,
  pid: number,
  name: string,
  replier = false,
  device = 0,
): Promise<void> {
  const pattern = bindingPattern(pid, name, replier, device);
  const ksock = await Ksock.connect({ socket, mode: 'r' });
  try {
    await waitFor(
      async () => pattern.test(await ksock.bindings()),
      `the binding ${pattern} to appear`,
    );
  } finally {
    await ksock.close();
  }
}

/** Waits until no binding of process `pid` is left. */
export async function waitForNoBindings(socket: string, pid: number): Promise<void> {
  const pattern = new RegExp(`^ *\\d+: +\\d+ ${String(pid).padStart(8)}  `, 'm');
  const ksock = await Ksock.connect({ socket, mode: 'r' });
  try {
    await waitFor(
      async () => !pattern.test(await ksock.bindings()),
      `the bindings of process ${pid} to go`,
    );
  } finally {
    await ksock.close();
  }
}

/** Starts `kbus listen ...` in the background and waits until every name is bound. */
export async function listening(
  socket: string,
  args: string[],
  names: string[],
  replier = false,
): Promise<Background> {
  const listener = new Background(['listen', ...args, ...names], { socket });
  for (const name of names) await waitForBinding(socket, listener.pid, name, replier);
  return listener;
}

/** The text without terminal escape sequences (colours, cursor movement). */
export function stripEscapes(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching escape sequences
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
}

/** Fails if any output has a terminal escape sequence in it. */
export function assertNoColour(...texts: string[]): void {
  for (const text of texts) {
    assert.ok(!text.includes('\x1b['), `escape codes in ${JSON.stringify(text)}`);
  }
}

/** Asserts a command exited `code` (showing its output when it did not). */
export function assertExit(result: Finished, code: number, what = 'kbus'): void {
  assert.equal(
    result.code,
    code,
    `${what} exited ${result.code ?? result.signal}, not ${code}; stdout: ${result.stdout}; stderr: ${result.stderr}`,
  );
}

export interface TerminalRun {
  /** Everything written to the terminal, escape codes and all. */
  output: string;
  /** Whether the expected text appeared. */
  seen: boolean;
  /** Whether the keys were typed. */
  sent: boolean;
  timedOut: boolean;
  /** Negative: killed by that signal. */
  exitCode: number;
}

/**
 * Runs `kbus args...` in a pseudo-terminal of `cols` x `rows` (through
 * fixtures/pty-run.py), types `keys` once `expect` has appeared, and reads
 * until it exits (all bounded).
 */
export async function inTerminal(
  args: string[],
  options: { cols?: number; rows?: number; expect: string; keys?: string; env?: NodeJS.ProcessEnv },
): Promise<TerminalRun> {
  const child = spawn(
    'python3',
    [
      join(FIXTURES, 'pty-run.py'),
      '--cols',
      String(options.cols ?? 100),
      '--rows',
      String(options.rows ?? 30),
      '--expect',
      options.expect,
      '--keys',
      options.keys ?? '',
      '--timeout',
      String(DEADLINE_MS / 1000),
      '--',
      process.execPath,
      KBUS,
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: environment({ env: options.env }) },
  );
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const code = await within(
    new Promise<number | null>((resolve) =>
      child.on('close', (c) => {
        running.delete(child);
        resolve(c);
      }),
    ),
    'pty-run.py to finish',
    DEADLINE_MS * 2,
  );
  assert.equal(code, 0, `pty-run.py exited ${code}: ${stderr}`);
  return JSON.parse(stdout) as TerminalRun;
}
