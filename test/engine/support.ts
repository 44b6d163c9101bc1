/**
 * Helpers shared by the engine behaviour tests (no tests here).
 */
import assert from 'node:assert/strict';
import {
  type Engine,
  type ErrnoName,
  Flags,
  KbusError,
  type EngineKsock as Ksock,
  type Message,
  type MessageId,
  type MessageInit,
} from './api.js';

export { ascii, cutAt, setWord } from '../wire/support.js';

/** Asserts that `fn` throws a KbusError whose `.code` is `code`; `what` names the case. */
export function throwsCode(fn: () => unknown, code: ErrnoName, what?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof KbusError, `expected a KbusError, got ${String(err)}`);
    assert.equal(err.code, code, what ?? err.message);
    return true;
  });
}

/**
 * SEND of what has been written (Kbus.txt "Senders": WRITE, then SEND).
 * (The engine names it sendWritten, as the client does.)
 */
export function sendWritten(ksock: Ksock): MessageId {
  return ksock.sendWritten();
}

/** Pops every queued message (NEXTREAD until there is none; each counts as read). */
export function drain(ksock: Ksock): Message[] {
  const out: Message[] = [];
  for (let m = ksock.nextMessage(); m !== undefined; m = ksock.nextMessage()) out.push(m);
  return out;
}

/** NEXTREAD that must find a message. */
export function next(ksock: Ksock): Message {
  const m = ksock.nextMessage();
  assert.ok(m !== undefined, `Ksock ${ksock.id} has no message queued`);
  return m;
}

/** Asserts that nothing is queued for `ksock`. */
export function assertEmpty(ksock: Ksock): void {
  assert.equal(ksock.numMessages(), 0, `Ksock ${ksock.id} has messages queued`);
}

/** Sends a Request (WANT_A_REPLY) named `name`. */
export function sendRequest(
  sender: Ksock,
  name: string,
  init: Partial<MessageInit> = {},
): MessageId {
  return sender.sendMessage({ ...init, name, flags: (init.flags ?? 0) | Flags.WANT_A_REPLY });
}

/** Sends the Reply to `request` (as Kbus.txt "Reply message" says to build one). */
export function sendReply(
  replier: Ksock,
  request: Message,
  init: Partial<MessageInit> = {},
): MessageId {
  return replier.sendMessage({
    name: request.name,
    inReplyTo: request.id,
    to: request.from,
    ...init,
  });
}

/** A well-formed one-word plain name of exactly `length` characters. */
export function nameOfLength(length: number): string {
  return `$.${'x'.repeat(length - 2)}`;
}

/**
 * The "outstanding requests N" that /proc/kbus/stats reports for `ksock`:
 * the reply slots reserved in its queue (Kbus.txt "/proc/kbus/stats").
 */
export function outstandingRequests(engine: Engine, ksock: Ksock): number {
  const lines = engine.statsText().split('\n');
  let device = -1;
  let inKsock = false;
  for (const line of lines) {
    const dev = /^dev\s+(\d+):/.exec(line);
    if (dev) {
      device = Number(dev[1]);
      inKsock = false;
      continue;
    }
    const ks = /^\s+ksock (\d+) /.exec(line);
    if (ks) {
      inKsock = device === ksock.deviceIndex && Number(ks[1]) === ksock.id;
      continue;
    }
    const out = /outstanding requests (\d+)/.exec(line);
    if (out && inKsock) return Number(out[1]);
  }
  throw new Error(`no stats for Ksock ${ksock.id} on device ${ksock.deviceIndex}`);
}
