/**
 * `kbus` commands that must survive, or report, what goes wrong around
 * them: a requester that leaves before its reply, kbusd going away, and
 * the smaller parsing rules.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { normaliseLimpetArgs } from '../../src/cli/commands/limpet.js';
import { Ksock } from '../../src/client/index.js';
import { LinkErrorCode, parseLinkAddress } from '../../src/limpet/index.js';
import { type RunningDaemon, startDaemon } from '../support/daemon.js';
import {
  assertExit,
  Background,
  DEADLINE_MS,
  kbus,
  killStragglers,
  waitForBinding,
} from './helpers.js';

describe('kbus reply and listen when things go wrong', () => {
  let daemon: RunningDaemon;
  let socket: string;

  before(async () => {
    daemon = await startDaemon();
    socket = daemon.socket;
  });

  after(async () => {
    await killStragglers();
    await daemon.stop();
  });

  test('kbus reply carries on when a requester leaves before its reply (Kbus.txt EADDRNOTAVAIL)', async () => {
    // The first request's sender closes at once, so that reply has nowhere to go.
    const replier = new Background(['reply', '$.Rob.Slow', '--count', '2', '--', 'cat'], {
      socket,
    });
    await waitForBinding(socket, replier.pid, '$.Rob.Slow', true);
    const gone = await Ksock.connect({ socket });
    await gone.send({ name: '$.Rob.Slow', data: new TextEncoder().encode('first'), flags: 1 });
    await gone.close();
    const requester = await Ksock.connect({ socket });
    const reply = await requester.request('$.Rob.Slow', 'second', { timeout: DEADLINE_MS });
    assert.equal(reply.kind, 'reply');
    assert.equal(reply.text(), 'second');
    await requester.close();
    const done = await replier.exit();
    assertExit(done, 0, 'reply');
    assert.match(done.stderr, /could not answer \{0,\d+\}: EADDRNOTAVAIL/);
  });

  test('kbus listen exits 1 (not 0 as for Ctrl-C) when kbusd goes away', async () => {
    const own = await startDaemon();
    const listener = new Background(['listen', '$.Rob.*'], { socket: own.socket });
    await waitForBinding(own.socket, listener.pid, '$.Rob.*');
    await own.stop();
    const done = await listener.exit();
    assertExit(done, 1, 'listen');
    assert.match(done.stderr, /connection to kbusd closed/);
  });

  test('kbus request --final-to sets final_to on the request (for Limpets)', async () => {
    const replier = await Ksock.connect({ socket });
    await replier.bind('$.Rob.Final', { replier: true });
    const answered = (async () => {
      const request = await replier.receive({ timeout: DEADLINE_MS });
      assert.deepEqual(request.finalTo, { networkId: 2, localId: 4 });
      await replier.replyTo(request, 'ok');
    })();
    const result = await kbus(['request', '--final-to', '2:4', '$.Rob.Final'], { socket });
    assertExit(result, 0, 'request');
    await answered;
    await replier.close();
    assertExit(await kbus(['request', '--final-to', '2', '$.Rob.Final'], { socket }), 64);
  });
});

describe('command-line parsing details', () => {
  test("the original's single-dash switches are rewritten only for the limpet subcommand", () => {
    assert.deepEqual(normaliseLimpetArgs(['limpet', '-server', '-id', '2', 'x:1']), [
      'limpet',
      '--server',
      '--id',
      '2',
      'x:1',
    ]);
    assert.deepEqual(normaliseLimpetArgs(['-S', '/tmp/s', 'limpet', '-client']), [
      '-S',
      '/tmp/s',
      'limpet',
      '--client',
    ]);
    assert.deepEqual(normaliseLimpetArgs(['limpet', '-verbose', '0', '-message', '$.A.*']), [
      'limpet',
      '--verbosity',
      '0',
      '--message',
      '$.A.*',
    ]);
    // 'limpet' as data of another subcommand is left alone.
    assert.deepEqual(normaliseLimpetArgs(['send', '$.X', 'limpet', '-id']), [
      'send',
      '$.X',
      'limpet',
      '-id',
    ]);
  });

  test('link addresses: host:port, [IPv6]:port, and Unix paths', () => {
    assert.deepEqual(parseLinkAddress('127.0.0.1:5000'), {
      kind: 'tcp',
      host: '127.0.0.1',
      port: 5000,
    });
    assert.deepEqual(parseLinkAddress('[::1]:5000'), { kind: 'tcp', host: '::1', port: 5000 });
    assert.deepEqual(parseLinkAddress(':5000'), { kind: 'tcp', host: '', port: 5000 });
    assert.deepEqual(parseLinkAddress('/tmp/link.sock'), { kind: 'unix', path: '/tmp/link.sock' });
    for (const bad of ['host:0', 'host:65536']) {
      assert.throws(() => parseLinkAddress(bad), { code: LinkErrorCode.ADDRESS }, bad);
    }
  });

  test('kbus errno gives the usual meaning of numbers outside the KBUS table too', async () => {
    const result = await kbus(['errno', '110']);
    assertExit(result, 0, 'errno');
    assert.match(result.stdout, /^Error 110 \(0x6e\) is ETIMEDOUT: \S.+/);
  });
});
