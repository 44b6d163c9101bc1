/**
 * The client's side of the socket protocol: frames out (batched, so many
 * requests travel in one write), responses matched to requests in order,
 * unsolicited EVENT and MESSAGE frames handed to the owner.
 */
import type { Duplex } from 'node:stream';
import { Deque } from '../engine/deque.js';
import {
  decodeMessage,
  encodedLength,
  encodeMessage,
  FRAME_HEADER_LENGTH,
  type Frame,
  FrameDecoder,
  KbusError,
  type Message,
  Op,
  opName,
  writeFrameHeader,
} from '../wire/index.js';

/** The result of a request: its status and the result fields after it. */
export interface Result {
  readonly status: number;
  readonly body: Uint8Array;
  readonly view: DataView;
}

interface PendingCall {
  readonly op: number;
  readonly tag: number;
  readonly resolve: (result: Result) => void;
  readonly reject: (error: Error) => void;
  readonly onResult: ((result: Result) => void) | undefined;
}

export interface ChannelEvents {
  onMessage(message: Message): void;
  onEvent(mask: number): void;
  onClose(error: Error | undefined): void;
}

const MAX_RESPONSE = 2 ** 31;

export class Channel {
  private readonly decoder = new FrameDecoder(MAX_RESPONSE);
  private readonly calls = new Deque<PendingCall>();
  private out: Uint8Array[] = [];
  private outScheduled = false;
  private nextTag = 1;
  private closedError: Error | undefined;
  private resolveDone!: () => void;
  /** Settles once the connection is closed. */
  readonly done = new Promise<void>((resolve) => {
    this.resolveDone = resolve;
  });

  constructor(
    private readonly stream: Duplex,
    private readonly events: ChannelEvents,
  ) {
    stream.on('data', (chunk: Buffer) => {
      try {
        this.decoder.push(chunk, (frame) => this.onFrame(frame));
      } catch (err) {
        this.stream.destroy(err as Error);
      }
    });
    stream.on('error', (err) => this.shutdown(err));
    stream.on('close', () => this.shutdown(undefined));
    stream.on('end', () => this.shutdown(undefined));
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** Sends a request frame; `onResult` runs synchronously when its response is decoded. */
  call(
    op: number,
    words: readonly number[],
    tail?: Uint8Array,
    onResult?: (result: Result) => void,
  ): Promise<Result> {
    const payload = 4 * words.length + (tail?.length ?? 0);
    const frame = new Uint8Array(FRAME_HEADER_LENGTH + payload);
    const view = new DataView(frame.buffer);
    const tag = this.tag();
    let at = writeFrameHeader(view, 0, payload, op, tag);
    for (const w of words) {
      view.setUint32(at, w >>> 0, true);
      at += 4;
    }
    if (tail) frame.set(tail, at);
    return this.enqueue(op, tag, frame, onResult);
  }

  /** SENDMSG of a message object, encoded straight into the frame. */
  sendMessage(message: Message, onResult?: (result: Result) => void): Promise<Result> {
    const length = encodedLength(message);
    const frame = new Uint8Array(FRAME_HEADER_LENGTH + length);
    const tag = this.tag();
    writeFrameHeader(new DataView(frame.buffer), 0, length, Op.SENDMSG, tag);
    encodeMessage(message, true, frame, FRAME_HEADER_LENGTH);
    return this.enqueue(Op.SENDMSG, tag, frame, onResult);
  }

  private tag(): number {
    const tag = this.nextTag;
    this.nextTag = tag === 0xffffffff ? 1 : tag + 1;
    return tag;
  }

  private enqueue(
    op: number,
    tag: number,
    frame: Uint8Array,
    onResult: ((result: Result) => void) | undefined,
  ): Promise<Result> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise<Result>((resolve, reject) => {
      this.calls.pushBack({ op, tag, resolve, reject, onResult });
      this.out.push(frame);
      if (!this.outScheduled) {
        this.outScheduled = true;
        queueMicrotask(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.outScheduled = false;
    const out = this.out;
    if (out.length === 0 || this.stream.destroyed) return;
    this.out = [];
    this.stream.write(out.length === 1 ? out[0]! : Buffer.concat(out));
  }

  private onFrame(frame: Frame): void {
    if (frame.tag === 0) {
      if (frame.op === Op.MESSAGE) {
        this.events.onMessage(decodeMessage(frame.payload, { shareData: true }));
      } else if (frame.op === Op.EVENT && frame.payload.length >= 4) {
        this.events.onEvent(
          new DataView(frame.payload.buffer, frame.payload.byteOffset).getUint32(0, true),
        );
      }
      return;
    }
    const call = this.calls.popFront();
    if (call === undefined || call.tag !== frame.tag || call.op !== frame.op) {
      this.stream.destroy(new Error(`kbusd answered op ${frame.op} tag ${frame.tag} out of turn`));
      if (call) this.calls.pushFront(call);
      return;
    }
    const payload = frame.payload;
    if (payload.length < 4) {
      call.reject(new KbusError('EINVAL', `short response to ${opName(call.op)}`));
      return;
    }
    const head = new DataView(payload.buffer, payload.byteOffset, payload.length);
    const status = head.getInt32(0, true);
    if (status < 0) {
      call.reject(KbusError.fromErrno(status, `${opName(call.op) ?? call.op} failed`));
      return;
    }
    const body = payload.subarray(4);
    const result = { status, body, view: new DataView(body.buffer, body.byteOffset, body.length) };
    call.onResult?.(result);
    call.resolve(result);
  }

  /** Ends the connection (the daemon then releases the Ksock). */
  close(): void {
    this.flush();
    this.stream.end();
  }

  private shutdown(error: Error | undefined): void {
    if (this.closedError) return;
    this.closedError = new KbusError('EBADF', 'the connection to kbusd is closed', {
      cause: error,
    });
    for (let call = this.calls.popFront(); call; call = this.calls.popFront())
      call.reject(this.closedError);
    this.events.onClose(error);
    this.resolveDone();
  }
}
