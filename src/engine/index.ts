export { type BindingChange, type BindingObserver, Engine } from './engine.js';
export { EngineKsock, type KsockGuard, OpenMode } from './ksock.js';
export { QueueBudget } from './message-queue.js';
export {
  type DeviceMetrics,
  type EngineMetrics,
  type KsockMetrics,
  STATUS_MESSAGE_NAMES,
} from './metrics.js';
export {
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_MAX_MESSAGES,
  DEFAULT_MAX_QUEUE_BYTES,
  DEFAULT_MAX_UNSENT_UNBIND,
  defaultMaxTotalQueueBytes,
  type EngineOptions,
  MAX_DEVICES,
} from './options.js';
export { MessageCopy } from './queued.js';
