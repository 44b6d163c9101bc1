/**
 * The errno table (protocol.md "Errors"; Kbus.txt "Error numbers") and
 * KbusError.
 */
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { describe, test } from 'node:test';
import {
  Errno,
  type ErrnoName,
  errnoInfo,
  errnoTable,
  isKbusError,
  KbusError,
} from '../../src/wire/index.js';

// protocol.md "Errors", verbatim.
const PROTOCOL_ERRORS: [ErrnoName, number][] = [
  ['EPERM', 1],
  ['ENOENT', 2],
  ['EBADF', 9],
  ['EAGAIN', 11],
  ['ENOMEM', 12],
  ['EACCES', 13],
  ['EFAULT', 14],
  ['EBUSY', 16],
  ['EINVAL', 22],
  ['EMFILE', 24],
  ['ENOTTY', 25],
  ['EPIPE', 32],
  ['ENAMETOOLONG', 36],
  ['ENOLCK', 37],
  ['ENOMSG', 42],
  ['EBADMSG', 74],
  ['EMSGSIZE', 90],
  ['EADDRINUSE', 98],
  ['EADDRNOTAVAIL', 99],
  ['ECONNREFUSED', 111],
  ['EALREADY', 114],
];

// The errors Kbus.txt "Error numbers" gives a KBUS meaning.
const KBUS_MEANINGS: ErrnoName[] = [
  'EADDRINUSE',
  'EADDRNOTAVAIL',
  'EALREADY',
  'EBADMSG',
  'EBUSY',
  'ECONNREFUSED',
  'EINVAL',
  'EMSGSIZE',
  'ENAMETOOLONG',
  'ENOENT',
  'ENOLCK',
  'ENOMSG',
  'EPIPE',
  'EFAULT',
  'ENOMEM',
  'EAGAIN',
];

describe('errno table', () => {
  test("has exactly protocol.md's errors, with their Linux numbers", () => {
    assert.deepEqual(Object.entries(Errno), PROTOCOL_ERRORS);
    assert.deepEqual(
      errnoTable.map((info) => [info.name, info.errno]),
      PROTOCOL_ERRORS,
    );
  });

  test('errnoTable is in ascending order of number', () => {
    const numbers = errnoTable.map((info) => info.errno);
    assert.deepEqual(
      numbers,
      [...numbers].sort((a, b) => a - b),
    );
  });

  test("the numbers are the host's Linux errno numbers", {
    skip: process.platform !== 'linux' && 'not Linux',
  }, () => {
    const host = constants.errno as Record<string, number>;
    for (const [name, errno] of PROTOCOL_ERRORS) assert.equal(host[name], errno, name);
  });

  test('errnoInfo finds an error by number', () => {
    for (const [name, errno] of PROTOCOL_ERRORS) {
      const info = errnoInfo(errno);
      assert.equal(info?.name, name);
      assert.equal(info?.errno, errno);
    }
  });

  test('errnoInfo finds an error by name, in any case', () => {
    for (const [name, errno] of PROTOCOL_ERRORS) {
      assert.equal(errnoInfo(name)?.errno, errno);
      assert.equal(errnoInfo(name.toLowerCase())?.errno, errno);
    }
    assert.equal(errnoInfo('ePiPe')?.errno, 32);
  });

  test('errnoInfo knows nothing of other numbers and names', () => {
    assert.equal(errnoInfo(0), undefined);
    assert.equal(errnoInfo(-22), undefined);
    assert.equal(errnoInfo(23), undefined);
    assert.equal(errnoInfo('ENOSPC'), undefined);
    assert.equal(errnoInfo('toString'), undefined);
    assert.equal(errnoInfo(''), undefined);
  });

  test('the errors Kbus.txt explains carry their KBUS meaning', () => {
    for (const name of KBUS_MEANINGS) {
      assert.notEqual(errnoInfo(name)?.kbus, '', name);
    }
    assert.match(errnoInfo('EPIPE')!.kbus, /no longer bound/);
    assert.match(errnoInfo('EADDRINUSE')!.kbus, /already a replier bound/);
    assert.match(errnoInfo('EMSGSIZE')!.kbus, /after the end of the message/);
    assert.match(errnoInfo('ENOMSG')!.kbus, /no message waiting to be sent/);
    assert.equal(errnoInfo('EPERM')!.kbus, '');
  });

  test('every error has its usual (strerror) description', () => {
    for (const info of errnoTable) assert.notEqual(info.description, '', info.name);
    assert.equal(errnoInfo('EINVAL')!.description, 'Invalid argument');
    assert.equal(errnoInfo('EPIPE')!.description, 'Broken pipe');
    assert.equal(errnoInfo('EMSGSIZE')!.description, 'Message too long');
  });
});

describe('KbusError', () => {
  test('carries the code, the number and the KBUS meaning', () => {
    const err = new KbusError('EADDRINUSE', 'replier for $.Fred');
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'KbusError');
    assert.equal(err.code, 'EADDRINUSE');
    assert.equal(err.errno, 98);
    assert.equal(err.kbusMeaning, errnoInfo('EADDRINUSE')!.kbus);
    assert.ok(err.message.startsWith('EADDRINUSE: replier for $.Fred'), err.message);
    assert.ok(err.message.includes(err.kbusMeaning), err.message);
  });

  test('without detail, the message is the usual description', () => {
    const err = new KbusError('EPERM');
    assert.equal(err.message, 'EPERM: Operation not permitted');
    assert.equal(err.kbusMeaning, '');
  });

  test('keeps a cause', () => {
    const cause = new Error('underneath');
    assert.equal(new KbusError('EFAULT', 'copy failed', { cause }).cause, cause);
  });

  test('every code builds an error with its own number', () => {
    for (const [name, errno] of PROTOCOL_ERRORS) {
      const err = new KbusError(name);
      assert.equal(err.errno, errno);
      assert.equal(err.code, name);
    }
  });

  test('fromErrno takes a negative status or a positive errno', () => {
    assert.equal(KbusError.fromErrno(-32).code, 'EPIPE');
    assert.equal(KbusError.fromErrno(32).code, 'EPIPE');
    assert.equal(KbusError.fromErrno(-114).errno, 114);
    for (const [name, errno] of PROTOCOL_ERRORS) {
      assert.equal(KbusError.fromErrno(-errno).code, name);
    }
    assert.ok(KbusError.fromErrno(-74, 'bad name').message.startsWith('EBADMSG: bad name'));
  });

  test('fromErrno of a number KBUS does not use is EINVAL naming the number', () => {
    const err = KbusError.fromErrno(-28);
    assert.equal(err.code, 'EINVAL');
    assert.match(err.message, /-28/);
  });

  test('isKbusError tells KbusErrors, and their codes, from other values', () => {
    const err = new KbusError('EBUSY');
    assert.equal(isKbusError(err), true);
    assert.equal(isKbusError(err, 'EBUSY'), true);
    assert.equal(isKbusError(err, 'EAGAIN'), false);
    assert.equal(isKbusError(new Error('EBUSY')), false);
    assert.equal(isKbusError({ code: 'EBUSY', errno: 16 }), false);
    assert.equal(isKbusError(undefined), false);
  });
});
