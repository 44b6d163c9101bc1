/**
 * Message names (Kbus.txt "Message names"):
 *
 *     name := '$.'  [ word '.' ]+  ( word  | '*' | '%' )
 *     word := alphanumerics
 *
 * The checks follow kbus.c's kbus_bad_message_name. Alphanumerics are the
 * ASCII letters and digits.
 */
import { MAX_NAME_LENGTH, MIN_NAME_LENGTH } from './constants.js';

const DOLLAR = 0x24;
const DOT = 0x2e;
const STAR = 0x2a;
const PERCENT = 0x25;

function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** True if `name` is a well-formed name or wildcard (length limits aside). */
export function isWellFormedName(name: string): boolean {
  let len = name.length;
  if (len < MIN_NAME_LENGTH) return false;
  if (name.charCodeAt(0) !== DOLLAR || name.charCodeAt(1) !== DOT) return false;
  const last = name.charCodeAt(len - 1);
  if ((last === STAR || last === PERCENT) && name.charCodeAt(len - 2) === DOT) len -= 2;
  if (name.charCodeAt(len - 1) === DOT) return false;
  let dotAt = 1;
  for (let i = 2; i < len; i++) {
    const c = name.charCodeAt(i);
    if (c === DOT) {
      if (dotAt === i - 1) return false;
      dotAt = i;
    } else if (!isAlnum(c)) {
      return false;
    }
  }
  return true;
}

/** True if the name ends in a `*` or `%` wildcard (assumes it is well formed). */
export function isWildcardName(name: string): boolean {
  const last = name.charCodeAt(name.length - 1);
  return last === STAR || last === PERCENT;
}

/**
 * The error a name gets when binding or unbinding (kbus.c kbus_bind):
 * EBADMSG for an empty or malformed name, ENAMETOOLONG past 1000 characters.
 */
export function bindNameError(name: string): 'EBADMSG' | 'ENAMETOOLONG' | undefined {
  if (name.length === 0) return 'EBADMSG';
  if (name.length > MAX_NAME_LENGTH) return 'ENAMETOOLONG';
  return isWellFormedName(name) ? undefined : 'EBADMSG';
}

/**
 * The error a name gets when sending: as for binding, and a wildcard
 * is EBADMSG too (Kbus.txt: "It is not possible to send a message with a
 * wildcard message name").
 */
export function sendNameError(name: string): 'EBADMSG' | 'ENAMETOOLONG' | 'EINVAL' | undefined {
  if (name.length === 0) return 'EINVAL';
  if (name.length > MAX_NAME_LENGTH) return 'ENAMETOOLONG';
  if (!isWellFormedName(name) || isWildcardName(name)) return 'EBADMSG';
  return undefined;
}

/**
 * Does `name` (a plain name) match `binding` (a plain name or wildcard)?
 * `$.a.*` matches every name below `$.a`; `$.a.%` only the names one level
 * below it. This is the reference definition; the engine's router indexes
 * bindings so as not to call it for every binding.
 */
export function nameMatches(name: string, binding: string): boolean {
  const last = binding.charCodeAt(binding.length - 1);
  if (last !== STAR && last !== PERCENT) return name === binding;
  const prefixLength = binding.length - 1;
  if (name.length <= prefixLength) return false;
  if (!name.startsWith(binding.slice(0, prefixLength))) return false;
  return last === STAR || name.indexOf('.', prefixLength) === -1;
}

const NAME_RULE =
  "a message name is '$.' and dot-separated words of ASCII letters and digits, e.g. '$.Sensor.Temperature'";

/**
 * What is wrong with `name`, in words: the rule it breaks (Kbus.txt
 * "Message names"), or undefined if it is good. `sending`: a wildcard is
 * wrong too, since a message is sent to one name.
 */
export function nameProblem(name: string, sending: boolean): string | undefined {
  if (name.length === 0) return `the message name is empty: ${NAME_RULE}`;
  if (name.length > MAX_NAME_LENGTH) {
    return `the message name is ${name.length} characters long: at most ${MAX_NAME_LENGTH} are allowed`;
  }
  const shown = name.length > 60 ? `${name.slice(0, 57)}...` : name;
  if (!isWellFormedName(name)) {
    if (!name.startsWith('$.')) return `'${shown}' does not start with '$.': ${NAME_RULE}`;
    const body = /\.[*%]$/.test(name) ? name.slice(2, -2) : name.slice(2);
    if (body === '' || body.startsWith('.') || body.endsWith('.') || body.includes('..')) {
      return `'${shown}' has an empty word (two dots together, or a dot at an end): ${NAME_RULE}`;
    }
    const bad = [...body].find((c) => c !== '.' && !isAlnum(c.charCodeAt(0)));
    return `'${shown}' contains ${JSON.stringify(bad ?? '?')}: ${NAME_RULE} (a wildcard '*' or '%' only as the last word, for binding)`;
  }
  if (sending && isWildcardName(name)) {
    return `'${shown}' is a wildcard: wildcards are for binding, a message is sent to one plain name`;
  }
  return undefined;
}
