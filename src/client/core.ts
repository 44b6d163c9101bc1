/**
 * The client API's core: one Ksock over any transport (protocol.md). Every
 * device operation is a method; on top of them, `request()` that resolves
 * with the reply, `receive()` and async iteration of incoming messages,
 * typed messages, AbortSignal and timeouts. It uses no Node module, so
 * that it runs wherever a transport can be had; `Ksock.connect()` (a Unix
 * socket) and `Ksock.open()` (an in-process bus) are added by the entry
 * modules that can provide those transports.
 */
import {
  encodeAbout,
  type KsockAbout,
  Op,
  PROTOCOL_VERSION,
  QUERY,
  type Transport,
} from '../protocol/index.js';
import { checkOptions, oneOf } from '../wire/check-options.js';
import {
  copyBytes,
  decodeLatin1,
  type EntireMessage,
  Flags,
  latin1Bytes,
  type Message,
  type MessageId,
  makeMessage,
  type NetworkAddress,
} from '../wire/index.js';
import { Channel, idOf } from './channel.js';
import { explainBindError } from './explain.js';
import { Inbox, type MessageBytesReader } from './inbox.js';
import {
  checkName,
  checkOptionsObject,
  type Data,
  decodeReceived,
  describeValue,
  type KbusMessage,
  type Outgoing,
  type Reply,
  type Status,
  toBytes,
  toMessageInit,
} from './messages.js';
import { checkWaitOptions, type Waiter, type WaitOptions, waitOn } from './wait.js';

export type { WaitOptions };

export type Mode = 'r' | 'w' | 'rw';

export interface OpenOptions {
  /** Device index (default 0). */
  device?: number;
  /** 'r' (listen only), 'w' or 'rw' (default). */
  mode?: Mode;
  /** Reported in the bindings list (default this process's pid, where there is one). */
  pid?: number;
  /**
   * A bearer token: sent in an AUTH frame before OPEN (docs/network.md), for a
   * daemon with an access policy. A wrong one fails with EACCES.
   */
  token?: string;
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

/** What OpenOptions takes (for checkOptions). */
export const OPEN_OPTION_SPEC = {
  device: 'number',
  mode: oneOf('r', 'w', 'rw'),
  pid: 'number',
  token: 'string',
} as const;

/** AUTH's method number for a bearer token. */
const AUTH_BEARER = 1;

/** Why a Ksock is closed: close() was called, or the connection was lost. */
export type CloseReason = 'closed' | 'lost';

/**
 * A message already encoded, for Ksock.postEncoded(): its length, how it
 * writes its entire bytes, and its name (for the error if it fails).
 */
export interface EncodedOutgoing extends EntireMessage {
  readonly name: string;
}

/** This process's id under Node, else 0 (a browser has none). */
function processId(): number {
  return typeof process === 'object' && typeof process.pid === 'number' ? process.pid : 0;
}

export class Ksock implements AsyncIterable<KbusMessage> {
  private readonly channel: Channel;
  private readonly inbox: Inbox;
  private readonly pollWaiters: { mask: number; waiter: Waiter<number> }[] = [];
  private id_ = 0;
  private device_ = 0;

  /** A Ksock is made by opening one: Ksock.over(), or connect() and open() where offered. */
  protected constructor(transport: Transport) {
    this.inbox = new Inbox(
      (credit) => this.channel.call(Op.STREAM, [credit]),
      () => this.channel.closed,
    );
    this.channel = new Channel(transport, {
      onMessage: (bytes) => this.inbox.onMessage(bytes),
      onEvent: (mask) => {
        // Wake the waiters this event satisfies; re-arm for the others.
        const waiting = this.pollWaiters.splice(0);
        for (const w of waiting) {
          if (w.mask & mask) w.waiter.resolve(mask & w.mask);
          else this.pollWaiters.push(w);
        }
        if (this.pollWaiters.length > 0) this.arm();
      },
      onClose: (error, lost) => this.onClose(error, lost),
    });
  }

  /**
   * Opens a Ksock (protocol.md OPEN) over a transport already connected to
   * a kbusd, or to anything that speaks the protocol. The transport is
   * closed if the open fails.
   */
  static async over<T extends Ksock>(
    this: { prototype: T },
    transport: Transport,
    options: OpenOptions = {},
  ): Promise<T> {
    // `this` is Ksock or a subclass that adds ways of connecting: make one of those.
    try {
      checkOptions('Ksock.over()', options, OPEN_OPTION_SPEC);
    } catch (err) {
      transport.destroy();
      throw err;
    }
    // biome-ignore lint/complexity/noThisInStatic: called on a subclass, it must make that subclass
    const Class = this as unknown as new (transport: Transport) => T;
    const ksock = new Class(transport);
    const device = options.device ?? 0;
    try {
      // AUTH, then OPEN at once: the daemon answers both, in order. A refused
      // AUTH (EACCES) is the error, and the daemon closes the connection.
      const auth =
        options.token === undefined
          ? undefined
          : ksock.channel.call(Op.AUTH, [AUTH_BEARER], new TextEncoder().encode(options.token));
      auth?.catch(() => {});
      const open = ksock.channel.call(Op.OPEN, [
        PROTOCOL_VERSION,
        device,
        MODE_BITS[options.mode ?? 'rw'],
        options.pid ?? processId(),
      ]);
      open.catch(() => {});
      await auth;
      const result = await open;
      ksock.id_ = result.word(0);
      ksock.device_ = device;
      return ksock;
    } catch (err) {
      transport.destroy();
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

  /** Whether the Ksock is closed, by close() or because the connection was lost (see closeReason). */
  get closed(): boolean {
    return this.channel.closed;
  }

  /**
   * Why the Ksock is closed: 'closed' (close() was called: calls fail with
   * EBADF, iteration ends), 'lost' (the daemon stopped or died: calls and
   * iteration fail with ConnectionLostError, code KBUS_CONNECTION_LOST);
   * undefined while open.
   */
  get closeReason(): CloseReason | undefined {
    if (!this.channel.closed) return undefined;
    return this.channel.lost ? 'lost' : 'closed';
  }

  /** The error calls fail with now that the Ksock is closed (undefined while open). */
  get closeError(): Error | undefined {
    return this.channel.closeError;
  }

  /** Replies (or status messages) dropped because their request() had timed out or been aborted. */
  get lateReplies(): number {
    return this.inbox.lateReplies;
  }

  // --- Sending ------------------------------------------------------------------

  /** Sends a message (SENDMSG) and resolves with its id. */
  send(message: Outgoing | Message): Promise<MessageId> {
    return this.channel.sendMessage(toMessageInit(message));
  }

  /**
   * Sends a message without waiting for its id (SENDMSG all the same):
   * no promise is made, so a stream of sends costs less. `onError` hears
   * of each send that fails, with the error send() would reject with;
   * on a closed Ksock it is called at once. Data that is not data (a
   * number, say) is a mistake in the caller, thrown at once, as by send().
   */
  post(message: Outgoing | Message, onError: (error: Error) => void): void {
    checkCallback(onError, 'post()');
    this.channel.postMessage(toMessageInit(message, 'post()'), onError);
  }

  /**
   * post() of a message already encoded as its entire bytes (little-endian,
   * protocol.md "Messages on the wire"), for code that relays messages:
   * `message.writeTo` writes them straight into the outgoing batch, at
   * once. The daemon checks them as it checks any SENDMSG; `onError` hears
   * of a failure, naming `message.name`.
   */
  postEncoded(message: EncodedOutgoing, onError: (error: Error) => void): void {
    checkCallback(onError, 'postEncoded()');
    this.channel.postEncoded(message, message.name, onError);
  }

  /** Sends an announcement. */
  announce(name: string, data?: Data, options: SendOptions = {}): Promise<MessageId> {
    checkName(name, 'announce()');
    checkOptionsObject(options, 'announce()');
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
    checkName(name, 'request()');
    checkOptionsObject(options, 'request()');
    const what = `request('${name}') waiting for its reply`;
    try {
      checkWaitOptions(what, options);
    } catch (err) {
      return Promise.reject(err);
    }
    const message = makeMessage({
      name,
      data: toBytes(data),
      to: options.to,
      finalTo: options.finalTo,
      flags: ((options.flags ?? 0) | Flags.WANT_A_REPLY) >>> 0,
    });
    return waitOn<Reply | Status>(
      what,
      (waiter) => {
        let sent: MessageId | undefined;
        let cancelled = false;
        // Register for the reply the moment the send's result is decoded, before
        // any later frame (the reply itself) can be.
        this.channel
          .sendMessage(message, (id) => {
            // Given up before the id came: its reply is still to be dropped.
            if (cancelled) this.inbox.abandonReply(id);
            else {
              sent = id;
              this.inbox.expectReply(id, waiter);
            }
          })
          .catch((err: unknown) => waiter.reject(err));
        this.inbox.awaitingReply();
        return () => {
          cancelled = true;
          if (sent !== undefined) this.inbox.abandonReply(sent);
        };
      },
      options,
    );
  }

  /** Replies to a request: same name, `to` its sender, `in_reply_to` its id. */
  replyTo(request: Message, data?: Data, options: { flags?: number } = {}): Promise<MessageId> {
    if (typeof request !== 'object' || request === null || typeof request.name !== 'string') {
      throw new TypeError(
        `replyTo() takes the request being answered, a message as received, not ${describeValue(request)}`,
      );
    }
    checkOptionsObject(options, 'replyTo()');
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
    return this.inbox.receive(options);
  }

  /** The next message if there is one now (NEXTREAD), else undefined; never waits. */
  async next(): Promise<KbusMessage | undefined> {
    const ready = this.inbox.take();
    if (ready) return ready;
    const result = await this.channel.call(Op.NEXTREAD, []);
    const length = result.word(0);
    return length === 0 ? undefined : decodeReceived(result.body.subarray(4, 4 + length));
  }

  /** Messages as they arrive, until the Ksock closes or the loop breaks. */
  [Symbol.asyncIterator](): AsyncIterator<KbusMessage> {
    return this.inbox.messages();
  }

  /**
   * Messages as their entire bytes (little-endian, laid out as protocol.md
   * "Messages on the wire" says), for code that relays messages rather
   * than reads them: take() each that has arrived, in order, and wait for
   * more with ready(). No object is made per message, so it costs less
   * than receive() or iteration, which take from the same queue.
   */
  messageBytes(): MessageBytesReader {
    return this.inbox.messageBytes();
  }

  /** Messages as they arrive, stopping when `signal` aborts. */
  messages(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<KbusMessage> {
    checkOptionsObject(options, 'messages()');
    return this.inbox.messages(options);
  }

  private onClose(error: Error, lost: boolean): void {
    this.inbox.close(error, lost);
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
    checkName(name, op === Op.BIND ? 'bind()' : 'unbind()');
    try {
      await this.channel.call(op, [replier ? 1 : 0, name.length], latin1Bytes(name));
    } catch (err) {
      throw explainBindError(err, name);
    }
  }

  /** REPLIER: the Ksock id bound as replier to exactly `name`, or 0. */
  async replier(name: string): Promise<number> {
    checkName(name, 'replier()');
    const result = await this.channel.call(Op.REPLIER, [name.length], latin1Bytes(name));
    return result.word(0);
  }

  /** WRITE: adds bytes to the message being written. */
  async write(bytes: Uint8Array): Promise<number> {
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError(
        `write() takes bytes (a Uint8Array or Buffer), not ${describeValue(bytes)}`,
      );
    }
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

  /** MAXMSGSIZE: the largest message this device accepts, in bytes of the entire message. */
  async maxMessageSize(): Promise<number> {
    return (await this.channel.call(Op.MAXMSGSIZE, [0])).word(0);
  }

  /**
   * MAXMSGSIZE: sets the largest message this device accepts (from 76 bytes
   * to the daemon's own maximum, which 1 asks for); resolves with the limit
   * now in force.
   */
  async setMaxMessageSize(bytes: number): Promise<number> {
    if (!Number.isInteger(bytes) || bytes < 1 || bytes > 0xffffffff) {
      throw new TypeError(`setMaxMessageSize() takes a whole number of bytes, not ${bytes}`);
    }
    return (await this.channel.call(Op.MAXMSGSIZE, [bytes])).word(0);
  }

  /** DEVICES: how many devices the bus has (indexes 0 to n - 1). */
  async devices(): Promise<number> {
    return (await this.channel.call(Op.DEVICES, [])).word(0);
  }

  /** NUMMSGS: messages queued in the daemon for this Ksock (not those already streamed here). */
  async numMessages(): Promise<number> {
    return (await this.channel.call(Op.NUMMSGS, [])).word(0);
  }

  /**
   * MISSED: how many messages this Ksock has missed, as a listener, because
   * its queue was full (Kbus.txt "Queues filling up"), since it was opened.
   */
  async missed(): Promise<number> {
    return (await this.channel.call(Op.MISSED, [])).word(0);
  }

  /**
   * DESCRIBE: says what this Ksock is, for monitors (kbusd's console and
   * /api/state show it): a flat object of strings, numbers and booleans,
   * at most 1 KiB as JSON. A later call replaces it. A Limpet describes its
   * link this way.
   */
  async describe(about: KsockAbout): Promise<void> {
    await this.channel.call(Op.DESCRIBE, [], encodeAbout(about));
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
    return waitOn<number>(
      `waitReady(${mask})`,
      (waiter) => {
        const entry = { mask, waiter };
        this.pollWaiters.push(entry);
        this.arm();
        return () => {
          const i = this.pollWaiters.indexOf(entry);
          if (i >= 0) this.pollWaiters.splice(i, 1);
          this.arm();
        };
      },
      options,
    );
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
    const body = (await this.channel.call(Op.BINDINGS, [])).body;
    return decodeLatin1(body, 0, body.length);
  }

  /** The text of /proc/kbus/stats. */
  async stats(): Promise<string> {
    const body = (await this.channel.call(Op.STATS, [])).body;
    return decodeLatin1(body, 0, body.length);
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

/** A TypeError unless `onError` can be called: a failure reported later must not throw in the reader. */
function checkCallback(onError: unknown, call: string): void {
  if (typeof onError !== 'function') {
    throw new TypeError(
      `${call} takes a function to hear of a failure, not ${describeValue(onError)}`,
    );
  }
}
