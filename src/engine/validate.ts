/**
 * A message given as an object is checked exactly as WRITE checks one given
 * as bytes (kbus.c kbus_check_message_written, then the name).
 */
import {
  copyBytes,
  entireMessageLength,
  Flags,
  KbusError,
  MAX_NAME_LENGTH,
  type Message,
  type MessageInit,
  NO_ADDRESS,
  NO_ID,
  SendingMessage,
  sendNameError,
} from '../wire/index.js';

const NO_DATA = new Uint8Array(0);

function isU32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff;
}

/**
 * Checks a message given as an object exactly as WRITE checks one given
 * as bytes (kbus_check_message_written, then the name), and copies it so
 * that the caller may reuse its data.
 */
export function validateMessage(init: MessageInit, maxMessageSize: number): Message {
  const name = init.name;
  if (typeof name !== 'string' || name.length === 0) {
    throw new KbusError('EINVAL', 'message name length is 0');
  }
  if (name.length > MAX_NAME_LENGTH) {
    throw new KbusError('ENAMETOOLONG', `message name length is ${name.length}`);
  }
  const flags = init.flags ?? 0;
  if (!isU32(flags)) throw new KbusError('EINVAL', 'flags must be an unsigned 32-bit integer');
  if (flags & Flags.ALL_OR_WAIT && flags & Flags.ALL_OR_FAIL) {
    throw new KbusError('EINVAL', 'a message cannot have both ALL_OR_WAIT and ALL_OR_FAIL set');
  }
  const data = init.data ?? NO_DATA;
  if (!(data instanceof Uint8Array)) throw new KbusError('EINVAL', 'data must be a Uint8Array');
  const length = entireMessageLength(name.length, data.length);
  if (length > maxMessageSize) {
    throw new KbusError('EMSGSIZE', `message of ${length} bytes is larger than ${maxMessageSize}`);
  }
  const nameError = sendNameError(name);
  if (nameError) throw new KbusError(nameError, `bad message name '${name}'`);
  const id = init.id ?? NO_ID;
  const inReplyTo = init.inReplyTo ?? NO_ID;
  const origFrom = init.origFrom ?? NO_ADDRESS;
  const finalTo = init.finalTo ?? NO_ADDRESS;
  const to = init.to ?? 0;
  const from = init.from ?? 0;
  const extra = init.extra ?? 0;
  if (
    !isU32(id.networkId) ||
    !isU32(id.serialNum) ||
    !isU32(inReplyTo.networkId) ||
    !isU32(inReplyTo.serialNum) ||
    !isU32(origFrom.networkId) ||
    !isU32(origFrom.localId) ||
    !isU32(finalTo.networkId) ||
    !isU32(finalTo.localId) ||
    !isU32(to) ||
    !isU32(from) ||
    !isU32(extra)
  ) {
    throw new KbusError('EINVAL', 'message header fields must be unsigned 32-bit integers');
  }
  const copy = data.length === 0 ? NO_DATA : copyBytes(data);
  return new SendingMessage(id, inReplyTo, to, from, origFrom, finalTo, extra, flags, name, copy);
}
