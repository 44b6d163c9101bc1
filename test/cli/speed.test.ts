/**
 * `kbus speed` as a real process against a real kbusd: the JSON result,
 * the text summary, no progress bar when stderr is not a terminal, and bad
 * settings.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type RunningDaemon, startDaemon } from '../support/daemon.js';
import {
  assertExit,
  assertNoColour,
  bindingsText,
  kbus,
  killStragglers,
  waitFor,
} from './helpers.js';

interface SpeedJson {
  listeners: number;
  size: number;
  count: number;
  window: number;
  sent: number;
  received: number;
  lost: number;
  seconds: number;
  messagesPerSecond: number;
  megabytesPerSecond: number;
  latencyMicros: { p50: number; p90: number; p99: number; max: number };
}

describe('kbus speed', () => {
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

  test('--count 2000 --json: one object, 2000 received, none lost', async () => {
    const result = await kbus(['--json', 'speed', '--count', '2000'], {
      socket,
      timeoutMs: 60_000,
    });
    assertExit(result, 0);
    assert.equal(result.stderr, '', 'no progress bar when stderr is not a terminal');
    assert.equal(result.stdout.split('\n').length, 2, 'one line');
    const r = JSON.parse(result.stdout) as SpeedJson;
    assert.equal(r.count, 2000);
    assert.equal(r.listeners, 1);
    assert.equal(r.size, 64);
    assert.equal(r.sent, 2000);
    assert.equal(r.received, 2000);
    assert.equal(r.lost, 0);
    assert.ok(r.seconds > 0);
    assert.ok(r.messagesPerSecond > 0);
    assert.ok(Math.abs(r.messagesPerSecond - r.received / r.seconds) < 1e-6 * r.messagesPerSecond);
    assert.ok(Math.abs(r.megabytesPerSecond - (r.received * 64) / r.seconds / 1e6) < 1e-6);
    const l = r.latencyMicros;
    assert.ok(l.p50 > 0 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.max, JSON.stringify(l));
  });

  test('the text summary: received, messages/s, MB/s and latency percentiles', async () => {
    const result = await kbus(
      ['speed', '--count', '1000', '--listeners', '2', '--size', '100', '--window', '16'],
      { socket, timeoutMs: 60_000 },
    );
    assertExit(result, 0);
    assert.equal(result.stderr, '', 'no progress bar when stderr is not a terminal');
    assertNoColour(result.stdout);
    const [what, ...lines] = result.stdout.split('\n');
    // First, in one line, what was measured.
    assert.match(
      what!,
      /^kbus speed: one sender, 2 listener\(s\), 1,000 announcements of 100 bytes/,
    );
    assert.equal(lines.length, 4);
    assert.match(lines[0]!, /^2,000 of 2,000 messages received in \d+\.\d\d s$/);
    assert.match(lines[1]!, /^[\d,]+ messages\/s, \d+\.\d MB\/s$/);
    assert.match(lines[2]!, /^latency us: p50 [\d,]+, p90 [\d,]+, p99 [\d,]+, max [\d,]+$/);
    assert.equal(lines[3], '');
    const [p50, p90, p99, max] = [...lines[2]!.matchAll(/(?:p\d\d|max) ([\d,]+)/g)].map((m) =>
      Number(m[1]!.replace(/,/g, '')),
    );
    assert.ok(p50! <= p90! && p90! <= p99! && p99! <= max!, lines[2]);
  });

  test('it leaves no bindings behind', async () => {
    await waitFor(
      async () => !/\$\.kbus\.speed\./.test(await bindingsText(socket)),
      "speed's bindings to go",
    );
  });

  test('bad settings exit 64', async () => {
    for (const args of [
      ['--size', '4'],
      ['--count', '0'],
      ['--listeners', '0'],
      ['--listeners', '65'],
      ['--window', 'x'],
    ]) {
      const result = await kbus(['speed', ...args], { socket });
      assertExit(result, 64, `speed ${args.join(' ')}`);
      assert.equal(result.stdout, '');
    }
  });
});
