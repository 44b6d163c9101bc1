/**
 * A real `kbus limpet --server` (network id 2) on a real kbusd, with the test
 * as its peer (network id 1) speaking the link protocol byte by byte. What
 * the Limpet writes on the link is checked word by word (limpet.md sections
 * 4, 5 and 10), and what it does with each kind of frame from the link.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Ksock, Reply } from '../../src/client/index.js';
import { encodeGreeting, encodeLinkMessage, LinkDecoder } from '../../src/limpet/index.js';
import { type Message, type MessageInit, makeMessage } from '../../src/wire/index.js';
import type { RunningDaemon } from '../support/daemon.js';
import {
  bindEventOf,
  Cleanup,
  daemon,
  exists,
  ksock,
  LISTENING,
  type LimpetProcess,
  type LinkAddresses,
  linkAddress,
  next,
  RawPeer,
  receiveUntil,
  spawnLimpet,
  toHex,
  waitFor,
  waitReplier,
  within,
} from './helpers.js';

const SYNTHETIC = 0x4;
const NO_ID = { networkId: 0, serialNum: 0 };
const NO_ADDRESS = { networkId: 0, localId: 0 };

interface Frame {
  raw: Buffer;
  message: Message;
}

const pad4 = (n: number) => 4 * Math.floor((n + 3) / 4);

/** The frames in what the Limpet wrote, after its greeting. */
function framesOf(bytes: Buffer): Frame[] {
  const out: Frame[] = [];
  let at = 8;
  while (bytes.length - at >= 64) {
    const nameLength = bytes.readUInt32BE(at + 52);
    const dataLength = bytes.readUInt32BE(at + 56);
    const length = 64 + pad4(nameLength + 1) + pad4(dataLength) + 4;
    if (bytes.length - at < length) break;
    const raw = bytes.subarray(at, at + length);
    new LinkDecoder(1 << 30).push(raw, (message) => out.push({ raw, message }));
    at += length;
  }
  return out;
}

const u32 = (n: number) => n.toString(16).padStart(8, '0');
const latin1Hex = (text: string, padded: number) =>
  Buffer.concat([Buffer.from(text, 'latin1'), Buffer.alloc(padded - text.length)]).toString('hex');

/** A message in a form deepEqual compares fully. */
function plain(m: Message) {
  return { ...m, data: Buffer.from(m.data).toString('latin1') };
}

describe('a Limpet seen from the link (raw peer)', () => {
  const cleanup = new Cleanup();
  let d: RunningDaemon;
  let address: LinkAddresses;
  let limpet: LimpetProcess;
  let peer: RawPeer;
  /** The Limpet's Ksock id on its bus. */
  let K: number;
  /** A replier bound before the Limpet started. */
  let R: Ksock;
  let bus: Ksock;
  /** Frames consumed so far by nextFrame(). */
  let cursor = 0;

  /** The next frame after the cursor that `pick` accepts; the cursor moves past it. */
  async function nextFrame(pick: (m: Message) => boolean, what: string): Promise<Frame> {
    let found: Frame | undefined;
    await peer.until(() => {
      const frames = framesOf(peer.bytes());
      for (let i = cursor; i < frames.length; i++) {
        if (pick(frames[i]!.message)) {
          found = frames[i];
          cursor = i + 1;
          return true;
        }
      }
      return false;
    }, what);
    return found!;
  }

  /** Frames after the cursor whose name starts with `prefix` (the cursor moves to the end). */
  function framesNamed(prefix: string): Frame[] {
    const frames = framesOf(peer.bytes());
    const out = frames.slice(cursor).filter((f) => f.message.name.startsWith(prefix));
    cursor = frames.length;
    return out;
  }

  let serial = 100;
  function send(init: MessageInit): Promise<Message> {
    const m = makeMessage({
      id: { networkId: 1, serialNum: ++serial },
      origFrom: { networkId: 1, localId: 3 },
      from: 3,
      ...init,
    });
    return peer.write(encodeLinkMessage(m)).then(() => m);
  }

  function bindEvent(name: string, isBind = true, flags = SYNTHETIC | 0x200): Promise<Message> {
    const data = new Uint8Array(12 + pad4(name.length + 1));
    const view = new DataView(data.buffer);
    view.setUint32(0, isBind ? 1 : 0, true);
    view.setUint32(4, 1234, true);
    view.setUint32(8, name.length, true);
    data.set(Buffer.from(name, 'latin1'), 12);
    return send({
      name: '$.KBUS.ReplierBindEvent',
      from: 0,
      origFrom: { networkId: 1, localId: 0 },
      flags,
      data,
    });
  }

  before(async () => {
    d = await daemon(cleanup);
    bus = await ksock(d, cleanup);
    R = await ksock(d, cleanup);
    await R.bind('$.Peer.Svc', { replier: true });
    address = await linkAddress('unix', cleanup);
    limpet = spawnLimpet(['--server', '--id', '2', address.server], { socket: d.socket }, cleanup);
    await limpet.waitForStderr(LISTENING);
    peer = await RawPeer.connect(address, cleanup);
    // The greeting and the first frame in one write: the Limpet keeps what follows its greeting.
    const ready = new Uint8Array(12 + 16);
    new DataView(ready.buffer).setUint32(0, 1, true);
    new DataView(ready.buffer).setUint32(4, 1234, true);
    new DataView(ready.buffer).setUint32(8, '$.Peer.Ready'.length, true);
    ready.set(Buffer.from('$.Peer.Ready'), 12);
    const first = encodeLinkMessage(
      makeMessage({
        name: '$.KBUS.ReplierBindEvent',
        id: { networkId: 1, serialNum: 1 },
        origFrom: { networkId: 1, localId: 0 },
        flags: SYNTHETIC,
        data: ready,
      }),
    );
    await peer.write(Buffer.concat([encodeGreeting(1), first]));
    K = await waitReplier(bus, '$.Peer.Ready');
  });

  after(async () => {
    await cleanup.run();
  });

  test('the Limpet greets with HELO and its id, big-endian', () => {
    assert.equal(toHex(peer.bytes().subarray(0, 8)), '48454c4f00000002');
  });

  test('a replier bound before the Limpet started is reported; the words are big-endian', async () => {
    const name = '$.Peer.Svc';
    const frame = await nextFrame(
      (m) => m.name === '$.KBUS.ReplierBindEvent' && Buffer.from(m.data).includes(name),
      'the bind event for $.Peer.Svc',
    );
    const raw = frame.raw;
    assert.equal(raw.readUInt32BE(0), 0x7375624b);
    assert.equal(raw.readUInt32BE(4), 2, 'id.network_id = N');
    assert.equal(raw.readUInt32BE(28), 2, 'orig_from.network_id = N');
    assert.equal(raw.readUInt32BE(32), 0, 'orig_from.local_id = from = 0');
    assert.ok(raw.readUInt32BE(48) & SYNTHETIC);
    assert.equal(raw.readUInt32BE(52), 23);
    assert.equal(raw.readUInt32BE(56), 12 + 12, 'data_len unchanged');
    // Data: is_bind 1, binder R, name_len 10, big-endian; the name as is.
    const data = raw.subarray(64 + 24, 64 + 24 + 24);
    assert.equal(toHex(data), `00000001${u32(R.id)}0000000a${latin1Hex(name, 12)}`);
    assert.equal(raw.readUInt32BE(raw.length - 4), 0x4b627573);
  });

  test('live binds and unbinds cross as they happen', async () => {
    const r = await ksock(d, cleanup);
    await r.bind('$.Peer.Live', { replier: true });
    const bound = await nextFrame((m) => m.name === '$.KBUS.ReplierBindEvent', 'the bind');
    assert.equal(toHex(bound.raw.subarray(64 + 24, 64 + 24 + 12)), `00000001${u32(r.id)}0000000b`);
    await r.close();
    const unbound = await nextFrame((m) => m.name === '$.KBUS.ReplierBindEvent', 'the unbind');
    assert.equal(
      toHex(unbound.raw.subarray(64 + 24, 64 + 24 + 12)),
      `00000000${u32(r.id)}0000000b`,
    );
  });

  test('a request from the link reaches the replier; its reply goes back (rows 3-7)', async () => {
    const request = await send({ name: '$.Peer.Svc', flags: 0x3, data: Buffer.from('ping') });
    const atR = await next(R, 'the request at R');
    // Row 4.
    assert.deepEqual(
      [atR.id, atR.inReplyTo, atR.to, atR.from, atR.origFrom, atR.finalTo, atR.flags],
      [request.id, NO_ID, 0, K, { networkId: 1, localId: 3 }, NO_ADDRESS, 0x3],
    );
    await R.replyTo(atR, 'pong');
    const frame = await nextFrame((m) => m.name === '$.Peer.Svc', 'the reply on the link');
    // Row 7.
    const m = frame.message;
    assert.equal(m.id.networkId, 2);
    assert.deepEqual(
      plain(m),
      plain(
        makeMessage({
          id: m.id,
          inReplyTo: request.id,
          to: K,
          from: R.id,
          origFrom: { networkId: 2, localId: R.id },
          name: '$.Peer.Svc',
          data: Buffer.from('pong'),
        }),
      ),
    );
    assert.equal(
      toHex(frame.raw.subarray(0, 32)),
      `7375624b00000002${u32(m.id.serialNum)}00000001${u32(request.id.serialNum)}${u32(K)}${u32(R.id)}00000002`,
    );
  });

  test('5.2 3.1: a request without WANT_YOU_TO_REPLY is dropped', async () => {
    await send({ name: '$.Peer.Svc', flags: 0x1, data: Buffer.from('copy') });
    const good = await send({ name: '$.Peer.Svc', flags: 0x3, data: Buffer.from('real') });
    const atR = await next(R, 'the real request');
    assert.deepEqual(atR.id, good.id);
    assert.equal(Buffer.from(atR.data).toString(), 'real');
    await R.replyTo(atR, 'ok');
    await nextFrame((m) => m.name === '$.Peer.Svc', 'the reply');
  });

  test('5.2 2: a reply to nothing pending is dropped', async () => {
    const listener = await ksock(d, cleanup);
    await listener.bind('$.Stray.*');
    await send({ name: '$.Stray.Reply', inReplyTo: { networkId: 2, serialNum: 999 }, to: K });
    await send({ name: '$.Stray.Reply', inReplyTo: { networkId: 1, serialNum: 5 }, to: 9 });
    await send({ name: '$.Stray.Marker' });
    const m = await next(listener, 'the marker');
    assert.equal(m.name, '$.Stray.Marker');
  });

  test('bind events from the link make proxies and are never injected; without SYNTHETIC ignored', async () => {
    const watcher = await ksock(d, cleanup);
    await watcher.bind('$.KBUS.ReplierBindEvent');
    await bindEvent('$.Peer.Fake', true, 0);
    await bindEvent('$.Peer.Proxy');
    await receiveUntil(
      watcher,
      (m) => bindEventOf(m)?.name === '$.Peer.Proxy',
      'the proxy bind event on the bus',
    );
    assert.equal(await bus.replier('$.Peer.Proxy'), K);
    assert.equal(await bus.replier('$.Peer.Fake'), 0);
    await bindEvent('$.Peer.Proxy', false);
    const { found, before } = await receiveUntil(
      watcher,
      (m) => bindEventOf(m)?.name === '$.Peer.Proxy',
      'the proxy unbind event on the bus',
    );
    for (const m of [...before, found]) {
      assert.equal(m.name, '$.KBUS.ReplierBindEvent');
      assert.equal(bindEventOf(m)?.binder, K, 'only the proxy, never the peer event itself');
    }
    assert.equal(bindEventOf(found)?.isBind, false);
    assert.equal(await bus.replier('$.Peer.Proxy'), 0);
    // The Limpet does not report its own proxy binds back on the link.
    await bus.bind('$.Peer.After', { replier: true });
    await nextFrame(
      (m) => m.name === '$.KBUS.ReplierBindEvent' && Buffer.from(m.data).includes('$.Peer.After'),
      'a later bind event',
    );
    await bus.unbind('$.Peer.After', { replier: true });
    const events = framesNamed('$.KBUS.ReplierBindEvent');
    for (const f of events) assert.ok(!Buffer.from(f.message.data).includes('$.Peer.Proxy'));
  });

  test('5.2 3.4: a request for a name only this Limpet replies to: RemoteError.99', async () => {
    await bindEvent('$.Peer.Loop');
    await waitReplier(bus, '$.Peer.Loop', (r) => r === K);
    const request = await send({ name: '$.Peer.Loop', flags: 0x3, from: 3 });
    const frame = await nextFrame((m) => m.name.startsWith('$.KBUS.RemoteError'), 'RemoteError');
    const name = '$.KBUS.RemoteError.99';
    assert.equal(
      toHex(frame.raw),
      [
        '7375624b',
        '00000000 00000000', // id {0,0}
        `00000001 ${u32(request.id.serialNum)}`, // in_reply_to
        '00000003', // to: the request's from
        '00000000', // from 0
        '00000002 00000000', // orig_from {N,0}
        '00000000 00000000', // final_to
        '00000000', // extra
        '00000000', // flags
        u32(name.length),
        '00000000', // no data
        '4b627573',
        latin1Hex(name, pad4(name.length + 1)),
        '4b627573',
      ]
        .join('')
        .replace(/\s+/g, ''),
    );
    await bindEvent('$.Peer.Loop', false);
    await waitReplier(bus, '$.Peer.Loop', (r) => r === 0);
  });

  test('5.2 3.5: a request nobody replies to is answered RemoteError.99 (EADDRNOTAVAIL)', async () => {
    const request = await send({ name: '$.Peer.NoOne', flags: 0x3, from: 14 });
    const frame = await nextFrame((m) => m.name.startsWith('$.KBUS.'), 'RemoteError.99');
    assert.deepEqual(
      plain(frame.message),
      plain(
        makeMessage({
          inReplyTo: request.id,
          to: 14,
          origFrom: { networkId: 2, localId: 0 },
          name: '$.KBUS.RemoteError.99',
        }),
      ),
    );
  });

  test('5.2 3.5: a request the daemon refuses (bad name) is answered RemoteError.74', async () => {
    const request = await send({ name: '$.Peer..Bad', flags: 0x3, from: 15 });
    const frame = await nextFrame((m) => m.name.startsWith('$.KBUS.'), 'RemoteError.74');
    assert.equal(frame.message.name, '$.KBUS.RemoteError.74');
    assert.deepEqual(frame.message.inReplyTo, request.id);
    assert.equal(frame.message.to, 15);
  });

  test('5.2 4: an announcement the daemon refuses is dropped; the Limpet carries on', async () => {
    const listener = await ksock(d, cleanup);
    await listener.bind('$.Refused.*');
    await send({ name: '$.Refused..Bad' });
    await send({ name: '$.Refused.*' });
    await send({ name: '$.Refused.Marker' });
    assert.equal((await next(listener, 'the marker')).name, '$.Refused.Marker');
    assert.ok(limpet.running);
  });

  test('stateful requests: local, passing through, NotSameKsock, GoneAway', async () => {
    // Local and right: to = R, final_to {0,R}.
    const local = await send({
      name: '$.Peer.Svc',
      flags: 0x3,
      to: 5,
      finalTo: { networkId: 2, localId: R.id },
    });
    const atR = await next(R, 'the local stateful request');
    assert.deepEqual(
      [atR.id, atR.to, atR.from, atR.finalTo, atR.origFrom],
      [local.id, R.id, K, { networkId: 0, localId: R.id }, { networkId: 1, localId: 3 }],
    );
    await R.replyTo(atR, 'local');
    const reply = await nextFrame((m) => m.name === '$.Peer.Svc', 'the reply');
    assert.deepEqual(reply.message.inReplyTo, local.id);

    // Passing through (final_to names a third bus): to = the replier here, final_to kept.
    const through = await send({
      name: '$.Peer.Svc',
      flags: 0x3,
      to: 5,
      finalTo: { networkId: 7, localId: 3 },
    });
    const atR2 = await next(R, 'the passing-through request');
    assert.deepEqual(
      [atR2.id, atR2.to, atR2.finalTo],
      [through.id, R.id, { networkId: 7, localId: 3 }],
    );
    await R.replyTo(atR2, 'through');
    await nextFrame((m) => m.name === '$.Peer.Svc', 'the reply');

    const generated = (request: Message, name: string) =>
      plain(
        makeMessage({
          inReplyTo: request.id,
          to: request.from,
          origFrom: { networkId: 2, localId: 0 },
          name,
        }),
      );
    // Local, but another replier: NotSameKsock (row 13').
    const replaced = await send({
      name: '$.Peer.Svc',
      flags: 0x3,
      to: 5,
      from: 11,
      finalTo: { networkId: 2, localId: R.id + 1000 },
    });
    const ns = await nextFrame((m) => m.name.startsWith('$.KBUS.Replier'), 'NotSameKsock');
    assert.deepEqual(plain(ns.message), generated(replaced, '$.KBUS.Replier.NotSameKsock'));
    // No replier at all: GoneAway.
    const nobody = await send({
      name: '$.Peer.Nobody',
      flags: 0x3,
      to: 5,
      finalTo: { networkId: 2, localId: 4 },
    });
    const gone = await nextFrame((m) => m.name.startsWith('$.KBUS.Replier'), 'GoneAway');
    assert.deepEqual(plain(gone.message), generated(nobody, '$.KBUS.Replier.GoneAway'));
    // Passing through with nobody here: GoneAway too.
    const nobody2 = await send({
      name: '$.Peer.Nobody',
      flags: 0x3,
      to: 5,
      finalTo: { networkId: 7, localId: 4 },
    });
    const gone2 = await nextFrame((m) => m.name.startsWith('$.KBUS.Replier'), 'GoneAway');
    assert.deepEqual(plain(gone2.message), generated(nobody2, '$.KBUS.Replier.GoneAway'));
    // R was never given any of them: its next message is a fresh plain request.
    const fresh = await send({ name: '$.Peer.Svc', flags: 0x3, data: Buffer.from('fresh') });
    const atR3 = await next(R, 'the fresh request');
    assert.deepEqual(atR3.id, fresh.id);
    await R.replyTo(atR3, 'fresh');
    await nextFrame((m) => m.name === '$.Peer.Svc', 'the reply');
  });

  test("RemoteError.16 when the replier's queue is full; its GoneAway crosses on close", async () => {
    const F = await ksock(d, cleanup);
    await F.maxMessages(1);
    await F.bind('$.Peer.Full', { replier: true });
    await nextFrame(
      (m) => m.name === '$.KBUS.ReplierBindEvent' && Buffer.from(m.data).includes('$.Peer.Full'),
      'the bind event',
    );
    const one = await send({ name: '$.Peer.Full', flags: 0x3, from: 12 });
    await waitFor(async () => (await F.numMessages()) === 1, "the request in F's queue");
    const two = await send({ name: '$.Peer.Full', flags: 0x3, from: 13 });
    const busy = await nextFrame((m) => m.name.startsWith('$.KBUS.'), 'RemoteError.16');
    assert.deepEqual(
      plain(busy.message),
      plain(
        makeMessage({
          inReplyTo: two.id,
          to: 13,
          origFrom: { networkId: 2, localId: 0 },
          name: '$.KBUS.RemoteError.16',
        }),
      ),
    );
    // ALL_OR_WAIT is cleared (5.3): the full queue is EBUSY at once, not a wedged Limpet.
    const three = await send({ name: '$.Peer.Full', flags: 0x103, from: 16 });
    const busy2 = await nextFrame((m) => m.name.startsWith('$.KBUS.'), 'RemoteError.16 again');
    assert.deepEqual(
      [busy2.message.name, busy2.message.inReplyTo, busy2.message.to],
      ['$.KBUS.RemoteError.16', three.id, 16],
    );
    await F.close();
    const gone = await nextFrame(
      (m) => m.name === '$.KBUS.Replier.GoneAway',
      "the daemon's GoneAway",
    );
    // A daemon status about a request the Limpet injected: to = K, stamped.
    assert.deepEqual(
      [
        gone.message.inReplyTo,
        gone.message.to,
        gone.message.from,
        gone.message.origFrom,
        gone.message.id.networkId,
      ],
      [one.id, K, F.id, { networkId: 2, localId: F.id }, 2],
    );
    assert.ok(gone.message.flags & SYNTHETIC, 'sent with the flags as read');
  });

  test('injected announcements lose ALL_OR_WAIT only, and are not echoed', async () => {
    const listener = await ksock(d, cleanup);
    await listener.bind('$.Flags.*');
    await send({ name: '$.Flags.Wait', flags: 0xabcd0108, data: Buffer.from('w') });
    await send({ name: '$.Flags.Fail', flags: 0x00010200 });
    const wait = await next(listener, 'the ALL_OR_WAIT announcement');
    assert.equal(wait.flags >>> 0, 0xabcd0008);
    assert.equal(wait.from, K);
    const fail = await next(listener, 'the ALL_OR_FAIL announcement');
    assert.equal(fail.flags >>> 0, 0x00010200);
    // The Limpet read both back from its bus and dropped them (from = K).
    const sender = await ksock(d, cleanup);
    await sender.announce('$.Flags.Marker', '');
    const marker = await nextFrame((m) => m.name.startsWith('$.Flags.'), 'the marker');
    assert.equal(marker.message.name, '$.Flags.Marker');
  });

  test('5.1 rule 6 on the bus: ids of network N or P are not forwarded; others are', async () => {
    const sender = await ksock(d, cleanup);
    await sender.send({ name: '$.Ids.P', id: { networkId: 1, serialNum: 77 } });
    await sender.send({ name: '$.Ids.N', id: { networkId: 2, serialNum: 78 } });
    await sender.send({
      name: '$.Ids.Other',
      id: { networkId: 5, serialNum: 79 },
      origFrom: { networkId: 5, localId: 8 },
    });
    const local = await sender.announce('$.Ids.Local', 'l');
    const first = await nextFrame((m) => m.name.startsWith('$.Ids.'), 'the first $.Ids frame');
    assert.equal(first.message.name, '$.Ids.Other');
    assert.deepEqual(
      [first.message.id, first.message.origFrom, first.message.from],
      [{ networkId: 5, serialNum: 79 }, { networkId: 5, localId: 8 }, sender.id],
    );
    const second = await nextFrame((m) => m.name.startsWith('$.Ids.'), 'the second $.Ids frame');
    assert.equal(second.message.name, '$.Ids.Local');
    assert.deepEqual(
      [second.message.id, second.message.origFrom],
      [
        { networkId: 2, serialNum: local.serialNum },
        { networkId: 2, localId: sender.id },
      ],
    );
  });

  test('requests from the bus cross with WANT_YOU_TO_REPLY and come back by the pending table', async () => {
    await bindEvent('$.Peer.Remote');
    const S = await ksock(d, cleanup);
    await waitReplier(S, '$.Peer.Remote', (r) => r === K);
    const pending = S.request('$.Peer.Remote', 'q');
    const sent = await S.lastSent();
    const frame = await nextFrame((m) => m.name === '$.Peer.Remote', 'the request on the link');
    assert.deepEqual(
      plain(frame.message),
      plain(
        makeMessage({
          id: { networkId: 2, serialNum: sent.serialNum },
          from: S.id,
          origFrom: { networkId: 2, localId: S.id },
          flags: 0x3,
          name: '$.Peer.Remote',
          data: Buffer.from('q'),
        }),
      ),
    );
    // The answer, as a peer Limpet would write it (row 7 shape).
    await send({
      name: '$.Peer.Remote',
      id: { networkId: 1, serialNum: 500 },
      inReplyTo: frame.message.id,
      to: 6,
      from: 4,
      origFrom: { networkId: 1, localId: 4 },
      data: Buffer.from('a'),
    });
    const reply = await within(pending, 'the reply');
    assert.ok(reply instanceof Reply);
    assert.deepEqual(
      [reply.inReplyTo, reply.to, reply.from, reply.origFrom, Buffer.from(reply.data).toString()],
      [sent, S.id, K, { networkId: 1, localId: 4 }, 'a'],
    );
    // A second reply to the same request is dropped (the entry is gone).
    await send({
      name: '$.Peer.Remote',
      id: { networkId: 1, serialNum: 501 },
      inReplyTo: frame.message.id,
      to: 6,
      from: 4,
    });
    await S.bind('$.Peer.Marker');
    await send({ name: '$.Peer.Marker' });
    assert.equal((await next(S, 'the marker')).name, '$.Peer.Marker');
  });

  test('the peer closing the link: exit non-zero, socket path removed, proxies gone', async () => {
    assert.equal(await bus.replier('$.Peer.Ready'), K);
    peer.socket.end();
    const exit = await limpet.exit();
    assert.notEqual(exit.code, 0);
    assert.equal(exit.signal, null);
    assert.equal(exists(address.path!), false);
    await waitReplier(bus, '$.Peer.Ready', (r) => r === 0, 'the proxy to go');
  });
});
