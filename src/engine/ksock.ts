/**
 * An engine Ksock: one open file of a KBUS device (Kbus.txt "KBUS end
 * points - Ksocks"), with every device operation as a method. It owns its
 * own state (its message queue, the message being written, the one being
 * read, its bindings, and its side of the reply guarantee); whatever
 * involves other Ksocks it asks of its device, through the few operations
 * of KsockHost.
 */
import {
  decodeWhole,
  EncodedMessage,
  isReply,
  KbusError,
  type Message,
  MessageAssembler,
  type MessageId,
  type MessageInit,
  NameCache,
  NO_ID,
  Poll,
} from '../wire/index.js';
import type { KsockHost, KsockStats } from './ksock-host.js';
import { MessageQueue, type QueueBudget } from './message-queue.js';
import type { QueuedMessage } from './queued.js';
import { ReplyLedger } from './replies.js';
import type { Binding } from './router.js';
import { validateMessage } from './validate.js';

/** Open modes (the protocol's OPEN `mode` bits). */
export const OpenMode = {
  READ: 1,
  WRITE: 2,
  READ_WRITE: 3,
} as const;

/**
 * What the owner of a Ksock (the daemon, applying its access policy) may
 * add to KBUS's own rules. The engine asks and knows nothing of why; a
 * Ksock without a guard is asked nothing.
 */
export interface KsockGuard {
  /**
   * May this Ksock hear a message of this name through a listener binding?
   * Asked at delivery for every matching listener binding, wildcards
   * included: a false answer and the Ksock neither gets the message nor
   * counts as a recipient (a full queue cannot then refuse the send). Called
   * for every message, so it should remember its answers per name.
   */
  mayReceive(name: string): boolean;
  /** Asked before a message from this Ksock is sent (before it has an id): throw a KbusError to refuse it. */
  checkSend(message: Message): void;
}

interface Reading {
  readonly item: QueuedMessage<EngineKsock>;
  bytes: Uint8Array | undefined;
  offset: number;
}

export class EngineKsock {
  /** Called after any operation that made a message arrive here or finished a pending send. */
  onReady: ((ksock: EngineKsock) => void) | undefined;
  /** The owner's further rules, if any (see KsockGuard). */
  guard: KsockGuard | undefined;
  /**
   * Takes a listener's copy the moment it is sent, if the owner can pass it
   * on at once (kbusd: a connection with STREAM credit, not behind): true
   * if taken, false to have it queued. Offered only when nothing is queued
   * ahead of it, so taking it is queueing it and reading it at once. It is
   * called from within engine operations, this Ksock's own included: a pop
   * of its queue may let a waiting send through before the popped message
   * is returned, so an owner that passes popped messages on must decline
   * until it has passed that one on.
   */
  takeNow: ((message: Message, flags: number) => boolean) | undefined;

  private readonly queue: MessageQueue<EngineKsock>;
  private readonly replies = new ReplyLedger();
  private readonly assembler: MessageAssembler;
  private reading: Reading | undefined;
  private lastSentId: MessageId = NO_ID;
  /** Its bindings, oldest first. */
  private readonly bindings = new Set<Binding<EngineKsock>>();
  /** The last name this Ksock sent as bytes. */
  private readonly names = new NameCache();
  private isClosed = false;
  /** @internal Messages it sent, and copies queued for it (for monitoring: see metrics.ts). */
  sentCount = 0;
  /** @internal */
  receivedCount = 0;
  /** @internal Messages it missed because its queue was full. */
  missedCount = 0;
  /** @internal In its device's list of Ksocks to notify (Device.notify). */
  notifyQueued = false;
  /** Who opened it, as its host knows them (kbusd: the policy's identity); for monitors only. */
  identity: string | undefined;
  /** What it says it is (kbusd: DESCRIBE), such as a Limpet and its link; for monitors only. */
  about: Readonly<Record<string, string | number | boolean>> | undefined;

  /** @internal Made by the device's open(). */
  constructor(
    private readonly host: KsockHost<EngineKsock>,
    readonly id: number,
    readonly mode: number,
    readonly pid: number,
  ) {
    this.queue = new MessageQueue(host.options.maxMessages, host.budget);
    this.assembler = new MessageAssembler(host.options.maxMessageSize);
  }

  /**
   * Counts this Ksock's queued bytes in `account` too, which other queues
   * may share: when its `total` is reached, every queue sharing it is full
   * (as at the engine's overall budget). Set it while the queue is empty.
   */
  shareBudget(account: QueueBudget): void {
    if (this.queue.length > 0) throw new Error('shareBudget() on a Ksock with queued messages');
    this.queue.account = account;
  }

  /** The index of the device this Ksock is open on. */
  get deviceIndex(): number {
    return this.host.index;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get writable(): boolean {
    return (this.mode & OpenMode.WRITE) !== 0;
  }

  get readable(): boolean {
    return (this.mode & OpenMode.READ) !== 0;
  }

  // --- Writing and sending (Kbus.txt "Senders") ---------------------------

  /** `write`: adds bytes to the message being written; returns how many were taken. */
  write(bytes: Uint8Array): number {
    this.checkWritable();
    this.checkNotSending();
    this.assembler.maxLength = this.host.maxMessageSize;
    this.assembler.write(bytes);
    return bytes.length;
  }

  /** SEND: sends the message written so far (or the pending send again) and returns its id. */
  sendWritten(): MessageId {
    this.checkWritable();
    if (this.host.isSending(this)) return this.host.resend(this);
    const message = this.assembler.message;
    if (message === undefined) {
      if (!this.assembler.started) {
        throw new KbusError('ENOMSG', 'nothing has been written to send');
      }
      this.assembler.reset();
      throw new KbusError('EINVAL', 'the message written is not finished');
    }
    this.assembler.reset();
    return this.host.send(this, message);
  }

  /** DISCARD: throws away the message being written, or a pending send. */
  discard(): void {
    this.checkOpen();
    this.assembler.reset();
    this.host.abandonPending(this);
  }

  /** SENDMSG: writes one whole message and sends it, as one step. */
  sendMessage(init: MessageInit): MessageId {
    this.checkWritable();
    this.checkNotSending();
    const message = validateMessage(init, this.host.maxMessageSize);
    // After a partial WRITE, SENDMSG is WRITE of the rest then SEND.
    if (this.assembler.started) return this.sendBytes(EncodedMessage.encode(message).bytes);
    return this.host.send(this, message);
  }

  /**
   * Delivers `init` to the device's matching listeners only, as a copy of a
   * message sent on another bus: no replier gets it and no reply is
   * awaited. For whoever joins buses in one process (cluster mode).
   */
  sendCopy(init: MessageInit): MessageId {
    this.checkWritable();
    return this.host.sendCopy(this, validateMessage(init, this.host.maxMessageSize));
  }

  /**
   * SENDMSG with the message's bytes: WRITE of them all, then SEND. With
   * `adopt`, the engine keeps and changes `bytes` instead of copying them
   * (the caller must not use them again), as the daemon does with what it
   * reads from a socket. Such bytes may be a view into a larger buffer; if
   * the message stays queued, Engine.compactQueues gives it bytes of its own.
   */
  sendBytes(bytes: Uint8Array, adopt = false): MessageId {
    this.checkWritable();
    this.checkNotSending();
    if (this.assembler.started) {
      this.write(bytes);
      return this.sendWritten();
    }
    // The usual case, one whole message: checked (and copied) in one step.
    const pool = adopt ? undefined : this.host.pool;
    const message = decodeWhole(bytes, this.host.maxMessageSize, pool, this.names);
    return this.host.send(this, message);
  }

  /** LASTSENT: the id of the last message this Ksock sent (or tried to). */
  lastSent(): MessageId {
    this.checkOpen();
    return this.lastSentId;
  }

  // --- Reading (Kbus.txt "Listeners") -------------------------------------

  /** NEXTMSG: pops the next message to be read; returns its length, or 0 if there is none. */
  nextMsg(): number {
    this.checkOpen();
    this.reading = undefined;
    const item = this.host.pop(this);
    if (item === undefined) return 0;
    this.reading = { item, bytes: undefined, offset: 0 };
    return item.length;
  }

  /** `read`: up to `max` more bytes of the popped message (none at its end). */
  read(max: number): Uint8Array {
    this.checkReadable();
    const reading = this.reading;
    if (reading === undefined) return new Uint8Array(0);
    reading.bytes ??= reading.item.bytes();
    const end = Math.min(reading.bytes.length, reading.offset + Math.max(0, max));
    const out = reading.bytes.slice(reading.offset, end);
    reading.offset = end;
    if (end === reading.bytes.length) this.reading = undefined;
    return out;
  }

  /** LENLEFT: bytes of the popped message still to read (0 if none). */
  lenLeft(): number {
    this.checkOpen();
    const reading = this.reading;
    return reading === undefined ? 0 : reading.item.length - reading.offset;
  }

  /** True if there is a popped message not yet read to its end. */
  get hasCurrentMessage(): boolean {
    return this.reading !== undefined;
  }

  /** NEXTREAD: pops the next message and returns it whole (it counts as read). */
  nextMessage(): Message | undefined {
    return this.nextQueued()?.copy();
  }

  /** NEXTREAD as the queue entry itself, for whoever can send its bytes as they are (the daemon). */
  nextQueued(): QueuedMessage<EngineKsock> | undefined {
    this.checkReadable();
    this.reading = undefined;
    return this.host.pop(this);
  }

  /**
   * NEXTREADS: pops up to `maxCount` messages, stopping before one that
   * would take their total encoded length past `maxBytes` (but always
   * returning one if any is queued).
   */
  nextMessages(maxCount: number, maxBytes: number): Message[] {
    return this.nextQueuedMany(maxCount, maxBytes).map((item) => item.copy());
  }

  /** NEXTREADS as the queue entries themselves (see nextQueued). */
  nextQueuedMany(maxCount: number, maxBytes: number): QueuedMessage<EngineKsock>[] {
    this.checkReadable();
    this.reading = undefined;
    const out: QueuedMessage<EngineKsock>[] = [];
    let bytes = 0;
    while (out.length < maxCount) {
      const next = this.host.peek(this);
      if (next === undefined) break;
      if (out.length > 0 && bytes + next.length > maxBytes) break;
      bytes += next.length;
      out.push(this.host.pop(this)!);
    }
    return out;
  }

  // --- Bindings (Kbus.txt "Listeners", "Repliers") -------------------------

  /** BIND: listen to (or, as replier, reply for) a name or wildcard. */
  bind(name: string, isReplier = false): void {
    this.checkOpen();
    this.bindings.add(this.host.bind(this, name, isReplier));
  }

  /** UNBIND: undo a BIND; name and kind must match exactly. */
  unbind(name: string, isReplier = false): void {
    this.checkOpen();
    this.bindings.delete(this.host.unbind(this, name, isReplier));
  }

  /** REPLIER: the id of the Ksock bound as replier to exactly this name, or 0. */
  replier(name: string): number {
    this.checkOpen();
    return this.host.replierFor(name);
  }

  // --- Queue and settings ---------------------------------------------------

  /** KSOCKID */
  ksockId(): number {
    this.checkOpen();
    return this.id;
  }

  /** RESET: has no effect (Kbus.txt "IOCTLS"). */
  reset(): void {
    this.checkOpen();
  }

  /** MAXMSGS: sets the queue limit (0 only asks); returns the limit now in force. */
  setMaxMessages(requested = 0): number {
    this.checkOpen();
    if (!Number.isInteger(requested) || requested < 0 || requested > 0xffffffff) {
      throw new KbusError('EINVAL', `queue limit must be a u32, not ${requested}`);
    }
    if (requested > 0) {
      this.queue.limit = requested;
      this.host.roomMayHaveAppeared();
    }
    return this.queue.limit;
  }

  /**
   * MAXMSGSIZE (the later KBUS's ioctl 18): the device's largest entire
   * message. 0 only asks; 1 asks the absolute maximum (the engine's
   * maxMessageSize); anything else sets it, from 76 to the absolute maximum
   * (EINVAL outside). Returns the limit now in force.
   */
  maxMessageSize(requested = 0): number {
    this.checkOpen();
    return this.host.setMaxMessageSize(requested);
  }

  /** NUMMSGS: messages waiting to be read (set-aside unbind events included). */
  numMessages(): number {
    this.checkOpen();
    return this.queue.length + this.host.unsentUnbindCount(this);
  }

  /** UNREPLIEDTO: Requests read and still owed a reply. */
  unrepliedTo(): number {
    this.checkOpen();
    return this.replies.owing;
  }

  /** MSGONLYONCE: receive each message once only; undefined only asks. Returns the previous state. */
  msgOnlyOnce(value?: boolean): boolean {
    this.checkOpen();
    const previous = this.queue.onlyOnce;
    if (value !== undefined) this.queue.onlyOnce = value;
    return previous;
  }

  /** VERBOSE: the device's verbosity; undefined only asks. Returns the previous state. */
  verbose(value?: boolean): boolean {
    this.checkOpen();
    const previous = this.host.verbose;
    if (value !== undefined) this.host.verbose = value;
    return previous;
  }

  /** NEWDEVICE: adds a device to the engine and returns its index. */
  newDevice(): number {
    this.checkOpen();
    return this.host.newDevice();
  }

  /** REPORTREPLIERBINDS: announce replier binds and unbinds; undefined only asks. Returns the previous state. */
  reportReplierBinds(value?: boolean): boolean {
    this.checkOpen();
    return this.host.setReportReplierBinds(this, value);
  }

  /** What poll would report now: Poll.IN if NEXTMSG would pop a message, Poll.OUT if WRITE would be accepted. */
  poll(): number {
    if (this.isClosed) return 0;
    let mask = 0;
    if (this.queue.length > 0 || this.host.hasUnsentUnbind(this)) mask |= Poll.IN;
    if (this.writable && !this.host.isSending(this)) mask |= Poll.OUT;
    return mask;
  }

  /** Closes the Ksock (the seed's release): GoneAway, Ignored and unbind events as due. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.reading = undefined;
    this.assembler.reset();
    this.replies.forgetAwaited();
    const bindings = [...this.bindings].reverse();
    this.bindings.clear();
    this.host.release(this, {
      queued: this.queue.takeAll(),
      bindings,
      owed: this.replies.takeOwed(),
    });
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // --- What the device does to this Ksock's state -----------------------------

  /** @internal kbus_queue_is_full, for a message to this Ksock (see MessageQueue.isFull). */
  isFull(forExpectedReply: boolean): boolean {
    return this.queue.isFull(this.replies.awaiting, forExpectedReply);
  }

  /** @internal Is a reply to request `id` awaited here? */
  awaitsReply(id: MessageId): boolean {
    return this.replies.awaits(id);
  }

  /** @internal This Ksock sent a message and was given `id` for it (LASTSENT). */
  sent(id: MessageId): void {
    this.lastSentId = id;
  }

  /** @internal A request this Ksock sent reached its replier: its reply is awaited. */
  sentRequest(id: MessageId): void {
    this.replies.await(id);
  }

  /** @internal A reply this Ksock sent reached its requester. */
  sentReply(inReplyTo: MessageId): void {
    this.replies.repaid(inReplyTo);
  }

  /**
   * @internal Queues this Ksock's copy of `message` (kbus_push_message).
   * False if it already had it (MSGONLYONCE). A reply, status messages
   * included, settles the request it answers.
   */
  enqueue(
    message: Message,
    flags: number,
    binding: Binding<EngineKsock> | null,
    forReplier: boolean,
  ): boolean {
    if (!this.queue.add(message, flags, binding, forReplier)) return false;
    this.receivedCount++;
    if (isReply(message)) this.replies.arrived(message.inReplyTo);
    return true;
  }

  /**
   * @internal A listener's copy, handed to takeNow instead of queued and
   * read, with what enqueue() then nextQueued() would change: the once-only
   * record, the count received, and the end of a READ in progress. Returns
   * 'taken', 'had' (refused as had already, as enqueue() refuses it), or
   * 'queue' if it must be queued instead.
   */
  receiveNow(message: Message, flags: number): 'taken' | 'had' | 'queue' {
    const take = this.takeNow;
    if (take === undefined || this.queue.length !== 0) return 'queue';
    if (this.queue.hadAlready(message)) return 'had';
    if (!take(message, flags)) return 'queue';
    this.queue.tookNow(message);
    this.receivedCount++;
    this.reading = undefined;
    return 'taken';
  }

  /** @internal Messages queued here (set-aside unbind events not included). */
  get queued(): number {
    return this.queue.length;
  }

  /** @internal The entire lengths of the messages queued here, summed (its byte budget's measure). */
  get queuedBytes(): number {
    return this.queue.bytes;
  }

  /** @internal Its bindings, oldest first. */
  bindingList(): Binding<EngineKsock>[] {
    return [...this.bindings];
  }

  /** @internal The messages queued here, first to be read first. */
  queuedItems(): IterableIterator<QueuedMessage<EngineKsock>> {
    return this.queue[Symbol.iterator]();
  }

  /** @internal The next queued message, without taking it. */
  peekQueued(): QueuedMessage<EngineKsock> | undefined {
    return this.queue.peek();
  }

  /** @internal Takes the next queued message; a Request read by its replier must be answered. */
  dequeue(): QueuedMessage<EngineKsock> | undefined {
    const item = this.queue.pop();
    if (item?.toAnswer) this.replies.owe(item.message);
    return item;
  }

  /** @internal UNBIND: the queued messages `binding` brought leave the queue. */
  dropQueuedFrom(binding: Binding<EngineKsock>): QueuedMessage<EngineKsock>[] {
    return this.queue.removeFrom(binding);
  }

  /** @internal See Engine.compactQueues. */
  compactQueue(copies: Map<Uint8Array, Uint8Array>): number {
    return this.queue.compact(copies);
  }

  /** @internal The figures /proc/kbus/stats prints for this Ksock. */
  stats(): KsockStats {
    const sending = this.host.isSending(this);
    // A pending send's message is finished, and kbus.c's part counter is past its end.
    const progress = sending ? { part: '???', pos: 0 } : this.assembler.progress();
    const reading = this.reading;
    const total = reading ? reading.item.length : 0;
    const replies = this.replies.stats();
    return {
      id: this.id,
      lastSent: this.lastSentId,
      queued: this.queue.length,
      maxMessages: this.queue.limit,
      readByte: reading ? reading.offset : 0,
      readTotal: total,
      writePart: progress.part,
      writePos: progress.pos,
      writeFinished: sending || this.assembler.finished,
      sending,
      awaiting: replies.awaiting,
      awaitingSize: replies.size,
      maxAwaiting: replies.maxAwaiting,
      owing: replies.owing,
      maxOwing: replies.maxOwing,
    };
  }

  private checkOpen(): void {
    if (this.isClosed) throw new KbusError('EBADF', `Ksock ${this.id} is closed`);
  }

  /** `read` needs a Ksock opened for reading, as read(2) on the original's device does. */
  private checkReadable(): void {
    this.checkOpen();
    if (!this.readable) throw new KbusError('EBADF', `Ksock ${this.id} is not open for reading`);
  }

  private checkWritable(): void {
    this.checkOpen();
    if (!this.writable) throw new KbusError('EBADF', `Ksock ${this.id} is not open for writing`);
  }

  /** Kbus.txt: while a send is pending "it will not be possible to call write". */
  private checkNotSending(): void {
    if (this.host.isSending(this)) {
      throw new KbusError('EALREADY', 'a send is still pending: DISCARD it or wait');
    }
  }
}
