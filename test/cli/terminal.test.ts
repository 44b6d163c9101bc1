/**
 * `kbus` with a real terminal (fixtures/pty-run.py) against a real kbusd:
 * colours and the listening note on a terminal (and none with NO_COLOR),
 * Ctrl-C, `stats --watch` redrawing in place, and speed's progress bar.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import { type RunningDaemon, startDaemon } from '../support/daemon.js';
import {
  bindingsText,
  inTerminal,
  killStragglers,
  stripEscapes,
  type TerminalRun,
  waitFor,
} from './helpers.js';

describe('kbus in a terminal', () => {
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

  /** Runs `kbus listen NAME` in a terminal, sends it one message, then types Ctrl-C. */
  async function listenInTerminal(name: string, env?: NodeJS.ProcessEnv): Promise<TerminalRun> {
    const run = inTerminal(['--socket', socket, 'listen', name], {
      expect: 'data "to a terminal"',
      keys: '\\x03',
      env,
    });
    run.catch(() => {}); // awaited below; no unhandled rejection meanwhile
    await waitFor(async () => (await bindingsText(socket)).includes(name), `${name} to be bound`);
    const sender = await Ksock.connect({ socket });
    try {
      await sender.send({ name, data: 'to a terminal' });
    } finally {
      await sender.close();
    }
    return run;
  }

  test('listen: a note on stderr, coloured lines, and Ctrl-C stops it (exit 0)', async () => {
    const run = await listenInTerminal('$.Term.Colour');
    assert.equal(run.timedOut, false, JSON.stringify(run.output));
    assert.equal(run.exitCode, 0, JSON.stringify(run.output));
    const text = stripEscapes(run.output);
    assert.match(text, /listening to \$\.Term\.Colour as Ksock \d+ \(Ctrl-C to stop\)/);
    assert.match(
      text,
      /announcement \{0,\d+\} \$\.Term\.Colour from \d+ to 0 data "to a terminal"/,
    );
    assert.ok(run.output.includes('\x1b['), 'colours on a terminal');
  });

  test('listen with NO_COLOR: no escape codes even on a terminal', async () => {
    const run = await listenInTerminal('$.Term.NoColour', { NO_COLOR: '1' });
    assert.equal(run.exitCode, 0, JSON.stringify(run.output));
    assert.match(run.output, /announcement \{0,\d+\} \$\.Term\.NoColour /);
    assert.ok(!run.output.includes('\x1b['), JSON.stringify(run.output));
  });

  test('stats --watch redraws in place on a terminal; Ctrl-C stops it (exit 0)', async () => {
    const run = await inTerminal(['--socket', socket, 'stats', '--watch', '--interval', '0.2'], {
      expect: 'dev  0: next ksock',
      keys: '\\x03',
    });
    assert.equal(run.timedOut, false, JSON.stringify(run.output));
    assert.equal(run.exitCode, 0, JSON.stringify(run.output));
    assert.ok(run.output.startsWith('\x1b[H\x1b[2J'), JSON.stringify(run.output.slice(0, 40)));
  });

  test('speed shows a progress bar on a terminal, then the summary', async () => {
    const run = await inTerminal(['--socket', socket, 'speed', '--count', '2000'], {
      expect: 'latency us:',
    });
    assert.equal(run.timedOut, false, JSON.stringify(run.output));
    assert.equal(run.exitCode, 0, JSON.stringify(run.output));
    const text = stripEscapes(run.output);
    assert.match(text, /speed \|[^|]*\| \d+% [\d]+\/2000 messages/);
    assert.match(text, /2,000 of 2,000 messages received in/);
    assert.match(text, /latency us: p50 /);
  });
});
