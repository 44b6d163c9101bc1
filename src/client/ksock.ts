/**
 * The client API: one Ksock, over a socket to kbusd or over an in-process
 * engine (through the daemon's own connection handler, so that the two
 * behave identically). Every device operation is a method; on top of them,
 * `request()` that resolves with the reply, `receive()` and async iteration
 * of incoming messages, typed messages, AbortSignal and timeouts.
 */
import { connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { Connection } from '../daemon/connection.js';
import { defaultSocketPath } from '../daemon/socket-path.js';
import { Deque } from '../engine/deque.js';
import { Engine } from '../engine/engine.js';
import { idKey } from '../engine/ksock.js';
import {
  copyBytes,
  Flags,
  KbusError,
  type Message,
  type MessageId,
  MIN_FRAME_LENGTH,
  makeMessage,
  NameCache,
  type NetworkAddress,
  NO_ID,
  Op,
  PROTOCOL_VERSION,
  QUERY,
} from '../wire/index.js';
import { Channel, idOf } from './channel.js';
import { memoryPair } from './memory-pair.js';
import {
  checkReceived,
  type Data,
  decodeChecked,
  decodeReceived,
  type KbusMessage,
  type Outgoing,
  type Reply,
  receivedInReplyTo,
  type Status,
  toBytes,
  toMessageInit,
} from './messages.js';
import { type Waiter, type WaitOptions, waitOn } from './wait.js';

export type { WaitOptions };

export type Mode = 'r' | 'w' | 'rw';

export interface OpenOptions {
  /** Device index (default 0). */
  device?: number;
  /** 'r' (listen only), 'w' or 'rw' (default). */
  mode?: Mode;
  /** Reported in the bindings list (default this process's pid). */
  pid?: number;
}

export interface ConnectOptions extends OpenOptions {
  /** kbusd's socket (default `$KBUS_SOCKET`, else the daemon's default path). */
  socket?: string;
}

export interface SendOptions {
  /** Ksock id of the replier a stateful request must reach. */
  to?: number;
  /** For a stateful request across Limpets: the replier's network and Ksock (a reply's `origFrom`). */
  finalTo?: NetworkAddress;
  /** Extra flags (URGENT, ALL_OR_FAIL, ALL_OR_WAIT, user bits). */
  flags?: number;
}

const MODE_BITS: Record<Mode, number> = { r: 1, w: 2, rw: 3 };
/**
 * Stream credit kept while an iterator runs (one per waiting receive()):
 * enough messages for about STREAM_WINDOW_BYTES, so that pushing never
 * waits for credit, yet a slow reader holds a bounded amount.
 */
const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
const MAX_ITERATOR_WINDOW = 8192;
const MIN_ITERATOR_WINDOW = 16;
const REPLY_WINDOW = 16;

let sharedEngine: Engine | undefined;

/** The process's default in-process bus, made on first use. */
export function defaultEngine(): Engine {
  sharedEngine ??= new Engine();
  return sharedEngine;
}

export class Ksock implements AsyncIterable<KbusMessage> {
  private readonly channel: Channel;
  /**
   * Messages pushed to us and not yet taken, as their bytes: decoded when
   * taken, so that a backlog holds one small object per message, not a
   * message's several (less for the garbage collector to copy).
   */
  private readonly inbox = new Deque<Uint8Array>();
  private readonly names = new NameCache();
  private readonly receivers = new Deque<Waiter<KbusMessage>>();
  private readonly replyWaiters = new Map<string | number, Waiter<Reply | Status>>();
  private readonly pollWaiters: { mask: number; waiter: Waiter<number> }[] = [];
  private iterators = 0;
  /** A running average of the size of the messages pushed to us. */
  private averageBytes = 256;
  private credit = 0;
  private granting = false;
  private id_ = 0;
  private device_ = 0;

  private constructor(stream: Duplex) {
    this.channel = new Channel(stream, {
      onMessage: (bytes) => this.onMessage(bytes),
      onEvent: (mask) => {
        // Wake the waiters this event satisfies; re-arm for the others.
        const waiting = this.pollWaiters.splice(0);
        for (const w of waiting) {
          if (w.mask & mask) w.waiter.resolve(mask & w.mask);
          else this.pollWaiters.push(w);
        }
        if (this.pollWaiters.length > 0) this.arm();
      },
      onClose: () => this.onClose(),
    });
  }

  /** Connects to kbusd and opens a Ksock on one of its devices. */
  static async connect(options: ConnectOptions = {}): Promise<Ksock> {
    const path = options.socket ?? defaultSocketPath();
    const socket = netConnect(path);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
          // Not a bus error: say what to do, keep the system's code.
          const error = new Error(
            `no kbusd is serving ${path}: start one with 'kbusd --socket ${path}'`,
            {
              cause: err,
            },
          );
          reject(Object.assign(error, { code: err.code }));
        } else reject(err);
      });
    });
    socket.setNoDelay?.(true);
    return Ksock.openOn(socket, options);
  }

  /**
   * Opens a Ksock on an in-process engine (by default the process's shared
   * one): no daemon needed, same behaviour.
   */
  static async open(engine: Engine = defaultEngine(), options: OpenOptions = {}): Promise<Ksock> {
    const [client, server] = memoryPair();
    const maxFrameLength = MIN_FRAME_LENGTH + engine.options.maxMessageSize;
    new Connection(engine, server, { maxFrameLength, log: undefined }, 0);
    return Ksock.openOn(client, options);
  }

  private static async openOn(stream: Duplex, options: OpenOptions): Promise<Ksock> {
    const ksock = new Ksock(stream);
    const device = options.device ?? 0;
    try {
      const result = await ksock.channel.call(Op.OPEN, [
        PROTOCOL_VERSION,
        device,
        MODE_BITS[options.mode ?? 'rw'],
        options.pid ?? process.pid,
      ]);
      ksock.id_ = result.word(0);
      ksock.device_ = device;
      return ksock;
    } catch (err) {
      stream.destroy();
      throw err;
    }
  }

  /** This Ksock's id (KSOCKID), known since it was opened. */
  get id(): number {
    return this.id_;
  }

  /** The device this Ksock is open on. */
  get device(): number {
    return this.device_;
  }

  get closed(): boolean {
    return this.channel.closed;
  }

  // --- Sending ------------------------------------------------------------------

  /** Sends a message (SENDMSG) and resolves with its id. */
  send(message: Outgoing | Message): Promise<MessageId> {
    return this.channel.sendMessage(toMessageInit(message));
  }

  /** Sends an announcement. */
  announce(name: string, data?: Data, options: SendOptions = {}): Promise<MessageId> {
    return this.send({ name, data, to: options.to, flags: options.flags });
  }

  /**
   * Sends a request and resolves with its reply, or with the status
   * message KBUS sends instead (GoneAway, Ignored, Unbound, ...).
   */
  request(
    name: string,
    data?: Data,
    options: SendOptions & WaitOptions = {},
  ): Promise<Reply | Status> {
    const message = makeMessage({
      name,
      data: toBytes(data),
      to: options.to,
      finalTo: options.finalTo,
      flags: ((options.flags ?? 0) | Flags.WANT_A_REPLY) >>> 0,
    });
    return waitOn<Reply | Status>((waiter) => {
      let key: string | number | undefined;
      let cancelled = false;
      // Register for the reply the moment the send's result is decoded, before
      // any later frame (the reply itself) can be.
      this.channel
        .sendMessage(message, (id) => {
          if (cancelled) return;
          key = idKey(id);
          this.replyWaiters.set(key, waiter);
        })
        .catch((err: unknown) => waiter.reject(err));
      this.demand(REPLY_WINDOW);
      return () => {
        cancelled = true;
        if (key !== undefined) this.replyWaiters.delete(key);
      };
    }, options);
  }

  /** Replies to a request: same name, `to` its sender, `in_reply_to` its id. */
  replyTo(request: Message, data?: Data, options: { flags?: number } = {}): Promise<MessageId> {
    return this.send({
      name: request.name,
      to: request.from,
      inReplyTo: request.id,
      data,
      flags: options.flags,
    });
  }

  // --- Receiving ----------------------------------------------------------------

  /** Waits for the next message. */
  receive(options?: WaitOptions): Promise<KbusMessage> {
    const ready = this.takeReady();
    if (ready) return Promise.resolve(ready);
    return waitOn<KbusMessage>((waiter) => {
      this.receivers.pushBack(waiter);
      this.demand(this.receivers.length);
      return () => {
        this.receivers.removeWhere((w) => w === waiter);
      };
    }, options);
  }

  /** The next message if there is one now (NEXTREAD), else undefined; never waits. */
  async next(): Promise<KbusMessage | undefined> {
    const ready = this.takeReady();
    if (ready) return ready;
    const result = await this.channel.call(Op.NEXTREAD, []);
    const length = result.word(0);
    return length === 0 ? undefined : decodeReceived(result.body.subarray(4, 4 + length));
  }

  /** Messages as they arrive, until the Ksock closes or the loop breaks. */
  [Symbol.asyncIterator](): AsyncIterator<KbusMessage> {
    return this.messages()[Symbol.asyncIterator]();
  }

  /**
   * Messages as they arrive, stopping when `signal` aborts. (An iterator
   * by hand rather than an async generator: a generator awaits every value
   * it yields, which costs a round of promises per message.)
   */
  messages(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<KbusMessage> {
    const signal = options.signal;
    let state: 'new' | 'running' | 'finished' = 'new';
    const finish = () => {
      if (state === 'running') this.iterators--;
      state = 'finished';
    };
    const done = (): IteratorResult<KbusMessage> => ({ done: true, value: undefined });
    const iterator: AsyncIterableIterator<KbusMessage> = {
      next: () => {
        if (state === 'new') {
          state = 'running';
          this.iterators++;
        }
        if (state === 'finished' || this.closed || signal?.aborted) {
          finish();
          return Promise.resolve(done());
        }
        this.demand(this.iteratorWindow());
        // What has already arrived needs no waiting.
        const ready = this.takeReady();
        if (ready !== undefined) return Promise.resolve({ done: false, value: ready });
        return this.receive(options).then(
          (value) => ({ done: false, value }),
          (err: unknown) => {
            finish();
            if (this.closed || signal?.aborted) return done();
            throw err;
          },
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

  /** The oldest message pushed to us and not yet taken, decoded. */
  private takeReady(): KbusMessage | undefined {
    const bytes = this.inbox.popFront();
    return bytes === undefined ? undefined : decodeChecked(bytes, this.names);
  }

  private onMessage(bytes: Uint8Array): void {
    checkReceived(bytes);
    this.credit = Math.max(0, this.credit - 1);
    this.averageBytes += (bytes.length - this.averageBytes) / 64;
    // Only a message with in_reply_to set (a reply or a status message) can answer a request().
    const inReplyTo = receivedInReplyTo(bytes);
    if (inReplyTo !== NO_ID && this.replyWaiters.size > 0) {
      const key = idKey(inReplyTo);
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
    else this.inbox.pushBack(bytes);
    this.topUp();
  }

  /** Keeps enough STREAM credit for what is waiting. */
  /** The stream credit an iterator keeps, by the size of recent messages. */
  private iteratorWindow(): number {
    const window = Math.floor(STREAM_WINDOW_BYTES / this.averageBytes);
    return Math.max(MIN_ITERATOR_WINDOW, Math.min(MAX_ITERATOR_WINDOW, window));
  }

  private topUp(): void {
    let want = this.receivers.length;
    const window = this.iteratorWindow();
    if (this.iterators > 0 && this.inbox.length < window) want = Math.max(want, window);
    if (this.replyWaiters.size > 0) want = Math.max(want, REPLY_WINDOW);
    this.demand(want);
  }

  private demand(want: number): void {
    if (this.credit >= want || this.granting || this.closed) return;
    // Top a large window up only once half of it is used: fewer STREAM frames.
    if (want >= MIN_ITERATOR_WINDOW && this.credit >= want / 2) return;
    const add = want - this.credit;
    this.credit = want;
    this.granting = true;
    this.channel.call(Op.STREAM, [add]).then(
      () => {
        this.granting = false;
        this.topUp();
      },
      () => {
        this.granting = false;
      },
    );
  }

  private onClose(): void {
    const error = new KbusError('EBADF', 'the Ksock is closed');
    for (let w = this.receivers.popFront(); w; w = this.receivers.popFront()) w.reject(error);
    for (const w of this.replyWaiters.values()) w.reject(error);
    this.replyWaiters.clear();
    for (const w of this.pollWaiters.splice(0)) w.waiter.reject(error);
  }

  // --- Device operations ------------------------------------------------------------

  bind(name: string, options: { replier?: boolean } = {}): Promise<void> {
    return this.nameCall(Op.BIND, options.replier ?? false, name);
  }

  unbind(name: string, options: { replier?: boolean } = {}): Promise<void> {
    return this.nameCall(Op.UNBIND, options.replier ?? false, name);
  }

  private async nameCall(op: number, replier: boolean, name: string): Promise<void> {
    await this.channel.call(op, [replier ? 1 : 0, name.length], latin1(name));
  }

  /** REPLIER: the Ksock id bound as replier to exactly `name`, or 0. */
  async replier(name: string): Promise<number> {
    const result = await this.channel.call(Op.REPLIER, [name.length], latin1(name));
    return result.word(0);
  }

  /** WRITE: adds bytes to the message being written. */
  async write(bytes: Uint8Array): Promise<number> {
    return (await this.channel.call(Op.WRITE, [], bytes)).word(0);
  }

  /** SEND: sends what was written. */
  async sendWritten(): Promise<MessageId> {
    return idOf(await this.channel.call(Op.SEND, []));
  }

  /** DISCARD */
  async discard(): Promise<void> {
    await this.channel.call(Op.DISCARD, []);
  }

  /** NEXTMSG: pops the next message for reading; its length, or 0. */
  async nextMsg(): Promise<number> {
    return (await this.channel.call(Op.NEXTMSG, [])).word(0);
  }

  /** READ: up to `max` more bytes of the popped message. */
  async read(max: number): Promise<Uint8Array> {
    return copyBytes((await this.channel.call(Op.READ, [max])).body);
  }

  /** LENLEFT */
  async lenLeft(): Promise<number> {
    return (await this.channel.call(Op.LENLEFT, [])).word(0);
  }

  /** KSOCKID, asked of the daemon. */
  async ksockId(): Promise<number> {
    return (await this.channel.call(Op.KSOCKID, [])).word(0);
  }

  /** LASTSENT */
  async lastSent(): Promise<MessageId> {
    return idOf(await this.channel.call(Op.LASTSENT, []));
  }

  /** MAXMSGS: sets the queue limit (0 only asks); resolves with the limit in force. */
  async maxMessages(requested = 0): Promise<number> {
    return (await this.channel.call(Op.MAXMSGS, [requested])).word(0);
  }

  /** NUMMSGS: messages queued in the daemon for this Ksock (not those already streamed here). */
  async numMessages(): Promise<number> {
    return (await this.channel.call(Op.NUMMSGS, [])).word(0);
  }

  /** UNREPLIEDTO */
  async unrepliedTo(): Promise<number> {
    return (await this.channel.call(Op.UNREPLIEDTO, [])).word(0);
  }

  /** MSGONLYONCE: set (true/false) or ask (undefined); resolves with the previous state. */
  msgOnlyOnce(value?: boolean): Promise<boolean> {
    return this.tristate(Op.MSGONLYONCE, value);
  }

  /** VERBOSE, for the whole device. */
  verbose(value?: boolean): Promise<boolean> {
    return this.tristate(Op.VERBOSE, value);
  }

  /** REPORTREPLIERBINDS, for the whole device. */
  reportReplierBinds(value?: boolean): Promise<boolean> {
    return this.tristate(Op.REPORTREPLIERBINDS, value);
  }

  private async tristate(op: number, value: boolean | undefined): Promise<boolean> {
    const result = await this.channel.call(op, [value === undefined ? QUERY : value ? 1 : 0]);
    return result.word(0) !== 0;
  }

  /** NEWDEVICE: resolves with the new device's index. */
  async newDevice(): Promise<number> {
    return (await this.channel.call(Op.NEWDEVICE, [])).word(0);
  }

  /** RESET (no effect). */
  async reset(): Promise<void> {
    await this.channel.call(Op.RESET, []);
  }

  /** POLL: the ready mask now (Poll.IN, Poll.OUT). Pending waitReady() calls stay armed. */
  async poll(): Promise<number> {
    return (await this.channel.call(Op.POLL, [this.armedMask()])).word(0);
  }

  /** Waits until any bit of `mask` is ready (POLL with a notification); resolves with the ready bits. */
  waitReady(mask: number, options?: WaitOptions): Promise<number> {
    return waitOn<number>((waiter) => {
      const entry = { mask, waiter };
      this.pollWaiters.push(entry);
      this.arm();
      return () => {
        const i = this.pollWaiters.indexOf(entry);
        if (i >= 0) this.pollWaiters.splice(i, 1);
        this.arm();
      };
    }, options);
  }

  /** The bits some waitReady() call waits for. */
  private armedMask(): number {
    let mask = 0;
    for (const w of this.pollWaiters) mask |= w.mask;
    return mask;
  }

  /** One POLL arms the daemon's one-shot notification for every waiter (0 cancels it). */
  private arm(): void {
    if (this.closed) return;
    void this.channel.call(Op.POLL, [this.armedMask()]).catch(() => {});
  }

  /** The text of /proc/kbus/bindings. */
  async bindings(): Promise<string> {
    return Buffer.from((await this.channel.call(Op.BINDINGS, [])).body).toString();
  }

  /** The text of /proc/kbus/stats. */
  async stats(): Promise<string> {
    return Buffer.from((await this.channel.call(Op.STATS, [])).body).toString();
  }

  /** Closes the Ksock (the daemon releases it: unbinding, status messages). */
  async close(): Promise<void> {
    if (this.channel.closed) return;
    this.channel.close();
    await this.channel.done;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function latin1(text: string): Uint8Array {
  return Buffer.from(text, 'latin1');
}
