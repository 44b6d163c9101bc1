/**
 * The client's way to kbusd over the network (docs/network.md): a URL
 * (tcp://, tls://, ws://, wss://) made into a connected Transport, under
 * Node. The Ksock itself is the same over every transport.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import WebSocket from 'ws';
import { SocketTransport } from '../protocol/socket-transport.js';
import type { Transport } from '../protocol/transport.js';
import { formatKbusUrl, type KbusUrl } from '../protocol/url.js';
import { WebSocketTransport } from '../protocol/websocket-transport.js';
import { KbusError } from '../wire/index.js';

/** TLS settings for tls:// and wss:// (PEM text or bytes). */
export interface ClientTls {
  /** CA certificates to trust instead of the system's (for a daemon with its own CA). */
  ca?: string | Buffer;
  /** A client certificate and its key, for a daemon that requires one (--tls-ca). */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The name the daemon's certificate must carry (default the URL's host). */
  servername?: string;
}

/** The error a connection attempt failed with, naming the URL and keeping the system's code. */
function connectError(url: KbusUrl, err: Error & { code?: string }): Error {
  const where = formatKbusUrl(url);
  const e = new Error(`cannot connect to kbusd at ${where}: ${err.message}`, { cause: err });
  return Object.assign(e, { code: err.code ?? 'ECONNREFUSED', url: where });
}

function streamConnected(socket: Socket, event: string, url: KbusUrl): Promise<Transport> {
  return new Promise((resolve, reject) => {
    socket.once(event, () => {
      socket.off('error', reject);
      socket.setNoDelay(true);
      resolve(new SocketTransport(socket));
    });
    socket.once('error', (err) => reject(connectError(url, err)));
  });
}

/** Connects to a tcp, tls, ws or wss URL. A token goes in the WebSocket request too. */
export function connectUrl(url: KbusUrl, tls: ClientTls = {}, token?: string): Promise<Transport> {
  const host = url.host;
  const servername = tls.servername ?? (/^[\d.:]+$/.test(host) ? undefined : host);
  switch (url.scheme) {
    case 'tcp':
      return streamConnected(netConnect({ host, port: url.port }), 'connect', url);
    case 'tls':
      return streamConnected(
        tlsConnect({ host, port: url.port, ca: tls.ca, cert: tls.cert, key: tls.key, servername }),
        'secureConnect',
        url,
      );
    case 'ws':
    case 'wss':
      return connectWebSocket(url, tls, token);
    default:
      throw new TypeError(`connectUrl: ${url.scheme} is not a network scheme`);
  }
}

function connectWebSocket(url: KbusUrl, tls: ClientTls, token?: string): Promise<Transport> {
  const ws = new WebSocket(formatKbusUrl(url), ['kbus'], {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    perMessageDeflate: false,
  });
  let socket: Socket | undefined;
  ws.once('upgrade', (response) => {
    socket = response.socket as Socket;
    socket.setNoDelay(true);
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.off('error', reject);
      resolve(
        new WebSocketTransport(ws as never, {
          onDrain: (callback) => socket?.on('drain', callback),
          stream: socket,
        }),
      );
    });
    ws.once('unexpected-response', (_request, response) => {
      const status = response.statusCode ?? 0;
      ws.terminate();
      // docs/network.md: a token the daemon does not know is refused with 401.
      if (status === 401) {
        reject(new KbusError('EACCES', `${formatKbusUrl(url)} refused the token (HTTP 401)`));
        return;
      }
      reject(
        connectError(
          url,
          Object.assign(
            new Error(`the daemon answered HTTP ${status} ${response.statusMessage ?? ''}`.trim()),
            { code: 'ECONNREFUSED' },
          ),
        ),
      );
    });
    ws.once('error', (err) => reject(connectError(url, err)));
  });
}
