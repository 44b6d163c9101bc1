/**
 * Mutual TLS on a TCP link (--tls-cert, --tls-key, --tls-ca): certificates
 * made with the `openssl` command in a temporary directory. A pair with
 * certificates from the shared CA links; a client without a valid
 * certificate is refused.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { Ksock, Reply } from '../../src/client/index.js';
import type { RunningDaemon } from '../support/daemon.js';
import { tempDir } from '../support/daemon.js';
import {
  Cleanup,
  daemon,
  freePort,
  KBUS,
  ksock,
  LISTENING,
  linked,
  next,
  spawnLimpet,
  waitReplier,
  within,
} from './helpers.js';

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(cwd: string, args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

/** A CA (prefix.ca.pem) and certificates for `names`, each with SAN IP:127.0.0.1 and DNS:localhost. */
function makeCertificates(dir: string, prefix: string, names: string[]): void {
  openssl(dir, [
    'req',
    '-x509',
    ...EC,
    '-keyout',
    `${prefix}.ca.key`,
    '-out',
    `${prefix}.ca.pem`,
    '-days',
    '2',
    '-subj',
    `/CN=${prefix} test CA`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  writeFileSync(
    join(dir, 'ext.cnf'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  for (const name of names) {
    openssl(dir, [
      'req',
      ...EC,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      '/CN=localhost',
    ]);
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${prefix}.ca.pem`,
      '-CAkey',
      `${prefix}.ca.key`,
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-extfile',
      'ext.cnf',
    ]);
  }
}

/** The id the daemon gives the next Ksock: unchanged iff nobody else opened one meanwhile. */
async function nextKsockId(d: RunningDaemon): Promise<number> {
  const k = await Ksock.connect({ socket: d.socket });
  const id = k.id;
  await k.close();
  return id;
}

describe('mutual TLS on a TCP link', () => {
  const cleanup = new Cleanup();
  let dir: string;
  const tls = (name: string, ca = 'good') => [
    '--tls-cert',
    join(dir, `${name}.pem`),
    '--tls-key',
    join(dir, `${name}.key`),
    '--tls-ca',
    join(dir, `${ca}.ca.pem`),
  ];

  before(() => {
    const t = tempDir('kbus-tls-');
    cleanup.add(() => t.remove());
    dir = t.path;
    makeCertificates(dir, 'good', ['server', 'client']);
    makeCertificates(dir, 'rogue', ['intruder']);
  });

  after(async () => {
    await cleanup.run();
  });

  test('a pair with certificates from the shared CA links, and traffic crosses', async () => {
    const a = await daemon(cleanup);
    const b = await daemon(cleanup);
    const port = await freePort();
    const server = spawnLimpet(
      ['--server', '--id', '2', ...tls('server'), `127.0.0.1:${port}`],
      { socket: b.socket },
      cleanup,
    );
    await server.waitForStderr(LISTENING);
    assert.doesNotMatch(server.stderr(), /without TLS/);
    spawnLimpet(
      ['--client', '--id', '1', ...tls('client'), `127.0.0.1:${port}`],
      { socket: a.socket },
      cleanup,
    );
    const { nearLimpet: la } = await linked(a, b, cleanup);
    const R = await ksock(b, cleanup);
    const S = await ksock(a, cleanup);
    await R.bind('$.Tls.Svc', { replier: true });
    assert.equal(await waitReplier(S, '$.Tls.Svc'), la);
    const pending = S.request('$.Tls.Svc', 'secret');
    const request = await next(R, 'the request over TLS');
    assert.equal(Buffer.from(request.data).toString(), 'secret');
    await R.replyTo(request, 'ok');
    const reply = await within(pending, 'the reply over TLS');
    assert.ok(reply instanceof Reply);
    assert.deepEqual(reply.origFrom, { networkId: 2, localId: R.id });
  });

  test('clients without a valid certificate are refused; a good one still links', async () => {
    const a = await daemon(cleanup);
    const b = await daemon(cleanup);
    const beforeA = await nextKsockId(a);
    const port = await freePort();
    const server = spawnLimpet(
      ['--server', '--id', '2', ...tls('server'), `127.0.0.1:${port}`],
      { socket: b.socket },
      cleanup,
    );
    await server.waitForStderr(LISTENING);

    // A certificate from another CA (it trusts the server's CA, so only the server can refuse it).
    const intruder = spawnLimpet(
      [
        '--client',
        '--id',
        '1',
        '--tls-cert',
        join(dir, 'intruder.pem'),
        '--tls-key',
        join(dir, 'intruder.key'),
        '--tls-ca',
        join(dir, 'good.ca.pem'),
        `127.0.0.1:${port}`,
      ],
      { socket: a.socket },
      cleanup,
    );
    const refused = await intruder.exit();
    assert.notEqual(refused.code, 0, intruder.stderr());
    assert.equal(refused.signal, null);

    // A plain TCP client.
    const plain = spawnLimpet(
      ['--client', '--id', '1', `127.0.0.1:${port}`],
      { socket: a.socket },
      cleanup,
    );
    const plainExit = await plain.exit();
    assert.notEqual(plainExit.code, 0, plain.stderr());

    // A TLS client with no certificate at all: no greeting ever comes.
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      ca: readFileSync(join(dir, 'good.ca.pem')),
    });
    socket.on('error', () => {});
    cleanup.add(() => socket.destroy());
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    socket.write('HELO\0\0\0\x01');
    await within(
      new Promise<void>((resolve) => socket.once('close', () => resolve())),
      'the server to drop the client without a certificate',
    );
    assert.equal(received, 0, 'the server never greeted it');

    // None of them touched bus A or got the server's link.
    assert.equal(await nextKsockId(a), beforeA + 1);
    assert.ok(server.running, 'the server is still waiting for its peer');
    spawnLimpet(
      ['--client', '--id', '1', ...tls('client'), `127.0.0.1:${port}`],
      { socket: a.socket },
      cleanup,
    );
    await linked(a, b, cleanup);
  });

  test('TLS needs all three files, and a TCP link', async () => {
    const run = (args: string[]) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(
          process.execPath,
          [KBUS, '--socket', '/nonexistent/kbus.sock', 'limpet', ...args],
          {
            stdio: 'ignore',
          },
        );
        child.once('exit', (code) => resolve(code));
      });
    assert.equal(
      await within(run(['--client', '--tls-cert', join(dir, 'client.pem'), '127.0.0.1:1']), 'kbus'),
      64,
    );
    assert.equal(
      await within(run(['--client', ...tls('client'), join(dir, 'x.sock')]), 'kbus'),
      64,
    );
  });
});
