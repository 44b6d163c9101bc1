/** kbus: the KBUS message bus for Node.js. */

export * from './daemon/index.js';
export * from './engine/index.js';
export * from './wire/index.js';
