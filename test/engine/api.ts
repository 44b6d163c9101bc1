// The engine's public API, as these tests use it, and the router they test on its own.
export * from '../../src/engine/index.js';
export { type Binding, type Route, Router } from '../../src/engine/router.js';
export * from '../../src/wire/index.js';
