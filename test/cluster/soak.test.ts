/**
 * Cluster soak (docs/cluster.md section 7): three kbusd on one nats-server,
 * requesters on every bus sending requests without pause, while the
 * repliers of a few names are killed (their Ksock closed with requests
 * queued and read) and started again on a bus chosen at random. Every
 * request whose SEND succeeded must get exactly one answer, a reply with
 * its own data or a status message: zero missing, zero duplicated.
 *
 * It runs for KBUS_SOAK_SECONDS (default 20) seconds: set it higher for a
 * long soak, e.g. `KBUS_SOAK_SECONDS=600 node --test
 * dist/test/cluster/soak.test.js`. The choices (which name, which bus, how
 * long between kills, how long a replier takes) come from a seeded random;
 * the seed is printed, and KBUS_SOAK_SEED=N runs with that seed again (the
 * timing of the processes still varies from run to run).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { type Ksock, Reply, Status } from '../../src/client/index.js';
import { isKbusError } from '../../src/wire/index.js';
import { waitReplier } from '../limpet/helpers.js';
import type { RunningDaemon } from '../support/daemon.js';
import { waitFor, within } from '../support/wait.js';
import { Stack } from './nats.js';

const SECONDS = Number(process.env.KBUS_SOAK_SECONDS ?? 20);
const SEED = Number(process.env.KBUS_SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31));
const NAMES = ['$.soak.a', '$.soak.b', '$.soak.c', '$.soak.d'];
const REQUESTERS_PER_BUS = 3;
const IN_FLIGHT = 4;
/** The status messages a request may get instead of its reply when its replier is killed. */
const STATUSES = new Set([
  '$.KBUS.Replier.GoneAway',
  '$.KBUS.Replier.Ignored',
  '$.KBUS.Replier.Unbound',
  '$.KBUS.Replier.Disappeared',
]);

/** mulberry32: a small seeded generator, so that a failing run's choices can be replayed. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const text = (m: { data: Uint8Array }) => Buffer.from(m.data).toString();

interface Tally {
  sent: number;
  refused: number;
  replies: number;
  statuses: Map<string, number>;
  wrong: string[];
}

describe('cluster mode: soak', () => {
  const stack = new Stack();
  after(() => stack.stop());

  test(`repliers killed and restarted on random buses for ${SECONDS} s: every request answered once`, async (t) => {
    t.diagnostic(`seed ${SEED} (KBUS_SOAK_SEED=${SEED} to replay the choices)`);
    console.log(`# cluster soak: seed ${SEED}, ${SECONDS} s`);
    const random = seeded(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const nats = await stack.nats();
    const buses: RunningDaemon[] = [];
    for (const id of [31, 32, 33]) buses.push(await stack.kbusd([nats.url], id));

    // --- Repliers -------------------------------------------------------------------
    const repliers = new Map<string, Ksock>();
    const serve = (k: Ksock, delays: number[]) => {
      void (async () => {
        for (let i = 0; ; i++) {
          const m = await k.receive();
          if (!m.wantsYouToReply) continue;
          const delay = delays[i % delays.length]!;
          if (delay > 0) await new Promise((r) => setTimeout(r, delay));
          await k.replyTo(m, `${text(m)}!`);
        }
      })().catch(() => {}); // closed: killed
    };
    /** Binds a replier for `name` on `bus`, retrying while the registry still names the killed one. */
    const startReplier = async (name: string, bus: RunningDaemon) => {
      const k = await stack.ksock(bus);
      await k.maxMessages(10_000);
      await waitFor(async () => {
        try {
          await k.bind(name, { replier: true });
          return true;
        } catch (err) {
          if (isKbusError(err, 'EADDRINUSE') || isKbusError(err, 'EAGAIN')) return false;
          throw err;
        }
      }, `${name} to be bound as replier`);
      serve(
        k,
        Array.from({ length: 16 }, () => (random() < 0.7 ? 0 : Math.floor(random() * 30))),
      );
      repliers.set(name, k);
    };
    for (const name of NAMES) await startReplier(name, pick(buses));
    // Every bus sees every name before the requests start.
    const watchers = await Promise.all(buses.map((b) => stack.ksock(b)));
    for (const w of watchers)
      for (const name of NAMES) await waitReplier(w, name, (id) => id !== 0);

    // --- Requesters -----------------------------------------------------------------
    const tally: Tally = { sent: 0, refused: 0, replies: 0, statuses: new Map(), wrong: [] };
    const requesters: Ksock[] = [];
    for (const bus of buses)
      for (let i = 0; i < REQUESTERS_PER_BUS; i++) requesters.push(await stack.ksock(bus));
    let running = true;
    let serial = 0;
    const loop = async (k: Ksock, n: number) => {
      while (running) {
        const name = NAMES[(n + serial) % NAMES.length]!;
        const payload = `r${serial++}`;
        let answer: Reply | Status;
        try {
          // 60 s: far beyond any answer the design allows; a timeout here is a missing answer.
          answer = await k.request(name, payload, { timeout: 60_000 });
        } catch (err) {
          if (isKbusError(err, 'EADDRNOTAVAIL')) {
            // No replier bound at that instant (between a kill and its restart): SEND refused.
            tally.refused++;
            await new Promise((r) => setTimeout(r, 5));
            continue;
          }
          tally.wrong.push(`${name} ${payload}: ${(err as Error).message}`);
          continue;
        }
        tally.sent++;
        if (answer instanceof Reply) {
          tally.replies++;
          if (text(answer) !== `${payload}!`)
            tally.wrong.push(`${name} ${payload}: reply ${text(answer)}`);
        } else if (answer instanceof Status && STATUSES.has(answer.name)) {
          tally.statuses.set(answer.name, (tally.statuses.get(answer.name) ?? 0) + 1);
        } else tally.wrong.push(`${name} ${payload}: ${answer.name}`);
      }
    };
    const loops = requesters.flatMap((k, i) =>
      Array.from({ length: IN_FLIGHT }, (_, j) => loop(k, i * IN_FLIGHT + j)),
    );

    // --- Kills and restarts ---------------------------------------------------------
    let kills = 0;
    const until = Date.now() + SECONDS * 1000;
    while (Date.now() < until && tally.wrong.length === 0) {
      await new Promise((r) => setTimeout(r, 100 + Math.floor(random() * 400)));
      const name = pick(NAMES);
      await repliers.get(name)!.close();
      kills++;
      await startReplier(name, pick(buses));
    }
    running = false;
    await within(Promise.all(loops), 'every outstanding request to be answered', 90_000);

    // A duplicate answer has no request() waiting for it: it would be left in the inbox.
    // Wait one cluster timeout past the last answer, the longest a relayed answer can lag.
    await new Promise((r) => setTimeout(r, 2000));
    for (const k of requesters) {
      assert.equal(k.lateReplies, 0);
      assert.equal(await k.numMessages(), 0);
      assert.equal(await k.next(), undefined, 'a second answer to some request');
    }
    const statuses = [...tally.statuses]
      .map(([n, c]) => `${n.replace('$.KBUS.Replier.', '')} ${c}`)
      .join(', ');
    t.diagnostic(
      `${kills} kills; ${tally.sent} requests: ${tally.replies} replies, ${statuses || 'no statuses'}; ${tally.refused} sends refused (no replier)`,
    );
    assert.deepEqual(tally.wrong, [], `seed ${SEED}`);
    assert.ok(kills >= Math.min(10, SECONDS), `only ${kills} kills`);
    assert.ok(tally.replies > 0, 'no request was ever answered by its replier');
  });
});
