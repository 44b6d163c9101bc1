/**
 * kbus in a browser: announcements per second and request/reply p50 from a
 * Ksock in headless Chromium (kbus/browser over WebSocket), beside a Node
 * client over the same WebSocket listener, in one run; then what the
 * console costs the daemon: announcements per second over the Unix socket
 * with no console open against with the console open (it reads
 * /api/state every second and draws it), runs alternating.
 */
import type { Page } from 'playwright-core';
import { launchChromium } from '../test/support/browser.js';
import { type Check, checked, count, line } from './harness.js';
import { median, percentile } from './measure.js';
import { announceRate, roundTrips, startKbusd } from './network.js';

const RUNS = 3;
const CONSOLE_RUNS = 5;
const RUN_MS = 1000;
const CONSOLE_CEILING = 0.05;

/** The same measurements as announceRate and roundTrips, run inside the page. */
function inPage(page: Page, ws: string, ms: number): Promise<{ rate: number; rtt: number[] }> {
  return page.evaluate(
    async ({ ws, ms }) => {
      const { Ksock } = (await import(
        '/js/browser/index.js' as string
      )) as typeof import('../src/browser/index.js');
      const listener = await Ksock.connect(ws);
      const sender = await Ksock.connect(ws);
      await listener.maxMessages(1_000_000);
      await listener.bind('$.Bench.Web');
      let received = 0;
      let expected = -1;
      const reading = (async () => {
        for await (const _ of listener) if (++received === expected) return;
      })();
      const data = new Uint8Array(64);
      const start = performance.now();
      let sent = 0;
      while (performance.now() - start < ms) {
        const batch: Promise<unknown>[] = [];
        for (let i = 0; i < 200; i++, sent++) batch.push(sender.announce('$.Bench.Web', data));
        await Promise.all(batch);
        while (sent - received > 20_000) await new Promise((r) => setTimeout(r, 0));
      }
      expected = sent;
      if (received < expected) await reading;
      const rate = received / ((performance.now() - start) / 1000);
      await listener.close();
      const replier = await Ksock.connect(ws);
      await replier.bind('$.Bench.WebEcho', { replier: true });
      void (async () => {
        for await (const m of replier) if (m.wantsYouToReply) void replier.replyTo(m, m.data);
      })().catch(() => {});
      const rtt: number[] = [];
      const t = performance.now();
      while (performance.now() - t < ms) {
        const t0 = performance.now();
        await sender.request('$.Bench.WebEcho', 'ping', { timeout: 10_000 });
        rtt.push((performance.now() - t0) * 1000);
      }
      await sender.close();
      await replier.close();
      return { rate, rtt: rtt.sort((a, b) => a - b) };
    },
    { ws, ms },
  );
}

export async function browserSection(): Promise<Check[]> {
  const checks: Check[] = [];
  const bus = await startKbusd([
    '--listen',
    'ws://127.0.0.1:0/kbus',
    '--http',
    '127.0.0.1:0',
    '--max-queue-bytes',
    '256M',
  ]);
  const chromium = await launchChromium();
  try {
    const ws = bus.addresses[0]!;
    const http = /(http:\/\/\S+?)\/(\s|$)/.exec(bus.log())?.[1];
    if (http === undefined) throw new Error(`kbusd did not say where it serves HTTP: ${bus.log()}`);
    const page = await chromium.context.newPage();
    await page.goto(`${http}/healthz`);
    await inPage(page, ws, 300);
    const browserRates: number[] = [];
    const nodeRates: number[] = [];
    let browserRtt: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const r = await inPage(page, ws, RUN_MS);
      browserRates.push(r.rate);
      browserRtt = r.rtt;
      nodeRates.push(await announceRate(ws, {}, RUN_MS));
    }
    const nodeRtt = await roundTrips(ws, {}, RUN_MS);
    line(
      'announcements/s 1 -> 1, 64 B, Chromium over WebSocket',
      count(median(browserRates)),
      `runs ${count(Math.min(...browserRates))}..${count(Math.max(...browserRates))}`,
    );
    line(
      'announcements/s 1 -> 1, 64 B, Node over WebSocket',
      count(median(nodeRates)),
      `runs ${count(Math.min(...nodeRates))}..${count(Math.max(...nodeRates))}`,
    );
    line(
      'request/reply p50, Chromium over WebSocket',
      `${percentile(browserRtt, 0.5).toFixed(0)} us`,
      `p99 ${percentile(browserRtt, 0.99).toFixed(0)} us`,
    );
    line(
      'request/reply p50, Node over WebSocket',
      `${percentile(nodeRtt, 0.5).toFixed(0)} us`,
      `p99 ${percentile(nodeRtt, 0.99).toFixed(0)} us`,
    );
    await page.close();

    // The console's cost: the same daemon, with and without a console page open, and with
    // only what the console asks of kbusd (GET /api/state every second) and no browser: on
    // a machine of few cores the browser's own drawing takes CPU from the daemon too.
    const without: number[] = [];
    const withConsole: number[] = [];
    const withPolling: number[] = [];
    for (let run = 0; run < CONSOLE_RUNS; run++) {
      without.push(await announceRate(bus.socket, {}, RUN_MS));
      const poll = setInterval(() => void fetch(`${http}/api/state`).then((r) => r.text()), 1000);
      void fetch(`${http}/api/state`).then((r) => r.text());
      withPolling.push(await announceRate(bus.socket, {}, RUN_MS));
      clearInterval(poll);
      const consolePage = await chromium.context.newPage();
      await consolePage.goto(`${http}/#/`);
      await consolePage.locator('tr.ksock, #devices section').first().waitFor();
      withConsole.push(await announceRate(bus.socket, {}, RUN_MS));
      await consolePage.close();
    }
    const cost = 1 - median(withPolling) / median(without);
    line('announcements/s over the Unix socket, no console', count(median(without)));
    line(
      'announcements/s over the Unix socket, console open',
      count(median(withConsole)),
      `${((1 - median(withConsole) / median(without)) * 100).toFixed(1)} % less, the browser's drawing included`,
    );
    line('announcements/s over the Unix socket, /api/state polled', count(median(withPolling)));
    checks.push(
      checked(
        "throughput lost to the console's requests",
        `${(cost * 100).toFixed(1)} %`,
        cost < CONSOLE_CEILING,
        `< ${CONSOLE_CEILING * 100} %`,
      ),
    );
  } finally {
    await chromium.close();
    await bus.stop();
  }
  return checks;
}
