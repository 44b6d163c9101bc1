/**
 * Reaching kbusd from a browser: the browser's own WebSocket, opened on a
 * ws:// or wss:// URL of a kbusd --listen, as a Transport (one protocol
 * frame per binary message). Nothing here needs Node.
 */
import type { Transport } from '../protocol/transport.js';
import { type WebSocketLike, WebSocketTransport } from '../protocol/websocket-transport.js';
import { KbusError } from '../wire/index.js';

/** The WebSocket subprotocol kbusd speaks (docs/network.md). */
const WS_PROTOCOL = 'kbus';

type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** The browser's WebSocket (any standard one: Deno's, Node 22's, a test's). */
function webSocketClass(): WebSocketConstructor {
  const found = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (found === undefined) {
    throw new TypeError(
      "this environment has no WebSocket: kbus/browser is for browsers; under Node import 'kbus'",
    );
  }
  return found;
}

/** A ws:// or wss:// URL, resolved against the page's address when relative ("/kbus"). */
export function webSocketUrl(url: string | URL): string {
  const base = (globalThis as { location?: { href: string } }).location?.href;
  const resolved = new URL(String(url), base);
  if (resolved.protocol === 'http:') resolved.protocol = 'ws:';
  if (resolved.protocol === 'https:') resolved.protocol = 'wss:';
  if (resolved.protocol !== 'ws:' && resolved.protocol !== 'wss:') {
    throw new TypeError(`kbus/browser connects to ws:// or wss:// URLs, not '${String(url)}'`);
  }
  return resolved.href;
}

/**
 * Opens a WebSocket to kbusd and resolves once it is open. A browser says
 * nothing of why a connection failed (a refused token, no server, a bad
 * certificate all look alike): the error is ECONNREFUSED naming the URL.
 */
export function connectWebSocket(url: string | URL): Promise<Transport> {
  const href = webSocketUrl(url);
  const ws = new (webSocketClass())(href, [WS_PROTOCOL]);
  return new Promise((resolve, reject) => {
    let settled = false;
    const target = ws as unknown as {
      addEventListener(type: string, listener: (event: { code?: number }) => void): void;
      removeEventListener(type: string, listener: (event: { code?: number }) => void): void;
    };
    const opened = () => {
      settled = true;
      target.removeEventListener('close', failed);
      resolve(new WebSocketTransport(ws));
    };
    const failed = (event: { code?: number }) => {
      if (settled) return;
      settled = true;
      const code = event.code === undefined ? '' : ` (close code ${event.code})`;
      reject(
        new KbusError(
          'ECONNREFUSED',
          `cannot connect to kbusd at ${href}${code}: is kbusd listening there (kbusd --listen ${href}), and is the token right?`,
        ),
      );
    };
    target.addEventListener('open', opened);
    target.addEventListener('close', failed);
  });
}
