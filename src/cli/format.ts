/**
 * How the command line shows messages: one readable line each, or one
 * JSON object per line for scripts.
 */
import type { KbusMessage } from '../client/index.js';
import { Flags, formatId, type MessageId } from '../wire/index.js';

const FLAG_NAMES: [number, string][] = [
  [Flags.WANT_A_REPLY, 'WANT_A_REPLY'],
  [Flags.WANT_YOU_TO_REPLY, 'WANT_YOU_TO_REPLY'],
  [Flags.SYNTHETIC, 'SYNTHETIC'],
  [Flags.URGENT, 'URGENT'],
  [Flags.ALL_OR_WAIT, 'ALL_OR_WAIT'],
  [Flags.ALL_OR_FAIL, 'ALL_OR_FAIL'],
];

/** The names of the KBUS flag bits set, then any user bits in hex. */
export function flagNames(flags: number): string[] {
  const names = FLAG_NAMES.filter(([bit]) => flags & bit).map(([, name]) => name);
  const user = (flags & 0xffff0000) >>> 0;
  if (user) names.push(`0x${user.toString(16)}`);
  return names;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The data as text if it is printable UTF-8 (tabs and newlines allowed), else undefined. */
export function printable(data: Uint8Array): string | undefined {
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    return undefined;
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control characters
  return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text) ? undefined : text;
}

export function hex(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.length).toString('hex');
}

export type Formatter = (text: string) => string;

export interface Colours {
  kind: Formatter;
  name: Formatter;
  dim: Formatter;
  error: Formatter;
}

function id(value: MessageId): string {
  return formatId(value);
}

/** One readable line: kind, id, name, from, to, in-reply-to, flags, data. */
export function messageLine(m: KbusMessage, c: Colours): string {
  const parts = [
    c.kind(m.kind.padEnd(12)),
    id(m.id),
    c.name(m.name),
    `from ${m.from}`,
    `to ${m.to}`,
  ];
  if (m.inReplyTo.networkId !== 0 || m.inReplyTo.serialNum !== 0)
    parts.push(`in-reply-to ${id(m.inReplyTo)}`);
  const flags = flagNames(m.flags);
  if (flags.length > 0) parts.push(`flags ${flags.join('|')}`);
  if (m.data.length > 0) {
    const text = printable(m.data);
    parts.push(text === undefined ? `data 0x${hex(m.data)}` : `data ${JSON.stringify(text)}`);
  }
  return parts.join(' ');
}

/** One JSON object (a line of JSON Lines). */
export function messageJson(m: KbusMessage): string {
  return JSON.stringify({
    kind: m.kind,
    id: m.id,
    name: m.name,
    from: m.from,
    to: m.to,
    inReplyTo: m.inReplyTo,
    origFrom: m.origFrom,
    finalTo: m.finalTo,
    flags: m.flags,
    flagNames: flagNames(m.flags),
    data: printable(m.data) ?? null,
    dataHex: hex(m.data),
  });
}
