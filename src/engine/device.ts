/**
 * One KBUS device (/dev/kbusN in the seed): its Ksocks, its bindings, its
 * message ids, and everything that moves messages between Ksocks: sending
 * (Kbus.txt "Queues filling up"), the reply guarantee (Kbus.txt "Requests
 * and Replies"), ALL_OR_WAIT sends completing as room appears, and Replier
 * Bind Events. Each Ksock keeps its own state; the device changes it only
 * through the Ksock's methods.
 */
import {
  type BytePool,
  bindNameError,
  type ErrnoName,
  Flags,
  isReply,
  isRequest,
  KbusError,
  MAX_NAME_LENGTH,
  type Message,
  type MessageId,
  MessageNames,
  NO_ID,
  stamp,
} from '../wire/index.js';
import { DeviceCounters } from './counters.js';
import { EngineKsock } from './ksock.js';
import type { KsockHost, ReleasedState } from './ksock-host.js';
import type { QueueBudget } from './message-queue.js';
import type { ResolvedOptions } from './options.js';
import type { QueuedMessage } from './queued.js';
import { type Binding, Router } from './router.js';
import { bindEventMessage, statusMessage } from './status-messages.js';
import { UnsentUnbindEvents } from './unbind-events.js';

const WANT_YOU_TO_REPLY = Flags.WANT_YOU_TO_REPLY;
/**
 * protocol.md MAXMSGSIZE: the smallest limit that may be set, the later
 * KBUS's 100 counted with its 88-byte C header, less the 24 bytes that
 * header has more than ours.
 */
const MIN_MAX_MESSAGE_SIZE = 76;

type Ksock = EngineKsock;

/** What a device asks of the engine it belongs to. */
export interface DeviceHost {
  readonly options: ResolvedOptions;
  readonly budget: QueueBudget;
  /** Memory for the messages Ksocks send as bytes. */
  readonly pool: BytePool;
  newDevice(): number;
  /** Room may have appeared in some queue: every device retries its pending sends. */
  roomMayHaveAppeared(): void;
  /** Whether `device` has ALL_OR_WAIT sends pending. */
  setWaiting(device: Device, waiting: boolean): void;
  /** A binding was added (or removed) on `device` (see Engine.onBindingChange). */
  bindingChanged(device: number, binding: Binding<Ksock>, added: boolean): void;
}

export class Device implements KsockHost<Ksock> {
  readonly router = new Router<Ksock>();
  /** What passed, for monitoring (plain integers: see metrics.ts). */
  readonly counters = new DeviceCounters();
  private readonly ksocks = new Map<number, Ksock>();
  private readonly unbindEvents = new UnsentUnbindEvents<Ksock>();
  verbose: boolean;
  /** MAXMSGSIZE: the largest entire message this device accepts (the absolute maximum at first). */
  maxMessageSize: number;
  private reportingReplierBinds = false;
  /** The next Ksock id and message serial number to give, as /proc/kbus/stats shows them. */
  private nextKsockId = 0;
  private nextSerial = 0;

  /** ALL_OR_WAIT sends that returned EAGAIN, still being sent, by sender. */
  private readonly pending = new Map<Ksock, Message>();
  private retrying = false;
  /**
   * Ksocks whose readiness callback is due once the current operation is
   * over, each once (EngineKsock.notifyQueued): an array and a flag, as a
   * Set's add and delete for every message cost more than the send itself.
   */
  private readonly toNotify: Ksock[] = [];
  private flushing = false;

  constructor(
    private readonly engine: DeviceHost,
    readonly index: number,
  ) {
    this.verbose = engine.options.verbose;
    this.maxMessageSize = engine.options.maxMessageSize;
  }

  get options(): ResolvedOptions {
    return this.engine.options;
  }

  get budget(): QueueBudget {
    return this.engine.budget;
  }

  get pool(): BytePool {
    return this.engine.pool;
  }

  open(mode: number, pid: number): Ksock {
    // Ksock id 0 is KBUS itself; ids are unsigned 32-bit and wrap (kbus_open).
    if (this.nextKsockId === 0) this.nextKsockId = 1;
    const id = this.nextKsockId;
    this.nextKsockId = (id + 1) >>> 0;
    const ksock = new EngineKsock(this, id, mode, pid);
    this.ksocks.set(id, ksock);
    if (this.verbose) this.debug(`${id} opened (mode ${mode}, pid ${pid})`);
    return ksock;
  }

  /** kbus_next_serial_num: serial numbers ascend from 1 per device, skipping 0 when they wrap. */
  private nextSerialNum(): number {
    if (this.nextSerial === 0) this.nextSerial = 1;
    const serial = this.nextSerial;
    this.nextSerial = (serial + 1) >>> 0;
    return serial;
  }

  /** MAXMSGSIZE (see EngineKsock.maxMessageSize). */
  setMaxMessageSize(requested: number): number {
    const absolute = this.options.maxMessageSize;
    if (!Number.isInteger(requested) || requested < 0 || requested > 0xffffffff) {
      throw new KbusError('EINVAL', `a message size limit must be a u32, not ${requested}`);
    }
    if (requested === 1) return absolute;
    if (requested !== 0) {
      if (requested < MIN_MAX_MESSAGE_SIZE || requested > absolute) {
        throw new KbusError(
          'EINVAL',
          `a message size limit must be from ${MIN_MAX_MESSAGE_SIZE} to ${absolute} bytes, not ${requested}`,
        );
      }
      this.maxMessageSize = requested;
    }
    return this.maxMessageSize;
  }

  newDevice(): number {
    return this.engine.newDevice();
  }

  roomMayHaveAppeared(): void {
    this.engine.roomMayHaveAppeared();
  }

  // --- Sending --------------------------------------------------------------

  /**
   * SEND (kbus_send) of `message`. `retry` is a SEND of the message whose
   * earlier SEND returned EAGAIN: it keeps the id it was given then.
   */
  send(sender: Ksock, message: Message, retry = false): MessageId {
    try {
      if (!retry) sender.guard?.checkSend(message);
      // Kbus.txt "Queues filling up": a Request needs room for its Reply in
      // the sender's queue, or it is not sent and gets no id (ENOLCK).
      if (message.flags & Flags.WANT_A_REPLY && sender.isFull(false)) {
        this.abandonPending(sender);
        this.counters.refuse('ENOLCK');
        throw new KbusError('ENOLCK', "no room in the sender's queue for the Reply");
      }
      // Kbus.txt "Things KBUS changes in a message": a local id is given here.
      const stamped = retry
        ? message
        : stamp(
            message,
            message.id.networkId === 0
              ? { networkId: 0, serialNum: this.nextSerialNum() }
              : message.id,
            sender.id,
          );
      sender.sent(stamped.id);
      const error = this.deliver(sender, stamped);
      if (error === undefined) {
        this.counters.sent++;
        sender.sentCount++;
      } else this.counters.refuse(error);
      if (error === 'EAGAIN') {
        this.pending.set(sender, stamped);
        this.engine.setWaiting(this, true);
        throw new KbusError(
          'EAGAIN',
          'a recipient queue is full; the send will finish when room appears',
        );
      }
      if (retry) this.abandonPending(sender);
      if (error !== undefined) throw new KbusError(error);
      if (this.verbose) this.debug(`${sender.id} sent ${stamped.id.serialNum} '${stamped.name}'`);
      return stamped.id;
    } finally {
      this.flush();
    }
  }

  /**
   * A listener copy of a message sent elsewhere (a request or reply on
   * another bus): it goes to this device's matching listeners only, never
   * to a replier or a requester, and a full listener misses it. The id is
   * kept if it has a network id, as for any SEND.
   */
  sendCopy(sender: Ksock, message: Message): MessageId {
    try {
      const stamped = stamp(
        message,
        message.id.networkId === 0 ? { networkId: 0, serialNum: this.nextSerialNum() } : message.id,
        sender.id,
      );
      const reply = isReply(stamped);
      for (const listener of this.router.route(stamped.name).listeners) {
        if (!hears(listener, stamped.name)) continue;
        if (listener.ksock.isFull(false)) this.missed(listener);
        else this.pushToListener(listener, stamped, reply);
      }
      return stamped.id;
    } finally {
      this.flush();
    }
  }

  /** The replier bound to exactly `name` here loses that binding, as if it had unbound. */
  evictReplier(name: string): boolean {
    const binding = this.router.replierFor(name);
    if (binding === undefined) return false;
    binding.ksock.unbind(name, true);
    return true;
  }

  /** SEND again of the message whose earlier SEND returned EAGAIN. */
  resend(sender: Ksock): MessageId {
    return this.send(sender, this.pending.get(sender)!, true);
  }

  isSending(sender: Ksock): boolean {
    return this.pending.size !== 0 && this.pending.has(sender);
  }

  /** Drops a send left pending by EAGAIN (DISCARD, or the Ksock closing). */
  abandonPending(sender: Ksock): void {
    if (this.pending.delete(sender) && this.pending.size === 0) {
      this.engine.setWaiting(this, false);
    }
  }

  /**
   * kbus_write_to_recipients: checks that every queue that must take the
   * message can, then adds it to each. Returns the error, if any.
   */
  private deliver(sender: Ksock, message: Message): ErrnoName | undefined {
    const route = this.router.route(message.name);
    const request = (message.flags & Flags.WANT_A_REPLY) !== 0;
    const reply = isReply(message);
    // Kbus.txt "Send flags": both flags are ignored in Reply messages.
    const allOrWait = !reply && (message.flags & Flags.ALL_OR_WAIT) !== 0;
    const allOrFail = !reply && (message.flags & Flags.ALL_OR_FAIL) !== 0;
    const full: ErrnoName = allOrWait ? 'EAGAIN' : 'EBUSY';

    if (request && route.replier === undefined) return 'EADDRNOTAVAIL';

    let replyTo: Ksock | undefined;
    if (reply) {
      replyTo = this.ksocks.get(message.to);
      if (replyTo === undefined) return 'EADDRNOTAVAIL';
      if (!replyTo.awaitsReply(message.inReplyTo)) return 'ECONNREFUSED';
      if (replyTo.isFull(true)) return full;
    }

    // Repliers only get Requests.
    const replier = request ? route.replier : undefined;
    if (replier !== undefined) {
      // A stateful request must still reach the replier it names.
      if (message.to !== 0 && replier.ksock.id !== message.to) return 'EPIPE';
      if (replier.ksock.isFull(false)) return full;
    }

    const listeners = route.listeners;
    let skipped: Set<Binding<Ksock>> | undefined;
    for (const listener of listeners) {
      if (!hears(listener, message.name)) {
        skipped ??= new Set();
        skipped.add(listener);
        continue;
      }
      if (!listener.ksock.isFull(false)) continue;
      if (allOrWait) return 'EAGAIN';
      if (allOrFail) return 'EBUSY';
      // By default a full listener simply misses the message.
      skipped ??= new Set();
      skipped.add(listener);
      this.missed(listener);
    }

    if (replyTo !== undefined) {
      this.push(replyTo, message, null, true);
      sender.sentReply(message.inReplyTo);
    }
    if (replier !== undefined) {
      this.push(replier.ksock, message, replier, true);
      sender.sentRequest(message.id);
    }
    for (const listener of listeners) {
      if (skipped === undefined || !skipped.has(listener)) {
        this.pushToListener(listener, message, reply);
      }
    }
    return undefined;
  }

  /** Kbus.txt "Queues filling up": a full listener simply misses the message, counted. */
  private missed(listener: Binding<Ksock>): void {
    this.counters.missed++;
    listener.ksock.missedCount++;
  }

  /** kbus_push_message: the only way a message joins a queue. */
  private push(
    ksock: Ksock,
    message: Message,
    binding: Binding<Ksock> | null,
    forReplier: boolean,
  ): void {
    // Only the replier's copy of a Request says it must be answered.
    const flags =
      forReplier && message.flags & Flags.WANT_A_REPLY
        ? (message.flags | WANT_YOU_TO_REPLY) >>> 0
        : (message.flags & ~WANT_YOU_TO_REPLY) >>> 0;
    if (!ksock.enqueue(message, flags, binding, forReplier)) return;
    this.counters.delivered++;
    if (this.verbose) {
      this.debug(`${ksock.id} queued ${message.id.serialNum} '${message.name}' (${ksock.queued})`);
    }
    this.notify(ksock);
  }

  /**
   * A listener's copy: handed at once to a Ksock that can take it now
   * (EngineKsock.takeNow), when nothing is queued or set aside for it
   * ahead of it; otherwise queued (push). A reply is always queued: its
   * arrival is bookkeeping that enqueue() does.
   */
  private pushToListener(listener: Binding<Ksock>, message: Message, reply: boolean): void {
    const ksock = listener.ksock;
    if (ksock.takeNow !== undefined && !reply && !this.unbindEvents.mayHaveFor(ksock)) {
      // A listener's copy never says WANT_YOU_TO_REPLY (see push).
      const taken = ksock.receiveNow(message, (message.flags & ~WANT_YOU_TO_REPLY) >>> 0);
      if (taken === 'had') return;
      if (taken === 'taken') {
        this.counters.delivered++;
        if (this.verbose) {
          this.debug(`${ksock.id} took ${message.id.serialNum} '${message.name}' at once`);
        }
        return;
      }
    }
    this.push(ksock, message, listener, false);
  }

  /** A status message from KBUS (kbus_build_kbus_message), with the next id. */
  private statusMessage(name: string, from: number, to: number, inReplyTo: MessageId): Message {
    this.counters.generated(name);
    return statusMessage(this.nextSerialNum(), name, from, to, inReplyTo);
  }

  /**
   * kbus_push_synthetic_message: tells `to` that the request `inReplyTo`
   * will get no reply. No room check: room was reserved when it was sent.
   */
  private pushStatus(from: number, to: number, inReplyTo: MessageId, name: string): void {
    const ksock = this.ksocks.get(to);
    if (ksock === undefined || ksock.closed) return;
    this.push(ksock, this.statusMessage(name, from, to, inReplyTo), null, false);
  }

  // --- Receiving ------------------------------------------------------------

  /** The next message NEXTMSG would pop, without popping it. */
  peek(ksock: Ksock): QueuedMessage<Ksock> | undefined {
    if (ksock.queued === 0) this.moveUnsentUnbind(ksock);
    return ksock.peekQueued();
  }

  /** Pops the next message (kbus_nextmsg's bookkeeping included). */
  pop(ksock: Ksock): QueuedMessage<Ksock> | undefined {
    if (ksock.queued === 0) this.moveUnsentUnbind(ksock);
    const item = ksock.dequeue();
    if (item === undefined) return undefined;
    this.moveUnsentUnbind(ksock);
    this.engine.roomMayHaveAppeared();
    this.flush();
    return item;
  }

  unsentUnbindCount(ksock: Ksock): number {
    return this.unbindEvents.countFor(ksock);
  }

  hasUnsentUnbind(ksock: Ksock): boolean {
    return this.unbindEvents.mayHaveFor(ksock);
  }

  /** Moves the first set-aside unbind event for `ksock`, if any, into its queue. */
  private moveUnsentUnbind(ksock: Ksock): void {
    if (!this.unbindEvents.mayHaveFor(ksock)) return;
    const entry = this.unbindEvents.takeFirstFor(ksock);
    if (entry) this.push(ksock, entry.message, entry.binding, false);
  }

  // --- ALL_OR_WAIT ------------------------------------------------------------

  /**
   * Finishes the pending sends that now can. The engine calls it whenever a
   * queue of any device may have room again (Engine.roomMayHaveAppeared).
   */
  retryPending(): void {
    if (this.pending.size === 0 || this.retrying) return;
    this.retrying = true;
    try {
      for (const [sender, message] of [...this.pending]) {
        const error = this.deliver(sender, message);
        if (error === 'EAGAIN') continue;
        if (error === undefined) {
          this.counters.sent++;
          sender.sentCount++;
        } else this.counters.refuse(error);
        // kbus_poll_try_send_again: a Request must still get its one answer.
        if (error === 'EADDRNOTAVAIL' && isRequest(message)) {
          this.pushStatus(0, message.from, message.id, MessageNames.REPLIER_DISAPPEARED);
        } else if (error !== undefined && isRequest(message)) {
          this.pushStatus(0, message.from, message.id, MessageNames.ERROR_SENDING);
        }
        this.abandonPending(sender);
        this.notify(sender, true);
      }
    } finally {
      this.retrying = false;
    }
    this.flush();
  }

  // --- Bindings ---------------------------------------------------------------

  bind(ksock: Ksock, name: string, isReplier: boolean): Binding<Ksock> {
    const error = bindNameError(name);
    if (error) throw new KbusError(error, `cannot bind to '${name}'`);
    if (isReplier && name === MessageNames.REPLIER_BIND_EVENT) {
      throw new KbusError('EBADMSG', `cannot bind as replier to ${name}`);
    }
    if (isReplier && this.router.replierFor(name) !== undefined) {
      throw new KbusError('EADDRINUSE', `'${name}' already has a replier`);
    }
    try {
      if (isReplier && this.reportingReplierBinds) this.announceBind(ksock, true, name);
      const binding: Binding<Ksock> = { ksock, isReplier, name };
      this.router.add(binding);
      this.engine.bindingChanged(this.index, binding, true);
      if (this.verbose) this.debug(`${ksock.id} bound ${isReplier ? 'R' : 'L'} '${name}'`);
      return binding;
    } finally {
      this.flush();
    }
  }

  unbind(ksock: Ksock, name: string, isReplier: boolean): Binding<Ksock> {
    const error = bindNameError(name);
    if (error) throw new KbusError(error, `cannot unbind from '${name}'`);
    const binding = this.router.find(ksock, isReplier, name);
    if (binding === undefined) {
      throw new KbusError(
        'EINVAL',
        `not bound ${isReplier ? 'as replier' : 'as listener'} to '${name}'`,
      );
    }
    try {
      if (isReplier && this.reportingReplierBinds) this.announceBind(ksock, false, name);
      // Kbus.txt "Listeners": an UNBIND removes the queued messages that
      // binding brought; a Request among them gets `$.KBUS.Replier.Unbound`.
      const queuedBefore = ksock.queued;
      const removed = ksock.dropQueuedFrom(binding);
      for (const item of removed) {
        if (!item.toAnswer) continue;
        const { from, id } = item.message;
        this.pushStatus(ksock.id, from, id, MessageNames.REPLIER_UNBOUND);
      }
      this.unbindEvents.forgetBinding(binding);
      this.router.remove(binding);
      this.engine.bindingChanged(this.index, binding, false);
      if (name === MessageNames.REPLIER_BIND_EVENT) this.unbindEvents.forgetKsock(ksock);
      if (ksock.queued < queuedBefore) this.moveUnsentUnbind(ksock);
      if (this.verbose) this.debug(`${ksock.id} unbound ${isReplier ? 'R' : 'L'} '${name}'`);
      this.engine.roomMayHaveAppeared();
      return binding;
    } finally {
      this.flush();
    }
  }

  replierFor(name: string): number {
    if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
      throw new KbusError(
        'ENAMETOOLONG',
        `name length ${name.length} is not 1 to ${MAX_NAME_LENGTH}`,
      );
    }
    return this.router.replierFor(name)?.ksock.id ?? 0;
  }

  // --- Replier Bind Events ------------------------------------------------------

  private bindEventMessage(binder: number, isBind: boolean, name: string): Message {
    this.counters.generated(MessageNames.REPLIER_BIND_EVENT);
    return bindEventMessage(this.nextSerialNum(), binder, isBind, name);
  }

  /** Announces a replier (un)bind; EAGAIN if a listener cannot take it (nothing is done then). */
  private announceBind(ksock: Ksock, isBind: boolean, name: string): void {
    const error = this.deliver(ksock, this.bindEventMessage(ksock.id, isBind, name));
    if (error === 'EBUSY') {
      throw new KbusError(
        'EAGAIN',
        `a listener for ${MessageNames.REPLIER_BIND_EVENT} has a full queue`,
      );
    }
    if (error !== undefined) throw new KbusError(error);
  }

  setReportReplierBinds(ksock: Ksock, value: boolean | undefined): boolean {
    const previous = this.reportingReplierBinds;
    if (value === false) this.reportingReplierBinds = false;
    if (value === true) {
      this.reportingReplierBinds = true;
      try {
        // kbus_report_existing_binds: the asker hears of every current replier.
        for (const binding of this.router.newestFirst()) {
          if (!binding.isReplier) continue;
          if (ksock.isFull(false)) {
            throw new KbusError('EBUSY', 'no room to report the existing replier bindings');
          }
          this.push(
            ksock,
            this.bindEventMessage(binding.ksock.id, true, binding.name),
            null,
            false,
          );
        }
      } finally {
        this.flush();
      }
    }
    return previous;
  }

  /** kbus_safe_report_unbinding: an unbind event that must not be lost. */
  private reportUnbindingSafely(ksock: Ksock, name: string): void {
    const message = this.bindEventMessage(ksock.id, false, name);
    if (this.deliver(ksock, message) !== 'EBUSY') return;
    // Set aside only for those deliver() would have given it to (KsockGuard).
    const listeners = this.router
      .route(MessageNames.REPLIER_BIND_EVENT)
      .listeners.filter((l) => hears(l, message.name));
    const events = this.unbindEvents;
    if (events.tragic || listeners.length + events.length > this.options.maxUnsentUnbind) {
      events.tragic = true;
      const lost = this.statusMessage(MessageNames.UNBIND_EVENTS_LOST, 0, 0, NO_ID);
      for (const listener of listeners) {
        if (!events.hasLostMessageFor(listener.ksock)) events.add(listener.ksock, lost, listener);
      }
    } else {
      for (const listener of listeners) events.add(listener.ksock, message, listener);
    }
    for (const listener of listeners) this.notify(listener.ksock);
  }

  // --- Release ------------------------------------------------------------------

  /**
   * kbus_release: a Ksock has closed, leaving its queue, bindings and owed
   * replies; every Request it owed gets its status message.
   */
  release(ksock: Ksock, left: ReleasedState<Ksock>): void {
    this.abandonPending(ksock);

    // Unread Requests it was to reply to: GoneAway. (kbus.c skips a stateful
    // request addressed to this Ksock; Kbus.txt promises every request an
    // answer, and that promise wins.)
    for (const item of left.queued) {
      if (!item.toAnswer) continue;
      const { from, id } = item.message;
      if (from !== ksock.id) this.pushStatus(ksock.id, from, id, MessageNames.REPLIER_GONEAWAY);
    }

    // Its bindings, newest first; each replier binding is reported if asked.
    // All are removed before any is reported, so it hears none of its own.
    for (const binding of left.bindings) {
      this.router.remove(binding);
      this.engine.bindingChanged(this.index, binding, false);
    }
    if (this.reportingReplierBinds) {
      for (const binding of left.bindings) {
        if (binding.isReplier) this.reportUnbindingSafely(ksock, binding.name);
      }
    }
    this.unbindEvents.forgetKsock(ksock);

    // Requests it read and never answered: Ignored (newest first, as kbus.c).
    for (const request of left.owed) {
      if (request.from !== ksock.id) {
        this.pushStatus(ksock.id, request.from, request.id, MessageNames.REPLIER_IGNORED);
      }
    }
    this.ksocks.delete(ksock.id);
    // A closed Ksock still queued for notice is skipped by flush().
    if (this.verbose) this.debug(`${ksock.id} released`);
    this.engine.roomMayHaveAppeared();
    this.flush();
  }

  // --- Notification -------------------------------------------------------------

  /** Queues a readiness callback, made once the current operation is over. */
  private notify(ksock: Ksock, force = false): void {
    if ((ksock.onReady !== undefined || force) && !ksock.notifyQueued) {
      ksock.notifyQueued = true;
      this.toNotify.push(ksock);
    }
  }

  /** Runs the readiness callbacks queued by the operation just finished. */
  private flush(): void {
    // Most operations notify nobody: no iterator for them.
    const due = this.toNotify;
    // A callback may queue more, or send and so flush again: the outer loop,
    // reading the length each time round, takes what they add.
    if (due.length === 0 || this.flushing) return;
    this.flushing = true;
    let i = 0;
    try {
      for (; i < due.length; i++) {
        const ksock = due[i]!;
        ksock.notifyQueued = false;
        if (!ksock.closed) ksock.onReady?.(ksock);
      }
    } finally {
      // Those after a callback that threw stay due, for the next flush.
      // (pop(), as setting an array's length is slower than a send.)
      if (i >= due.length) while (due.length > 0) due.pop();
      else due.splice(0, i + 1);
      this.flushing = false;
    }
  }

  // --- /proc/kbus -----------------------------------------------------------------

  /** The figures of /proc/kbus/stats for this device. */
  stats(): { nextKsockId: number; nextSerial: number; unsentUnbind: number; tragic: boolean } {
    return {
      nextKsockId: this.nextKsockId,
      nextSerial: this.nextSerial,
      unsentUnbind: this.unbindEvents.length,
      tragic: this.unbindEvents.tragic,
    };
  }

  /** See Engine.compactQueues. */
  compactQueues(copies: Map<Uint8Array, Uint8Array>): number {
    let copied = 0;
    for (const ksock of this.ksocks.values()) copied += ksock.compactQueue(copies);
    return copied;
  }

  /** Its open Ksocks, newest first (as kbus.c keeps them). */
  ksocksNewestFirst(): Ksock[] {
    return [...this.ksocks.values()].reverse();
  }

  private debug(text: string): void {
    this.options.log(`kbus: ${this.index}/${text}`);
  }
}

/**
 * The owner's rules (KsockGuard): may this listener hear `name` at all? One
 * it may not is no recipient of the message, whatever path brings it.
 */
function hears(listener: Binding<Ksock>, name: string): boolean {
  const guard = listener.ksock.guard;
  return guard === undefined || guard.mayReceive(name);
}
