/**
 * The client's side of the socket protocol: frames out (batched, so many
 * requests travel in one write), responses matched to requests in order,
 * unsolicited EVENT and MESSAGE frames handed to the owner.
 */
import { FrameDecoder, FrameWriter, Op, opName, type Transport } from '../protocol/index.js';
import {
  Deque,
  type EntireMessage,
  KbusError,
  type Message,
  type MessageId,
  type MessageInit,
  readU32LE,
} from '../wire/index.js';
import { ConnectionLostError } from './errors.js';
import { explainEncodedSendError, explainSendError } from './explain.js';

/** The result of a request: its status and the result fields after it. */
export class Result {
  constructor(
    readonly status: number,
    readonly body: Uint8Array,
  ) {}

  /** The u32 result field at byte `at` of the body. */
  word(at: number): number {
    return readU32LE(this.body, at);
  }
}

/**
 * A request awaiting its response. A SENDMSG is settled with its message
 * id decoded straight from the response (the hot path: no Result made);
 * every other request with its Result.
 */
class PendingCall {
  constructor(
    readonly op: number,
    readonly tag: number,
    readonly reject: (error: Error) => void,
    readonly resolve: ((result: Result) => void) | undefined,
    readonly onResult: ((result: Result) => void) | undefined,
    readonly resolveId: ((id: MessageId) => void) | undefined,
    readonly onId: ((id: MessageId) => void) | undefined,
    /** The message a SENDMSG sends, or its name if it was sent encoded, to explain its error. */
    readonly message: Message | MessageInit | string | undefined,
  ) {}
}

/** postMessage's success: nothing to do. */
const ignoreId = (_id: MessageId): void => {};

/** The message id result of SEND, SENDMSG and LASTSENT. */
export function idOf(result: Result): MessageId {
  return { networkId: result.word(0), serialNum: result.word(4) };
}

export interface ChannelEvents {
  /** A MESSAGE frame's payload: one entire message. */
  onMessage(bytes: Uint8Array): void;
  onEvent(mask: number): void;
  /** The connection is gone; `error` is what every call now fails with, `lost` whether close() was not the cause. */
  onClose(error: Error, lost: boolean): void;
}

const MAX_RESPONSE = 2 ** 31;

export class Channel {
  private readonly decoder = new FrameDecoder(MAX_RESPONSE);
  private readonly calls = new Deque<PendingCall>();
  private readonly writer: FrameWriter;
  private nextTag = 1;
  private closedError: Error | undefined;
  private closing = false;
  private lost_ = false;
  private resolveDone!: () => void;
  /** Settles once the connection is closed. */
  readonly done = new Promise<void>((resolve) => {
    this.resolveDone = resolve;
  });

  constructor(
    private readonly transport: Transport,
    private readonly events: ChannelEvents,
  ) {
    this.writer = new FrameWriter(transport);
    transport.attach({
      data: (bytes) => {
        try {
          this.decoder.pushFields(bytes, this.onFrame);
        } catch (err) {
          this.fail(err as Error);
        }
      },
      drain: () => this.writer.drained(),
      close: (error) => this.shutdown(error),
    });
  }

  /** The daemon broke the protocol: drop the connection, failing every call with `error`. */
  private fail(error: Error): void {
    this.shutdown(error);
    this.transport.destroy();
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** Did the connection end without close() (the daemon stopped, died or broke the protocol)? */
  get lost(): boolean {
    return this.lost_;
  }

  /** What calls fail with now that the connection is closed (undefined while open). */
  get closeError(): Error | undefined {
    return this.closedError;
  }

  /** Sends a request frame; `onResult` runs synchronously when its response is decoded. */
  call(
    op: number,
    words: readonly number[],
    tail?: Uint8Array,
    onResult?: (result: Result) => void,
  ): Promise<Result> {
    if (this.closedError) return Promise.reject(this.closedError);
    const tag = this.tag();
    this.writer.frame(op, words, tag, tail);
    return this.expect(op, tag, onResult);
  }

  /**
   * SENDMSG of a message object, encoded straight into the outgoing batch;
   * resolves with the id the daemon gave it. `onId` runs synchronously when
   * the response is decoded, before any later frame is.
   */
  sendMessage(message: Message | MessageInit, onId?: (id: MessageId) => void): Promise<MessageId> {
    if (this.closedError) return Promise.reject(this.closedError);
    const tag = this.tag();
    this.writer.message(Op.SENDMSG, message, tag);
    // The response is decoded straight into the id (see onFrame): no Result, no closures.
    return new Promise<MessageId>((resolve, reject) => {
      this.calls.pushBack(
        new PendingCall(Op.SENDMSG, tag, reject, undefined, undefined, resolve, onId, message),
      );
    });
  }

  /**
   * SENDMSG of a message object with no promise: `onError` hears of a
   * failure (with the error sendMessage would reject with); success is
   * silent. For a stream of sends whose ids nobody needs.
   */
  postMessage(message: Message | MessageInit, onError: (error: Error) => void): void {
    if (this.closedError) {
      onError(this.closedError);
      return;
    }
    const tag = this.tag();
    this.writer.message(Op.SENDMSG, message, tag);
    this.posted(tag, onError, message);
  }

  /**
   * postMessage of a message already encoded: `message` writes its entire
   * bytes into the outgoing batch at once. `name` is its name, for the
   * error `onError` hears.
   */
  postEncoded(message: EntireMessage, name: string, onError: (error: Error) => void): void {
    if (this.closedError) {
      onError(this.closedError);
      return;
    }
    const tag = this.tag();
    this.writer.entire(Op.SENDMSG, message, tag);
    this.posted(tag, onError, name);
  }

  /** A posted SENDMSG awaits its response: only a failure is reported, no id is made. */
  private posted(tag: number, onError: (error: Error) => void, sent: PendingCall['message']): void {
    this.calls.pushBack(
      new PendingCall(Op.SENDMSG, tag, onError, undefined, undefined, ignoreId, undefined, sent),
    );
  }

  private tag(): number {
    const tag = this.nextTag;
    this.nextTag = tag === 0xffffffff ? 1 : tag + 1;
    return tag;
  }

  private expect(
    op: number,
    tag: number,
    onResult: ((result: Result) => void) | undefined,
  ): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.calls.pushBack(
        new PendingCall(op, tag, reject, resolve, onResult, undefined, undefined, undefined),
      );
    });
  }

  private readonly onFrame = (op: number, tag: number, payload: Uint8Array): void => {
    if (tag === 0) {
      if (op === Op.MESSAGE) {
        this.events.onMessage(payload);
      } else if (op === Op.EVENT && payload.length >= 4) {
        this.events.onEvent(readU32LE(payload, 0));
      }
      return;
    }
    const call = this.calls.popFront();
    if (call === undefined || call.tag !== tag || call.op !== op) {
      if (call) this.calls.pushFront(call);
      this.fail(new Error(`kbusd answered op ${op} tag ${tag} out of turn`));
      return;
    }
    if (payload.length < 4) {
      call.reject(new KbusError('EINVAL', `short response to ${opName(call.op)}`));
      return;
    }
    const status = payload[0]! | (payload[1]! << 8) | (payload[2]! << 16) | (payload[3]! << 24);
    if (status < 0) {
      const error = KbusError.fromErrno(status, `${opName(call.op) ?? call.op} failed`);
      const sent = call.message;
      call.reject(
        sent === undefined
          ? error
          : typeof sent === 'string'
            ? explainEncodedSendError(error, sent)
            : explainSendError(error, sent),
      );
      return;
    }
    if (call.resolveId !== undefined) {
      if (payload.length < 12) {
        call.reject(new KbusError('EINVAL', `short response to ${opName(call.op)}`));
        return;
      }
      // A post(): nobody wants the id, so none is made.
      if (call.resolveId === ignoreId) return;
      const id: MessageId = { networkId: readU32LE(payload, 4), serialNum: readU32LE(payload, 8) };
      call.onId?.(id);
      call.resolveId(id);
      return;
    }
    const result = new Result(status, payload.subarray(4));
    call.onResult?.(result);
    call.resolve?.(result);
  };

  /** Ends the connection (the daemon then releases the Ksock). */
  close(): void {
    this.closing = true;
    this.writer.flush();
    this.transport.end();
  }

  private shutdown(error: Error | undefined): void {
    if (this.closedError) return;
    // After close(), a call is the caller's mistake (EBADF); otherwise the bus went away.
    this.lost_ = !this.closing;
    this.closedError = this.lost_
      ? new ConnectionLostError(error)
      : new KbusError('EBADF', 'the Ksock is closed', { cause: error });
    for (let call = this.calls.popFront(); call; call = this.calls.popFront())
      call.reject(this.closedError);
    this.events.onClose(this.closedError, this.lost_);
    this.resolveDone();
  }
}
