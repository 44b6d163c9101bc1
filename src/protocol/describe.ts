/**
 * DESCRIBE's payload (docs/protocol.md 6.14): what a Ksock says it is, for
 * monitors such as the console: one JSON object whose values are strings,
 * numbers or booleans, at most MAX_DESCRIBE_BYTES of UTF-8. Flat and small,
 * so that a daemon keeps a bounded amount per Ksock and a page can show it
 * without knowing its shape.
 */

import { KbusError } from '../wire/index.js';

/** The largest DESCRIBE payload. */
export const MAX_DESCRIBE_BYTES = 1024;

export type KsockAbout = Readonly<Record<string, string | number | boolean>>;

function check(value: unknown): KsockAbout {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KbusError('EINVAL', 'DESCRIBE takes a JSON object');
  }
  for (const [key, v] of Object.entries(value)) {
    const type = typeof v;
    if (type !== 'string' && type !== 'boolean' && !(type === 'number' && Number.isFinite(v))) {
      throw new KbusError(
        'EINVAL',
        `DESCRIBE: "${key}" must be a string, a finite number or a boolean`,
      );
    }
  }
  return value as KsockAbout;
}

/** The payload for `about`; throws the KbusError (EINVAL, EMSGSIZE) the daemon would answer. */
export function encodeAbout(about: KsockAbout): Uint8Array {
  const bytes = new TextEncoder().encode(JSON.stringify(check(about)));
  if (bytes.length > MAX_DESCRIBE_BYTES) {
    throw new KbusError(
      'EMSGSIZE',
      `DESCRIBE: ${bytes.length} bytes of JSON, more than ${MAX_DESCRIBE_BYTES}`,
    );
  }
  return bytes;
}

/** The description in a DESCRIBE payload; throws a KbusError (EINVAL, EMSGSIZE) for one the protocol refuses. */
export function decodeAbout(payload: Uint8Array): KsockAbout {
  if (payload.length > MAX_DESCRIBE_BYTES) {
    throw new KbusError(
      'EMSGSIZE',
      `DESCRIBE: ${payload.length} bytes, more than ${MAX_DESCRIBE_BYTES}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    throw new KbusError('EINVAL', 'DESCRIBE takes UTF-8 JSON');
  }
  return check(value);
}
