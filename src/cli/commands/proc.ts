import type { Command } from 'commander';
import { CliError, CliErrorCode, type GlobalOptions, openKsock } from '../common.js';
import { interruptSignal } from './listen.js';

async function showRepeatedly(read: () => Promise<string>, intervalSeconds: number): Promise<void> {
  const tty = process.stdout.isTTY === true;
  const interrupt = interruptSignal();
  try {
    while (!interrupt.signal.aborted) {
      const text = await read();
      // On a terminal, redraw in place; into a pipe, one snapshot after another.
      process.stdout.write(tty ? `\x1b[H\x1b[2J${text}` : `${text}\n`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalSeconds * 1000);
        interrupt.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  } finally {
    interrupt.dispose();
  }
}

export function registerProc(program: Command, globals: () => GlobalOptions): void {
  program
    .command('bindings')
    .description('every binding on every device (the text of /proc/kbus/bindings)')
    .addHelpText(
      'after',
      `
Each line: device, Ksock id, the pid that opened it, R (replier) or L
(listener), and the name. Examples:
  kbus bindings
  kbus bindings | grep ' R '`,
    )
    .action(async () => {
      const ksock = await openKsock(globals(), 'r');
      try {
        process.stdout.write(await ksock.bindings());
      } finally {
        await ksock.close();
      }
    });

  program
    .command('stats')
    .description('statistics of every device and Ksock (the text of /proc/kbus/stats)')
    .option('-w, --watch', 'refresh until interrupted')
    .option('-i, --interval <seconds>', 'refresh interval with --watch', '1')
    .addHelpText(
      'after',
      `
The Ksock running this command is listed too. Examples:
  kbus stats
  kbus stats --watch --interval 0.5`,
    )
    .action(async (options: { watch?: boolean; interval: string }) => {
      const interval = Number(options.interval);
      if (!(interval > 0))
        throw new CliError(CliErrorCode.USAGE, '--interval takes a number of seconds above 0');
      const ksock = await openKsock(globals(), 'r');
      try {
        if (options.watch) await showRepeatedly(() => ksock.stats(), interval);
        else process.stdout.write(await ksock.stats());
      } finally {
        await ksock.close();
      }
    });
}
