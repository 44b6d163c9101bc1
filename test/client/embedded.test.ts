/**
 * The client conformance suite over the in-process engine: Ksock.open on a
 * fresh Engine for each describe block (the daemon's own connection handler
 * runs on an in-memory stream pair).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { Engine } from '../../src/engine/index.js';
import { Ksock } from '../../src/index.js';
import { engineTransport } from '../../src/internal.js';
import { clientErrors } from './client-errors.js';
import { type BusFactory, conformance } from './conformance.js';

const embeddedBus: BusFactory = async () => {
  const engine = new Engine();
  return {
    open: (options) => Ksock.open(engine, options),
    stop: async () => {},
  };
};

conformance('embedded', embeddedBus);
clientErrors('embedded', embeddedBus);

describe('embedded: timeouts on their own', () => {
  // src/client/ksock.ts WaitOptions.timeout: "Gives up after this many
  // milliseconds (rejecting with a TimeoutError)". With the embedded
  // transport there is no socket holding the event loop open, so the
  // timeout must itself keep the process alive until it fires. Run in a
  // child process, where nothing else is alive.
  for (const [what, call] of [
    ['receive({timeout})', 'k.receive({ timeout: 100 })'],
    [
      'request({timeout})',
      "(await k.bind('$.Q', { replier: true }), k.request('$.Q', 'x', { timeout: 100 }))",
    ],
    ['waitReady(mask, {timeout})', 'k.waitReady(1, { timeout: 100 })'],
  ] as const) {
    test(`${what} rejects with a TimeoutError even when nothing else keeps the process alive`, () => {
      const client = new URL('../../src/index.js', import.meta.url).href;
      const engine = new URL('../../src/engine/index.js', import.meta.url).href;
      const script = `
        import { Ksock } from ${JSON.stringify(client)};
        import { Engine } from ${JSON.stringify(engine)};
        const k = await Ksock.open(new Engine());
        try { await ${call}; console.log('resolved'); }
        catch (err) { console.log('rejected ' + err.name); }
        await k.close();
      `;
      const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.equal(result.stdout.trim(), 'rejected TimeoutError', result.stderr);
      assert.equal(result.status, 0, `exit code ${result.status}: ${result.stderr}`);
    });
  }
});

describe('embedded: options checked before anything is opened', () => {
  test('Ksock.open() takes an Engine, and refuses unknown options', async () => {
    // biome-ignore lint/suspicious/noExplicitAny: what a JavaScript caller may pass
    await assert.rejects(Ksock.open({ device: 1 } as any), /takes an Engine/);
    // biome-ignore lint/suspicious/noExplicitAny: what a JavaScript caller may pass
    await assert.rejects(Ksock.open(new Engine(), { mod: 'r' } as any), /no option 'mod'/);
  });

  test('Ksock.over() refuses unknown options and destroys the transport', async () => {
    const engine = new Engine();
    const transport = engineTransport(engine);
    let closed = false;
    const destroy = transport.destroy.bind(transport);
    transport.destroy = () => {
      closed = true;
      destroy();
    };
    // biome-ignore lint/suspicious/noExplicitAny: what a JavaScript caller may pass
    await assert.rejects(Ksock.over(transport, { pid: 'me' } as any), /'pid' takes a number/);
    assert.ok(closed, 'the transport was destroyed');
  });
});
