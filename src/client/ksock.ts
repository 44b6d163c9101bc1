/**
 * The client's Ksock under Node: the core Ksock plus `Ksock.connect()`,
 * which reaches kbusd through its Unix socket.
 */
import { connect as netConnect } from 'node:net';
import { defaultSocketPath } from '../protocol/socket-path.js';
import { SocketTransport } from '../protocol/socket-transport.js';
import { Ksock as CoreKsock, type OpenOptions } from './core.js';

export interface ConnectOptions extends OpenOptions {
  /** kbusd's socket (default `$KBUS_SOCKET`, else the daemon's default path). */
  socket?: string;
}

/** Opens a Unix socket connection to kbusd, with an error that says what to do when there is none. */
async function connectSocket(path: string): Promise<SocketTransport> {
  const socket = netConnect(path);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        // Not a bus error: say what to do, keep the system's code.
        const error = new Error(
          `no kbusd is serving ${path}: start one with 'kbusd --socket ${path}'`,
          { cause: err },
        );
        reject(Object.assign(error, { code: err.code }));
      } else reject(err);
    });
  });
  return new SocketTransport(socket);
}

export class Ksock extends CoreKsock {
  /**
   * Connects to kbusd and opens a Ksock on one of its devices:
   * `Ksock.connect()` (the default socket), `Ksock.connect('/run/kbus.sock')`,
   * `Ksock.connect({ socket, device, mode })`, or a path and options.
   */
  static async connect<T extends Ksock>(
    this: { prototype: T },
    target: string | ConnectOptions = {},
    options: ConnectOptions = {},
  ): Promise<T> {
    const opts = typeof target === 'string' ? { ...options, socket: target } : target;
    const transport = await connectSocket(opts.socket ?? defaultSocketPath());
    // biome-ignore lint/complexity/noThisInStatic: called on a subclass, it must make that subclass
    return (this as unknown as typeof Ksock).over(transport, opts) as Promise<T>;
  }
}
