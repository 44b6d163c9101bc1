/**
 * Random but well-framed input, against a real kbusd: every op, with words
 * drawn from values that matter (0, 1, all ones, the guards, the limits)
 * and messages that are nearly right (a byte changed, cut short, an odd
 * name). protocol.md: the daemon answers each request exactly once, in the
 * same order, and nothing a client sends may crash it or harm another
 * Ksock. Seeded, so that a failure can be replayed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import { encodeFrame, Op } from '../../src/protocol/index.js';
import { END_GUARD, START_GUARD } from '../../src/wire/index.js';
import { type RunningDaemon, startDaemon } from '../support/daemon.js';
import { isAlive, RawConnection, rssKb } from './helpers.js';

/** A deterministic pseudo-random source (xorshift32). */
class Random {
  private x: number;
  constructor(seed: number) {
    this.x = seed >>> 0 || 1;
  }
  /** A whole number from 0 to n - 1. */
  below(n: number): number {
    let x = this.x;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.x = x;
    return x % n;
  }
  chance(p: number): boolean {
    return this.below(1_000_000) < p * 1_000_000;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }
}

const REQUEST_OPS = [
  ...Object.values(Op).filter((op) => op !== Op.EVENT && op !== Op.MESSAGE),
  // Not ops: ENOTTY.
  0,
  19,
  0x7f,
  0x81,
  0xffffffff,
];
const WORDS = [0, 1, 2, 3, 4, 64, 100, 1000, 1001, 0x7fffffff, 0xffffffff, START_GUARD, END_GUARD];
const NAMES = ['$.rf.a', '$.rf.b', '$.rf.*', '$.rf.%', '$.rf', 'rf', '$.KBUS.ReplierBindEvent', ''];

function words(random: Random, count: number, tail = 0): Uint8Array {
  const out = Buffer.alloc(4 * count + tail);
  for (let i = 0; i < count; i++) out.writeUInt32LE(random.pick(WORDS), 4 * i);
  return out;
}

/** An entire message that is right, or nearly. */
function message(random: Random): Uint8Array {
  const name = random.pick(NAMES);
  const dataLength = random.chance(0.3) ? 0 : random.below(300);
  const length = 64 + 4 * Math.ceil((name.length + 1) / 4) + 4 * Math.ceil(dataLength / 4) + 4;
  let out = Buffer.alloc(length);
  out.writeUInt32LE(START_GUARD, 0);
  for (let word = 1; word <= 12; word++) {
    if (random.chance(0.15)) out.writeUInt32LE(random.pick(WORDS), 4 * word);
  }
  out.writeUInt32LE(name.length, 52);
  out.writeUInt32LE(dataLength, 56);
  out.writeUInt32LE(END_GUARD, 60);
  out.write(name, 64, 'latin1');
  out.writeUInt32LE(END_GUARD, length - 4);
  if (random.chance(0.25)) out[random.below(length)] = random.below(256);
  if (random.chance(0.1)) out = out.subarray(0, random.below(length));
  return out;
}

/** A name operation's payload: [is_replier,] name_len, name; the length sometimes wrong. */
function namePayload(random: Random, withReplierWord: boolean): Uint8Array {
  const name = random.pick(NAMES);
  const lead = withReplierWord ? 1 : 0;
  const out = Buffer.alloc(4 * (lead + 1) + name.length);
  if (withReplierWord) out.writeUInt32LE(random.below(2), 0);
  out.writeUInt32LE(random.chance(0.8) ? name.length : random.pick(WORDS), 4 * lead);
  out.write(name, 4 * (lead + 1), 'latin1');
  return out;
}

function payload(random: Random, op: number): Uint8Array {
  if ((op === Op.SENDMSG || op === Op.WRITE) && random.chance(0.8)) return message(random);
  if ((op === Op.BIND || op === Op.UNBIND) && random.chance(0.8)) return namePayload(random, true);
  if (op === Op.REPLIER && random.chance(0.8)) return namePayload(random, false);
  if (op === Op.OPEN && random.chance(0.5)) {
    return Buffer.from(new Uint32Array([1, random.below(3), random.below(4), 1]).buffer);
  }
  return words(random, random.below(5), random.chance(0.2) ? random.below(7) : 0);
}

interface Sent {
  readonly op: number;
  readonly tag: number;
}

/**
 * One client sending `count` random frames (after an OPEN, mostly), then
 * ending its side; resolves with what it sent and the responses it got.
 */
async function randomClient(
  socket: string,
  random: Random,
  count: number,
): Promise<{ sent: Sent[]; answered: Sent[] }> {
  const conn = await RawConnection.connect(socket);
  const sent: Sent[] = [];
  const send = (op: number, body: Uint8Array) => {
    const tag = conn.tag();
    sent.push({ op, tag });
    void conn.write(encodeFrame(op, tag, [], body)).catch(() => {});
  };
  if (random.chance(0.9)) send(Op.OPEN, Buffer.from(new Uint32Array([1, 0, 3, 1]).buffer));
  for (let i = 0; i < count; i++) {
    const op = random.pick(REQUEST_OPS);
    send(op, payload(random, op));
  }
  conn.socket.end();
  await conn.closedByPeer(30_000);
  const answered: Sent[] = [];
  while (conn.received > 0) {
    const frame = await conn.next();
    // Events (POLL's EVENT, STREAM's MESSAGE) come with tag 0.
    if (frame.tag !== 0) answered.push({ op: frame.op, tag: frame.tag });
  }
  return { sent, answered };
}

describe('kbusd under random frames', () => {
  let daemon: RunningDaemon;
  let replier: Ksock;
  let requester: Ksock;

  before(async () => {
    daemon = await startDaemon();
    replier = await Ksock.connect({ socket: daemon.socket });
    requester = await Ksock.connect({ socket: daemon.socket });
    await replier.bind('$.Witness', { replier: true });
    void (async () => {
      for await (const m of replier) if (m.wantsYouToReply) await replier.replyTo(m, m.data);
    })().catch(() => {});
  });

  after(async () => {
    await requester?.close();
    await replier?.close();
    const code = await daemon?.stop();
    assert.equal(code, 0, `kbusd should stop cleanly; stderr: ${daemon.stderr()}`);
  });

  for (const seed of [1, 0x5eed, 20261204]) {
    test(`seed ${seed}: every frame answered once, in order; kbusd and other Ksocks unharmed`, async () => {
      const random = new Random(seed);
      for (let round = 0; round < 3; round++) {
        const clients = await Promise.all(
          Array.from({ length: 4 }, () => randomClient(daemon.socket, random, 300)),
        );
        for (const [i, { sent, answered }] of clients.entries()) {
          assert.deepEqual(answered, sent, `seed ${seed}, round ${round}, client ${i}`);
        }
        assert.ok(isAlive(daemon.process), `kbusd died: ${daemon.stderr()}`);
        const reply = await requester.request('$.Witness', `round ${round}`, { timeout: 10_000 });
        assert.equal(reply.text(), `round ${round}`);
      }
      // Nothing the random clients left behind holds memory without bound.
      assert.ok(rssKb(daemon.process.pid!) < 512 * 1024, 'kbusd stays under 512 MB');
    });
  }
});
