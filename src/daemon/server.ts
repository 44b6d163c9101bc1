/**
 * kbusd's server: owns an engine and serves it on a Unix domain socket, one
 * connection per Ksock (protocol.md).
 */
import { chmod, lstat, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { ClusterView } from '../cluster/index.js';
import { Engine, type EngineKsock, type EngineOptions } from '../engine/index.js';
import { ENGINE_OPTION_SPEC } from '../engine/options.js';
import { MIN_FRAME_LENGTH } from '../protocol/index.js';
import { SocketTransport } from '../protocol/socket-transport.js';
import { checkOptions } from '../wire/check-options.js';
import { Connection } from './connection.js';
import { Gateway, type GatewayOptions } from './gateway.js';
import { HttpListener, parseHostPort } from './http.js';
import { ListenerStats } from './listener-stats.js';
import { prometheusText } from './prometheus.js';
import { type ConsoleState, consoleState } from './state.js';

export interface DaemonOptions extends EngineOptions, GatewayOptions {
  /** The socket path to listen on (the name Ksock.connect() takes too). */
  socket?: string;
  /** @deprecated the old name of `socket`, still accepted. */
  socketPath?: string;
  /** Permission bits of the socket file (default 0o600: the owner only). */
  socketMode?: number;
  /**
   * One line for each event an operator should hear of at the info level:
   * a client whose connection is closed for breaking the protocol.
   */
  notice?: (line: string) => void;
  /** `HOST:PORT` for the HTTP listener: /metrics, /healthz and the console (none by default). */
  http?: string;
  /** Replier BINDs go through this (cluster mode's registry); see ConnectionOptions. */
  bindReplier?: (ksock: EngineKsock, name: string) => Promise<void>;
}

/** The codes of DaemonError. */
export const DaemonErrorCode = {
  /** The socket path exists and is not a socket. */
  NOT_A_SOCKET: 'KBUS_DAEMON_NOT_A_SOCKET',
  /** Another daemon is serving the socket path. */
  IN_USE: 'KBUS_DAEMON_IN_USE',
  /** No socket path was given, or an empty one. */
  NO_SOCKET_PATH: 'KBUS_DAEMON_NO_SOCKET_PATH',
  /** The directory the socket path is in does not exist. */
  NO_DIRECTORY: 'KBUS_DAEMON_NO_DIRECTORY',
  /** The daemon may not create (or replace) the socket file there. */
  PERMISSION_DENIED: 'KBUS_DAEMON_PERMISSION_DENIED',
  /** The HTTP listener (--http) cannot listen on its address. */
  HTTP_LISTEN: 'KBUS_DAEMON_HTTP_LISTEN',
} as const;
export type DaemonErrorCode = (typeof DaemonErrorCode)[keyof typeof DaemonErrorCode];

/** kbusd cannot start: the message says why and what to do. */
export class DaemonError extends Error {
  constructor(
    readonly code: DaemonErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'DaemonError';
  }
}

/** What new Daemon() takes: the engine's options and the socket's. */
const DAEMON_OPTION_SPEC = {
  ...ENGINE_OPTION_SPEC,
  socket: 'string',
  socketPath: 'string',
  socketMode: 'number',
  notice: 'function',
  http: 'string',
  listen: {
    takes: 'an array of URLs',
    test: (v: unknown) => Array.isArray(v) && v.every((u) => typeof u === 'string'),
  },
  tls: { takes: '{ cert, key, ca? }', test: (v: unknown) => typeof v === 'object' && v !== null },
  insecure: 'boolean',
  policy: {
    takes: 'a Policy (parsePolicy())',
    test: (v: unknown) => typeof v === 'object' && v !== null,
  },
  limits: {
    takes: 'an object of limits',
    test: (v: unknown) => typeof v === 'object' && v !== null,
  },
  maxConnections: 'number',
  bindReplier: 'function',
} as const;

/** A system error about the socket path as a DaemonError that says what to do. */
function socketPathError(path: string, err: NodeJS.ErrnoException): Error {
  switch (err.code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new DaemonError(
        DaemonErrorCode.NO_DIRECTORY,
        `cannot create the socket ${path}: the directory ${dirname(path)} does not exist; create it or choose another --socket`,
        { cause: err },
      );
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new DaemonError(
        DaemonErrorCode.PERMISSION_DENIED,
        `cannot create the socket ${path}: permission denied in ${dirname(path)}; choose a --socket in a directory this user may write to`,
        { cause: err },
      );
    case 'EADDRINUSE':
      return new DaemonError(
        DaemonErrorCode.IN_USE,
        `${path} is in use: stop the daemon serving it or choose another --socket`,
        { cause: err },
      );
    default:
      return err;
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
  /** Each client's socket and its connection (flushed before the socket is dropped on close()). */
  private readonly sockets = new Map<Socket, Connection | undefined>();
  private connections = 0;
  private listening = false;
  private compactTimer: ReturnType<typeof setInterval> | undefined;
  /** Connections per listener, for /metrics. */
  readonly listenerStats = new ListenerStats();
  private readonly http: HttpListener | undefined;
  private readonly httpAt: { host: string; port: number } | undefined;
  /** Network listeners and the access policy (docs/network.md). */
  readonly gateway: Gateway;

  readonly options: DaemonOptions;
  private readonly path: string;

  /** Checks every option before anything is opened; listening starts with start(). */
  constructor(options: DaemonOptions) {
    // A socket path that is not a string would make the server listen on a TCP port.
    // Names and types here; the engine's numbers are checked by new Engine() below,
    // still before anything is opened.
    checkOptions('new Daemon()', options, DAEMON_OPTION_SPEC);
    const {
      socket,
      socketPath,
      socketMode: _mode,
      notice,
      http,
      listen,
      tls,
      insecure,
      policy,
      limits,
      maxConnections,
      bindReplier,
      ...engineOptions
    } = options ?? {};
    if (socket !== undefined && socketPath !== undefined && socket !== socketPath) {
      throw new TypeError("new Daemon(): give 'socket' only ('socketPath' is its old name)");
    }
    const path = socket ?? socketPath;
    if (!path) {
      throw new DaemonError(
        DaemonErrorCode.NO_SOCKET_PATH,
        "new Daemon() needs a socket path to listen on: give { socket: '/path/to/kbus.sock' }",
      );
    }
    this.path = path;
    this.options = options;
    this.engine = new Engine(engineOptions);
    const log = options.verbose ? this.engine.options.log : undefined;
    const maxFrameLength = MIN_FRAME_LENGTH + this.engine.options.maxMessageSize;
    this.httpAt = http === undefined ? undefined : parseHostPort(http);
    this.http = http === undefined ? undefined : new HttpListener(this);
    this.gateway = new Gateway(
      this.engine,
      { listen, tls, insecure, policy, limits, maxConnections },
      { maxFrameLength, log, notice, bindReplier },
      () => ++this.connections,
      notice ?? (() => {}),
      { listeners: this.listenerStats, unix: `unix:${path}` },
    );
    const listener = `unix:${path}`;
    this.listenerStats.add(listener, () => this.sockets.size);
    this.server = createServer((socket) => {
      this.listenerStats.accepted(listener);
      socket.once('close', () => this.sockets.delete(socket));
      // Through the gateway, the gateway flushes the connection at close.
      this.sockets.set(socket, undefined);
      if (!this.gateway.plain) {
        this.gateway.accept(new SocketTransport(socket), undefined);
        return;
      }
      const connection = new Connection(
        this.engine,
        new SocketTransport(socket),
        {
          maxFrameLength,
          log,
          notice,
          bindReplier,
          refused: (reason) => this.listenerStats.refused(listener, reason),
        },
        ++this.connections,
      );
      this.sockets.set(socket, connection);
    });
  }

  /** The socket path this daemon listens on. */
  get socket(): string {
    return this.path;
  }

  /** Whether it is serving its bus (started, not closing): GET /healthz. */
  get serving(): boolean {
    return this.listening;
  }

  /** The HTTP listener's address once started (undefined without `http`). */
  get httpAddress(): { host: string; port: number } | undefined {
    const address = this.http?.address;
    return address && { host: address.address, port: address.port };
  }

  /** GET /metrics: the Prometheus text exposition (docs/metrics.md). */
  metricsText(): string {
    const usage = process.resourceUsage();
    return prometheusText(this.engine.metrics(), this.listenerStats, {
      startTimeSeconds: Math.round(performance.timeOrigin / 1000),
      residentBytes: process.memoryUsage.rss(),
      cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6,
    });
  }

  /** GET /metrics and /api/state: may a request with this token read them (see HttpSource)? */
  mayInspect(token: string | undefined): boolean {
    const policy = this.gateway.gate.policy;
    if (policy === undefined) return true;
    const identity = token === undefined ? policy.anonymousUser : policy.userForToken(token);
    return identity !== undefined && policy.grantsFor(identity).inspect !== undefined;
  }

  /** GET /api/state: what the console shows. */
  state(): ConsoleState {
    return consoleState(this.engine.metrics(), this.listenerStats, this.clusterView?.());
  }

  /**
   * In cluster mode, what the console shows of the cluster (the agent joins
   * after the daemon is made, so it is set then).
   */
  clusterView: (() => ClusterView) | undefined;

  /** @deprecated the old name of `socket`. */
  get socketPath(): string {
    return this.path;
  }

  /** Listens on the socket path, replacing a stale socket file but never a live one. */
  async start(): Promise<void> {
    const path = this.path;
    // listen() reports a missing directory as EACCES: look first.
    const parent = await lstat(dirname(path)).catch(() => undefined);
    if (!parent?.isDirectory()) {
      throw socketPathError(
        path,
        Object.assign(new Error('no such directory'), { code: 'ENOENT' }),
      );
    }
    const existing = await lstat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
      throw socketPathError(path, err);
    });
    if (existing) {
      if (!existing.isSocket()) {
        const what = existing.isDirectory() ? 'a directory' : 'not a socket';
        throw new DaemonError(
          DaemonErrorCode.NOT_A_SOCKET,
          `${path} exists and is ${what}: choose another --socket (a path for the socket file itself)`,
        );
      }
      if (await isLive(path)) {
        throw new DaemonError(
          DaemonErrorCode.IN_USE,
          `a daemon is already serving ${path}: stop it or choose another --socket`,
        );
      }
      await unlink(path).catch((err: NodeJS.ErrnoException) => {
        throw socketPathError(path, err);
      });
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (err: NodeJS.ErrnoException) => reject(socketPathError(path, err)));
      this.server.listen(path, () => {
        this.server.removeAllListeners('error');
        resolve();
      });
    });
    if (this.http !== undefined && this.httpAt !== undefined) {
      await this.http.listen(this.httpAt.host, this.httpAt.port).catch((err: Error) => {
        this.server.close();
        throw new DaemonError(
          DaemonErrorCode.HTTP_LISTEN,
          `cannot listen for HTTP on ${this.options.http}: ${err.message}`,
          { cause: err },
        );
      });
    }
    this.listening = true;
    try {
      await this.gateway.start();
    } catch (err) {
      await this.close();
      throw err;
    }
    this.compactTimer = setInterval(() => this.engine.compactQueues(), COMPACT_EVERY_MS);
    this.compactTimer.unref();
    await chmod(path, this.options.socketMode ?? 0o600);
  }

  /** Every address served, as URLs: `unix:PATH` first, then the network listeners as bound. */
  addresses(): string[] {
    return [`unix:${this.path}`, ...this.gateway.addresses()];
  }

  /** Stops listening, closes every connection (each Ksock is released) and removes the socket file. */
  async close(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    clearInterval(this.compactTimer);
    await this.http?.close();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // A response held back for a push (Connection.flush) still reaches its client.
    for (const [socket, connection] of this.sockets) {
      connection?.flush();
      socket.destroy();
    }
    await Promise.all([closed, this.gateway.close()]);
    await unlink(this.path).catch(() => {});
  }
}
