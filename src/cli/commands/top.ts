import type { Command } from 'commander';
import pc from 'picocolors';
import { clusterStatus, type ReplierStatus } from '../../cluster/status.js';
import {
  CliError,
  CliErrorCode,
  connectBusInfo,
  type GlobalOptions,
  parseSeconds,
  socketPath,
} from '../common.js';
import { type BindingRecord, type DeviceStats, parseBindings, parseStats } from '../proc-parse.js';

const ENTER = '\x1b[?1049h\x1b[?25l';
const LEAVE = '\x1b[?25h\x1b[?1049l';
const HOME_CLEAR = '\x1b[H\x1b[2J';

function bar(filled: number, of: number, width: number): string {
  const n = of === 0 ? 0 : Math.min(width, Math.round((filled / of) * width));
  const text = '#'.repeat(n) + '-'.repeat(width - n);
  const ratio = of === 0 ? 0 : filled / of;
  return ratio >= 0.9 ? pc.red(text) : ratio >= 0.5 ? pc.yellow(text) : pc.green(text);
}

/** One table row: the heading and the Ksock rows share these widths. */
function row(
  id: string,
  pid: string,
  queue: string,
  unreplied: string,
  awaiting: string,
  names: string,
): string {
  return `  ${id.padStart(5)} ${pid.padStart(8)}  ${queue}  ${unreplied.padStart(9)}  ${awaiting.padStart(8)}  ${names}`;
}

/**
 * A binding as top shows it. In cluster mode a replier binding whose registry
 * entry names another Ksock is the cluster agent's proxy (docs/cluster.md
 * section 2): shown with the bus and Ksock that really hold the name.
 */
function bindingText(b: BindingRecord, remote: readonly ReplierStatus[]): string {
  if (!b.replier) return `L ${b.name}`;
  const owner = remote.find((r) => r.device === b.device && r.name === b.name);
  return owner === undefined || owner.ksock === b.ksock
    ? `R ${b.name}`
    : `R ${b.name} (bus ${owner.bus} Ksock ${owner.ksock})`;
}

/**
 * One screen of `kbus top`. `rates` is messages per second per device;
 * `remote` the cluster's replier registry (empty when not asked for).
 */
export function drawTop(
  devices: DeviceStats[],
  bindings: BindingRecord[],
  rates: Map<number, number>,
  header: string,
  width: number,
  height: number,
  remote: readonly ReplierStatus[] = [],
): string {
  const lines: string[] = [pc.bold(header), ''];
  for (const device of devices) {
    const rate = rates.get(device.index);
    lines.push(
      pc.bold(`device ${device.index}`) +
        `  ${device.ksocks.length} Ksocks  ${rate === undefined ? '-' : Math.round(rate).toLocaleString('en')} msg/s` +
        `  next msg ${device.nextMessage}  unsent unbind events ${device.unsentUnbindings}${device.tragic ? ' (gone tragic)' : ''}`,
    );
    lines.push(
      pc.dim(row('KSOCK', 'PID', 'QUEUE'.padEnd(20), 'UNREPLIED', 'AWAITING', 'BINDINGS')),
    );
    for (const k of device.ksocks) {
      const mine = bindings.filter((b) => b.device === device.index && b.ksock === k.id);
      const pid = mine[0]?.pid;
      const names = mine.map((b) => bindingText(b, remote)).join(', ');
      const queue = `${bar(k.queued, k.maxMessages, 10)} ${`${k.queued}/${k.maxMessages}`.padEnd(9)}`;
      lines.push(
        row(
          String(k.id),
          String(pid ?? ''),
          queue,
          String(k.unreplied),
          String(k.outstanding),
          names,
        ) + (k.sending ? pc.yellow(' sending') : ''),
      );
    }
    lines.push('');
  }
  // Keep within the terminal: cut long lines and drop what does not fit.
  const visible = lines.slice(0, Math.max(1, height - 1));
  return visible.map((line) => cut(line, width)).join('\n');
}

/** Cuts a line with colour codes to `width` visible characters. */
function cut(line: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\x1b') {
      const end = line.indexOf('m', i);
      out += line.slice(i, end + 1);
      i = end;
      continue;
    }
    if (visible >= width) continue;
    out += line[i];
    visible++;
  }
  return out;
}

export function registerTop(program: Command, globals: () => GlobalOptions): void {
  program
    .command('top')
    .description('a live view of every device: Ksocks, bindings, queues, messages per second')
    .option('-i, --interval <seconds>', 'refresh interval', '1')
    .option(
      '--cluster <urls>',
      "in cluster mode, the NATS servers: the agent's proxy repliers then show the bus holding each name",
    )
    .addHelpText(
      'after',
      `
Needs a terminal. Quit with q (or Ctrl-C). For scripts, use 'kbus stats'.

QUEUE is each Ksock's queue against its limit, UNREPLIED the requests it has
read and not answered, AWAITING the replies it waits for.

Examples:
  kbus top
  kbus top --interval 0.5 --socket /run/kbus.sock`,
    )
    .action(async (options: { interval: string; cluster?: string }) => {
      const g = globals();
      const interval = parseSeconds(options.interval, '--interval');
      if (!process.stdout.isTTY || !process.stdin.isTTY) {
        throw new CliError(
          CliErrorCode.USAGE,
          "kbus top needs a terminal; in a script, use 'kbus stats'",
        );
      }
      const bus = await connectBusInfo(g);
      const out = process.stdout;
      const stdin = process.stdin;
      let timer: NodeJS.Timeout | undefined;
      let finish: () => void = () => {};
      const done = new Promise<void>((resolve) => {
        finish = resolve;
      });
      const onKey = (key: Buffer) => {
        const k = key.toString();
        if (k === 'q' || k === 'Q' || k === '\x03') finish();
      };
      stdin.setRawMode(true);
      stdin.resume();
      stdin.on('data', onKey);
      out.write(ENTER);
      const previous = new Map<number, { serial: number; at: number }>();
      const draw = async () => {
        const [statsText, bindingsText, remote] = await Promise.all([
          bus.stats(),
          bus.bindings(),
          options.cluster === undefined
            ? []
            : clusterStatus(options.cluster.split(','), 0).then(
                (status) => status.repliers,
                () => [], // NATS unreachable for now: shown without owners
              ),
        ]);
        const now = performance.now();
        const devices = parseStats(statsText);
        const rates = new Map<number, number>();
        for (const device of devices) {
          const before = previous.get(device.index);
          if (before)
            rates.set(
              device.index,
              ((device.nextMessage - before.serial) >>> 0) / ((now - before.at) / 1000),
            );
          previous.set(device.index, { serial: device.nextMessage, at: now });
        }
        const header = `kbus top: ${socketPath(g)}   ${new Date().toLocaleTimeString('en-GB')}   q to quit`;
        out.write(
          HOME_CLEAR +
            drawTop(
              devices,
              parseBindings(bindingsText),
              rates,
              header,
              out.columns ?? 80,
              out.rows ?? 24,
              remote,
            ),
        );
      };
      try {
        const tick = async () => {
          try {
            await draw();
          } catch {
            finish();
            return;
          }
          timer = setTimeout(() => void tick(), interval * 1000);
        };
        await tick();
        await done;
      } finally {
        if (timer) clearTimeout(timer);
        stdin.off('data', onKey);
        stdin.setRawMode(false);
        stdin.pause();
        out.write(LEAVE);
        await bus.close();
      }
    });
}
