/**
 * One device's side of the cluster agent (docs/cluster.md section 2): an
 * ordinary engine Ksock on the device, bound as proxy replier for the names
 * whose replier is on another live bus and as listener for the names other
 * buses want, carrying messages between the device and NATS.
 */
import type { Engine, EngineKsock } from '../engine/index.js';
import { type Binding, Router } from '../engine/router.js';
import {
  decodeMessage,
  encodeMessage,
  Flags,
  isKbusError,
  isReply,
  type Message,
  type MessageId,
  MessageNames,
  NO_ADDRESS,
  NO_ID,
} from '../wire/index.js';
import { coverSet, inboxSubject, type Kind, listenSubject } from './subjects.js';

export const ClusterNames = {
  NOT_SAME_KSOCK: '$.KBUS.Replier.NotSameKsock',
  REMOTE_ERROR_PREFIX: '$.KBUS.RemoteError.',
} as const;

/** A replier in the registry. */
export interface ReplierEntry {
  readonly bus: number;
  readonly ksock: number;
  readonly instance: string;
  readonly revision: number;
}

/** What a device agent asks of the cluster agent that owns it. */
export interface AgentHost {
  readonly busId: number;
  readonly engine: Engine;
  /** Is `bus` live, with this instance if given? */
  isLive(bus: number, instance?: string): boolean;
  /** The instance of `bus` last heard from, live or gone (undefined: never heard, or stopped cleanly). */
  instanceOf(bus: number): string | undefined;
  publish(subject: string, kind: Kind, message: Message, except?: number): void;
  subscribe(
    subject: string,
    onMessage: (message: Message, kind: Kind, from: number, except: number) => void,
  ): () => void;
  /** Records the names local listeners are bound to, for other buses. */
  putInterest(device: number, names: readonly string[]): void;
  /** Deletes a replier entry of ours by its revision (an UNBIND). */
  dropClaim(device: number, name: string, revision: number): void;
  log(line: string): void;
}

interface PendingOut {
  readonly localId: MessageId;
  readonly from: number;
  readonly bus: number;
}

const AGENT_QUEUE = 100_000;

function key(id: MessageId): string {
  return `${id.networkId}:${id.serialNum}`;
}

function clear(flags: number, bits: number): number {
  return (flags & ~bits) >>> 0;
}

export class DeviceAgent {
  readonly ksock: EngineKsock;
  /** The replier registry for this device, from the key-value store. */
  readonly registry = new Map<string, ReplierEntry>();
  /** Our local repliers' entries: name to revision and Ksock. */
  readonly claims = new Map<string, { revision: number; ksockId: number }>();
  /** Names other buses' listeners want, by bus. */
  private readonly interest = new Map<number, Set<string>>();
  /** Who owns the names we proxy, routed as the engine does (most specific wins). */
  private remoteRepliers = new Router<number>();
  private readonly proxies = new Set<string>();
  private remoteListeners = new Router<number>();
  private readonly listening = new Set<string>();
  /** Local listener bindings (the agent's own excluded), counted. */
  private readonly localListen = new Map<string, number>();
  private readonly subscriptions = new Map<string, () => void>();
  private readonly pendingOut = new Map<string, PendingOut>();
  /** Requests from other buses injected here, by id: the bus, and its instance then. */
  private readonly pendingIn = new Map<string, { origin: number; instance: string | undefined }>();
  private draining = false;
  private closed = false;

  constructor(
    private readonly host: AgentHost,
    readonly device: number,
  ) {
    this.ksock = host.engine.open(device);
    this.ksock.setMaxMessages(AGENT_QUEUE);
    this.ksock.msgOnlyOnce(true);
    // Listeners on this bus hear of remote repliers through our proxy binds.
    this.ksock.onReady = () => this.scheduleDrain();
    host.subscribe(inboxSubject(device, host.busId), (m, kind, from) =>
      this.fromInbox(m, kind, from),
    );
    host.putInterest(device, []);
  }

  get pendingCount(): number {
    return this.pendingOut.size;
  }

  // --- Local bindings ----------------------------------------------------------

  /** A binding changed on this device (Engine.onBindingChange). */
  bindingChanged(ksockId: number, name: string, isReplier: boolean, added: boolean): void {
    if (ksockId === this.ksock.id || this.closed) return;
    if (isReplier) {
      if (added) return;
      const claim = this.claims.get(name);
      if (claim?.ksockId === ksockId) {
        this.claims.delete(name);
        this.host.dropClaim(this.device, name, claim.revision);
      }
      // A proxy refused for this name may now bind.
      queueMicrotask(() => this.reconcileProxies());
      return;
    }
    const count = (this.localListen.get(name) ?? 0) + (added ? 1 : -1);
    const changed = count === 0 || (added && count === 1);
    if (count === 0) this.localListen.delete(name);
    else this.localListen.set(name, count);
    if (!changed) return;
    this.host.putInterest(this.device, [...this.localListen.keys()]);
    this.resubscribe();
  }

  /** NATS subscriptions: one for each local listener binding no wider one covers. */
  private resubscribe(): void {
    const wanted = new Set(
      coverSet(this.localListen.keys()).map((n) => listenSubject(this.device, n)),
    );
    for (const [subject, unsubscribe] of this.subscriptions) {
      if (!wanted.has(subject)) {
        unsubscribe();
        this.subscriptions.delete(subject);
      }
    }
    for (const subject of wanted) {
      if (this.subscriptions.has(subject)) continue;
      this.subscriptions.set(
        subject,
        this.host.subscribe(subject, (m, _kind, from, except) => this.fromCopy(m, from, except)),
      );
    }
  }

  // --- What other buses hold and want ------------------------------------------

  /** A registry entry changed (undefined: deleted). */
  registryChanged(name: string, entry: ReplierEntry | undefined): void {
    if (entry === undefined) this.registry.delete(name);
    else this.registry.set(name, entry);
    const claim = this.claims.get(name);
    if (claim !== undefined && entry !== undefined && entry.bus !== this.host.busId) {
      // docs/cluster.md section 7: another bus took the name while we were cut off.
      this.claims.delete(name);
      this.host.log(`device ${this.device}: bus ${entry.bus} took ${name}; our replier loses it`);
      this.host.engine.evictReplier(this.device, name);
    }
    this.reconcileProxies();
  }

  interestChanged(bus: number, names: readonly string[] | undefined): void {
    if (bus === this.host.busId) return;
    if (names === undefined) this.interest.delete(bus);
    else this.interest.set(bus, new Set(names));
    this.reconcileListening();
  }

  /** Binds and unbinds proxy repliers to match the live part of the registry. */
  reconcileProxies(): void {
    if (this.closed) return;
    const wanted = new Map<string, number>();
    for (const [name, entry] of this.registry) {
      if (entry.bus !== this.host.busId && this.host.isLive(entry.bus, entry.instance))
        wanted.set(name, entry.bus);
    }
    for (const name of [...this.proxies]) {
      if (wanted.has(name)) continue;
      try {
        this.ksock.unbind(name, true);
        this.proxies.delete(name);
      } catch (err) {
        // EAGAIN: a bind-event listener is full; try again shortly.
        if (isKbusError(err, 'EAGAIN')) setTimeout(() => this.reconcileProxies(), 50);
        else this.proxies.delete(name);
      }
    }
    for (const name of wanted.keys()) {
      if (this.proxies.has(name)) continue;
      try {
        this.ksock.bind(name, true);
        this.proxies.add(name);
      } catch (err) {
        // EADDRINUSE: a local replier still holds it; retried when it unbinds.
        if (isKbusError(err, 'EAGAIN')) setTimeout(() => this.reconcileProxies(), 50);
      }
    }
    const router = new Router<number>();
    for (const name of this.proxies)
      router.add({ ksock: wanted.get(name)!, isReplier: true, name });
    this.remoteRepliers = router;
  }

  /** Binds as listener to what live buses want, so the engine hands us exactly that. */
  reconcileListening(): void {
    if (this.closed) return;
    const router = new Router<number>();
    const wanted = new Set<string>();
    for (const [bus, names] of this.interest) {
      if (!this.host.isLive(bus)) continue;
      for (const name of names) {
        wanted.add(name);
        router.add({ ksock: bus, isReplier: false, name } as Binding<number>);
      }
    }
    this.remoteListeners = router;
    for (const name of [...this.listening]) {
      if (wanted.has(name)) continue;
      this.listening.delete(name);
      this.ksock.unbind(name, false);
    }
    for (const name of wanted) {
      if (this.listening.has(name)) continue;
      this.listening.add(name);
      this.ksock.bind(name, false);
    }
  }

  /**
   * Bus `bus` is gone: what we sent it is answered Disappeared. What it sent
   * us is still answered when our replier answers, if it came from the
   * instance we last heard (see fromBus): a bus we stopped hearing from for a
   * while may still be waiting for those answers, and it alone answers its
   * requesters. What came before we knew its instance is forgotten.
   */
  busGone(bus: number): void {
    for (const [k, pending] of this.pendingOut) {
      if (pending.bus !== bus) continue;
      this.pendingOut.delete(k);
      this.answerLocally(pending, MessageNames.REPLIER_DISAPPEARED);
    }
    for (const [k, pending] of this.pendingIn) {
      if (pending.origin === bus && pending.instance === undefined) this.pendingIn.delete(k);
    }
    this.reconcileProxies();
    this.reconcileListening();
  }

  // --- Bus to NATS --------------------------------------------------------------

  private scheduleDrain(): void {
    if (this.draining) return;
    this.draining = true;
    queueMicrotask(() => {
      this.draining = false;
      if (this.closed) return;
      for (let m = this.ksock.nextMessage(); m !== undefined; m = this.ksock.nextMessage()) {
        try {
          this.fromBus(m);
        } catch (err) {
          this.host.log(`device ${this.device}: ${m.name}: ${(err as Error).message}`);
        }
      }
    });
  }

  /** Stamping as limpet.md section 5.1 rule 7, with the bus id as network id. */
  private stamp(m: Message): Message {
    const N = this.host.busId;
    return {
      ...m,
      id: m.id.networkId === 0 ? { networkId: N, serialNum: m.id.serialNum } : m.id,
      origFrom: m.origFrom.networkId === 0 ? { networkId: N, localId: m.from } : m.origFrom,
    };
  }

  private fromBus(m: Message): void {
    const K = this.ksock.id;
    // Our own injections and answers; bind events are each bus's own.
    if (m.from === K) return;
    if (m.name === MessageNames.REPLIER_BIND_EVENT || m.name === MessageNames.UNBIND_EVENTS_LOST)
      return;
    const stamped = this.stamp(m);
    if (isReply(m)) {
      if (m.to === K) {
        // An answer to a request we injected for another bus.
        const pending = this.pendingIn.get(key(m.inReplyTo));
        if (pending === undefined) return;
        this.pendingIn.delete(key(m.inReplyTo));
        // Not to a later instance of the bus (its message ids start again, and
        // it would take this for the answer to a request of its own), nor to
        // one that has stopped.
        const instance = pending.instance;
        if (instance === undefined || this.host.instanceOf(pending.origin) === instance) {
          this.host.publish(inboxSubject(this.device, pending.origin), 'reply', stamped);
        }
        this.copy(stamped, pending.origin);
        return;
      }
      this.copy(stamped, undefined);
      return;
    }
    if (m.flags & Flags.WANT_A_REPLY && m.flags & Flags.WANT_YOU_TO_REPLY) {
      // We are the proxy replier: send it to the bus that owns the name.
      const bus = this.remoteRepliers.route(m.name).replier?.ksock;
      if (bus === undefined || !this.host.isLive(bus)) {
        this.answerLocally({ localId: m.id, from: m.from, bus: 0 }, MessageNames.REPLIER_GONEAWAY);
      } else {
        this.pendingOut.set(key(stamped.id), { localId: m.id, from: m.from, bus });
        this.host.publish(inboxSubject(this.device, bus), 'request', stamped);
      }
      this.copy(stamped, bus);
      return;
    }
    this.copy(stamped, undefined);
  }

  /** Publishes a listener copy if a live bus other than us and `except` wants it. */
  private copy(m: Message, except: number | undefined): void {
    const N = this.host.busId;
    const wanted = this.remoteListeners
      .route(m.name)
      .listeners.some((b) => b.ksock !== N && b.ksock !== except);
    if (wanted) this.host.publish(listenSubject(this.device, m.name), 'copy', m, except);
  }

  /** A status reply from the agent to a local requester (docs/cluster.md section 7). */
  private answerLocally(pending: PendingOut, name: string): void {
    try {
      this.ksock.sendMessage({
        name,
        inReplyTo: pending.localId,
        to: pending.from,
        origFrom: { networkId: this.host.busId, localId: 0 },
      });
    } catch (err) {
      this.host.log(`device ${this.device}: ${name} to ${pending.from}: ${(err as Error).message}`);
    }
  }

  /** A reply without data for `request`, addressed as it came (limpet.md section 5.5). */
  private generated(name: string, request: Message): Message {
    return {
      id: NO_ID,
      inReplyTo: request.id,
      to: request.from,
      from: 0,
      origFrom: { networkId: this.host.busId, localId: 0 },
      finalTo: NO_ADDRESS,
      extra: 0,
      flags: 0,
      name,
      data: new Uint8Array(0),
    };
  }

  // --- NATS to bus ------------------------------------------------------------------

  private fromInbox(m: Message, kind: Kind, from: number): void {
    if (this.closed) return;
    if (kind === 'request') this.requestFromNats(m, from);
    else if (kind === 'reply') this.replyFromNats(m);
  }

  private requestFromNats(m: Message, origin: number): void {
    let inject: Message = {
      ...m,
      flags: clear(m.flags, Flags.ALL_OR_WAIT | Flags.WANT_YOU_TO_REPLY | Flags.SYNTHETIC),
    };
    if (m.to !== 0) {
      // limpet.md section 5.5: a stateful request names its replier in final_to.
      inject =
        m.finalTo.networkId === this.host.busId
          ? {
              ...inject,
              to: m.finalTo.localId,
              finalTo: { networkId: 0, localId: m.finalTo.localId },
            }
          : { ...inject, to: 0 };
    }
    try {
      this.ksock.sendMessage(inject);
      this.pendingIn.set(key(m.id), { origin, instance: this.host.instanceOf(origin) });
    } catch (err) {
      const code = isKbusError(err) ? err.code : 'EINVAL';
      const name =
        code === 'EADDRNOTAVAIL'
          ? MessageNames.REPLIER_GONEAWAY
          : code === 'EPIPE'
            ? ClusterNames.NOT_SAME_KSOCK
            : `${ClusterNames.REMOTE_ERROR_PREFIX}${isKbusError(err) ? err.errno : 22}`;
      this.host.publish(inboxSubject(this.device, origin), 'reply', this.generated(name, m));
    }
  }

  private replyFromNats(m: Message): void {
    const k = key(m.inReplyTo);
    const pending = this.pendingOut.get(k);
    // Answered already (its bus was declared gone): never a second answer.
    if (pending === undefined) return;
    this.pendingOut.delete(k);
    try {
      this.ksock.sendMessage({
        ...m,
        id: NO_ID,
        inReplyTo: pending.localId,
        to: pending.from,
        flags: clear(m.flags, Flags.ALL_OR_WAIT | Flags.WANT_YOU_TO_REPLY | Flags.SYNTHETIC),
      });
    } catch (err) {
      this.host.log(`device ${this.device}: reply to ${pending.from}: ${(err as Error).message}`);
    }
  }

  private fromCopy(m: Message, from: number, except: number): void {
    if (this.closed || except === this.host.busId || from === this.host.busId) return;
    try {
      if (isReply(m) || m.flags & Flags.WANT_A_REPLY) {
        this.ksock.sendCopy({
          ...m,
          flags: clear(m.flags, Flags.WANT_YOU_TO_REPLY | Flags.SYNTHETIC),
        });
      } else {
        this.ksock.sendMessage({
          ...m,
          flags: clear(m.flags, Flags.ALL_OR_WAIT | Flags.SYNTHETIC),
        });
      }
    } catch (err) {
      this.host.log(`device ${this.device}: injecting ${m.name}: ${(err as Error).message}`);
    }
  }

  /** Stops: every request still out is answered Disappeared when the Ksock closes (Ignored). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const unsubscribe of this.subscriptions.values()) unsubscribe();
    this.subscriptions.clear();
    this.ksock.onReady = undefined;
    this.ksock.close();
  }
}

/** Encodes a message for NATS (protocol.md's entire layout, little-endian). */
export function encodeForNats(m: Message): Uint8Array {
  return encodeMessage(m);
}

export function decodeFromNats(bytes: Uint8Array, maxLength: number): Message {
  return decodeMessage(bytes, { maxLength });
}
