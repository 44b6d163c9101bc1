/**
 * Message names, as BIND, UNBIND and SEND check them (Kbus.txt
 * "Message names", "Limits", "Error numbers").
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Engine, encodeMessage, Flags, makeMessage } from './api.js';
import {
  assertEmpty,
  drain,
  nameOfLength,
  next,
  sendRequest,
  sendWritten,
  throwsCode,
} from './support.js';

// Names that break `name := '$.' [ word '.' ]+ ( word | '*' | '%' )`, with
// `word := alphanumerics` (Kbus.txt "Message names"; kbus.c kbus_bad_message_name).
const MALFORMED = [
  'Fred', // no '$.'
  '$', // shorter than 3 characters ("Limits")
  '$.', // shorter than 3 characters
  '$a.b', // '$' not followed by '.'
  '.$.a',
  '$.a.', // ends with a dot
  '$..a', // empty word
  '$.a..b', // empty word
  '$.a b', // space is not alphanumeric
  '$.a-b',
  '$.a_b',
  '$.a.*.b', // a wildcard may only be the last word
  '$.%.a',
  '$.a*', // a wildcard must be a whole word
  '$.a.**',
  '$.a.*%',
];

describe('message names: BIND and UNBIND', () => {
  // Kbus.txt "Message names": "$." then one or more alphanumeric words
  // separated by dots; "*" or "%" may be the last word.
  test('bind accepts plain names and wildcards that follow the grammar', () => {
    const k = new Engine().open();
    for (const name of [
      '$.a',
      '$.Sensors',
      '$.Sensors.Kitchen.Temperature',
      '$.abc123.X9',
      '$.*',
      '$.%',
      '$.Sensors.*',
      '$.Sensors.%',
    ]) {
      assert.doesNotThrow(() => k.bind(name), name);
    }
  });

  // Kbus.txt "Error numbers", EBADMSG: "On attempting to bind, unbind or send
  // a message: The message name is not valid."
  test('bind rejects malformed names with EBADMSG', () => {
    const k = new Engine().open();
    for (const name of MALFORMED) throwsCode(() => k.bind(name), 'EBADMSG');
    for (const name of MALFORMED) throwsCode(() => k.bind(name, true), 'EBADMSG');
  });

  // Kbus.txt "Error numbers", EBADMSG (unbind).
  test('unbind rejects malformed names with EBADMSG', () => {
    const k = new Engine().open();
    for (const name of MALFORMED) throwsCode(() => k.unbind(name), 'EBADMSG');
  });

  // Kbus.txt "Message content": "It is not possible for a message name to be
  // unset"; kbus.c kbus_bind: a name of length 0 is EBADMSG.
  test('bind and unbind of the empty name are EBADMSG', () => {
    const k = new Engine().open();
    throwsCode(() => k.bind(''), 'EBADMSG');
    throwsCode(() => k.bind('', true), 'EBADMSG');
    throwsCode(() => k.unbind(''), 'EBADMSG');
  });

  // Kbus.txt "Limits": names are limited to 1000 characters; "Error numbers",
  // ENAMETOOLONG: "On attempting to bind, unbind or send a message".
  test('a name of 1001 characters is ENAMETOOLONG for bind and unbind', () => {
    const k = new Engine().open();
    const name = nameOfLength(1001);
    throwsCode(() => k.bind(name), 'ENAMETOOLONG');
    throwsCode(() => k.bind(name, true), 'ENAMETOOLONG');
    throwsCode(() => k.unbind(name), 'ENAMETOOLONG');
  });

  // Kbus.txt "Limits": the maximum is 1000 characters, so 1000 is allowed.
  test('a name of exactly 1000 characters can be bound, sent and unbound', () => {
    const engine = new Engine();
    const listener = engine.open();
    const sender = engine.open();
    const name = nameOfLength(1000);
    listener.bind(name);
    sender.sendMessage({ name });
    const got = next(listener);
    assert.equal(got.name, name);
    assert.doesNotThrow(() => listener.unbind(name));
  });

  // Kbus.txt "Limits": a wildcard name of 1000 characters is within the limit.
  test('a wildcard of exactly 1000 characters can be bound', () => {
    const k = new Engine().open();
    const wildcard = `${nameOfLength(998)}.*`;
    assert.equal(wildcard.length, 1000);
    assert.doesNotThrow(() => k.bind(wildcard));
  });
});

describe('message names: SEND', () => {
  // Kbus.txt "Senders": "It is not possible to send a message with a wildcard
  // message name"; "Error numbers", EBADMSG: "On sending, this can also be
  // because the message name is a wildcard."
  test('sending to a wildcard name is EBADMSG', () => {
    const k = new Engine().open();
    for (const name of ['$.*', '$.%', '$.Sensors.*', '$.Sensors.%']) {
      throwsCode(() => k.sendMessage({ name }), 'EBADMSG');
      throwsCode(() => sendRequest(k, name), 'EBADMSG');
    }
  });

  // Kbus.txt "Senders" (no wildcard names); protocol.md "Points ... settled":
  // a bad or wildcard name is reported by the WRITE that completes it, and
  // the partial message is discarded, so a following SEND is ENOMSG.
  test('writing a message with a wildcard name is EBADMSG, and the message is dropped', () => {
    const k = new Engine().open();
    const bytes = encodeMessage(makeMessage({ name: '$.Sensors.*' }));
    throwsCode(() => k.write(bytes), 'EBADMSG');
    throwsCode(() => sendWritten(k), 'ENOMSG');
  });

  // Kbus.txt "Error numbers", EBADMSG: "On attempting to ... send a message:
  // The message name is not valid."
  test('sending with a malformed name is EBADMSG', () => {
    const k = new Engine().open();
    for (const name of MALFORMED) {
      throwsCode(() => k.sendMessage({ name }), 'EBADMSG');
    }
    const bytes = encodeMessage(makeMessage({ name: '$.a..b' }));
    throwsCode(() => k.write(bytes), 'EBADMSG');
  });

  // Kbus.txt "The message header": name_length "will always be non-zero, as a
  // message name must always be given"; kbus.c kbus_check_message_written
  // rejects name_len 0 with EINVAL.
  test('sending a message with an empty name (name_len 0) is EINVAL', () => {
    const k = new Engine().open();
    throwsCode(() => k.sendMessage({ name: '' }), 'EINVAL');
    const bytes = encodeMessage(makeMessage({ name: '' }));
    throwsCode(() => k.write(bytes), 'EINVAL');
  });

  // Kbus.txt "Limits" and "Error numbers", ENAMETOOLONG (send).
  test('sending a message whose name is 1001 characters is ENAMETOOLONG', () => {
    const k = new Engine().open();
    const name = nameOfLength(1001);
    throwsCode(() => k.sendMessage({ name }), 'ENAMETOOLONG');
    throwsCode(() => k.write(encodeMessage(makeMessage({ name }))), 'ENAMETOOLONG');
  });

  // Kbus.txt "Message names": "Case is significant."
  test('case is significant when matching a message to a binding', () => {
    const engine = new Engine();
    const listener = engine.open();
    const sender = engine.open();
    listener.bind('$.Fred');
    sender.sendMessage({ name: '$.fred' });
    sender.sendMessage({ name: '$.FRED' });
    assertEmpty(listener);
    sender.sendMessage({ name: '$.Fred' });
    assert.deepEqual(
      drain(listener).map((m) => m.name),
      ['$.Fred'],
    );
  });

  // Kbus.txt "Message names": "Case is significant." A replier for '$.Fred'
  // is no replier for '$.fred', and each may have its own replier.
  test('case is significant for repliers', () => {
    const engine = new Engine();
    const replier = engine.open();
    const other = engine.open();
    const sender = engine.open();
    replier.bind('$.Fred', true);
    throwsCode(() => sendRequest(sender, '$.fred'), 'EADDRNOTAVAIL');
    assert.doesNotThrow(() => other.bind('$.fred', true));
    sendRequest(sender, '$.fred');
    assertEmpty(replier);
    const got = next(other);
    assert.equal(got.name, '$.fred');
    assert.ok(got.flags & Flags.WANT_YOU_TO_REPLY);
  });
});
