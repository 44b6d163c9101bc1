/**
 * UNBIND (Kbus.txt "Listeners", "IOCTLS" UNBIND).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeMessage, Engine, Flags, MessageNames } from './api.js';
import { assertEmpty, drain, next, sendRequest, throwsCode } from './support.js';

describe('UNBIND must match exactly', () => {
  // Kbus.txt "IOCTLS": UNBIND "Unbind from a binding - must match exactly";
  // kbus.c kbus_forget_binding: no such binding is EINVAL.
  test('unbinding a name that was never bound is EINVAL', () => {
    const k = new Engine().open();
    throwsCode(() => k.unbind('$.Fred'), 'EINVAL');
    throwsCode(() => k.unbind('$.Fred', true), 'EINVAL');
  });

  // Kbus.txt "Listeners": "The message name and flags used in an UNBIND must
  // match those in the corresponding BIND."
  test('the replier flag must match: unbinding the other kind is EINVAL and changes nothing', () => {
    const engine = new Engine();
    const listener = engine.open();
    const replier = engine.open();
    const sender = engine.open();
    listener.bind('$.Fred');
    replier.bind('$.Jim', true);
    throwsCode(() => listener.unbind('$.Fred', true), 'EINVAL');
    throwsCode(() => replier.unbind('$.Jim', false), 'EINVAL');
    sender.sendMessage({ name: '$.Fred' });
    assert.equal(listener.numMessages(), 1);
    assert.equal(sender.replier('$.Jim'), replier.id);
  });

  // Kbus.txt "Listeners": "this has implication for binding and unbinding
  // wildcards, which must also match."
  test('a wildcard binding is only removed by unbinding the same wildcard', () => {
    const engine = new Engine();
    const listener = engine.open();
    const sender = engine.open();
    listener.bind('$.a.*');
    throwsCode(() => listener.unbind('$.a.b'), 'EINVAL');
    throwsCode(() => listener.unbind('$.a.%'), 'EINVAL');
    throwsCode(() => listener.unbind('$.*'), 'EINVAL');
    sender.sendMessage({ name: '$.a.b' });
    assert.equal(listener.numMessages(), 1);
    listener.unbind('$.a.*');
    throwsCode(() => listener.unbind('$.a.*'), 'EINVAL');
  });

  // Kbus.txt "Listeners": closing a Ksock "does not affect message bindings
  // made on other Ksocks"; likewise a Ksock cannot unbind another's binding.
  test("a Ksock cannot unbind another Ksock's binding", () => {
    const engine = new Engine();
    const owner = engine.open();
    const other = engine.open();
    owner.bind('$.Fred');
    throwsCode(() => other.unbind('$.Fred'), 'EINVAL');
    other.sendMessage({ name: '$.Fred' });
    assert.equal(owner.numMessages(), 1);
  });

  // Kbus.txt "Listeners": a Ksock may bind to a name more than once; each
  // UNBIND removes one of those bindings.
  test('with a name bound twice, one unbind leaves one binding', () => {
    const engine = new Engine();
    const listener = engine.open();
    const sender = engine.open();
    listener.bind('$.Fred');
    listener.bind('$.Fred');
    listener.unbind('$.Fred');
    sender.sendMessage({ name: '$.Fred' });
    assert.equal(listener.numMessages(), 1);
    listener.unbind('$.Fred');
    throwsCode(() => listener.unbind('$.Fred'), 'EINVAL');
  });

  // Kbus.txt "Listeners": after UNBIND the listener no longer receives the name.
  test('after unbinding, new messages with that name are not received', () => {
    const engine = new Engine();
    const listener = engine.open();
    const sender = engine.open();
    listener.bind('$.Fred');
    listener.unbind('$.Fred');
    sender.sendMessage({ name: '$.Fred' });
    assertEmpty(listener);
  });
});

describe('UNBIND and the message queue', () => {
  // Kbus.txt "Listeners": "Any messages in the listener's message queue which
  // match that unbinding will be removed from the queue"; kbus.c
  // kbus_forget_matching_messages removes only the messages "in the queue
  // because of the binding we're removing".
  test('unbind removes the queued messages that came through that binding, and no others', () => {
    const engine = new Engine();
    const listener = engine.open();
    const sender = engine.open();
    listener.bind('$.a.b');
    listener.bind('$.a.*');
    listener.bind('$.c');
    const first = sender.sendMessage({ name: '$.a.b' });
    const other = sender.sendMessage({ name: '$.c' });
    const second = sender.sendMessage({ name: '$.a.b' });
    assert.equal(listener.numMessages(), 5);
    listener.unbind('$.a.b');
    const left = drain(listener);
    // The copies through '$.a.*' and the '$.c' message stay, in order.
    assert.deepEqual(
      left.map((m) => m.id),
      [first, other, second],
    );
  });

  // Kbus.txt "Listeners": the queued messages removed are those of the binding
  // unbound; with a name bound twice, one copy of each message remains.
  test('unbinding one of two identical bindings removes one queued copy of each message', () => {
    const engine = new Engine();
    const listener = engine.open();
    const sender = engine.open();
    listener.bind('$.Fred');
    listener.bind('$.Fred');
    const a = sender.sendMessage({ name: '$.Fred' });
    const b = sender.sendMessage({ name: '$.Fred' });
    listener.unbind('$.Fred');
    assert.deepEqual(
      drain(listener).map((m) => m.id),
      [a, b],
    );
  });

  // Kbus.txt "Listeners": the removal "does *not* affect the message
  // currently being read".
  test('unbind does not affect the message currently being read', () => {
    const engine = new Engine();
    const listener = engine.open();
    const sender = engine.open();
    listener.bind('$.Fred');
    const data = new Uint8Array([1, 2, 3, 4, 5, 6, 7]);
    const id = sender.sendMessage({ name: '$.Fred', data });
    sender.sendMessage({ name: '$.Fred' });
    const length = listener.nextMsg();
    const head = listener.read(10);
    listener.unbind('$.Fred');
    // The queued second message went, the popped one stays readable.
    assert.equal(listener.numMessages(), 0);
    assert.equal(listener.lenLeft(), length - 10);
    const tail = listener.read(length);
    const bytes = new Uint8Array(length);
    bytes.set(head);
    bytes.set(tail, head.length);
    const got = decodeMessage(bytes);
    assert.deepEqual(got.id, id);
    assert.deepEqual(got.data, data);
  });

  // Kbus.txt "Receiving messages once only": a Ksock bound as listener and
  // replier gets two copies of a request; unbinding the listener binding
  // removes only the listener copy, and the request is still owed a reply.
  test('unbinding the listener binding keeps the replier copy of a request', () => {
    const engine = new Engine();
    const both = engine.open();
    const sender = engine.open();
    both.bind('$.Fred', true);
    both.bind('$.Fred');
    const id = sendRequest(sender, '$.Fred');
    assert.equal(both.numMessages(), 2);
    both.unbind('$.Fred');
    const left = drain(both);
    assert.equal(left.length, 1);
    assert.deepEqual(left[0]!.id, id);
    assert.ok(left[0]!.flags & Flags.WANT_YOU_TO_REPLY);
    // No Unbound status: the replier binding is still there.
    assertEmpty(sender);
  });

  // Kbus.txt "Requests and Replies" case 1: unbinding the replier binding
  // removes the queued request (and sends Unbound), but leaves the listener copy.
  test('unbinding the replier binding keeps the listener copy of a request', () => {
    const engine = new Engine();
    const both = engine.open();
    const sender = engine.open();
    both.bind('$.Fred', true);
    both.bind('$.Fred');
    const id = sendRequest(sender, '$.Fred');
    both.unbind('$.Fred', true);
    const left = drain(both);
    assert.equal(left.length, 1);
    assert.deepEqual(left[0]!.id, id);
    assert.equal(left[0]!.flags & Flags.WANT_YOU_TO_REPLY, 0);
    assert.equal(next(sender).name, MessageNames.REPLIER_UNBOUND);
  });
});
