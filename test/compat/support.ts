/**
 * Support for the compatibility tests: C programs and Python 3 scripts
 * written for the KBUS kernel module (test/compat/programs, read from the
 * source tree) run under `kbus run` against a real kbusd. The C programs
 * are compiled at test time, with warnings as errors, into a temporary
 * directory. A missing compiler, Python or layer fails the tests with a
 * message saying what to install: they are never skipped.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Background, type Finished, kbus, waitFor, within } from '../cli/helpers.js';
import { ROOT, tempDir } from '../support/daemon.js';

export const PROGRAMS = join(ROOT, 'test', 'compat', 'programs');
export const LAYER = join(ROOT, 'compat', 'build', 'libkbus-compat.so');
/** peer.ts, built: peer.c's roles through the TypeScript client. */
export const TS_PEER = join(ROOT, 'dist', 'test', 'compat', 'programs', 'peer.js');

/** How long one program may run before the test kills it and fails. */
export const PROGRAM_MS = 30_000;

function found(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Throws, saying what to install, unless gcc, python3 and the built layer are all here. */
export function checkPrerequisites(): void {
  if (!found('gcc', ['--version'])) {
    throw new Error(
      'gcc is not installed: the compatibility tests compile C programs written for /dev/kbusN; install gcc and make (apt-get install build-essential)',
    );
  }
  if (!found('python3', ['--version'])) {
    throw new Error('python3 is not installed: the compatibility tests run Python 3 scripts');
  }
  if (!existsSync(LAYER)) {
    throw new Error(
      `the compatibility layer is not built (no ${LAYER}): run npm run build with a C compiler present`,
    );
  }
}

/** The test programs compiled into a temporary directory (removed by `remove`). */
export class Programs {
  private readonly dir = tempDir('kbus-compat-');

  /** Compiles programs/NAME.c with gcc -Wall -Wextra -Werror; returns the executable. */
  compile(name: string): string {
    const out = join(this.dir.path, name);
    try {
      execFileSync(
        'gcc',
        ['-Wall', '-Wextra', '-Werror', '-O2', '-o', out, join(PROGRAMS, `${name}.c`)],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
      throw new Error(`gcc could not compile ${name}.c: ${stderr || String(err)}`);
    }
    return out;
  }

  remove(): void {
    this.dir.remove();
  }
}

/** Runs `argv` under `kbus run --socket SOCKET` to completion (bounded). */
export function underLayer(
  socket: string,
  argv: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<Finished> {
  return kbus(['--socket', socket, 'run', '--', ...argv], { timeoutMs: PROGRAM_MS, env });
}

/** Starts `argv` under `kbus run --socket SOCKET`, left running. */
export function backgroundUnderLayer(socket: string, argv: string[]): Background {
  return new Background(['--socket', socket, 'run', '--', ...argv]);
}

/** Asserts the program printed "ok CASE" and exited 0, showing everything it said if not. */
export function assertCasePassed(result: Finished, name: string): void {
  const shown = `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
  assert.equal(result.signal, null, `${name} was killed by ${result.signal}; ${shown}`);
  assert.equal(result.code, 0, `${name} exited ${result.code}; ${shown}`);
  assert.match(result.stdout, new RegExp(`^ok ${name}$`, 'm'), shown);
}

/** A process the test watches: its output so far, and its end. */
export interface Watched {
  waitForOutput(predicate: (stdout: string) => boolean, what: string): Promise<void>;
  exit(): Promise<Finished>;
}

/** Runs programs/peer.ts (the TypeScript client, no layer) with KBUS_SOCKET set. */
export function tsPeer(socket: string, args: string[]): Watched {
  const child = spawn(process.execPath, [TS_PEER, ...args], {
    env: { ...process.env, KBUS_SOCKET: socket },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const finished = new Promise<Finished>((resolve) =>
    child.on('close', (code, signal) =>
      resolve({ code, signal, stdout: out, stderr: err, stdoutBytes: Buffer.from(out) }),
    ),
  );
  const ended = () => child.exitCode !== null || child.signalCode !== null;
  return {
    waitForOutput: (predicate, what) =>
      waitFor(() => {
        if (predicate(out)) return true;
        if (ended()) throw new Error(`peer ${args.join(' ')} ended before ${what}: ${out} ${err}`);
        return false;
      }, what),
    exit: async () => {
      try {
        return await within(finished, `peer ${args.join(' ')} to exit`, PROGRAM_MS);
      } finally {
        if (!ended()) child.kill('SIGKILL');
      }
    },
  };
}
