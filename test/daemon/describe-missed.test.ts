/**
 * DESCRIBE and MISSED (docs/protocol.md 6.14, 6.15) against a real kbusd:
 * what a Ksock says it is reaches GET /api/state and is replaced by a later
 * DESCRIBE; a description the protocol refuses is EINVAL or EMSGSIZE and
 * changes nothing; MISSED counts what a listener lost to its full queue.
 * Under a policy, /api/state names each Ksock's identity.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import { Op } from '../../src/internal.js';
import type { ErrnoName } from '../../src/wire/index.js';
import { Background } from '../cli/helpers.js';
import { type RunningDaemon, startDaemon, tempDir } from '../support/daemon.js';
import { waitFor } from '../support/wait.js';
import { assertError, RawConnection } from './helpers.js';

interface StateKsock {
  id: number;
  pid: number;
  identity?: string;
  about?: Record<string, unknown>;
}

function httpBase(daemon: RunningDaemon): string {
  const m = /metrics and console on (http:\/\/\S+?)\/(\s|$)/.exec(daemon.stderr());
  assert.ok(m, `kbusd said where it serves HTTP: ${daemon.stderr()}`);
  return m[1]!;
}

async function stateOf(base: string, id: number, token?: string): Promise<StateKsock> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const state = (await (await fetch(`${base}/api/state`, { headers })).json()) as {
    devices: { ksocks: StateKsock[] }[];
  };
  const found = state.devices[0]!.ksocks.find((k) => k.id === id);
  assert.ok(found, `Ksock ${id} is in /api/state`);
  return found;
}

describe('DESCRIBE and MISSED', () => {
  let daemon: RunningDaemon;
  let base: string;
  const open: { close(): unknown }[] = [];

  before(async () => {
    daemon = await startDaemon(['--http', '127.0.0.1:0']);
    base = httpBase(daemon);
  });
  after(async () => {
    for (const o of open) await o.close();
    await daemon.stop();
  });

  test('a description reaches /api/state, and a later one replaces it', async () => {
    const ksock = await Ksock.connect(daemon.socket);
    open.push(ksock);
    assert.equal((await stateOf(base, ksock.id)).about, undefined, 'nothing said yet');
    await ksock.describe({ kind: 'sensor', room: 'kitchen', rate: 2.5, calibrated: true });
    assert.deepEqual((await stateOf(base, ksock.id)).about, {
      kind: 'sensor',
      room: 'kitchen',
      rate: 2.5,
      calibrated: true,
    });
    await ksock.describe({ kind: 'sensor', room: 'hall' });
    assert.deepEqual((await stateOf(base, ksock.id)).about, { kind: 'sensor', room: 'hall' });
    assert.equal((await stateOf(base, ksock.id)).identity, undefined, 'no policy, no identity');
  });

  test('the client refuses what the protocol would, before sending', async () => {
    const ksock = await Ksock.connect(daemon.socket);
    open.push(ksock);
    await assert.rejects(
      ksock.describe({ nested: { a: 1 } } as never),
      (err: Error & { code?: string }) => err.code === 'EINVAL',
    );
    await assert.rejects(
      ksock.describe({ big: 'x'.repeat(1100) }),
      (err: Error & { code?: string }) => err.code === 'EMSGSIZE',
    );
    await assert.rejects(
      ksock.describe({ n: Number.NaN }),
      (err: Error & { code?: string }) => err.code === 'EINVAL',
    );
  });

  test('kbusd refuses a payload that is not a small flat JSON object, keeping the old description', async () => {
    const conn = await RawConnection.open(daemon.socket);
    open.push({ close: () => conn.destroy() });
    const id = (await conn.request(Op.KSOCKID, [])).word(0);
    const good = Buffer.from('{"kind":"tool"}');
    assert.equal((await conn.request(Op.DESCRIBE, [], good)).status, 0);
    const bad: [ErrnoName, Buffer][] = [
      ['EINVAL', Buffer.from('[1,2]')],
      ['EINVAL', Buffer.from('{"a":{"b":1}}')],
      ['EINVAL', Buffer.from('{"a":null}')],
      ['EINVAL', Buffer.from('not json')],
      ['EINVAL', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])],
      ['EINVAL', Buffer.alloc(0)],
      ['EMSGSIZE', Buffer.from(`{"a":"${'x'.repeat(1020)}"}`)],
    ];
    for (const [code, payload] of bad) {
      assertError(await conn.request(Op.DESCRIBE, [], payload), code);
    }
    assert.deepEqual((await stateOf(base, id)).about, { kind: 'tool' });
  });

  test('DESCRIBE and MISSED before OPEN are EBADF', async () => {
    const conn = await RawConnection.connect(daemon.socket);
    open.push({ close: () => conn.destroy() });
    assertError(await conn.request(Op.DESCRIBE, [], Buffer.from('{}')), 'EBADF');
    assertError(await conn.request(Op.MISSED, []), 'EBADF');
  });

  test('kbus capture describes its Ksock: what it is and the names it captures', async () => {
    const dir = tempDir('kbus-describe-capture-');
    const capture = new Background(['capture', '$.Described.*', '-w', join(dir.path, 'c.jsonl')], {
      socket: daemon.socket,
    });
    try {
      let described: StateKsock | undefined;
      await waitFor(async () => {
        const state = (await (await fetch(`${base}/api/state`)).json()) as {
          devices: { ksocks: StateKsock[] }[];
        };
        described = state.devices[0]!.ksocks.find((k) => k.about?.kind === 'kbus capture');
        return described !== undefined;
      }, 'the capture Ksock described in /api/state');
      assert.deepEqual(described?.about, { kind: 'kbus capture', names: '$.Described.*' });
      // Its pid is the one OPEN gave, beside the description: the process's own.
      assert.equal(described?.pid, capture.pid);
    } finally {
      await capture.stop('SIGINT');
      dir.remove();
    }
  });

  test('MISSED counts the announcements a listener lost to its full queue', async () => {
    const listener = await Ksock.connect(daemon.socket);
    const sender = await Ksock.connect(daemon.socket);
    open.push(listener, sender);
    await listener.maxMessages(2);
    await listener.bind('$.Missed.Here');
    assert.equal(await listener.missed(), 0);
    for (let i = 0; i < 5; i++) await sender.announce('$.Missed.Here', `m${i}`);
    assert.equal(await listener.missed(), 3, 'two queued, three missed');
    assert.equal(await listener.numMessages(), 2);
    assert.equal(await sender.missed(), 0, 'a sender misses nothing');
  });
});

describe('/api/state under a policy names identities', () => {
  const sha = (token: string) => createHash('sha256').update(token).digest('hex');
  const dir = tempDir('kbus-describe-policy-');
  let daemon: RunningDaemon;
  let base: string;

  before(async () => {
    const policy = join(dir.path, 'kbus.policy');
    writeFileSync(
      policy,
      `user watcher token sha256:${sha('watch-token')}\nuser builder unix\nallow watcher inspect\nallow builder open 0 rw\n`,
    );
    daemon = await startDaemon(['--http', '127.0.0.1:0', '--policy', policy]);
    base = httpBase(daemon);
  });
  after(async () => {
    await daemon.stop();
    dir.remove();
  });

  test("a Unix client's Ksock carries the policy's Unix user", async () => {
    const ksock = await Ksock.connect(daemon.socket);
    try {
      assert.equal((await stateOf(base, ksock.id, 'watch-token')).identity, 'builder');
    } finally {
      await ksock.close();
    }
  });
});
