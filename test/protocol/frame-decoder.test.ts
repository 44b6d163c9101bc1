/**
 * The frame decoder every byte on a daemon connection passes through
 * (protocol.md "Frames"): known byte sequences written out in hex, the same
 * bytes fed one at a time and split at every offset, property tests (any
 * re-chunking of encoded frames decodes to the same frames) and a
 * time-boxed fuzz run against a plain model of the format.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { encodeFrame, type Frame, FrameDecoder, FrameError, Op } from '../../src/protocol/frame.js';
import { cutAt, fromHex, hex, RUNS, toHex, u32 } from '../wire/support.js';

/** A frame as the tests compare it: the payload copied out as hex. */
interface Decoded {
  op: number;
  tag: number;
  payload: string;
  tooLong: boolean;
}

const decoded = (op: number, tag: number, payload: string, tooLong = false): Decoded => ({
  op,
  tag,
  payload: hex(payload),
  tooLong,
});

/**
 * A decoder with `limit` and the frames it has given so far. Each payload is
 * copied as it arrives (it is only valid during the callback), and checked
 * to be within the limit: the decoder never holds more than that for a frame.
 */
function collector(limit: number) {
  const decoder = new FrameDecoder(limit);
  const frames: Decoded[] = [];
  const onFrame = (frame: Frame) => {
    assert.ok(frame.payload.length <= limit - 8, `a payload of ${frame.payload.length} bytes`);
    if (frame.tooLong) assert.equal(frame.payload.length, 0, 'a frame over the limit is skipped');
    frames.push({
      op: frame.op,
      tag: frame.tag,
      payload: toHex(frame.payload),
      tooLong: frame.tooLong,
    });
  };
  return { frames, push: (chunk: Uint8Array) => decoder.push(chunk, onFrame) };
}

/** Decodes `chunks` in order with a fresh decoder. */
function decodeChunks(limit: number, chunks: Iterable<Uint8Array>): Decoded[] {
  const { frames, push } = collector(limit);
  for (const chunk of chunks) push(chunk);
  return frames;
}

function* oneByteAtATime(bytes: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i++) yield bytes.subarray(i, i + 1);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

/** `value` as one little-endian 32-bit word. */
function le32(value: number): Uint8Array {
  const word = new Uint8Array(4);
  new DataView(word.buffer).setUint32(0, value, true);
  return word;
}

function u32le(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getUint32(at, true);
}

/**
 * The format, read the plain way from all the bytes at once (protocol.md
 * "Frames"): what a decoder must have given once it has seen `bytes`. A
 * frame is due when its last byte is in; a frame over the limit as soon as
 * its header is in (its payload is skipped, not awaited); a length under 8
 * is an error as soon as its four bytes are in.
 */
function model(bytes: Uint8Array, limit: number): { frames: Decoded[]; error: boolean } {
  const frames: Decoded[] = [];
  let at = 0;
  while (bytes.length - at >= 4) {
    const length = u32le(bytes, at);
    if (length < 8) return { frames, error: true };
    if (bytes.length - at < 12) break;
    const op = u32le(bytes, at + 4);
    const tag = u32le(bytes, at + 8);
    if (length > limit) {
      frames.push({ op, tag, payload: '', tooLong: true });
    } else if (bytes.length - at >= 4 + length) {
      const payload = toHex(bytes.subarray(at + 12, at + 4 + length));
      frames.push({ op, tag, payload, tooLong: false });
    } else {
      break;
    }
    at += 4 + length;
  }
  return { frames, error: false };
}

// --- Known bytes ------------------------------------------------------------------

/** The largest `length` the decoders below accept: the SENDMSG frame is exactly that long. */
const LIMIT = 88;

// protocol.md OPEN: u32 version (=1), u32 device, u32 mode, u32 pid.
const OPEN = hex(
  '18000000', // length 24: op, tag and 16 bytes of payload
  '40000000', // op 0x40 OPEN
  '01000000', // tag 1
  '01000000', // version 1
  '00000000', // device 0
  '03000000', // mode 3: read and write
  'd2040000', // pid 1234
);

// protocol.md SENDMSG: one whole entire message, here "$.Fred" with data "hi"
// (Kbus.txt "Message implementation").
const FRED_HI = hex(
  '4b627573', // start guard "Kbus"
  '00000000 00000000', // id
  '00000000 00000000', // in_reply_to
  '00000000', // to
  '00000000', // from
  '00000000 00000000', // orig_from
  '00000000 00000000', // final_to
  '00000000', // extra
  '01000000', // flags: WANT_A_REPLY
  '06000000', // name_len 6
  '02000000', // data_len 2
  '7375624b', // end guard "subK"
  '242e4672 65640000', // '$.Fred' and padding
  '68690000', // 'hi' and padding
  '7375624b', // final end guard
);
const SENDMSG = hex('58000000', '44000000', '02000000', FRED_HI); // length 88, op 0x44, tag 2

// A response: the request's op and tag, i32 status, then the results (the id sent).
const SENDMSG_OK = hex('14000000', '44000000', '02000000', '00000000', '00000000 01000000');
// A failed response: status -ENOENT (-2), no result fields.
const OPEN_ENOENT = hex('0c000000', '40000000', '01000000', 'feffffff');
// NEXTMSG (op 6) has no payload: the shortest frame there is.
const NEXTMSG = hex('08000000', '06000000', '03000000');
// An EVENT from the daemon: tag 0, the ready mask POLLIN.
const EVENT = hex('0c000000', '80000000', '00000000', '01000000');
// One byte over LIMIT: reported, its 81 payload bytes skipped.
const OVERSIZE = hex('59000000', '41000000', '04000000', 'ee'.repeat(81));

const KNOWN: readonly [string, string, Decoded][] = [
  ['an OPEN request', OPEN, decoded(Op.OPEN, 1, '01000000 00000000 03000000 d2040000')],
  [
    'a SENDMSG with a whole message, exactly at the limit',
    SENDMSG,
    decoded(Op.SENDMSG, 2, FRED_HI),
  ],
  ['a response with results', SENDMSG_OK, decoded(Op.SENDMSG, 2, '00000000 00000000 01000000')],
  ['a failed response', OPEN_ENOENT, decoded(Op.OPEN, 1, 'feffffff')],
  ['a frame with no payload', NEXTMSG, decoded(Op.NEXTMSG, 3, '')],
  ['an event', EVENT, decoded(Op.EVENT, 0, '01000000')],
  ['a frame over the limit', OVERSIZE, decoded(Op.WRITE, 4, '', true)],
];

/** Every known frame one after another, as one connection's bytes. */
const STREAM = fromHex(KNOWN.map(([, bytes]) => bytes).join(''));
const STREAM_FRAMES = KNOWN.map(([, , frame]) => frame);

describe('FrameDecoder: known bytes', () => {
  for (const [what, bytes, frame] of KNOWN) {
    test(`${what}: ${bytes.length / 2} bytes make one frame`, () => {
      assert.deepEqual(decodeChunks(LIMIT, [fromHex(bytes)]), [frame]);
    });
  }

  test('the frames are the ones encodeFrame builds', () => {
    assert.equal(toHex(encodeFrame(Op.OPEN, 1, [1, 0, 3, 1234])), OPEN);
    assert.equal(toHex(encodeFrame(Op.SENDMSG, 2, [], fromHex(FRED_HI))), SENDMSG);
    assert.equal(toHex(encodeFrame(Op.NEXTMSG, 3, [])), NEXTMSG);
  });

  // protocol.md: a frame over the limit gets -EMSGSIZE, so it must be
  // reported; its payload is skipped, never stored.
  test('a frame over the limit is reported once its header is in, before its payload', () => {
    const { frames, push } = collector(LIMIT);
    // A header claiming 4 GiB: waiting for it, or making room for it, would hang or fail.
    push(fromHex(hex('ffffffff', '41000000', '07000000')));
    assert.deepEqual(frames, [decoded(Op.WRITE, 7, '', true)]);
    push(new Uint8Array(4096).fill(0xaa));
    assert.equal(frames.length, 1, 'its payload is skipped');
  });

  test('the frame after a skipped one is decoded', () => {
    assert.deepEqual(decodeChunks(LIMIT, [fromHex(OVERSIZE + NEXTMSG)]), [
      decoded(Op.WRITE, 4, '', true),
      decoded(Op.NEXTMSG, 3, ''),
    ]);
  });

  // protocol.md: "a frame whose length cannot be a frame (< 8) makes the
  // daemon close the connection".
  test('a length under 8 throws FrameError', () => {
    for (let length = 0; length < 8; length++) {
      const bytes = concat([le32(length), fromHex('06000000 01000000')]);
      assert.throws(() => decodeChunks(LIMIT, [bytes]), FrameError, `length ${length}`);
    }
  });

  test('a length under 8 throws as soon as its four bytes are in, after the frames before it', () => {
    const { frames, push } = collector(LIMIT);
    push(fromHex(`${NEXTMSG} 07`));
    assert.deepEqual(frames, [decoded(Op.NEXTMSG, 3, '')]);
    push(fromHex('0000'));
    assert.throws(() => push(fromHex('00')), FrameError);
  });
});

describe('FrameDecoder: the same bytes in any pieces', () => {
  test('all at once', () => {
    assert.deepEqual(decodeChunks(LIMIT, [STREAM]), STREAM_FRAMES);
  });

  test('one byte at a time', () => {
    assert.deepEqual(decodeChunks(LIMIT, oneByteAtATime(STREAM)), STREAM_FRAMES);
  });

  test('split in two at every offset', () => {
    for (let at = 0; at <= STREAM.length; at++) {
      const frames = decodeChunks(LIMIT, [STREAM.subarray(0, at), STREAM.subarray(at)]);
      assert.deepEqual(frames, STREAM_FRAMES, `split at ${at}`);
    }
  });

  test('split in three at every pair of offsets a few bytes apart', () => {
    for (let at = 0; at <= STREAM.length; at++) {
      for (const gap of [1, 2, 3, 4, 5, 8, 11, 12, 13]) {
        const frames = decodeChunks(LIMIT, cutAt(STREAM, [at, at + gap]));
        assert.deepEqual(frames, STREAM_FRAMES, `split at ${at} and ${at + gap}`);
      }
    }
  });

  test('after every byte, exactly the frames complete so far have been given', () => {
    const { frames, push } = collector(LIMIT);
    for (let i = 0; i < STREAM.length; i++) {
      push(STREAM.subarray(i, i + 1));
      assert.deepEqual(frames, model(STREAM.subarray(0, i + 1), LIMIT).frames, `byte ${i}`);
    }
  });
});

// --- Properties -------------------------------------------------------------------

const payload = fc.oneof(
  { arbitrary: fc.uint8Array({ maxLength: 16 }), weight: 3 },
  { arbitrary: fc.uint8Array({ maxLength: 300 }), weight: 1 },
);
const frameArb = fc.record({ op: u32, tag: u32, payload });
const cuts = fc.array(fc.nat(), { maxLength: 24 });
/** Limits around the payload sizes above, so that some frames are over them. */
const limitArb = fc.constantFrom(8, 12, 20, 64, 200, 1 << 20);

describe('FrameDecoder properties', () => {
  test('encodeFrame then decoding gives back op, tag, the words (little-endian) and the tail', () => {
    fc.assert(
      fc.property(u32, u32, fc.array(u32, { maxLength: 8 }), payload, (op, tag, words, tail) => {
        const bytes = encodeFrame(op, tag, words, tail);
        const expected = toHex(concat([...words.map(le32), tail]));
        assert.deepEqual(decodeChunks(1 << 20, [bytes]), [decoded(op, tag, expected)]);
      }),
      RUNS,
    );
  });

  test('any frames, encoded and cut anywhere, decode to the same frames', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 10 }), cuts, limitArb, (frames, at, limit) => {
        const bytes = concat(frames.map((f) => encodeFrame(f.op, f.tag, [], f.payload)));
        const expected = frames.map((f) =>
          8 + f.payload.length > limit
            ? decoded(f.op, f.tag, '', true)
            : decoded(f.op, f.tag, toHex(f.payload)),
        );
        assert.deepEqual(decodeChunks(limit, cutAt(bytes, at)), expected);
        assert.deepEqual(decodeChunks(limit, [bytes]), expected);
      }),
      RUNS,
    );
  });
});

// --- Fuzz -------------------------------------------------------------------------

/** Pieces of a hostile stream: real frames, short or huge lengths, and noise. */
const segment = fc.oneof(
  frameArb.map((f) => encodeFrame(f.op, f.tag, [], f.payload)),
  fc
    .tuple(fc.integer({ min: 0, max: 120 }), fc.uint8Array({ maxLength: 40 }))
    .map(([length, rest]) => concat([le32(length), rest])),
  fc
    .tuple(u32, fc.uint8Array({ maxLength: 8 }))
    .map(([length, rest]) => concat([le32(length), rest])),
  fc.uint8Array({ maxLength: 40 }),
);
const hostileStream = fc.oneof(
  fc.array(segment, { maxLength: 12 }).map(concat),
  fc.uint8Array({ maxLength: 600 }),
);

/** Fed `bytes` in pieces, the decoder agrees with the model after every piece. */
function checkAgainstModel(bytes: Uint8Array, at: readonly number[], limit: number): void {
  const { frames, push } = collector(limit);
  let fed = 0;
  for (const piece of cutAt(bytes, at)) {
    fed += piece.length;
    const due = model(bytes.subarray(0, fed), limit);
    let thrown: unknown;
    try {
      push(piece);
    } catch (err) {
      thrown = err;
    }
    if (thrown !== undefined) {
      assert.ok(thrown instanceof FrameError, `the decoder threw ${String(thrown)}`);
      assert.ok(due.error, 'FrameError only for a length under 8');
      assert.deepEqual(frames, due.frames);
      return; // the connection is closed here
    }
    assert.ok(!due.error, 'a length under 8 must throw');
    assert.deepEqual(frames, due.frames);
  }
}

describe('FrameDecoder fuzz', () => {
  // Bounded both ways: a fixed number of runs, cut short after 1.5 s on a slow machine.
  test('hostile bytes in any pieces: only FrameError, and exactly the frames due', () => {
    fc.assert(fc.property(hostileStream, cuts, limitArb, checkAgainstModel), {
      numRuns: 6000,
      interruptAfterTimeLimit: 1500,
      markInterruptAsFailure: false,
    });
  });
});
