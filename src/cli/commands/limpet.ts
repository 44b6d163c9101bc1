import { Command, Option } from 'commander';
import {
  Limpet,
  LimpetError,
  LimpetErrorCode,
  type LimpetOptions,
  type LimpetResult,
  LimpetStop,
  LinkError,
  LinkErrorCode,
  parseLinkAddress,
} from '../../limpet/index.js';
import {
  CliError,
  CliErrorCode,
  checkName,
  ExitCode,
  type GlobalOptions,
  parseInteger,
  parseSeconds,
  restated,
  socketPath,
  systemReason,
  urlTarget,
} from '../common.js';

/** The original runlimpet spelled long switches with one dash: `-server -id 2 -kbus 0`. */
const ORIGINAL_SWITCHES = new Map([
  ['-server', '--server'],
  ['-client', '--client'],
  ['-id', '--id'],
  ['-kbus', '--kbus'],
  ['-message', '--message'],
  ['-verbose', '--verbosity'],
]);

/** Rewrites the original's single-dash switches after `limpet` into double-dash ones. */
export function normaliseLimpetArgs(argv: string[]): string[] {
  // The subcommand is the first word that is not a global option or its value.
  let at = 0;
  while (at < argv.length && argv[at]!.startsWith('-')) {
    at += ['-S', '--socket', '-U', '--url', '--token', '--ca', '-d', '--device'].includes(argv[at]!)
      ? 2
      : 1;
  }
  if (argv[at] !== 'limpet') return argv;
  return [
    ...argv.slice(0, at + 1),
    ...argv.slice(at + 1).map((arg) => ORIGINAL_SWITCHES.get(arg) ?? arg),
  ];
}

interface LimpetSwitches {
  server?: boolean;
  client?: boolean;
  id?: string;
  kbus?: string;
  message: string;
  termination?: string;
  verbosity: string;
  retry?: string;
  maxMessages: string;
  maxMessageSize: string;
  greetingTimeout: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
}

export function registerLimpet(program: Command, globals: () => GlobalOptions): void {
  const command = new Command('limpet')
    .description('link this bus to a peer Limpet on another bus (server or client role)')
    .argument('<address>', 'host:port for TCP, or a Unix socket path')
    .addOption(
      new Option('-s, --server', 'listen for the peer (start the server first)').conflicts(
        'client',
      ),
    )
    .addOption(new Option('-c, --client', 'connect to the peer'))
    .option('--id <n>', 'network id, at least 1 (default 1 for a client, 2 for a server)')
    .option('-k, --kbus <n>', 'device number on the daemon (default: --device, else 0)')
    .option('-m, --message <name>', 'listening filter', '$.*')
    .option('-t, --termination <name>', 'stop (exit 0) on reading a message of this name')
    .option('-v, --verbosity <n>', '0 quiet, 1 link and proxy events, 2 every message', '1')
    .option('--retry <seconds>', 'client: keep trying to reach the server this long')
    .option('--max-messages <n>', "the Limpet Ksock's queue limit", '10000')
    .option(
      '--max-message-size <bytes>',
      'largest message data accepted from the link',
      String(1024 * 1024),
    )
    .option('--greeting-timeout <seconds>', 'wait this long for the peer to greet', '10')
    .option('--tls-cert <file>', 'TCP: this side certificate (PEM), for mutual TLS')
    .option('--tls-key <file>', 'TCP: this side private key (PEM)')
    .option('--tls-ca <file>', 'TCP: the CA that signed the peer certificate (PEM)');
  program.addCommand(command);
  command
    .addHelpText(
      'after',
      `
The original's spellings work too: -server, -client, -id N, -kbus N, -message NAME,
-verbose N.
Buses and links must form a tree, and every Limpet needs its own network id.

Examples:
  kbus limpet -server -id 2 -kbus 0 0.0.0.0:5000        (on bus B, first)
  kbus limpet -client -id 1 -kbus 0 busb.example:5000   (on bus A)
  kbus limpet --server --id 2 /tmp/link.sock
  kbus limpet --client --retry 30 --tls-cert a.pem --tls-key a.key --tls-ca ca.pem b:5000`,
    )
    .action(async (address: string, o: LimpetSwitches) => {
      const g = globals();
      checkName(o.message, 'bind', '--message filter');
      if (o.termination !== undefined) checkName(o.termination, 'send', '--termination name');
      if (!o.server === !o.client)
        throw new CliError(CliErrorCode.USAGE, 'choose one role: --server (-s) or --client (-c)');
      const role = o.server ? 'server' : 'client';
      const tlsParts = [o.tlsCert, o.tlsKey, o.tlsCa];
      if (tlsParts.some((p) => p !== undefined) && tlsParts.some((p) => p === undefined)) {
        throw new CliError(
          CliErrorCode.USAGE,
          'mutual TLS needs all of --tls-cert, --tls-key and --tls-ca',
        );
      }
      let link: ReturnType<typeof parseLinkAddress>;
      try {
        link = parseLinkAddress(address);
      } catch (err) {
        throw startFailure(err, address);
      }
      if (o.tlsCert && link.kind !== 'tcp')
        throw new CliError(CliErrorCode.USAGE, 'TLS is for TCP links only');
      const controller = new AbortController();
      const verbosity = parseInteger(o.verbosity, '--verbosity', 0, 2);
      const log = (line: string) => process.stderr.write(`${line}\n`);
      const options: LimpetOptions = {
        role,
        address: link,
        networkId: o.id === undefined ? (role === 'server' ? 2 : 1) : parseInteger(o.id, '--id', 1),
        socket: socketPath(g),
        ...(await urlTarget(g).then((t) => t && { url: t.url, token: t.token, daemonTls: t.tls })),
        device: o.kbus === undefined ? g.device : parseInteger(o.kbus, '--kbus', 0, 255),
        filter: o.message,
        terminationName: o.termination,
        verbosity,
        retrySeconds: o.retry === undefined ? 0 : parseSeconds(o.retry, '--retry', -1),
        maxMessages: parseInteger(o.maxMessages, '--max-messages', 1),
        maxDataLength: parseInteger(o.maxMessageSize, '--max-message-size', 0, 2 ** 30),
        greetingTimeoutMs: parseSeconds(o.greetingTimeout, '--greeting-timeout') * 1000,
        tls: o.tlsCert ? { cert: o.tlsCert, key: o.tlsKey!, ca: o.tlsCa! } : undefined,
        log,
        signal: controller.signal,
      };
      const stop = () => controller.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        let limpet: Limpet;
        try {
          limpet = await Limpet.start(options);
        } catch (err) {
          // Stopped by a signal while still waiting for the peer: a clean stop.
          if (controller.signal.aborted) return;
          throw startFailure(err, address);
        }
        const code = exitCodeOf(await limpet.closed);
        if (verbosity >= 1) log(`limpet ${limpet.networkId}: link down (exit ${code})`);
        process.exitCode = code;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}

/** The exit code for how a Limpet stopped (limpet.md, "Stopping and exit codes"). */
export function exitCodeOf(result: LimpetResult): number {
  switch (result.reason) {
    case LimpetStop.TERMINATED:
    case LimpetStop.ABORTED:
    case LimpetStop.CLOSED:
      return ExitCode.OK;
    default:
      return ExitCode.FAILURE;
  }
}

/**
 * What `kbus` reports for a Limpet that could not start: a bad address or
 * option is a usage error (64); a failure of the system, of TLS or of the
 * daemon is reported as itself, so that it exits with its errno; any other
 * failure to make the link (the greeting, the peer's id, a path that
 * exists) exits 1.
 */
export function startFailure(err: unknown, where = 'the address'): unknown {
  if (!(err instanceof LinkError || err instanceof LimpetError)) return err;
  switch (err.code) {
    case LinkErrorCode.ADDRESS:
    case LimpetErrorCode.OPTIONS:
      return new CliError(CliErrorCode.USAGE, err.message, { cause: err });
    case LinkErrorCode.CONNECT: {
      // `host:name` is a path to a Unix socket: a TCP port is a number.
      const hint = /^[^/]+:\D[^/]*$/.test(where)
        ? ` (${where} is taken as a Unix socket path: give a TCP port as a number)`
        : '; start the server first, or give --retry SECONDS';
      return restated(
        err.cause ?? err,
        `cannot reach the Limpet server at ${where}: ${systemReason(err.cause ?? err)}${hint}`,
      );
    }
    case LinkErrorCode.LISTEN:
      return restated(
        err.cause ?? err,
        `cannot listen on ${where}: ${systemReason(err.cause ?? err)}`,
      );
    case LinkErrorCode.TLS_FILES:
      return restated(
        err.cause ?? err,
        (err.cause as NodeJS.ErrnoException | undefined)?.path
          ? `cannot read the TLS file ${(err.cause as NodeJS.ErrnoException).path}: ${systemReason(err.cause)}`
          : `cannot use the TLS files: ${err.message}`,
      );
    case LimpetErrorCode.DAEMON:
      return err.cause ?? err;
    default:
      return new CliError(CliErrorCode.FAILED, err.message, { cause: err });
  }
}
