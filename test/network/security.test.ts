/**
 * Identities and the access policy (docs/network.md): tokens, client
 * certificates, the Unix socket's identity; each operation the policy
 * refuses (EPERM, nothing done), wildcard listens filtered at delivery, a
 * failed AUTH (EACCES, connection closed), and SIGHUP reloading the policy
 * under live connections.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type KbusMessage, Ksock } from '../../src/client/index.js';
import { KbusError } from '../../src/wire/index.js';
import { KBUSD, type RunningDaemon, tempDir } from '../support/daemon.js';
import { type Certs, makeCerts, startListening, tlsArgs } from '../support/network.js';
import { waitFor } from '../support/wait.js';

const sha = (token: string) => createHash('sha256').update(token).digest('hex');
const ALICE = 'alice-secret-token';
const BOB = 'bob-secret-token';

const POLICY = `# test policy
user alice token sha256:${sha(ALICE)}
user bob token sha256:${sha(BOB)}
user local unix
user viewer cert alice
group team alice bob

allow local all
allow @team open 0 rw
allow bob open 1 r
allow alice send $.Public.* $.Alice.%
allow alice request $.Service.*
allow alice listen $.Public.*
allow bob reply $.Service.Echo
allow bob listen $.Service.*
allow viewer open 0 r
allow viewer listen $.Public.*
`;

async function rejectsCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof KbusError, String(err));
    assert.equal(err.code, code, err.message);
    return true;
  });
}

/** The names `k` has received up to and including the marker `$.Public.Marker`. */
async function namesUntilMarker(k: Ksock): Promise<string[]> {
  const names: string[] = [];
  for (;;) {
    const m: KbusMessage = await k.receive({ timeout: 5000 });
    names.push(m.name);
    if (m.name === '$.Public.Marker') return names;
  }
}

let certs: Certs;
let dir: ReturnType<typeof tempDir>;
let policyFile: string;
let daemon: RunningDaemon;
let tcp: string;
let ws: string;
let mtls: string;

before(async () => {
  certs = makeCerts();
  dir = tempDir('kbus-policy-');
  policyFile = join(dir.path, 'kbus.policy');
  writeFileSync(policyFile, POLICY);
  const started = await startListening(
    ['tcp://127.0.0.1:0', 'ws://127.0.0.1:0/kbus', 'tls://127.0.0.1:0'],
    ['--policy', policyFile, '--devices', '2', ...tlsArgs(certs, true)],
  );
  daemon = started.daemon;
  [tcp, ws, mtls] = started.addresses as [string, string, string];
});

after(async () => {
  await daemon.stop();
  dir.remove();
  certs.remove();
});

describe('authentication', () => {
  test('without a token a network client may open nothing (EPERM)', async () => {
    await rejectsCode(Ksock.connect(tcp), 'EPERM');
    await rejectsCode(Ksock.connect(ws), 'EPERM');
  });

  test('a wrong token is EACCES, and the daemon closes the connection', async () => {
    await rejectsCode(Ksock.connect(tcp, { token: 'guess' }), 'EACCES');
    await rejectsCode(Ksock.connect(ws, { token: 'guess' }), 'EACCES');
    assert.match(daemon.stderr(), /AUTH refused: unknown token; closing/);
  });

  test('a good token over TCP (AUTH frame) and WebSocket (header, query, subprotocol)', async () => {
    await using a = await Ksock.connect(tcp, { token: ALICE });
    await using b = await Ksock.connect(ws, { token: BOB });
    assert.ok(a.id > 0 && b.id > 0);
    // Browsers cannot set headers: the query and the subprotocol carry the token too.
    const { default: WebSocket } = await import('ws');
    for (const [url, protocols] of [
      [`${ws}?token=${BOB}`, ['kbus']],
      [ws, ['kbus', `kbus.token.${BOB}`]],
    ] as const) {
      const socket = new WebSocket(url, [...protocols]);
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      });
      assert.equal(socket.protocol, 'kbus');
      socket.close();
    }
  });

  test('a verified client certificate is an identity (CN alice is viewer here)', async () => {
    const tls = { ca: certs.ca, ...certs.client };
    await using viewer = await Ksock.connect(mtls, { tls, mode: 'r' });
    assert.ok(viewer.id > 0);
    await rejectsCode(Ksock.connect(mtls, { tls, mode: 'rw' }), 'EPERM');
  });

  test("Unix socket clients are the policy's unix user", async () => {
    await using local = await Ksock.connect(daemon.socket);
    await local.bind('$.Anything.*', { replier: true });
    await local.newDevice();
  });
});

describe('the policy', () => {
  test('open: devices and modes', async () => {
    await rejectsCode(Ksock.connect(tcp, { token: ALICE, device: 1 }), 'EPERM');
    await using b = await Ksock.connect(tcp, { token: BOB, device: 1, mode: 'r' });
    assert.equal(b.device, 1);
    await rejectsCode(Ksock.connect(tcp, { token: BOB, device: 1, mode: 'rw' }), 'EPERM');
  });

  test('send, request, listen and bind replier outside the rules are EPERM, and nothing is delivered', async () => {
    await using local = await Ksock.connect(daemon.socket);
    await local.bind('$.*');
    await using alice = await Ksock.connect(tcp, { token: ALICE });
    await using bob = await Ksock.connect(ws, { token: BOB });
    await rejectsCode(alice.announce('$.Secret.Plan', 'x'), 'EPERM');
    await rejectsCode(alice.announce('$.Alice.A.B', 'x'), 'EPERM');
    await alice.announce('$.Alice.Note', 'ok');
    await rejectsCode(alice.request('$.Public.Thing', 'q', { timeout: 1000 }), 'EPERM');
    await rejectsCode(alice.bind('$.Secret.*'), 'EPERM');
    await rejectsCode(alice.bind('$.Public.X', { replier: true }), 'EPERM');
    await rejectsCode(bob.bind('$.Service.*', { replier: true }), 'EPERM');
    await rejectsCode(bob.announce('$.Public.X'), 'EPERM');
    await local.announce('$.Public.Marker');
    // The Unix listener heard only what was allowed.
    assert.deepEqual(await namesUntilMarker(local), ['$.Alice.Note', '$.Public.Marker']);
    assert.match(
      daemon.stderr(),
      /refused 'alice' send '\$\.Secret\.Plan': no send rule matches it/,
    );
    assert.match(daemon.stderr(), /refused 'bob' bind as replier '\$\.Service\.\*'/);
  });

  test('a request within the rules reaches the allowed replier, and its reply comes back', async () => {
    await using alice = await Ksock.connect(tcp, { token: ALICE });
    await using bob = await Ksock.connect(ws, { token: BOB });
    await bob.bind('$.Service.Echo', { replier: true });
    const reply = alice.request('$.Service.Echo', 'ping', { timeout: 5000 });
    const request = await bob.receive({ timeout: 5000 });
    await bob.replyTo(request, 'pong');
    assert.equal(new TextDecoder().decode((await reply).data), 'pong');
  });

  test('a wildcard listener gets only the names it is allowed ($.* allowed $.Public.*)', async () => {
    await using alice = await Ksock.connect(tcp, { token: ALICE });
    await alice.bind('$.*');
    await using local = await Ksock.connect(daemon.socket);
    for (const name of ['$.Secret.A', '$.Public.A', '$.Top', '$.Public.B.C', '$.Publicity']) {
      await local.announce(name);
    }
    // ALL_OR_FAIL counts only real recipients: a refused listener is none.
    await local.announce('$.Public.Marker');
    assert.deepEqual(await namesUntilMarker(alice), [
      '$.Public.A',
      '$.Public.B.C',
      '$.Public.Marker',
    ]);
  });

  test('SIGHUP rereads the policy: live connections stay, new operations follow it', async () => {
    await using alice = await Ksock.connect(tcp, { token: ALICE });
    await rejectsCode(alice.announce('$.Later.News'), 'EPERM');
    writeFileSync(policyFile, `${POLICY}allow alice send $.Later.*\n`);
    const before = (daemon.stderr().match(/policy .* reread/g) ?? []).length;
    daemon.process.kill('SIGHUP');
    await waitFor(
      () => (daemon.stderr().match(/policy .* reread/g) ?? []).length > before,
      'the policy reread',
    );
    await alice.announce('$.Later.News');
    // A broken file leaves the policy as it was.
    writeFileSync(policyFile, `${POLICY}allow alice fly\n`);
    daemon.process.kill('SIGHUP');
    await waitFor(
      () =>
        /SIGHUP: policy not changed: .*kbus\.policy:\d+: unknown action 'fly'/.test(
          daemon.stderr(),
        ),
      'the broken policy refused',
    );
    await alice.announce('$.Later.News');
    writeFileSync(policyFile, POLICY);
  });
});

describe('kbusd --policy and --hash-token', () => {
  function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, [KBUSD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => {
      stdout += t;
    });
    child.stderr.setEncoding('utf8').on('data', (t: string) => {
      stderr += t;
    });
    return new Promise((resolve) =>
      child.once('exit', (code) => resolve({ code, stdout, stderr })),
    );
  }

  test('an error in the policy names its line', async () => {
    const bad = join(dir.path, 'bad.policy');
    writeFileSync(bad, 'user a token sha256:00\n');
    let result = await run(['--socket', join(dir.path, 'x.sock'), '--policy', bad]);
    assert.equal(result.code, 64);
    assert.match(result.stderr, /bad\.policy:1: .*sha256/);
    writeFileSync(bad, '# fine\ngroup g a\nallow @h open 0 r\n');
    result = await run(['--socket', join(dir.path, 'x.sock'), '--policy', bad]);
    assert.equal(result.code, 64);
    assert.match(result.stderr, /bad\.policy:3: no group named 'h'/);
  });

  test('--hash-token prints a token and the policy line with its sha256', async () => {
    const { code, stdout } = await run(['--hash-token']);
    assert.equal(code, 0);
    const token = /^token: (\S+)$/m.exec(stdout)![1]!;
    const hash = /sha256:([0-9a-f]{64})/.exec(stdout)![1]!;
    assert.equal(hash, sha(token));
  });
});
