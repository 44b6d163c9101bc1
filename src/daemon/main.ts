/**
 * The kbusd command line: parses the options, starts the daemon, stops it
 * cleanly on SIGINT / SIGTERM.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chown } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ClusterAgent, ClusterError } from '../cluster/index.js';
import {
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_MAX_MESSAGES,
  DEFAULT_MAX_QUEUE_BYTES,
  DEFAULT_MAX_UNSENT_UNBIND,
  defaultMaxTotalQueueBytes,
} from '../engine/index.js';
import { defaultSocketLocation, makePrivateDir } from '../protocol/socket-path.js';
import { KbusError } from '../wire/index.js';
import { CLUSTER_ARGS, CLUSTER_HELP, clusterOptions } from './cluster-options.js';
import { createLogger, isLogLevel, LOG_LEVELS, type LogLevel } from './log.js';
import { NETWORK_HELP, networkOptions } from './network-options.js';
import { notifyReady } from './notify.js';
import { newToken } from './policy.js';
import { Daemon, DaemonError } from './server.js';

/** Exit codes, as `kbus` has them: a KBUS error exits with its errno. */
const ExitCode = {
  /** A runtime failure: the socket cannot be made, the group cannot be set. */
  FAILURE: 1,
  /** A bad command line (EX_USAGE). */
  USAGE: 64,
} as const;

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
                            $XDG_RUNTIME_DIR/kbus.sock, else
                            /tmp/kbus-<uid>/kbus.sock in a directory of mode 700;
                            now ${defaultSocketLocation().path})
  --socket-mode MODE        permissions of the socket file, octal (default 600:
                            the owner only; 660 with --socket-group lets a group
                            connect; 666 lets every user connect)
  --socket-group GROUP      group of the socket file, a name or a number
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
${NETWORK_HELP}  --http HOST:PORT          serve GET /metrics (Prometheus), /healthz and the
                            console on HTTP at HOST:PORT (e.g. 127.0.0.1:8080)
  --log-level LEVEL         error, warn, info or debug (default info): one line
                            per event on stderr, with the time and the level;
                            info says when kbusd starts and stops, debug adds
                            every request and the devices' verbose messages
  --verbose                 the same as --log-level debug
  -h, --help                show this help
  -V, --version             show the version
${CLUSTER_HELP}
BYTES is a whole number of bytes, or one with a suffix K, M or G (or KiB, MiB,
GiB), powers of 1024: 64M is 64 MiB.

Examples:
  kbusd                                 serve device 0 on the default socket
  kbusd --listen tcp://127.0.0.1:7080   and on TCP, on this machine only
  kbusd --listen tls://0.0.0.0:7443 --tls-cert c.pem --tls-key k.pem --policy kbus.policy
  kbusd --socket /run/kbus/kbus.sock --socket-mode 660 --socket-group kbus --devices 4

Exit codes: 0 after a clean stop (SIGTERM, SIGINT); 64 for a bad command line;
a KBUS error exits with its error number; 1 for another failure.
`;

/** A bad command line: exit 64. */
function fail(message: string): never {
  process.stderr.write(`kbusd: ${message}\nTry 'kbusd --help'.\n`);
  process.exit(ExitCode.USAGE);
}

/** A failure at run time: exit with the errno of a KBUS error, else 1. */
function die(message: string, err?: unknown): never {
  process.stderr.write(`kbusd: ${message}\n`);
  process.exit(err instanceof KbusError ? err.errno : ExitCode.FAILURE);
}

/** The package's version, from its package.json (dist/src/daemon/ is three levels down). */
function version(): string {
  const url = new URL('../../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}

/** A socket mode: one to three octal digits, optionally after a 0 (600, 0660). */
function octalMode(text: string | undefined): number {
  if (text === undefined) return 0o600;
  if (!/^0?[0-7]{1,3}$/.test(text))
    fail(`--socket-mode takes an octal mode such as 600 or 660, not '${text}'`);
  return Number.parseInt(text, 8);
}

/** A group id from a number or a name (looked up with getent, so NSS groups count). */
function groupId(text: string): number {
  if (/^\d+$/.test(text)) return Number(text);
  let line = '';
  try {
    line = execFileSync('getent', ['group', text], { encoding: 'utf8' });
  } catch {
    // No getent, or no such group: look in /etc/group.
    const found = readFileSync('/etc/group', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${text}:`));
    line = found ?? '';
  }
  const gid = Number(line.split(':')[2]);
  if (line === '' || !Number.isSafeInteger(gid)) fail(`--socket-group: no group named '${text}'`);
  return gid;
}

function integer(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number.parseInt(text, 10);
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
  if (values.version) {
    process.stdout.write(`kbusd ${version()}\n`);
    return;
  }
  if (values['hash-token']) {
    const { token, hash } = newToken();
    process.stdout.write(
      `token: ${token}\npolicy line: user NAME token sha256:${hash}\n(give the token to the client; keep only the hash in the policy)\n`,
    );
    return;
  }
  const levelText = values['log-level'] ?? 'info';
  if (!isLogLevel(levelText))
    fail(`--log-level takes ${LOG_LEVELS.join(', ')}, not '${levelText}'`);
  const level: LogLevel = values.verbose ? 'debug' : levelText;
  const log = createLogger(level);
  // Per-request detail only at debug: without it connections get no log callback at all.
  const verbose = log.enabled('debug');
  const socketMode = octalMode(values['socket-mode']);
  const gid = values['socket-group'] === undefined ? undefined : groupId(values['socket-group']);
  const devices = integer('devices', values.devices, 1);
  if (devices < 1 || devices > 256) fail(`--devices takes 1 to 256, not ${devices}`);
  const net = networkOptions(values, fail, integer, bytes);
  const { policyFile, loadPolicy } = net;
  const unixPath = net.unixPath;
  const location = unixPath === undefined ? defaultSocketLocation() : { path: unixPath };
  let cluster: ReturnType<typeof clusterOptions>;
  try {
    cluster = clusterOptions(values);
  } catch (err) {
    fail((err as Error).message);
  }
  let agent: ClusterAgent | undefined;
  let daemon: Daemon;
  try {
    daemon = new Daemon({
      socketPath: location.path,
      socketMode,
      devices,
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
      http: values.http,
      // The engine logs only for devices in verbose mode, which a client may
      // turn on (VERBOSE) at any level: those lines are asked for, so written.
      log: (line) => log.write('debug', line),
      notice: (line) => log.info(line),
      listen: net.listen,
      tls: net.tls,
      insecure: values.insecure ?? false,
      policy: net.policy,
      maxConnections: net.maxConnections,
      limits: net.limits,
      bindReplier: cluster && ((ksock, name) => agent!.bindReplier(ksock, name)),
    });
  } catch (err) {
    fail((err as Error).message);
  }
  if (cluster) {
    try {
      agent = await ClusterAgent.start(daemon.engine, {
        ...cluster,
        log: (line) => log.info(line),
        onFatal: (why) => die(why, new KbusError('EADDRINUSE')),
      });
    } catch (err) {
      const code = err instanceof ClusterError && err.code === 'KBUS_CLUSTER_BUS_ID_LIVE';
      die((err as Error).message, code ? new KbusError('EADDRINUSE') : err);
    }
    log.info(`joined the cluster at ${cluster.servers.join(',')} as bus ${cluster.busId}`);
    const joined = agent;
    if (joined !== undefined) daemon.clusterView = () => joined.view();
  }
  try {
    if (location.privateDir !== undefined) makePrivateDir(location.privateDir);
  } catch (err) {
    die((err as Error).message, err);
  }
  try {
    await daemon.start();
  } catch (err) {
    if (err instanceof DaemonError) die(err.message);
    die(`cannot listen on ${daemon.socketPath}: ${(err as Error).message}`, err);
  }
  if (gid !== undefined) {
    try {
      await chown(daemon.socketPath, -1, gid);
    } catch (err) {
      await daemon.close();
      die(
        `cannot give ${daemon.socketPath} group ${values['socket-group']}: ${(err as Error).message}`,
      );
    }
  }
  for (const address of daemon.addresses().slice(1)) log.info(`listening on ${address}`);
  const http = daemon.httpAddress;
  if (http !== undefined) {
    const host = http.host.includes(':') ? `[${http.host}]` : http.host;
    log.info(`metrics and console on http://${host}:${http.port}/`);
  }
  const count = daemon.engine.deviceCount;
  const group = gid === undefined ? '' : `, group ${values['socket-group']}`;
  log.info(
    `serving ${count} device${count === 1 ? '' : 's'} on ${daemon.socketPath} (mode ${socketMode.toString(8)}${group})`,
  );
  await notifyReady(log.warn);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: stopping`);
    void (agent?.close() ?? Promise.resolve())
      .then(() => daemon.close())
      .then(() => {
        log.info('stopped');
        process.exit(0);
      });
  };
  // SIGHUP rereads the policy: new operations follow it, connections stay.
  process.on('SIGHUP', () => {
    if (policyFile === undefined) {
      log.info('SIGHUP: no --policy to reread');
      return;
    }
    try {
      daemon.gateway.setPolicy(loadPolicy());
      log.info(`SIGHUP: policy ${policyFile} reread`);
    } catch (err) {
      log.error(`SIGHUP: policy not changed: ${(err as Error).message}`);
    }
  });
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
      'socket-group': { type: 'string' },
      devices: { type: 'string' },
      'max-messages': { type: 'string' },
      'max-unsent-unbind': { type: 'string' },
      'max-message-size': { type: 'string' },
      'max-queue-bytes': { type: 'string' },
      'max-total-queue-bytes': { type: 'string' },
      'log-level': { type: 'string' },
      listen: { type: 'string', multiple: true },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-ca': { type: 'string' },
      insecure: { type: 'boolean' },
      policy: { type: 'string' },
      'hash-token': { type: 'boolean' },
      'open-timeout': { type: 'string' },
      'frame-timeout': { type: 'string' },
      'max-connections': { type: 'string' },
      'max-connections-per-identity': { type: 'string' },
      'max-ksocks-per-identity': { type: 'string' },
      'max-identity-queue-bytes': { type: 'string' },
      http: { type: 'string' },
      verbose: { type: 'boolean' },
      ...CLUSTER_ARGS,
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'V' },
    },
  });
}
