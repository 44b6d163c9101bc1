/**
 * kbus: the KBUS message bus for Node.js.
 *
 * The client API (`Ksock`, typed messages) over kbusd or an in-process
 * engine; the message layout and error numbers; the engine and the daemon
 * for those who embed them. Every export is named here; what is not here is
 * internal (tools and tests reach it through `kbus/internal`).
 */

// The client, with both ways of opening a Ksock: connect() to kbusd, open() in process.
export type {
  CloseReason,
  ConnectOptions,
  Data,
  EncodedOutgoing,
  MessageBytesReader,
  MessageKind,
  Mode,
  OpenOptions,
  Outgoing,
  SendOptions,
  WaitOptions,
} from './client/index.js';
export {
  AbortError,
  Announcement,
  BusInfo,
  ClientError,
  ClientErrorCode,
  ConnectionLostError,
  classify,
  isClientError,
  jsonData,
  KbusMessage,
  Reply,
  Request,
  SocketPathError,
  Status,
  TimeoutError,
  toBytes,
} from './client/index.js';
// The bus in process, and the daemon.
export type { DaemonOptions } from './daemon/index.js';
export { Daemon, DaemonError, DaemonErrorCode } from './daemon/index.js';
export { defaultEngine, Ksock } from './embedded/index.js';
export type { EngineOptions } from './engine/index.js';
export {
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_MAX_MESSAGES,
  DEFAULT_MAX_QUEUE_BYTES,
  DEFAULT_MAX_UNSENT_UNBIND,
  defaultMaxTotalQueueBytes,
  Engine,
  EngineKsock,
  MAX_DEVICES,
  OpenMode,
} from './engine/index.js';

// The protocol, for clients of other transports.
export type { Transport, TransportEvents } from './protocol/index.js';
export { FrameError, FrameErrorCode, PROTOCOL_VERSION } from './protocol/index.js';
export { defaultSocketPath } from './protocol/socket-path.js';

// Messages, names and errors, as the seed defines them.
export type {
  ErrnoInfo,
  ErrnoName,
  Message,
  MessageId,
  MessageInit,
  NetworkAddress,
  ReplierBindEvent,
} from './wire/index.js';
export {
  decodeMessage,
  decodeReplierBindEvent,
  END_GUARD,
  Errno,
  encodeMessage,
  entireMessageLength,
  errnoInfo,
  Flags,
  formatId,
  HEADER_LENGTH,
  isKbusError,
  isReply,
  isRequest,
  isSameId,
  isWildcardName,
  KbusError,
  MAX_NAME_LENGTH,
  MessageNames,
  makeMessage,
  NO_ADDRESS,
  NO_ID,
  nameMatches,
  Poll,
  START_GUARD,
} from './wire/index.js';
