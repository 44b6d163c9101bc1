/**
 * kbusd's memory under clients that never read: the queues' byte budgets
 * (--max-queue-bytes, --max-total-queue-bytes) keep its resident memory
 * near the overall budget, however high the listeners set MAXMSGS, and the
 * daemon keeps answering everyone else.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import {
  encodeFrame,
  encodeMessage,
  FrameDecoder,
  KbusError,
  Op,
  PROTOCOL_VERSION,
  readU32LE,
} from '../../src/internal.js';
import { type RunningDaemon, startDaemon } from '../support/daemon.js';
import { rssKb, within } from './helpers.js';

const MiB = 1024 * 1024;

/** Peak resident memory of a process in kB (/proc/<pid>/status VmHWM). */
function peakRssKb(pid: number): number {
  const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(match, `no VmHWM in /proc/${pid}/status`);
  return Number(match[1]);
}

/** How much kbusd may grow with an overall budget of `budget` bytes: what the queues hold, and room for garbage not yet collected. */
function allowedGrowthKb(budget: number): number {
  return (budget * 1.5 + 64 * MiB) / 1024;
}

/**
 * Answers every request on `replier` until `signal` aborts. A reply the
 * overall budget refuses (EBUSY) is tried again until room appears, as
 * a replier would: the request stays owed meanwhile.
 */
async function answer(replier: Ksock, signal: AbortSignal): Promise<void> {
  for (;;) {
    let request: Awaited<ReturnType<Ksock['receive']>>;
    try {
      request = await replier.receive({ signal });
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
    for (;;) {
      try {
        await replier.replyTo(request, `re:${request.text()}`);
        break;
      } catch (err) {
        if (!(err instanceof KbusError && err.code === 'EBUSY') || signal.aborted) throw err;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  }
}

/** Sends `count` messages made by `message(i)`, at most `window` in flight. */
async function flood(
  sender: Ksock,
  count: number,
  window: number,
  message: (i: number) => [name: string, data: Uint8Array],
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const [name, data] = message(next++);
      await sender.announce(name, data);
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
}

interface Fixture {
  daemon: RunningDaemon;
  pid: number;
  clients: Ksock[];
  connect(): Promise<Ksock>;
  close(): Promise<void>;
}

async function kbusd(args: string[]): Promise<Fixture> {
  const daemon = await startDaemon(args, 30_000);
  const clients: Ksock[] = [];
  return {
    daemon,
    pid: daemon.process.pid!,
    clients,
    async connect() {
      const ksock = await Ksock.connect({ socket: daemon.socket });
      clients.push(ksock);
      return ksock;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close().catch(() => {})));
      const code = await daemon.stop();
      assert.equal(code, 0, `kbusd should stop cleanly; stderr: ${daemon.stderr()}`);
    },
  };
}

/** A requester and a replier on `name`, answering until stopped. */
async function rpcPair(bus: Fixture, name: string) {
  const requester = await bus.connect();
  const replier = await bus.connect();
  await replier.bind(name, { replier: true });
  const stop = new AbortController();
  const answering = answer(replier, stop.signal);
  return {
    requester,
    roundTrip: async (text: string) => {
      const reply = await requester.request(name, text, { timeout: 30_000 });
      assert.equal(reply.kind, 'reply', `expected a reply, got ${reply.name}`);
      assert.equal(reply.text(), `re:${text}`);
    },
    stop: async () => {
      stop.abort();
      await answering;
    },
  };
}

test('four listeners that never read, with MAXMSGS 1,000,000, and 300 announcements of 1 MiB', async () => {
  const budget = 64 * MiB;
  // Each listener's own budget stops it at 8 messages; four of them stay
  // under the overall budget, so requests are not refused (ENOLCK).
  const bus = await kbusd(['--max-total-queue-bytes', '64M', '--max-queue-bytes', '8MiB']);
  try {
    const listeners: Ksock[] = [];
    for (let i = 0; i < 4; i++) {
      const listener = await bus.connect();
      assert.equal(await listener.maxMessages(1_000_000), 1_000_000);
      await listener.bind('$.Big');
      listeners.push(listener);
    }
    const rpc = await rpcPair(bus, '$.Ping');
    await rpc.roundTrip('before');
    const sender = await bus.connect();
    const baseline = rssKb(bus.pid);

    let flooding = true;
    let roundTrips = 0;
    const pinging = (async () => {
      while (flooding) await rpc.roundTrip(`during ${++roundTrips}`);
    })();
    const data = new Uint8Array(MiB);
    await within(
      flood(sender, 300, 4, () => ['$.Big', data]),
      'kbusd to take 300 MiB of announcements',
      30_000,
    );
    flooding = false;
    await within(pinging, 'the last round trip during the flood', 10_000);
    await rpc.roundTrip('after');

    const growth = peakRssKb(bus.pid) - baseline;
    console.log(`# kbusd grew ${(growth / 1024).toFixed(0)} MiB; ${roundTrips} round trips`);
    assert.ok(roundTrips >= 1);
    assert.ok(
      growth < allowedGrowthKb(budget),
      `kbusd grew ${growth} kB, more than ${allowedGrowthKb(budget)} kB`,
    );
    // 8 messages of just over 1 MiB reach 8 MiB: the rest were missed.
    for (const listener of listeners) assert.equal(await listener.numMessages(), 8);
    await rpc.stop();
  } finally {
    await bus.close();
  }
});

test('200 listeners on names of their own, flooded with 64 KiB messages nobody reads', async () => {
  const budget = 32 * MiB;
  const bus = await kbusd(['--max-total-queue-bytes', '32M', '--max-queue-bytes', '16M']);
  try {
    const flooded: Ksock[] = [];
    for (let i = 0; i < 200; i++) {
      const listener = await bus.connect();
      await listener.bind(`$.Flood.n${i}`);
      flooded.push(listener);
    }
    const rpc = await rpcPair(bus, '$.Ping');
    await rpc.roundTrip('before');
    const sender = await bus.connect();
    const baseline = rssKb(bus.pid);

    // While the overall budget is not yet spent a request is answered. Once
    // it is, every queue is full: a request is refused at once (ENOLCK), and
    // one already sent waits for its reply (EBUSY to the replier) until
    // room appears.
    let flooding = true;
    let attempts = 0;
    const pinging = (async () => {
      while (flooding) {
        try {
          await rpc.roundTrip(`during ${++attempts}`);
        } catch (err) {
          if (!(err instanceof KbusError && err.code === 'ENOLCK')) throw err;
        }
      }
    })();
    // 16 messages for each name: 200 MiB in all, six times the budget.
    const data = new Uint8Array(64 * 1024);
    await within(
      flood(sender, 200 * 16, 8, (i) => [`$.Flood.n${i % 200}`, data]),
      'kbusd to take 200 MiB of messages',
      30_000,
    );
    flooding = false;

    const growth = peakRssKb(bus.pid) - baseline;
    console.log(`# kbusd grew ${(growth / 1024).toFixed(0)} MiB; ${attempts} requests tried`);
    assert.ok(
      growth < allowedGrowthKb(budget),
      `kbusd grew ${growth} kB, more than ${allowedGrowthKb(budget)} kB`,
    );
    // The budget is spent: a request finds no room for its reply.
    const other = await bus.connect();
    await assert.rejects(
      other.request('$.Ping', 'spent'),
      (err: unknown) => err instanceof KbusError && err.code === 'ENOLCK',
    );
    // The flooded Ksocks go: their bytes are freed, and the bus serves again.
    await Promise.all(flooded.map((k) => k.close()));
    await within(pinging, 'the last request of the flood to be answered', 30_000);
    await rpc.roundTrip('after');
    await rpc.stop();
  } finally {
    await bus.close();
  }
});

test('a listener that keeps one small message from each socket read does not keep the reads alive', async () => {
  // Every 64 KiB write holds one message for a listener that never reads
  // and hundreds that nobody hears: kept as views, the kept messages alone
  // would hold every read (12,000 of 64 KiB) for a few hundred kB counted.
  const bus = await kbusd([]);
  try {
    const keeper = await bus.connect();
    await keeper.maxMessages(1_000_000);
    await keeper.bind('$.Keep');
    const batches = 12_000;
    const batch = keepOneBatch(64 * 1024);
    const baseline = rssKb(bus.pid);
    await within(
      sendRaw(bus.daemon.socket, batch.bytes, batches, batch.frames),
      'kbusd to take 12,000 reads of 64 KiB',
      60_000,
    );
    assert.equal(await keeper.numMessages(), batches, 'every kept message is queued');
    const growth = peakRssKb(bus.pid) - baseline;
    console.log(`# kbusd grew ${(growth / 1024).toFixed(0)} MiB keeping ${batches} small messages`);
    const pinnedIfKept = (batches * 64 * 1024) / 1024;
    assert.ok(
      growth < pinnedIfKept / 4,
      `kbusd grew ${growth} kB, as if the kept messages held their reads (${pinnedIfKept} kB)`,
    );
  } finally {
    await bus.close();
  }
});

/** `length` bytes of SENDMSG frames: one to `$.Keep`, the rest to `$.Drop`. */
function keepOneBatch(length: number): { bytes: Uint8Array; frames: number } {
  const frames: Uint8Array[] = [];
  const keep = encodeMessage({ name: '$.Keep', data: new Uint8Array(40) });
  const drop = encodeMessage({ name: '$.Drop', data: new Uint8Array(40) });
  let size = 0;
  let tag = 1;
  for (let m = keep; size + 12 + m.length <= length; m = drop) {
    const frame = encodeFrame(Op.SENDMSG, tag++, [], m);
    frames.push(frame);
    size += frame.length;
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const frame of frames) {
    bytes.set(frame, at);
    at += frame.length;
  }
  return { bytes, frames: frames.length };
}

/** Opens a Ksock on a raw connection, writes `batch` `count` times, and waits for every answer. */
async function sendRaw(socket: string, batch: Uint8Array, count: number, perBatch: number) {
  const conn = connect(socket);
  await new Promise<void>((resolve, reject) => {
    conn.once('connect', resolve);
    conn.once('error', reject);
  });
  const expected = 1 + count * perBatch;
  let answered = 0;
  const decoder = new FrameDecoder(1 << 20);
  const done = new Promise<void>((resolve, reject) => {
    conn.on('data', (chunk: Buffer) => {
      decoder.push(chunk, (frame) => {
        if (frame.payload.length >= 4 && readU32LE(frame.payload, 0) !== 0) {
          reject(new Error(`op ${frame.op} tag ${frame.tag} failed`));
        }
        if (++answered === expected) resolve();
      });
    });
    conn.once('error', reject);
  });
  conn.write(encodeFrame(Op.OPEN, 0xffff_fff0, [PROTOCOL_VERSION, 0, 3, process.pid]));
  for (let i = 0; i < count; i++) {
    if (!conn.write(batch)) await new Promise((resolve) => conn.once('drain', resolve));
  }
  await done;
  conn.destroy();
}

test('an idle Ksock costs kbusd little memory: 1,000 of them well under 32 KB each', async () => {
  const bus = await kbusd([]);
  try {
    // Some first, so that what every connection shares is already there.
    await Promise.all(Array.from({ length: 20 }, () => bus.connect()));
    const baseline = rssKb(bus.pid);
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 100 }, () => bus.connect()));
    }
    const each = (rssKb(bus.pid) - baseline) / 1000;
    console.log(`# ${each.toFixed(1)} kB per idle Ksock`);
    // An output buffer touched whole for each connection would be 64 kB alone.
    assert.ok(each < 32, `${each.toFixed(1)} kB per idle Ksock`);
  } finally {
    await bus.close();
  }
});
