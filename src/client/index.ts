/**
 * kbus/client: the client API under Node, over kbusd's socket. It loads
 * neither the engine nor the daemon.
 */

export type { KsockAbout } from '../protocol/index.js';
export { BusInfo } from './bus-info-node.js';
export type {
  CloseReason,
  EncodedOutgoing,
  Mode,
  OpenOptions,
  SendOptions,
  WaitOptions,
} from './core.js';
export {
  AbortError,
  ClientError,
  ClientErrorCode,
  ConnectionLostError,
  isClientError,
  SocketPathError,
  TimeoutError,
} from './errors.js';
export type { MessageBytesReader } from './inbox.js';
export { type ClientTls, type ConnectOptions, Ksock } from './ksock.js';
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
} from './messages.js';
