/**
 * What travels on which NATS subject, and the keys of the key-value
 * buckets (docs/cluster.md sections 3 and 4). KBUS names are alphanumeric
 * words joined by dots, so `$.a.b` travels as the NATS tokens `a.b`; KBUS's
 * `%` (one more level) is NATS's `*`, and KBUS's `*` (any more levels) is
 * NATS's `>`.
 */
import { isWildcardName } from '../wire/index.js';

/** The first token of every subject, and of every bucket's name. */
export const PREFIX = 'kbus';

export const Buckets = {
  BUSES: `${PREFIX}_buses`,
  REPLIERS: `${PREFIX}_repliers`,
  INTEREST: `${PREFIX}_interest`,
} as const;

/** NATS headers on cluster messages. */
export const Headers = {
  BUS: 'kbus-bus',
  KIND: 'kbus-kind',
  EXCEPT: 'kbus-except',
} as const;

export type Kind = 'request' | 'reply' | 'copy';

/** The subject tokens for a KBUS name or binding (`$.a.%` is `a.*`, `$.a.*` is `a.>`). */
export function nameTokens(name: string): string {
  const rest = name.slice(2);
  if (!isWildcardName(name)) return rest;
  return rest.slice(0, -1) + (name.endsWith('*') ? '>' : '*');
}

/** Listener copies of messages named (or bound as) `name` on device `device`. */
export function listenSubject(device: number, name: string): string {
  return `${PREFIX}.${device}.l.${nameTokens(name)}`;
}

/** Requests for bus `bus`'s repliers, and replies for its requesters. */
export function inboxSubject(device: number, bus: number): string {
  return `${PREFIX}.${device}.in.${bus}`;
}

export function heartbeatSubject(bus: number | '*'): string {
  return `${PREFIX}.hb.${bus}`;
}

export function pingSubject(bus: number): string {
  return `${PREFIX}.ping.${bus}`;
}

/** Key of a replier in kbus_repliers: the name in base64url, which key-value keys allow. */
export function replierKey(device: number, name: string): string {
  return `d${device}.${Buffer.from(name, 'latin1').toString('base64url')}`;
}

export function parseReplierKey(key: string): { device: number; name: string } | undefined {
  const match = /^d(\d+)\.([A-Za-z0-9_-]+)$/.exec(key);
  if (match === null) return undefined;
  return { device: Number(match[1]), name: Buffer.from(match[2]!, 'base64url').toString('latin1') };
}

export function interestKey(device: number, bus: number): string {
  return `d${device}.b${bus}`;
}

export function parseInterestKey(key: string): { device: number; bus: number } | undefined {
  const match = /^d(\d+)\.b(\d+)$/.exec(key);
  return match === null ? undefined : { device: Number(match[1]), bus: Number(match[2]) };
}

/** Does binding `wide` match everything binding `narrow` does (and more)? */
function covers(wide: string, narrow: string): boolean {
  if (wide === narrow || !isWildcardName(wide)) return false;
  const prefix = wide.slice(0, -1);
  if (!narrow.startsWith(prefix) || narrow.length === prefix.length) return false;
  if (wide.endsWith('*')) return true;
  // `%` covers plain names exactly one level below it.
  return !isWildcardName(narrow) && !narrow.includes('.', prefix.length);
}

/**
 * The bindings among `names` that no other one covers: subscribing to
 * these alone, NATS delivers each message to the bus once.
 */
export function coverSet(names: Iterable<string>): string[] {
  const all = [...new Set(names)];
  return all.filter((narrow) => !all.some((wide) => covers(wide, narrow)));
}
