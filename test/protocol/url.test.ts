/**
 * The addresses clients connect to and kbusd listens on (docs/network.md):
 * what each form parses to, and a clear KBUS_BAD_URL for what is not one.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  formatKbusUrl,
  isKbusUrl,
  isLoopbackHost,
  KbusUrlError,
  parseKbusUrl,
} from '../../src/protocol/url.js';

describe('kbus addresses', () => {
  test('each scheme parses to its parts, and formats back', () => {
    const cases: [string, ReturnType<typeof parseKbusUrl>, string][] = [
      [
        'unix:/run/kbus.sock',
        { scheme: 'unix', host: '', port: 0, path: '/run/kbus.sock' },
        'unix:/run/kbus.sock',
      ],
      [
        'unix:///run/kbus.sock',
        { scheme: 'unix', host: '', port: 0, path: '/run/kbus.sock' },
        'unix:/run/kbus.sock',
      ],
      [
        'tcp://127.0.0.1:7000',
        { scheme: 'tcp', host: '127.0.0.1', port: 7000, path: '' },
        'tcp://127.0.0.1:7000',
      ],
      ['tls://[::1]:0', { scheme: 'tls', host: '::1', port: 0, path: '' }, 'tls://[::1]:0'],
      [
        'ws://localhost:8081/kbus',
        { scheme: 'ws', host: 'localhost', port: 8081, path: '/kbus' },
        'ws://localhost:8081/kbus',
      ],
      [
        'WSS://example.org/kbus',
        { scheme: 'wss', host: 'example.org', port: 443, path: '/kbus' },
        'wss://example.org:443/kbus',
      ],
      [
        'ws://example.org',
        { scheme: 'ws', host: 'example.org', port: 80, path: '/' },
        'ws://example.org:80/',
      ],
    ];
    for (const [text, parsed, formatted] of cases) {
      assert.ok(isKbusUrl(text), text);
      assert.deepEqual(parseKbusUrl(text), parsed, text);
      assert.equal(formatKbusUrl(parsed), formatted, text);
    }
  });

  test('socket paths are not URLs', () => {
    for (const path of ['/run/kbus.sock', 'kbus.sock', './a:b.sock', '/tmp/x://y']) {
      assert.equal(isKbusUrl(path), false, path);
    }
  });

  test('what is not an address is KBUS_BAD_URL, saying what is expected', () => {
    const bad: [string, RegExp][] = [
      ['unix:', /names no socket path/],
      ['tcp://127.0.0.1', /names no port/],
      ['tcp://:7000', /is not a URL|names no host/],
      ['tcp://[::1]:port', /is not a URL/],
      ['tcp://127.0.0.1:7000/path', /a tcp address has no path/],
      ['http://127.0.0.1:8080', /unknown scheme 'http:'/],
      ['nats://127.0.0.1:4222', /unknown scheme 'nats:'/],
    ];
    for (const [text, message] of bad) {
      // Any scheme:// is taken for a URL, so that it is refused, not looked for as a file.
      assert.ok(isKbusUrl(text), text);
      assert.throws(
        () => parseKbusUrl(text),
        (err: unknown) =>
          err instanceof KbusUrlError &&
          err.code === 'KBUS_BAD_URL' &&
          message.test(err.message) &&
          err.message.includes('expected unix:PATH'),
        text,
      );
    }
  });

  test('loopback hosts', () => {
    for (const host of ['localhost', '127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) {
      assert.ok(isLoopbackHost(host), host);
    }
    for (const host of ['0.0.0.0', '::', '10.0.0.1', 'example.org', '128.0.0.1']) {
      assert.equal(isLoopbackHost(host), false, host);
    }
  });
});
