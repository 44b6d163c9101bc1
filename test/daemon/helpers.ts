/**
 * Helpers for the daemon tests: raw protocol connections (bytes in, frames
 * out), bounded waits, the daemon's memory, kbusd processes on paths of the
 * test's choosing, and line-reading child processes.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ksock, Status } from '../../src/client/index.js';
import { Errno, type ErrnoName, encodeFrame, FrameDecoder, Op } from '../../src/internal.js';
import { KBUSD } from '../support/daemon.js';
import { waitFor, within } from '../support/wait.js';

export { waitFor, within };

export const HERE = dirname(fileURLToPath(import.meta.url));
export const FIXTURES = join(HERE, 'fixtures');

/** Resident memory of a process in kB (/proc/<pid>/status VmRSS). */
export function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  assert.ok(match, `no VmRSS in /proc/${pid}/status`);
  return Number(match[1]);
}

/** True while the process is running (not exited, not a zombie we reaped). */
export function isAlive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Little-endian u32 words as hex, e.g. le(0x10, 0x40) = '1000000040000000'. */
export function le(...words: number[]): string {
  const out = Buffer.alloc(4 * words.length);
  words.forEach((w, i) => {
    out.writeUInt32LE(w >>> 0, 4 * i);
  });
  return out.toString('hex');
}

export interface RawFrame {
  readonly op: number;
  readonly tag: number;
  /** The whole frame as received, length field included. */
  readonly bytes: Uint8Array;
  readonly payload: Uint8Array;
  /** The i32 status at the start of a response's payload. */
  readonly status: number;
  /** Result field `i` (u32) after the status. */
  word(i: number): number;
}

/**
 * A connection to kbusd that sends raw bytes and decodes whatever frames
 * come back, keeping them in order.
 */
export class RawConnection {
  readonly socket: Socket;
  private readonly decoder = new FrameDecoder(2 ** 31);
  private readonly frames: RawFrame[] = [];
  private waiter: (() => void) | undefined;
  private decodeError: Error | undefined;
  closed = false;
  readonly done: Promise<void>;
  private nextTag = 1;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      try {
        this.decoder.push(chunk, (frame) => {
          const payload = frame.payload.slice();
          const header = Buffer.alloc(12);
          header.writeUInt32LE(8 + payload.length, 0);
          header.writeUInt32LE(frame.op, 4);
          header.writeUInt32LE(frame.tag, 8);
          const view = Buffer.from(payload);
          this.frames.push({
            op: frame.op,
            tag: frame.tag,
            payload,
            bytes: Buffer.concat([header, payload]),
            status: payload.length >= 4 ? view.readInt32LE(0) : Number.NaN,
            word: (i) => view.readUInt32LE(4 + 4 * i),
          });
        });
      } catch (err) {
        this.decodeError = err as Error;
        socket.destroy();
      }
      this.wake();
    });
    socket.on('error', () => {});
    this.done = new Promise((resolve) =>
      socket.once('close', () => {
        this.closed = true;
        this.wake();
        resolve();
      }),
    );
  }

  static async connect(path: string): Promise<RawConnection> {
    const socket = connect(path);
    await within(
      new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      }),
      `a connection to ${path}`,
    );
    return new RawConnection(socket);
  }

  /** Connects and OPENs device 0 read-write; returns the connection and its Ksock id. */
  static async open(path: string, device = 0, pid = process.pid): Promise<RawConnection> {
    const conn = await RawConnection.connect(path);
    const response = await conn.request(Op.OPEN, [1, device, 3, pid]);
    assert.equal(response.status, 0, 'OPEN failed');
    return conn;
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  /** Writes raw bytes; resolves once they are handed to the kernel. */
  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(bytes, (err) => (err ? reject(err) : resolve())),
    );
  }

  /** A fresh tag (never 0). */
  tag(): number {
    return this.nextTag++;
  }

  /** Sends one request frame and returns the next frame (its response). */
  async request(op: number, words: readonly number[], tail?: Uint8Array): Promise<RawFrame> {
    const tag = this.tag();
    void this.write(encodeFrame(op, tag, words, tail)).catch(() => {});
    const response = await this.next(`the response to op ${op} tag ${tag}`);
    assert.equal(response.op, op, 'response op');
    assert.equal(response.tag, tag, 'response tag');
    return response;
  }

  /** The next frame received, waiting (bounded) for it. */
  async next(what = 'a frame', timeoutMs = 10_000): Promise<RawFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = this.frames.shift();
      if (frame) return frame;
      if (this.decodeError) throw this.decodeError;
      if (this.closed) throw new Error(`connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Frames received and not yet taken. */
  get received(): number {
    return this.frames.length;
  }

  /** Waits (bounded) until the daemon closes the connection. */
  async closedByPeer(timeoutMs = 10_000): Promise<void> {
    await within(this.done, 'the daemon to close the connection', timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Asserts a response is `-code` with no result fields (protocol.md). */
export function assertError(frame: RawFrame, code: ErrnoName, what?: string): void {
  assert.equal(frame.status, -Errno[code], `${what ?? `op ${frame.op}`}: status`);
  assert.equal(frame.payload.length, 4, `${what ?? `op ${frame.op}`}: no result fields on failure`);
}

/**
 * Checks that a client opened before some bad input still works: a
 * request answered by a replier on the same daemon, and an announcement
 * received by a listener.
 */
export async function assertStillWorks(
  socketPath: string,
  requester: Ksock,
  tag: string,
): Promise<void> {
  const replier = await Ksock.connect({ socket: socketPath });
  try {
    const name = `$.still.works.${tag}`;
    await replier.bind(name, { replier: true });
    const answered = (async () => {
      const request = await replier.receive({ timeout: 10_000 });
      await replier.replyTo(request, `re:${request.text()}`);
    })();
    const reply = await requester.request(name, 'ping', { timeout: 10_000 });
    await answered;
    assert.equal(reply.kind, 'reply', `expected a reply, got ${reply.name}`);
    assert.equal(reply.text(), 're:ping');
    // And an announcement, the other way.
    await requester.bind(`${name}.ann`);
    await replier.announce(`${name}.ann`, 'hello');
    const heard = await requester.receive({ timeout: 10_000 });
    assert.equal(heard.name, `${name}.ann`);
    assert.equal(heard.text(), 'hello');
    assert.ok(!(heard instanceof Status));
    await requester.unbind(`${name}.ann`);
  } finally {
    await replier.close();
  }
}

export interface Kbusd {
  readonly process: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
  /** Resolves once stderr says it is serving; rejects if it exits first. */
  serving(timeoutMs?: number): Promise<void>;
  /** Kills it (SIGKILL) if it still runs, and waits for the exit. */
  kill(): Promise<void>;
}

/** Runs bin/kbusd with exactly these arguments (no --socket added). */
export function runKbusd(args: string[], env: NodeJS.ProcessEnv = process.env): Kbusd {
  const child = spawn(process.execPath, [KBUSD, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (text: string) => {
    stdout += text;
  });
  child.stderr!.on('data', (text: string) => {
    stderr += text;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  let exitedNow = false;
  void exited.then(() => {
    exitedNow = true;
  });
  return {
    process: child,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    serving: async (timeoutMs = 30_000) => {
      await waitFor(
        () => {
          if (stderr.includes('serving')) return true;
          if (exitedNow) throw new Error(`kbusd exited before serving: ${stderr}`);
          return false;
        },
        `kbusd to serve (stderr so far: ${JSON.stringify(stderr)})`,
        timeoutMs,
      );
    },
    kill: async () => {
      if (isAlive(child)) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A child process whose stdout is read as lines (JSON lines from the fixtures). */
export interface LineChild {
  readonly process: ChildProcess;
  readonly lines: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  /** Waits (bounded) for a line satisfying `match`; returns it. */
  line(match: (line: string) => boolean, what: string, timeoutMs?: number): Promise<string>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Runs a compiled fixture (dist/test/daemon/fixtures/<name>.js) with these arguments. */
export function runFixture(name: string, args: string[]): LineChild {
  const child = spawn(process.execPath, [join(FIXTURES, `${name}.js`), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (text: string) => {
    partial += text;
    const parts = partial.split('\n');
    partial = parts.pop()!;
    lines.push(...parts.filter((l) => l.length > 0));
  });
  child.stderr!.on('data', (text: string) => {
    stderr += text;
  });
  // The fixtures that wait on stdin block until it ends; keep it open.
  child.stdin!.on('error', () => {});
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  let done = false;
  void exited.then(() => {
    done = true;
  });
  return {
    process: child,
    lines,
    exited,
    stderr: () => stderr,
    line: async (match, what, timeoutMs = 30_000) => {
      let found: string | undefined;
      await waitFor(
        () => {
          found = lines.find(match);
          if (found !== undefined) return true;
          if (done) throw new Error(`${name} exited before ${what}: ${stderr}`);
          return false;
        },
        `${name}: ${what}`,
        timeoutMs,
      );
      return found!;
    },
    kill: async (signal = 'SIGKILL') => {
      if (isAlive(child)) child.kill(signal);
      await exited;
    },
  };
}
