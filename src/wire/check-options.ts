/**
 * Checks an options object given to a public constructor or factory before
 * anything is opened: an unknown option, or one of the wrong type, is a
 * TypeError naming it and saying what it takes (a misspelt option is
 * otherwise silently ignored, and its default used in its place).
 */

/** What an option takes: a typeof name, or a test with a description of what passes it. */
export type OptionKind =
  | 'string'
  | 'number'
  | 'boolean'
  | 'function'
  | { readonly takes: string; readonly test: (value: unknown) => boolean };

export type OptionSpec = Readonly<Record<string, OptionKind>>;

/** One of these strings exactly. */
export function oneOf(...values: readonly string[]): OptionKind {
  return {
    takes: values
      .map((v) => `'${v}'`)
      .join(', ')
      .replace(/, ([^,]*)$/, ' or $1'),
    test: (value) => typeof value === 'string' && values.includes(value),
  };
}

/** An AbortSignal (checked by shape, so that any realm's signal passes). */
export const signalOption: OptionKind = {
  takes: 'an AbortSignal',
  test: (value) =>
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AbortSignal).aborted === 'boolean' &&
    typeof (value as AbortSignal).addEventListener === 'function',
};

function describeKind(kind: OptionKind): string {
  if (typeof kind !== 'string') return kind.takes;
  return kind === 'function' ? 'a function' : `a ${kind}`;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'object') return `a ${value.constructor?.name ?? 'object'}`;
  return `${typeof value} ${String(value)}`;
}

/**
 * Throws a TypeError unless `options` is undefined or a plain object whose
 * every key is in `spec` with a value of the kind given there (undefined
 * counts as not given). `what` names the call, e.g. 'new Daemon()'.
 */
export function checkOptions(what: string, options: unknown, spec: OptionSpec): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`${what} takes an options object, not ${describeValue(options)}`);
  }
  const known = Object.keys(spec);
  for (const [key, value] of Object.entries(options)) {
    const kind = spec[key];
    if (kind === undefined) {
      throw new TypeError(`${what} has no option '${key}'; its options are: ${known.join(', ')}`);
    }
    if (value === undefined) continue;
    const ok = typeof kind === 'string' ? typeof value === kind : kind.test(value);
    if (!ok) {
      throw new TypeError(
        `${what}: option '${key}' takes ${describeKind(kind)}, not ${describeValue(value)}`,
      );
    }
  }
}
