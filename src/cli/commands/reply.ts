import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { KbusMessage } from '../../client/index.js';
import { formatId, isKbusError } from '../../wire/index.js';
import {
  CliError,
  CliErrorCode,
  checkName,
  colours,
  describeKsock,
  type GlobalOptions,
  openKsock,
  parseInteger,
} from '../common.js';
import { interruptSignal } from './listen.js';

/** Is `program` something we can run (a path, or a name found on PATH)? */
async function runnable(program: string): Promise<boolean> {
  if (program === '') return false;
  const candidates = program.includes('/')
    ? [program]
    : (process.env.PATH ?? '')
        .split(':')
        .filter(Boolean)
        .map((dir) => join(dir, program));
  for (const candidate of candidates) {
    // A directory is "executable" (searchable) too, but cannot be run.
    const file = await stat(candidate).then(
      (st) => st.isFile(),
      () => false,
    );
    if (
      file &&
      (await access(candidate, constants.X_OK).then(
        () => true,
        () => false,
      ))
    )
      return true;
  }
  return false;
}

/** Runs `command` with `input` on stdin; resolves with its stdout. */
function run(
  command: string[],
  input: Uint8Array,
  env: NodeJS.ProcessEnv,
): Promise<{ stdout: Buffer; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), { env, stdio: ['pipe', 'pipe', 'inherit'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout: Buffer.concat(out), code }));
    child.stdin.on('error', () => {}); // a command that ignores its input
    child.stdin.end(input);
  });
}

export function registerReply(program: Command, globals: () => GlobalOptions): void {
  program
    .command('reply')
    .description("bind as replier and answer each request with a command's output")
    .argument('<name>', "the name to reply for (wildcards allowed), e.g. '$.Service.Echo'")
    .argument('<command...>', 'the command, after --; it gets the request data on stdin')
    .option('-n, --count <n>', 'stop after answering this many requests')
    .addHelpText(
      'after',
      `
For each request, COMMAND runs with the request's data on its standard input
and its standard output becomes the reply's data. It also gets KBUS_NAME,
KBUS_ID ({n,s}) and KBUS_FROM (the requester's Ksock id) in its environment.
Requests are answered one at a time. Stops on Ctrl-C or after --count.

Examples:
  kbus reply '$.Service.Echo' -- cat
  kbus reply '$.Service.Upper' -- tr a-z A-Z
  kbus reply --count 1 '$.Clock.Now' -- date -u`,
    )
    .action(async (name: string, command: string[], options: { count?: string }) => {
      const g = globals();
      checkName(name, 'bind');
      if (command.length === 0)
        throw new CliError(CliErrorCode.USAGE, 'give the command to run after --');
      const count =
        options.count === undefined ? Infinity : parseInteger(options.count, '--count', 1);
      // Say so now rather than after taking a request that cannot be answered.
      if (!(await runnable(command[0]!))) {
        throw new CliError(
          CliErrorCode.USAGE,
          `cannot run '${command[0]}': not found or not executable`,
        );
      }
      const c = colours(process.stderr);
      const ksock = await openKsock(g);
      const interrupt = interruptSignal();
      try {
        await ksock.bind(name, { replier: true });
        await describeKsock(ksock, { kind: 'kbus reply', name, command: command.join(' ') });
        if (process.stderr.isTTY) {
          process.stderr.write(
            c.dim(`replying to ${name} as Ksock ${ksock.id} with '${command.join(' ')}'\n`),
          );
        }
        let answered = 0;
        for await (const message of ksock.messages({ signal: interrupt.signal })) {
          if (!isOurRequest(message)) continue;
          const env = {
            ...process.env,
            KBUS_NAME: message.name,
            KBUS_ID: formatId(message.id),
            KBUS_FROM: String(message.from),
          };
          const { stdout, code } = await run(command, message.data, env);
          if (code !== 0)
            process.stderr.write(
              c.error(`kbus reply: '${command[0]}' exited ${code} for ${formatId(message.id)}\n`),
            );
          try {
            await ksock.replyTo(message, stdout);
          } catch (err) {
            // The requester went away (or was answered already): the others still count.
            if (!isKbusError(err, 'EADDRNOTAVAIL') && !isKbusError(err, 'ECONNREFUSED')) throw err;
            process.stderr.write(
              c.error(`kbus reply: could not answer ${formatId(message.id)}: ${err.code}\n`),
            );
          }
          if (++answered >= count) break;
        }
        if (answered < count && !interrupt.signal.aborted) {
          throw new CliError(CliErrorCode.DAEMON_GONE, 'the connection to kbusd closed');
        }
      } finally {
        interrupt.dispose();
        await ksock.close();
      }
    });
}

function isOurRequest(message: KbusMessage): boolean {
  return message.kind === 'request' && message.wantsYouToReply;
}
