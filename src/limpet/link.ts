/**
 * Making a Limpet's link: a server accepts one connection, a client
 * connects (optionally retrying until its server is up); TCP or a Unix
 * socket, optionally mutual TLS for TCP. Then the greeting.
 */
import { readFileSync } from 'node:fs';
import { lstat, unlink } from 'node:fs/promises';
import {
  connect as netConnect,
  createServer as netServer,
  type Server,
  type Socket,
} from 'node:net';
import { connect as tlsConnect, createServer as tlsServer } from 'node:tls';
import { decodeGreeting, encodeGreeting, GREETING_LENGTH, LinkError } from './link-codec.js';

export type LinkAddress =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'unix'; path: string };

export interface TlsFiles {
  cert: string;
  key: string;
  ca: string;
}

/** Reads `host:port` (TCP) or a path (Unix socket). */
export function parseLinkAddress(text: string): LinkAddress {
  const m = /^(.*):(\d+)$/.exec(text);
  if (m && !text.includes('/')) {
    const port = Number(m[2]);
    if (port < 1 || port > 65535) throw new LinkError(`port ${port} is not 1 to 65535`);
    // `[::1]:5000`: the brackets only separate an IPv6 address from the port.
    const host = (m[1] ?? '').replace(/^\[(.*)\]$/, '$1');
    return { kind: 'tcp', host: host || 'localhost', port };
  }
  return { kind: 'unix', path: text };
}

function tlsOptions(files: TlsFiles) {
  return {
    cert: readFileSync(files.cert),
    key: readFileSync(files.key),
    ca: readFileSync(files.ca),
  };
}

export interface AcceptedLink {
  socket: Socket;
  /** Removes the server's Unix socket path, if it made one. */
  cleanup: () => Promise<void>;
}

/** The server role: listen, accept one connection, stop listening. */
export async function acceptLink(
  address: LinkAddress,
  tls: TlsFiles | undefined,
  onListening: (where: string) => void,
  signal?: AbortSignal,
): Promise<AcceptedLink> {
  let server: Server;
  let cleanup = async () => {};
  if (address.kind === 'unix') {
    if (await lstat(address.path).catch(() => undefined)) {
      throw new LinkError(`${address.path} already exists: remove it or choose another path`);
    }
    server = netServer();
    cleanup = () => unlink(address.path).catch(() => {});
  } else {
    server = tls
      ? tlsServer({ ...tlsOptions(tls), requestCert: true, rejectUnauthorized: true })
      : netServer();
  }
  const connected = new Promise<Socket>((resolve, reject) => {
    server.once(tls ? 'secureConnection' : 'connection', (socket: Socket) => resolve(socket));
    server.once('error', reject);
    signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // limpet.md section 2: a TCP server listens on all interfaces.
    if (address.kind === 'unix') server.listen(address.path, resolve);
    else server.listen(address.port, resolve);
  });
  const bound = server.address();
  onListening(typeof bound === 'string' ? bound : `port ${bound?.port}`);
  try {
    const socket = await connected;
    return { socket, cleanup };
  } finally {
    // One connection only. A Unix socket path stays until cleanup().
    server.close();
  }
}

/** The client role: connect, retrying until `retrySeconds` have passed (0: once). */
export async function connectLink(
  address: LinkAddress,
  tls: TlsFiles | undefined,
  retrySeconds: number,
  onRetry: (err: Error) => void,
  signal?: AbortSignal,
): Promise<Socket> {
  const deadline = Date.now() + retrySeconds * 1000;
  let delay = 100;
  for (;;) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const socket =
          address.kind === 'unix'
            ? netConnect(address.path)
            : tls
              ? tlsConnect({ host: address.host, port: address.port, ...tlsOptions(tls) })
              : netConnect(address.port, address.host);
        socket.once(tls && address.kind === 'tcp' ? 'secureConnect' : 'connect', () =>
          resolve(socket),
        );
        socket.once('error', reject);
      });
    } catch (err) {
      if (signal?.aborted || Date.now() + delay > deadline) throw err;
      onRetry(err as Error);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 2000);
    }
  }
}

/** Exchanges greetings; resolves with the peer's network id. */
export function greet(
  socket: Socket,
  networkId: number,
  timeoutMs: number,
): Promise<{ peerId: number; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const timer = setTimeout(
      () => finish(new LinkError(`no greeting from the peer within ${timeoutMs} ms`)),
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
    const onEnd = () => finish(new LinkError('the link closed during the greeting'));
    const onError = (err: Error) =>
      finish(new LinkError(`the link failed during the greeting: ${err.message}`));
    function finish(err: Error | undefined, value?: { peerId: number; rest: Buffer }) {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.pause();
      if (err) reject(err);
      else resolve(value!);
    }
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onError);
    socket.write(encodeGreeting(networkId));
  });
}
