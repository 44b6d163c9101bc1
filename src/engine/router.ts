/**
 * Bindings and routing: which Ksocks hear a message name, and which one
 * replies to it (Kbus.txt "Listeners", "Repliers").
 *
 * Lookups are indexed, never a scan of every binding: plain names in one
 * map, `*` wildcards in a map keyed by their prefix (the text before the
 * `*`, trailing dot included), `%` wildcards likewise. A name is matched by
 * looking up itself, its parent prefix for `%`, and each ancestor prefix
 * for `*`. Routes are cached per name until the bindings change.
 */
import { isWildcardName } from '../wire/index.js';

/** One BIND: a Ksock listening to (or replying for) a name or wildcard. */
export interface Binding<K> {
  readonly ksock: K;
  readonly isReplier: boolean;
  readonly name: string;
}

/** Who receives a message with a given name. */
export interface Route<K> {
  /** The most specific replier binding that matches, if any. */
  readonly replier: Binding<K> | undefined;
  /** Every listener (non-replier) binding that matches. */
  readonly listeners: readonly Binding<K>[];
}

enum Specificity {
  Star = 1,
  Percent = 2,
  Exact = 3,
}

const MAX_CACHED_ROUTES = 10_000;

export class Router<K> {
  private readonly exact = new Map<string, Binding<K>[]>();
  private readonly star = new Map<string, Binding<K>[]>();
  private readonly percent = new Map<string, Binding<K>[]>();
  /** Replier bindings by their exact bound name (for EADDRINUSE and REPLIER). */
  private readonly repliers = new Map<string, Binding<K>>();
  /** Every binding, oldest first (kbus.c lists the newest first). */
  private readonly all = new Set<Binding<K>>();
  private readonly cache = new Map<string, Route<K>>();

  get size(): number {
    return this.all.size;
  }

  /** The replier bound to exactly this name (wildcards included), as REPLIER asks. */
  replierFor(boundName: string): Binding<K> | undefined {
    return this.repliers.get(boundName);
  }

  add(binding: Binding<K>): void {
    const [map, key] = this.slot(binding.name);
    const list = map.get(key);
    if (list) list.push(binding);
    else map.set(key, [binding]);
    if (binding.isReplier) this.repliers.set(binding.name, binding);
    this.all.add(binding);
    this.cache.clear();
  }

  remove(binding: Binding<K>): void {
    if (!this.all.delete(binding)) return;
    const [map, key] = this.slot(binding.name);
    const list = map.get(key)!;
    list.splice(list.lastIndexOf(binding), 1);
    if (list.length === 0) map.delete(key);
    if (binding.isReplier && this.repliers.get(binding.name) === binding) {
      this.repliers.delete(binding.name);
    }
    this.cache.clear();
  }

  /** The first binding of `ksock` with exactly this name and kind (UNBIND must match exactly). */
  find(ksock: K, isReplier: boolean, name: string): Binding<K> | undefined {
    const [map, key] = this.slot(name);
    const list = map.get(key);
    if (!list) return undefined;
    // Newest first, as kbus.c searches its list.
    for (let i = list.length - 1; i >= 0; i--) {
      const b = list[i]!;
      if (b.ksock === ksock && b.isReplier === isReplier && b.name === name) return b;
    }
    return undefined;
  }

  /** Every binding, newest first, as /proc/kbus/bindings lists them. */
  newestFirst(): Binding<K>[] {
    return [...this.all].reverse();
  }

  /** Who should receive a message named `name` (a plain, valid name). */
  route(name: string): Route<K> {
    let route = this.cache.get(name);
    if (route === undefined) {
      route = this.compute(name);
      if (this.cache.size >= MAX_CACHED_ROUTES) this.cache.clear();
      this.cache.set(name, route);
    }
    return route;
  }

  private compute(name: string): Route<K> {
    const listeners: Binding<K>[] = [];
    let replier: Binding<K> | undefined;
    let replierRank = 0;
    let replierPrefix = -1;
    const consider = (list: Binding<K>[] | undefined, rank: Specificity, prefix: number) => {
      if (!list) return;
      for (const b of list) {
        if (!b.isReplier) {
          listeners.push(b);
        } else if (rank > replierRank || (rank === replierRank && prefix > replierPrefix)) {
          // Kbus.txt: '$.Fred.Jim' beats '$.Fred.%' beats '$.Fred.*'; between
          // two '*' wildcards the longer (more specific) one wins.
          replier = b;
          replierRank = rank;
          replierPrefix = prefix;
        }
      }
    };
    consider(this.exact.get(name), Specificity.Exact, name.length);
    const lastDot = name.lastIndexOf('.');
    if (this.percent.size > 0 && lastDot > 0) {
      consider(this.percent.get(name.slice(0, lastDot + 1)), Specificity.Percent, lastDot);
    }
    if (this.star.size > 0) {
      for (let dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', dot + 1)) {
        if (dot === name.length - 1) break;
        consider(this.star.get(name.slice(0, dot + 1)), Specificity.Star, dot);
      }
    }
    return { replier, listeners };
  }

  private slot(name: string): [Map<string, Binding<K>[]>, string] {
    if (!isWildcardName(name)) return [this.exact, name];
    const key = name.slice(0, -1);
    return name.endsWith('*') ? [this.star, key] : [this.percent, key];
  }
}
