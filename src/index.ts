/**
 * kbus: the KBUS message bus for Node.js.
 *
 * The client API (`Ksock`, typed messages) over kbusd or an in-process
 * engine; the message layout and error numbers; the engine and the daemon
 * for those who embed them.
 */
export * from './client/index.js';
export { Daemon, DaemonError, type DaemonOptions, defaultSocketPath } from './daemon/index.js';
export {
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_MAX_MESSAGES,
  DEFAULT_MAX_QUEUE_BYTES,
  DEFAULT_MAX_UNSENT_UNBIND,
  defaultMaxTotalQueueBytes,
  Engine,
  type EngineOptions,
  Ksock as EngineKsock,
  MAX_DEVICES,
  OpenMode,
} from './engine/index.js';
export * from './wire/index.js';
