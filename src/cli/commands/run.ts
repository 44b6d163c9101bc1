/**
 * `kbus run -- PROGRAM [ARGS]`: runs a program written for the KBUS kernel
 * module with the compatibility layer preloaded, so that its /dev/kbusN and
 * /proc/kbus/* are served by kbusd. `kbus run --print-env` prints the same
 * environment for a shell or a service file.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { CliError, CliErrorCode, colours, type GlobalOptions, socketPath } from '../common.js';

/** The layer, relative to the package root (this file is dist/src/cli/commands/run.js). */
export function layerPath(): string {
  return fileURLToPath(new URL('../../../../compat/build/libkbus-compat.so', import.meta.url));
}

/** How long the check for a daemon at the socket may take before kbus says none answers. */
const PROBE_MS = 2_000;

/** Exit statuses a shell gives for a program it cannot run (found but not runnable, not found). */
const NOT_RUNNABLE = 126;
const NOT_FOUND = 127;

/** The layer's path, or a CliError saying why it is missing and how to get it. */
function findLayer(): string {
  const path = layerPath();
  if (!existsSync(path)) {
    throw new CliError(
      CliErrorCode.UNAVAILABLE,
      `the compatibility layer is not built (no ${path}): it is compiled when the package is installed, and was skipped because no C compiler was found then; install gcc (or cc) and make, then run 'npm rebuild kbus' (or 'npm run build' in a checkout)`,
    );
  }
  // ld.so splits LD_PRELOAD at spaces and colons and knows no escapes.
  if (/[\s:]/.test(path)) {
    throw new CliError(
      CliErrorCode.UNAVAILABLE,
      `the compatibility layer's path has a space or a colon in it, which LD_PRELOAD cannot carry: ${path}; install kbus under a path without them`,
    );
  }
  return path;
}

/** The environment the layer needs: LD_PRELOAD (the layer first) and KBUS_SOCKET (absolute). */
export function layerEnvironment(
  layer: string,
  socket: string,
  env: NodeJS.ProcessEnv = process.env,
): { LD_PRELOAD: string; KBUS_SOCKET: string } {
  const existing = env.LD_PRELOAD?.trim();
  return {
    LD_PRELOAD: existing ? `${layer}:${existing}` : layer,
    // The program may change directory before it opens /dev/kbusN.
    KBUS_SOCKET: resolve(socket),
  };
}

/**
 * `NAME=VALUE`, the value in single quotes unless it needs none: read alike
 * by a POSIX shell's `eval` and by systemd's `EnvironmentFile=`.
 */
export function assignment(name: string, value: string): string {
  if (/^[\w./:@%+,=-]+$/.test(value)) return `${name}=${value}`;
  return `${name}='${value.replaceAll("'", `'\\''`)}'`;
}

/** Resolves with whether something accepts connections at `path` (a kbusd, presumably). */
function daemonAnswers(path: string): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect(path);
    const finish = (answered: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      done(answered);
    };
    const timer = setTimeout(() => finish(false), PROBE_MS);
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

async function warnUnlessServed(path: string): Promise<void> {
  if (await daemonAnswers(path)) return;
  const c = colours(process.stderr);
  process.stderr.write(
    `${c.error('kbus: warning:')} no kbusd answers at ${path}, so /dev/kbusN will not exist for the program until one does (start one with: kbusd --socket ${path})\n`,
  );
}

/** The exit status of a finished child, as a shell reports it (128 + the signal's number). */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const number = signal ? constants.signals[signal] : undefined;
  return number === undefined ? 1 : 128 + number;
}

/** Runs the program with stdio passed through; resolves with its exit status. */
function runProgram(command: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((done, fail) => {
    const child = spawn(command[0]!, command.slice(1), { env, stdio: 'inherit' });
    // Ctrl-C in a terminal reaches the program too (same process group); `kill`
    // of kbus reaches only kbus, and must reach the program as well.
    const forward = (signal: NodeJS.Signals) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    };
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    for (const s of signals) process.on(s, forward);
    const stop = () => {
      for (const s of signals) process.off(s, forward);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      stop();
      const missing = err.code === 'ENOENT';
      const error = new CliError(
        CliErrorCode.FAILED,
        `cannot run '${command[0]}': ${missing ? 'not found' : `not runnable (${err.code})`}`,
        { cause: err },
      );
      fail(Object.assign(error, { exitCode: missing ? NOT_FOUND : NOT_RUNNABLE }));
    });
    child.once('exit', (code, signal) => {
      stop();
      done(exitStatus(code, signal));
    });
  });
}

export function registerRun(program: Command, globals: () => GlobalOptions): void {
  program
    .command('run')
    .description(
      'run a program written for the KBUS kernel module (/dev/kbusN) against kbusd, through the compatibility layer',
    )
    .argument('[command...]', 'the program and its arguments, after --')
    .option('--print-env', 'print LD_PRELOAD and KBUS_SOCKET for a shell or a service file')
    .addHelpText(
      'after',
      `
The program runs with LD_PRELOAD naming the compatibility layer (before any
LD_PRELOAD already set) and KBUS_SOCKET naming the daemon's socket; its
standard input, output and error are kbus's own. kbus exits with the
program's exit status (128 + N if signal N killed it); SIGINT, SIGTERM and
SIGHUP sent to kbus are passed on to the program.

--print-env prints the two variables as NAME=VALUE lines that a POSIX shell
can eval and systemd reads from an EnvironmentFile= (see docs/compat.md).

Examples:
  kbus run -- ./my-kbus-program --verbose
  kbus run --socket /run/kbus.sock -- python3 sensor.py
  eval "$(kbus run --print-env)"
  kbus run --print-env > /etc/kbus-compat.env`,
    )
    .action(async (command: string[], options: { printEnv?: boolean }) => {
      const g = globals();
      const socket = socketPath(g);
      if (socket === '') throw new CliError(CliErrorCode.USAGE, "--socket needs a path, not ''");
      if (options.printEnv && command.length > 0)
        throw new CliError(CliErrorCode.USAGE, 'give --print-env or a program to run, not both');
      if (!options.printEnv && command.length === 0)
        throw new CliError(
          CliErrorCode.USAGE,
          'give the program to run after --, e.g. kbus run -- ./my-program (or --print-env)',
        );
      const vars = layerEnvironment(findLayer(), socket);
      await warnUnlessServed(vars.KBUS_SOCKET);
      if (options.printEnv) {
        process.stdout.write(
          `${assignment('LD_PRELOAD', vars.LD_PRELOAD)}\n${assignment('KBUS_SOCKET', vars.KBUS_SOCKET)}\n`,
        );
        return;
      }
      process.exitCode = await runProgram(command, { ...process.env, ...vars });
    });
}
