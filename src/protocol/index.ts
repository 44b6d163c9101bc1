export {
  decodeAbout,
  encodeAbout,
  type KsockAbout,
  MAX_DESCRIBE_BYTES,
} from './describe.js';
export * from './frame.js';
export { FrameWriter } from './frame-writer.js';
export { memoryTransportPair } from './memory-transport.js';
export type { Transport, TransportEvents } from './transport.js';
