/**
 * kbusd's network listeners: TCP, TLS, WebSocket and WebSocket over TLS
 * (docs/network.md). Each turns an accepted connection into a Transport and
 * hands it, with what is known of the peer, to the daemon; the connection
 * itself is the same whatever carried it.
 */
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import { SocketTransport } from '../../protocol/socket-transport.js';
import type { Transport } from '../../protocol/transport.js';
import { formatKbusUrl, type KbusUrl } from '../../protocol/url.js';
import { WebSocketTransport } from '../../protocol/websocket-transport.js';

/** TLS material, as PEM text or bytes. A CA makes client certificates required (mutual TLS). */
export interface ListenerTls {
  cert: string | Buffer;
  key: string | Buffer;
  ca?: string | Buffer | undefined;
}

/** What a listener knows of a client when it hands its connection over. */
export interface Peer {
  /** The listener's URL as bound (port 0 resolved). */
  readonly listener: string;
  readonly scheme: KbusUrl['scheme'];
  /** The client's address (`host:port`, or the socket path for unix). */
  readonly remote: string;
  /** The subject CN of a client certificate verified against the CA. */
  readonly certName?: string | undefined;
  /** A bearer token from the WebSocket request (header, query, subprotocol or cookie). */
  readonly token?: string | undefined;
}

export type Accept = (transport: Transport, peer: Peer) => void;

export interface NetworkListenerOptions {
  tls?: ListenerTls | undefined;
  /** Largest frame `length` the daemon accepts: WebSocket messages over 4 + this close with 1009. */
  maxFrameLength: number;
  /** Most connections at once on this listener; more are dropped as they arrive (0: no limit). */
  maxConnections: number;
  /** Checks a token given in a WebSocket request: false refuses the upgrade (401). */
  checkToken: (token: string) => boolean;
  accept: Accept;
}

/** The WebSocket subprotocol kbus speaks, and the prefix of a token offered as one. */
export const WS_PROTOCOL = 'kbus';
export const WS_TOKEN_PROTOCOL_PREFIX = 'kbus.token.';
export const TOKEN_COOKIE = 'kbus_token';

/** The bearer token of a WebSocket request, from any of the places a browser can put one. */
export function requestToken(request: IncomingMessage): string | undefined {
  const auth = request.headers.authorization;
  if (auth !== undefined && /^bearer /i.test(auth)) return auth.slice(7).trim();
  const query = new URL(request.url ?? '/', 'http://x').searchParams.get('token');
  if (query) return query;
  for (const offered of (request.headers['sec-websocket-protocol'] ?? '').split(',')) {
    const name = offered.trim();
    if (name.startsWith(WS_TOKEN_PROTOCOL_PREFIX))
      return name.slice(WS_TOKEN_PROTOCOL_PREFIX.length);
  }
  for (const pair of (request.headers.cookie ?? '').split(';')) {
    const [key, ...value] = pair.trim().split('=');
    if (key === TOKEN_COOKIE) return decodeURIComponent(value.join('='));
  }
  return undefined;
}

function remoteOf(socket: Socket): string {
  const host = socket.remoteAddress ?? '?';
  return `${host.includes(':') ? `[${host}]` : host}:${socket.remotePort ?? '?'}`;
}

/** The CN of a TLS client's certificate, if it was verified. */
function certName(socket: TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  return Array.isArray(cn) ? cn[0] : cn;
}

export class NetworkListener {
  private readonly server: Server;
  private readonly sockets = new Set<Duplex>();
  private wss: WebSocketServer | undefined;
  private bound: KbusUrl;

  constructor(
    readonly url: KbusUrl,
    private readonly options: NetworkListenerOptions,
  ) {
    this.bound = url;
    const tls = options.tls;
    const secure = url.scheme === 'tls' || url.scheme === 'wss';
    if (secure && tls === undefined) {
      throw new TypeError(
        `${formatKbusUrl(url)} needs a certificate and key (--tls-cert, --tls-key)`,
      );
    }
    const tlsOptions =
      secure && tls !== undefined
        ? {
            cert: tls.cert,
            key: tls.key,
            ca: tls.ca,
            requestCert: !!tls.ca,
            rejectUnauthorized: !!tls.ca,
          }
        : undefined;
    switch (url.scheme) {
      case 'tcp':
        this.server = createNetServer((socket) => this.stream(socket, undefined));
        break;
      case 'tls':
        this.server = createTlsServer(tlsOptions!, (socket) =>
          this.stream(socket, certName(socket)),
        );
        break;
      default:
        this.server = tlsOptions ? createHttpsServer(tlsOptions) : createHttpServer();
        this.webSocket();
    }
    if (options.maxConnections > 0) this.server.maxConnections = options.maxConnections;
    // Count every socket, WebSocket or not, so close() can end them all.
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    // A handshake that fails (a certificate from another CA, an expired one) concerns that client only.
    this.server.on('tlsClientError', (_err, socket) => socket.destroy());
  }

  private stream(socket: Socket, cert: string | undefined): void {
    socket.setNoDelay(true);
    this.options.accept(new SocketTransport(socket), {
      listener: this.address,
      scheme: this.url.scheme,
      remote: remoteOf(socket),
      certName: cert,
    });
  }

  private webSocket(): void {
    const wss = new WebSocketServer({
      server: this.server as never,
      path: this.url.path,
      // protocol.md: one frame per message; a larger message than any frame closes with 1009.
      maxPayload: this.options.maxFrameLength + 4,
      perMessageDeflate: false,
      handleProtocols: (offered) => (offered.has(WS_PROTOCOL) ? WS_PROTOCOL : false),
      verifyClient: ({ req }, done) => {
        const token = requestToken(req);
        if (token !== undefined && !this.options.checkToken(token))
          done(false, 401, 'Unauthorized');
        else done(true);
      },
    });
    this.wss = wss;
    wss.on('connection', (ws, request) => {
      const socket = request.socket;
      const transport = new WebSocketTransport(ws as never, {
        checkFrames: true,
        closeOnPeerClose: true,
        stream: socket,
        onDrain: (callback) => socket.on('drain', callback),
      });
      this.options.accept(transport, {
        listener: this.address,
        scheme: this.url.scheme,
        remote: remoteOf(socket),
        certName: 'authorized' in socket ? certName(socket as TLSSocket) : undefined,
        token: requestToken(request),
      });
    });
    // Errors of the HTTP server reach listen()'s caller; of a client, only that client.
    wss.on('error', () => {});
  }

  /** The URL as bound: port 0 replaced by the port the system chose. */
  get address(): string {
    return formatKbusUrl(this.bound);
  }

  /** Connections open now. */
  get connections(): number {
    return this.sockets.size;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: this.url.host, port: this.url.port }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address();
    if (address !== null && typeof address === 'object') {
      this.bound = { ...this.url, port: address.port };
    }
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.wss?.close();
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}
