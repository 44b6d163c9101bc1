/**
 * Errors in `kbus` carry stable codes, and become exit codes only at the
 * edge: CliError's codes and exit codes, how a Limpet's results and start
 * failures map to `kbus limpet`'s exit codes, and those exit codes as a
 * real `kbus limpet` process shows them (limpet.md, "Stopping and exit
 * codes").
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { exitCodeOf, startFailure } from '../../src/cli/commands/limpet.js';
import {
  CliError,
  CliErrorCode,
  describeError,
  ExitCode,
  parseHex,
  parseInteger,
} from '../../src/cli/common.js';
import {
  LimpetError,
  LimpetErrorCode,
  LimpetStop,
  LinkError,
  LinkErrorCode,
} from '../../src/limpet/index.js';
import { tempDir } from '../support/daemon.js';
import { assertExit, kbus } from './helpers.js';

function assertCliError(fn: () => unknown, code: CliErrorCode, exitCode: number): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CliError, `expected a CliError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.exitCode, exitCode);
    return true;
  });
}

describe('CliError: a code, and the exit code that goes with it', () => {
  test('a bad command line is KBUS_CLI_USAGE, exit 64', () => {
    assertCliError(() => parseInteger('x', '--count'), CliErrorCode.USAGE, 64);
    assertCliError(() => parseInteger('300', '--kbus', 0, 255), CliErrorCode.USAGE, 64);
    assertCliError(() => parseHex('0g'), CliErrorCode.USAGE, 64);
  });

  test('every code has its exit code, and describeError uses it', () => {
    const expected: Record<CliErrorCode, number> = {
      KBUS_CLI_USAGE: ExitCode.USAGE,
      KBUS_CLI_DAEMON_GONE: ExitCode.FAILURE,
      KBUS_CLI_BAD_NAME: 74,
      KBUS_CLI_NO_DEVICE: 2,
      KBUS_CLI_UNAVAILABLE: ExitCode.UNAVAILABLE,
      KBUS_CLI_FAILED: ExitCode.FAILURE,
    };
    for (const code of Object.values(CliErrorCode)) {
      const err = new CliError(code, 'what went wrong');
      assert.equal(err.exitCode, expected[code], code);
      assert.equal(describeError(err).exitCode, expected[code], code);
    }
  });
});

describe('kbus limpet maps what its Limpet says to exit codes', () => {
  test('a requested stop exits 0, any other stop 1', () => {
    assert.equal(exitCodeOf({ reason: LimpetStop.TERMINATED, name: '$.Stop' }), 0);
    assert.equal(exitCodeOf({ reason: LimpetStop.ABORTED }), 0);
    assert.equal(exitCodeOf({ reason: LimpetStop.CLOSED }), 0);
    assert.equal(exitCodeOf({ reason: LimpetStop.LINK_CLOSED }), 1);
    assert.equal(exitCodeOf({ reason: LimpetStop.LINK_FAILED, error: new Error('reset') }), 1);
    const broken = new LinkError(LinkErrorCode.FORMAT, 'bad guard');
    assert.equal(exitCodeOf({ reason: LimpetStop.LINK_BROKEN, error: broken }), 1);
    assert.equal(exitCodeOf({ reason: LimpetStop.DAEMON_LOST }), 1);
  });

  test('start failures: usage (64), the underlying error (its errno), or 1', () => {
    const usage = [
      new LinkError(LinkErrorCode.ADDRESS, 'port'),
      new LimpetError(LimpetErrorCode.OPTIONS, 'id'),
    ];
    for (const err of usage) {
      const mapped = startFailure(err);
      assert.ok(mapped instanceof CliError);
      assert.equal(mapped.code, CliErrorCode.USAGE);
      assert.equal(mapped.cause, err);
    }
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    for (const err of [
      new LinkError(LinkErrorCode.CONNECT, 'x', { cause: refused }),
      new LinkError(LinkErrorCode.LISTEN, 'x', { cause: refused }),
      new LinkError(LinkErrorCode.TLS_FILES, 'x', { cause: refused }),
      new LimpetError(LimpetErrorCode.DAEMON, 'x', { cause: refused }),
    ]) {
      // Restated in words, with the system error's code kept for the exit code.
      const mapped = startFailure(err, '127.0.0.1:5000') as NodeJS.ErrnoException;
      assert.equal(mapped.code, 'ECONNREFUSED', err.code);
      assert.equal(describeError(mapped).exitCode, 111, err.code);
    }
    for (const code of [
      LinkErrorCode.PATH_EXISTS,
      LinkErrorCode.GREETING,
      LinkErrorCode.GREETING_TIMEOUT,
      LinkErrorCode.PEER_ID,
    ]) {
      const mapped = startFailure(new LinkError(code, 'x'));
      assert.ok(mapped instanceof CliError, code);
      assert.equal(mapped.code, CliErrorCode.FAILED, code);
      assert.equal(mapped.exitCode, 1, code);
    }
    const other = new Error('something else');
    assert.equal(startFailure(other), other);
  });
});

/** A TCP server on a port of its own choosing (all interfaces), for a port that is taken. */
async function occupiedPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return { port: address.port, server };
}

describe('kbus limpet exit codes, as a process shows them', () => {
  const NO_DAEMON = ['--socket', '/nonexistent/kbus.sock', 'limpet'];

  test('cannot reach the server: the errno (111 ECONNREFUSED, 2 ENOENT)', async () => {
    const { port, server } = await occupiedPort();
    await new Promise((resolve) => server.close(resolve));
    assertExit(await kbus([...NO_DAEMON, '--client', `127.0.0.1:${port}`]), 111);
    const dir = tempDir('kbus-link-');
    try {
      assertExit(await kbus([...NO_DAEMON, '--client', join(dir.path, 'none.sock')]), 2);
    } finally {
      dir.remove();
    }
  });

  test('a server that cannot listen: 1 for a path that exists, the errno for a port in use', async () => {
    const dir = tempDir('kbus-link-');
    const { port, server } = await occupiedPort();
    try {
      const path = join(dir.path, 'taken');
      writeFileSync(path, 'mine');
      assertExit(await kbus([...NO_DAEMON, '--server', path]), 1);
      assertExit(await kbus([...NO_DAEMON, '--server', `:${port}`]), 98);
    } finally {
      dir.remove();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('a client that cannot connect says where and what to do; an empty address is a usage error', async () => {
    const dir = tempDir('kbus-link-');
    try {
      const missing = join(dir.path, 'none.sock');
      const result = await kbus([...NO_DAEMON, '--client', missing]);
      assertExit(result, 2);
      assert.equal(
        result.stderr,
        `kbus: cannot reach the Limpet server at ${missing}: no such file or directory; start the server first, or give --retry SECONDS\n`,
      );
      const word = await kbus([...NO_DAEMON, '--client', 'localhost:five']);
      assertExit(word, 2);
      assert.match(
        word.stderr,
        /localhost:five is taken as a Unix socket path: give a TCP port as a number/,
      );
      const tls = ['--tls-cert', '/nonexistent/a.pem', '--tls-key', '/nonexistent/a.key'];
      const noFile = await kbus([
        ...NO_DAEMON,
        '--client',
        ...tls,
        '--tls-ca',
        '/nonexistent/ca',
        ':5',
      ]);
      assert.match(
        noFile.stderr,
        /^kbus: cannot read the TLS file \/nonexistent\/\S+: no such file or directory\n$/,
      );
      const empty = await kbus([...NO_DAEMON, '--server', '']);
      assertExit(empty, 64);
      assert.match(empty.stderr, /^kbus: the address is empty: give host:port for TCP/);
    } finally {
      dir.remove();
    }
  });

  test('TLS files that cannot be read: their errno; a bad port: 64', async () => {
    const tls = ['--tls-cert', '/nonexistent/a.pem', '--tls-key', '/nonexistent/a.key'];
    assertExit(
      await kbus([...NO_DAEMON, '--client', ...tls, '--tls-ca', '/nonexistent/ca.pem', ':5000']),
      2,
    );
    assertExit(await kbus([...NO_DAEMON, '--server', ':70000']), 64);
  });
});
