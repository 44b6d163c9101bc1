/**
 * Limpets run from code (`Limpet.start`), in this process, against real
 * daemons: a pair linking two buses, what `closed` says about why a Limpet
 * stopped, and the coded errors `start()` rejects with.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { KbusMessage } from '../../src/client/index.js';
import {
  encodeGreeting,
  Limpet,
  LimpetError,
  LimpetErrorCode,
  type LimpetOptions,
  LimpetStop,
  LinkError,
  LinkErrorCode,
  parseLinkAddress,
} from '../../src/limpet/index.js';
import { encodeMessage, makeMessage } from '../../src/wire/index.js';
import { type RunningDaemon, tempDir } from '../support/daemon.js';
import {
  Cleanup,
  daemon,
  exists,
  freePort,
  ksock,
  type LinkAddresses,
  type LinkKind,
  linkAddress,
  next,
  RawPeer,
  waitReplier,
  within,
} from './helpers.js';

const text = (m: KbusMessage) => Buffer.from(m.data).toString();

let cleanup: Cleanup;
beforeEach(() => {
  cleanup = new Cleanup();
});
// Bounded, so that a Limpet that cannot stop fails its test rather than hangs the run.
afterEach(
  async () => {
    await cleanup.run();
  },
  { timeout: 30_000 },
);

interface Starting {
  /** What `Limpet.start` resolves with. */
  started: Promise<Limpet>;
  /** Resolves once a server listens. */
  listening: Promise<void>;
  controller: AbortController;
  lines: string[];
}

/** Starts a Limpet in this process; its log is kept, and cleanup stops it. */
function start(options: Omit<LimpetOptions, 'log' | 'signal'>): Starting {
  const lines: string[] = [];
  const controller = new AbortController();
  let listened!: () => void;
  const listening = new Promise<void>((resolve) => {
    listened = resolve;
  });
  const started = Limpet.start({
    ...options,
    signal: controller.signal,
    log: (line) => {
      lines.push(line);
      if (/: listening on /.test(line)) listened();
    },
  });
  // Tests that expect a rejection await it themselves.
  started.catch(() => {});
  cleanup.add(async () => {
    controller.abort();
    await (await started.catch(() => undefined))?.close();
  });
  return { started, listening, controller, lines };
}

/** A server Limpet on `serverBus`, listening, then a client on `clientBus`; both started. */
async function pair(
  serverBus: RunningDaemon,
  clientBus: RunningDaemon,
  kind: LinkKind,
  client: Partial<LimpetOptions> = {},
): Promise<{
  server: Limpet;
  client: Limpet;
  address: LinkAddresses;
  /** What each logged so far. */
  lines: { server: string[]; client: string[] };
}> {
  const address = await linkAddress(kind, cleanup);
  const s = start({
    role: 'server',
    address: parseLinkAddress(address.server),
    networkId: 2,
    socket: serverBus.socket,
  });
  await within(s.listening, () => `the server to listen: ${s.lines.join('\n')}`);
  const c = start({
    role: 'client',
    address: parseLinkAddress(address.client),
    networkId: 1,
    socket: clientBus.socket,
    ...client,
  });
  const [server, started] = await within(Promise.all([s.started, c.started]), 'the pair to start');
  return { server, client: started, address, lines: { server: s.lines, client: c.lines } };
}

describe('a Limpet pair started from code', () => {
  test('links two buses; close() stops one and its peer sees the link close', async () => {
    const a = await daemon(cleanup);
    const b = await daemon(cleanup);
    const { server: lb, client: la, address } = await pair(b, a, 'unix');
    assert.equal(la.peerId, 2);
    assert.equal(lb.peerId, 1);

    const listener = await ksock(b, cleanup);
    await listener.bind('$.Lib.*');
    const sender = await ksock(a, cleanup);
    await sender.announce('$.Lib.Hello', 'from A');
    const m = await next(listener, 'the announcement on B');
    assert.equal(text(m), 'from A');
    assert.equal(m.id.networkId, 1);

    // A request on A reaches a replier on B through LA's proxy binding.
    const replier = await ksock(b, cleanup);
    await replier.bind('$.Lib.Echo', { replier: true });
    await waitReplier(sender, '$.Lib.Echo', (r) => r === la.ksockId, "LA's proxy");
    const answer = sender.request('$.Lib.Echo', 'ping');
    await replier.replyTo(await next(replier, 'the request on B'), 'pong');
    assert.equal(text(await within(answer, 'the reply on A')), 'pong');

    assert.deepEqual(await la.close(), { reason: LimpetStop.CLOSED });
    assert.deepEqual(await within(lb.closed, "LB's stop"), { reason: LimpetStop.LINK_CLOSED });
    // Both released everything: LA's proxy is gone, LB removed its socket path.
    await waitReplier(sender, '$.Lib.Echo', (r) => r === 0, "LA's proxy to go");
    assert.equal(exists(address.path!), false);
    // Closing again changes nothing.
    assert.deepEqual(await la.close(), { reason: LimpetStop.CLOSED });
  });

  test('verbosity 2 logs each message forwarded; the default logs none', async () => {
    const a = await daemon(cleanup);
    const b = await daemon(cleanup);
    const { lines } = await pair(b, a, 'unix', { verbosity: 2 });
    const listener = await ksock(b, cleanup);
    await listener.bind('$.Lib.Traced');
    const sender = await ksock(a, cleanup);
    await sender.announce('$.Lib.Traced', 'seen');
    assert.equal(text(await next(listener, 'the announcement on B')), 'seen');
    assert.ok(
      lines.client.some((l) => /bus -> link: \$\.Lib\.Traced /.test(l)),
      lines.client.join('\n'),
    );
    assert.ok(!lines.server.some((l) => l.includes('$.Lib.Traced')), lines.server.join('\n'));
  });

  test('`await using` closes a Limpet at the end of its scope', async () => {
    const a = await daemon(cleanup);
    const b = await daemon(cleanup);
    const { server: lb, client } = await pair(b, a, 'tcp');
    {
      await using la = client;
      assert.equal(la.peerId, 2);
    }
    assert.deepEqual(await client.closed, { reason: LimpetStop.CLOSED });
    assert.deepEqual(await within(lb.closed, "LB's stop"), { reason: LimpetStop.LINK_CLOSED });
  });
});

describe('closed: why a running Limpet stopped', () => {
  test('the termination message: terminated, with its name', async () => {
    const a = await daemon(cleanup);
    const b = await daemon(cleanup);
    const { server: lb, client: la } = await pair(b, a, 'unix', { terminationName: '$.Lib.Stop' });
    const sender = await ksock(a, cleanup);
    await sender.announce('$.Lib.Stop', '');
    assert.deepEqual(await within(la.closed, "LA's stop"), {
      reason: LimpetStop.TERMINATED,
      name: '$.Lib.Stop',
    });
    assert.deepEqual(await within(lb.closed, "LB's stop"), { reason: LimpetStop.LINK_CLOSED });
  });

  test('its signal aborted: aborted', async () => {
    const a = await daemon(cleanup);
    const b = await daemon(cleanup);
    const address = await linkAddress('unix', cleanup);
    const s = start({
      role: 'server',
      address: parseLinkAddress(address.server),
      networkId: 2,
      socket: b.socket,
    });
    await within(s.listening, 'the server to listen');
    const c = start({
      role: 'client',
      address: parseLinkAddress(address.client),
      networkId: 1,
      socket: a.socket,
    });
    const la = await within(c.started, 'LA to start');
    c.controller.abort();
    assert.deepEqual(await within(la.closed, "LA's stop"), { reason: LimpetStop.ABORTED });
    const lb = await within(s.started, 'LB to start');
    assert.deepEqual(await within(lb.closed, "LB's stop"), { reason: LimpetStop.LINK_CLOSED });
  });

  test('its daemon gone: daemon-lost', async () => {
    const a = await daemon(cleanup);
    const b = await daemon(cleanup);
    const { server: lb, client: la } = await pair(b, a, 'unix');
    await b.stop();
    assert.equal((await within(lb.closed, "LB's stop")).reason, LimpetStop.DAEMON_LOST);
    assert.deepEqual(await within(la.closed, "LA's stop"), { reason: LimpetStop.LINK_CLOSED });
  });

  test('a peer that stops reading does not keep close() from finishing', async () => {
    const d = await daemon(cleanup);
    const { peer, limpet } = await serverWithRawPeer(d, 'tcp');
    // From now on the peer reads nothing: the link fills, and the Limpet
    // waits for it to drain before it reads more from its bus.
    peer.socket.pause();
    const sender = await ksock(d, cleanup);
    const data = new Uint8Array(60_000);
    for (let i = 0; i < 400; i++) await sender.announce('$.Lib.Flood', data);
    // 24 MB sent; a paused socket still fills its stream's buffer, no more.
    assert.ok(peer.socket.bytesRead < 1_000_000, `the peer read ${peer.socket.bytesRead} bytes`);
    assert.deepEqual(await within(limpet.close(), 'close() with the link full', 10_000), {
      reason: LimpetStop.CLOSED,
    });
  });

  test('a malformed frame from the peer: link-broken, with a KBUS_LINK_FORMAT error', async () => {
    const d = await daemon(cleanup);
    const { peer, limpet } = await serverWithRawPeer(d, 'unix');
    // A frame in the daemon's byte order (little-endian) is not a link frame.
    await peer.write(encodeMessage(makeMessage({ name: '$.Lib.X' }), true));
    const result = await within(limpet.closed, "the Limpet's stop");
    assert.equal(result.reason, LimpetStop.LINK_BROKEN);
    assert.equal(result.reason === 'link-broken' && result.error.code, LinkErrorCode.FORMAT);
    await peer.waitClosed();
  });
});

/** A server Limpet (network id 2) on `d`, linked to the test as a raw peer (network id 1). */
async function serverWithRawPeer(
  d: RunningDaemon,
  kind: LinkKind,
): Promise<{ peer: RawPeer; limpet: Limpet }> {
  const address = await linkAddress(kind, cleanup);
  const s = start({
    role: 'server',
    address: parseLinkAddress(address.server),
    networkId: 2,
    socket: d.socket,
  });
  await within(s.listening, 'the server to listen');
  const peer = await RawPeer.connect(address, cleanup);
  await peer.write(encodeGreeting(1));
  return { peer, limpet: await within(s.started, 'the Limpet to start') };
}

/** Asserts that `promise` rejects with a LinkError or LimpetError of `code`; returns the error. */
async function rejectsWith(
  promise: Promise<unknown>,
  code: LinkErrorCode | LimpetErrorCode,
): Promise<LinkError | LimpetError> {
  const err = await within(
    promise.then(
      () => assert.fail(`expected ${code}, but it started`),
      (e: unknown) => e,
    ),
    `a rejection with ${code}`,
  );
  assert.ok(err instanceof LinkError || err instanceof LimpetError, String(err));
  assert.equal(err.code, code);
  return err;
}

describe('start() rejects with a coded error', () => {
  const NO_DAEMON = '/nonexistent/kbus.sock';

  test('no server to connect to: KBUS_LINK_CONNECT, with the system error as cause', async () => {
    const port = await freePort();
    const tcp = start({
      role: 'client',
      address: { kind: 'tcp', host: '127.0.0.1', port },
      networkId: 1,
      socket: NO_DAEMON,
    });
    const refused = await rejectsWith(tcp.started, LinkErrorCode.CONNECT);
    assert.equal((refused.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
    const dir = tempDir('kbus-link-');
    cleanup.add(() => dir.remove());
    const unix = start({
      role: 'client',
      address: { kind: 'unix', path: join(dir.path, 'none.sock') },
      networkId: 1,
      socket: NO_DAEMON,
    });
    const missing = await rejectsWith(unix.started, LinkErrorCode.CONNECT);
    assert.equal((missing.cause as NodeJS.ErrnoException).code, 'ENOENT');
  });

  test("a server's Unix path that exists: KBUS_LINK_PATH_EXISTS, and the path is left", async () => {
    const dir = tempDir('kbus-link-');
    cleanup.add(() => dir.remove());
    const path = join(dir.path, 'taken');
    writeFileSync(path, 'mine');
    const s = start({ role: 'server', address: { kind: 'unix', path }, networkId: 2 });
    await rejectsWith(s.started, LinkErrorCode.PATH_EXISTS);
    assert.ok(exists(path));
  });

  test('two Limpets with the same network id: KBUS_LINK_PEER_ID on both sides', async () => {
    const address = await linkAddress('unix', cleanup);
    const s = start({ role: 'server', address: parseLinkAddress(address.server), networkId: 3 });
    await within(s.listening, 'the server to listen');
    const c = start({ role: 'client', address: parseLinkAddress(address.client), networkId: 3 });
    await rejectsWith(s.started, LinkErrorCode.PEER_ID);
    await rejectsWith(c.started, LinkErrorCode.PEER_ID);
  });

  test('a peer that does not greet in time, or not with HELO: KBUS_LINK_GREETING(_TIMEOUT)', async () => {
    const silent = await linkAddress('unix', cleanup);
    const s1 = start({
      role: 'server',
      address: parseLinkAddress(silent.server),
      networkId: 2,
      greetingTimeoutMs: 200,
    });
    await within(s1.listening, 'the server to listen');
    await RawPeer.connect(silent, cleanup);
    await rejectsWith(s1.started, LinkErrorCode.GREETING_TIMEOUT);

    const rude = await linkAddress('unix', cleanup);
    const s2 = start({ role: 'server', address: parseLinkAddress(rude.server), networkId: 2 });
    await within(s2.listening, 'the server to listen');
    const peer = await RawPeer.connect(rude, cleanup);
    await peer.write(Buffer.from('HELP\0\0\0\x01', 'latin1'));
    await rejectsWith(s2.started, LinkErrorCode.GREETING);
  });

  test('no daemon behind the Limpet: KBUS_LIMPET_DAEMON; its peer sees the link close', async () => {
    const b = await daemon(cleanup);
    const address = await linkAddress('unix', cleanup);
    const s = start({
      role: 'server',
      address: parseLinkAddress(address.server),
      networkId: 2,
      socket: b.socket,
    });
    await within(s.listening, 'the server to listen');
    const c = start({
      role: 'client',
      address: parseLinkAddress(address.client),
      networkId: 1,
      socket: NO_DAEMON,
    });
    const err = await rejectsWith(c.started, LimpetErrorCode.DAEMON);
    assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
    // The server had greeted: it starts, and stops as soon as the link is gone.
    const lb = await within(s.started, 'LB to start');
    assert.deepEqual(await within(lb.closed, "LB's stop"), { reason: LimpetStop.LINK_CLOSED });
  });

  test('options that cannot work: KBUS_LIMPET_OPTIONS', async () => {
    const address = { kind: 'unix', path: '/nonexistent/link.sock' } as const;
    for (const networkId of [0, -1, 1.5, 2 ** 32]) {
      const s = start({ role: 'server', address, networkId });
      await rejectsWith(s.started, LimpetErrorCode.OPTIONS);
    }
    const tls = start({
      role: 'client',
      address,
      networkId: 1,
      tls: { cert: 'c.pem', key: 'k.pem', ca: 'ca.pem' },
    });
    await rejectsWith(tls.started, LimpetErrorCode.OPTIONS);
  });

  test('aborted while waiting for the peer: the reason, and the socket path goes', async () => {
    const address = await linkAddress('unix', cleanup);
    const s = start({ role: 'server', address: parseLinkAddress(address.server), networkId: 2 });
    await within(s.listening, 'the server to listen');
    assert.ok(exists(address.path!));
    const reason = new Error('no longer wanted');
    s.controller.abort(reason);
    await assert.rejects(within(s.started, 'the abort'), (err) => err === reason);
    assert.equal(exists(address.path!), false);
  });
});
