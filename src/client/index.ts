export {
  type ConnectOptions,
  defaultEngine,
  Ksock,
  type Mode,
  type OpenOptions,
  type SendOptions,
  type WaitOptions,
} from './ksock.js';
export { memoryPair } from './memory-pair.js';
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
