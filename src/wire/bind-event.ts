/**
 * The data of a `$.KBUS.ReplierBindEvent` message (kbus_defns.h
 * kbus_replier_bind_event_data): u32 is_bind, u32 binder, u32 name_len,
 * then the name with a NUL and zero padding to a multiple of 4.
 */
import { MAX_NAME_LENGTH } from './constants.js';
import { KbusError } from './errno.js';
import { decodeName, paddedNameLength } from './message.js';

export interface ReplierBindEvent {
  /** True for a bind, false for an unbind. */
  readonly isBind: boolean;
  /** The Ksock id of the replier that bound or unbound. */
  readonly binder: number;
  /** The name (or wildcard) bound or unbound. */
  readonly name: string;
}

export function encodeReplierBindEvent(event: ReplierBindEvent, littleEndian = true): Uint8Array {
  const nameLength = event.name.length;
  const out = new Uint8Array(12 + paddedNameLength(nameLength));
  const view = new DataView(out.buffer);
  view.setUint32(0, event.isBind ? 1 : 0, littleEndian);
  view.setUint32(4, event.binder, littleEndian);
  view.setUint32(8, nameLength, littleEndian);
  for (let i = 0; i < nameLength; i++) out[12 + i] = event.name.charCodeAt(i) & 0xff;
  return out;
}

/** Reads bind event data; EINVAL if it is too short or its name length is impossible. */
export function decodeReplierBindEvent(data: Uint8Array, littleEndian = true): ReplierBindEvent {
  if (data.length < 12) throw new KbusError('EINVAL', 'ReplierBindEvent data is under 12 bytes');
  const view = new DataView(data.buffer, data.byteOffset, data.length);
  const nameLength = view.getUint32(8, littleEndian);
  if (nameLength > MAX_NAME_LENGTH || 12 + nameLength > data.length) {
    throw new KbusError('EINVAL', `ReplierBindEvent name length ${nameLength} does not fit`);
  }
  return {
    isBind: view.getUint32(0, littleEndian) !== 0,
    binder: view.getUint32(4, littleEndian),
    name: decodeName(data, 12, nameLength),
  };
}
