/**
 * Message names (Kbus.txt "Message names", "Limits"; kbus.c
 * kbus_bad_message_name, kbus_message_name_matches, kbus_bind).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  bindNameError,
  isWellFormedName,
  isWildcardName,
  MAX_NAME_LENGTH,
  MIN_NAME_LENGTH,
  nameMatches,
  sendNameError,
} from '../../src/wire/index.js';
import { plainNameOfLength, RUNS, shortPlainName, wildcardName, word } from './support.js';

const VALID_PLAIN = [
  '$.Fred',
  '$.a',
  '$.1',
  '$.Sensors.Kitchen',
  '$.Sensors.Kitchen.Toaster',
  '$.A1.b2.C3.dd4',
  '$.KBUS.ReplierBindEvent',
];
const VALID_WILDCARDS = ['$.*', '$.%', '$.Sensors.*', '$.Sensors.%', '$.a.b.c.*'];
const MALFORMED = [
  '$',
  '$.', // Kbus.txt "Limits": at least "$." plus another character
  '$..',
  '$.a.', // no empty last word
  '$.Fred.',
  '$..a', // no empty first word
  '$.a..b', // no empty word in the middle
  'Fred', // must start with "$."
  '$Fred',
  '.$.Fred',
  '$,Fred',
  '$.Fred Bloggs', // words are alphanumerics
  '$.Fred-Bloggs',
  '$.Fred_Bloggs',
  '$.Fred*', // a wildcard is a whole last word
  '$.Fred%',
  '$.Fred.**',
  '$.*.Fred', // only the last word may be a wildcard
  '$.*.*',
  '$.%.a',
  '$.Fred.*.',
  '$.a.b\0',
];

describe('isWellFormedName', () => {
  test('accepts the names and wildcards of the grammar', () => {
    for (const name of [...VALID_PLAIN, ...VALID_WILDCARDS]) {
      assert.equal(isWellFormedName(name), true, name);
    }
  });

  test('rejects malformed names', () => {
    for (const name of MALFORMED) assert.equal(isWellFormedName(name), false, name);
  });

  test('names shorter than 3 characters are malformed (Kbus.txt "Limits")', () => {
    assert.equal(MIN_NAME_LENGTH, 3);
    for (const name of ['', '$', '$.', '.a', 'ab'])
      assert.equal(isWellFormedName(name), false, name);
    assert.equal(isWellFormedName('$.x'), true);
  });

  test('letters and digits are the ASCII ones (names.ts)', () => {
    for (const name of ['$.Caf\u00e9', '$.\u00c5', '$.\u0661', '$.a\u200bb']) {
      assert.equal(isWellFormedName(name), false, JSON.stringify(name));
    }
  });

  test('agrees with the grammar written as a regular expression', () => {
    // name := '$.' [ word '.' ]* ( word | '*' | '%' ); word := [A-Za-z0-9]+
    const grammar = /^\$\.(?:[A-Za-z0-9]+\.)*(?:[A-Za-z0-9]+|\*|%)$/;
    const alphabet = fc.constantFrom('$', '.', '.', '*', '%', 'a', 'Z', '0', ' ', '-', '\u00e9');
    const candidates = fc.oneof(
      fc.string({ unit: alphabet, maxLength: 12 }),
      fc.string({ unit: alphabet, maxLength: 10 }).map((s) => `$.${s}`),
    );
    fc.assert(
      fc.property(candidates, (name) => {
        assert.equal(isWellFormedName(name), grammar.test(name), JSON.stringify(name));
      }),
      { numRuns: 1000 },
    );
  });

  test('every name generated from the grammar is well formed', () => {
    fc.assert(
      fc.property(fc.oneof(shortPlainName, wildcardName), (name) => {
        assert.equal(isWellFormedName(name), true, name);
      }),
      RUNS,
    );
  });
});

describe('isWildcardName', () => {
  test('is true exactly for names whose last word is * or %', () => {
    for (const name of VALID_WILDCARDS) assert.equal(isWildcardName(name), true, name);
    for (const name of VALID_PLAIN) assert.equal(isWildcardName(name), false, name);
  });
});

describe('bindNameError (kbus.c kbus_bind)', () => {
  test('plain names and wildcards can be bound', () => {
    for (const name of [...VALID_PLAIN, ...VALID_WILDCARDS]) {
      assert.equal(bindNameError(name), undefined, name);
    }
  });

  test('an empty or malformed name is EBADMSG', () => {
    assert.equal(bindNameError(''), 'EBADMSG');
    for (const name of MALFORMED) assert.equal(bindNameError(name), 'EBADMSG', name);
  });

  test('1000 characters is allowed, 1001 is ENAMETOOLONG (Kbus.txt "Limits")', () => {
    assert.equal(MAX_NAME_LENGTH, 1000);
    const name1000 = plainNameOfLength(1000);
    assert.equal(name1000.length, 1000);
    assert.equal(bindNameError(name1000), undefined);
    assert.equal(bindNameError(`${name1000.slice(0, 998)}.*`), undefined);
    assert.equal(bindNameError(plainNameOfLength(1001)), 'ENAMETOOLONG');
    assert.equal(bindNameError(`${name1000}.*`), 'ENAMETOOLONG');
    // The length is checked before the form, as in kbus_bind.
    assert.equal(bindNameError('x'.repeat(1001)), 'ENAMETOOLONG');
  });
});

describe('sendNameError', () => {
  test('plain names can be sent', () => {
    for (const name of VALID_PLAIN) assert.equal(sendNameError(name), undefined, name);
  });

  test('a wildcard cannot be sent: EBADMSG (Kbus.txt "Error numbers" EBADMSG)', () => {
    for (const name of VALID_WILDCARDS) assert.equal(sendNameError(name), 'EBADMSG', name);
  });

  test('a malformed name is EBADMSG', () => {
    for (const name of MALFORMED) assert.equal(sendNameError(name), 'EBADMSG', name);
  });

  test('an empty name is EINVAL, as a zero name_len is in a header', () => {
    assert.equal(sendNameError(''), 'EINVAL');
  });

  test('1000 characters is allowed, 1001 is ENAMETOOLONG', () => {
    assert.equal(sendNameError(plainNameOfLength(1000)), undefined);
    assert.equal(sendNameError(plainNameOfLength(1001)), 'ENAMETOOLONG');
  });

  test('every generated plain name can be sent, every generated wildcard cannot', () => {
    fc.assert(
      fc.property(shortPlainName, wildcardName, (plain, wildcard) => {
        assert.equal(sendNameError(plain), undefined);
        assert.equal(sendNameError(wildcard), 'EBADMSG');
      }),
      RUNS,
    );
  });
});

describe('nameMatches (Kbus.txt "Message names")', () => {
  test('"$.Sensors.*" includes children at that level and below', () => {
    for (const name of [
      '$.Sensors.Kitchen',
      '$.Sensors.Bedroom',
      '$.Sensors.Kitchen.FireAlarm',
      '$.Sensors.Kitchen.Toaster',
      '$.Sensors.Bedroom.FireAlarm',
    ]) {
      assert.equal(nameMatches(name, '$.Sensors.*'), true, name);
    }
  });

  test('"$.Sensors.%" includes children at that level only', () => {
    assert.equal(nameMatches('$.Sensors.Kitchen', '$.Sensors.%'), true);
    assert.equal(nameMatches('$.Sensors.Bedroom', '$.Sensors.%'), true);
    assert.equal(nameMatches('$.Sensors.Kitchen.Toaster', '$.Sensors.%'), false);
  });

  test('a wildcard does not include the name it is below, nor its siblings', () => {
    for (const binding of ['$.Sensors.*', '$.Sensors.%']) {
      assert.equal(nameMatches('$.Sensors', binding), false, binding);
      assert.equal(nameMatches('$.SensorsX.Kitchen', binding), false, binding);
      assert.equal(nameMatches('$.SensorsKitchen', binding), false, binding);
      assert.equal(nameMatches('$.Other.Kitchen', binding), false, binding);
    }
  });

  test('"$.*" includes every name, "$.%" every top-level name', () => {
    for (const name of ['$.a', '$.Fred', '$.Sensors.Kitchen', '$.a.b.c.d']) {
      assert.equal(nameMatches(name, '$.*'), true, name);
    }
    assert.equal(nameMatches('$.Fred', '$.%'), true);
    assert.equal(nameMatches('$.a', '$.%'), true);
    assert.equal(nameMatches('$.Sensors.Kitchen', '$.%'), false);
  });

  test('a plain binding matches only that very name', () => {
    assert.equal(nameMatches('$.Fred', '$.Fred'), true);
    assert.equal(nameMatches('$.Fred.Jim', '$.Fred'), false);
    assert.equal(nameMatches('$.Fre', '$.Fred'), false);
    assert.equal(nameMatches('$.Freda', '$.Fred'), false);
  });

  test('case is significant', () => {
    assert.equal(nameMatches('$.fred', '$.Fred'), false);
    assert.equal(nameMatches('$.sensors.Kitchen', '$.Sensors.*'), false);
    assert.equal(nameMatches('$.Sensors.kitchen', '$.Sensors.Kitchen'), false);
    assert.equal(nameMatches('$.SENSORS.Kitchen', '$.Sensors.%'), false);
  });

  test('"*" matches every name strictly below the prefix, "%" those exactly one word below', () => {
    fc.assert(
      fc.property(
        fc.array(word, { maxLength: 4 }),
        fc.array(word, { minLength: 1, maxLength: 4 }),
        (prefix, below) => {
          const stem = ['$', ...prefix].join('.');
          const name = [stem, ...below].join('.');
          assert.equal(nameMatches(name, `${stem}.*`), true);
          assert.equal(nameMatches(name, `${stem}.%`), below.length === 1);
          assert.equal(nameMatches(name, name), true);
          if (prefix.length > 0) {
            assert.equal(nameMatches(stem, `${stem}.*`), false);
            assert.equal(nameMatches(stem, name), false);
          }
        },
      ),
      RUNS,
    );
  });
});
