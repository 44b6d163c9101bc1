/**
 * Proxy repliers and start-up with real processes (limpet.md sections 3,
 * 5.4, 6, 9.12 and 10.3 - 10.5): existing repliers and MAXMSGS, a proxy
 * BIND refused with EADDRINUSE and retried, BIND / UNBIND retried after
 * EAGAIN, relayed replies whose requester has gone, the daemon going away,
 * and the device switch.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { Ksock, Reply } from '../../src/client/index.js';
import { encodeGreeting } from '../../src/limpet/index.js';
import type { RunningDaemon } from '../support/daemon.js';
import {
  Cleanup,
  daemon,
  ksock,
  LISTENING,
  linkAddress,
  linked,
  next,
  RawPeer,
  spawnLimpet,
  startPair,
  waitFor,
  waitReplier,
  within,
} from './helpers.js';

/** The process state letter from /proc (T when stopped). */
function processState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

let cleanup: Cleanup;
beforeEach(() => {
  cleanup = new Cleanup();
});
afterEach(async () => {
  await cleanup.run();
});

async function twoBuses(options: { aArgs?: string[]; clientArgs?: string[] } = {}) {
  const a = await daemon(cleanup, options.aArgs);
  const b = await daemon(cleanup);
  const pair = await startPair(
    b,
    a,
    { kind: 'unix', serverId: 2, clientId: 1, clientArgs: options.clientArgs },
    cleanup,
  );
  const { nearLimpet: la, farLimpet: lb } = await linked(a, b, cleanup);
  return { a, b, pair, la, lb };
}

/** Binds a replier for `name` on `d` with a fresh Ksock. */
async function replier(d: RunningDaemon, name: string): Promise<Ksock> {
  const k = await ksock(d, cleanup);
  await k.bind(name, { replier: true });
  return k;
}

describe('start-up (sections 3 and 10.3)', () => {
  test('150 repliers bound before the link are all proxied (MAXMSGS raised first)', async () => {
    const a = await daemon(cleanup);
    const b = await daemon(cleanup); // each Ksock's queue limit at open: 100
    const holder = await ksock(b, cleanup);
    const names = Array.from({ length: 150 }, (_, i) => `$.Many.N${i}`);
    for (const name of names) await holder.bind(name, { replier: true });
    const pair = await startPair(b, a, { kind: 'tcp', serverId: 2, clientId: 1 }, cleanup);
    const onA = await ksock(a, cleanup);
    const la = await waitReplier(onA, names[149]!);
    for (const name of names) assert.equal(await waitReplier(onA, name), la, name);
    assert.ok(pair.server.running);
  });

  test('--max-messages too small for the existing repliers: the Limpet exits (9.12)', async () => {
    const a = await daemon(cleanup);
    const b = await daemon(cleanup);
    const holder = await ksock(b, cleanup);
    for (let i = 0; i < 30; i++) await holder.bind(`$.Few.N${i}`, { replier: true });
    const pair = await startPair(
      b,
      a,
      { kind: 'unix', serverId: 2, clientId: 1, serverArgs: ['--max-messages', '10'] },
      cleanup,
    );
    const exit = await pair.server.exit();
    assert.notEqual(exit.code, 0, pair.server.stderr());
    assert.notEqual((await pair.client.exit()).code, 0);
  });

  test('-kbus N / -k N: the Limpets use that device only', async () => {
    const a = await daemon(cleanup, ['--devices', '2']);
    const b = await daemon(cleanup, ['--devices', '2']);
    const address = await linkAddress('tcp', cleanup);
    const server = spawnLimpet(
      ['-server', '-id', '2', '-kbus', '1', address.server],
      { socket: b.socket },
      cleanup,
    );
    await server.waitForStderr(LISTENING);
    spawnLimpet(['-c', '-id', '1', '-k', '1', address.client], { socket: a.socket }, cleanup);
    const r = await Ksock.connect({ socket: b.socket, device: 1 });
    cleanup.add(() => r.close());
    await r.bind('$.Dev.Svc', { replier: true });
    const s1 = await Ksock.connect({ socket: a.socket, device: 1 });
    cleanup.add(() => s1.close());
    await waitReplier(s1, '$.Dev.Svc');
    const s0 = await ksock(a, cleanup);
    assert.equal(await s0.replier('$.Dev.Svc'), 0, 'nothing on device 0');
    const pending = s1.request('$.Dev.Svc', 'd');
    await r.replyTo(await next(r, 'the request on device 1'), 'one');
    assert.ok((await within(pending, 'the reply')) instanceof Reply);
  });
});

describe('proxy repliers (5.4, 10.4)', () => {
  test('a proxy BIND refused with EADDRINUSE is retried when the local replier unbinds', async () => {
    const { a, b, pair, la } = await twoBuses();
    const onA = await ksock(a, cleanup);
    // Both sides bind the same name while LA is held still: two repliers in the tree.
    const lap = pair.client.child;
    lap.kill('SIGSTOP');
    let local: Ksock;
    let far: Ksock;
    try {
      await waitFor(() => processState(lap.pid!) === 'T', 'LA to stop');
      local = await replier(a, '$.Both.Svc');
      far = await replier(b, '$.Both.Svc');
      // LA handles link events in order: this one is proxied after $.Both.Svc was tried.
      await replier(b, '$.Both.Marker');
    } finally {
      lap.kill('SIGCONT');
    }
    await waitReplier(onA, '$.Both.Marker');
    assert.equal(await onA.replier('$.Both.Svc'), local.id, 'the local replier keeps the name');
    assert.ok(pair.client.running, 'a refused proxy bind does not stop the Limpet');
    await local.unbind('$.Both.Svc', { replier: true });
    assert.equal(await waitReplier(onA, '$.Both.Svc'), la);
    const pending = onA.request('$.Both.Svc', 'now');
    const request = await next(far, 'the request at the far replier');
    await far.replyTo(request, 'far');
    const reply = await within(pending, 'the reply');
    assert.ok(reply instanceof Reply);
    assert.equal(Buffer.from(reply.data).toString(), 'far');
  });

  test('a refused proxy whose far replier went away is not bound later', async () => {
    const { a, b, pair } = await twoBuses();
    const onA = await ksock(a, cleanup);
    const onB = await ksock(b, cleanup);
    const lap = pair.client.child;
    lap.kill('SIGSTOP');
    let local: Ksock;
    let far: Ksock;
    try {
      await waitFor(() => processState(lap.pid!) === 'T', 'LA to stop');
      local = await replier(a, '$.Gone.Svc');
      far = await replier(b, '$.Gone.Svc');
      await replier(b, '$.Gone.Marker1');
    } finally {
      lap.kill('SIGCONT');
    }
    // LA tried $.Gone.Svc (EADDRINUSE) before proxying the marker.
    await waitReplier(onA, '$.Gone.Marker1');
    await far.unbind('$.Gone.Svc', { replier: true });
    await replier(b, '$.Gone.Marker2');
    await waitReplier(onA, '$.Gone.Marker2');
    // LA now knows the far side has no replier for $.Gone.Svc.
    assert.equal(await onA.replier('$.Gone.Svc'), local.id);
    await local.unbind('$.Gone.Svc', { replier: true });
    // LA reads that unbind before this bind event, and forwards the latter to B.
    await replier(a, '$.Gone.Marker3');
    await waitReplier(onB, '$.Gone.Marker3');
    assert.equal(await onA.replier('$.Gone.Svc'), 0);
  });

  test('proxy BIND and UNBIND that fail with EAGAIN are retried (10.4)', async () => {
    const { a, b, la } = await twoBuses({ aArgs: ['--verbose'] });
    const onA = await ksock(a, cleanup);
    // A bind event listener with room for one message, which it does not read.
    const full = await ksock(a, cleanup);
    await full.maxMessages(1);
    await full.bind('$.KBUS.ReplierBindEvent');
    await replier(a, '$.Again.Filler');
    await waitFor(async () => (await full.numMessages()) === 1, 'the listener to be full');

    const far = await replier(b, '$.Again.Svc');
    const eagain = (op: string) => new RegExp(`ksock ${la}: ${op} .*EAGAIN`);
    await waitFor(() => eagain('BIND').test(a.stderr()), "LA's BIND to get EAGAIN");
    assert.equal(await onA.replier('$.Again.Svc'), 0);
    // Room again: the retry succeeds.
    const filler = await next(full, 'the filler event');
    assert.equal(filler.name, '$.KBUS.ReplierBindEvent');
    assert.equal(await waitReplier(onA, '$.Again.Svc'), la);
    await waitFor(async () => (await full.numMessages()) === 1, 'the listener to be full again');

    await far.unbind('$.Again.Svc', { replier: true });
    await waitFor(() => eagain('UNBIND').test(a.stderr()), "LA's UNBIND to get EAGAIN");
    assert.equal(await onA.replier('$.Again.Svc'), la);
    await next(full, 'the proxy bind event');
    await waitReplier(onA, '$.Again.Svc', (r) => r === 0, 'the proxy to go');
  });

  test('a relayed reply whose requester has gone is dropped; the Limpet carries on (10.5)', async () => {
    const { a, b, pair } = await twoBuses();
    const far = await replier(b, '$.Late.Svc');
    const S = await ksock(a, cleanup);
    await waitReplier(S, '$.Late.Svc');
    void S.request('$.Late.Svc', 'bye').catch(() => {});
    const request = await next(far, 'the request');
    await S.close();
    await far.replyTo(request, 'too late');
    // Still working both ways.
    const S2 = await ksock(a, cleanup);
    const pending = S2.request('$.Late.Svc', 'hello');
    const request2 = await next(far, 'the next request');
    assert.equal(Buffer.from(request2.data).toString(), 'hello');
    await far.replyTo(request2, 'in time');
    assert.ok((await within(pending, 'the reply')) instanceof Reply);
    assert.ok(pair.client.running && pair.server.running);
  });
});

describe('the daemon going away (section 6)', () => {
  test('a Limpet whose daemon dies exits non-zero; so does its peer', async () => {
    const { b, pair } = await twoBuses();
    b.process.kill('SIGKILL');
    const server = await pair.server.exit();
    assert.notEqual(server.code, 0);
    assert.equal(server.signal, null);
    const client = await pair.client.exit();
    assert.notEqual(client.code, 0);
  });

  test('a Limpet that cannot open its Ksock exits non-zero after the greeting', async () => {
    const a = await daemon(cleanup);
    const b = await daemon(cleanup);
    const address = await linkAddress('unix', cleanup);
    const server = spawnLimpet(
      ['--server', address.server],
      { socket: `${b.socket}.missing` },
      cleanup,
    );
    await server.waitForStderr(LISTENING);
    spawnLimpet(['--client', address.client], { socket: a.socket }, cleanup);
    const exit = await server.exit();
    assert.notEqual(exit.code, 0);
    assert.equal(exit.signal, null);
  });

  test('the link ending while a Limpet sets up its Ksock still stops it (non-zero)', async () => {
    const d = await daemon(cleanup);
    const address = await linkAddress('unix', cleanup);
    const server = spawnLimpet(
      ['--server', '--id', '2', address.server],
      { socket: d.socket },
      cleanup,
    );
    await server.waitForStderr(LISTENING);
    const peer = await RawPeer.connect(address, cleanup);
    // Greet, and hang up at once: the Limpet is then opening its Ksock.
    await peer.write(encodeGreeting(1));
    peer.socket.end();
    await server.waitForStderr(/link up with 1/);
    const exit = await server.exit();
    assert.notEqual(exit.code, 0);
    assert.equal(exit.signal, null);
  });
});
