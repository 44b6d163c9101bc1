/**
 * The receiving side of a client Ksock: the messages kbusd pushes to it
 * (STREAM), the receive() calls and iterators waiting for them, the
 * request() calls waiting for their replies, and the STREAM credit that
 * keeps messages coming for all of them and no more.
 */
import { Deque, idKey, type MessageId, NameCache, NO_ID } from '../wire/index.js';
import {
  checkReceived,
  decodeChecked,
  type KbusMessage,
  type Reply,
  receivedInReplyTo,
  type Status,
} from './messages.js';
import { type Waiter, type WaitOptions, waitOn } from './wait.js';

/**
 * Stream credit kept while an iterator runs (one per waiting receive()):
 * enough messages for about STREAM_WINDOW_BYTES, so that pushing never
 * waits for credit, yet a slow reader holds a bounded amount.
 */
const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
const MAX_ITERATOR_WINDOW = 8192;
const MIN_ITERATOR_WINDOW = 16;
/** Credit kept while a request() waits, so that its reply is pushed. */
const REPLY_WINDOW = 16;

/**
 * Pushed messages as their entire bytes (Ksock.messageBytes): for code that
 * relays messages without reading them as objects.
 */
export interface MessageBytesReader {
  /**
   * The oldest message waiting, as its entire bytes (little-endian, already
   * checked), or undefined if none is; never waits. The bytes are the
   * caller's to keep.
   */
  take(): Uint8Array | undefined;
  /**
   * Resolves true once a message is waiting (at once if one is); false once
   * the reader is stopped or the Ksock closed by close(). Rejects with the
   * error when the connection was lost, once what had arrived is taken.
   */
  ready(): Promise<boolean>;
  /** Stops reading: the STREAM credit kept for this reader is no longer kept. */
  stop(): void;
}

/** A `for await` loop waiting for its next message (Inbox.messages). */
class IterationWaiter implements Waiter<KbusMessage> {
  constructor(
    private readonly settle: (result: IteratorResult<KbusMessage>) => void,
    private readonly fail: (error: unknown) => void,
    /** What the loop gets when the wait fails: its end, or the error to throw. */
    private readonly ended: (error: unknown) => IteratorResult<KbusMessage>,
  ) {}

  resolve(value: KbusMessage): void {
    this.settle({ done: false, value });
  }

  reject(error: unknown): void {
    try {
      this.settle(this.ended(error));
    } catch (thrown) {
      this.fail(thrown);
    }
  }
}

export class Inbox {
  /**
   * Messages pushed to us and not yet taken, as their bytes: decoded when
   * taken, so that a backlog holds one small object per message, not a
   * message's several (less for the garbage collector to copy).
   */
  private readonly pushed = new Deque<Uint8Array>();
  private readonly names = new NameCache();
  private readonly receivers = new Deque<Waiter<KbusMessage>>();
  private readonly replyWaiters = new Map<string | number, Waiter<Reply | Status>>();
  /** Requests whose request() gave up: their reply is dropped when it comes. */
  private readonly abandoned = new Set<string | number>();
  /** Replies dropped because their request() had given up (timeout or abort). */
  lateReplies = 0;
  /** Set when the connection was lost (not closed by close()): iteration then throws it. */
  private lostError: Error | undefined;
  private iterators = 0;
  /** Byte readers waiting in ready(): each looks again once a message is pushed. */
  private readerWakers: (() => void)[] = [];
  /** A running average of the size of the messages pushed to us. */
  private averageBytes = 256;
  private credit = 0;
  private granting = false;

  /**
   * `grant` sends STREAM with the credit to add; `isClosed` says whether
   * the connection has gone.
   */
  constructor(
    private readonly grant: (credit: number) => Promise<unknown>,
    private readonly isClosed: () => boolean,
  ) {}

  /** The oldest message pushed to us and not yet taken, decoded; never waits. */
  take(): KbusMessage | undefined {
    const bytes = this.pushed.popFront();
    return bytes === undefined ? undefined : decodeChecked(bytes, this.names);
  }

  /** Waits for the next message. */
  receive(options?: WaitOptions, what = 'receive()'): Promise<KbusMessage> {
    const ready = this.take();
    if (ready) return Promise.resolve(ready);
    return waitOn<KbusMessage>(
      what,
      (waiter) => {
        this.receivers.pushBack(waiter);
        this.demand(this.receivers.length);
        return () => {
          this.receivers.removeWhere((w) => w === waiter);
        };
      },
      options,
    );
  }

  /**
   * Messages as they arrive, stopping when `signal` aborts or the
   * connection closes. (An iterator by hand rather than an async
   * generator: a generator awaits every value it yields, which costs a
   * round of promises per message.)
   */
  messages(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<KbusMessage> {
    const signal = options.signal;
    let state: 'new' | 'running' | 'finished' = 'new';
    const finish = () => {
      if (state === 'running') this.iterators--;
      state = 'finished';
    };
    const done = (): IteratorResult<KbusMessage> => ({ done: true, value: undefined });
    /** A wait for the next message failed: the loop ends, quietly after close() or an abort. */
    const ended = (err: unknown): IteratorResult<KbusMessage> => {
      finish();
      if (this.lostError) throw this.lostError;
      if (this.isClosed() || signal?.aborted) return done();
      throw err;
    };
    const iterator: AsyncIterableIterator<KbusMessage> = {
      next: () => {
        if (state === 'new') {
          state = 'running';
          this.iterators++;
        }
        if (state === 'finished' || signal?.aborted) {
          finish();
          return Promise.resolve(done());
        }
        if (this.isClosed()) {
          // A lost connection first yields what had arrived, then throws.
          const ready = this.lostError ? this.take() : undefined;
          if (ready !== undefined) return Promise.resolve({ done: false, value: ready });
          finish();
          return this.lostError ? Promise.reject(this.lostError) : Promise.resolve(done());
        }
        this.demand(this.iteratorWindow());
        // What has already arrived needs no waiting.
        const ready = this.take();
        if (ready !== undefined) return Promise.resolve({ done: false, value: ready });
        if (signal === undefined) {
          // The usual loop: one promise and one small waiter per wait, not
          // receive()'s timers and abort handling and a promise on top.
          return new Promise<IteratorResult<KbusMessage>>((resolve, reject) => {
            this.receivers.pushBack(new IterationWaiter(resolve, reject, ended));
            this.demand(this.receivers.length);
          });
        }
        return this.receive(options, 'iterating messages').then(
          (value) => ({ done: false, value }),
          ended,
        );
      },
      return: () => {
        finish();
        return Promise.resolve(done());
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /**
   * A reader of pushed messages as bytes. It keeps STREAM credit as an
   * iterator does; it takes from the same queue, after receive() calls.
   */
  messageBytes(): MessageBytesReader {
    let running = true;
    this.iterators++;
    const stop = () => {
      if (!running) return;
      running = false;
      this.iterators--;
      this.wakeReaders();
    };
    const ready = (): Promise<boolean> => {
      if (!running) return Promise.resolve(false);
      if (this.pushed.length > 0) return Promise.resolve(true);
      if (this.isClosed()) {
        stop();
        return this.lostError ? Promise.reject(this.lostError) : Promise.resolve(false);
      }
      this.demand(this.iteratorWindow());
      // Woken by a push, close() or stop(): look again then.
      return new Promise<boolean>((resolve, reject) => {
        this.readerWakers.push(() => ready().then(resolve, reject));
      });
    };
    return { take: () => this.pushed.popFront(), ready, stop };
  }

  private wakeReaders(): void {
    if (this.readerWakers.length === 0) return;
    const wakers = this.readerWakers;
    this.readerWakers = [];
    for (const wake of wakers) wake();
  }

  /** The reply (or status message) to request `id` goes to `waiter`, not to receivers. */
  expectReply(id: MessageId, waiter: Waiter<Reply | Status>): void {
    this.replyWaiters.set(idKey(id), waiter);
  }

  /**
   * A request() gave up waiting for the reply to `id` (timeout or abort):
   * the reply, when it comes, is dropped and counted, never handed to
   * receive() where it would answer nothing anyone asked.
   */
  abandonReply(id: MessageId): void {
    const key = idKey(id);
    this.replyWaiters.delete(key);
    if (!this.isClosed()) this.abandoned.add(key);
  }

  /** Keeps the credit a waiting request() needs. */
  awaitingReply(): void {
    this.demand(REPLY_WINDOW);
  }

  /** A MESSAGE frame's payload: one entire message. */
  onMessage(bytes: Uint8Array): void {
    checkReceived(bytes);
    this.credit = Math.max(0, this.credit - 1);
    this.averageBytes += (bytes.length - this.averageBytes) / 64;
    // Only a message with in_reply_to set (a reply or a status message) can answer a request().
    const inReplyTo = receivedInReplyTo(bytes);
    if (inReplyTo !== NO_ID && (this.replyWaiters.size > 0 || this.abandoned.size > 0)) {
      const key = idKey(inReplyTo);
      if (this.abandoned.delete(key)) {
        this.lateReplies++;
        this.topUp();
        return;
      }
      const waiter = this.replyWaiters.get(key);
      if (waiter) {
        this.replyWaiters.delete(key);
        waiter.resolve(decodeChecked(bytes, this.names) as Reply | Status);
        this.topUp();
        return;
      }
    }
    const receiver = this.receivers.popFront();
    if (receiver) receiver.resolve(decodeChecked(bytes, this.names));
    else {
      this.pushed.pushBack(bytes);
      this.wakeReaders();
    }
    this.topUp();
  }

  /** The connection is gone: every wait fails with `error`; `lost` if close() was not the cause. */
  close(error: Error, lost: boolean): void {
    if (lost) this.lostError = error;
    this.abandoned.clear();
    for (let w = this.receivers.popFront(); w; w = this.receivers.popFront()) w.reject(error);
    for (const w of this.replyWaiters.values()) w.reject(error);
    this.replyWaiters.clear();
    this.wakeReaders();
  }

  /** The stream credit an iterator keeps, by the size of recent messages. */
  private iteratorWindow(): number {
    const window = Math.floor(STREAM_WINDOW_BYTES / this.averageBytes);
    return Math.max(MIN_ITERATOR_WINDOW, Math.min(MAX_ITERATOR_WINDOW, window));
  }

  /** Keeps enough STREAM credit for what is waiting. */
  private topUp(): void {
    let want = this.receivers.length;
    const window = this.iteratorWindow();
    if (this.iterators > 0 && this.pushed.length < window) want = Math.max(want, window);
    // A reply to an abandoned request is fetched too, to be dropped and free its queue slot.
    if (this.replyWaiters.size > 0 || this.abandoned.size > 0) want = Math.max(want, REPLY_WINDOW);
    this.demand(want);
  }

  private demand(want: number): void {
    if (this.credit >= want || this.granting || this.isClosed()) return;
    // Top a large window up only once half of it is used: fewer STREAM frames.
    if (want >= MIN_ITERATOR_WINDOW && this.credit >= want / 2) return;
    const add = want - this.credit;
    this.credit = want;
    this.granting = true;
    this.grant(add).then(
      () => {
        this.granting = false;
        this.topUp();
      },
      () => {
        this.granting = false;
      },
    );
  }
}
