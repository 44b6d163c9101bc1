/**
 * Who each client is and what it may do (docs/network.md): the daemon-wide
 * Gatekeeper holds the policy (replaced on SIGHUP) and the per-identity
 * counts, and gives each connection a Session, which its Connection asks
 * before each operation. The engine is told only through the generic
 * KsockGuard (delivery filtering, send checks) and a shared byte budget.
 */
import { type EngineKsock, type KsockGuard, QueueBudget } from '../engine/index.js';
import { Flags, isReply, KbusError, type Message } from '../wire/index.js';
import type { Peer } from './listeners/network.js';
import type { Grants, Policy, Rule } from './policy.js';

export interface AccessLimits {
  /** Network connections not opened (OPEN) within this are closed; 0: never. */
  openTimeoutMs: number;
  /** Network connections holding part of a frame for this long are closed; 0: never. */
  frameTimeoutMs: number;
  /** Connections at once per identity; 0: no limit. */
  maxConnectionsPerIdentity: number;
  /** Ksocks at once per identity; 0: no limit. */
  maxKsocksPerIdentity: number;
  /** Bytes all the queues of one identity's Ksocks may hold together; 0: no limit. */
  identityQueueBytes: number;
}

export const DEFAULT_LIMITS: AccessLimits = {
  openTimeoutMs: 5000,
  frameTimeoutMs: 10_000,
  maxConnectionsPerIdentity: 0,
  maxKsocksPerIdentity: 0,
  identityQueueBytes: 0,
};

/** The identity of a client no policy names, for counting. */
const NOBODY = '(anonymous)';

/** Answers remembered per name, per identity and policy; forgotten when this many. */
const CACHE_LIMIT = 10_000;
const SEND = 1;
const REQUEST = 2;
const REPLY = 4;
const LISTEN = 8;

export class Gatekeeper {
  private policy_: Policy | undefined;
  private readonly connections = new Map<string, number>();
  private readonly ksocks = new Map<string, number>();
  private readonly budgets = new Map<string, QueueBudget>();
  /** Per-name answers of each Grants (one per identity and policy). */
  private readonly answers = new WeakMap<Grants, Map<string, number>>();

  constructor(
    readonly limits: AccessLimits,
    private readonly notice: (line: string) => void,
    policy?: Policy,
  ) {
    this.policy_ = policy;
  }

  get policy(): Policy | undefined {
    return this.policy_;
  }

  /** A new policy, for operations from now on (connections and bindings stay). */
  setPolicy(policy: Policy | undefined): void {
    this.policy_ = policy;
  }

  /** Does a network client have to prove who it is before it can do anything? */
  get requiresAuth(): boolean {
    const policy = this.policy_;
    if (policy === undefined) return false;
    const anonymous = policy.grantsFor(policy.anonymousUser);
    return anonymous.devices.size === 0;
  }

  session(peer: Peer | undefined, name: string): Session {
    return new Session(this, peer, name);
  }

  /** @internal Counts one more connection (or Ksock) of `identity`; false if that passes its limit. */
  take(kind: 'connections' | 'ksocks', identity: string | undefined): boolean {
    const counts = this[kind];
    const key = identity ?? NOBODY;
    const limit =
      kind === 'connections'
        ? this.limits.maxConnectionsPerIdentity
        : this.limits.maxKsocksPerIdentity;
    const now = counts.get(key) ?? 0;
    if (limit > 0 && now >= limit) return false;
    counts.set(key, now + 1);
    return true;
  }

  /** @internal */
  give(kind: 'connections' | 'ksocks', identity: string | undefined): void {
    const counts = this[kind];
    const key = identity ?? NOBODY;
    const now = (counts.get(key) ?? 1) - 1;
    if (now === 0) counts.delete(key);
    else counts.set(key, now);
  }

  /** @internal The byte budget the queues of `identity` share, if there is a limit. */
  budgetFor(identity: string | undefined): QueueBudget | undefined {
    const limit = this.limits.identityQueueBytes;
    if (limit <= 0) return undefined;
    const key = identity ?? NOBODY;
    let budget = this.budgets.get(key);
    if (budget === undefined) {
      budget = new QueueBudget(Number.POSITIVE_INFINITY, limit);
      this.budgets.set(key, budget);
    }
    return budget;
  }

  /** @internal What the current policy allows `identity` for `name`, as bits, remembered. */
  allowed(identity: string | undefined, name: string): number {
    const grants = this.policy_!.grantsFor(identity);
    let answers = this.answers.get(grants);
    if (answers === undefined) {
      answers = new Map();
      this.answers.set(grants, answers);
    }
    let bits = answers.get(name);
    if (bits === undefined) {
      bits =
        (grants.ruleFor('send', name) ? SEND : 0) |
        (grants.ruleFor('request', name) ? REQUEST : 0) |
        (grants.ruleFor('reply', name) ? REPLY : 0) |
        (grants.ruleFor('listen', name) ? LISTEN : 0);
      if (answers.size >= CACHE_LIMIT) answers.clear();
      answers.set(name, bits);
    }
    return bits;
  }

  /** @internal Logs a refusal with the identity, the name and the rule. */
  refuse(session: Session, what: string, why: string): never {
    this.notice(`${session.name}: refused ${session.who} ${what}: ${why}`);
    throw new KbusError('EPERM', `${what}: ${why}`);
  }
}

function ruleText(rule: Rule | undefined): string {
  return rule === undefined ? 'no rule allows it' : `line ${rule.line} '${rule.text}'`;
}

/** One connection's identity and its checks. */
export class Session implements KsockGuard {
  identity: string | undefined;
  private counted = false;
  private ksock: EngineKsock | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private frameTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set by the connection: closes it (a limit was passed). */
  close: (why: string) => void = () => {};

  constructor(
    private readonly gate: Gatekeeper,
    private readonly peer: Peer | undefined,
    readonly name: string,
  ) {
    const policy = gate.policy;
    if (policy !== undefined) {
      if (peer === undefined) this.identity = policy.unixUser ?? policy.anonymousUser;
      else if (peer.token !== undefined) this.identity = policy.userForToken(peer.token);
      else if (peer.certName !== undefined)
        this.identity = policy.certs.get(peer.certName) ?? policy.anonymousUser;
      else this.identity = policy.anonymousUser;
    } else {
      this.identity = peer?.certName;
    }
  }

  /** The identity, for the log. */
  get who(): string {
    return this.identity === undefined ? 'an unidentified client' : `'${this.identity}'`;
  }

  /** Starts the session: false if its identity already has all the connections allowed. */
  start(): boolean {
    if (!this.gate.take('connections', this.identity)) return false;
    this.counted = true;
    const timeout = this.gate.limits.openTimeoutMs;
    if (this.peer !== undefined && timeout > 0) {
      this.timer = setTimeout(() => this.close(`not opened within ${timeout} ms`), timeout);
      this.timer.unref();
    }
    return true;
  }

  /** After each read: a network client may not hold part of a frame for long. */
  afterData(partial: boolean): void {
    const timeout = this.gate.limits.frameTimeoutMs;
    if (this.peer === undefined || timeout <= 0) return;
    if (!partial) {
      if (this.frameTimer !== undefined) clearTimeout(this.frameTimer);
      this.frameTimer = undefined;
    } else if (this.frameTimer === undefined) {
      this.frameTimer = setTimeout(
        () => this.close(`a frame still incomplete after ${timeout} ms`),
        timeout,
      );
      this.frameTimer.unref();
    }
  }

  /** AUTH with a bearer token: EACCES for a token the policy does not know. */
  auth(token: string): void {
    const policy = this.gate.policy;
    if (policy === undefined) return;
    const user = policy.userForToken(token);
    if (user === undefined) throw new KbusError('EACCES', 'unknown token');
    if (user === this.identity) return;
    if (!this.gate.take('connections', user)) {
      throw new KbusError('EMFILE', `'${user}' has as many connections as allowed`);
    }
    if (this.counted) this.gate.give('connections', this.identity);
    this.counted = true;
    this.identity = user;
  }

  private grants(): Grants | undefined {
    return this.gate.policy?.grantsFor(this.identity);
  }

  checkOpen(device: number, mode: number): void {
    const grants = this.grants();
    if (grants !== undefined) {
      const allowed = grants.openModes(device);
      if ((mode & ~allowed.mode) !== 0) {
        const why =
          allowed.mode === 0 ? 'no rule allows it' : `${ruleText(allowed.rule)} allows less`;
        this.gate.refuse(this, `open device ${device} mode ${['none', 'r', 'w', 'rw'][mode]}`, why);
      }
    }
    if (!this.gate.take('ksocks', this.identity)) {
      throw new KbusError('EMFILE', `${this.who} has as many Ksocks as allowed`);
    }
  }

  /** OPEN failed after checkOpen() counted its Ksock. */
  openFailed(): void {
    this.gate.give('ksocks', this.identity);
  }

  /** The Ksock is open: the engine asks this session from now on. */
  opened(ksock: EngineKsock): void {
    this.ksock = ksock;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.gate.policy !== undefined) ksock.guard = this;
    const budget = this.gate.budgetFor(this.identity);
    if (budget !== undefined) ksock.shareBudget(budget);
  }

  checkBind(name: string, isReplier: boolean): void {
    const grants = this.grants();
    if (grants === undefined) return;
    if (isReplier) {
      if (grants.covering('reply', name) === undefined)
        this.gate.refuse(this, `bind as replier '${name}'`, 'no reply rule covers it');
    } else if (grants.covering('listen', name) === undefined && !grants.overlaps('listen', name)) {
      // A wildcard that overlaps a listen rule is bound; delivery filters it (mayReceive).
      this.gate.refuse(this, `listen to '${name}'`, 'no listen rule matches it');
    }
  }

  /** BINDINGS and STATS show every Ksock's names: `inspect`. */
  checkInspect(what: string): void {
    const grants = this.grants();
    if (grants !== undefined && grants.inspect === undefined)
      this.gate.refuse(this, what, 'no inspect rule');
  }

  checkNewDevice(): void {
    const grants = this.grants();
    if (grants !== undefined && grants.newdevice === undefined)
      this.gate.refuse(this, 'NEWDEVICE', 'no newdevice rule');
  }

  // KsockGuard: asked by the engine.

  mayReceive(name: string): boolean {
    return (this.gate.allowed(this.identity, name) & LISTEN) !== 0;
  }

  checkSend(message: Message): void {
    const bits = this.gate.allowed(this.identity, message.name);
    if (isReply(message)) {
      if ((bits & (REPLY | SEND)) === 0)
        this.gate.refuse(this, `reply to '${message.name}'`, 'no reply or send rule matches it');
    } else if (message.flags & Flags.WANT_A_REPLY) {
      if ((bits & REQUEST) === 0)
        this.gate.refuse(this, `request '${message.name}'`, 'no request rule matches it');
    } else if ((bits & SEND) === 0) {
      this.gate.refuse(this, `send '${message.name}'`, 'no send rule matches it');
    }
  }

  /** The connection is gone. */
  end(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.frameTimer !== undefined) clearTimeout(this.frameTimer);
    if (this.counted) this.gate.give('connections', this.identity);
    this.counted = false;
    if (this.ksock !== undefined) this.gate.give('ksocks', this.identity);
    this.ksock = undefined;
  }
}
