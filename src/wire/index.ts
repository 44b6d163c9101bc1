export * from './assembler.js';
export * from './bind-event.js';
export * from './constants.js';
export * from './errno.js';
export * from './frame.js';
export * from './message.js';
export * from './names.js';
export * from './pool.js';
