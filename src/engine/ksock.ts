/**
 * A Ksock: one open file of a KBUS device (Kbus.txt "KBUS end points -
 * Ksocks"). It keeps the Ksock's own state (its message queue, the message
 * being written, the one being read, the requests it awaits replies to and
 * those it owes replies for) and offers every device operation; the work
 * that involves other Ksocks is the device's.
 */
import {
  Deque,
  decodeWhole,
  EncodedMessage,
  idKey,
  KbusError,
  type Message,
  MessageAssembler,
  type MessageId,
  type MessageInit,
  NameCache,
  NO_ID,
  Poll,
} from '../wire/index.js';
import type { Device } from './device.js';
import type { QueuedMessage } from './queued.js';
import type { Binding } from './router.js';

/** Open modes (the protocol's OPEN `mode` bits). */
export const OpenMode = {
  READ: 1,
  WRITE: 2,
  READ_WRITE: 3,
} as const;

/** A Request this Ksock has read and must still reply to. */
export interface UnrepliedRequest {
  /** Order of reading, to answer the newest first as kbus.c does. */
  readonly seq: number;
  readonly id: MessageId;
  readonly from: number;
  readonly name: string;
}

/** kbus.c kbus_next_size: how the outstanding-request array grows. */
function nextSize(size: number): number {
  return size < 16 ? size << 1 : size + (size >> 3);
}

export class Ksock {
  /** Called after any operation that made a message arrive here or finished a pending send. */
  onReady: ((ksock: Ksock) => void) | undefined;

  /** @internal */ readonly queue = new Deque<QueuedMessage<Ksock>>();
  /** @internal The entire lengths of the messages in `queue`, summed (its byte budget's measure). */
  queuedBytes = 0;
  /** @internal */ maxMessages: number;
  /** @internal */ onlyOnce = false;
  /** @internal */ lastPushed: MessageId = NO_ID;
  /** @internal */ lastSentId: MessageId = NO_ID;
  /** @internal */ readonly assembler: MessageAssembler;
  /** @internal The message of a SEND that returned EAGAIN (ALL_OR_WAIT), still being sent. */
  pending: Message | undefined;
  /** @internal Requests sent, awaiting a reply: id key to count. */
  readonly outstanding = new Map<string | number, number>();
  /** @internal */ outstandingCount = 0;
  /** @internal kbus.c's array size and high-water mark, for /proc/kbus/stats. */
  outstandingSize = 16;
  /** @internal */ outstandingMax = 0;
  /** @internal Requests read and not yet replied to, by id (a list for the rare repeated id). */
  private readonly unreplied = new Map<string | number, UnrepliedRequest[]>();
  private unrepliedCount = 0;
  private unrepliedSeq = 0;
  /** @internal */ maxUnreplied = 0;
  /** @internal */ reading:
    | { item: QueuedMessage<Ksock>; bytes: Uint8Array | undefined; offset: number }
    | undefined;
  /** @internal Set-aside Replier Unbind Events may be waiting for this Ksock. */
  maybeGotUnsentUnbind = false;
  /** @internal */ notifyQueued = false;
  /** The last name this Ksock sent as bytes. */
  private readonly names = new NameCache();
  /** @internal Its bindings, oldest first. */
  readonly bindings = new Set<Binding<Ksock>>();
  private isClosed = false;

  /** @internal */
  constructor(
    /** @internal */ readonly device: Device,
    readonly id: number,
    readonly mode: number,
    readonly pid: number,
  ) {
    this.maxMessages = device.options.maxMessages;
    this.assembler = new MessageAssembler(device.options.maxMessageSize);
  }

  /** The index of the device this Ksock is open on. */
  get deviceIndex(): number {
    return this.device.index;
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
    // Kbus.txt: while a send is pending "it will not be possible to call write".
    if (this.pending)
      throw new KbusError('EALREADY', 'a send is still pending: DISCARD it or wait');
    try {
      this.assembler.write(bytes);
    } catch (err) {
      this.assembler.reset();
      throw err;
    }
    return bytes.length;
  }

  /** SEND: sends the message written so far and returns its id. */
  send(): MessageId {
    this.checkWritable();
    if (this.pending) return this.device.send(this, this.pending, true);
    const message = this.assembler.message;
    if (message === undefined) {
      if (!this.assembler.started)
        throw new KbusError('ENOMSG', 'nothing has been written to send');
      this.assembler.reset();
      throw new KbusError('EINVAL', 'the message written is not finished');
    }
    this.assembler.reset();
    return this.device.send(this, message, false);
  }

  /** DISCARD: throws away the message being written, or a pending send. */
  discard(): void {
    this.checkOpen();
    this.assembler.reset();
    this.device.abandonPending(this);
  }

  /** SENDMSG: writes one whole message and sends it, as one step. */
  sendMessage(init: MessageInit): MessageId {
    this.checkWritable();
    if (this.pending)
      throw new KbusError('EALREADY', 'a send is still pending: DISCARD it or wait');
    if (this.assembler.started) {
      return this.sendBytes(EncodedMessage.encode(this.device.validate(init)).bytes);
    }
    return this.device.send(this, this.device.validate(init), false);
  }

  /**
   * SENDMSG with the message's bytes: WRITE of them all, then SEND. With
   * `adopt`, the engine may keep and change `bytes` instead of copying them
   * (the caller must not use them again), as the daemon does with what it
   * reads from a socket. It keeps them only if that keeps little more than
   * the message: a view into a larger buffer (a socket's 64 KiB read)
   * would keep that whole buffer alive while the message is queued, far
   * more than the queue's byte budget counts, so such a message is copied.
   */
  sendBytes(bytes: Uint8Array, adopt = false): MessageId {
    this.checkWritable();
    if (this.pending)
      throw new KbusError('EALREADY', 'a send is still pending: DISCARD it or wait');
    if (this.assembler.started) {
      this.write(bytes);
      return this.send();
    }
    // The usual case, one whole message: checked (and copied) in one step.
    const keep = adopt && bytes.buffer.byteLength <= 2 * bytes.byteLength;
    const pool = keep ? undefined : this.device.engine.pool;
    const message = decodeWhole(bytes, this.device.options.maxMessageSize, pool, this.names);
    return this.device.send(this, message, false);
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
    const item = this.device.pop(this);
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
    if (reading === undefined) return 0;
    return reading.item.length - reading.offset;
  }

  /** True if there is a popped message not yet read to its end. */
  get hasCurrentMessage(): boolean {
    return this.reading !== undefined;
  }

  /** NEXTREAD: pops the next message and returns it whole (it counts as read). */
  nextMessage(): Message | undefined {
    const item = this.nextQueued();
    return item === undefined ? undefined : item.copy();
  }

  /** NEXTREAD as the queue entry itself, for whoever can send its bytes as they are (the daemon). */
  nextQueued(): QueuedMessage<Ksock> | undefined {
    this.checkReadable();
    this.reading = undefined;
    return this.device.pop(this);
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
  nextQueuedMany(maxCount: number, maxBytes: number): QueuedMessage<Ksock>[] {
    this.checkReadable();
    this.reading = undefined;
    const out: QueuedMessage<Ksock>[] = [];
    let bytes = 0;
    while (out.length < maxCount) {
      const next = this.device.peek(this);
      if (next === undefined) break;
      const length = next.length;
      if (out.length > 0 && bytes + length > maxBytes) break;
      bytes += length;
      out.push(this.device.pop(this)!);
    }
    return out;
  }

  // --- Bindings (Kbus.txt "Listeners", "Repliers") -------------------------

  /** BIND: listen to (or, as replier, reply for) a name or wildcard. */
  bind(name: string, isReplier = false): void {
    this.checkOpen();
    this.device.bind(this, name, isReplier);
  }

  /** UNBIND: undo a BIND; name and kind must match exactly. */
  unbind(name: string, isReplier = false): void {
    this.checkOpen();
    this.device.unbind(this, name, isReplier);
  }

  /** REPLIER: the id of the Ksock bound as replier to exactly this name, or 0. */
  replier(name: string): number {
    this.checkOpen();
    return this.device.replierFor(name);
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
      this.maxMessages = requested;
      this.device.engine.roomMayHaveAppeared();
    }
    return this.maxMessages;
  }

  /** NUMMSGS: messages waiting to be read (set-aside unbind events included). */
  numMessages(): number {
    this.checkOpen();
    return this.queue.length + this.device.unbindEvents.countFor(this);
  }

  /** UNREPLIEDTO: Requests read and still owed a reply. */
  unrepliedTo(): number {
    this.checkOpen();
    return this.unrepliedCount;
  }

  /** MSGONLYONCE: receive each message once only; undefined only asks. Returns the previous state. */
  msgOnlyOnce(value?: boolean): boolean {
    this.checkOpen();
    const previous = this.onlyOnce;
    if (value !== undefined) this.onlyOnce = value;
    return previous;
  }

  /** VERBOSE: the device's verbosity; undefined only asks. Returns the previous state. */
  verbose(value?: boolean): boolean {
    this.checkOpen();
    const previous = this.device.verbose;
    if (value !== undefined) this.device.verbose = value;
    return previous;
  }

  /** NEWDEVICE: adds a device to the engine and returns its index. */
  newDevice(): number {
    this.checkOpen();
    return this.device.engine.newDevice();
  }

  /** REPORTREPLIERBINDS: announce replier binds and unbinds; undefined only asks. Returns the previous state. */
  reportReplierBinds(value?: boolean): boolean {
    this.checkOpen();
    return this.device.setReportReplierBinds(this, value);
  }

  /** What poll would report now: Poll.IN if NEXTMSG would pop a message, Poll.OUT if WRITE would be accepted. */
  poll(): number {
    if (this.isClosed) return 0;
    let mask = 0;
    if (this.queue.length > 0 || this.maybeGotUnsentUnbind) mask |= Poll.IN;
    if (this.writable && this.pending === undefined) mask |= Poll.OUT;
    return mask;
  }

  /** Closes the Ksock (the seed's release): GoneAway, Ignored and unbind events as due. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.device.release(this);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // --- Internal bookkeeping used by the device ------------------------------

  /**
   * @internal kbus_queue_is_full: queued messages plus reserved reply
   * slots reach MAXMSGS, or the bytes queued reach a byte budget (this
   * Ksock's, or the engine's over all queues). Checked before adding, so a
   * queue may pass a budget by one message. A reply the Ksock awaits takes
   * the room reserved for it when its request was sent: that is one slot
   * fewer counted, and this Ksock's own byte budget does not refuse it; the
   * overall budget, which bounds the daemon's memory, does.
   */
  isFull(forExpectedReply: boolean): boolean {
    let used = this.queue.length + this.outstandingCount;
    if (forExpectedReply) used--;
    if (used >= this.maxMessages) return true;
    const engine = this.device.engine;
    if (engine.queuedBytes >= engine.options.maxTotalQueueBytes) return true;
    return !forExpectedReply && this.queuedBytes >= engine.options.maxQueueBytes;
  }

  /** @internal */
  rememberOutstanding(id: MessageId): void {
    const key = idKey(id);
    this.outstanding.set(key, (this.outstanding.get(key) ?? 0) + 1);
    if (this.outstandingCount === this.outstandingSize) {
      this.outstandingSize = nextSize(this.outstandingSize);
    }
    this.outstandingCount++;
    if (this.outstandingCount > this.outstandingMax) this.outstandingMax = this.outstandingCount;
  }

  /** @internal */
  expects(id: MessageId): boolean {
    return this.outstanding.has(idKey(id));
  }

  /** @internal */
  forgetOutstanding(id: MessageId): void {
    const key = idKey(id);
    const count = this.outstanding.get(key);
    if (count === undefined) return;
    if (count === 1) this.outstanding.delete(key);
    else this.outstanding.set(key, count - 1);
    this.outstandingCount--;
  }

  /** @internal */
  replyNeeded(message: Message): void {
    const key = idKey(message.id);
    const entry = {
      seq: this.unrepliedSeq++,
      id: message.id,
      from: message.from,
      name: message.name,
    };
    const list = this.unreplied.get(key);
    if (list) list.push(entry);
    else this.unreplied.set(key, [entry]);
    this.unrepliedCount++;
    if (this.unrepliedCount > this.maxUnreplied) this.maxUnreplied = this.unrepliedCount;
  }

  /** @internal */
  replyNowSent(id: MessageId): void {
    const key = idKey(id);
    const list = this.unreplied.get(key);
    if (list === undefined) return;
    // kbus.c removes the newest matching entry.
    list.pop();
    if (list.length === 0) this.unreplied.delete(key);
    this.unrepliedCount--;
  }

  /** @internal Every request still owed a reply, newest first, forgetting them all. */
  takeUnreplied(): UnrepliedRequest[] {
    const all: UnrepliedRequest[] = [];
    for (const list of this.unreplied.values()) all.push(...list);
    this.unreplied.clear();
    this.unrepliedCount = 0;
    return all.sort((a, b) => b.seq - a.seq);
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
}
