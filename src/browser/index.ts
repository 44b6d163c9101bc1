/**
 * kbus/browser: the client API in a browser, over WebSocket. The same
 * Ksock as under Node (bind, announce, request, replyTo, for await,
 * timeouts and AbortSignal) and BusInfo, reaching a kbusd that listens on
 * ws:// or wss:// (kbusd --listen). No Node built-in is in its import
 * graph, so it works from a bundler and from a plain
 * `<script type="module">` (kbusd --http serves it under /js/browser/).
 */
import { type BusInfoOptions, BusInfo as CoreBusInfo } from '../client/bus-info.js';
import { Ksock as CoreKsock, type OpenOptions } from '../client/core.js';
import { connectWebSocket } from './websocket.js';

export type { CloseReason, Mode, OpenOptions, SendOptions, WaitOptions } from '../client/core.js';
export {
  AbortError,
  ClientError,
  ClientErrorCode,
  ConnectionLostError,
  isClientError,
  TimeoutError,
} from '../client/errors.js';
export {
  Announcement,
  classify,
  type Data,
  jsonData,
  KbusMessage,
  type MessageKind,
  type Outgoing,
  Reply,
  Request,
  Status,
  toBytes,
} from '../client/messages.js';
export type { KsockAbout } from '../protocol/describe.js';
export { Errno, type ErrnoName, Flags, KbusError, type MessageId } from '../wire/index.js';
export { webSocketUrl } from './websocket.js';

/** Ksock.connect()'s options: the device, the mode and the token (for a daemon with a policy). */
export type BrowserConnectOptions = OpenOptions;

export class Ksock extends CoreKsock {
  /**
   * Connects to kbusd over WebSocket and opens a Ksock:
   * `await Ksock.connect('ws://127.0.0.1:8080/kbus', { token, device })`.
   * A relative URL ('/kbus') is taken from the page's address. The token
   * is sent in an AUTH frame, never in the URL; a token the daemon does not
   * know fails with EACCES.
   */
  static async connect<T extends Ksock>(
    this: { prototype: T },
    url: string | URL,
    options: BrowserConnectOptions = {},
  ): Promise<T> {
    const transport = await connectWebSocket(url);
    // biome-ignore lint/complexity/noThisInStatic: called on a subclass, it must make that subclass
    return (this as unknown as typeof Ksock).over(transport, options) as Promise<T>;
  }
}

export class BusInfo extends CoreBusInfo {
  /**
   * Connects to kbusd over WebSocket without opening a Ksock, to ask for
   * the devices, the bindings and the stats: `await BusInfo.connect(url, { token })`.
   */
  static async connect(url: string | URL, options: BusInfoOptions = {}): Promise<BusInfo> {
    return BusInfo.over(await connectWebSocket(url), options);
  }
}
