/**
 * The seam between an engine Ksock and its device: what the Ksock asks of
 * the device (KsockHost), what it leaves when it closes, and the figures it
 * reports. Defined apart from both, so that neither file imports the other's
 * internals and each keeps its own state.
 */
import type { BytePool, Message, MessageId } from '../wire/index.js';
import type { QueueBudget } from './message-queue.js';
import type { ResolvedOptions } from './options.js';
import type { QueuedMessage } from './queued.js';
import type { UnrepliedRequest } from './replies.js';
import type { Binding } from './router.js';

/** What an engine Ksock asks of the device it is open on. */
/** `K` is the engine Ksock (EngineKsock); generic so that this file need not import it. */
export interface KsockHost<K> {
  readonly index: number;
  readonly options: ResolvedOptions;
  readonly budget: QueueBudget;
  readonly pool: BytePool;
  verbose: boolean;
  /** MAXMSGSIZE: the largest entire message this device accepts now. */
  readonly maxMessageSize: number;
  setMaxMessageSize(requested: number): number;
  /** SEND of `message` (kbus_send), or of the pending ALL_OR_WAIT send again. */
  send(sender: K, message: Message): MessageId;
  resend(sender: K): MessageId;
  /** A listener copy of a message sent elsewhere (Device.sendCopy). */
  sendCopy(sender: K, message: Message): MessageId;
  /** An ALL_OR_WAIT send of `sender` is still pending. */
  isSending(sender: K): boolean;
  abandonPending(sender: K): void;
  /** The next message for `ksock`, set-aside unbind events included. */
  peek(ksock: K): QueuedMessage<K> | undefined;
  pop(ksock: K): QueuedMessage<K> | undefined;
  /** Set-aside Replier Unbind Events waiting for `ksock`. */
  unsentUnbindCount(ksock: K): number;
  hasUnsentUnbind(ksock: K): boolean;
  bind(ksock: K, name: string, isReplier: boolean): Binding<K>;
  unbind(ksock: K, name: string, isReplier: boolean): Binding<K>;
  replierFor(name: string): number;
  setReportReplierBinds(ksock: K, value: boolean | undefined): boolean;
  newDevice(): number;
  roomMayHaveAppeared(): void;
  /** The Ksock has closed: what was left of it, for the status messages owed. */
  release(ksock: K, left: ReleasedState<K>): void;
}

/** What a closing Ksock leaves for its device to settle (kbus_release). */
export interface ReleasedState<K> {
  readonly queued: readonly QueuedMessage<K>[];
  /** Its bindings, newest first. */
  readonly bindings: readonly Binding<K>[];
  /** Requests it read and never answered, newest first. */
  readonly owed: readonly UnrepliedRequest[];
}

/** One Ksock's figures, as /proc/kbus/stats prints them. */
export interface KsockStats {
  readonly id: number;
  readonly lastSent: MessageId;
  readonly queued: number;
  readonly maxMessages: number;
  readonly readByte: number;
  readonly readTotal: number;
  readonly writePart: string;
  readonly writePos: number;
  readonly writeFinished: boolean;
  readonly sending: boolean;
  readonly awaiting: number;
  readonly awaitingSize: number;
  readonly maxAwaiting: number;
  readonly owing: number;
  readonly maxOwing: number;
}
