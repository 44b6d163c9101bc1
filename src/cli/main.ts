/**
 * `kbus`: talk to a KBUS daemon from a shell.
 */
import { Command, CommanderError, Option } from 'commander';
import { defaultSocketPath } from '../protocol/socket-path.js';
import { registerErrno } from './commands/errno.js';
import { normaliseLimpetArgs, registerLimpet } from './commands/limpet.js';
import { registerListen } from './commands/listen.js';
import { registerProc } from './commands/proc.js';
import { registerReply } from './commands/reply.js';
import { registerRequest } from './commands/request.js';
import { registerSend } from './commands/send.js';
import { registerSpeed } from './commands/speed.js';
import { registerTop } from './commands/top.js';
import { colours, describeError, ExitCode, type GlobalOptions, parseInteger } from './common.js';

export function buildProgram(): Command {
  const program = new Command('kbus');
  program
    .description('Talk to a KBUS daemon (kbusd): send, request, listen, reply, inspect.')
    .addOption(
      new Option(
        '-S, --socket <path>',
        `the daemon's socket (default: $KBUS_SOCKET, now ${defaultSocketPath()})`,
      ),
    )
    .option('-d, --device <n>', 'device number', '0')
    .option('--json', 'print JSON (one object per line) instead of text')
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
  kbus stats`,
    );
  const globals = (): GlobalOptions => {
    const o = program.opts<{ socket?: string; device: string; json?: boolean }>();
    return { socket: o.socket, device: parseInteger(o.device, '--device', 0, 255), json: o.json };
  };
  registerSend(program, globals);
  registerRequest(program, globals);
  registerListen(program, globals);
  registerReply(program, globals);
  registerProc(program, globals);
  registerTop(program, globals);
  registerErrno(program, globals);
  registerSpeed(program, globals);
  registerLimpet(program, globals);
  program.exitOverride();
  for (const command of program.commands) command.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
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
