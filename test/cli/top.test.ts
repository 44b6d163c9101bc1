/**
 * `kbus top` in a real pseudo-terminal (fixtures/pty-run.py, with a set
 * window size) against a real kbusd: it starts, draws a screen that fits
 * the window, and quits on q or Ctrl-C with exit 0. Without a terminal it
 * exits 64 and suggests `kbus stats`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { drawTop } from '../../src/cli/commands/top.js';
import type { BindingRecord, DeviceStats } from '../../src/cli/proc-parse.js';
import { Ksock } from '../../src/client/index.js';
import { type RunningDaemon, startDaemon } from '../support/daemon.js';
import {
  assertExit,
  inTerminal,
  kbus,
  killStragglers,
  stripEscapes,
  type TerminalRun,
} from './helpers.js';

const ENTER = '\x1b[?1049h';
const LEAVE = '\x1b[?1049l';
const HOME_CLEAR = '\x1b[H\x1b[2J';

/** Runs `kbus top ARGS` in a cols x rows terminal; types `keys` (default q) once `device 0` is on screen. */
function topInTerminal(
  args: string[],
  options: { cols: number; rows: number; keys?: string },
): Promise<TerminalRun> {
  return inTerminal(['top', ...args], { expect: 'device 0', keys: 'q', ...options });
}

/** The last screen drawn, escape codes removed, as lines. */
function lastScreen(output: string): string[] {
  const start = output.lastIndexOf(HOME_CLEAR);
  assert.ok(start >= 0, `nothing drawn: ${JSON.stringify(output)}`);
  let screen = output.slice(start + HOME_CLEAR.length);
  const end = screen.indexOf('\x1b[?25h');
  if (end >= 0) screen = screen.slice(0, end);
  return stripEscapes(screen).split(/\r?\n/);
}

describe('kbus top', () => {
  let daemon: RunningDaemon;
  let socket: string;
  const clients: Ksock[] = [];

  before(async () => {
    daemon = await startDaemon();
    socket = daemon.socket;
  });

  after(async () => {
    await killStragglers();
    for (const client of clients) await client.close().catch(() => {});
    await daemon.stop();
  });

  async function client(): Promise<Ksock> {
    const ksock = await Ksock.connect({ socket });
    clients.push(ksock);
    return ksock;
  }

  test('in a 100x30 terminal: draws devices, Ksocks and bindings, and quits on q (exit 0)', async () => {
    const listener = await client();
    await listener.bind('$.Top.Watched');
    const replier = await client();
    await replier.bind('$.Top.Service', { replier: true });
    await listener.send({ name: '$.Top.Watched', data: 'queued' });

    const run = await topInTerminal(['--socket', socket], { cols: 100, rows: 30 });
    assert.equal(run.timedOut, false, `timed out: ${JSON.stringify(run.output)}`);
    assert.equal(run.seen, true);
    assert.equal(run.sent, true);
    assert.equal(run.exitCode, 0, `exit ${run.exitCode}: ${JSON.stringify(run.output)}`);
    // It took over the screen (alternate screen) and gave it back on quitting.
    assert.ok(run.output.includes(ENTER));
    assert.ok(run.output.lastIndexOf(LEAVE) > run.output.lastIndexOf(HOME_CLEAR));

    const screen = lastScreen(run.output);
    const text = screen.join('\n');
    assert.match(screen[0]!, /^kbus top: /);
    assert.ok(screen[0]!.includes(socket), screen[0]);
    assert.match(text, /q to quit/);
    assert.match(text, /^device 0 {2}\d+ Ksocks {2}(-|[\d,]+) msg\/s {2}next msg \d+/m);
    assert.match(text, /KSOCK +PID +QUEUE +UNREPLIED +AWAITING +BINDINGS/);
    const row = (id: number) => screen.find((line) => new RegExp(`^ +${id} `).test(line));
    assert.match(
      row(listener.id)!,
      new RegExp(`^ +${listener.id} +${process.pid} .* 1/100 .*L \\$\\.Top\\.Watched`),
    );
    assert.match(
      row(replier.id)!,
      new RegExp(`^ +${replier.id} +${process.pid} .*R \\$\\.Top\\.Service`),
    );
    // kbus top reads the bus without a Ksock of its own: only the test's two are listed.
    assert.match(text, /^device 0 {2}2 Ksocks /m);
    for (const line of screen) assert.ok(line.length <= 100, `wider than 100: ${line}`);
    assert.ok(screen.length <= 29, `${screen.length} lines in a 30-line terminal`);
  });

  test('in a small terminal (60x10) with many Ksocks the screen is cut to fit; Ctrl-C quits (exit 0)', async () => {
    for (let i = 0; i < 20; i++) {
      const k = await client();
      await k.bind(`$.Top.Many.Name.That.Is.Quite.Long.Indeed.${i}`);
    }
    const run = await topInTerminal(['--socket', socket, '--interval', '0.5'], {
      cols: 60,
      rows: 10,
      keys: '\\x03',
    });
    assert.equal(run.timedOut, false, `timed out: ${JSON.stringify(run.output)}`);
    assert.equal(run.exitCode, 0, `exit ${run.exitCode}: ${JSON.stringify(run.output)}`);
    const screen = lastScreen(run.output);
    assert.ok(screen.length <= 9, `${screen.length} lines in a 10-line terminal`);
    for (const line of screen) assert.ok(line.length <= 60, `wider than 60: ${line}`);
    assert.match(screen.join('\n'), /device 0/);
  });

  test('with stdout not a terminal it exits 64, suggesting kbus stats', async () => {
    const result = await kbus(['top'], { socket });
    assertExit(result, 64);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /needs a terminal/);
    assert.match(result.stderr, /kbus stats/);
  });

  test('--interval that is not a positive number exits 64', async () => {
    const result = await kbus(['top', '--interval', '0'], { socket });
    assertExit(result, 64);
  });
});

describe('drawTop (one screen of kbus top)', () => {
  const devices: DeviceStats[] = [
    {
      index: 0,
      nextKsock: 12,
      nextMessage: 345,
      unsentUnbindings: 0,
      tragic: false,
      ksocks: [
        { id: 11, queued: 95, maxMessages: 100, sending: true, outstanding: 2, unreplied: 3 },
        { id: 7, queued: 0, maxMessages: 100, sending: false, outstanding: 0, unreplied: 0 },
      ],
    },
    {
      index: 1,
      nextKsock: 3,
      nextMessage: 1,
      unsentUnbindings: 4,
      tragic: true,
      ksocks: [],
    },
  ];
  const bindings: BindingRecord[] = [
    { device: 0, ksock: 11, pid: 4242, replier: true, name: '$.Svc' },
    { device: 0, ksock: 11, pid: 4242, replier: false, name: '$.News.*' },
  ];
  const plain = (screen: string) => stripEscapes(screen).split('\n');

  test('the header, each device, each Ksock with its pid, queue and bindings', () => {
    const screen = plain(drawTop(devices, bindings, new Map([[0, 1234.4]]), 'HEADER', 200, 50));
    assert.equal(screen[0], 'HEADER');
    const text = screen.join('\n');
    assert.match(
      text,
      /^device 0 {2}2 Ksocks {2}1,234 msg\/s {2}next msg 345 {2}unsent unbind events 0$/m,
    );
    assert.match(
      text,
      /^device 1 {2}0 Ksocks {2}- msg\/s {2}next msg 1 {2}unsent unbind events 4 \(gone tragic\)$/m,
    );
    const row11 = screen.find((l) => /^ +11 /.test(l))!;
    assert.match(row11, /^ +11 +4242 +#{10} 95\/100 +3 +2 +R \$\.Svc, L \$\.News\.\* sending$/);
    const row7 = screen.find((l) => /^ +7 /.test(l))!;
    assert.match(row7, /^ +7 +-{10} 0\/100 +0 +0 +$/);
  });

  test('the numbers line up under their column headings', () => {
    const screen = plain(drawTop(devices, bindings, new Map(), 'HEADER', 200, 50));
    const heading = screen.find((l) => l.includes('KSOCK'))!;
    const row = screen.find((l) => /^ +11 /.test(l))!;
    // Right-aligned numbers end where their heading ends.
    const end = (label: string) => heading.indexOf(label) + label.length;
    assert.equal(row.indexOf(' 11 ') + 3, end('KSOCK'), `KSOCK:\n${heading}\n${row}`);
    assert.equal(row.indexOf('4242') + 4, end('PID'), `PID:\n${heading}\n${row}`);
    assert.equal(row.indexOf('#'), heading.indexOf('QUEUE'), `QUEUE:\n${heading}\n${row}`);
    assert.equal(row.indexOf(' 3 ') + 2, end('UNREPLIED'), `UNREPLIED:\n${heading}\n${row}`);
    assert.equal(row.indexOf(' 2 ') + 2, end('AWAITING'), `AWAITING:\n${heading}\n${row}`);
    assert.equal(
      row.indexOf('R $.Svc'),
      heading.indexOf('BINDINGS'),
      `BINDINGS:\n${heading}\n${row}`,
    );
  });

  test('cut to the width and height given', () => {
    const many: DeviceStats = {
      ...devices[0]!,
      ksocks: Array.from({ length: 40 }, (_, i) => ({ ...devices[0]!.ksocks[0]!, id: i + 1 })),
    };
    const screen = plain(drawTop([many], bindings, new Map(), 'HEADER', 30, 12));
    assert.equal(screen.length, 11);
    for (const line of screen) assert.ok(line.length <= 30, line);
  });

  test('in cluster mode, a proxy replier shows the bus and Ksock holding the name', () => {
    const proxied: BindingRecord[] = [
      ...bindings,
      { device: 0, ksock: 7, pid: 4000, replier: true, name: '$.Far' },
    ];
    const remote = [
      { device: 0, name: '$.Svc', bus: 1, ksock: 11 },
      { device: 0, name: '$.Far', bus: 2, ksock: 5 },
    ];
    const text = plain(drawTop(devices, proxied, new Map(), 'HEADER', 200, 50, remote)).join('\n');
    // Ksock 7 proxies $.Far for bus 2's Ksock 5; Ksock 11 holds $.Svc itself.
    assert.match(text, /^ +7 +4000 .*R \$\.Far \(bus 2 Ksock 5\)$/m);
    assert.match(text, /^ +11 +4242 .*R \$\.Svc, L \$\.News\.\*/m);
    assert.doesNotMatch(text, /\$\.Svc \(bus/);
  });
});
