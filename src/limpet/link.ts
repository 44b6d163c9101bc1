/**
 * Making a Limpet's link: a server accepts one connection, a client
 * connects (optionally retrying until its server is up); TCP or a Unix
 * socket, optionally mutual TLS for TCP. Then the greeting.
 */
import { lstat, readFile, unlink } from 'node:fs/promises';
import {
  isIPv4,
  connect as netConnect,
  createServer as netServer,
  type Server,
  type Socket,
} from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { createSecureContext, connect as tlsConnect, createServer as tlsServer } from 'node:tls';
import {
  decodeGreeting,
  encodeGreeting,
  GREETING_LENGTH,
  LinkError,
  LinkErrorCode,
} from './link-codec.js';

/**
 * A TCP `host` of '' is no host at all (`:5000`): a server listens on every
 * interface, a client connects to localhost.
 */
export type LinkAddress =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'unix'; path: string };

/** Paths of the PEM files for mutual TLS. */
export interface TlsFiles {
  cert: string;
  key: string;
  ca: string;
}

/** What the TLS files hold, read once at start. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

/** Reads `host:port` (TCP) or a path (Unix socket). */
export function parseLinkAddress(text: string): LinkAddress {
  if (text === '') {
    throw new LinkError(
      LinkErrorCode.ADDRESS,
      'the address is empty: give host:port for TCP (e.g. 127.0.0.1:5000) or a Unix socket path',
    );
  }
  const m = /^(.*):(\d+)$/.exec(text);
  if (m && !text.includes('/')) {
    const port = Number(m[2]);
    if (port < 1 || port > 65535) {
      throw new LinkError(LinkErrorCode.ADDRESS, `port ${port} is not 1 to 65535`);
    }
    // `[::1]:5000`: the brackets only separate an IPv6 address from the port.
    const host = (m[1] ?? '').replace(/^\[(.*)\]$/, '$1');
    return { kind: 'tcp', host, port };
  }
  return { kind: 'unix', path: text };
}

/** The address as the log shows it. */
export function formatLinkAddress(address: LinkAddress): string {
  if (address.kind === 'unix') return address.path;
  return address.host.includes(':')
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}

/**
 * Whether a TCP host reaches this machine only (127.0.0.0/8, ::1, localhost):
 * a server listening anywhere else, or everywhere (''), can be reached from
 * the network.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^::ffff:/, '');
  if (h === 'localhost' || h.endsWith('.localhost') || h === '::1') return true;
  return isIPv4(h) && h.startsWith('127.');
}

/** Reads the TLS files, once, and checks that they make a usable certificate and key. */
export async function readTlsFiles(files: TlsFiles): Promise<TlsMaterial> {
  try {
    const [cert, key, ca] = await Promise.all([
      readFile(files.cert),
      readFile(files.key),
      readFile(files.ca),
    ]);
    createSecureContext({ cert, key, ca });
    return { cert, key, ca };
  } catch (err) {
    throw new LinkError(LinkErrorCode.TLS_FILES, (err as Error).message, { cause: err });
  }
}

export interface AcceptedLink {
  socket: Socket;
  /** Removes the server's Unix socket path, if it made one. */
  cleanup: () => Promise<void>;
}

/** The server role: listen, accept one connection, stop listening. */
export async function acceptLink(
  address: LinkAddress,
  tls: TlsMaterial | undefined,
  onListening: (where: string) => void,
  signal?: AbortSignal,
): Promise<AcceptedLink> {
  signal?.throwIfAborted();
  let server: Server;
  let cleanup = async () => {};
  if (address.kind === 'unix') {
    const existing = await lstat(address.path).catch(() => undefined);
    if (existing && !existing.isSocket()) {
      throw new LinkError(
        LinkErrorCode.PATH_EXISTS,
        `${address.path} already exists and is not a socket: remove it or choose another path`,
      );
    }
    if (existing) {
      // As kbusd does: a socket file nobody serves is left by a process that died; replace it.
      if (await isServed(address.path)) {
        throw new LinkError(
          LinkErrorCode.PATH_EXISTS,
          `something is already listening on ${address.path}: stop it or choose another path`,
        );
      }
      await unlink(address.path).catch(() => {});
    }
    server = netServer();
    cleanup = () => unlink(address.path).catch(() => {});
  } else {
    server = tls ? tlsServer({ ...tls, requestCert: true, rejectUnauthorized: true }) : netServer();
  }
  let onAbort = () => {};
  const connected = new Promise<Socket>((resolve, reject) => {
    server.once(tls ? 'secureConnection' : 'connection', (socket: Socket) => resolve(socket));
    server.once('error', reject);
    onAbort = () => reject(signal!.reason);
  });
  // Awaited below, unless listening fails first.
  connected.catch(() => {});
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) onAbort();
  try {
    const listening = new Promise<void>((resolve) => {
      // Exactly where told: a host of its own only; no host, every interface.
      if (address.kind === 'unix') server.listen(address.path, resolve);
      else if (address.host === '') server.listen(address.port, resolve);
      else server.listen(address.port, address.host, resolve);
    });
    try {
      // A failure to listen arrives as the server's 'error'.
      await Promise.race([listening, connected]);
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new LinkError(
        LinkErrorCode.LISTEN,
        `cannot listen on ${formatLinkAddress(address)}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const bound = server.address();
    onListening(
      typeof bound === 'string' || bound === null
        ? String(bound)
        : address.kind === 'tcp' && address.host !== ''
          ? `${formatLinkAddress({ kind: 'tcp', host: bound.address, port: bound.port })}`
          : `port ${bound.port}`,
    );
    try {
      return { socket: await connected, cleanup };
    } catch (err) {
      await cleanup();
      throw err;
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    // One connection only. A Unix socket path stays until cleanup().
    server.close();
  }
}

/**
 * Whether a process listens on the Unix socket at `path`. Linux lists
 * listening sockets in /proc/net/unix: a socket found there is not probed,
 * for a connection would use up a waiting Limpet server's one accept. Else
 * (or when bound under another name) a connection attempt decides.
 */
async function isServed(path: string): Promise<boolean> {
  const table = await readFile('/proc/net/unix', 'latin1').catch(() => '');
  const names = new Set([path, resolvePath(path)]);
  for (const line of table.split('\n').slice(1)) {
    // Num RefCount Protocol Flags Type St Inode Path; St 01 is listening.
    const fields = line.trim().split(/\s+/);
    if (fields[5] === '01' && fields[7] !== undefined && names.has(fields[7])) return true;
  }
  return new Promise<boolean>((answer) => {
    const probe = netConnect(path);
    probe.once('connect', () => {
      probe.destroy();
      answer(true);
    });
    probe.once('error', (err: NodeJS.ErrnoException) => answer(err.code !== 'ECONNREFUSED'));
  });
}

/** The client role: connect, retrying until `retrySeconds` have passed (0: once). */
export async function connectLink(
  address: LinkAddress,
  tls: TlsMaterial | undefined,
  retrySeconds: number,
  onRetry: (err: Error) => void,
  signal?: AbortSignal,
): Promise<Socket> {
  const deadline = Date.now() + retrySeconds * 1000;
  let delay = 100;
  for (;;) {
    signal?.throwIfAborted();
    try {
      return await connectOnce(address, tls, signal);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (Date.now() + delay > deadline) {
        throw new LinkError(LinkErrorCode.CONNECT, (err as Error).message, { cause: err });
      }
      onRetry(err as Error);
      await sleep(delay, signal);
      delay = Math.min(delay * 2, 2000);
    }
  }
}

function connectOnce(
  address: LinkAddress,
  tls: TlsMaterial | undefined,
  signal: AbortSignal | undefined,
): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const socket =
      address.kind === 'unix'
        ? netConnect(address.path)
        : tls
          ? tlsConnect({ host: address.host || 'localhost', port: address.port, ...tls })
          : netConnect(address.port, address.host || 'localhost');
    const onAbort = () => socket.destroy(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once(tls && address.kind === 'tcp' ? 'secureConnect' : 'connect', () => {
      signal?.removeEventListener('abort', onAbort);
      resolve(socket);
    });
    socket.once('error', (err) => {
      signal?.removeEventListener('abort', onAbort);
      reject(err);
    });
  });
}

/** Waits `ms`, or rejects with the signal's reason when it is aborted. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Exchanges greetings; resolves with the peer's network id (limpet.md section 4). */
export function greet(
  socket: Socket,
  networkId: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<{ peerId: number; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const timer = setTimeout(
      () =>
        finish(
          new LinkError(
            LinkErrorCode.GREETING_TIMEOUT,
            `no greeting from the peer within ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < GREETING_LENGTH) return;
      try {
        const peerId = decodeGreeting(received.subarray(0, GREETING_LENGTH), networkId);
        finish(undefined, { peerId, rest: received.subarray(GREETING_LENGTH) });
      } catch (err) {
        finish(err as Error);
      }
    };
    const onEnd = () =>
      finish(new LinkError(LinkErrorCode.GREETING, 'the link closed during the greeting'));
    const onError = (err: Error) =>
      finish(
        new LinkError(
          LinkErrorCode.GREETING,
          `the link failed during the greeting: ${err.message}`,
          { cause: err },
        ),
      );
    const onAbort = () => finish(signal!.reason);
    function finish(err: unknown, value?: { peerId: number; rest: Buffer }) {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
      socket.pause();
      if (err !== undefined) reject(err);
      else resolve(value!);
    }
    if (signal?.aborted) {
      finish(signal.reason);
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onError);
    socket.write(encodeGreeting(networkId));
  });
}
