/**
 * Link failures and stopping (limpet.md sections 2, 4, 6 and 10.1), with
 * real processes: the link dropping while requests are outstanding (every
 * requester gets exactly one answer), bad input on the link, the
 * termination message, --retry, refused addresses and ids; and the order
 * in which what comes off the link reaches the bus (section 5).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { type KbusMessage, Ksock, Reply, Status } from '../../src/client/index.js';
import { encodeGreeting, encodeLinkMessage } from '../../src/limpet/index.js';
import { Flags, isKbusError, makeMessage } from '../../src/wire/index.js';
import type { RunningDaemon } from '../support/daemon.js';
import { tempDir } from '../support/daemon.js';
import {
  Cleanup,
  daemon,
  exists,
  freePort,
  fromHex,
  ksock,
  LISTENING,
  linkAddress,
  linked,
  next,
  RawPeer,
  spawnLimpet,
  startPair,
  toHex,
  waitFor,
  waitReplier,
  within,
} from './helpers.js';

const SYNTHETIC = 0x4;
const text = (m: KbusMessage) => Buffer.from(m.data).toString();

/** The id the daemon gives the next Ksock: unchanged iff nobody else opened one meanwhile. */
async function nextKsockId(d: RunningDaemon): Promise<number> {
  const k = await Ksock.connect({ socket: d.socket });
  const id = k.id;
  await k.close();
  return id;
}

/** Shows that the daemon still serves clients: an announcement goes round. */
async function stillServing(d: RunningDaemon): Promise<void> {
  const listener = await Ksock.connect({ socket: d.socket });
  const sender = await Ksock.connect({ socket: d.socket });
  try {
    await listener.bind('$.Still.Alive');
    await sender.announce('$.Still.Alive', 'yes');
    const m = await next(listener, 'an announcement on the daemon');
    assert.equal(text(m), 'yes');
  } finally {
    await listener.close();
    await sender.close();
  }
}

let cleanup: Cleanup;
beforeEach(() => {
  cleanup = new Cleanup();
});
afterEach(async () => {
  await cleanup.run();
});

describe('the link dropping (section 6)', () => {
  test('SIGKILL of one Limpet: every outstanding request gets exactly one answer', async () => {
    const a = await daemon(cleanup);
    const b = await daemon(cleanup);
    const pair = await startPair(b, a, { kind: 'unix', serverId: 2, clientId: 1 }, cleanup);
    const { nearLimpet: la, farLimpet: lb } = await linked(a, b, cleanup);

    // Repliers that read but do not answer, one on each side.
    const RB = await ksock(b, cleanup);
    const RA = await ksock(a, cleanup);
    await RB.bind('$.Drop.OnB', { replier: true });
    await RA.bind('$.Drop.OnA', { replier: true });
    const onA = await ksock(a, cleanup);
    const onB = await ksock(b, cleanup);
    await waitReplier(onA, '$.Drop.OnB');
    await waitReplier(onB, '$.Drop.OnA');

    // Requesters on A (through LA and LB to RB) and on B (through LB and LA to RA).
    const requestersA = await Promise.all([1, 2, 3, 4].map(() => ksock(a, cleanup)));
    const requestersB = await Promise.all([1, 2, 3].map(() => ksock(b, cleanup)));
    for (const k of [...requestersA, ...requestersB]) await k.bind('$.Drop.Marker');

    // One is answered before the drop.
    const answered = requestersA[0]!.request('$.Drop.OnB', 'answered');
    await RB.replyTo(await next(RB, 'the first request'), 'done');
    const first = await within(answered, 'the first reply');
    assert.ok(first instanceof Reply);

    const pendingA = requestersA.slice(1).map((k, i) => k.request('$.Drop.OnB', `a${i}`));
    const pendingB = requestersB.map((k, i) => k.request('$.Drop.OnA', `b${i}`));
    const readB = [];
    for (let i = 0; i < pendingA.length; i++) readB.push(await next(RB, `request a${i} at RB`));
    const readA = [];
    for (let i = 0; i < pendingB.length; i++) readA.push(await next(RA, `request b${i} at RA`));

    pair.server.child.kill('SIGKILL');
    assert.equal((await pair.server.exit()).signal, 'SIGKILL');
    const la_exit = await pair.client.exit();
    assert.notEqual(la_exit.code, 0, 'LA stops non-zero when its link ends');
    assert.equal(la_exit.signal, null);

    const answersA = await within(Promise.all(pendingA), 'answers on A');
    const answersB = await within(Promise.all(pendingB), 'answers on B');
    // On A: LA read the requests as proxy and closed: A's daemon says Ignored.
    for (const [i, m] of answersA.entries()) {
      assert.ok(m instanceof Status, `a${i}: got a ${m.kind}`);
      assert.match(m.name, /^\$\.KBUS\.Replier\.(Ignored|GoneAway)$/, `a${i}`);
      assert.equal(m.from, la);
      assert.equal(m.to, requestersA[i + 1]!.id);
      assert.ok(m.flags & SYNTHETIC);
    }
    // On B: LB's Ksock closed when it died: B's daemon says Ignored or GoneAway.
    for (const [i, m] of answersB.entries()) {
      assert.ok(m instanceof Status, `b${i}: got a ${m.kind}`);
      assert.match(m.name, /^\$\.KBUS\.Replier\.(Ignored|GoneAway)$/, `b${i}`);
      assert.equal(m.from, lb);
      assert.equal(m.to, requestersB[i]!.id);
    }

    // The proxies are gone on both buses.
    await waitReplier(onA, '$.Drop.OnB', (r) => r === 0, 'the proxy on A to go');
    await waitReplier(onB, '$.Drop.OnA', (r) => r === 0, 'the proxy on B to go');

    // Replies to requests injected for the vanished peer fail at SEND.
    for (const request of readB) {
      await assert.rejects(RB.replyTo(request, 'late'), (err) => isKbusError(err, 'EADDRNOTAVAIL'));
    }
    for (const request of readA) {
      await assert.rejects(RA.replyTo(request, 'late'), (err) => isKbusError(err, 'EADDRNOTAVAIL'));
    }

    // No second answer: each requester's next message is the marker.
    const markerA = await ksock(a, cleanup);
    const markerB = await ksock(b, cleanup);
    await markerA.announce('$.Drop.Marker', '');
    await markerB.announce('$.Drop.Marker', '');
    for (const [i, k] of [...requestersA, ...requestersB].entries()) {
      const m = await next(k, `the marker at requester ${i}`);
      assert.equal(m.name, '$.Drop.Marker', `requester ${i} got ${m.name} before the marker`);
    }
    await stillServing(a);
    await stillServing(b);
  });

  test('the peer closing the link stops a Limpet (non-zero) and removes its proxies', async () => {
    const a = await daemon(cleanup);
    const b = await daemon(cleanup);
    const pair = await startPair(b, a, { kind: 'tcp', serverId: 2, clientId: 1 }, cleanup);
    await linked(a, b, cleanup);
    const R = await ksock(a, cleanup);
    await R.bind('$.Close.Svc', { replier: true });
    const onB = await ksock(b, cleanup);
    await waitReplier(onB, '$.Close.Svc');
    pair.client.child.kill('SIGKILL');
    const server = await pair.server.exit();
    assert.notEqual(server.code, 0);
    assert.equal(server.signal, null);
    await waitReplier(onB, '$.Close.Svc', (r) => r === 0, 'the proxy on B to go');
    await stillServing(b);
  });
});

/** A server Limpet (id 2) on a fresh daemon, and a raw peer connected to it. */
async function serverAndPeer(kind: 'tcp' | 'unix', extra: string[] = []) {
  const d = await daemon(cleanup);
  const before = await nextKsockId(d);
  const address = await linkAddress(kind, cleanup);
  const limpet = spawnLimpet(
    ['--server', '--id', '2', ...extra, address.server],
    { socket: d.socket },
    cleanup,
  );
  await limpet.waitForStderr(LISTENING);
  const peer = await RawPeer.connect(address, cleanup);
  // The Limpet greets first thing: HELO and 2.
  await peer.until(() => peer.bytes().length >= 8, "the Limpet's greeting");
  assert.equal(toHex(peer.bytes().subarray(0, 8)), '48454c4f00000002');
  return { d, before, address, limpet, peer };
}

/** Greets as network id 1 and waits until the Limpet's Ksock is up (a proxy bind). */
async function greetAndWait(s: Awaited<ReturnType<typeof serverAndPeer>>): Promise<number> {
  await s.peer.write(encodeGreeting(1));
  await s.peer.write(bindEventFrame('$.Raw.Ready'));
  const k = await ksock(s.d, cleanup);
  return waitReplier(k, '$.Raw.Ready');
}

async function assertStopped(
  s: Awaited<ReturnType<typeof serverAndPeer>>,
  touchedBus: boolean,
): Promise<void> {
  const exit = await s.limpet.exit();
  assert.equal(exit.signal, null);
  assert.notEqual(exit.code, 0, `exit code ${exit.code}: ${s.limpet.stderr()}`);
  await s.peer.waitClosed();
  if (s.address.path) assert.equal(exists(s.address.path), false, 'the socket path is removed');
  if (!touchedBus) {
    // Nobody opened a Ksock on the daemon in between: the bus was not touched.
    assert.equal(await nextKsockId(s.d), s.before + 1);
  }
  await stillServing(s.d);
}

function bindEventFrame(name: string, flags = SYNTHETIC, isBind = true): Uint8Array {
  const data = new Uint8Array(12 + 4 * Math.floor((name.length + 4) / 4));
  const view = new DataView(data.buffer);
  view.setUint32(0, isBind ? 1 : 0, true);
  view.setUint32(4, 1234, true);
  view.setUint32(8, name.length, true);
  data.set(Buffer.from(name, 'latin1'), 12);
  return encodeLinkMessage(
    makeMessage({
      name: '$.KBUS.ReplierBindEvent',
      id: { networkId: 1, serialNum: 1 },
      origFrom: { networkId: 1, localId: 0 },
      flags,
      data,
    }),
  );
}

/** The 64 header bytes of a well-formed announcement, with word `index` set to `value`. */
function badHeader(index: number, value: number): Uint8Array {
  const m = makeMessage({
    name: '$.Raw.Bad',
    id: { networkId: 1, serialNum: 5 },
    data: fromHex('0102'),
  });
  const header = encodeLinkMessage(m).slice(0, 64);
  new DataView(header.buffer).setUint32(index * 4, value >>> 0, false);
  return header;
}

describe('bad input on the link: the Limpet stops cleanly, the daemon carries on', () => {
  test('a bad greeting (HELP): exit non-zero, the bus untouched', async () => {
    const s = await serverAndPeer('tcp');
    await s.peer.write(fromHex('48454c5000000001'));
    await assertStopped(s, false);
  });

  test('peer network id 0: exit non-zero, the bus untouched', async () => {
    const s = await serverAndPeer('unix');
    await s.peer.write(fromHex('48454c4f00000000'));
    await assertStopped(s, false);
  });

  test("the Limpet's own network id: exit non-zero, the bus untouched", async () => {
    const s = await serverAndPeer('tcp');
    await s.peer.write(fromHex('48454c4f00000002'));
    await assertStopped(s, false);
  });

  test('the link ending inside the greeting: exit non-zero, the bus untouched', async () => {
    const s = await serverAndPeer('unix');
    await s.peer.write(fromHex('48454c4f'));
    s.peer.socket.end();
    await assertStopped(s, false);
  });

  test('no greeting within --greeting-timeout: exit non-zero, the bus untouched', async () => {
    const s = await serverAndPeer('tcp', ['--greeting-timeout', '1']);
    await assertStopped(s, false);
  });

  test('bad guards: exit non-zero; what came before was delivered', async () => {
    const s = await serverAndPeer('unix');
    const listener = await ksock(s.d, cleanup);
    await listener.bind('$.Raw.*');
    await greetAndWait(s);
    await s.peer.write(
      encodeLinkMessage(
        makeMessage({
          name: '$.Raw.Good',
          id: { networkId: 1, serialNum: 4 },
          data: fromHex('01'),
        }),
      ),
    );
    assert.equal((await next(listener, 'the good announcement')).name, '$.Raw.Good');
    await s.peer.write(badHeader(0, 0x4b627573));
    await assertStopped(s, true);
    // Nothing after the bad frame reached the bus.
    assert.equal(await listener.next(), undefined);
  });

  test('a bad end guard in the header: exit non-zero', async () => {
    const s = await serverAndPeer('tcp');
    await greetAndWait(s);
    await s.peer.write(badHeader(15, 0));
    await assertStopped(s, true);
  });

  test('an absurd data length: exit as soon as the 64 header bytes are in (10.1)', async () => {
    const s = await serverAndPeer('tcp');
    await greetAndWait(s);
    // Only the header: the Limpet must not wait for 4 GB that never come.
    await s.peer.write(badHeader(14, 0xfffffff0));
    await assertStopped(s, true);
  });

  test('name_len 1001: exit at once (10.1)', async () => {
    const s = await serverAndPeer('unix');
    await greetAndWait(s);
    await s.peer.write(badHeader(13, 1001));
    await assertStopped(s, true);
  });

  test('name_len 0: exit at once (10.1)', async () => {
    const s = await serverAndPeer('tcp');
    await greetAndWait(s);
    await s.peer.write(badHeader(13, 0));
    await assertStopped(s, true);
  });

  test('data over --max-message-size: exit at once; data at the limit is fine', async () => {
    const s = await serverAndPeer('unix', ['--max-message-size', '64']);
    const listener = await ksock(s.d, cleanup);
    await listener.bind('$.Raw.*');
    await greetAndWait(s);
    await s.peer.write(
      encodeLinkMessage(
        makeMessage({
          name: '$.Raw.Max',
          id: { networkId: 1, serialNum: 6 },
          data: new Uint8Array(64).fill(1),
        }),
      ),
    );
    const m = await next(listener, 'the message at the limit');
    assert.equal(m.data.length, 64);
    await s.peer.write(badHeader(14, 65));
    await assertStopped(s, true);
  });

  test('data over the default limit (1 MiB): exit at once (10.1)', async () => {
    const s = await serverAndPeer('tcp');
    await greetAndWait(s);
    await s.peer.write(badHeader(14, 1024 * 1024 + 1));
    await assertStopped(s, true);
  });

  test('malformed ReplierBindEvent data (SYNTHETIC): exit non-zero (10.1)', async () => {
    const s = await serverAndPeer('tcp');
    await greetAndWait(s);
    const frame = bindEventFrame('$.Raw.Broken');
    // name_len word (big-endian on the link) claims 40 bytes.
    new DataView(frame.buffer, frame.byteOffset).setUint32(64 + 24 + 8, 40, false);
    await s.peer.write(frame);
    await assertStopped(s, true);
  });

  test('a bind event without SYNTHETIC is ignored, however malformed (10.2)', async () => {
    const s = await serverAndPeer('unix');
    const k = await ksock(s.d, cleanup);
    await greetAndWait(s);
    const frame = bindEventFrame('$.Raw.Fake', 0);
    new DataView(frame.buffer, frame.byteOffset).setUint32(64 + 24 + 8, 40, false);
    await s.peer.write(frame);
    await s.peer.write(bindEventFrame('$.Raw.Fake', 0));
    await s.peer.write(bindEventFrame('$.Raw.Real'));
    await waitReplier(k, '$.Raw.Real');
    assert.equal(await k.replier('$.Raw.Fake'), 0);
    assert.ok(s.limpet.running);
    s.limpet.child.kill('SIGTERM');
    await s.limpet.exit();
  });
});

describe('from the link to the bus (section 5)', () => {
  test('messages reach the bus in arrival order, a request waiting for its replier among them', async () => {
    const s = await serverAndPeer('unix');
    const listener = await ksock(s.d, cleanup);
    await listener.bind('$.Order.*');
    const replier = await ksock(s.d, cleanup);
    await replier.bind('$.Order.Ask', { replier: true });
    await greetAndWait(s);
    const announcement = (name: string, serialNum: number) =>
      encodeLinkMessage(
        makeMessage({
          name,
          id: { networkId: 1, serialNum },
          origFrom: { networkId: 1, localId: 9 },
        }),
      );
    // One write: the request's replier lookup is still under way when the
    // announcements after it are read.
    await s.peer.write(
      Buffer.concat([
        announcement('$.Order.First', 10),
        encodeLinkMessage(
          makeMessage({
            name: '$.Order.Ask',
            id: { networkId: 1, serialNum: 11 },
            origFrom: { networkId: 1, localId: 9 },
            // As the far Limpet forwards it: the copy it got as proxy replier.
            flags: Flags.WANT_A_REPLY | Flags.WANT_YOU_TO_REPLY,
          }),
        ),
        ...Array.from({ length: 20 }, (_, i) => announcement(`$.Order.After${i}`, 12 + i)),
      ]),
    );
    const names: string[] = [];
    for (let i = 0; i < 22; i++) names.push((await next(listener, `message ${i}`)).name);
    assert.deepEqual(names, [
      '$.Order.First',
      '$.Order.Ask',
      ...Array.from({ length: 20 }, (_, i) => `$.Order.After${i}`),
    ]);
    const request = await next(replier, 'the request');
    assert.equal(request.name, '$.Order.Ask');
    assert.ok(request.wantsYouToReply);
  });
});

describe('stopping and starting', () => {
  test('-t NAME: the termination message stops the Limpet with exit 0, not forwarded', async () => {
    const a = await daemon(cleanup);
    const b = await daemon(cleanup);
    const pair = await startPair(
      b,
      a,
      { kind: 'unix', serverId: 2, clientId: 1, clientArgs: ['-t', '$.Limpet.Stop'] },
      cleanup,
    );
    const { farLimpet: lb } = await linked(a, b, cleanup);
    const farListener = await ksock(b, cleanup);
    await farListener.bind('$.Limpet.*');
    const onB = await ksock(b, cleanup);
    const sender = await ksock(a, cleanup);
    await sender.announce('$.Limpet.Before', '');
    assert.equal((await next(farListener, 'the announcement before')).name, '$.Limpet.Before');
    await sender.announce('$.Limpet.Stop', '');
    assert.deepEqual(await pair.client.exit(), { code: 0, signal: null }, pair.client.stderr());
    const server = await pair.server.exit();
    assert.notEqual(server.code, 0, 'the server lost its link');
    // LB has gone from B (its probe proxy is unbound) and never delivered the stop.
    await waitFor(
      async () =>
        !(await onB.bindings()).split('\n').some((l) => l.trim().split(/\s+/)[1] === String(lb)),
      "LB's bindings to go",
    );
    assert.equal(await farListener.next(), undefined);
    await stillServing(a);
  });

  test('--retry: a client started before its server connects once the server is up', async () => {
    const a = await daemon(cleanup);
    const b = await daemon(cleanup);
    const port = await freePort();
    const client = spawnLimpet(
      ['-client', '-id', '1', '--retry', '60', '-v', '2', `127.0.0.1:${port}`],
      { socket: a.socket },
      cleanup,
    );
    await client.waitForStderr(/retrying/);
    assert.ok(client.running);
    const server = spawnLimpet(
      ['-server', '-id', '2', `127.0.0.1:${port}`],
      { socket: b.socket },
      cleanup,
    );
    await linked(a, b, cleanup);
    const sender = await ksock(a, cleanup);
    const listener = await ksock(b, cleanup);
    await listener.bind('$.Retry.*');
    await sender.announce('$.Retry.Works', 'r');
    assert.equal(text(await next(listener, 'the announcement')), 'r');
    assert.ok(server.running);
  });

  test('without --retry a client with no server exits non-zero without touching the bus', async () => {
    const a = await daemon(cleanup);
    const before = await nextKsockId(a);
    const port = await freePort();
    const client = spawnLimpet(
      ['--client', '--id', '1', `127.0.0.1:${port}`],
      { socket: a.socket },
      cleanup,
    );
    const exit = await client.exit();
    assert.notEqual(exit.code, 0);
    assert.equal(exit.signal, null);
    assert.equal(await nextKsockId(a), before + 1);
  });

  test('a server refuses a Unix path that already exists, and leaves it', async () => {
    const a = await daemon(cleanup);
    const dir = tempDir('kbus-link-');
    cleanup.add(() => dir.remove());
    const path = join(dir.path, 'taken');
    writeFileSync(path, 'mine');
    const server = spawnLimpet(['--server', path], { socket: a.socket }, cleanup);
    const exit = await server.exit();
    assert.notEqual(exit.code, 0);
    assert.ok(exists(path));
  });

  test('a Unix-socket server replaces a socket file nobody serves (as kbusd does)', async () => {
    const a = await daemon(cleanup);
    const b = await daemon(cleanup);
    const dir = tempDir('kbus-link-');
    cleanup.add(() => dir.remove());
    const path = join(dir.path, 'stale.sock');
    // A process that listens on the path and dies without removing it.
    const owner = spawn(
      process.execPath,
      [
        '-e',
        `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`,
      ],
      { stdio: 'ignore' },
    );
    await within(new Promise((resolve) => owner.once('exit', resolve)), 'the socket owner to die');
    assert.ok(exists(path), 'the stale socket file is left behind');
    // The original's -verbose spelling, too.
    const server = spawnLimpet(['-server', '-verbose', '2', path], { socket: b.socket }, cleanup);
    await server.waitForStderr(LISTENING);
    spawnLimpet(['-client', path], { socket: a.socket }, cleanup);
    await linked(a, b, cleanup);
  });

  test('a Unix-socket server refuses a socket something serves, without connecting to it', async () => {
    const b = await daemon(cleanup);
    const dir = tempDir('kbus-link-');
    cleanup.add(() => dir.remove());
    const path = join(dir.path, 'live.sock');
    let connections = 0;
    const live = createServer(() => connections++);
    await new Promise<void>((resolve) => live.listen(path, resolve));
    cleanup.add(() => new Promise<void>((resolve) => live.close(() => resolve())));
    const server = spawnLimpet(['--server', path], { socket: b.socket }, cleanup);
    const exit = await server.exit();
    assert.equal(exit.code, 1);
    assert.match(server.stderr(), /already listening on .*live\.sock/);
    assert.ok(exists(path));
    // Linux lists listening sockets: a waiting Limpet server's one accept is not used up.
    if (process.platform === 'linux') assert.equal(connections, 0);
  });

  test('a TCP server listens only on the host it is given: 127.0.0.1 is not reachable on ::1', async () => {
    const a = await daemon(cleanup);
    const b = await daemon(cleanup);
    const port = await freePort();
    const server = spawnLimpet(
      ['-s', '-id', '2', `127.0.0.1:${port}`],
      { socket: b.socket },
      cleanup,
    );
    await server.waitForStderr(LISTENING);
    assert.match(server.stderr(), /listening on 127\.0\.0\.1:\d+$/m);
    // Listening on every interface would have accepted this (IPv6 loopback).
    const refused = await new Promise<string | undefined>((resolve) => {
      const probe = connect(port, '::1');
      probe.once('connect', () => {
        probe.destroy();
        resolve(undefined);
      });
      probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
    });
    assert.equal(refused, 'ECONNREFUSED');
    spawnLimpet(['-c', '-id', '1', `127.0.0.1:${port}`], { socket: a.socket }, cleanup);
    await linked(a, b, cleanup);
  });

  test('a TCP server without TLS warns (one line) only when it listens beyond loopback', async () => {
    const b = await daemon(cleanup);
    const quiet = spawnLimpet(
      ['-s', `127.0.0.1:${await freePort()}`],
      { socket: b.socket },
      cleanup,
    );
    const loud = spawnLimpet(
      ['-s', '-v', '0', `:${await freePort()}`],
      { socket: b.socket },
      cleanup,
    );
    await loud.waitForStderr(/warning/);
    // The warning comes before listening: once listening, the loopback server has none.
    await quiet.waitForStderr(LISTENING);
    assert.doesNotMatch(quiet.stderr(), /warning/);
    assert.equal(
      loud
        .stderr()
        .split('\n')
        .filter((l) => l.includes('warning')).length,
      1,
    );
    assert.match(
      loud.stderr(),
      /^limpet 2: warning: listening on every interface, beyond this machine, without TLS/m,
    );
    // 192.0.2.1 (TEST-NET-1) is no address of this machine: the server cannot listen there.
    const elsewhere = spawnLimpet(
      ['-s', `192.0.2.1:${await freePort()}`],
      { socket: b.socket },
      cleanup,
    );
    const exit = await elsewhere.exit();
    assert.equal(exit.code, 99, 'EADDRNOTAVAIL');
    assert.match(elsewhere.stderr(), /warning: listening on 192\.0\.2\.1:\d+, beyond this machine/);
  });

  test('two Limpets with the same network id refuse each other', async () => {
    const a = await daemon(cleanup);
    const b = await daemon(cleanup);
    const pair = await startPair(b, a, { kind: 'tcp', serverId: 3, clientId: 3 }, cleanup);
    assert.notEqual((await pair.server.exit()).code, 0);
    assert.notEqual((await pair.client.exit()).code, 0);
  });

  test('default ids: 2 for a server, 1 for a client', async () => {
    const a = await daemon(cleanup);
    const b = await daemon(cleanup);
    const address = await linkAddress('unix', cleanup);
    const server = spawnLimpet(['-s', address.server], { socket: b.socket }, cleanup);
    await server.waitForStderr(LISTENING);
    spawnLimpet(['-c', address.client], { socket: a.socket }, cleanup);
    await linked(a, b, cleanup);
    const sender = await ksock(a, cleanup);
    const listener = await ksock(b, cleanup);
    await listener.bind('$.Ids.*');
    await sender.announce('$.Ids.X', '');
    const m = await next(listener, 'the announcement');
    assert.equal(m.id.networkId, 1);
    assert.equal(m.origFrom.networkId, 1);
  });
});
