/**
 * The programs in examples/ run as the README and their first lines say:
 * the quickstart in plain JavaScript, a sensor and a display on a kbusd, a
 * service (a replier) and its client.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ROOT, type RunningDaemon, startDaemon, tempDir } from './support/daemon.js';
import { waitFor, within } from './support/wait.js';

const run = promisify(execFile);
const EXAMPLES = join(ROOT, 'dist', 'examples');

interface Program {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly exited: Promise<number | null>;
  line(text: string): Promise<void>;
}

/** Starts a compiled example with KBUS_SOCKET set, reading its stdout as lines. */
function start(name: string, args: string[], socket: string): Program {
  const child = spawn(process.execPath, [join(EXAMPLES, `${name}.js`), ...args], {
    env: { ...process.env, KBUS_SOCKET: socket },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (text: string) => {
    partial += text;
    const parts = partial.split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    stderr += text;
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  return {
    child,
    lines,
    exited,
    line: (text) =>
      waitFor(() => lines.includes(text), `${name} to print ${JSON.stringify(text)} (${stderr})`),
  };
}

test('examples/quickstart.mjs is the quickstart in plain JavaScript: same output', async () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  assert.ok(readme.includes('node examples/quickstart.mjs'), 'the README says how to run it');
  const expected = await run(process.execPath, [join(EXAMPLES, 'quickstart.js')]);
  const { stdout } = await run(process.execPath, [join(ROOT, 'examples', 'quickstart.mjs')]);
  assert.equal(stdout, expected.stdout);
  assert.match(stdout, /^reply from Ksock 2: 21C\n/);
});

describe('examples on a kbusd', () => {
  let daemon: RunningDaemon;
  const programs: Program[] = [];
  before(async () => {
    daemon = await startDaemon();
  });
  after(async () => {
    for (const p of programs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await daemon.stop();
  });
  function program(name: string, args: string[] = []): Program {
    const p = start(name, args, daemon.socket);
    programs.push(p);
    return p;
  }

  test('sensor.ts and display.ts: the display prints what the sensor announces', async () => {
    const display = program('display', ['3']);
    await display.line('listening to $.Sensors.*');
    const sensor = program('sensor', ['3', '10']);
    assert.equal(await within(sensor.exited, 'the sensor to finish'), 0);
    assert.deepEqual(sensor.lines, ['sent 20.0C', 'sent 20.5C', 'sent 21.0C']);
    assert.equal(await within(display.exited, 'the display to stop after 3'), 0);
    assert.deepEqual(display.lines.slice(1), [
      '$.Sensors.Kitchen.Temperature: 20.0C',
      '$.Sensors.Kitchen.Temperature: 20.5C',
      '$.Sensors.Kitchen.Temperature: 21.0C',
    ]);
  });

  test('upper-service.ts and upper-client.ts: a request answered; Ctrl-C stops the service', async () => {
    const service = program('upper-service');
    await service.line('serving $.Service.Upper');
    const client = program('upper-client', ['hello, bus']);
    assert.equal(await within(client.exited, 'the client to finish'), 0);
    assert.deepEqual(client.lines, ['HELLO, BUS']);
    service.child.kill('SIGINT');
    assert.equal(await within(service.exited, 'the service to stop on SIGINT'), 0);
    // Without the service, the client says so and exits 1.
    const alone = program('upper-client', ['anyone?']);
    assert.equal(await within(alone.exited, 'the client to finish'), 1);
  });

  test('survivor.ts: a listener that carries on across a kbusd restart', async () => {
    // Both daemons serve one path, in a directory that outlives the first.
    const dir = tempDir();
    const socket = join(dir.path, 'kbus.sock');
    const own = await startDaemon(['--socket', socket]);
    const survivor = start('survivor', ['2'], socket);
    programs.push(survivor);
    await survivor.line('listening to $.Sensors.*');
    const announce = async (text: string) => {
      await run(process.execPath, [
        join(ROOT, 'bin', 'kbus'),
        '--socket',
        socket,
        'send',
        '$.Sensors.Door',
        text,
      ]);
    };
    await announce('before');
    await survivor.line('$.Sensors.Door: before');
    assert.equal(await own.stop(), 0);
    await survivor.line('kbusd went away: connecting again');
    const again = await startDaemon(['--socket', socket]);
    try {
      await waitFor(
        () => survivor.lines.filter((l) => l === 'listening to $.Sensors.*').length === 2,
        'the survivor to listen again',
      );
      await announce('after');
      assert.equal(await within(survivor.exited, 'the survivor to stop after 2'), 0);
      assert.ok(survivor.lines.includes('$.Sensors.Door: after'), survivor.lines.join('\n'));
    } finally {
      await again.stop();
      dir.remove();
    }
  });
});
