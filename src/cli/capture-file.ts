/**
 * The capture file of `kbus capture` and `kbus replay` (docs/cli.md
 * "Capture files"): JSON Lines, a header line and then one line per
 * message, each with its header fields, its data in base64 and when it
 * was seen, in milliseconds since the capture started. A line of kind
 * "missed" says that messages were lost to a full queue before it.
 */
import type { KbusMessage, MessageKind } from '../client/index.js';
import { Flags, type MessageId, type NetworkAddress } from '../wire/index.js';

export const CAPTURE_FORMAT = 'kbus-capture';
export const CAPTURE_VERSION = 1;

export interface CaptureHeader {
  readonly format: typeof CAPTURE_FORMAT;
  readonly version: number;
  readonly device: number;
  readonly patterns: readonly string[];
  /** When the capture started, milliseconds since the Unix epoch. */
  readonly start: number;
}

/** One captured message as a line holds it. Ids and addresses are [networkId, serial or local id]. */
export interface CapturedMessage {
  /** Milliseconds since the capture's start. */
  readonly t: number;
  readonly kind: MessageKind;
  readonly id: [number, number];
  readonly inReplyTo: [number, number];
  readonly to: number;
  readonly from: number;
  readonly origFrom: [number, number];
  readonly finalTo: [number, number];
  readonly flags: number;
  readonly name: string;
  /** The data, base64. */
  readonly data: string;
}

/** Messages the capture missed, noticed at `t`: its listener's queue was full. */
export interface MissedRecord {
  readonly t: number;
  readonly kind: 'missed';
  /** How many since the record before. */
  readonly count: number;
}

const pair = (id: MessageId): [number, number] => [id.networkId, id.serialNum];
const address = (a: NetworkAddress): [number, number] => [a.networkId, a.localId];

export function headerLine(header: Omit<CaptureHeader, 'format' | 'version'>): string {
  const full: CaptureHeader = { format: CAPTURE_FORMAT, version: CAPTURE_VERSION, ...header };
  return JSON.stringify(full);
}

export function messageLine(m: KbusMessage, t: number): string {
  const line: CapturedMessage = {
    t: Math.round(t * 1000) / 1000,
    kind: m.kind,
    id: pair(m.id),
    inReplyTo: pair(m.inReplyTo),
    to: m.to,
    from: m.from,
    origFrom: address(m.origFrom),
    finalTo: address(m.finalTo),
    flags: m.flags,
    name: m.name,
    data: Buffer.from(m.data.buffer, m.data.byteOffset, m.data.length).toString('base64'),
  };
  return JSON.stringify(line);
}

export function missedLine(count: number, t: number): string {
  const line: MissedRecord = { t: Math.round(t * 1000) / 1000, kind: 'missed', count };
  return JSON.stringify(line);
}

/** A capture file line that is not what the format says; `line` is its number, from 1. */
export class CaptureFormatError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'CaptureFormatError';
  }
}

export function parseHeader(text: string, line = 1): CaptureHeader {
  const value = parseJson(text, line) as Partial<CaptureHeader>;
  if (value.format !== CAPTURE_FORMAT) {
    throw new CaptureFormatError(line, `not a kbus capture file (no "format":"${CAPTURE_FORMAT}")`);
  }
  if (value.version !== CAPTURE_VERSION) {
    throw new CaptureFormatError(
      line,
      `capture format version ${value.version}, expected ${CAPTURE_VERSION}`,
    );
  }
  return value as CaptureHeader;
}

/** A line after the header: a message, or a record of messages missed. */
export function parseLine(text: string, line: number): CapturedMessage | MissedRecord {
  const value = parseJson(text, line) as { kind?: unknown; t?: unknown; count?: unknown };
  if (value.kind !== 'missed') return parseMessage(text, line);
  if (
    typeof value.t !== 'number' ||
    !(value.t >= 0) ||
    !Number.isInteger(value.count) ||
    !((value.count as number) > 0)
  ) {
    throw new CaptureFormatError(line, 'a "missed" line needs t and a count above 0');
  }
  return value as unknown as MissedRecord;
}

export function parseMessage(text: string, line: number): CapturedMessage {
  const value = parseJson(text, line) as Partial<CapturedMessage>;
  const isPair = (p: unknown) => Array.isArray(p) && p.length === 2 && p.every(Number.isInteger);
  if (
    typeof value.t !== 'number' ||
    !(value.t >= 0) ||
    typeof value.name !== 'string' ||
    typeof value.data !== 'string' ||
    !Number.isInteger(value.flags) ||
    !isPair(value.id) ||
    !isPair(value.inReplyTo)
  ) {
    throw new CaptureFormatError(
      line,
      'a message needs t, name, data (base64), flags, id and inReplyTo',
    );
  }
  return value as CapturedMessage;
}

function parseJson(text: string, line: number): unknown {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value;
  } catch {
    // Said below.
  }
  throw new CaptureFormatError(line, 'not a JSON object');
}

/** What replay does with a captured message: send it as an announcement or a request, or skip it. */
export function replayKind(m: CapturedMessage): 'announcement' | 'request' | 'skip' {
  // A reply answers a request of the original run, and status messages are KBUS's own.
  if (m.flags & Flags.SYNTHETIC || m.name.startsWith('$.KBUS.')) return 'skip';
  if (m.inReplyTo[0] !== 0 || m.inReplyTo[1] !== 0) return 'skip';
  return m.flags & Flags.WANT_A_REPLY ? 'request' : 'announcement';
}

/** The flags a replayed message keeps: URGENT, ALL_OR_WAIT, ALL_OR_FAIL and the user's bits. */
export function replayFlags(flags: number): number {
  return (flags & (Flags.URGENT | Flags.ALL_OR_WAIT | Flags.ALL_OR_FAIL | 0xffff0000)) >>> 0;
}
