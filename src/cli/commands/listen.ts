import type { Command } from 'commander';
import {
  CliError,
  CliErrorCode,
  checkName,
  colours,
  describeKsock,
  type GlobalOptions,
  openKsock,
  outputClosed,
  parseInteger,
} from '../common.js';
import { messageJson, messageLine } from '../format.js';

/** Aborts on SIGINT / SIGTERM, or when standard output's reader has gone. */
export function interruptSignal(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  outputClosed.signal.addEventListener('abort', stop, { once: true });
  if (outputClosed.signal.aborted) stop();
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      outputClosed.signal.removeEventListener('abort', stop);
    },
  };
}

export function registerListen(program: Command, globals: () => GlobalOptions): void {
  program
    .command('listen')
    .description('bind to names (wildcards allowed) and print messages as they arrive')
    .argument('<names...>', "names to bind to, e.g. '$.Sensors.*'")
    .option(
      '-r, --replier',
      'bind as replier (you will be sent the requests; nothing replies to them)',
    )
    .option('-n, --count <n>', 'stop after this many messages')
    .addHelpText(
      'after',
      `
Each message is one line: kind, id, name, from, to, in-reply-to, flags, data
(as text when printable, else hex); with --json, one JSON object per line.
Stops on Ctrl-C (exit 0) or after --count messages.

Examples:
  kbus listen '$.Sensors.*'
  kbus listen --count 1 --json '$.Sensors.Kitchen.Door'
  kbus listen '$.Jobs.%' '$.Alarm'`,
    )
    .action(async (names: string[], options: { replier?: boolean; count?: string }) => {
      const g = globals();
      for (const name of names) checkName(name, 'bind');
      const count =
        options.count === undefined ? Infinity : parseInteger(options.count, '--count', 1);
      const c = colours();
      const ksock = await openKsock(g, options.replier ? 'rw' : 'r');
      const interrupt = interruptSignal();
      try {
        for (const name of names) await ksock.bind(name, { replier: options.replier ?? false });
        await describeKsock(ksock, { kind: 'kbus listen', names: names.join(' ') });
        if (!g.json && process.stderr.isTTY) {
          process.stderr.write(
            c.dim(`listening to ${names.join(', ')} as Ksock ${ksock.id} (Ctrl-C to stop)\n`),
          );
        }
        let seen = 0;
        for await (const message of ksock.messages({ signal: interrupt.signal })) {
          if (interrupt.signal.aborted) break;
          process.stdout.write(`${g.json ? messageJson(message) : messageLine(message, c)}\n`);
          if (++seen >= count) break;
        }
        // The loop also ends when kbusd goes away: say so, unlike a Ctrl-C.
        if (seen < count && !interrupt.signal.aborted) {
          throw new CliError(CliErrorCode.DAEMON_GONE, 'the connection to kbusd closed');
        }
      } finally {
        interrupt.dispose();
        await ksock.close();
      }
    });
}
