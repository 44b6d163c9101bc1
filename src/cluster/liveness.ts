/**
 * Which buses are live (docs/cluster.md section 4): a bus is live while its
 * heartbeats arrive, gone after `timeoutMs` of silence, at once when it says
 * it is leaving, and gone then live again when it restarts (a new
 * instance). Losing NATS, or the process having been stopped, for longer
 * than the timeout makes every other bus gone for us.
 */
interface Seen {
  instance: string;
  at: number;
  live: boolean;
}

export interface LivenessEvents {
  gone(bus: number): void;
  live(bus: number): void;
}

export class Liveness {
  private readonly buses = new Map<number, Seen>();
  private disconnectedAt: number | undefined;
  private lastCheck = Date.now();

  constructor(
    private readonly self: number,
    readonly timeoutMs: number,
    private readonly events: LivenessEvents,
  ) {}

  isLive(bus: number, instance?: string): boolean {
    if (bus === this.self) return true;
    const seen = this.buses.get(bus);
    return (
      seen !== undefined && seen.live && (instance === undefined || seen.instance === instance)
    );
  }

  /**
   * The instance of `bus` last heard from, live or declared gone; undefined
   * if it was never heard from or stopped cleanly.
   */
  instanceOf(bus: number): string | undefined {
    return this.buses.get(bus)?.instance;
  }

  heard(bus: number, instance: string, leaving: boolean, now = Date.now()): void {
    if (bus === this.self) return;
    const seen = this.buses.get(bus);
    if (seen !== undefined && seen.live && (leaving || seen.instance !== instance)) {
      seen.live = false;
      this.events.gone(bus);
    }
    if (leaving) {
      this.buses.delete(bus);
      return;
    }
    if (seen === undefined || !seen.live || seen.instance !== instance) {
      this.buses.set(bus, { instance, at: now, live: true });
      this.events.live(bus);
    } else {
      seen.at = now;
    }
  }

  /** Every other bus heard of, live or gone, with the milliseconds since it was last heard. */
  peers(now = Date.now()): { bus: number; live: boolean; silentMs: number }[] {
    return [...this.buses]
      .map(([bus, seen]) => ({ bus, live: seen.live, silentMs: now - seen.at }))
      .sort((a, b) => a.bus - b.bus);
  }

  disconnected(now: number): void {
    this.disconnectedAt ??= now;
  }

  reconnected(): void {
    this.disconnectedAt = undefined;
  }

  /** Run every quarter timeout: declares silent buses gone. */
  check(now: number, closed: boolean): void {
    const stalled = now - this.lastCheck > this.timeoutMs;
    this.lastCheck = now;
    const cutOff =
      stalled ||
      closed ||
      (this.disconnectedAt !== undefined && now - this.disconnectedAt > this.timeoutMs);
    for (const [bus, seen] of this.buses) {
      if (!seen.live) continue;
      if (cutOff || now - seen.at > this.timeoutMs) {
        seen.live = false;
        this.events.gone(bus);
      }
    }
  }
}
