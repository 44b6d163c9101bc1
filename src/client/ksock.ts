/**
 * The client's Ksock under Node: the core Ksock plus `Ksock.connect()`,
 * which reaches kbusd through its Unix socket.
 */
import { lstat } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { dirname } from 'node:path';
import { defaultSocketPath } from '../protocol/socket-path.js';
import { SocketTransport } from '../protocol/socket-transport.js';
import type { Transport } from '../protocol/transport.js';
import { isKbusUrl, parseKbusUrl } from '../protocol/url.js';
import { checkOptions } from '../wire/check-options.js';
import { Ksock as CoreKsock, OPEN_OPTION_SPEC, type OpenOptions } from './core.js';
import { ClientError, ClientErrorCode, SocketPathError } from './errors.js';
import { type ClientTls, connectUrl } from './network.js';

export type { ClientTls };

export interface ConnectOptions extends OpenOptions {
  /** kbusd's socket (default `$KBUS_SOCKET`, else the daemon's default path). */
  socket?: string;
  /** kbusd's address as a URL: unix:PATH, tcp://, tls://, ws:// or wss:// (instead of `socket`). */
  url?: string;
  /** TLS settings for tls:// and wss://: a CA to trust, a client certificate. */
  tls?: ClientTls;
}

const CONNECT_OPTION_SPEC = {
  ...OPEN_OPTION_SPEC,
  socket: 'string',
  url: 'string',
  tls: {
    takes: '{ ca?, cert?, key?, servername? }',
    test: (v: unknown) => typeof v === 'object' && v !== null,
  },
} as const;

/**
 * Why connecting to `path` failed, said with what to do. The code stays the
 * system's errno name (ENOENT, ECONNREFUSED, EACCES, ENOTSOCK, ENOTDIR), the
 * system's error is the cause.
 */
async function explain(path: string, err: NodeJS.ErrnoException): Promise<Error> {
  const stat = await lstat(path).catch((e: NodeJS.ErrnoException) => e);
  const parent = dirname(path);
  if (err.code === 'EACCES' || err.code === 'EPERM') {
    return new SocketPathError(
      'EACCES',
      path,
      `permission denied connecting to ${path}: kbusd makes its socket for its own user only unless started with --socket-mode (e.g. --socket-mode 660 and a group this user is in)`,
      err,
    );
  }
  if (!(stat instanceof Error) && !stat.isSocket()) {
    const what = stat.isDirectory() ? 'a directory' : 'not a socket';
    return new SocketPathError(
      'ENOTSOCK',
      path,
      `${path} is ${what}: give the path of kbusd's socket file (kbusd --socket)`,
      err,
    );
  }
  if (stat instanceof Error && stat.code === 'ENOENT') {
    const dir = await lstat(parent).catch(() => undefined);
    if (dir === undefined || !dir.isDirectory()) {
      return new SocketPathError(
        dir === undefined ? 'ENOENT' : 'ENOTDIR',
        path,
        `no kbusd is serving ${path}: the directory ${parent} does not exist; check the path, or start one with 'kbusd --socket ${path}'`,
        err,
      );
    }
  }
  if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
    return new SocketPathError(
      err.code,
      path,
      `no kbusd is serving ${path}: start one with 'kbusd --socket ${path}'`,
      err,
    );
  }
  return err;
}

/** Opens a Unix socket connection to kbusd, with an error that says what to do when there is none. */
export async function connectSocket(path: string): Promise<SocketTransport> {
  const socket = netConnect(path);
  const failure = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    socket.once('connect', () => resolve(undefined));
    socket.once('error', resolve);
  });
  if (failure) throw await explain(path, failure);
  return new SocketTransport(socket);
}

export class Ksock extends CoreKsock {
  /**
   * Connects to kbusd and opens a Ksock on one of its devices:
   * `Ksock.connect()` (the default socket), `Ksock.connect('/run/kbus.sock')`,
   * `Ksock.connect('tls://bus.example:7443', { token, tls: { ca } })`,
   * `Ksock.connect({ socket, device, mode })`, or a path or URL and options.
   */
  static async connect<T extends Ksock>(
    this: { prototype: T },
    target: string | ConnectOptions = {},
    options: ConnectOptions = {},
  ): Promise<T> {
    if (typeof target !== 'string') checkOptions('Ksock.connect()', target, CONNECT_OPTION_SPEC);
    checkOptions('Ksock.connect()', options, CONNECT_OPTION_SPEC);
    const opts =
      typeof target !== 'string'
        ? target
        : isKbusUrl(target)
          ? { ...options, url: target }
          : { ...options, socket: target };
    const { socket: _socket, url: urlText, tls, ...openOptions } = opts;
    let transport: Transport;
    if (urlText !== undefined) {
      const url = parseKbusUrl(urlText);
      transport =
        url.scheme === 'unix'
          ? await connectSocket(url.path)
          : await connectUrl(url, tls, opts.token);
    } else transport = await connectSocket(socketPathOf(opts.socket));
    // biome-ignore lint/complexity/noThisInStatic: called on a subclass, it must make that subclass
    return (this as unknown as typeof Ksock).over(transport, openOptions) as Promise<T>;
  }
}

/** The socket path to connect to: the one given, else the default. */
function socketPathOf(socket: string | undefined): string {
  const path = socket ?? defaultSocketPath();
  if (path === '') {
    throw new ClientError(
      ClientErrorCode.NO_SOCKET_PATH,
      "Ksock.connect() was given an empty socket path: give kbusd's socket, e.g. Ksock.connect('/run/kbus.sock'), or leave it out for the default",
    );
  }
  return path;
}
