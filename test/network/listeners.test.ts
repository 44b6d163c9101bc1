/**
 * kbusd's network listeners (docs/network.md): --listen for each scheme,
 * port 0 and IPv6, refusing exposure without TLS or authentication, TLS
 * with and without client certificates, and the CLI's --url and KBUS_URL.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import { Daemon } from '../../src/daemon/index.js';
import { kbus } from '../cli/helpers.js';
import { KBUSD, tempDir } from '../support/daemon.js';
import { type Certs, makeCerts, startListening, tlsArgs } from '../support/network.js';

/** Runs kbusd to its exit; resolves with the code and stderr. */
function runKbusd(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const dir = tempDir('kbusd-');
  const child = spawn(process.execPath, [KBUSD, '--socket', `${dir.path}/s.sock`, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (t: string) => {
    stderr += t;
  });
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      dir.remove();
      resolve({ code, stderr });
    }),
  );
}

/** One announcement from `a` to `b` over whatever they are connected by. */
async function roundTrip(a: Ksock, b: Ksock): Promise<void> {
  await b.bind('$.Ping');
  await a.announce('$.Ping', 'hello');
  const got = await b.receive({ timeout: 5000 });
  assert.equal(got.name, '$.Ping');
  assert.equal(new TextDecoder().decode(got.data), 'hello');
}

let certs: Certs;
before(() => {
  certs = makeCerts();
});
after(() => certs.remove());

describe('kbusd --listen', () => {
  test('serves TCP, TLS, WebSocket and WebSocket over TLS at once, on IPv4 and IPv6, ports chosen by the system', async () => {
    const { daemon, addresses } = await startListening(
      ['tcp://127.0.0.1:0', 'tls://[::1]:0', 'ws://127.0.0.1:0/kbus', 'wss://[::1]:0/bus'],
      tlsArgs(certs),
    );
    try {
      assert.match(addresses[0]!, /^tcp:\/\/127\.0\.0\.1:[1-9]\d*$/);
      assert.match(addresses[1]!, /^tls:\/\/\[::1\]:[1-9]\d*$/);
      assert.match(addresses[2]!, /^ws:\/\/127\.0\.0\.1:[1-9]\d*\/kbus$/);
      assert.match(addresses[3]!, /^wss:\/\/\[::1\]:[1-9]\d*\/bus$/);
      // A Ksock on each transport, and one on the Unix socket: all one bus.
      await using unix = await Ksock.connect(daemon.socket);
      for (const url of addresses) {
        await using remote = await Ksock.connect(url, { tls: { ca: certs.ca } });
        await roundTrip(remote, unix);
        await roundTrip(unix, remote);
        await unix.unbind('$.Ping');
      }
    } finally {
      await daemon.stop();
    }
  });

  test('a WebSocket request for another path is refused', async () => {
    const { daemon, addresses } = await startListening(['ws://127.0.0.1:0/kbus']);
    try {
      const wrong = addresses[0]!.replace(/\/kbus$/, '/other');
      await assert.rejects(Ksock.connect(wrong), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ECONNREFUSED');
        return true;
      });
    } finally {
      await daemon.stop();
    }
  });

  test('refuses a non-loopback address without TLS or a policy requiring a login, saying why', async () => {
    const { code, stderr } = await runKbusd(['--listen', 'tcp://0.0.0.0:0']);
    assert.equal(code, 64);
    assert.match(stderr, /not a loopback address/);
    assert.match(stderr, /--insecure/);
  });

  test('a bad URL is a usage error naming what is expected', async () => {
    const { code, stderr } = await runKbusd(['--listen', 'udp://127.0.0.1:5']);
    assert.equal(code, 64);
    assert.match(stderr, /tcp:\/\/HOST:PORT/);
  });

  test('tls:// without a certificate is a usage error', async () => {
    const { code, stderr } = await runKbusd(['--listen', 'tls://127.0.0.1:0']);
    assert.equal(code, 64);
    assert.match(stderr, /--tls-cert/);
  });

  test('Daemon.addresses() gives the bound URLs', async () => {
    const dir = tempDir();
    const daemon = new Daemon({ socket: `${dir.path}/k.sock`, listen: ['tcp://127.0.0.1:0'] });
    await daemon.start();
    try {
      const [unix, tcp] = daemon.addresses();
      assert.equal(unix, `unix:${dir.path}/k.sock`);
      await using a = await Ksock.connect(tcp!);
      await using b = await Ksock.connect(unix!);
      await roundTrip(a, b);
    } finally {
      await daemon.close();
      dir.remove();
    }
  });
});

describe('TLS', () => {
  test('with --tls-ca a client needs a certificate from that CA, unexpired', async () => {
    const { daemon, addresses } = await startListening(['tls://127.0.0.1:0'], tlsArgs(certs, true));
    const url = addresses[0]!;
    try {
      await using good = await Ksock.connect(url, { tls: { ca: certs.ca, ...certs.client } });
      assert.ok(good.id > 0);
      await assert.rejects(Ksock.connect(url, { tls: { ca: certs.ca } }));
      await assert.rejects(Ksock.connect(url, { tls: { ca: certs.ca, ...certs.expired } }));
      await assert.rejects(Ksock.connect(url, { tls: { ca: certs.ca, ...certs.stranger } }));
      // The daemon serves on after each refusal.
      await using again = await Ksock.connect(url, { tls: { ca: certs.ca, ...certs.client } });
      await roundTrip(again, good);
    } finally {
      await daemon.stop();
    }
  });

  test("a client that does not trust the daemon's CA does not connect", async () => {
    const { daemon, addresses } = await startListening(['tls://127.0.0.1:0'], tlsArgs(certs));
    try {
      await assert.rejects(Ksock.connect(addresses[0]!));
    } finally {
      await daemon.stop();
    }
  });
});

describe('kbus --url', () => {
  test('the CLI reaches the daemon by --url and by KBUS_URL', async () => {
    const { daemon, addresses } = await startListening(['ws://127.0.0.1:0/kbus']);
    try {
      await using listener = await Ksock.connect(daemon.socket);
      await listener.bind('$.Cli');
      const sent = await kbus(['--url', addresses[0]!, 'send', '$.Cli', 'one'], {
        env: { KBUS_SOCKET: '/nonexistent/kbus.sock' },
      });
      assert.equal(sent.code, 0, sent.stderr);
      const viaEnv = await kbus(['send', '$.Cli', 'two'], {
        env: { KBUS_URL: addresses[0]!, KBUS_SOCKET: '/nonexistent/kbus.sock' },
      });
      assert.equal(viaEnv.code, 0, viaEnv.stderr);
      const first = await listener.receive({ timeout: 5000 });
      const second = await listener.receive({ timeout: 5000 });
      assert.deepEqual(
        [first, second].map((m) => new TextDecoder().decode(m.data)),
        ['one', 'two'],
      );
    } finally {
      await daemon.stop();
    }
  });
});
