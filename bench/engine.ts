/**
 * The in-process engine: announcement throughput (1 to 1 and 1 to 4
 * wildcard listeners), request/reply round trips, and the cost of a send as
 * unrelated bindings pile up.
 */
import { Engine, type EngineKsock as Ksock } from '../src/engine/index.js';
import { Flags, type Message } from '../src/wire/index.js';
import {
  type Check,
  checked,
  clock,
  count,
  line,
  measure,
  measureAll,
  type Sample,
  spread,
  timed,
} from './harness.js';

/** Messages sent per batch before the recipients drain their queues. */
const BATCH = 1000;
const DATA_BYTES = 64;
/** The performance goals these figures are held to. */
const FLOOR_DELIVERED_PER_S = 1_000_000;
const CEILING_ROUTING_RATIO = 1.5;

const DATA = new Uint8Array(DATA_BYTES).fill(0x5a);

/** Counts what was sent and what arrived, to show that nothing was lost or reordered. */
class Tally {
  expected = 0;
  delivered = 0;
  bad = 0;
  private lastSerial = new Map<Ksock, number>();

  /** Checks one delivered message: our data, and serial numbers ascending per recipient. */
  take(recipient: Ksock, m: Message): void {
    const last = this.lastSerial.get(recipient) ?? 0;
    if (m.data.length !== DATA_BYTES || m.id.serialNum <= last) this.bad++;
    this.lastSerial.set(recipient, m.id.serialNum);
    this.delivered++;
  }

  /** Prints the verification and returns it as a check. */
  report(label: string): Check {
    const lost = this.expected - this.delivered;
    const ok = lost === 0 && this.bad === 0;
    const text = `${count(this.delivered)} of ${count(this.expected)} delivered, ${count(lost)} lost, ${count(this.bad)} bad`;
    console.log(`    verified: ${text}${ok ? '' : '  FAIL'}`);
    return { label: `${label}: nothing lost`, pass: ok, kind: 'verify' };
  }
}

/** Reads a Ksock's queue dry, one message at a time. */
function drainOne(ksock: Ksock, tally: Tally): number {
  let n = 0;
  for (let m = ksock.nextMessage(); m !== undefined; m = ksock.nextMessage()) {
    tally.take(ksock, m);
    n++;
  }
  return n;
}

/** Reads a Ksock's queue dry, many messages per call. */
function drainMany(ksock: Ksock, tally: Tally): number {
  let n = 0;
  for (;;) {
    const batch = ksock.nextMessages(BATCH, 1 << 20);
    if (batch.length === 0) return n;
    for (const m of batch) tally.take(ksock, m);
    n += batch.length;
  }
}

// --- Announcements ----------------------------------------------------------------

interface Fanout {
  /** Median messages delivered per second. */
  perSecond: number;
  checks: Check[];
}

/** 1 sender, `listeners` listeners bound to `bindName`, sending `sendName`: delivered/s. */
function announcements(
  label: string,
  listeners: number,
  bindName: string,
  sendName: string,
  drain: (ksock: Ksock, tally: Tally) => number,
): Fanout {
  const engine = new Engine();
  const sender = engine.open();
  const readers: Ksock[] = [];
  for (let i = 0; i < listeners; i++) {
    const ksock = engine.open();
    ksock.bind(bindName);
    ksock.setMaxMessages(BATCH);
    readers.push(ksock);
  }
  const tally = new Tally();
  const m = measure(
    timed(() => {
      for (let i = 0; i < BATCH; i++) sender.sendMessage({ name: sendName, data: DATA });
      tally.expected += BATCH * listeners;
      let delivered = 0;
      for (const reader of readers) delivered += drain(reader, tally);
      return delivered;
    }),
  );
  const pass = m.perSecond >= FLOOR_DELIVERED_PER_S;
  const checks: Check[] = [];
  if (listeners === 1) {
    checks.push(
      checked(
        label,
        `${count(m.perSecond)} msg/s`,
        pass,
        `floor ${count(FLOOR_DELIVERED_PER_S)}`,
        spread(m),
      ),
    );
  } else {
    line(label, `${count(m.perSecond)} msg/s`, spread(m));
  }
  checks.push(tally.report(label));
  return { perSecond: m.perSecond, checks };
}

// --- Requests and replies ---------------------------------------------------------

/** `inFlight` Requests sent, then answered, then the Replies read: round trips/s. */
function roundTrips(label: string, inFlight: number): Check[] {
  const engine = new Engine();
  const client = engine.open();
  const server = engine.open();
  const name = '$.bench.rpc';
  server.bind(name, true);
  // The client's queue must hold every Reply it awaits (they reserve room).
  client.setMaxMessages(inFlight + 1);
  server.setMaxMessages(inFlight + 1);
  const tally = new Tally();
  let mismatched = 0;
  const sent: number[] = new Array(inFlight);
  const m = measure(
    timed(() => {
      for (let i = 0; i < inFlight; i++) {
        sent[i] = client.sendMessage({ name, data: DATA, flags: Flags.WANT_A_REPLY }).serialNum;
      }
      for (let request = server.nextMessage(); request; request = server.nextMessage()) {
        server.sendMessage({
          name: request.name,
          data: DATA,
          inReplyTo: request.id,
          to: request.from,
        });
      }
      let i = 0;
      for (let reply = client.nextMessage(); reply; reply = client.nextMessage()) {
        if (reply.inReplyTo.serialNum !== sent[i++]) mismatched++;
        tally.take(client, reply);
      }
      tally.expected += inFlight;
      return i;
    }),
  );
  tally.bad += mismatched + server.unrepliedTo();
  line(label, `${count(m.perSecond)} rt/s`, `${(m.nsPerOp / 1000).toFixed(2)} us/rt, ${spread(m)}`);
  return [tally.report(label)];
}

// --- Routing cost -------------------------------------------------------------------

const OTHER_KSOCKS = 10;

/**
 * An engine with one listener for the names sent and `unrelated` bindings
 * that match none of them: half plain names (`$.other.N`), half wildcards
 * (`$.other.N.*`), spread over ten Ksocks. Each batch sends BATCH messages
 * (timed: the send, which includes delivery to the queue), then drains
 * (untimed). `names` are sent in turn.
 */
function routingBench(unrelated: number, bindName: string, names: readonly string[]) {
  const engine = new Engine();
  const sender = engine.open();
  const target = engine.open();
  target.bind(bindName);
  target.setMaxMessages(BATCH);
  const others: Ksock[] = [];
  for (let i = 0; i < OTHER_KSOCKS; i++) others.push(engine.open());
  for (let i = 0; i < unrelated; i++) {
    others[i % OTHER_KSOCKS]!.bind(i % 2 === 0 ? `$.other.${i}` : `$.other.${i}.*`);
  }
  const tally = new Tally();
  let next = 0;
  const batch = (): Sample => {
    const elapsed = clock();
    for (let i = 0; i < BATCH; i++) {
      sender.sendMessage({ name: names[next]!, data: DATA });
      if (++next === names.length) next = 0;
    }
    const ns = elapsed();
    tally.expected += BATCH;
    drainOne(target, tally);
    return { ops: BATCH, ns };
  };
  return { batch, tally };
}

function routing(label: string, bindName: string, names: readonly string[]): Check[] {
  const small = routingBench(10, bindName, names);
  const large = routingBench(100_000, bindName, names);
  // Runs alternate between the two engines, so that noise hits both alike.
  const [a, b] = measureAll([small.batch, large.batch]);
  const pairs = a!.runs.map((rate, i) => rate / b!.runs[i]!).sort((x, y) => x - y);
  const ratio = pairs[pairs.length >> 1]!;
  line(`${label}, 10 unrelated bindings`, `${a!.nsPerOp.toFixed(0)} ns/send`, spread(a!));
  line(`${label}, 100,000 unrelated bindings`, `${b!.nsPerOp.toFixed(0)} ns/send`, spread(b!));
  return [
    checked(
      `${label}, ratio 100,000 / 10`,
      `${ratio.toFixed(2)}x`,
      ratio <= CEILING_ROUTING_RATIO,
      `ceiling ${CEILING_ROUTING_RATIO}x`,
      `(median of paired runs)`,
    ),
    small.tally.report(`${label}, 10`),
    large.tally.report(`${label}, 100,000`),
  ];
}

// --- The section ----------------------------------------------------------------------

export function engineSection(): Check[] {
  const checks: Check[] = [];
  console.log(
    `  (batches of ${count(BATCH)} sends then drain; ${DATA_BYTES}-byte data; median of timed runs)`,
  );

  checks.push(
    ...announcements('1 -> 1 announcements, nextMessage', 1, '$.bench.one', '$.bench.one', drainOne)
      .checks,
  );
  checks.push(
    ...announcements(
      '1 -> 1 announcements, nextMessages',
      1,
      '$.bench.one',
      '$.bench.one',
      drainMany,
    ).checks,
  );

  const fan = announcements(
    "1 -> 4 listeners on '$.bench.*', delivered",
    4,
    '$.bench.*',
    '$.bench.fan',
    drainOne,
  );
  line("1 -> 4 listeners on '$.bench.*', sends", `${count(fan.perSecond / 4)} send/s`);
  checks.push(...fan.checks);

  checks.push(...roundTrips('request/reply, 1 in flight', 1));
  checks.push(...roundTrips('request/reply, 100 in flight', 100));

  // One name over and over: the router's per-name route cache answers.
  checks.push(...routing('send cost, one name', '$.bench.route', ['$.bench.route']));
  // 20,000 names in turn: more than the route cache keeps, so every send routes afresh.
  const names = Array.from({ length: 20_000 }, (_, i) => `$.bench.route.n${i}`);
  checks.push(...routing('send cost, 20,000 names', '$.bench.route.*', names));
  return checks;
}
