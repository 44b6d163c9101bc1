/**
 * `kbus`: talk to a KBUS daemon from a shell.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { defaultSocketLocation } from '../protocol/socket-path.js';
import { registerCapture } from './commands/capture.js';
import { registerCluster } from './commands/cluster.js';
import { registerDevice } from './commands/device.js';
import { registerErrno } from './commands/errno.js';
import { normaliseLimpetArgs, registerLimpet } from './commands/limpet.js';
import { registerListen } from './commands/listen.js';
import { registerProc } from './commands/proc.js';
import { registerReply } from './commands/reply.js';
import { registerRequest } from './commands/request.js';
import { registerRun } from './commands/run.js';
import { registerSend } from './commands/send.js';
import { registerSpeed } from './commands/speed.js';
import { registerTop } from './commands/top.js';
import {
  CliError,
  CliErrorCode,
  colours,
  describeError,
  ExitCode,
  type GlobalOptions,
  parseInteger,
} from './common.js';

/** The package's version, read from package.json when asked (dist/src/cli -> the package root). */
export function packageVersion(): string {
  const text = readFileSync(new URL('../../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/** Commander's own messages ("error: unknown option ...") take the same prefix as ours. */
function writeError(text: string, write: (text: string) => void): void {
  const c = colours(process.stderr);
  write(text.replace(/^error: /, `${c.error('kbus:')} `));
}

export function buildProgram(): Command {
  const program = new Command('kbus');
  program
    .description('Talk to a KBUS daemon (kbusd): send, request, listen, reply, inspect.')
    .addOption(
      new Option(
        '-S, --socket <path>',
        `the daemon's socket (default: $KBUS_SOCKET, now ${defaultSocketLocation().path})`,
      ),
    )
    .option(
      '-U, --url <url>',
      "the daemon's address as a URL: tcp://HOST:PORT, tls://, ws://HOST:PORT/PATH, wss://, unix:PATH (default: $KBUS_URL)",
    )
    .option('--token <token>', 'a token for a daemon with an access policy (default: $KBUS_TOKEN)')
    .option('--ca <file>', 'a CA certificate (PEM) to trust for tls:// and wss://')
    .option('-d, --device <n>', 'device number', '0')
    .option('--json', 'print JSON (one object per line) instead of text')
    .option('-V, --version', 'print the version of kbus')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Exit codes: 0 on success; a KBUS error exits with its error number (e.g. 99,
EADDRNOTAVAIL, for a request nobody replies to; see 'kbus errno 99'); 64 for
a bad command line; 110 when a --timeout runs out; 1 otherwise.

Examples:
  kbus listen '$.Sensors.*'
  kbus send '$.Sensors.Kitchen.Door' open
  kbus reply '$.Service.Echo' -- cat
  kbus request '$.Service.Echo' hello
  kbus stats
  kbus run -- ./program-for-dev-kbus`,
    );
  const globals = (): GlobalOptions => {
    const o = program.opts<{
      socket?: string;
      url?: string;
      token?: string;
      ca?: string;
      device: string;
      json?: boolean;
    }>();
    return {
      socket: o.socket,
      url: o.url,
      token: o.token,
      ca: o.ca,
      device: parseInteger(o.device, '--device', 0, 255),
      json: o.json,
    };
  };
  registerSend(program, globals);
  registerRequest(program, globals);
  registerListen(program, globals);
  registerReply(program, globals);
  registerProc(program, globals);
  registerTop(program, globals);
  registerDevice(program, globals);
  registerErrno(program, globals);
  registerSpeed(program, globals);
  registerLimpet(program, globals);
  registerRun(program, globals);
  registerCapture(program, globals);
  registerCluster(program, globals);
  program.on('option:version', () => {
    process.stdout.write(`kbus ${packageVersion()}\n`);
    throw new CommanderError(0, 'kbus.version', '');
  });
  for (const command of [program, ...program.commands]) {
    command.exitOverride();
    command.configureOutput({ outputError: writeError });
    // Every subcommand's --help lists the global options too.
    command.configureHelp({ showGlobalOptions: true });
    command.showHelpAfterError('(run with --help for usage)');
  }
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    // Commander answers `help nonsense` with the whole help and exit 1.
    if (
      argv[0] === 'help' &&
      argv[1] !== undefined &&
      !program.commands.some((c) => c.name() === argv[1])
    ) {
      throw new CliError(
        CliErrorCode.USAGE,
        `unknown command '${argv[1]}' (run kbus --help for the list)`,
      );
    }
    await program.parseAsync(normaliseLimpetArgs(argv), { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors have been printed by commander.
      process.exitCode = err.exitCode === 0 ? 0 : ExitCode.USAGE;
      return;
    }
    const { text, exitCode } = describeError(err);
    process.stderr.write(`${colours(process.stderr).error('kbus:')} ${text}\n`);
    process.exitCode = exitCode;
  }
}
