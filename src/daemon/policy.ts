/**
 * kbusd's access policy (docs/network.md "Policy"): who a client is, and
 * what each identity may do. A line-oriented text format, checked whole
 * when read, each error naming its line:
 *
 *   user alice token sha256:<64 hex digits>
 *   user bob cert bob
 *   user local unix
 *   user guest anonymous
 *   group sensors alice bob
 *   allow @sensors open 0 rw
 *   allow alice send $.Sensors.*
 *
 * Everything not allowed is refused. Patterns are KBUS names, with `*`
 * and `%` as in bindings (Kbus.txt "Wildcards").
 */
import { createHash, randomBytes } from 'node:crypto';
import { bindNameError, isWildcardName, nameMatches } from '../wire/index.js';

/** What may be allowed. */
export const ACTIONS = [
  'open',
  'send',
  'request',
  'listen',
  'reply',
  'inspect',
  'newdevice',
  'all',
] as const;
export type Action = (typeof ACTIONS)[number];
type NameAction = 'send' | 'request' | 'listen' | 'reply';

/** One `allow` line, kept to name it in the log. */
export interface Rule {
  readonly line: number;
  readonly text: string;
}

/** What one identity may do, gathered from every rule that names it or its groups. */
export class Grants {
  /** Open mode bits (1 read, 2 write) per device; `any` for every device. */
  readonly devices = new Map<number | 'any', { mode: number; rule: Rule }>();
  readonly names: Record<NameAction, { pattern: string; rule: Rule }[]> = {
    send: [],
    request: [],
    listen: [],
    reply: [],
  };
  inspect: Rule | undefined;
  newdevice: Rule | undefined;

  constructor(readonly identity: string) {}

  /** The open modes allowed on `device`, and the rule that allows them. */
  openModes(device: number): { mode: number; rule: Rule | undefined } {
    const one = this.devices.get(device);
    const any = this.devices.get('any');
    return { mode: (one?.mode ?? 0) | (any?.mode ?? 0), rule: one?.rule ?? any?.rule };
  }

  /** The rule allowing `action` on the plain name `name`, if any. */
  ruleFor(action: NameAction, name: string): Rule | undefined {
    for (const { pattern, rule } of this.names[action]) if (nameMatches(name, pattern)) return rule;
    return undefined;
  }

  /** The rule whose pattern covers every name `bound` (a name or wildcard) matches. */
  covering(action: NameAction, bound: string): Rule | undefined {
    for (const { pattern, rule } of this.names[action]) if (covers(pattern, bound)) return rule;
    return undefined;
  }

  /** Does some name matched by `bound` match some pattern of `action`? */
  overlaps(action: NameAction, bound: string): boolean {
    return this.names[action].some(({ pattern }) => overlap(pattern, bound));
  }
}

/** Every name `bound` matches is matched by `pattern`. */
export function covers(pattern: string, bound: string): boolean {
  if (!isWildcardName(bound)) return nameMatches(bound, pattern);
  if (!pattern.endsWith('*'))
    return pattern.endsWith('%') && bound.endsWith('%') && pattern === bound;
  return bound.startsWith(pattern.slice(0, -1));
}

/** Some name is matched by both `pattern` and `bound`. */
export function overlap(pattern: string, bound: string): boolean {
  if (!isWildcardName(bound)) return nameMatches(bound, pattern);
  if (!isWildcardName(pattern)) return nameMatches(pattern, bound);
  const p = pattern.slice(0, -1);
  const b = bound.slice(0, -1);
  const pStar = pattern.endsWith('*');
  const bStar = bound.endsWith('*');
  if (pStar && bStar) return p.startsWith(b) || b.startsWith(p);
  if (pStar) return b.startsWith(p);
  if (bStar) return p.startsWith(b);
  return p === b;
}

/** A policy file that cannot be used; the message names the line. */
export class PolicyError extends Error {
  readonly code = 'KBUS_POLICY';
}

export class Policy {
  /** Users by the sha256 hex of their token. */
  readonly tokens = new Map<string, string>();
  /** Users by the CN of their client certificate. */
  readonly certs = new Map<string, string>();
  /** The user every Unix socket client is, if any. */
  unixUser: string | undefined;
  /** The user a client that presents nothing is, if any. */
  anonymousUser: string | undefined;
  readonly groups = new Map<string, Set<string>>();
  readonly users = new Set<string>();
  readonly rules: { who: string; action: Action; args: string[]; rule: Rule }[] = [];
  private readonly grants = new Map<string, Grants>();

  /** The user whose token this is, if any. */
  userForToken(token: string): string | undefined {
    return this.tokens.get(hashToken(token));
  }

  /** What `identity` may do (nothing, for an identity the policy does not name). */
  grantsFor(identity: string | undefined): Grants {
    const key = identity ?? '';
    let grants = this.grants.get(key);
    if (grants === undefined) {
      grants = this.compile(key);
      this.grants.set(key, grants);
    }
    return grants;
  }

  private compile(identity: string): Grants {
    const grants = new Grants(identity);
    if (identity === '') return grants;
    for (const { who, action, args, rule } of this.rules) {
      if (!this.names(who, identity)) continue;
      if (action === 'all') {
        grants.devices.set('any', { mode: 3, rule });
        for (const kind of ['send', 'request', 'listen', 'reply'] as const)
          grants.names[kind].push({ pattern: '$.*', rule });
        grants.inspect ??= rule;
        grants.newdevice ??= rule;
      } else if (action === 'open') {
        const mode = (args[1]!.includes('r') ? 1 : 0) | (args[1]!.includes('w') ? 2 : 0);
        for (const device of deviceList(args[0]!)) {
          const old = grants.devices.get(device);
          grants.devices.set(device, { mode: (old?.mode ?? 0) | mode, rule: old?.rule ?? rule });
        }
      } else if (action === 'inspect') grants.inspect ??= rule;
      else if (action === 'newdevice') grants.newdevice ??= rule;
      else for (const pattern of args) grants.names[action].push({ pattern, rule });
    }
    return grants;
  }

  /** Does the `who` of a rule (`name`, `@group` or `*`) name `identity`? */
  private names(who: string, identity: string): boolean {
    if (who === '*') return true;
    if (who.startsWith('@')) return this.groups.get(who.slice(1))?.has(identity) ?? false;
    return who === identity;
  }
}

function deviceList(text: string): (number | 'any')[] {
  if (text === '*') return ['any'];
  const out: number[] = [];
  for (const part of text.split(',')) {
    const [from, to] = part.split('-').map(Number);
    for (let d = from!; d <= (to ?? from!); d++) out.push(d);
  }
  return out;
}

/** The hash a policy stores for a token: sha256, hex. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A new random token (32 bytes, base64url) and its policy hash. */
export function newToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashToken(token) };
}

const WORD = /^[A-Za-z0-9_.-]+$/;

/** Reads a policy; throws a PolicyError naming the first bad line. */
export function parsePolicy(text: string, file = 'policy'): Policy {
  const policy = new Policy();
  const lines = text.split('\n');
  const fail = (line: number, why: string): never => {
    throw new PolicyError(`${file}:${line}: ${why}`);
  };
  const pending: { who: string; line: number }[] = [];
  lines.forEach((raw, index) => {
    const line = index + 1;
    const text = raw.replace(/(^|\s)#.*$/, '').trim();
    if (text === '') return;
    const [keyword, ...args] = text.split(/\s+/);
    if (keyword === 'user') {
      const [name, kind, value] = args;
      if (name === undefined || !WORD.test(name))
        fail(line, `'user' needs a name (letters, digits, _ . -)`);
      policy.users.add(name!);
      if (kind === 'token') {
        const hash = /^sha256:([0-9a-f]{64})$/i.exec(value ?? '')?.[1];
        if (hash === undefined || args.length !== 3)
          fail(
            line,
            `'user ${name} token' takes sha256:<64 hex digits> (kbusd --hash-token makes one)`,
          );
        policy.tokens.set(hash!.toLowerCase(), name!);
      } else if (kind === 'cert') {
        if (value === undefined || args.length !== 3)
          fail(line, `'user ${name} cert' takes the certificate's subject CN`);
        policy.certs.set(value!, name!);
      } else if (kind === 'unix' || kind === 'anonymous') {
        if (args.length !== 2) fail(line, `'user ${name} ${kind}' takes nothing more`);
        if (kind === 'unix') policy.unixUser = name;
        else policy.anonymousUser = name;
      } else {
        fail(line, `'user ${name}' takes token, cert, unix or anonymous, not '${kind ?? ''}'`);
      }
    } else if (keyword === 'group') {
      const [name, ...members] = args;
      if (name === undefined || !WORD.test(name))
        fail(line, `'group' needs a name and its members`);
      const set = policy.groups.get(name!) ?? new Set<string>();
      for (const m of members) set.add(m);
      policy.groups.set(name!, set);
    } else if (keyword === 'allow') {
      const [who, action, ...rest] = args;
      if (who === undefined || action === undefined)
        fail(line, `'allow' takes who (a user, @group or *), an action and its arguments`);
      if (!(ACTIONS as readonly string[]).includes(action!))
        fail(line, `unknown action '${action}': one of ${ACTIONS.join(', ')}`);
      checkArgs(action as Action, rest, (why) => fail(line, why));
      if (who!.startsWith('@')) pending.push({ who: who!, line });
      policy.rules.push({ who: who!, action: action as Action, args: rest, rule: { line, text } });
    } else {
      fail(line, `unknown keyword '${keyword}': user, group or allow`);
    }
  });
  for (const { who, line } of pending) {
    if (!policy.groups.has(who.slice(1))) fail(line, `no group named '${who.slice(1)}'`);
  }
  return policy;
}

function checkArgs(action: Action, args: string[], fail: (why: string) => never): void {
  if (action === 'open') {
    if (
      args.length !== 2 ||
      !/^(\*|\d+(-\d+)?(,\d+(-\d+)?)*)$/.test(args[0]!) ||
      !/^(r|w|rw)$/.test(args[1]!)
    )
      fail(`'open' takes devices (0, 0-3, 0,2 or *) and a mode (r, w or rw)`);
    return;
  }
  if (action === 'inspect' || action === 'newdevice' || action === 'all') {
    if (args.length !== 0) fail(`'${action}' takes nothing more`);
    return;
  }
  if (args.length === 0) fail(`'${action}' takes one or more name patterns, e.g. $.Sensors.*`);
  for (const pattern of args) {
    if (bindNameError(pattern) !== undefined)
      fail(
        `'${pattern}' is not a KBUS name or wildcard (e.g. $.Sensors.Door, $.Sensors.*, $.Sensors.%)`,
      );
  }
}
