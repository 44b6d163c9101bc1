/**
 * MAXMSGSIZE, the later KBUS's ioctl 18 (protocol.md "MAXMSGSIZE is per
 * device"): the device's largest entire message, 0 only asks, 1 asks the
 * absolute maximum, 76 to the absolute maximum may be set, and a longer
 * message is EMSGSIZE from the WRITE or SENDMSG that declares it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Engine, encodeMessage, entireMessageLength } from './api.js';
import { drain, sendWritten, throwsCode } from './support.js';

const ABSOLUTE = 4096;

describe('MAXMSGSIZE', () => {
  test('asks, asks the absolute maximum, and sets within 76 to that maximum', () => {
    const engine = new Engine({ maxMessageSize: ABSOLUTE });
    const ksock = engine.open(0);
    assert.equal(ksock.maxMessageSize(), ABSOLUTE, 'the absolute maximum at first');
    assert.equal(ksock.maxMessageSize(200), 200);
    assert.equal(ksock.maxMessageSize(0), 200, '0 only asks');
    assert.equal(ksock.maxMessageSize(1), ABSOLUTE, '1 asks the absolute maximum');
    assert.equal(ksock.maxMessageSize(), 200, 'and changes nothing');
    assert.equal(ksock.maxMessageSize(76), 76, 'the smallest allowed');
    throwsCode(() => ksock.maxMessageSize(75), 'EINVAL');
    throwsCode(() => ksock.maxMessageSize(ABSOLUTE + 1), 'EINVAL');
    assert.equal(ksock.maxMessageSize(), 76, 'a refused request changes nothing');
  });

  test('a message longer than the limit is EMSGSIZE for SENDMSG and for WRITE; one at it is sent', () => {
    const engine = new Engine({ maxMessageSize: ABSOLUTE });
    const sender = engine.open(0);
    const listener = engine.open(0);
    listener.bind('$.Size');
    const limit = entireMessageLength('$.Size'.length, 100);
    assert.equal(sender.maxMessageSize(limit), limit);
    sender.sendMessage({ name: '$.Size', data: new Uint8Array(100) });
    throwsCode(() => sender.sendMessage({ name: '$.Size', data: new Uint8Array(101) }), 'EMSGSIZE');
    throwsCode(
      () => sender.sendBytes(encodeMessage({ name: '$.Size', data: new Uint8Array(101) })),
      'EMSGSIZE',
    );
    // WRITE reports it as soon as the header declares it.
    const long = encodeMessage({ name: '$.Size', data: new Uint8Array(200) });
    throwsCode(() => sender.write(long.subarray(0, 64)), 'EMSGSIZE');
    sender.write(encodeMessage({ name: '$.Size', data: new Uint8Array(100) }));
    sendWritten(sender);
    assert.equal(drain(listener).length, 2);
  });

  test('the limit is the device’s: every Ksock on it, and no other device', () => {
    const engine = new Engine({ devices: 2, maxMessageSize: ABSOLUTE });
    const a = engine.open(0);
    const b = engine.open(0);
    const other = engine.open(1);
    a.maxMessageSize(100);
    assert.equal(b.maxMessageSize(), 100);
    assert.equal(other.maxMessageSize(), ABSOLUTE);
    throwsCode(() => b.sendMessage({ name: '$.Big', data: new Uint8Array(64) }), 'EMSGSIZE');
    other.sendMessage({ name: '$.Big', data: new Uint8Array(64) });
  });
});
