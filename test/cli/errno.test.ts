/**
 * `kbus errno` as a real process: an error number's or name's usual meaning
 * and its KBUS meaning. It needs no daemon.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { assertExit, assertNoColour, kbus } from './helpers.js';

describe('kbus errno', () => {
  test('32: "Error 32 (0x20) is EPIPE: Broken pipe", then the KBUS meaning', async () => {
    const result = await kbus(['errno', '32'], { socket: '/nonexistent/kbus.sock' });
    assertExit(result, 0);
    assert.equal(result.stderr, '');
    assertNoColour(result.stdout);
    const [head, blank, kbusHeading, ...meaning] = result.stdout.split('\n');
    assert.equal(head, 'Error 32 (0x20) is EPIPE: Broken pipe');
    assert.equal(blank, '');
    assert.equal(kbusHeading, 'KBUS:');
    const text = meaning.join(' ');
    assert.match(text, /replier/);
    assert.match(text, /'to'/);
    assert.ok(result.stdout.endsWith('\n'));
    for (const line of meaning) assert.ok(line.length <= 76, `wrapped: ${line}`);
  });

  test('a name: "EADDRINUSE is error 98 (0x62): ...", then the KBUS meaning', async () => {
    const result = await kbus(['errno', 'EADDRINUSE']);
    assertExit(result, 0);
    const lines = result.stdout.split('\n');
    assert.equal(lines[0], 'EADDRINUSE is error 98 (0x62): Address already in use');
    assert.equal(lines[2], 'KBUS:');
    assert.match(lines.slice(3).join(' '), /already a replier/);
  });

  test('names in any case, and numbers in hex, give the same meaning', async () => {
    const byName = await kbus(['errno', 'EADDRNOTAVAIL']);
    const lower = await kbus(['errno', 'eaddrnotavail']);
    const byNumber = await kbus(['errno', '99']);
    const byHex = await kbus(['errno', '0x63']);
    for (const r of [byName, lower, byNumber, byHex]) assertExit(r, 0);
    assert.equal(lower.stdout, byName.stdout);
    assert.equal(byHex.stdout, byNumber.stdout);
    assert.ok(byNumber.stdout.startsWith('Error 99 (0x63) is EADDRNOTAVAIL: '));
    const meaning = (s: string) => s.slice(s.indexOf('\nKBUS:\n'));
    assert.equal(meaning(byName.stdout), meaning(byNumber.stdout));
    assert.match(meaning(byNumber.stdout), /no replier bound/);
  });

  test('an error with no KBUS meaning prints just the usual one', async () => {
    const result = await kbus(['errno', '1']);
    assertExit(result, 0);
    assert.equal(result.stdout, 'Error 1 (0x1) is EPERM: Operation not permitted\n');
  });

  test('an unknown name or number exits 64 with a message', async () => {
    for (const key of ['EFOO', '9999', 'pipe']) {
      const result = await kbus(['errno', key]);
      assertExit(result, 64, `errno ${key}`);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, new RegExp(`'${key}' is not an error number or name`));
      assertNoColour(result.stderr);
    }
  });

  test('no argument exits 64', async () => {
    const result = await kbus(['errno']);
    assertExit(result, 64);
    assert.match(result.stderr, /missing required argument/);
  });

  test('--json: one object with the number, name, hex, usual and KBUS meanings', async () => {
    const result = await kbus(['--json', 'errno', 'eaddrnotavail']);
    assertExit(result, 0);
    const record = JSON.parse(result.stdout);
    assert.equal(result.stdout.split('\n').length, 2, 'one line');
    assert.equal(record.errno, 99);
    assert.equal(record.name, 'EADDRNOTAVAIL');
    assert.equal(record.hex, '0x63');
    assert.equal(typeof record.description, 'string');
    assert.match(record.kbus, /\S/);
    const plain = await kbus(['errno', '1', '--json']);
    assertExit(plain, 0);
    assert.deepEqual(JSON.parse(plain.stdout), {
      errno: 1,
      name: 'EPERM',
      hex: '0x1',
      description: 'Operation not permitted',
    });
  });
});
