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

/** How specific a replier binding is: exact beats `%` beats `*`. */
const Specificity = { Star: 1, Percent: 2, Exact: 3 } as const;
type Specificity = (typeof Specificity)[keyof typeof Specificity];

interface RouteBuilder<K> {
  replier: Binding<K> | undefined;
  rank: number;
  prefix: number;
  listeners: Binding<K>[];
}

const NO_LISTENERS: readonly never[] = Object.freeze([]);

/** Routes kept per cache generation; two generations are kept. */
const ROUTES_PER_GENERATION = 32_768;

export class Router<K> {
  private readonly exact = new Map<string, Binding<K>[]>();
  private readonly star = new Map<string, Binding<K>[]>();
  private readonly percent = new Map<string, Binding<K>[]>();
  /** Replier bindings by their exact bound name (for EADDRINUSE and REPLIER). */
  private readonly repliers = new Map<string, Binding<K>>();
  /** Every binding, oldest first (kbus.c lists the newest first). */
  private readonly all = new Set<Binding<K>>();
  // A two-generation cache: when the newer map fills it becomes the older
  // one, so eviction is O(1) and names in use stay cached.
  private cache = new Map<string, Route<K>>();
  private olderCache = new Map<string, Route<K>>();

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
    this.forgetRoutes();
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
    this.forgetRoutes();
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
    if (route !== undefined) return route;
    route = this.olderCache.get(name) ?? this.compute(name);
    if (this.cache.size >= ROUTES_PER_GENERATION) {
      this.olderCache = this.cache;
      this.cache = new Map();
    }
    this.cache.set(name, route);
    return route;
  }

  private forgetRoutes(): void {
    if (this.cache.size > 0) this.cache = new Map();
    if (this.olderCache.size > 0) this.olderCache = new Map();
  }

  private compute(name: string): Route<K> {
    const found: RouteBuilder<K> = { replier: undefined, rank: 0, prefix: -1, listeners: [] };
    collect(found, this.exact.get(name), Specificity.Exact, name.length);
    const lastDot = name.lastIndexOf('.');
    if (this.percent.size > 0 && lastDot > 0) {
      collect(found, this.percent.get(name.slice(0, lastDot + 1)), Specificity.Percent, lastDot);
    }
    if (this.star.size > 0) {
      for (
        let dot = name.indexOf('.');
        dot >= 0 && dot < name.length - 1;
        dot = name.indexOf('.', dot + 1)
      ) {
        collect(found, this.star.get(name.slice(0, dot + 1)), Specificity.Star, dot);
      }
    }
    return {
      replier: found.replier,
      listeners: found.listeners.length > 0 ? found.listeners : NO_LISTENERS,
    };
  }

  private slot(name: string): [Map<string, Binding<K>[]>, string] {
    if (!isWildcardName(name)) return [this.exact, name];
    const key = name.slice(0, -1);
    return name.endsWith('*') ? [this.star, key] : [this.percent, key];
  }
}

function collect<K>(
  found: RouteBuilder<K>,
  list: readonly Binding<K>[] | undefined,
  rank: Specificity,
  prefix: number,
): void {
  if (list === undefined) return;
  for (const b of list) {
    if (!b.isReplier) {
      found.listeners.push(b);
    } else if (rank > found.rank || (rank === found.rank && prefix > found.prefix)) {
      // Kbus.txt: '$.Fred.Jim' beats '$.Fred.%' beats '$.Fred.*'; between
      // two '*' wildcards the longer (more specific) one wins.
      found.replier = b;
      found.rank = rank;
      found.prefix = prefix;
    }
  }
}
