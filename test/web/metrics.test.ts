/**
 * kbusd --http: GET /metrics in the Prometheus text format, read by a small
 * parser of the format's lines, against real traffic through a real kbusd;
 * GET /healthz; unknown paths and methods.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import { type RunningDaemon, startDaemon, tempDir } from '../support/daemon.js';
import { waitFor, within } from '../support/wait.js';

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

interface Exposition {
  readonly samples: Sample[];
  readonly types: Map<string, string>;
  readonly helps: Set<string>;
}

/** The text format, line by line: HELP, TYPE and `name{l="v",...} value`. Throws on any other line. */
function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const helps = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') types.set(meta[2]!, meta[3]!);
      else helps.add(meta[2]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not an exposition line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const pairs = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;
    const body = m[2] ?? '';
    for (let p = pairs.exec(body); p !== null; p = pairs.exec(body)) {
      labels[p[1]!] = p[2]!.replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
      if (pairs.lastIndex === body.length) break;
    }
    assert.equal(Object.keys(labels).length, body === '' ? 0 : body.split('="').length - 1, line);
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, types, helps };
}

function value(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  const found = e.samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  assert.equal(
    found.length,
    1,
    `one sample ${name}${JSON.stringify(labels)}, found ${found.length}`,
  );
  return found[0]!.value;
}

/** The HTTP address kbusd --http logged. */
function httpBase(daemon: RunningDaemon): string {
  const m = /metrics and console on (http:\/\/\S+?)\/(\s|$)/.exec(daemon.stderr());
  assert.ok(m, `kbusd said where it serves HTTP: ${daemon.stderr()}`);
  return m[1]!;
}

describe('kbusd --http', () => {
  let daemon: RunningDaemon;
  let base: string;
  const ksocks: Ksock[] = [];

  before(async () => {
    daemon = await startDaemon(['--http', '127.0.0.1:0', '--devices', '2']);
    base = httpBase(daemon);
  });
  after(async () => {
    for (const k of ksocks) await k.close();
    await daemon.stop();
  });

  async function scrape(): Promise<Exposition> {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return parseExposition(await res.text());
  }

  test('/metrics counts what real traffic did, per device', async () => {
    const open = async (options = {}) => {
      const k = await Ksock.connect(daemon.socket, options);
      ksocks.push(k);
      return k;
    };
    const sender = await open();
    const listener = await open();
    const full = await open();
    const replier = await open();
    await listener.bind('$.m.*');
    await full.bind('$.m.a');
    await full.maxMessages(1);
    await replier.bind('$.m.req', { replier: true });
    const other = await open({ device: 1 });

    const before = await scrape();
    assert.equal(value(before, 'kbus_ksocks', { device: '0' }), 4);
    assert.equal(value(before, 'kbus_ksocks', { device: '1' }), 1);
    assert.equal(value(before, 'kbus_messages_sent_total', { device: '0' }), 0);

    // Three announcements: the listener gets each, `full` only the first.
    for (let i = 0; i < 3; i++) await sender.announce('$.m.a', 'x');
    // A request answered; another left unanswered when its replier goes away.
    const answered = sender.request('$.m.req', 'q1', { timeout: 20_000 });
    const req = await within(replier.receive(), 'the request');
    await replier.replyTo(req, 'r1');
    await answered;
    const pending = sender.request('$.m.req', 'q2', { timeout: 20_000 });
    await waitFor(
      async () => value(await scrape(), 'kbus_requests_outstanding', { device: '0' }) === 1,
      'one request outstanding',
    );
    // The request stays unread in the replier's queue: closing it answers GoneAway.
    await replier.close();
    const status = await pending;
    assert.equal(status.name, '$.KBUS.Replier.GoneAway');
    await other.announce('$.d1.nobody', 'x');

    const e = await scrape();
    // 3 announcements, 2 requests, 1 reply.
    assert.equal(value(e, 'kbus_messages_sent_total', { device: '0' }), 6);
    // Copies: the announcements 3 to the listener and 1 to full; each request
    // to the replier and the listener; the reply to the sender and the
    // listener (listeners hear replies too); GoneAway to the sender.
    assert.equal(value(e, 'kbus_messages_delivered_total', { device: '0' }), 4 + 2 + 2 + 2 + 1);
    assert.equal(value(e, 'kbus_messages_missed_total', { device: '0' }), 2);
    // /api/state says which Ksock missed them (the console's tap shows its own).
    const state = await (await fetch(`${base}/api/state`)).json();
    const shown = state.devices[0].ksocks as { id: number; missed: number }[];
    assert.deepEqual(
      shown.filter((k) => k.missed > 0).map((k) => [k.id, k.missed]),
      [[full.id, 2]],
    );
    assert.equal(
      value(e, 'kbus_status_messages_total', { device: '0', name: '$.KBUS.Replier.GoneAway' }),
      1,
    );
    assert.equal(
      value(e, 'kbus_status_messages_total', { device: '0', name: '$.KBUS.Replier.Ignored' }),
      0,
    );
    assert.equal(value(e, 'kbus_requests_outstanding', { device: '0' }), 0);
    assert.equal(value(e, 'kbus_ksocks', { device: '0' }), 3);
    // What waits: 6 in the listener (3 announcements, 2 requests, 1 reply), 1 in full.
    assert.equal(value(e, 'kbus_queued_messages', { device: '0' }), 7);
    assert.ok(value(e, 'kbus_queued_bytes', { device: '0' }) > 0);
    assert.ok(value(e, 'kbus_queue_budget_bytes', { scope: 'ksock' }) > 0);
    assert.ok(
      value(e, 'kbus_queue_budget_bytes', { scope: 'total' }) >=
        value(e, 'kbus_queue_budget_bytes', { scope: 'ksock' }),
    );
    assert.equal(value(e, 'kbus_messages_sent_total', { device: '1' }), 1);
    assert.equal(value(e, 'kbus_messages_delivered_total', { device: '1' }), 0);
    const listenerName = `unix:${daemon.socket}`;
    assert.equal(value(e, 'kbus_connections_open', { listener: listenerName }), 4);
    assert.equal(value(e, 'kbus_connections_accepted_total', { listener: listenerName }), 5);
    // Every family has its HELP and TYPE; counters end in _total.
    for (const s of e.samples) {
      assert.ok(e.helps.has(s.name), `HELP for ${s.name}`);
      const type = e.types.get(s.name);
      assert.ok(type === 'counter' || type === 'gauge', `TYPE for ${s.name}`);
      assert.equal(type === 'counter', s.name.endsWith('_total'), s.name);
    }
  });

  test('a send nobody could take is counted as refused, by errno', async () => {
    const k = await Ksock.connect(daemon.socket);
    ksocks.push(k);
    await assert.rejects(k.request('$.m.nobody', '', { timeout: 20_000 }), {
      code: 'EADDRNOTAVAIL',
    });
    const e = await scrape();
    assert.equal(value(e, 'kbus_sends_refused_total', { device: '0', errno: 'EADDRNOTAVAIL' }), 1);
  });

  test('/healthz says ok while the daemon serves', async () => {
    const res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok\n');
  });

  test('unknown paths are 404, other methods 405', async () => {
    assert.equal((await fetch(`${base}/nothing`)).status, 404);
    assert.equal((await fetch(`${base}/js/../daemon/main.js`)).status, 404);
    assert.equal((await fetch(`${base}/js/daemon/main.js`)).status, 404);
    const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
  });

  test('a bad --http address is a usage error', async () => {
    await assert.rejects(startDaemon(['--http', 'nowhere']), /--http takes HOST:PORT/);
  });
});

describe('kbusd --http under a policy', () => {
  const sha = (token: string) => createHash('sha256').update(token).digest('hex');
  const dir = tempDir('kbus-http-policy-');
  let daemon: RunningDaemon;
  let base: string;

  before(async () => {
    const policy = join(dir.path, 'kbus.policy');
    writeFileSync(
      policy,
      `user watcher token sha256:${sha('watch-token')}\nuser worker token sha256:${sha('work-token')}\nallow watcher inspect\nallow worker open 0 rw\n`,
    );
    daemon = await startDaemon(['--http', '127.0.0.1:0', '--policy', policy]);
    base = httpBase(daemon);
  });
  after(async () => {
    await daemon.stop();
    dir.remove();
  });

  test('/metrics and /api/state need the token of an identity with an inspect rule', async () => {
    for (const path of ['/metrics', '/api/state']) {
      const none = await fetch(`${base}${path}`);
      assert.equal(none.status, 401, `${path} without a token`);
      assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
      const wrong = await fetch(`${base}${path}`, { headers: { authorization: 'Bearer nope' } });
      assert.equal(wrong.status, 401, `${path} with an unknown token`);
      const worker = await fetch(`${base}${path}`, {
        headers: { authorization: 'Bearer work-token' },
      });
      assert.equal(worker.status, 401, `${path} for an identity without inspect`);
      const watcher = await fetch(`${base}${path}`, {
        headers: { authorization: 'Bearer watch-token' },
      });
      assert.equal(watcher.status, 200, `${path} for an identity with inspect`);
      const cookie = await fetch(`${base}${path}`, {
        headers: { cookie: 'kbus_token=watch-token' },
      });
      assert.equal(cookie.status, 200, `${path} with the token as a cookie`);
    }
  });

  test('/healthz and the console page itself need no token', async () => {
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/`)).status, 200);
  });
});
