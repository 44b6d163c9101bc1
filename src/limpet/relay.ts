/**
 * A running Limpet's two directions, bus to link and link to bus (limpet.md
 * section 5), each in strict arrival order, neither waiting for the other.
 */
import type { Socket } from 'node:net';
import type { KbusMessage, Ksock } from '../client/index.js';
import { decodeChecked } from '../client/messages.js';
import {
  Flags,
  formatId,
  HeaderOffset,
  idFromWords,
  isKbusError,
  isReply,
  type Message,
  MessageNames,
  readU32BE,
} from '../wire/index.js';
import {
  type BusAction,
  bindEventOf,
  FORWARD_BYTES,
  type LimpetCore,
  LinkAnnouncement,
} from './core.js';
import { LinkDecoder, type LinkError } from './link-codec.js';
import { LinkWriter } from './link-writer.js';
import type { ProxyRepliers } from './proxies.js';
import { BusRepliers } from './repliers.js';
import type { LimpetResult } from './result.js';

/** fromBusMessage: a termination message was read; the Limpet is stopping. */
const STOP = Symbol('stop');

/** Link traffic waiting for the bus before we stop reading the link. */
const LINK_BACKLOG = 1000;

export interface Relay {
  /** The link, after the greeting. */
  socket: Socket;
  /** What the link carried after the peer's greeting, in the same read. */
  early: Buffer;
  /** The Limpet's Ksock, set up. */
  bus: Ksock;
  core: LimpetCore;
  proxies: ProxyRepliers;
  maxDataLength: number;
  log: (line: string) => void;
  /** Per-message lines, or undefined when nothing would print them (so none is built). */
  trace: ((line: string) => void) | undefined;
  /** Stops the Limpet; the first call decides the result. */
  stop: (result: LimpetResult) => void;
  /** True once the Limpet is stopping. */
  stopping: () => boolean;
  /** Settles when the Limpet starts to stop. */
  stopped: Promise<void>;
}

/** Starts both directions; resolves when the bus side has ended (after the Ksock closes). */
export function relay(r: Relay): Promise<void> {
  const { socket, bus, core, proxies, log, trace, stop, stopping } = r;
  const K = bus.id;
  const repliers = new BusRepliers();

  const link = new LinkWriter(socket, (bytes, at) => core.stampLink(bytes, at));
  const sendToLink = (message: Message) => {
    trace?.(`bus -> link: ${message.name} ${formatId(message.id)}`);
    // Reading from the bus waits while the link is full.
    return link.write(message);
  };

  /**
   * A message from the bus decoded: what fromBus decides, carried out.
   * Returns a promise to wait on while the link is full, or STOP.
   */
  const fromBusMessage = (message: KbusMessage): Promise<void> | typeof STOP | undefined => {
    const action = core.fromBus(message);
    if (message.name === MessageNames.REPLIER_BIND_EVENT && message.isSynthetic) {
      const event = bindEventOf(message);
      if (event) repliers.event(event);
      if (event && !event.isBind && event.binder !== K) proxies.localReplierUnbound(event.name);
    } else if (message.name === MessageNames.UNBIND_EVENTS_LOST) {
      repliers.eventsLost();
    }
    if (action.kind === 'stop') {
      log(`termination message ${message.name}: stopping`);
      stop({ reason: 'terminated', name: message.name });
      return STOP;
    }
    if (action.kind === 'drop') {
      trace?.(`bus: dropped ${message.name} ${formatId(message.id)}: ${action.why}`);
    } else if (action.kind === 'inject') {
      bus
        .send(action.message)
        .catch((err: Error) => log(`self-loop answer failed: ${err.message}`));
    } else return sendToLink(action.message);
    return undefined;
  };

  /** A trace line for a message the bus pushed, shown as fromBus would have it. */
  const traceBytes = (bytes: Uint8Array, plain: typeof FORWARD_BYTES | BusAction) => {
    const message = decodeChecked(bytes);
    if (plain.kind === 'drop') {
      trace?.(`bus: dropped ${message.name} ${formatId(message.id)}: ${plain.why}`);
    } else trace?.(`bus -> link: ${message.name} ${formatId(core.stamp(message).id)}`);
  };

  /**
   * The bus's messages in order. Plain announcements, the bulk of the
   * traffic, are decided on and forwarded as the bytes the bus pushed;
   * everything else is decoded first.
   */
  const busToLink = (async () => {
    const incoming = bus.messageBytes();
    try {
      while (await incoming.ready()) {
        for (let bytes = incoming.take(); bytes !== undefined; bytes = incoming.take()) {
          const plain = core.fromBusBytes(bytes);
          let waiting: Promise<void> | typeof STOP | undefined;
          if (plain === undefined) waiting = fromBusMessage(decodeChecked(bytes));
          else {
            if (trace) traceBytes(bytes, plain);
            if (plain === FORWARD_BYTES) waiting = link.writeFromBus(bytes);
          }
          if (waiting === STOP) return;
          // A peer that has stopped reading never drains the link: stopping
          // must not wait for it (the link is destroyed once the Ksock is closed).
          if (waiting) await Promise.race([waiting, r.stopped]);
        }
      }
      if (!stopping()) log('lost the daemon connection');
      stop({ reason: 'daemon-lost' });
    } catch (err) {
      if (!bus.closed) log(`bus side failed: ${(err as Error).message}`);
      stop({ reason: 'daemon-lost', error: err as Error });
    } finally {
      incoming.stop();
    }
  })();

  // Link to bus: in arrival order; sends are pipelined. A Request's
  // replier is known from the bus's bind events (BusRepliers); only if
  // they were lost does a Request wait to ask the daemon, and while one
  // does, what follows it queues behind it. Everything else is handled at
  // once, so the messages of one read from the link reach the bus in one write.
  let chain: Promise<void> = Promise.resolve();
  let backlog = 0;
  const isRequest = (message: Message) =>
    message.name !== MessageNames.REPLIER_BIND_EVENT &&
    !isReply(message) &&
    (message.flags & Flags.WANT_A_REPLY) !== 0;
  /** A Request waits to ask who its replier is only when the bind events cannot say. */
  const waits = (message: Message) =>
    isRequest(message) && repliers.replier(message.name) === undefined;
  const injectFailed = (err: Error) =>
    log(`injecting a message from the link failed: ${err.message}`);
  const fromLinkNow = (message: Message): void => {
    trace?.(`link -> bus: ${message.name} ${formatId(message.id)}`);
    if (isRequest(message)) {
      const replier = repliers.replier(message.name);
      if (replier !== undefined) {
        requestWithReplier(message, replier);
        return;
      }
    }
    if (message.name === MessageNames.REPLIER_BIND_EVENT) {
      // Section 10.2: a bind event without SYNTHETIC is not genuine.
      if (!(message.flags & Flags.SYNTHETIC)) return;
      const event = bindEventOf(message);
      if (event) proxies.peerReplier(event.name, event.isBind);
      return;
    }
    if (isReply(message)) {
      const reply = core.replyFromLink(message);
      if (reply === undefined) {
        trace?.(`link: dropped reply to ${formatId(message.inReplyTo)}: nothing pending`);
        return;
      }
      bus
        .send(reply)
        .catch((err: Error) =>
          log(`relaying reply ${formatId(message.id)} failed: ${err.message}`),
        );
      return;
    }
    // The bulk of link traffic: no promise each (the error names the message).
    bus.post(core.otherFromLink(message), injectFailed);
  };
  const requestFromLink = async (message: Message) => {
    trace?.(`link -> bus: ${message.name} ${formatId(message.id)}`);
    requestWithReplier(message, await bus.replier(message.name));
  };
  /** Section 5.2 rule 3, given r = REPLIER(name) on this bus. */
  const requestWithReplier = (message: Message, replier: number) => {
    const decision = core.requestFromLink(message, replier);
    if (decision.kind === 'drop') return trace?.(`link: dropped ${message.name}: ${decision.why}`);
    if (decision.kind === 'answer') {
      sendToLink(decision.message);
      return;
    }
    bus.send(decision.message).catch((err: unknown) => {
      const errno = isKbusError(err) ? err.errno : 22;
      sendToLink(core.remoteError(message, errno));
    });
  };
  const failed = (err: Error) => {
    if (!bus.closed) log(`link message failed: ${err.message}`);
  };
  const fromLink = (message: Message) => {
    if (backlog === 0 && !waits(message)) {
      try {
        fromLinkNow(message);
      } catch (err) {
        failed(err as Error);
      }
      return;
    }
    backlog++;
    if (backlog > LINK_BACKLOG) socket.pause();
    chain = chain
      .then(() => (waits(message) ? requestFromLink(message) : fromLinkNow(message)))
      .catch(failed)
      .finally(() => {
        if (--backlog <= LINK_BACKLOG / 2 && socket.isPaused()) socket.resume();
      });
  };
  // The bulk of link traffic, announcements, is injected as the bytes the
  // link carried, never decoded, unless something waits ahead of it.
  const announcement = new LinkAnnouncement();
  const fromLinkBytes = (bytes: Uint8Array, at: number, length: number, name: string) => {
    if (backlog !== 0 || !core.isPlainFromLink(bytes, at, name)) return false;
    if (trace) {
      const id = idFromWords(
        readU32BE(bytes, at + HeaderOffset.ID_NETWORK),
        readU32BE(bytes, at + HeaderOffset.ID_SERIAL),
      );
      trace(`link -> bus: ${name} ${formatId(id)}`);
    }
    bus.postEncoded(announcement.set(bytes, at, length, name), injectFailed);
    return true;
  };
  const decoder = new LinkDecoder(r.maxDataLength);
  const onLinkData = (chunk: Buffer) => {
    try {
      decoder.push(chunk, fromLink, fromLinkBytes);
    } catch (err) {
      log(`link broken: ${(err as LinkError).message}`);
      stop({ reason: 'link-broken', error: err as LinkError });
    }
  };
  socket.on('data', onLinkData);
  if (r.early.length > 0) onLinkData(r.early);
  socket.resume();
  return busToLink;
}
