/**
 * What every `kbus` subcommand shares: finding the daemon, opening a
 * Ksock, reading message data, colours, and turning errors into clear
 * messages and exit codes.
 */
import { readFile, stat } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { getSystemErrorMap } from 'node:util';
import pc from 'picocolors';
import { BusInfo, Ksock, type KsockAbout, type Mode } from '../client/index.js';
import { defaultSocketPath } from '../protocol/socket-path.js';
import { bindNameError, isWildcardName, KbusError, sendNameError } from '../wire/index.js';
import type { Colours } from './format.js';

/**
 * Aborted when standard output's reader goes away (EPIPE), so that long
 * running commands stop cleanly instead of dying on the write error.
 */
export const outputClosed = new AbortController();
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  outputClosed.abort();
});

export interface GlobalOptions {
  socket?: string;
  /** --url, else $KBUS_URL: the daemon's address as a URL (docs/network.md). */
  url?: string;
  /** --token, else $KBUS_TOKEN: a bearer token for a daemon with a policy. */
  token?: string;
  /** --ca: a CA certificate file to trust for tls:// and wss://. */
  ca?: string;
  device: number;
  json?: boolean;
}

/** Exit codes: 0 success; a KBUS error exits with its errno; these otherwise. */
export const ExitCode = {
  OK: 0,
  /** A bad command line (EX_USAGE). */
  USAGE: 64,
  /** Something this installation lacks, such as the compatibility layer (EX_UNAVAILABLE). */
  UNAVAILABLE: 69,
  /** A wait ran out (ETIMEDOUT). */
  TIMEOUT: 110,
  /** Something else went wrong. */
  FAILURE: 1,
} as const;

/** What went wrong in a `kbus` command. Stable codes: match on `code`, never on the message. */
export const CliErrorCode = {
  /** A bad command line (exit 64, EX_USAGE). */
  USAGE: 'KBUS_CLI_USAGE',
  /** kbusd closed the connection while the command was using it (exit 1). */
  DAEMON_GONE: 'KBUS_CLI_DAEMON_GONE',
  /** The daemon has no such device (exit 2, ENOENT, as opening it answers). */
  NO_DEVICE: 'KBUS_CLI_NO_DEVICE',
  /** A message name that is not one (exit 74, EBADMSG, as kbusd would answer). */
  BAD_NAME: 'KBUS_CLI_BAD_NAME',
  /** The installation lacks a part the command needs (exit 69, EX_UNAVAILABLE). */
  UNAVAILABLE: 'KBUS_CLI_UNAVAILABLE',
  /** Another failure, described by the message and `cause` (exit 1). */
  FAILED: 'KBUS_CLI_FAILED',
} as const;
export type CliErrorCode = (typeof CliErrorCode)[keyof typeof CliErrorCode];

const EXIT_CODE_OF: Record<CliErrorCode, number> = {
  [CliErrorCode.USAGE]: ExitCode.USAGE,
  [CliErrorCode.DAEMON_GONE]: ExitCode.FAILURE,
  [CliErrorCode.BAD_NAME]: 74,
  [CliErrorCode.NO_DEVICE]: 2,
  [CliErrorCode.UNAVAILABLE]: ExitCode.UNAVAILABLE,
  [CliErrorCode.FAILED]: ExitCode.FAILURE,
};

/** An error the user can act on: its code, and the exit code that goes with it. */
export class CliError extends Error {
  readonly code: CliErrorCode;
  readonly exitCode: number;

  constructor(code: CliErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CliError';
    this.code = code;
    this.exitCode = EXIT_CODE_OF[code];
  }
}

/**
 * Checks a message name before the daemon sees it, so that a mistake gets
 * an explanation rather than a bare EBADMSG (Kbus.txt "Message names").
 * `send`: a name to send to (no wildcard); `bind`: a name or wildcard.
 */
export function checkName(name: string, use: 'send' | 'bind', what = 'message name'): void {
  const error = use === 'send' ? sendNameError(name) : bindNameError(name);
  // Too long: kbusd's ENAMETOOLONG says it plainly.
  if (error === undefined || error === 'ENAMETOOLONG') return;
  const wildcard = use === 'send' && bindNameError(name) === undefined && isWildcardName(name);
  const why = wildcard
    ? 'a wildcard can be listened to, not sent to'
    : `a name is '$.' and then words of letters and digits joined by dots, e.g. '$.Sensors.Door'${use === 'bind' ? ", or a wildcard such as '$.Sensors.*'" : ''}`;
  throw new CliError(CliErrorCode.BAD_NAME, `'${name}' is not a valid ${what} (EBADMSG): ${why}`);
}

export function socketPath(options: GlobalOptions): string {
  return options.socket ?? defaultSocketPath();
}

/** A system error's reason in words ('no such file or directory'), else its message. */
export function systemReason(err: unknown): string {
  const { code, message } = err as NodeJS.ErrnoException;
  // Name look-ups fail with getaddrinfo's codes, which are no errno.
  if (code === 'ENOTFOUND') return 'no such host';
  if (code === 'EAI_AGAIN') return 'the host name cannot be looked up now (try again)';
  const errno = code ? (constants.errno as Record<string, number>)[code] : undefined;
  const reason = errno === undefined ? undefined : getSystemErrorMap().get(-errno)?.[1];
  return reason ? reason.charAt(0).toLowerCase() + reason.slice(1) : String(message ?? err);
}

/** The system error `err` told in `text`; keeps its `code`, so the exit code is its errno. */
export function restated(err: unknown, text: string): Error {
  const code = (err as NodeJS.ErrnoException).code;
  return Object.assign(new Error(text, { cause: err }), code ? { code } : {});
}

/** How to reach the daemon over a URL, when one is given (--url, else $KBUS_URL when no --socket). */
export async function urlTarget(
  options: GlobalOptions,
): Promise<{ url: string; token?: string; tls?: { ca: string } } | undefined> {
  if (options.socket !== undefined && options.url !== undefined)
    throw new CliError(CliErrorCode.USAGE, 'give --socket or --url, not both');
  const url =
    options.url ?? (options.socket === undefined ? process.env.KBUS_URL || undefined : undefined);
  if (url === undefined) return undefined;
  const token = options.token ?? (process.env.KBUS_TOKEN || undefined);
  let ca: string | undefined;
  if (options.ca !== undefined) {
    try {
      ca = await readFile(options.ca, 'utf8');
    } catch (err) {
      throw restated(err, `--ca: cannot read ${options.ca}: ${systemReason(err)}`);
    }
  }
  return { url, ...(token ? { token } : {}), ...(ca ? { tls: { ca } } : {}) };
}

/** The socket path to connect to, refused with what to do when nothing there can be kbusd. */
async function checkedSocketPath(options: GlobalOptions): Promise<string> {
  const path = socketPath(options);
  if (path === '') throw new CliError(CliErrorCode.USAGE, "--socket needs a path, not ''");
  // What is at the path, when it is no socket at all, says more than "refused".
  const found = await stat(path).catch(() => undefined);
  if (found?.isDirectory()) {
    throw restated(
      Object.assign(new Error(), { code: 'EISDIR' }),
      `${path} is a directory, not kbusd's socket: give the socket's path (e.g. ${join(path, 'kbus.sock')})`,
    );
  }
  if (found && !found.isSocket()) {
    throw restated(
      Object.assign(new Error(), { code: 'ENOTSOCK' }),
      `${path} is not a socket, so no kbusd serves it: give the path kbusd listens on (kbusd --socket PATH)`,
    );
  }
  return path;
}

/**
 * Connects to kbusd to read what the bus holds (bindings, stats, devices)
 * without opening a Ksock, so that the reader is not in what it reads.
 */
export async function connectBusInfo(options: GlobalOptions): Promise<BusInfo> {
  const target = await urlTarget(options);
  const path = target?.url ?? (await checkedSocketPath(options));
  const bus = await BusInfo.connect(path, target ?? {});
  // The texts cover every device, but a --device the bus lacks is still a mistake to report.
  const devices = await bus.devices().catch(async (err: unknown) => {
    await bus.close();
    throw err;
  });
  if (options.device >= devices) {
    await bus.close();
    throw noDevice(path, options.device);
  }
  return bus;
}

/** Kbus.txt: opening a device that does not exist is ENOENT. */
function noDevice(path: string, device: number, cause?: unknown): CliError {
  return new CliError(
    CliErrorCode.NO_DEVICE,
    `the kbusd at ${path} has no device ${device} (ENOENT): give --device 0, or start kbusd with --devices ${device + 1}`,
    { cause },
  );
}

/** Opens a Ksock on the daemon the options name. */
export async function openKsock(options: GlobalOptions, mode: Mode = 'rw'): Promise<Ksock> {
  const target = await urlTarget(options);
  if (target !== undefined) {
    try {
      return await Ksock.connect({ ...target, device: options.device, mode });
    } catch (err) {
      if (err instanceof TypeError) throw new CliError(CliErrorCode.USAGE, `--url: ${err.message}`);
      throw err;
    }
  }
  const path = await checkedSocketPath(options);
  try {
    return await Ksock.connect({ socket: path, device: options.device, mode });
  } catch (err) {
    if (err instanceof KbusError && err.code === 'ENOENT')
      throw noDevice(path, options.device, err);
    throw err;
  }
}

/**
 * Says what a long-lived command's Ksock is (DESCRIBE), so that kbusd's
 * console and /api/state can tell it apart. Only a label: a daemon that
 * refuses it is no reason to stop.
 */
export async function describeKsock(ksock: Ksock, about: KsockAbout): Promise<void> {
  // Long values are cut, so that the whole stays within DESCRIBE's 1 KiB.
  const cut = Object.fromEntries(
    Object.entries(about).map(([k, v]) => [
      k,
      typeof v === 'string' && v.length > 200 ? `${v.slice(0, 199)}…` : v,
    ]),
  );
  try {
    await ksock.describe(cut);
  } catch {
    // An older daemon (ENOTTY), or a label too long for DESCRIBE: carry on.
  }
}

/** Colours only when stdout is a terminal (and NO_COLOR is not set). */
export function colours(stream: NodeJS.WriteStream = process.stdout): Colours {
  const on = stream.isTTY === true && !process.env.NO_COLOR;
  const c = pc.createColors(on);
  return { kind: c.cyan, name: c.bold, dim: c.dim, error: c.red };
}

export function parseInteger(value: string, what: string, min = 0, max = 0xffffffff): number {
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(value))
    throw new CliError(CliErrorCode.USAGE, `${what} must be a whole number, not '${value}'`);
  const n = Number(value);
  if (n < min || n > max)
    throw new CliError(CliErrorCode.USAGE, `${what} must be from ${min} to ${max}, not ${value}`);
  return n;
}

/** The longest wait a timer can take (2^31 - 1 ms, about 24.8 days), in seconds. */
const MAX_SECONDS = 2_147_483;

/**
 * A number of seconds (fractions allowed, e.g. 0.5); `above` is the least
 * value that is too small (0 for intervals and timeouts, -1 to allow 0).
 */
export function parseSeconds(value: string, what: string, above = 0): number {
  const n = /^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!(n > above) || n > MAX_SECONDS) {
    const least = above < 0 ? 'from 0' : `above ${above}`;
    throw new CliError(
      CliErrorCode.USAGE,
      `${what} takes a number of seconds ${least} to ${MAX_SECONDS}, not '${value}'`,
    );
  }
  return n;
}

export function parseHex(text: string): Uint8Array {
  const clean = text.replace(/^0x/i, '').replace(/[\s:]/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) {
    throw new CliError(
      CliErrorCode.USAGE,
      `'${text}' is not hex (two digits per byte, e.g. 0a1b2c)`,
    );
  }
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Message data from the argument, `--file`, or standard input (when no
 * argument is given and stdin is not a terminal); `--hex` reads hex.
 */
export async function messageData(
  argument: string | undefined,
  options: { file?: string; hex?: boolean },
): Promise<Uint8Array | undefined> {
  if (argument !== undefined && options.file !== undefined) {
    throw new CliError(CliErrorCode.USAGE, 'give the data as an argument or with --file, not both');
  }
  let raw: Uint8Array | undefined;
  if (options.file !== undefined) {
    const file = options.file;
    raw =
      file === '-'
        ? await readStdin()
        : await readFile(file).catch((err: unknown) => {
            throw restated(err, `cannot read --file ${file}: ${systemReason(err)}`);
          });
  } else if (argument !== undefined) {
    raw = options.hex ? undefined : Buffer.from(argument);
    if (options.hex) return parseHex(argument);
  } else if (!process.stdin.isTTY) {
    raw = await readStdin();
  }
  if (raw !== undefined && options.hex) return parseHex(Buffer.from(raw).toString());
  return raw;
}

/** A one-line description of an error, with the KBUS meaning of its errno. */
export function describeError(err: unknown): { text: string; exitCode: number } {
  if (err instanceof CliError) return { text: err.message, exitCode: err.exitCode };
  if (err instanceof KbusError) {
    const meaning = err.kbusMeaning ? `: ${err.kbusMeaning}` : '';
    return { text: `${err.code} (error ${err.errno})${meaning}`, exitCode: err.errno };
  }
  if (err instanceof Error && err.name === 'TimeoutError') {
    return { text: 'timed out waiting', exitCode: ExitCode.TIMEOUT };
  }
  if (err instanceof Error) {
    // System errors (no daemon at the socket, say) exit with their errno too.
    const code = (err as NodeJS.ErrnoException).code;
    const errno = code ? (constants.errno as Record<string, number>)[code] : undefined;
    return { text: err.message, exitCode: errno ?? ExitCode.FAILURE };
  }
  return { text: String(err), exitCode: ExitCode.FAILURE };
}
