/**
 * Small helpers shared by the part B engine tests (no tests here).
 */
import assert from 'node:assert/strict';
import { type ErrnoName, KbusError, type Ksock, type Message } from './api.js';

/** Asserts that `fn` throws a KbusError whose code is `code`. */
export function throwsCode(fn: () => unknown, code: ErrnoName, what?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof KbusError, `expected a KbusError, got ${String(err)}`);
    assert.equal(err.code, code, what ?? err.message);
    return true;
  });
}

export function ascii(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'latin1'));
}

/** NEXTREAD that must find a message. */
export function nextOf(ksock: Ksock): Message {
  const message = ksock.nextMessage();
  assert.ok(message !== undefined, `Ksock ${ksock.id} has no message`);
  return message;
}

/** Pops every queued message (NEXTREAD until there is none). */
export function drain(ksock: Ksock): Message[] {
  const out: Message[] = [];
  for (let m = ksock.nextMessage(); m !== undefined; m = ksock.nextMessage()) out.push(m);
  return out;
}

/** Patches the 32-bit little-endian word at index `word` of an encoded message. */
export function setWord(bytes: Uint8Array, word: number, value: number): void {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.length).setUint32(word * 4, value, true);
}
