/**
 * The kbusd command line: parses the options, starts the daemon, stops it
 * cleanly on SIGINT / SIGTERM.
 */
import { parseArgs } from 'node:util';
import {
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_MAX_MESSAGES,
  DEFAULT_MAX_QUEUE_BYTES,
  DEFAULT_MAX_UNSENT_UNBIND,
  defaultMaxTotalQueueBytes,
} from '../engine/index.js';
import { defaultSocketPath } from '../protocol/socket-path.js';
import { Daemon, DaemonError } from './server.js';

/** A byte count for the help text: 64 MiB, 1 GiB, else bytes. */
function bytesText(bytes: number): string {
  for (const [unit, size] of [
    ['GiB', 2 ** 30],
    ['MiB', 2 ** 20],
    ['KiB', 2 ** 10],
  ] as const) {
    if (bytes % size === 0) return `${bytes / size} ${unit}`;
  }
  return `${bytes} bytes`;
}

const HELP = () => `Usage: kbusd [options]

Runs the KBUS daemon: one or more KBUS devices served on a Unix domain socket.
Clients connect to the socket; each connection is one Ksock.

Options:
  --socket PATH             socket to listen on (default: $KBUS_SOCKET, else
                            $XDG_RUNTIME_DIR/kbus.sock, else /tmp/kbus-<uid>.sock;
                            now ${defaultSocketPath()})
  --socket-mode MODE        permissions of the socket file, octal (default 600:
                            the owner only; 666 lets every user connect)
  --devices N               devices to create at start, 1 to 256 (default 1)
  --max-messages N          each Ksock's queue limit at open (default ${DEFAULT_MAX_MESSAGES})
  --max-queue-bytes BYTES   bytes of messages one Ksock's queue may hold; at it
                            the queue is full, as at its message limit
                            (default ${bytesText(DEFAULT_MAX_QUEUE_BYTES)})
  --max-total-queue-bytes BYTES
                            bytes of messages all queues may hold together; at
                            it every queue is full (default the smaller of 1 GiB
                            and a quarter of memory; here ${bytesText(defaultMaxTotalQueueBytes())})
  --max-unsent-unbind N     set-aside replier unbind events kept per device
                            (default ${DEFAULT_MAX_UNSENT_UNBIND})
  --max-message-size BYTES  largest message accepted, whole (default ${DEFAULT_MAX_MESSAGE_SIZE},
                            1 MiB of data); larger ones get EMSGSIZE
  --verbose                 log one line per event to stderr
  -h, --help                show this help

BYTES is a whole number of bytes, or one with a suffix K, M or G (or KiB, MiB,
GiB), powers of 1024: 64M is 64 MiB.

Examples:
  kbusd                                 serve device 0 on the default socket
  kbusd --socket /run/kbus.sock --socket-mode 660 --devices 4
`;

function fail(message: string): never {
  process.stderr.write(`kbusd: ${message}\nTry 'kbusd --help'.\n`);
  process.exit(2);
}

function integer(name: string, text: string | undefined, fallback: number, radix = 10): number {
  if (text === undefined) return fallback;
  const value = Number.parseInt(text, radix);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value))
    fail(`--${name} takes a whole number, not '${text}'`);
  return value;
}

/** The suffixes a byte count may have (any case): powers of 1024. */
const BYTE_UNITS = new Map([
  ['', 1],
  ['k', 2 ** 10],
  ['m', 2 ** 20],
  ['g', 2 ** 30],
  ['kib', 2 ** 10],
  ['mib', 2 ** 20],
  ['gib', 2 ** 30],
]);

/** A byte count as kbusd's options take it (`65536`, `64K`, `64KiB`, `1G`), or undefined if it is not one. */
export function parseBytes(text: string): number | undefined {
  const match = /^(\d+)([a-z]*)$/i.exec(text);
  const unit = match === null ? undefined : BYTE_UNITS.get(match[2]!.toLowerCase());
  if (match === null || unit === undefined) return undefined;
  const value = Number(match[1]) * unit;
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

function bytes(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = parseBytes(text);
  if (value === undefined)
    fail(`--${name} takes a number of bytes above 0 (e.g. 65536, 64K, 64M, 1G), not '${text}'`);
  return value;
}

export async function main(argv: string[]): Promise<void> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    fail((err as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(HELP());
    return;
  }
  const verbose = values.verbose ?? false;
  let daemon: Daemon;
  try {
    daemon = new Daemon({
      socketPath: values.socket ?? defaultSocketPath(),
      socketMode: integer('socket-mode', values['socket-mode'], 0o600, 8),
      devices: integer('devices', values.devices, 1),
      maxMessages: integer('max-messages', values['max-messages'], DEFAULT_MAX_MESSAGES),
      maxUnsentUnbind: integer(
        'max-unsent-unbind',
        values['max-unsent-unbind'],
        DEFAULT_MAX_UNSENT_UNBIND,
      ),
      maxMessageSize: bytes('max-message-size', values['max-message-size']),
      maxQueueBytes: bytes('max-queue-bytes', values['max-queue-bytes']),
      maxTotalQueueBytes: bytes('max-total-queue-bytes', values['max-total-queue-bytes']),
      verbose,
      log: (line) => process.stderr.write(`${line}\n`),
    });
  } catch (err) {
    fail((err as Error).message);
  }
  try {
    await daemon.start();
  } catch (err) {
    if (err instanceof DaemonError) fail(err.message);
    fail(`cannot listen on ${daemon.socketPath}: ${(err as Error).message}`);
  }
  process.stderr.write(
    `kbusd: serving ${daemon.engine.deviceCount} device${daemon.engine.deviceCount === 1 ? '' : 's'} on ${daemon.socketPath}\n`,
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    if (verbose) process.stderr.write(`kbusd: ${signal}, stopping\n`);
    void daemon.close().then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      socket: { type: 'string' },
      'socket-mode': { type: 'string' },
      devices: { type: 'string' },
      'max-messages': { type: 'string' },
      'max-unsent-unbind': { type: 'string' },
      'max-message-size': { type: 'string' },
      'max-queue-bytes': { type: 'string' },
      'max-total-queue-bytes': { type: 'string' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
