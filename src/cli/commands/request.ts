import type { Command } from 'commander';
import { Flags } from '../../wire/index.js';
import {
  CliError,
  CliErrorCode,
  checkName,
  colours,
  ExitCode,
  type GlobalOptions,
  messageData,
  openKsock,
  parseInteger,
  parseSeconds,
} from '../common.js';
import { messageJson, messageLine } from '../format.js';
import { addDataOptions, sendFlags } from './send.js';

export function registerRequest(program: Command, globals: () => GlobalOptions): void {
  addDataOptions(
    program
      .command('request')
      .description('send a request and print the reply (or the status message KBUS sends instead)')
      .argument('<name>', 'message name')
      .argument('[data]', 'request data (default: standard input when it is not a terminal)')
      .option('--to <ksock>', 'stateful request: only this replier may answer (EPIPE otherwise)')
      .option(
        '--final-to <network:ksock>',
        "stateful request across Limpets: the replier's network id and Ksock (a reply's orig_from)",
      )
      .option('-t, --timeout <seconds>', 'give up after this long (exit 110)'),
  )
    .addHelpText(
      'after',
      `
The reply is printed like 'kbus listen' prints messages. The exit code is 0 for
a reply, 1 for a status message ($.KBUS.Replier.GoneAway and so on).

Examples:
  kbus request '$.Sensors.Kitchen.Temperature'
  kbus request --timeout 2 --json '$.Service.Echo' hello
  kbus request --to 7 '$.Session.Next'`,
    )
    .action(
      async (name: string, data: string | undefined, options: Record<string, string | boolean>) => {
        const g = globals();
        checkName(name, 'send');
        const timeout =
          options.timeout === undefined
            ? undefined
            : parseSeconds(String(options.timeout), '--timeout') * 1000;
        const bytes = await messageData(data, options);
        const flags = sendFlags(options);
        if (flags & Flags.ALL_OR_WAIT)
          throw new CliError(CliErrorCode.USAGE, '--all-or-wait is not supported for requests');
        const to = options.to === undefined ? undefined : parseInteger(String(options.to), '--to');
        let finalTo: { networkId: number; localId: number } | undefined;
        if (options.finalTo !== undefined) {
          const [network, ksock, ...rest] = String(options.finalTo).split(':');
          if (network === undefined || ksock === undefined || rest.length > 0) {
            throw new CliError(CliErrorCode.USAGE, '--final-to takes NETWORK:KSOCK, e.g. 2:4');
          }
          finalTo = {
            networkId: parseInteger(network, '--final-to'),
            localId: parseInteger(ksock, '--final-to'),
          };
        }
        const ksock = await openKsock(g);
        try {
          const reply = await ksock.request(name, bytes, { to, finalTo, flags, timeout });
          process.stdout.write(`${g.json ? messageJson(reply) : messageLine(reply, colours())}\n`);
          if (reply.kind === 'status') process.exitCode = ExitCode.FAILURE;
        } finally {
          await ksock.close();
        }
      },
    );
}
