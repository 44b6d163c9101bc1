/**
 * The kbusd command line: parses the options, starts the daemon, stops it
 * cleanly on SIGINT / SIGTERM.
 */
import { parseArgs } from 'node:util';
import {
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_MAX_MESSAGES,
  DEFAULT_MAX_UNSENT_UNBIND,
} from '../engine/index.js';
import { defaultSocketPath } from '../protocol/socket-path.js';
import { Daemon, DaemonError } from './server.js';

const HELP = `Usage: kbusd [options]

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
  --max-unsent-unbind N     set-aside replier unbind events kept per device
                            (default ${DEFAULT_MAX_UNSENT_UNBIND})
  --max-message-size BYTES  largest message accepted, whole (default ${DEFAULT_MAX_MESSAGE_SIZE},
                            1 MiB of data); larger ones get EMSGSIZE
  --verbose                 log one line per event to stderr
  -h, --help                show this help

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

export async function main(argv: string[]): Promise<void> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    fail((err as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
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
      maxMessageSize: integer(
        'max-message-size',
        values['max-message-size'],
        DEFAULT_MAX_MESSAGE_SIZE,
      ),
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
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
