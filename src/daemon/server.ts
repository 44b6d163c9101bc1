/**
 * kbusd's server: owns an engine and serves it on a Unix domain socket, one
 * connection per Ksock (protocol.md).
 */
import { chmod, lstat, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Engine, type EngineOptions } from '../engine/index.js';
import { MIN_FRAME_LENGTH } from '../protocol/index.js';
import { SocketTransport } from '../protocol/socket-transport.js';
import { Connection } from './connection.js';

export interface DaemonOptions extends EngineOptions {
  /** The socket path to listen on. */
  socketPath: string;
  /** Permission bits of the socket file (default 0o600: the owner only). */
  socketMode?: number;
}

/** The codes of DaemonError. */
export const DaemonErrorCode = {
  /** The socket path exists and is not a socket. */
  NOT_A_SOCKET: 'KBUS_DAEMON_NOT_A_SOCKET',
  /** Another daemon is serving the socket path. */
  IN_USE: 'KBUS_DAEMON_IN_USE',
} as const;
export type DaemonErrorCode = (typeof DaemonErrorCode)[keyof typeof DaemonErrorCode];

/** kbusd cannot start: the message says why and what to do. */
export class DaemonError extends Error {
  constructor(
    readonly code: DaemonErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DaemonError';
  }
}

/** Is something accepting connections on `path`? */
function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/**
 * How often the queued messages that stay are given bytes of their own
 * (Engine.compactQueues): until then a small message from a busy client may
 * keep the whole socket read it came in alive.
 */
const COMPACT_EVERY_MS = 200;

export class Daemon {
  readonly engine: Engine;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private connections = 0;
  private listening = false;
  private compactTimer: ReturnType<typeof setInterval> | undefined;

  constructor(readonly options: DaemonOptions) {
    this.engine = new Engine(options);
    const log = options.verbose ? this.engine.options.log : undefined;
    const maxFrameLength = MIN_FRAME_LENGTH + this.engine.options.maxMessageSize;
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      new Connection(
        this.engine,
        new SocketTransport(socket),
        { maxFrameLength, log },
        ++this.connections,
      );
    });
  }

  get socketPath(): string {
    return this.options.socketPath;
  }

  /** Listens on the socket path, replacing a stale socket file but never a live one. */
  async start(): Promise<void> {
    const path = this.options.socketPath;
    const existing = await lstat(path).catch(() => undefined);
    if (existing) {
      if (!existing.isSocket()) {
        throw new DaemonError(
          DaemonErrorCode.NOT_A_SOCKET,
          `${path} exists and is not a socket: remove it or choose another --socket`,
        );
      }
      if (await isLive(path)) {
        throw new DaemonError(
          DaemonErrorCode.IN_USE,
          `a daemon is already serving ${path}: stop it or choose another --socket`,
        );
      }
      await unlink(path);
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(path, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.listening = true;
    this.compactTimer = setInterval(() => this.engine.compactQueues(), COMPACT_EVERY_MS);
    this.compactTimer.unref();
    await chmod(path, this.options.socketMode ?? 0o600);
  }

  /** Stops listening, closes every connection (each Ksock is released) and removes the socket file. */
  async close(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    clearInterval(this.compactTimer);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
    await unlink(this.options.socketPath).catch(() => {});
  }
}
