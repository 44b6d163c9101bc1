/**
 * The cluster agent (docs/cluster.md): joins every device of a daemon's
 * engine to one bus per device across a NATS cluster. It registers the bus
 * id, sends and watches heartbeats, keeps the replier registry and the
 * listener interest in JetStream key-value, and runs one DeviceAgent per
 * device.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  headers,
  type KV,
  type KvEntry,
  type NatsConnection,
  type QueuedIterator,
} from 'nats';
import type { Engine, EngineKsock } from '../engine/index.js';
import { KbusError, type Message } from '../wire/index.js';
import { type AgentHost, DeviceAgent, decodeFromNats, encodeForNats } from './device-agent.js';
import { Liveness } from './liveness.js';
import {
  Buckets,
  Headers,
  heartbeatSubject,
  interestKey,
  type Kind,
  parseInterestKey,
  parseReplierKey,
  pingSubject,
  replierKey,
} from './subjects.js';

export interface ClusterOptions {
  /** NATS server URLs. */
  servers: string[];
  /** This bus's id, 1 to 4294967295 (also its network id). */
  busId: number;
  /** Silence after which a bus is gone, in ms (default 3000). */
  timeoutMs?: number;
  credsFile?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** Replicas of the key-value buckets when created (default 1). */
  replicas?: number;
  log?: (line: string) => void;
  /** Another daemon took our bus id (we were cut off for too long): we must stop. */
  onFatal?: (message: string) => void;
}

/** Why the agent cannot start. Match on `code`. */
export class ClusterError extends Error {
  constructor(
    readonly code: 'KBUS_CLUSTER_BUS_ID_LIVE' | 'KBUS_CLUSTER_NATS',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ClusterError';
  }
}

/** Traffic counters, as heartbeats carry them. */
export interface Traffic {
  sent: number;
  sentBytes: number;
  received: number;
  receivedBytes: number;
}

export const DEFAULT_CLUSTER_TIMEOUT_MS = 3000;

/** How many cluster timeouts kbusd waits at start for NATS's JetStream to be ready. */
const JETSTREAM_WAIT_TIMEOUTS = 10;

/**
 * The key-value buckets, made if missing. A NATS cluster that is still
 * electing its JetStream leader (or a server just restarted with -js)
 * cannot make them yet: wait, saying so, for a bounded time.
 */
async function openBuckets(
  nc: NatsConnection,
  options: ClusterOptions,
  timeout: number,
): Promise<{ buses: KV; repliers: KV; interest: KV }> {
  const deadline = Date.now() + JETSTREAM_WAIT_TIMEOUTS * timeout;
  const js = nc.jetstream({ timeout: Math.max(1000, timeout / 2) });
  const replicas = options.replicas ?? 1;
  let said = false;
  for (;;) {
    try {
      return {
        buses: await js.views.kv(Buckets.BUSES, { history: 1, replicas }),
        repliers: await js.views.kv(Buckets.REPLIERS, { history: 1, replicas }),
        interest: await js.views.kv(Buckets.INTEREST, { history: 1, replicas }),
      };
    } catch (err) {
      const why = (err as Error).message;
      if (Date.now() >= deadline) {
        throw new ClusterError(
          'KBUS_CLUSTER_NATS',
          `NATS at ${options.servers.join(',')} gave no JetStream key-value store within ${(JETSTREAM_WAIT_TIMEOUTS * timeout) / 1000} s (${why}): run nats-server with JetStream (-js), and in a NATS cluster let it elect a leader`,
          { cause: err },
        );
      }
      if (!said) {
        options.log?.(`waiting for JetStream at ${options.servers.join(',')}: ${why}`);
        said = true;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** The cluster as one bus sees it (ClusterAgent.view()). */
export interface ClusterView {
  /** This bus's id. */
  readonly bus: number;
  /** The other buses heard of; `silentMs` since the last heartbeat. */
  readonly peers: readonly { bus: number; live: boolean; silentMs: number }[];
  /** The replier registry: who holds each name, and whether that bus is live. */
  readonly repliers: readonly {
    device: number;
    name: string;
    bus: number;
    ksock: number;
    live: boolean;
  }[];
}

interface BusRecord {
  bus: number;
  instance: string;
  host: string;
  pid: number;
}

export class ClusterAgent implements AgentHost {
  readonly instance = randomUUID();
  readonly busId: number;
  readonly traffic: Traffic = { sent: 0, sentBytes: 0, received: 0, receivedBytes: 0 };
  private readonly devices: DeviceAgent[] = [];
  private readonly liveness: Liveness;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly watchers: QueuedIterator<KvEntry>[] = [];
  private readonly interestPuts = new Map<number, { busy: boolean; next: string | undefined }>();
  private closing = false;

  private constructor(
    readonly engine: Engine,
    private readonly nc: NatsConnection,
    private readonly kv: { buses: KV; repliers: KV; interest: KV },
    private readonly options: ClusterOptions,
  ) {
    this.busId = options.busId;
    const timeout = options.timeoutMs ?? DEFAULT_CLUSTER_TIMEOUT_MS;
    this.liveness = new Liveness(options.busId, timeout, {
      gone: (bus) => {
        this.log(`bus ${bus} is gone`);
        for (const device of this.devices) device.busGone(bus);
      },
      live: (bus) => {
        this.log(`bus ${bus} is live`);
        for (const device of this.devices) {
          device.reconcileProxies();
          device.reconcileListening();
        }
      },
    });
  }

  /** Connects, refuses a bus id already live, and joins every device of `engine`. */
  static async start(engine: Engine, options: ClusterOptions): Promise<ClusterAgent> {
    const timeout = options.timeoutMs ?? DEFAULT_CLUSTER_TIMEOUT_MS;
    const connectOptions: ConnectionOptions = {
      servers: options.servers,
      name: `kbusd bus ${options.busId}`,
      noEcho: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: Math.min(1000, timeout / 4),
      pingInterval: Math.max(1000, timeout),
      maxPingOut: 2,
    };
    if (options.credsFile)
      connectOptions.authenticator = credsAuthenticator(readFileSync(options.credsFile));
    if (options.tls) connectOptions.tls = { ...options.tls };
    let nc: NatsConnection;
    try {
      nc = await connect(connectOptions);
    } catch (err) {
      throw new ClusterError(
        'KBUS_CLUSTER_NATS',
        `cannot reach NATS at ${options.servers.join(',')}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    try {
      const kv = await openBuckets(nc, options, timeout);
      const agent = new ClusterAgent(engine, nc, kv, options);
      await agent.register(timeout);
      await agent.join();
      return agent;
    } catch (err) {
      await nc.close().catch(() => {});
      if (err instanceof ClusterError) throw err;
      throw new ClusterError(
        'KBUS_CLUSTER_NATS',
        `joining the cluster: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  log(line: string): void {
    this.options.log?.(`cluster bus ${this.busId}: ${line}`);
  }

  /** Claims the bus id: refused if a daemon answers for it (docs/cluster.md section 1). */
  private async register(timeout: number): Promise<void> {
    const N = this.busId;
    const refuse = (holder: string) => {
      throw new ClusterError('KBUS_CLUSTER_BUS_ID_LIVE', `bus id ${N} is already live (${holder})`);
    };
    try {
      const answer = await this.nc.request(pingSubject(N), undefined, { timeout });
      const who = answer.json<BusRecord>();
      refuse(`kbusd process ${who.pid} on ${who.host}`);
    } catch (err) {
      if (err instanceof ClusterError) throw err;
      // No responders, or a daemon too stopped to answer: the id is free.
    }
    const record: BusRecord = {
      bus: N,
      instance: this.instance,
      host: hostname(),
      pid: process.pid,
    };
    const value = JSON.stringify(record);
    const existing = await this.kv.buses.get(String(N));
    try {
      if (existing === null || existing.operation !== 'PUT')
        await this.kv.buses.create(String(N), value);
      else await this.kv.buses.update(String(N), value, existing.revision);
    } catch {
      refuse('another daemon took it at the same moment');
    }
    this.nc.subscribe(pingSubject(N), {
      callback: (_err, msg) => {
        if (!this.closing) msg.respond(value);
      },
    });
  }

  private async join(): Promise<void> {
    const timeout = this.liveness.timeoutMs;
    this.nc.subscribe(heartbeatSubject('*'), {
      callback: (_err, msg) => {
        try {
          const beat = msg.json<{ bus: number; instance: string; leaving?: boolean }>();
          if (beat.bus === this.busId && beat.instance !== this.instance && !beat.leaving) {
            // We were cut off long enough for another daemon to take our id.
            this.options.onFatal?.(`another daemon now holds bus id ${this.busId}`);
            return;
          }
          this.liveness.heard(beat.bus, beat.instance, beat.leaving === true);
        } catch {
          // Not a heartbeat of ours.
        }
      },
    });
    for (let d = 0; d < this.engine.deviceCount; d++) this.devices.push(new DeviceAgent(this, d));
    this.engine.onBindingChange = (change) =>
      this.devices[change.device]?.bindingChanged(
        change.ksockId,
        change.name,
        change.isReplier,
        change.added,
      );
    await this.watch(this.kv.repliers, (entry) => this.onReplierEntry(entry));
    await this.watch(this.kv.interest, (entry) => this.onInterestEntry(entry));
    this.heartbeat();
    const period = Math.max(50, Math.floor(timeout / 4));
    this.timers.push(setInterval(() => this.heartbeat(), period));
    this.timers.push(
      setInterval(() => this.liveness.check(Date.now(), this.nc.isClosed()), period),
    );
    void this.watchStatus();
  }

  private async watch(kv: KV, onEntry: (entry: KvEntry) => void): Promise<void> {
    let initialized!: () => void;
    const ready = new Promise<void>((resolve) => {
      initialized = resolve;
    });
    const watcher = await kv.watch({ initializedFn: () => initialized() });
    this.watchers.push(watcher);
    void (async () => {
      for await (const entry of watcher) {
        try {
          onEntry(entry);
        } catch (err) {
          this.log(`watch ${entry.key}: ${(err as Error).message}`);
        }
      }
    })();
    await ready;
  }

  private onReplierEntry(entry: KvEntry): void {
    const parsed = parseReplierKey(entry.key);
    const device = parsed && this.devices[parsed.device];
    if (!parsed || !device) return;
    if (entry.operation !== 'PUT') {
      device.registryChanged(parsed.name, undefined);
      return;
    }
    const owner = entry.json<{ bus: number; ksock: number; instance: string }>();
    if (owner.bus === this.busId && owner.instance !== this.instance) {
      // Left by our bus's earlier instance: nobody holds it any more.
      void this.kv.repliers.delete(entry.key, { previousSeq: entry.revision }).catch(() => {});
      device.registryChanged(parsed.name, undefined);
      return;
    }
    device.registryChanged(parsed.name, { ...owner, revision: entry.revision });
  }

  private onInterestEntry(entry: KvEntry): void {
    const parsed = parseInterestKey(entry.key);
    const device = parsed && this.devices[parsed.device];
    if (!parsed || !device) return;
    const text = entry.operation === 'PUT' ? entry.string() : undefined;
    device.interestChanged(
      parsed.bus,
      text?.split('\n').filter((n) => n !== ''),
    );
  }

  private async watchStatus(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === 'disconnect') this.liveness.disconnected(Date.now());
      else if (status.type === 'reconnect') {
        this.liveness.reconnected();
        this.log('NATS connection back');
        this.heartbeat();
        void this.recheckClaims();
      }
    }
  }

  /**
   * Back on NATS (docs/cluster.md section 7, "A bus that comes back"): each
   * of our repliers is checked against the registry. An entry lost meanwhile
   * is made again; one another bus took costs our replier the name.
   * JetStream may need a moment after a server restart: retried a few times.
   */
  private async recheckClaims(attempt = 0): Promise<void> {
    let failed = false;
    for (const device of this.devices) {
      for (const [name, claim] of [...device.claims]) {
        const key = replierKey(device.device, name);
        try {
          let entry = await this.kv.repliers.get(key);
          if (entry === null || entry.operation !== 'PUT') {
            const value = JSON.stringify({
              bus: this.busId,
              ksock: claim.ksockId,
              instance: this.instance,
            });
            // Unbound while we asked: nothing to make again.
            if (device.claims.get(name) !== claim) continue;
            try {
              const revision = await this.kv.repliers.create(key, value);
              if (device.claims.get(name) === claim)
                device.claims.set(name, { ...claim, revision });
              else this.dropClaim(device.device, name, revision);
              continue;
            } catch {
              // Another bus made it first.
              entry = await this.kv.repliers.get(key);
            }
          }
          if (entry !== null) this.onReplierEntry(entry);
        } catch (err) {
          failed = true;
          this.log(`checking ${name} in the registry: ${(err as Error).message}`);
        }
      }
    }
    if (failed && attempt < 10 && !this.closing) {
      await new Promise((r) => setTimeout(r, this.liveness.timeoutMs / 4));
      await this.recheckClaims(attempt + 1);
    }
  }

  private heartbeat(leaving = false): void {
    if (this.nc.isClosed()) return;
    const beat = {
      bus: this.busId,
      instance: this.instance,
      host: hostname(),
      pid: process.pid,
      leaving,
      traffic: this.traffic,
      pending: this.devices.reduce((sum, d) => sum + d.pendingCount, 0),
    };
    this.nc.publish(heartbeatSubject(this.busId), JSON.stringify(beat));
  }

  // --- AgentHost --------------------------------------------------------------

  /** What the console shows of the cluster: this bus, the others, and who holds each replier name. */
  view(): ClusterView {
    return {
      bus: this.busId,
      peers: this.liveness.peers(),
      repliers: this.devices.flatMap((d) =>
        [...d.registry].map(([name, entry]) => ({
          device: d.device,
          name,
          bus: entry.bus,
          ksock: entry.ksock,
          live: this.isLive(entry.bus, entry.instance),
        })),
      ),
    };
  }

  isLive(bus: number, instance?: string): boolean {
    return this.liveness.isLive(bus, instance);
  }

  instanceOf(bus: number): string | undefined {
    return this.liveness.instanceOf(bus);
  }

  publish(subject: string, kind: Kind, message: Message, except?: number): void {
    if (this.nc.isClosed()) return;
    const h = headers();
    h.set(Headers.BUS, String(this.busId));
    h.set(Headers.KIND, kind);
    if (except !== undefined) h.set(Headers.EXCEPT, String(except));
    const bytes = encodeForNats(message);
    this.traffic.sent++;
    this.traffic.sentBytes += bytes.length;
    this.nc.publish(subject, bytes, { headers: h });
  }

  subscribe(
    subject: string,
    onMessage: (message: Message, kind: Kind, from: number, except: number) => void,
  ): () => void {
    const max = this.engine.options.maxMessageSize;
    const sub = this.nc.subscribe(subject, {
      callback: (_err, msg) => {
        if (_err || !msg.headers) return;
        this.traffic.received++;
        this.traffic.receivedBytes += msg.data.length;
        let message: Message;
        try {
          message = decodeFromNats(msg.data, max);
        } catch (err) {
          this.log(`bad message on ${subject}: ${(err as Error).message}`);
          return;
        }
        onMessage(
          message,
          msg.headers.get(Headers.KIND) as Kind,
          Number(msg.headers.get(Headers.BUS)),
          Number(msg.headers.get(Headers.EXCEPT) || 0),
        );
      },
    });
    return () => sub.unsubscribe();
  }

  putInterest(device: number, names: readonly string[]): void {
    let state = this.interestPuts.get(device);
    if (state === undefined) {
      state = { busy: false, next: undefined };
      this.interestPuts.set(device, state);
    }
    state.next = [...names].sort().join('\n');
    const s = state;
    const put = async (): Promise<void> => {
      if (s.busy || s.next === undefined || this.closing) return;
      s.busy = true;
      const text = s.next;
      s.next = undefined;
      try {
        await this.kv.interest.put(interestKey(device, this.busId), text);
      } catch (err) {
        this.log(`recording interest: ${(err as Error).message}`);
        if (s.next === undefined) s.next = text;
        await new Promise((r) => setTimeout(r, 200));
      }
      s.busy = false;
      await put();
    };
    void put();
  }

  dropClaim(device: number, name: string, revision: number): void {
    if (this.closing) return;
    void this.kv.repliers
      .delete(replierKey(device, name), { previousSeq: revision })
      .catch((err: Error) => this.log(`releasing ${name}: ${err.message}`));
  }

  // --- Replier BIND -------------------------------------------------------------

  /**
   * BIND as replier in cluster mode (docs/cluster.md section 6): the
   * registry first, by compare-and-set, then the engine.
   */
  async bindReplier(ksock: EngineKsock, name: string): Promise<void> {
    const device = this.devices[ksock.deviceIndex];
    if (device === undefined || ksock.replier(name) !== 0) {
      // Bound here already, or not a device of ours: the engine decides.
      ksock.bind(name, true);
      return;
    }
    const key = replierKey(device.device, name);
    const value = JSON.stringify({ bus: this.busId, ksock: ksock.id, instance: this.instance });
    let revision: number;
    try {
      revision = await this.kv.repliers.create(key, value);
    } catch (createError) {
      revision = await this.takeOver(key, value, name, createError);
    }
    try {
      ksock.bind(name, true);
      device.claims.set(name, { revision, ksockId: ksock.id });
    } catch (err) {
      this.dropClaim(device.device, name, revision);
      throw err;
    }
  }

  /** The key exists: take it only if its bus is gone (or is our own earlier instance). */
  private async takeOver(
    key: string,
    value: string,
    name: string,
    cause: unknown,
  ): Promise<number> {
    let entry: KvEntry | null;
    try {
      entry = await this.kv.repliers.get(key);
    } catch {
      throw new KbusError(
        'EAGAIN',
        `the replier registry cannot be reached: ${(cause as Error).message}`,
      );
    }
    if (entry !== null && entry.operation === 'PUT') {
      const owner = entry.json<{ bus: number; instance: string }>();
      if (owner.bus !== this.busId && (await this.answers(owner.bus, owner.instance))) {
        throw new KbusError('EADDRINUSE', `'${name}' already has a replier on bus ${owner.bus}`);
      }
    }
    try {
      if (entry === null) return await this.kv.repliers.create(key, value);
      return await this.kv.repliers.update(key, value, entry.revision);
    } catch {
      throw new KbusError('EADDRINUSE', `'${name}' was bound as replier on another bus meanwhile`);
    }
  }

  /** Does bus `bus`'s instance `instance` answer a ping within the timeout? */
  private async answers(bus: number, instance: string): Promise<boolean> {
    try {
      const msg = await this.nc.request(pingSubject(bus), undefined, {
        timeout: this.liveness.timeoutMs,
      });
      return msg.json<BusRecord>().instance === instance;
    } catch {
      return false;
    }
  }

  /** Leaves the cluster: a last heartbeat, our records deleted, the devices' Ksocks closed. */
  async close(): Promise<void> {
    if (this.closing) return;
    for (const timer of this.timers) clearInterval(timer);
    this.heartbeat(true);
    this.closing = true;
    this.engine.onBindingChange = undefined;
    const deletes: Promise<unknown>[] = [];
    for (const device of this.devices) {
      for (const [name, claim] of device.claims) {
        deletes.push(
          this.kv.repliers.delete(replierKey(device.device, name), { previousSeq: claim.revision }),
        );
      }
      deletes.push(this.kv.interest.delete(interestKey(device.device, this.busId)));
      device.close();
    }
    await Promise.allSettled(deletes);
    for (const watcher of this.watchers) watcher.stop();
    await this.nc.drain().catch(() => {});
  }
}
