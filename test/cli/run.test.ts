/**
 * `kbus run`: the environment it gives a program (LD_PRELOAD naming the
 * layer first, KBUS_SOCKET absolute), stdio, exit status and signals
 * passed through, `--print-env` for a shell, and what it says when the
 * layer is missing or no daemon answers. These run a copy of the package
 * whose layer is a stand-in library (an empty one, compiled here), so that
 * they test the command, not the layer (test/compat tests that).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assignment, exitStatus, layerEnvironment } from '../../src/cli/commands/run.js';
import { ROOT, type RunningDaemon, startDaemon, tempDir } from '../support/daemon.js';
import { assertExit, DEADLINE_MS, type Finished, within } from './helpers.js';

/** A copy of the package (bin, dist/src, package.json, node_modules linked), layer optional. */
function packageCopy(dir: string, withLayer: boolean): string {
  mkdirSync(join(dir, 'bin'));
  copyFileSync(join(ROOT, 'bin', 'kbus'), join(dir, 'bin', 'kbus'));
  copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  cpSync(join(ROOT, 'dist', 'src'), join(dir, 'dist', 'src'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  if (withLayer) {
    const build = join(dir, 'compat', 'build');
    mkdirSync(build, { recursive: true });
    const source = join(dir, 'stand-in.c');
    writeFileSync(source, 'int kbus_run_test_stand_in;\n');
    execFileSync('gcc', ['-shared', '-fPIC', '-o', join(build, 'libkbus-compat.so'), source]);
  }
  return join(dir, 'compat', 'build', 'libkbus-compat.so');
}

/** The test's environment without KBUS_SOCKET and LD_PRELOAD, plus `extra`. */
function environment(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.KBUS_SOCKET;
  delete env.LD_PRELOAD;
  return { ...env, ...extra };
}

interface Run extends Finished {
  pid: number;
}

/** Runs the copy's `kbus ARGS`; `onStart` gets the child once it runs (to signal it). */
function runCopy(
  root: string,
  args: string[],
  options: {
    env?: NodeJS.ProcessEnv;
    input?: string;
    onStdout?: (text: string, pid: number) => void;
  } = {},
): Promise<Run> {
  const child = spawn(process.execPath, [join(root, 'bin', 'kbus'), ...args], {
    env: environment(options.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    options.onStdout?.(stdout, child.pid!);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdin.end(options.input ?? '');
  const done = new Promise<Run>((resolve) =>
    child.on('close', (code, signal) =>
      resolve({ code, signal, stdout, stderr, stdoutBytes: Buffer.from(stdout), pid: child.pid! }),
    ),
  );
  return within(done, `kbus ${args.join(' ')}`, DEADLINE_MS).finally(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
}

describe('kbus run', () => {
  const dir = tempDir('kbus-run-');
  const withLayer = join(dir.path, 'with');
  const without = join(dir.path, 'without');
  let layer: string;
  let daemon: RunningDaemon;

  before(async () => {
    mkdirSync(withLayer);
    mkdirSync(without);
    layer = packageCopy(withLayer, true);
    packageCopy(without, false);
    daemon = await startDaemon();
  });

  after(async () => {
    await daemon?.stop();
    dir.remove();
  });

  test('the program gets LD_PRELOAD (the layer before any already set) and KBUS_SOCKET', async () => {
    const show = 'printf "%s\\n%s\\n" "$LD_PRELOAD" "$KBUS_SOCKET"';
    const plain = await runCopy(withLayer, [
      '--socket',
      daemon.socket,
      'run',
      '--',
      'sh',
      '-c',
      show,
    ]);
    assertExit(plain, 0);
    assert.equal(plain.stdout, `${layer}\n${daemon.socket}\n`);
    assert.equal(plain.stderr, '');
    // The earlier library stays preloaded, after the layer.
    const other = join(withLayer, 'compat', 'build', 'libkbus-compat.so');
    const chained = await runCopy(withLayer, ['run', '--', 'sh', '-c', show], {
      env: { LD_PRELOAD: other, KBUS_SOCKET: daemon.socket },
    });
    assertExit(chained, 0);
    assert.equal(chained.stdout, `${layer}:${other}\n${daemon.socket}\n`);
  });

  test('a relative --socket reaches the program as an absolute path', async () => {
    const run = await runCopy(withLayer, [
      '--socket',
      'x/../kbus.sock',
      'run',
      '--',
      'sh',
      '-c',
      'echo "$KBUS_SOCKET"',
    ]);
    assert.equal(run.stdout, `${join(process.cwd(), 'kbus.sock')}\n`);
  });

  test("stdin and stdout pass through; the exit status is the program's", async () => {
    const cat = await runCopy(withLayer, ['--socket', daemon.socket, 'run', '--', 'cat'], {
      input: 'through\n',
    });
    assertExit(cat, 0);
    assert.equal(cat.stdout, 'through\n');
    const seven = await runCopy(withLayer, [
      '--socket',
      daemon.socket,
      'run',
      '--',
      'sh',
      '-c',
      'echo err >&2; exit 7',
    ]);
    assertExit(seven, 7);
    assert.equal(seven.stderr, 'err\n');
  });

  test('a program killed by a signal gives 128 + its number', async () => {
    const killed = await runCopy(withLayer, [
      '--socket',
      daemon.socket,
      'run',
      '--',
      'sh',
      '-c',
      'kill -TERM $$',
    ]);
    assertExit(killed, 143);
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal} sent to kbus reaches the program`, async () => {
      const script = `import signal, sys\nsignal.signal(signal.${signal}, lambda *a: sys.exit(42))\nprint('ready', flush=True)\nsignal.pause()`;
      let sent = false;
      const run = await runCopy(
        withLayer,
        ['--socket', daemon.socket, 'run', '--', 'python3', '-c', script],
        {
          onStdout: (text, pid) => {
            if (!sent && text.includes('ready')) {
              sent = true;
              process.kill(pid, signal);
            }
          },
        },
      );
      assertExit(run, 42);
    });
  }

  test('--print-env prints lines a shell can eval, quoted where needed', async () => {
    const odd = join(dir.path, "it's a socket");
    const printed = await runCopy(withLayer, ['--socket', odd, 'run', '--print-env']);
    assertExit(printed, 0);
    assert.equal(
      printed.stdout,
      `LD_PRELOAD=${layer}\nKBUS_SOCKET='${odd.replace("'", "'\\''")}'\n`,
    );
    const shell = execFileSync('sh', [
      '-c',
      `eval "$1"; printf '%s|%s' "$LD_PRELOAD" "$KBUS_SOCKET"`,
      'sh',
      printed.stdout,
    ]);
    assert.equal(shell.toString(), `${layer}|${odd}`);
    // No kbusd there: a warning, not a failure.
    assert.match(printed.stderr, /warning: no kbusd answers at/);
  });

  test('with no daemon at the socket it warns and still runs the program', async () => {
    const socket = join(dir.path, 'nobody.sock');
    const run = await runCopy(withLayer, ['--socket', socket, 'run', '--', 'sh', '-c', 'echo ran']);
    assertExit(run, 0);
    assert.equal(run.stdout, 'ran\n');
    assert.match(run.stderr, /warning: no kbusd answers at .*nobody\.sock/);
  });

  test('without the layer it says why (no C compiler at install) and exits 69, running nothing', async () => {
    const marker = join(dir.path, 'ran');
    const run = await runCopy(without, ['--socket', daemon.socket, 'run', '--', 'touch', marker]);
    assertExit(run, 69);
    assert.match(run.stderr, /compatibility layer is not built/);
    assert.match(run.stderr, /C compiler/);
    assert.throws(() => execFileSync('test', ['-e', marker]));
    assertExit(await runCopy(without, ['run', '--print-env']), 69);
  });

  test('a program that cannot be found exits 127; no program is a usage error', async () => {
    const missing = await runCopy(withLayer, [
      '--socket',
      daemon.socket,
      'run',
      '--',
      'no-such-program-kbus',
    ]);
    assertExit(missing, 127);
    assert.match(missing.stderr, /cannot run 'no-such-program-kbus': not found/);
    assertExit(await runCopy(withLayer, ['--socket', daemon.socket, 'run']), 64);
    assertExit(await runCopy(withLayer, ['run', '--print-env', '--', 'true']), 64);
  });
});

describe('kbus run helpers', () => {
  test('assignment quotes only what needs quoting', () => {
    assert.equal(assignment('A', '/run/kbus.sock'), 'A=/run/kbus.sock');
    assert.equal(assignment('A', '/a b'), "A='/a b'");
    assert.equal(assignment('A', "it's"), "A='it'\\''s'");
    assert.equal(assignment('A', '$HOME'), "A='$HOME'");
  });

  test('layerEnvironment puts the layer first and makes the socket absolute', () => {
    assert.deepEqual(layerEnvironment('/l.so', '/s', {}), {
      LD_PRELOAD: '/l.so',
      KBUS_SOCKET: '/s',
    });
    assert.equal(
      layerEnvironment('/l.so', '/s', { LD_PRELOAD: '/o.so' }).LD_PRELOAD,
      '/l.so:/o.so',
    );
  });

  test('exitStatus is the code, or 128 + the signal', () => {
    assert.equal(exitStatus(3, null), 3);
    assert.equal(exitStatus(null, 'SIGKILL'), 137);
  });
});
