import type { Command } from 'commander';
import { connectBusInfo, type GlobalOptions, parseSeconds } from '../common.js';
import { parseBindings, parseStats } from '../proc-parse.js';
import { interruptSignal } from './listen.js';

/** `kbus --json bindings`: one JSON object per binding, one per line. */
export function bindingsJson(text: string): string {
  return parseBindings(text)
    .map((binding) => `${JSON.stringify(binding)}\n`)
    .join('');
}

/** `kbus --json stats`: one JSON object per snapshot, `{"devices":[...]}`, on one line. */
export function statsJson(text: string): string {
  return `${JSON.stringify({ devices: parseStats(text) })}\n`;
}

/** Waits `ms`, or less if `signal` is aborted first; leaves no listener behind. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

async function showRepeatedly(
  read: () => Promise<string>,
  intervalSeconds: number,
  json: boolean,
): Promise<void> {
  // On a terminal, redraw in place; into a pipe (or as JSON), one snapshot after another.
  const redraw = process.stdout.isTTY === true && !json;
  const interrupt = interruptSignal();
  try {
    while (!interrupt.signal.aborted) {
      const text = await read();
      process.stdout.write(redraw ? `\x1b[H\x1b[2J${text}` : json ? text : `${text}\n`);
      await pause(intervalSeconds * 1000, interrupt.signal);
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
  kbus bindings | grep ' R '
  kbus --json bindings        (one object per binding, one per line)`,
    )
    .action(async () => {
      const g = globals();
      const bus = await connectBusInfo(g);
      try {
        const text = await bus.bindings();
        process.stdout.write(g.json ? bindingsJson(text) : text);
      } finally {
        await bus.close();
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
  kbus stats --watch --interval 0.5
  kbus --json stats           (one line per snapshot: {"devices":[...]})`,
    )
    .action(async (options: { watch?: boolean; interval: string }) => {
      const interval = parseSeconds(options.interval, '--interval');
      const g = globals();
      const bus = await connectBusInfo(g);
      const read = async () => {
        const text = await bus.stats();
        return g.json ? statsJson(text) : text;
      };
      try {
        if (options.watch) await showRepeatedly(read, interval, g.json === true);
        else process.stdout.write(await read());
      } finally {
        await bus.close();
      }
    });
}
