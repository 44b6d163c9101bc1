/**
 * Proxy repliers (limpet.md sections 5.4 and 10.4): the Limpet binds as
 * replier, on its own bus, for every name its peer has a replier for.
 * Operations for one name are applied in order, one at a time; EAGAIN is
 * retried shortly, and a BIND refused with EADDRINUSE is retried when the
 * local replier for that name unbinds. Nothing here holds up other traffic.
 */
import { isKbusError } from '../wire/index.js';

export interface ProxyOperations {
  bind(name: string): Promise<void>;
  unbind(name: string): Promise<void>;
  log(line: string): void;
}

interface ProxyState {
  /** The peer has a replier for this name. */
  wanted: boolean;
  /** We hold the replier binding. */
  bound: boolean;
  busy: boolean;
  /** BIND was refused (EADDRINUSE): wait for a local unbind of the name. */
  blocked: boolean;
  retry: NodeJS.Timeout | undefined;
}

const RETRY_MS = 50;

export class ProxyRepliers {
  private readonly names = new Map<string, ProxyState>();
  private stopped = false;

  constructor(private readonly ops: ProxyOperations) {}

  /** The peer's replier for `name` bound (true) or unbound (false). */
  peerReplier(name: string, bound: boolean): void {
    const state = this.state(name);
    state.wanted = bound;
    if (!bound) state.blocked = false;
    this.reconcile(name);
  }

  /** A replier for `name` unbound on this bus: a blocked proxy bind may now succeed. */
  localReplierUnbound(name: string): void {
    const state = this.names.get(name);
    if (state?.blocked) {
      state.blocked = false;
      this.reconcile(name);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const state of this.names.values()) if (state.retry) clearTimeout(state.retry);
  }

  private state(name: string): ProxyState {
    let state = this.names.get(name);
    if (state === undefined) {
      state = { wanted: false, bound: false, busy: false, blocked: false, retry: undefined };
      this.names.set(name, state);
    }
    return state;
  }

  private reconcile(name: string): void {
    const state = this.state(name);
    if (this.stopped || state.busy || state.retry || state.blocked || state.wanted === state.bound)
      return;
    state.busy = true;
    const binding = state.wanted;
    const op = binding ? this.ops.bind(name) : this.ops.unbind(name);
    op.then(
      () => {
        state.bound = binding;
        this.ops.log(`proxy replier ${binding ? 'bound' : 'unbound'}: ${name}`);
      },
      (err: unknown) => {
        if (isKbusError(err, 'EAGAIN')) {
          state.retry = setTimeout(() => {
            state.retry = undefined;
            this.reconcile(name);
          }, RETRY_MS);
        } else if (binding && isKbusError(err, 'EADDRINUSE')) {
          state.blocked = true;
          this.ops.log(
            `proxy replier for ${name} refused: a local replier holds it (EADDRINUSE); waiting`,
          );
        } else if (!binding) {
          // EINVAL: we never held it.
          state.bound = false;
        } else {
          this.ops.log(`proxy replier for ${name} failed: ${(err as Error).message}`);
          state.wanted = state.bound;
        }
      },
    ).finally(() => {
      state.busy = false;
      this.reconcile(name);
    });
  }
}
