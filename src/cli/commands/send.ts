import type { Command } from 'commander';
import { Flags } from '../../wire/index.js';
import {
  CliError,
  CliErrorCode,
  checkName,
  type GlobalOptions,
  messageData,
  openKsock,
  parseInteger,
} from '../common.js';

interface SendOptions {
  file?: string;
  hex?: boolean;
  urgent?: boolean;
  allOrFail?: boolean;
  allOrWait?: boolean;
  flags?: string;
}

/** Flags from the send switches (both ALL_OR_* together are refused, as KBUS does). */
export function sendFlags(options: SendOptions): number {
  if (options.allOrFail && options.allOrWait) {
    throw new CliError(
      CliErrorCode.USAGE,
      '--all-or-fail and --all-or-wait cannot be used together',
    );
  }
  let flags = options.flags === undefined ? 0 : parseInteger(options.flags, '--flags');
  if (options.urgent) flags |= Flags.URGENT;
  if (options.allOrFail) flags |= Flags.ALL_OR_FAIL;
  if (options.allOrWait) flags |= Flags.ALL_OR_WAIT;
  return flags >>> 0;
}

export function addDataOptions(command: Command): Command {
  return command
    .option('-f, --file <path>', "read the data from a file ('-' for standard input)")
    .option('-x, --hex', 'the data is hex (e.g. 0a1b2c)')
    .option('-u, --urgent', 'put the message at the front of each queue (URGENT)')
    .option('--all-or-fail', 'fail (EBUSY) unless every recipient has room (ALL_OR_FAIL)')
    .option('--all-or-wait', 'wait until every recipient has room (ALL_OR_WAIT)')
    .option('--flags <bits>', 'extra flag bits, e.g. 0x10000 (the top 16 bits are yours)');
}

export function registerSend(program: Command, globals: () => GlobalOptions): void {
  addDataOptions(
    program
      .command('send')
      .description('send an announcement and print its message id')
      .argument('<name>', 'message name, e.g. $.Sensors.Kitchen')
      .argument('[data]', 'message data (default: standard input when it is not a terminal)'),
  )
    .addHelpText(
      'after',
      `
Examples:
  kbus send '$.Sensors.Kitchen.Door' open
  echo 21.5 | kbus send '$.Sensors.Kitchen.Temperature'
  kbus send --hex '$.Raw.Frame' 0a0b0c0d
  kbus send --urgent --all-or-fail '$.Alarm' fire`,
    )
    .action(async (name: string, data: string | undefined, options: SendOptions) => {
      const g = globals();
      checkName(name, 'send');
      const bytes = await messageData(data, options);
      const flags = sendFlags(options);
      const ksock = await openKsock(g);
      try {
        let id: { networkId: number; serialNum: number };
        if (flags & Flags.ALL_OR_WAIT) {
          id = await sendWaiting(ksock, name, bytes, flags);
        } else {
          id = await ksock.send({ name, data: bytes, flags });
        }
        process.stdout.write(
          g.json ? `${JSON.stringify({ id })}\n` : `{${id.networkId},${id.serialNum}}\n`,
        );
      } finally {
        await ksock.close();
      }
    });
}

/** An ALL_OR_WAIT send: on EAGAIN, wait for the send to finish (POLLOUT) and report its id. */
async function sendWaiting(
  ksock: import('../../client/index.js').Ksock,
  name: string,
  data: Uint8Array | undefined,
  flags: number,
): Promise<{ networkId: number; serialNum: number }> {
  try {
    return await ksock.send({ name, data, flags });
  } catch (err) {
    if ((err as { code?: string }).code !== 'EAGAIN') throw err;
    const { Poll } = await import('../../wire/index.js');
    await ksock.waitReady(Poll.OUT);
    return ksock.lastSent();
  }
}
