/**
 * Connections per listener, and the ones refused, by reason: what kbusd
 * counts about its listeners for /metrics. Plain counters, bumped as
 * connections come and go.
 */

export interface ListenerFigures {
  /** Connections accepted since the start. */
  accepted: number;
  /** Connections open now. */
  open: () => number;
  /** Connections refused or closed by kbusd, by reason (e.g. "protocol", "auth"). */
  readonly refused: Map<string, number>;
}

export class ListenerStats {
  private readonly byListener = new Map<string, ListenerFigures>();

  /**
   * Makes `listener` known, so that it shows (at 0) before its first
   * connection; `open` tells how many connections it has open now.
   */
  add(listener: string, open?: () => number): ListenerFigures {
    let figures = this.byListener.get(listener);
    if (figures === undefined) {
      figures = { accepted: 0, open: () => 0, refused: new Map() };
      this.byListener.set(listener, figures);
    }
    if (open !== undefined) figures.open = open;
    return figures;
  }

  accepted(listener: string): void {
    this.add(listener).accepted++;
  }

  refused(listener: string, reason: string): void {
    const { refused } = this.add(listener);
    refused.set(reason, (refused.get(reason) ?? 0) + 1);
  }

  entries(): IterableIterator<[string, ListenerFigures]> {
    return this.byListener.entries();
  }
}
