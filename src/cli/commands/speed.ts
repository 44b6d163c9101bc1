import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import type { Ksock } from '../../client/index.js';
import {
  CliError,
  CliErrorCode,
  ExitCode,
  type GlobalOptions,
  openKsock,
  parseInteger,
} from '../common.js';

interface SpeedOptions {
  listeners: string;
  size: string;
  count: string;
  window: string;
}

export interface SpeedResult {
  sent: number;
  received: number;
  lost: number;
  seconds: number;
  messagesPerSecond: number;
  megabytesPerSecond: number;
  latencyMicros: { p50: number; p90: number; p99: number; max: number };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * A sender and `listeners` listeners on one name, through the daemon: the
 * sender keeps up to `window` sends in flight; each message carries its
 * send time, so listeners measure latency.
 */
export async function runSpeed(
  open: () => Promise<Ksock>,
  options: { listeners: number; size: number; count: number; window: number },
  onProgress: (received: number) => void = () => {},
): Promise<SpeedResult> {
  const name = `$.kbus.speed.${process.pid}.${Date.now()}`;
  const sender = await open();
  const listeners: Ksock[] = [];
  try {
    for (let i = 0; i < options.listeners; i++) {
      const listener = await open();
      await listener.bind(name);
      await listener.maxMessages(Math.max(100, options.count));
      listeners.push(listener);
    }
    const latencies = new Float64Array(options.count * options.listeners);
    let received = 0;
    const expected = options.count * options.listeners;
    const receiving = listeners.map(async (listener) => {
      let got = 0;
      for await (const m of listener.messages()) {
        const sentAt = new DataView(m.data.buffer, m.data.byteOffset, 8).getFloat64(0, true);
        latencies[received++] = (performance.now() - sentAt) * 1000;
        if (received % 1000 === 0) onProgress(received);
        if (++got >= options.count) break;
      }
    });
    const start = performance.now();
    const data = new Uint8Array(Math.max(8, options.size));
    const view = new DataView(data.buffer);
    let inFlight: Promise<unknown>[] = [];
    for (let i = 0; i < options.count; i++) {
      view.setFloat64(0, performance.now(), true);
      inFlight.push(sender.send({ name, data }));
      if (inFlight.length >= options.window) {
        await Promise.all(inFlight);
        inFlight = [];
      }
    }
    await Promise.all(inFlight);
    // A listener whose queue overflowed never reaches its count: stop waiting
    // for it after a while and report what was lost.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(receiving),
      new Promise((resolve) => {
        timer = setTimeout(resolve, 5000 + options.count / 10);
      }),
    ]);
    clearTimeout(timer);
    const seconds = (performance.now() - start) / 1000;
    onProgress(received);
    const sorted = latencies.subarray(0, received).sort();
    return {
      sent: options.count,
      received,
      lost: expected - received,
      seconds,
      messagesPerSecond: received / seconds,
      megabytesPerSecond: (received * data.length) / seconds / 1e6,
      latencyMicros: {
        p50: percentile(sorted, 50),
        p90: percentile(sorted, 90),
        p99: percentile(sorted, 99),
        max: sorted.length ? sorted[sorted.length - 1]! : 0,
      },
    };
  } finally {
    await Promise.all([sender, ...listeners].map((k) => k.close()));
  }
}

export function registerSpeed(program: Command, globals: () => GlobalOptions): void {
  program
    .command('speed')
    .description('a throughput test through the daemon: one sender, one or more listeners')
    .option('-l, --listeners <n>', 'listeners', '1')
    .option('-s, --size <bytes>', 'data bytes per message (at least 8: the send time)', '64')
    .option('-n, --count <n>', 'messages to send', '100000')
    .option('-w, --window <n>', 'sends in flight at once', '256')
    .addHelpText(
      'after',
      `
Prints messages/s and MB/s received (all listeners together) and the latency
from send to receipt (p50, p90, p99, max) in microseconds; --json for scripts.

Examples:
  kbus speed
  kbus speed --listeners 4 --count 200000
  kbus speed --size 65536 --count 2000`,
    )
    .action(async (options: SpeedOptions) => {
      const g = globals();
      const settings = {
        listeners: parseInteger(options.listeners, '--listeners', 1, 64),
        size: parseInteger(options.size, '--size', 8, 64 * 1024 * 1024),
        count: parseInteger(options.count, '--count', 1, 100_000_000),
        window: parseInteger(options.window, '--window', 1, 1_000_000),
      };
      if (settings.size < 8) throw new CliError(CliErrorCode.USAGE, '--size must be at least 8');
      const total = settings.count * settings.listeners;
      const bar = process.stderr.isTTY
        ? new cliProgress.SingleBar(
            {
              format: 'speed |{bar}| {percentage}% {value}/{total} messages  {eta_formatted} left',
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          )
        : undefined;
      bar?.start(total, 0);
      const result = await runSpeed(
        () => openKsock(g),
        settings,
        (n) => bar?.update(n),
      );
      bar?.stop();
      if (g.json) {
        process.stdout.write(`${JSON.stringify({ ...settings, ...result })}\n`);
      } else {
        const l = result.latencyMicros;
        const f = (n: number) => Math.round(n).toLocaleString('en');
        process.stdout.write(
          `kbus speed: one sender, ${settings.listeners} listener(s), ${f(settings.count)} announcements of ${settings.size} bytes through kbusd, ${settings.window} in flight: throughput at the listeners, latency from send to receipt.\n` +
            `${f(result.received)} of ${f(total)} messages received in ${result.seconds.toFixed(2)} s` +
            `${result.lost ? ` (${f(result.lost)} lost)` : ''}\n` +
            `${f(result.messagesPerSecond)} messages/s, ${result.megabytesPerSecond.toFixed(1)} MB/s\n` +
            `latency us: p50 ${f(l.p50)}, p90 ${f(l.p90)}, p99 ${f(l.p99)}, max ${f(l.max)}\n`,
        );
      }
      if (result.lost > 0) process.exitCode = ExitCode.FAILURE;
    });
}
