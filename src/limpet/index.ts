/**
 * Limpets (docs/limpet.md): link a KBUS bus to another, from code.
 */

// The forwarding rules as a pure engine, no I/O (limpet.md section 5).
export { type BusAction, bindEventOf, LimpetCore, type LimpetIds, LimpetNames } from './core.js';
// Running a Limpet.
export { Limpet, LimpetError, LimpetErrorCode, type LimpetOptions } from './limpet.js';
export { type LinkAddress, parseLinkAddress, type TlsFiles } from './link.js';
// The link format, for talking to a Limpet without being one (limpet.md section 4).
export {
  decodeGreeting,
  encodeGreeting,
  encodeLinkMessage,
  GREETING_LENGTH,
  LinkDecoder,
  LinkError,
  LinkErrorCode,
} from './link-codec.js';
export { type LimpetResult, LimpetStop } from './result.js';
