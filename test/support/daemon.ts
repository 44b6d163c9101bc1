/**
 * Test support: real kbusd processes on temporary sockets, and temporary
 * directories removed afterwards.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/...). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const KBUSD = join(ROOT, 'bin', 'kbusd');

/** A fresh temporary directory; call the returned function to remove it. */
export function tempDir(prefix = 'kbus-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface RunningDaemon {
  readonly socket: string;
  readonly process: ChildProcess;
  /** Everything the daemon wrote to stderr so far. */
  stderr(): string;
  /** Sends SIGTERM and waits for the exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `bin/kbusd` on a socket in a new temporary directory and waits
 * (bounded) until it says it is serving.
 */
export async function startDaemon(args: string[] = [], timeoutMs = 10_000): Promise<RunningDaemon> {
  const dir = tempDir('kbusd-');
  const socket = join(dir.path, 'kbus.sock');
  const child = spawn(process.execPath, [KBUSD, '--socket', socket, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    stderr += text;
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kbusd did not start within ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    const check = () => {
      if (stderr.includes('serving')) {
        clearTimeout(timer);
        child.stderr!.off('data', check);
        resolve();
      }
    };
    child.stderr!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`kbusd exited with ${code} before serving: ${stderr}`));
    });
  });
  let stopped: Promise<number | null> | undefined;
  return {
    socket,
    process: child,
    stderr: () => stderr,
    stop: () => {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const code = await exited;
        dir.remove();
        return code;
      })();
      return stopped;
    },
  };
}
