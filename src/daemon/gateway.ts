/**
 * The daemon's doors beyond its Unix socket: the network listeners, and the
 * Gatekeeper every connection passes (docs/network.md). Without listeners
 * and without a policy it adds nothing to a Unix connection.
 */
import type { Engine } from '../engine/index.js';
import type { Transport } from '../protocol/transport.js';
import { isLoopbackHost, type KbusUrl, parseKbusUrl } from '../protocol/url.js';
import { type AccessLimits, DEFAULT_LIMITS, Gatekeeper } from './access.js';
import { Connection, type ConnectionOptions } from './connection.js';
import type { ListenerStats } from './listener-stats.js';
import { type ListenerTls, NetworkListener, type Peer } from './listeners/network.js';
import type { Policy } from './policy.js';

/** What the daemon's options say about networking and access. */
export interface GatewayOptions {
  /** Network URLs to listen on: tcp://, tls://, ws://, wss:// (docs/network.md). */
  listen?: readonly string[] | undefined;
  tls?: ListenerTls | undefined;
  /** Listen on non-loopback addresses without TLS or required authentication. */
  insecure?: boolean | undefined;
  policy?: Policy | undefined;
  limits?: Partial<AccessLimits> | undefined;
  /** Most connections at once per network listener (default 10,000; 0: no limit). */
  maxConnections?: number | undefined;
}

export const DEFAULT_MAX_CONNECTIONS = 10_000;
/** The largest frame worth reading before OPEN: AUTH, OPEN and the reports are small. */
const PRE_OPEN_FRAME_LENGTH = 4096;

/** Why kbusd will not listen on `url` as configured, or undefined if it may. */
export function exposureProblem(
  url: KbusUrl,
  options: GatewayOptions,
  gate: Gatekeeper,
): string | undefined {
  if (url.scheme === 'unix' || isLoopbackHost(url.host) || options.insecure) return undefined;
  const secure = url.scheme === 'tls' || url.scheme === 'wss';
  if (secure || gate.requiresAuth) return undefined;
  return `refusing to listen on ${url.scheme}://${url.host}:${url.port}: it is not a loopback address, and the connection is neither encrypted (tls://, wss://) nor restricted to authenticated clients (a --policy granting nothing to anonymous clients); anyone who can reach it could use every device. Use TLS, a policy, or --insecure if the network is trusted`;
}

export class Gateway {
  readonly gate: Gatekeeper;
  private readonly listeners: NetworkListener[] = [];
  /** Connections made here and not yet released, so that close() can flush them. */
  private readonly open = new Set<Connection>();

  constructor(
    private readonly engine: Engine,
    private readonly options: GatewayOptions,
    private readonly connection: Omit<ConnectionOptions, 'session'>,
    private readonly nextIndex: () => number,
    notice: (line: string) => void,
    /** Connections and refusals per listener, for /metrics; `unix` names the Unix socket's. */
    private readonly stats?: { readonly listeners: ListenerStats; readonly unix: string },
  ) {
    this.gate = new Gatekeeper({ ...DEFAULT_LIMITS, ...options.limits }, notice, options.policy);
    for (const text of options.listen ?? []) {
      const url = parseKbusUrl(text);
      if (url.scheme === 'unix')
        throw new TypeError(`${text}: the Unix socket is the daemon's 'socket' option`);
      const problem = exposureProblem(url, options, this.gate);
      if (problem !== undefined) throw new TypeError(problem);
      const listener: NetworkListener = new NetworkListener(url, {
        tls: options.tls,
        maxFrameLength: connection.maxFrameLength,
        maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
        checkToken: (token) => {
          const known =
            this.gate.policy === undefined || this.gate.policy.userForToken(token) !== undefined;
          if (!known) this.stats?.listeners.refused(listener.address, 'token');
          return known;
        },
        accept: (transport, peer) => this.accept(transport, peer),
      });
      this.listeners.push(listener);
    }
  }

  /**
   * Takes a new policy (SIGHUP), unless it would leave a listener exposed
   * that the daemon would have refused to open with it: then throws, saying why.
   */
  setPolicy(policy: Policy | undefined): void {
    const old = this.gate.policy;
    this.gate.setPolicy(policy);
    for (const listener of this.listeners) {
      const problem = exposureProblem(listener.url, this.options, this.gate);
      if (problem !== undefined) {
        this.gate.setPolicy(old);
        throw new Error(`the new policy would expose a listener: ${problem}`);
      }
    }
  }

  /** True if there is nothing to do beyond the plain Unix socket. */
  get plain(): boolean {
    return this.listeners.length === 0 && this.gate.policy === undefined && !this.hasIdentityLimits;
  }

  private get hasIdentityLimits(): boolean {
    const l = this.gate.limits;
    return (
      l.maxConnectionsPerIdentity > 0 || l.maxKsocksPerIdentity > 0 || l.identityQueueBytes > 0
    );
  }

  /** A new connection, from the Unix socket (no peer) or a listener. */
  accept(transport: Transport, peer: Peer | undefined): void {
    const index = this.nextIndex();
    const session = this.gate.session(peer, `conn ${index}`);
    const stats = this.stats;
    const name = peer?.listener ?? stats?.unix ?? '';
    // The Unix socket's connections are counted by the daemon as they arrive.
    if (peer !== undefined) stats?.listeners.accepted(name);
    if (!session.start()) {
      stats?.listeners.refused(name, 'identity_connections');
      this.connection.notice?.(
        `conn ${index}: refused: ${session.who} already has ${this.gate.limits.maxConnectionsPerIdentity} connections`,
      );
      transport.destroy();
      return;
    }
    const connection: Connection = new Connection(
      this.engine,
      transport,
      {
        ...this.connection,
        session,
        refused: stats && ((reason) => stats.listeners.refused(name, reason)),
        preOpenFrameLength: Math.min(PRE_OPEN_FRAME_LENGTH, this.connection.maxFrameLength),
        released: () => this.open.delete(connection),
      },
      index,
    );
    this.open.add(connection);
  }

  async start(): Promise<void> {
    for (const listener of this.listeners) {
      await listener.start();
      this.stats?.listeners.add(listener.address, () => listener.connections);
    }
  }

  /** The URLs listened on, as bound (port 0 resolved). */
  addresses(): string[] {
    return this.listeners.map((l) => l.address);
  }

  async close(): Promise<void> {
    // A response held back for a push (Connection.flush) still reaches its client.
    for (const connection of this.open) connection.flush();
    await Promise.all(this.listeners.map((l) => l.close()));
  }
}
