/**
 * One KBUS device (/dev/kbusN in the seed): its Ksocks, its bindings, its
 * message ids, and everything that moves messages between Ksocks: sending
 * (Kbus.txt "Queues filling up"), the reply guarantee (Kbus.txt "Requests
 * and Replies"), ALL_OR_WAIT sends completing as room appears, and Replier
 * Bind Events.
 */
import {
  bindNameError,
  type ErrnoName,
  encodeReplierBindEvent,
  Flags,
  isReply,
  isRequest,
  KbusError,
  MAX_NAME_LENGTH,
  type Message,
  type MessageId,
  type MessageInit,
  MessageNames,
  NO_ADDRESS,
  NO_ID,
  stamp,
} from '../wire/index.js';
import type { Engine } from './engine.js';
import { Ksock } from './ksock.js';
import type { ResolvedOptions } from './options.js';
import { QueuedMessage } from './queued.js';
import { type Binding, Router } from './router.js';
import { UnsentUnbindEvents } from './unbind-events.js';
import { validateMessage } from './validate.js';

const NO_DATA = new Uint8Array(0);
const WANT_YOU_TO_REPLY = Flags.WANT_YOU_TO_REPLY;

export class Device {
  readonly router = new Router<Ksock>();
  readonly ksocks = new Map<number, Ksock>();
  readonly unbindEvents = new UnsentUnbindEvents();
  verbose: boolean;
  reportReplierBinds = false;
  /** The next Ksock id and message serial number to give, as /proc/kbus/stats shows them. */
  nextKsockId = 0;
  nextSerial = 0;

  private readonly pendingSenders = new Set<Ksock>();
  private retrying = false;
  private toNotify: Ksock[] = [];

  constructor(
    readonly engine: Engine,
    readonly index: number,
    readonly options: ResolvedOptions,
  ) {
    this.verbose = options.verbose;
  }

  open(mode: number, pid: number): Ksock {
    // Ksock id 0 is KBUS itself; ids are unsigned 32-bit and wrap (kbus_open).
    if (this.nextKsockId === 0) this.nextKsockId = 1;
    const id = this.nextKsockId;
    this.nextKsockId = (id + 1) >>> 0;
    const ksock = new Ksock(this, id, mode, pid);
    this.ksocks.set(id, ksock);
    if (this.verbose) this.debug(`${id} opened (mode ${mode}, pid ${pid})`);
    return ksock;
  }

  /** kbus_next_serial_num: serial numbers ascend from 1 per device, skipping 0 when they wrap. */
  nextSerialNum(): number {
    if (this.nextSerial === 0) this.nextSerial = 1;
    const serial = this.nextSerial;
    this.nextSerial = (serial + 1) >>> 0;
    return serial;
  }

  // --- Sending --------------------------------------------------------------

  /** Checks and copies a message given as an object (see validateMessage). */
  validate(init: MessageInit): Message {
    return validateMessage(init, this.options.maxMessageSize);
  }

  /**
   * SEND (kbus_send). `retry` is a SEND of a message whose earlier SEND
   * returned EAGAIN: it keeps the id it was given then.
   */
  send(sender: Ksock, message: Message, retry: boolean): MessageId {
    try {
      // Kbus.txt "Queues filling up": a Request needs room for its Reply in
      // the sender's queue, or it is not sent and gets no id (ENOLCK).
      if (message.flags & Flags.WANT_A_REPLY && sender.isFull(false)) {
        this.abandonPending(sender);
        throw new KbusError('ENOLCK', "no room in the sender's queue for the Reply");
      }
      const stamped = retry ? message : this.stamp(sender, message);
      sender.lastSentId = stamped.id;
      const error = this.deliver(sender, stamped);
      if (error === 'EAGAIN') {
        sender.pending = stamped;
        this.pendingSenders.add(sender);
        this.engine.waitingDevices.add(this);
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

  /** Kbus.txt "Things KBUS changes in a message": a local id is given here. */
  private stamp(sender: Ksock, message: Message): Message {
    const id =
      message.id.networkId === 0 ? { networkId: 0, serialNum: this.nextSerialNum() } : message.id;
    return stamp(message, id, sender.id);
  }

  /** Drops a send left pending by EAGAIN (DISCARD, or the Ksock closing). */
  abandonPending(sender: Ksock): void {
    sender.pending = undefined;
    if (this.pendingSenders.delete(sender) && this.pendingSenders.size === 0) {
      this.engine.waitingDevices.delete(this);
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
      if (!replyTo.expects(message.inReplyTo)) return 'ECONNREFUSED';
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
      if (!listener.ksock.isFull(false)) continue;
      if (allOrWait) return 'EAGAIN';
      if (allOrFail) return 'EBUSY';
      // By default a full listener simply misses the message.
      skipped ??= new Set();
      skipped.add(listener);
    }

    if (replyTo !== undefined) {
      this.push(replyTo, message, null, true);
      sender.replyNowSent(message.inReplyTo);
    }
    if (replier !== undefined) {
      this.push(replier.ksock, message, replier, true);
      sender.rememberOutstanding(message.id);
    }
    for (const listener of listeners) {
      if (skipped === undefined || !skipped.has(listener)) {
        this.push(listener.ksock, message, listener, false);
      }
    }
    return undefined;
  }

  /** kbus_push_message: the only way a message joins a queue. */
  private push(
    ksock: Ksock,
    message: Message,
    binding: Binding<Ksock> | null,
    forReplier: boolean,
  ): void {
    // Kbus.txt "Receiving messages once only".
    if (
      ksock.onlyOnce &&
      !forReplier &&
      ksock.lastPushed.serialNum === message.id.serialNum &&
      ksock.lastPushed.networkId === message.id.networkId
    ) {
      return;
    }
    const flags =
      forReplier && message.flags & Flags.WANT_A_REPLY
        ? (message.flags | WANT_YOU_TO_REPLY) >>> 0
        : (message.flags & ~WANT_YOU_TO_REPLY) >>> 0;
    const item = new QueuedMessage<Ksock>(message, flags, binding);
    const length = item.length;
    ksock.queuedBytes += length;
    this.engine.queuedBytes += length;
    if (message.flags & Flags.URGENT) ksock.queue.pushFront(item);
    else ksock.queue.pushBack(item);
    ksock.lastPushed = message.id;
    // A reply (status messages included) satisfies the recipient's request.
    if (isReply(message)) ksock.forgetOutstanding(message.inReplyTo);
    if (this.verbose) {
      this.debug(
        `${ksock.id} queued ${message.id.serialNum} '${message.name}' (${ksock.queue.length})`,
      );
    }
    this.notify(ksock);
  }

  /** A status message from KBUS (kbus_build_kbus_message). */
  private statusMessage(name: string, from: number, to: number, inReplyTo: MessageId): Message {
    return {
      id: { networkId: 0, serialNum: this.nextSerialNum() },
      inReplyTo,
      to,
      from,
      origFrom: NO_ADDRESS,
      finalTo: NO_ADDRESS,
      extra: 0,
      flags: Flags.SYNTHETIC,
      name,
      data: NO_DATA,
    };
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
    if (ksock.queue.length === 0 && ksock.maybeGotUnsentUnbind) this.moveUnsentUnbind(ksock);
    return ksock.queue.peekFront();
  }

  /** Pops the next message (kbus_nextmsg's bookkeeping included). */
  pop(ksock: Ksock): QueuedMessage<Ksock> | undefined {
    if (ksock.queue.length === 0 && ksock.maybeGotUnsentUnbind) this.moveUnsentUnbind(ksock);
    const item = ksock.queue.popFront();
    if (item === undefined) return undefined;
    this.unqueued(ksock, item.length);
    // A Request read by its replier must be answered (Ignored if it never is).
    if (item.flags & WANT_YOU_TO_REPLY) ksock.replyNeeded(item.message);
    if (ksock.maybeGotUnsentUnbind) this.moveUnsentUnbind(ksock);
    this.engine.roomMayHaveAppeared();
    this.flush();
    return item;
  }

  /** Takes `bytes` of entries removed from `ksock`'s queue off the byte counts. */
  private unqueued(ksock: Ksock, bytes: number): void {
    ksock.queuedBytes -= bytes;
    this.engine.queuedBytes -= bytes;
  }

  private moveUnsentUnbind(ksock: Ksock): void {
    const entry = this.unbindEvents.takeFirstFor(ksock);
    if (entry) this.push(ksock, entry.message, entry.binding, false);
  }

  // --- ALL_OR_WAIT ------------------------------------------------------------

  /**
   * Finishes the pending sends that now can. The engine calls it whenever a
   * queue of any device may have room again (Engine.roomMayHaveAppeared).
   */
  retryPending(): void {
    if (this.pendingSenders.size === 0 || this.retrying) return;
    this.retrying = true;
    try {
      for (const sender of [...this.pendingSenders]) {
        const message = sender.pending!;
        const error = this.deliver(sender, message);
        if (error === 'EAGAIN') continue;
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

  bind(ksock: Ksock, name: string, isReplier: boolean): void {
    const error = bindNameError(name);
    if (error) throw new KbusError(error, `cannot bind to '${name}'`);
    if (isReplier && name === MessageNames.REPLIER_BIND_EVENT) {
      throw new KbusError('EBADMSG', `cannot bind as replier to ${name}`);
    }
    if (isReplier && this.router.replierFor(name) !== undefined) {
      throw new KbusError('EADDRINUSE', `'${name}' already has a replier`);
    }
    try {
      if (isReplier && this.reportReplierBinds) this.announceBind(ksock, true, name);
      const binding: Binding<Ksock> = { ksock, isReplier, name };
      this.router.add(binding);
      ksock.bindings.add(binding);
      if (this.verbose) this.debug(`${ksock.id} bound ${isReplier ? 'R' : 'L'} '${name}'`);
    } finally {
      this.flush();
    }
  }

  unbind(ksock: Ksock, name: string, isReplier: boolean): void {
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
      if (isReplier && this.reportReplierBinds) this.announceBind(ksock, false, name);
      const queued = ksock.queue.length;
      this.forgetMatchingMessages(ksock, binding);
      this.unbindEvents.forgetBinding(binding);
      this.router.remove(binding);
      ksock.bindings.delete(binding);
      if (name === MessageNames.REPLIER_BIND_EVENT && ksock.maybeGotUnsentUnbind) {
        this.unbindEvents.forgetKsock(ksock);
      }
      if (ksock.queue.length < queued && ksock.maybeGotUnsentUnbind) this.moveUnsentUnbind(ksock);
      if (this.verbose) this.debug(`${ksock.id} unbound ${isReplier ? 'R' : 'L'} '${name}'`);
      this.engine.roomMayHaveAppeared();
    } finally {
      this.flush();
    }
  }

  /**
   * Kbus.txt "Listeners": an UNBIND removes the queued messages that binding
   * brought; a Request among them gets `$.KBUS.Replier.Unbound`.
   */
  private forgetMatchingMessages(ksock: Ksock, binding: Binding<Ksock>): void {
    const removed = ksock.queue.removeWhere((item) => item.binding === binding);
    for (const item of removed) {
      this.unqueued(ksock, item.length);
      if (item.flags & WANT_YOU_TO_REPLY) {
        const { from, id } = item.message;
        this.pushStatus(ksock.id, from, id, MessageNames.REPLIER_UNBOUND);
      }
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
    return {
      ...this.statusMessage(MessageNames.REPLIER_BIND_EVENT, 0, 0, NO_ID),
      // kbus.c marks them ALL_OR_FAIL: all listeners hear of it, or none.
      flags: Flags.SYNTHETIC | Flags.ALL_OR_FAIL,
      data: encodeReplierBindEvent({ isBind, binder, name }),
    };
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
    const previous = this.reportReplierBinds;
    if (value === false) this.reportReplierBinds = false;
    if (value === true) {
      this.reportReplierBinds = true;
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
    const listeners = this.router.route(MessageNames.REPLIER_BIND_EVENT).listeners;
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

  /** kbus_release: a Ksock closes; every Request it owed gets its status message. */
  release(ksock: Ksock): void {
    ksock.reading = undefined;
    ksock.assembler.reset();
    this.abandonPending(ksock);
    ksock.outstanding.clear();
    ksock.outstandingCount = 0;

    // Unread Requests it was to reply to: GoneAway. (kbus.c skips a stateful
    // request addressed to this Ksock; Kbus.txt promises every request an
    // answer, and that promise wins.)
    for (const item of ksock.queue) {
      if (item.flags & WANT_YOU_TO_REPLY) {
        const { from, id } = item.message;
        if (from !== ksock.id) this.pushStatus(ksock.id, from, id, MessageNames.REPLIER_GONEAWAY);
      }
    }
    ksock.queue.clear();
    this.unqueued(ksock, ksock.queuedBytes);

    // Its bindings, newest first; each replier binding is reported if asked.
    // All are removed before any is reported, so it hears none of its own.
    const bindings = [...ksock.bindings].reverse();
    for (const binding of bindings) this.router.remove(binding);
    ksock.bindings.clear();
    if (this.reportReplierBinds) {
      for (const binding of bindings) {
        if (binding.isReplier) this.reportUnbindingSafely(ksock, binding.name);
      }
    }
    this.unbindEvents.forgetKsock(ksock);

    // Requests it read and never answered: Ignored (newest first, as kbus.c).
    for (const request of ksock.takeUnreplied()) {
      if (request.from !== ksock.id) {
        this.pushStatus(ksock.id, request.from, request.id, MessageNames.REPLIER_IGNORED);
      }
    }
    this.ksocks.delete(ksock.id);
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
  flush(): void {
    while (this.toNotify.length > 0) {
      const list = this.toNotify;
      this.toNotify = [];
      for (const ksock of list) {
        ksock.notifyQueued = false;
        if (!ksock.closed) ksock.onReady?.(ksock);
      }
    }
  }

  private debug(text: string): void {
    this.options.log(`kbus: ${this.index}/${text}`);
  }
}
