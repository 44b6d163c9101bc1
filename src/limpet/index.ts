export { type BusAction, bindEventOf, LimpetCore, type LimpetIds, LimpetNames } from './core.js';
export { type LimpetOptions, runLimpet } from './limpet.js';
export { type LinkAddress, parseLinkAddress, type TlsFiles } from './link.js';
export {
  decodeGreeting,
  encodeGreeting,
  encodeLinkMessage,
  GREETING_LENGTH,
  LinkDecoder,
  LinkError,
} from './link-codec.js';
export { ProxyRepliers } from './proxies.js';
