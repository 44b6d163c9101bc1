/**
 * kbusd against bad input on raw sockets (protocol.md "Frames", "Errors",
 * "Points the seed leaves open"): garbage, impossible and oversized frames,
 * unknown ops, frames out of order, malformed payloads and messages, and a
 * client that never reads. After each, a client opened before the bad input
 * still does a request/reply and an announcement, and the daemon still runs.
 * Also the exact bytes of a few responses.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import {
  DEFAULT_MAX_DATA_LENGTH,
  encodedLength,
  encodeFrame,
  encodeMessage,
  entireMessageLength,
  Flags,
  MAX_NAME_LENGTH,
  makeMessage,
  Op,
  QUERY,
} from '../../src/internal.js';
import { type RunningDaemon, startDaemon } from '../support/daemon.js';
import {
  assertError,
  assertStillWorks,
  hex,
  isAlive,
  le,
  RawConnection,
  type RawFrame,
  rssKb,
  waitFor,
  within,
} from './helpers.js';

const MiB = 1024 * 1024;

function name(text: string): Uint8Array {
  return Buffer.from(text, 'latin1');
}

/** A deterministic pseudo-random byte generator (xorshift32). */
function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Writes `total` bytes of zeros in chunks, honouring backpressure. */
async function feedZeros(
  conn: RawConnection,
  total: number,
  onChunk?: () => void,
  chunkSize = 256 * 1024,
): Promise<void> {
  const chunk = Buffer.alloc(chunkSize);
  for (let sent = 0; sent < total; sent += chunkSize) {
    const n = Math.min(chunkSize, total - sent);
    await within(conn.write(n === chunkSize ? chunk : chunk.subarray(0, n)), 'a write to drain');
    onChunk?.();
  }
}

describe('kbusd: bad input on raw sockets', () => {
  let daemon: RunningDaemon;
  let witness: Ksock;
  const raws: RawConnection[] = [];
  let round = 0;

  before(async () => {
    daemon = await startDaemon([], 30_000);
  });

  after(async () => {
    for (const raw of raws) raw.destroy();
    await witness?.close().catch(() => {});
    const code = await daemon?.stop();
    assert.equal(code, 0, `kbusd should stop cleanly; stderr: ${daemon.stderr()}`);
  });

  async function raw(): Promise<RawConnection> {
    const conn = await RawConnection.connect(daemon.socket);
    raws.push(conn);
    return conn;
  }

  async function opened(pid = process.pid): Promise<RawConnection> {
    const conn = await RawConnection.open(daemon.socket, 0, pid);
    raws.push(conn);
    return conn;
  }

  /**
   * Runs `badInput` with a client opened beforehand, then checks that the
   * client still works and the daemon is alive.
   */
  async function survives(badInput: () => Promise<void>): Promise<void> {
    witness = await Ksock.connect({ socket: daemon.socket });
    try {
      await badInput();
      assert.ok(isAlive(daemon.process), `kbusd died: ${daemon.stderr()}`);
      await assertStillWorks(daemon.socket, witness, `r${++round}`);
      assert.ok(isAlive(daemon.process), `kbusd died: ${daemon.stderr()}`);
    } finally {
      await witness.close();
    }
  }

  /** Every frame received must be an error response; the connection ends. */
  async function garbage(bytes: Uint8Array): Promise<RawFrame[]> {
    const conn = await raw();
    await conn.write(bytes);
    conn.socket.end();
    await conn.closedByPeer();
    const frames: RawFrame[] = [];
    while (conn.received > 0) frames.push(await conn.next());
    for (const frame of frames) {
      assert.ok(frame.status < 0, `garbage got a successful response: ${hex(frame.bytes)}`);
      assert.equal(frame.payload.length, 4, 'an error response carries only the status');
    }
    return frames;
  }

  test('garbage bytes: text, 0xFF, zeros and pseudo-random bytes', async () => {
    await survives(async () => {
      // "GET " as a length is ~542 MB, past the limit: EMSGSIZE for op "/ HT", tag "TP/1".
      const http = await garbage(name('GET / HTTP/1.1\r\nHost: kbus\r\n\r\n'));
      assert.equal(http.length, 1, 'one EMSGSIZE response for the over-long "frame"');
      assertError(http[0]!, 'EMSGSIZE');
      assert.equal(http[0]!.op, Buffer.from('/ HT').readUInt32LE(0));
      assert.equal(http[0]!.tag, Buffer.from('TP/1').readUInt32LE(0));
      // 0xFFFFFFFF as a length: EMSGSIZE, the rest skipped.
      const ones = await garbage(new Uint8Array(4096).fill(0xff));
      assert.equal(ones.length, 1);
      assertError(ones[0]!, 'EMSGSIZE');
      // Length 0 cannot be a frame: closed without a response.
      assert.deepEqual(await garbage(new Uint8Array(4096)), []);
      for (const seed of [1, 0xdeadbeef, 12345, 777]) {
        await garbage(pseudoRandomBytes(64 * 1024, seed));
      }
    });
  });

  test('a frame length under 8 closes the connection (no response)', async () => {
    await survives(async () => {
      for (const length of [0, 1, 4, 7]) {
        const conn = await raw();
        const bytes = Buffer.alloc(12);
        bytes.writeUInt32LE(length, 0);
        bytes.writeUInt32LE(Op.OPEN, 4);
        bytes.writeUInt32LE(1, 8);
        await conn.write(bytes);
        await conn.closedByPeer();
        assert.equal(conn.received, 0, `length ${length}: no response expected`);
      }
      // The operator hears of it, at the default level (info).
      await waitFor(
        () =>
          /^\S+ info kbusd: conn \d+: closed, it broke the protocol: frame length 7 /m.test(
            daemon.stderr(),
          ),
        'kbusd to log the refused client',
      );
      // On an open connection, after a valid request in the same write:
      // the request is answered, then the connection is closed.
      const conn = await opened();
      const bound = await conn.request(Op.BIND, [1, 9], name('$.short.r'));
      assert.equal(bound.status, 0);
      const bad = Buffer.alloc(8);
      bad.writeUInt32LE(7, 0);
      await conn.write(Buffer.concat([encodeFrame(Op.KSOCKID, 9, []), bad]));
      const response = await conn.next('the KSOCKID response before the bad frame');
      assert.equal(response.op, Op.KSOCKID);
      assert.equal(response.tag, 9);
      assert.equal(response.status, 0);
      await conn.closedByPeer();
      // Closing is release: the replier binding goes.
      await waitFor(
        async () => (await witness.replier('$.short.r')) === 0,
        'the closed connection to be released',
      );
    });
  });

  test('a truncated frame then close releases the Ksock', async () => {
    await survives(async () => {
      const conn = await opened();
      const bound = await conn.request(Op.BIND, [1, 16], name('$.truncated.one'));
      // name_len 16 but 15 bytes: the payload check comes first.
      assertError(bound, 'EINVAL', 'BIND with a name running past the frame');
      const ok = await conn.request(Op.BIND, [1, 15], name('$.truncated.one'));
      assert.equal(ok.status, 0, 'BIND $.truncated.one as replier');
      // A BIND frame declaring 100 payload bytes, only 20 of them sent.
      const frame = encodeFrame(Op.BIND, conn.tag(), [0, 92], new Uint8Array(92));
      await conn.write(frame.subarray(0, 12 + 20));
      conn.socket.end();
      await conn.closedByPeer();
      assert.equal(conn.received, 0, 'the truncated frame gets no response');
      // The release unbound the replier: REPLIER says none, within a bounded wait.
      await waitFor(
        async () => (await witness.replier('$.truncated.one')) === 0,
        'the truncated connection to be released',
      );
    });
  });

  test('a huge declared length (0xFFFFFFF0) gets EMSGSIZE at once and is never buffered', async () => {
    await survives(async () => {
      const conn = await opened();
      const header = Buffer.alloc(12);
      header.writeUInt32LE(0xfffffff0, 0);
      header.writeUInt32LE(Op.WRITE, 4);
      header.writeUInt32LE(77, 8);
      await conn.write(header);
      // The response comes before any of the payload.
      const response = await conn.next('EMSGSIZE for the huge frame');
      assert.equal(hex(response.bytes), le(12, Op.WRITE, 77, -90), 'EMSGSIZE, op and tag echoed');
      const pid = daemon.process.pid!;
      const start = rssKb(pid);
      let peak = start;
      // Node's read buffers alone account for some tens of MB before they are
      // collected; buffering the payload would grow RSS by all of it.
      const fed = 256 * MiB;
      await feedZeros(conn, fed, () => {
        peak = Math.max(peak, rssKb(pid));
      });
      const growth = (peak - start) / 1024;
      console.log(
        `# huge frame: kbusd RSS ${Math.round(start / 1024)} MB, peak ${Math.round(peak / 1024)} MB while ${fed / MiB} MB of its payload were skipped`,
      );
      assert.ok(
        growth < 128,
        `kbusd RSS grew ${growth.toFixed(1)} MB for 256 MB of skipped payload`,
      );
      assert.ok(!conn.closed, 'the connection stays open while the payload is skipped');
      assert.equal(conn.received, 0, 'nothing more is answered while skipping');
      conn.destroy();
    });
  });

  test('a frame just over the limit: EMSGSIZE, its payload skipped, the next frame answered', async () => {
    await survives(async () => {
      const conn = await opened();
      const payload = 160 * MiB;
      const header = Buffer.alloc(12);
      header.writeUInt32LE(8 + payload, 0);
      header.writeUInt32LE(Op.SENDMSG, 4);
      header.writeUInt32LE(5, 8);
      await conn.write(header);
      assertError(await conn.next('EMSGSIZE'), 'EMSGSIZE', 'SENDMSG over the limit');
      const pid = daemon.process.pid!;
      const start = rssKb(pid);
      let peak = start;
      await feedZeros(conn, payload, () => {
        peak = Math.max(peak, rssKb(pid));
      });
      const growth = (peak - start) / 1024;
      assert.ok(
        growth < 96,
        `kbusd RSS grew ${growth.toFixed(1)} MB for 160 MB of skipped payload`,
      );
      // Still in step: the next frame is a frame.
      const id = await conn.request(Op.KSOCKID, []);
      assert.equal(id.status, 0);
      assert.ok(id.word(0) > 0);
      // The limit: 8 + the largest entire message (a 1000-character name and 1 MiB of data).
      const maxMessage = entireMessageLength(MAX_NAME_LENGTH, DEFAULT_MAX_DATA_LENGTH);
      // One byte over: refused whole, skipped, and the connection stays in step.
      const over = Buffer.concat([
        encodeFrame(Op.WRITE, 31, [], new Uint8Array(maxMessage + 1)),
        encodeFrame(Op.KSOCKID, 32, []),
      ]);
      await conn.write(over);
      assertError(await conn.next('EMSGSIZE for limit + 1'), 'EMSGSIZE', 'WRITE of limit + 1');
      const after = await conn.next('KSOCKID after the skipped frame');
      assert.equal(hex(after.bytes), le(16, Op.KSOCKID, 32, 0, id.word(0)));
      // A message of exactly the largest size is accepted; 4 bytes more is EMSGSIZE.
      const dataFits = maxMessage - 64 - 8 - 4;
      const fits = encodeMessage(makeMessage({ name: '$.big', data: new Uint8Array(dataFits) }));
      assert.equal(fits.length, maxMessage);
      const sent = await conn.request(Op.SENDMSG, [], fits);
      assert.equal(sent.status, 0, `a message of ${maxMessage} bytes is accepted by default`);
      const big = encodeMessage(makeMessage({ name: '$.big', data: new Uint8Array(dataFits + 1) }));
      assertError(await conn.request(Op.SENDMSG, [], big), 'EMSGSIZE', 'SENDMSG over the limit');
      assertError(await conn.request(Op.WRITE, [], big), 'EMSGSIZE', 'WRITE over the limit');
    });
  });

  test('an unknown op gets ENOTTY with its op and tag echoed', async () => {
    await survives(async () => {
      const conn = await opened();
      for (const op of [0, 19, 0x3f, 0x49, 0x53, 0x80, 0x81, 0x99, 0xffffffff]) {
        const tag = 0x1000 + (op & 0xff);
        await conn.write(encodeFrame(op, tag, [1, 2, 3]));
        const response = await conn.next(`ENOTTY for op ${op}`);
        assert.equal(hex(response.bytes), le(12, op, tag, -25), `op 0x${op.toString(16)}`);
      }
      // The connection carries on.
      assert.equal((await conn.request(Op.KSOCKID, [])).status, 0);
    });
  });

  // protocol.md: BINDINGS, STATS and DEVICES are the exceptions, answered
  // before OPEN (before-open.test.ts); MAXMSGSIZE (18) needs a Ksock.
  test('frames before OPEN get EBADF, and OPEN still works afterwards', async () => {
    await survives(async () => {
      const conn = await raw();
      for (const [op, words, tail] of [
        [Op.KSOCKID, []],
        [Op.BIND, [0, 5], name('$.a.b')],
        [Op.NEXTREAD, []],
        [Op.SENDMSG, [], encodeMessage(makeMessage({ name: '$.a.b' }))],
        [Op.WRITE, [1, 2]],
        [Op.POLL, [1]],
        [Op.MAXMSGSIZE, [0]],
        [Op.MAXMSGS, [0]],
      ] as [number, number[], Uint8Array?][]) {
        const response = await conn.request(op, words, tail);
        assertError(response, 'EBADF', `op ${op} before OPEN`);
      }
      const open = await conn.request(Op.OPEN, [1, 0, 3, process.pid]);
      assert.equal(open.status, 0);
      const id = await conn.request(Op.KSOCKID, []);
      assert.equal(id.word(0), open.word(0), 'KSOCKID is the id OPEN gave');
    });
  });

  test('a second OPEN is EINVAL and leaves the Ksock as it was', async () => {
    await survives(async () => {
      const conn = await opened();
      const before = (await conn.request(Op.KSOCKID, [])).word(0);
      assertError(await conn.request(Op.OPEN, [1, 0, 3, process.pid]), 'EINVAL', 'second OPEN');
      assertError(await conn.request(Op.OPEN, [1, 0, 1, 1]), 'EINVAL', 'third OPEN');
      assert.equal((await conn.request(Op.KSOCKID, [])).word(0), before);
    });
  });

  test('OPEN of a missing device is ENOENT, of another version EINVAL; OPEN may follow', async () => {
    await survives(async () => {
      const conn = await raw();
      assertError(await conn.request(Op.OPEN, [1, 1, 3, 1]), 'ENOENT', 'OPEN device 1 of 1');
      assertError(await conn.request(Op.OPEN, [1, 255, 3, 1]), 'ENOENT', 'OPEN device 255');
      assertError(
        await conn.request(Op.OPEN, [1, 0xffffffff, 3, 1]),
        'ENOENT',
        'OPEN device 0xFFFFFFFF',
      );
      assertError(await conn.request(Op.OPEN, [2, 0, 3, 1]), 'EINVAL', 'OPEN version 2');
      assertError(await conn.request(Op.OPEN, [0, 0, 3, 1]), 'EINVAL', 'OPEN version 0');
      // A short OPEN payload is refused, not a crash.
      const short = await conn.request(Op.OPEN, [1]);
      assert.ok(short.status < 0, 'OPEN with only the version word must fail');
      assert.equal(short.payload.length, 4);
      // Nothing was opened: other ops are still EBADF, and OPEN still works.
      assertError(await conn.request(Op.KSOCKID, []), 'EBADF', 'KSOCKID after failed OPENs');
      assert.equal((await conn.request(Op.OPEN, [1, 0, 3, 1])).status, 0);
    });
  });

  test('WRITE of a malformed message is EINVAL and discards it (SEND then ENOMSG)', async () => {
    await survives(async () => {
      const conn = await opened();
      const good = encodeMessage(makeMessage({ name: '$.writes', data: name('abcdef') }));

      // Bad start guard, reported by the WRITE that completes the header.
      const badStart = good.slice();
      badStart[0] = 0x58;
      const first = await conn.request(Op.WRITE, [], badStart.subarray(0, 40));
      assert.equal(first.status, 0, 'the first 40 bytes are accepted');
      assert.equal(first.word(0), 40, 'bytes accepted');
      assertError(
        await conn.request(Op.WRITE, [], badStart.subarray(40)),
        'EINVAL',
        'WRITE completing a header with a bad start guard',
      );
      assertError(await conn.request(Op.SEND, []), 'ENOMSG', 'SEND after the bad write');

      // Bad end guard in the header.
      const badHeaderEnd = good.slice();
      badHeaderEnd[60] = badHeaderEnd[60]! ^ 0xff;
      assertError(await conn.request(Op.WRITE, [], badHeaderEnd), 'EINVAL', 'bad header end guard');
      assertError(await conn.request(Op.SEND, []), 'ENOMSG');

      // Bad final end guard.
      const badFinal = good.slice();
      badFinal[badFinal.length - 1] = badFinal[badFinal.length - 1]! ^ 0xff;
      assertError(await conn.request(Op.WRITE, [], badFinal), 'EINVAL', 'bad final end guard');
      assertError(await conn.request(Op.SEND, []), 'ENOMSG');

      // Zero name length is a malformed header.
      const noName = good.slice();
      Buffer.from(noName.buffer).writeUInt32LE(0, 52);
      assertError(await conn.request(Op.WRITE, [], noName), 'EINVAL', 'name_len 0');
      assertError(await conn.request(Op.SEND, []), 'ENOMSG');

      // Both ALL_OR_WAIT and ALL_OR_FAIL is a malformed header.
      const bothFlags = encodeMessage(
        makeMessage({ name: '$.writes', flags: Flags.ALL_OR_WAIT | Flags.ALL_OR_FAIL }),
      );
      assertError(await conn.request(Op.WRITE, [], bothFlags), 'EINVAL', 'both ALL_OR flags');
      assertError(await conn.request(Op.SEND, []), 'ENOMSG');

      // Hostile lengths in the header: refused when the header is complete.
      const header = (nameLen: number, dataLen: number) => {
        const bytes = Buffer.from(good.subarray(0, 64));
        bytes.writeUInt32LE(nameLen, 52);
        bytes.writeUInt32LE(dataLen, 56);
        return bytes;
      };
      assertError(await conn.request(Op.WRITE, [], header(1001, 0)), 'ENAMETOOLONG', 'name 1001');
      assertError(
        await conn.request(Op.WRITE, [], header(0xffffffff, 0)),
        'ENAMETOOLONG',
        'name_len 0xFFFFFFFF',
      );
      assertError(
        await conn.request(Op.WRITE, [], header(8, 0xffffffff)),
        'EMSGSIZE',
        'data_len 0xFFFFFFFF',
      );
      assertError(
        await conn.request(Op.WRITE, [], header(8, 0xfffffffc)),
        'EMSGSIZE',
        'data_len 0xFFFFFFFC',
      );
      assertError(await conn.request(Op.SEND, []), 'ENOMSG');

      // Bytes past the final end guard are EMSGSIZE.
      const extra = Buffer.concat([good, Buffer.alloc(4)]);
      assertError(await conn.request(Op.WRITE, [], extra), 'EMSGSIZE', 'bytes past the end guard');

      // SENDMSG of a malformed message: the same errors.
      assertError(await conn.request(Op.SENDMSG, [], badStart), 'EINVAL', 'SENDMSG bad guard');
      assertError(await conn.request(Op.SENDMSG, [], badFinal), 'EINVAL', 'SENDMSG bad end guard');
      assertError(
        await conn.request(Op.SENDMSG, [], good.subarray(0, good.length - 4)),
        'EINVAL',
        'SENDMSG of a message without its final guard',
      );
      assertError(await conn.request(Op.SEND, []), 'ENOMSG');

      // And a good message still goes through afterwards, in pieces.
      assert.equal((await conn.request(Op.WRITE, [], good.subarray(0, 70))).word(0), 70);
      assert.equal((await conn.request(Op.WRITE, [], good.subarray(70))).word(0), good.length - 70);
      const sent = await conn.request(Op.SEND, []);
      assert.equal(sent.status, 0, 'SEND of a good message after the bad ones');
      assert.ok(sent.word(1) > 0, 'a serial number was assigned');
    });
  });

  test('SENDMSG with a bad or wildcard name is EBADMSG; too long ENAMETOOLONG', async () => {
    await survives(async () => {
      const conn = await opened();
      for (const bad of ['Fred', '$.', '$.a..b', '$.a.', '$.a b', '$.a.*', '$.a.%', '$$.a']) {
        const message = encodeMessage(makeMessage({ name: bad }));
        assertError(await conn.request(Op.SENDMSG, [], message), 'EBADMSG', `SENDMSG '${bad}'`);
      }
      const long = encodeMessage(makeMessage({ name: `$.${'a'.repeat(999)}` }));
      assertError(await conn.request(Op.SENDMSG, [], long), 'ENAMETOOLONG', 'SENDMSG 1001 chars');
      assertError(await conn.request(Op.SEND, []), 'ENOMSG', 'nothing left to SEND');
    });
  });

  test('BIND/UNBIND/REPLIER with bad name fields: EINVAL past the payload, ENAMETOOLONG over 1000', async () => {
    await survives(async () => {
      const conn = await opened();
      assertError(
        await conn.request(Op.BIND, [0, 50], name('$.only.ten')),
        'EINVAL',
        'BIND name_len past the payload',
      );
      assertError(
        await conn.request(Op.BIND, [0, 0xfffffff0], name('$.x')),
        'ENAMETOOLONG',
        'BIND name_len 0xFFFFFFF0',
      );
      assertError(await conn.request(Op.BIND, [0]), 'EINVAL', 'BIND without name_len');
      assertError(await conn.request(Op.BIND, []), 'EINVAL', 'BIND without payload');
      const name1001 = name(`$.${'a'.repeat(999)}`);
      assert.equal(name1001.length, 1001);
      assertError(await conn.request(Op.BIND, [0, 1001], name1001), 'ENAMETOOLONG', 'BIND 1001');
      assertError(await conn.request(Op.BIND, [1, 1001], name1001), 'ENAMETOOLONG', 'replier 1001');
      const name1000 = name(`$.${'a'.repeat(998)}`);
      assert.equal((await conn.request(Op.BIND, [0, 1000], name1000)).status, 0, 'BIND 1000');
      assert.equal((await conn.request(Op.UNBIND, [0, 1000], name1000)).status, 0, 'UNBIND 1000');
      assertError(await conn.request(Op.BIND, [0, 4], name('Fred')), 'EBADMSG', "BIND 'Fred'");
      assertError(await conn.request(Op.UNBIND, [0, 50], name('$.x')), 'EINVAL', 'UNBIND past');
      assertError(
        await conn.request(Op.UNBIND, [0, 1001], name1001),
        'ENAMETOOLONG',
        'UNBIND 1001',
      );
      assertError(await conn.request(Op.REPLIER, [50], name('$.x')), 'EINVAL', 'REPLIER past');
    });
  });

  test('MSGONLYONCE 7, VERBOSE 2 and REPORTREPLIERBINDS 3 are EINVAL and change nothing', async () => {
    await survives(async () => {
      const conn = await opened();
      for (const op of [Op.MSGONLYONCE, Op.VERBOSE, Op.REPORTREPLIERBINDS]) {
        const before = (await conn.request(op, [QUERY])).word(0);
        for (const value of [7, 2, 0x80000000, 0xfffffffe]) {
          assertError(await conn.request(op, [value]), 'EINVAL', `op ${op} value ${value}`);
        }
        assertError(await conn.request(op, []), 'EINVAL', `op ${op} without its word`);
        assert.equal((await conn.request(op, [QUERY])).word(0), before, `op ${op} unchanged`);
      }
    });
  });

  test('ops missing their payload words are EINVAL, not a crash', async () => {
    await survives(async () => {
      const conn = await opened();
      for (const op of [
        Op.READ,
        Op.POLL,
        Op.NEXTREADS,
        Op.STREAM,
        Op.MAXMSGS,
        Op.REPLIER,
        Op.UNBIND,
        Op.VERBOSE,
        Op.REPORTREPLIERBINDS,
      ]) {
        assertError(await conn.request(op, []), 'EINVAL', `op ${op} with no payload`);
        // Two bytes: not even one whole word.
        assertError(await conn.request(op, [], new Uint8Array(2)), 'EINVAL', `op ${op}, 2 bytes`);
      }
      assertError(await conn.request(Op.NEXTREADS, [5]), 'EINVAL', 'NEXTREADS with one word');
      // Asking for everything at once is fine: nothing is there.
      assert.equal(hex((await conn.request(Op.READ, [0xffffffff])).payload), le(0));
      assert.equal(
        hex((await conn.request(Op.NEXTREADS, [0xffffffff, 0xffffffff])).payload),
        le(0, 0),
      );
      assert.equal((await conn.request(Op.KSOCKID, [])).status, 0);
    });
  });

  test('a read-only Ksock gets EBADF for WRITE, SEND and SENDMSG', async () => {
    await survives(async () => {
      const conn = await raw();
      assert.equal((await conn.request(Op.OPEN, [1, 0, 1, process.pid])).status, 0);
      const message = encodeMessage(makeMessage({ name: '$.read.only' }));
      assertError(await conn.request(Op.WRITE, [], message), 'EBADF', 'WRITE read-only');
      assertError(await conn.request(Op.SEND, []), 'EBADF', 'SEND read-only');
      assertError(await conn.request(Op.SENDMSG, [], message), 'EBADF', 'SENDMSG read-only');
      // It can still listen.
      assert.equal((await conn.request(Op.BIND, [0, 11], name('$.read.only'))).status, 0);
      await witness.announce('$.read.only', 'to the reader');
      const read = await conn.request(Op.NEXTREAD, []);
      assert.equal(read.status, 0);
      assert.ok(read.word(0) > 0, 'the announcement reached the read-only Ksock');
    });
  });

  test('responses have the byte layout of protocol.md', async () => {
    await survives(async () => {
      const conn = await raw();
      await conn.write(encodeFrame(Op.OPEN, 0x01020304, [1, 0, 3, 4242]));
      const open = await conn.next('OPEN response');
      const id = open.word(0);
      assert.ok(id > 0);
      // u32 length 16, u32 op 0x40, u32 tag, i32 status 0, u32 ksock_id.
      assert.equal(hex(open.bytes), `10000000400000000403020100000000${le(id)}`);

      await conn.write(encodeFrame(Op.KSOCKID, 0xfffffffe, []));
      assert.equal(hex((await conn.next()).bytes), `1000000004000000feffffff00000000${le(id)}`);

      // An error: length 12, status -22 as i32, no result fields.
      await conn.write(encodeFrame(Op.MSGONLYONCE, 3, [7]));
      assert.equal(hex((await conn.next()).bytes), '0c0000000e00000003000000eaffffff');

      // BIND: status only.
      await conn.write(encodeFrame(Op.BIND, 4, [0, 9], name('$.layout.')));
      assert.equal(
        hex((await conn.next()).bytes),
        le(12, Op.BIND, 4, -74),
        'BIND "$.layout." EBADMSG',
      );
      await conn.write(encodeFrame(Op.BIND, 5, [0, 8], name('$.layout')));
      assert.equal(hex((await conn.next()).bytes), le(12, Op.BIND, 5, 0));

      // NEXTREAD with nothing queued: status 0, length 0.
      await conn.write(encodeFrame(Op.NEXTREAD, 6, []));
      assert.equal(hex((await conn.next()).bytes), le(16, Op.NEXTREAD, 6, 0, 0));

      // SENDMSG: status 0, network_id 0, serial_num.
      const data = name('abc1234');
      await conn.write(
        encodeFrame(Op.SENDMSG, 7, [], encodeMessage(makeMessage({ name: '$.layout', data }))),
      );
      const sent = await conn.next();
      const serial = sent.word(1);
      assert.ok(serial > 0);
      assert.equal(hex(sent.bytes), le(20, Op.SENDMSG, 7, 0, 0, serial));

      // LASTSENT gives the same id.
      await conn.write(encodeFrame(Op.LASTSENT, 8, []));
      assert.equal(hex((await conn.next()).bytes), le(20, Op.LASTSENT, 8, 0, 0, serial));

      // NUMMSGS: our own announcement came back to us (we listen to $.layout).
      await conn.write(encodeFrame(Op.NUMMSGS, 9, []));
      assert.equal(hex((await conn.next()).bytes), le(16, Op.NUMMSGS, 9, 0, 1));

      // NEXTREAD: status 0, u32 length, then the entire message, as Kbus.txt lays it out.
      const expected = encodeMessage(
        makeMessage({ name: '$.layout', data, id: { networkId: 0, serialNum: serial }, from: id }),
      );
      const length = encodedLength(makeMessage({ name: '$.layout', data }));
      assert.equal(length, 64 + 12 + 8 + 4);
      await conn.write(encodeFrame(Op.NEXTREAD, 10, []));
      const read = await conn.next();
      assert.equal(
        hex(read.bytes),
        le(8 + 8 + length, Op.NEXTREAD, 10, 0, length) + hex(expected),
        'NEXTREAD response',
      );
      // The message's own words, spelled out: guards, id, from, name_len, data_len.
      assert.equal(
        hex(expected),
        [
          '4b627573',
          le(0, serial, 0, 0, 0, id, 0, 0, 0, 0, 0, 0, 8, 7),
          '7375624b',
          hex(name('$.layout')),
          '00000000',
          hex(data),
          '00',
          '7375624b',
        ].join(''),
      );

      // NEXTMSG with nothing queued: status 0, length 0; LENLEFT: status 0, 0.
      await conn.write(encodeFrame(Op.NEXTMSG, 11, []));
      assert.equal(hex((await conn.next()).bytes), le(16, Op.NEXTMSG, 11, 0, 0));
      await conn.write(encodeFrame(Op.LENLEFT, 12, []));
      assert.equal(hex((await conn.next()).bytes), le(16, Op.LENLEFT, 12, 0, 0));

      // MAXMSGS 0 asks: 100 by default. POLL 0: POLLOUT only.
      await conn.write(encodeFrame(Op.MAXMSGS, 13, [0]));
      assert.equal(hex((await conn.next()).bytes), le(16, Op.MAXMSGS, 13, 0, 100));
      await conn.write(encodeFrame(Op.POLL, 14, [0]));
      assert.equal(hex((await conn.next()).bytes), le(16, Op.POLL, 14, 0, 4));

      // Several requests in one write: answered in order, each once.
      await conn.write(
        Buffer.concat([
          encodeFrame(Op.KSOCKID, 21, []),
          encodeFrame(0x99, 22, []),
          encodeFrame(Op.UNREPLIEDTO, 23, []),
        ]),
      );
      assert.equal(hex((await conn.next()).bytes), le(16, Op.KSOCKID, 21, 0, id));
      assert.equal(hex((await conn.next()).bytes), le(12, 0x99, 22, -25));
      assert.equal(hex((await conn.next()).bytes), le(16, Op.UNREPLIEDTO, 23, 0, 0));
    });
  });
});

describe('kbusd: a client that never reads', () => {
  let daemon: RunningDaemon;
  const closers: (() => unknown)[] = [];

  before(async () => {
    daemon = await startDaemon([], 30_000);
  });

  after(async () => {
    for (const close of closers.reverse()) await close();
    const code = await daemon?.stop();
    assert.equal(code, 0, `kbusd should stop cleanly; stderr: ${daemon.stderr()}`);
  });

  test('does not make kbusd buffer without bound, nor stop other clients', async () => {
    const witness = await Ksock.connect({ socket: daemon.socket });
    closers.push(() => witness.close());
    const sender = await Ksock.connect({ socket: daemon.socket });
    closers.push(() => sender.close());

    // The silent client: OPEN, BIND, then requests forever, never a read.
    const silent = connect(daemon.socket);
    closers.push(() => silent.destroy());
    silent.on('error', () => {});
    await within(
      new Promise<void>((resolve, reject) => {
        silent.once('connect', resolve);
        silent.once('error', reject);
      }),
      'the silent connection',
    );
    const pid = 424242;
    silent.write(encodeFrame(Op.OPEN, 1, [1, 0, 3, pid]));
    silent.write(encodeFrame(Op.BIND, 2, [0, 9], name('$.busy.it')));
    // And one that asks for every message to be pushed (STREAM), never reading either.
    const streamed = connect(daemon.socket);
    closers.push(() => streamed.destroy());
    streamed.on('error', () => {});
    const streamedPid = 434343;
    streamed.write(encodeFrame(Op.OPEN, 1, [1, 0, 3, streamedPid]));
    streamed.write(encodeFrame(Op.BIND, 2, [0, 9], name('$.busy.it')));
    streamed.write(encodeFrame(Op.STREAM, 3, [0xffffffff]));
    await waitFor(async () => {
      const text = await witness.bindings();
      return text.includes(String(pid)) && text.includes(String(streamedPid));
    }, 'the silent clients to be bound');
    const bindings = await witness.bindings();
    assert.match(bindings, new RegExp(`${pid}.*\\$\\.busy\\.it`), bindings);
    assert.match(bindings, new RegExp(`${streamedPid}.*\\$\\.busy\\.it`), bindings);

    const kbusd = daemon.process.pid!;
    const start = rssKb(kbusd);
    let peak = start;
    const data = new Uint8Array(16 * 1024).fill(0x61);
    const nextReads = Buffer.concat(
      Array.from({ length: 500 }, () => encodeFrame(Op.NEXTREAD, 3, [])),
    );
    const began = Date.now();
    const total = 20_000;
    const batch = 100;
    let unanswered = 0;
    for (let sent = 0; sent < total; sent += batch) {
      await within(
        Promise.all(Array.from({ length: batch }, () => sender.announce('$.busy.it', data))),
        `announcements ${sent}..${sent + batch}`,
      );
      // Keep asking without ever reading the answers (written whether or not
      // the socket drains: they queue here, in the test, not in kbusd).
      if (!silent.write(nextReads)) unanswered++;
      if ((sent / batch) % 10 === 0) peak = Math.max(peak, rssKb(kbusd));
    }
    peak = Math.max(peak, rssKb(kbusd));
    const growth = (peak - start) / 1024;
    console.log(
      `# never-reading client: ${total} x 16 KB announcements in ${Date.now() - began} ms; kbusd RSS ${Math.round(start / 1024)} MB at start, peak ${Math.round(peak / 1024)} MB; silent writes blocked ${unanswered} times`,
    );
    assert.ok(
      growth < 200,
      `kbusd RSS grew ${growth.toFixed(0)} MB while a client never read (${total * 16} KB announced to each)`,
    );
    assert.ok(isAlive(daemon.process), `kbusd died: ${daemon.stderr()}`);
    // The silent clients are still connected and bound.
    const still = await witness.bindings();
    assert.ok(still.includes(String(pid)) && still.includes(String(streamedPid)), still);
    await assertStillWorks(daemon.socket, witness, 'silent');
    // Other clients on the busy name still get the messages.
    const listener = await Ksock.connect({ socket: daemon.socket });
    closers.push(() => listener.close());
    await listener.bind('$.busy.it');
    await sender.announce('$.busy.it', 'after');
    const heard = await listener.receive({ timeout: 10_000 });
    assert.equal(heard.text(), 'after');
    // SIGTERM still stops kbusd cleanly with the two stuck clients connected.
    const code = await within(daemon.stop(), 'kbusd to stop with stuck clients', 30_000);
    assert.equal(code, 0, `kbusd exit code; stderr: ${daemon.stderr()}`);
  });
});

describe('kbusd: limits and connection churn', () => {
  let daemon: RunningDaemon;
  const raws: RawConnection[] = [];

  before(async () => {
    daemon = await startDaemon([], 30_000);
  });

  after(async () => {
    for (const raw of raws) raw.destroy();
    const code = await daemon?.stop();
    assert.equal(code, 0, `kbusd should stop cleanly; stderr: ${daemon.stderr()}`);
  });

  test('NEWDEVICE stops at 256 devices with EINVAL', async () => {
    const conn = await RawConnection.open(daemon.socket);
    raws.push(conn);
    for (let expected = 1; expected < 256; expected++) {
      const made = await conn.request(Op.NEWDEVICE, []);
      assert.equal(made.status, 0);
      assert.equal(made.word(0), expected);
    }
    assertError(await conn.request(Op.NEWDEVICE, []), 'EINVAL', 'the 257th device');
    const last = await Ksock.connect({ socket: daemon.socket, device: 255 });
    assert.equal(last.device, 255);
    await last.close();
    const witness = await Ksock.connect({ socket: daemon.socket });
    try {
      await assertStillWorks(daemon.socket, witness, 'dev');
    } finally {
      await witness.close();
    }
  });

  test('every request before a half-close is answered, in order, then the connection ends', async () => {
    const conn = await RawConnection.connect(daemon.socket);
    raws.push(conn);
    const count = 2000;
    const frames = [encodeFrame(Op.OPEN, 1, [1, 0, 3, process.pid])];
    for (let i = 0; i < count; i++) frames.push(encodeFrame(Op.KSOCKID, 2 + i, []));
    await conn.write(Buffer.concat(frames));
    conn.socket.end();
    const open = await conn.next('OPEN');
    assert.equal(open.status, 0);
    for (let i = 0; i < count; i++) {
      const response = await conn.next(`KSOCKID ${i}`);
      assert.equal(hex(response.bytes), le(16, Op.KSOCKID, 2 + i, 0, open.word(0)));
    }
    await conn.closedByPeer();
  });

  test('connections opened and dropped in bulk leave the daemon serving', async () => {
    const witness = await Ksock.connect({ socket: daemon.socket });
    try {
      const start = rssKb(daemon.process.pid!);
      for (let round = 0; round < 5; round++) {
        const batch = await Promise.all(
          Array.from({ length: 100 }, () => RawConnection.open(daemon.socket)),
        );
        // Half of them bind a replier each, to be released when dropped.
        const bound = await Promise.all(
          batch.slice(0, 50).map((c, i) => {
            const bytes = name(`$.churn${round}.${i}`);
            return c.request(Op.BIND, [1, bytes.length], bytes);
          }),
        );
        for (const response of bound) assert.equal(response.status, 0, 'BIND');
        for (const c of batch) c.destroy();
        await Promise.all(batch.map((c) => c.closedByPeer()));
      }
      await waitFor(
        async () => !(await witness.bindings()).includes('$.churn'),
        'every churned Ksock to be released',
      );
      const growth = (rssKb(daemon.process.pid!) - start) / 1024;
      assert.ok(growth < 100, `kbusd RSS grew ${growth.toFixed(0)} MB over 500 connections`);
      await assertStillWorks(daemon.socket, witness, 'churn');
    } finally {
      await witness.close();
    }
  });
});
