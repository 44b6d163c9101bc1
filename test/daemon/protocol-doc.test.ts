/**
 * docs/protocol.md against a real daemon: the request/reply pair written
 * out in hex in 4.2 is what clients write and what KBUS delivers, and OPEN
 * with another protocol version is -EINVAL, leaving the connection to try
 * version 1 (6.1).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Op } from '../../src/internal.js';
import { ROOT, type RunningDaemon, startDaemon } from '../support/daemon.js';
import { assertError, hex, RawConnection } from './helpers.js';

/** The four one-line hex strings after "A request and its reply" in docs/protocol.md. */
function documentedPair(): string[] {
  const doc = readFileSync(join(ROOT, 'docs', 'protocol.md'), 'utf8');
  const from = doc.indexOf('**A request and its reply.**');
  assert.ok(from >= 0, 'protocol.md has the request/reply example');
  const section = doc.slice(from, doc.indexOf('\n### ', from));
  const strings = [...section.matchAll(/```text\n([0-9a-f]+)\n```/g)].map((m) => m[1]!);
  assert.equal(strings.length, 4, 'request written and read, reply written and read');
  return strings;
}

describe('docs/protocol.md against kbusd', () => {
  let daemon: RunningDaemon;
  const connections: RawConnection[] = [];
  before(async () => {
    daemon = await startDaemon();
  });
  after(async () => {
    for (const c of connections) c.destroy();
    await daemon.stop();
  });

  test('the request/reply pair in hex is what is written and what is read', async () => {
    const [requestWritten, requestRead, replyWritten, replyRead] = documentedPair();
    const requester = await RawConnection.open(daemon.socket);
    const replier = await RawConnection.open(daemon.socket);
    connections.push(requester, replier);
    const name = Buffer.from('$.Fred');
    assert.equal((await replier.request(Op.BIND, [1, name.length], name)).status, 0);

    const sent = await requester.request(Op.SENDMSG, [], Buffer.from(requestWritten!, 'hex'));
    assert.deepEqual([sent.status, sent.word(0), sent.word(1)], [0, 0, 1], 'request id {0,1}');
    const asked = await replier.request(Op.NEXTREAD, []);
    assert.equal(asked.status, 0);
    assert.equal(hex(asked.payload.subarray(8)), requestRead);

    const replied = await replier.request(Op.SENDMSG, [], Buffer.from(replyWritten!, 'hex'));
    assert.deepEqual([replied.status, replied.word(0), replied.word(1)], [0, 0, 2]);
    const answer = await requester.request(Op.NEXTREAD, []);
    assert.equal(answer.status, 0);
    assert.equal(hex(answer.payload.subarray(8)), replyRead);
  });

  test('OPEN with version 2 is EINVAL, and OPEN version 1 may follow on the same connection', async () => {
    const conn = await RawConnection.connect(daemon.socket);
    connections.push(conn);
    assertError(await conn.request(Op.OPEN, [2, 0, 3, process.pid]), 'EINVAL', 'OPEN version 2');
    const opened = await conn.request(Op.OPEN, [1, 0, 3, process.pid]);
    assert.equal(opened.status, 0);
    assert.ok(opened.word(0) > 0, 'a Ksock id');
  });
});
