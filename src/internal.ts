/**
 * kbus/internal: the building blocks under the public API, for tools and
 * tests that need them. Nothing here is promised to stay as it is.
 */

export { Channel, idOf, Result } from './client/channel.js';
export * from './client/core.js';
export { Inbox } from './client/inbox.js';
export * from './client/messages.js';
export { Connection, type ConnectionOptions } from './daemon/index.js';
export { engineTransport } from './embedded/index.js';
export { QueuedMessage } from './engine/queued.js';
export * from './protocol/index.js';
export { defaultSocketPath } from './protocol/socket-path.js';
export { SocketTransport } from './protocol/socket-transport.js';
export * from './wire/index.js';
