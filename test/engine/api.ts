// The engine's public API, as these tests use it.
export * from '../../src/engine/index.js';
export * from '../../src/wire/index.js';
