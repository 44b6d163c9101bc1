/**
 * The benchmark (`npm run bench`). Each section prints a heading and its
 * figures as it goes; figures held to a performance goal say PASS or FAIL.
 * A missed floor does not fail the run (machines are noisy); a message
 * lost or garbled does (exit code 1).
 *
 * `node dist/bench/run.js daemon` runs only the sections named (engine,
 * daemon, network, limpet, compat, browser, cluster, scaling). The cluster
 * section needs nats-server; without it, it says so in one line and is
 * skipped.
 *
 * The scaling section (how cost grows with fan-out, connections, names and
 * message size; a few minutes) runs only when asked: named
 * (`node dist/bench/run.js scaling`), or after the others with
 * `--scaling` (`npm run bench -- --scaling`).
 */
import os from 'node:os';
import { browserSection } from './browser.js';
import { clusterSection } from './cluster.js';
import { compatSection } from './compat.js';
import { daemonSection } from './daemon.js';
import { engineSection } from './engine.js';
import { type Check, heading } from './harness.js';
import { limpetSection } from './limpet.js';
import { networkSection } from './network.js';
import { scalingSection } from './scaling.js';

interface Section {
  readonly key: string;
  readonly title: string;
  readonly run: () => Check[] | Promise<Check[]>;
  /** Runs only when named, or with --scaling: too long for every run. */
  readonly whenAsked?: boolean;
}

const sections: Section[] = [
  { key: 'engine', title: 'In-process engine', run: engineSection },
  {
    key: 'daemon',
    title: 'kbusd over a Unix socket, against a raw Node relay',
    run: daemonSection,
  },
  {
    key: 'network',
    title: 'kbusd over Unix, TCP, TLS and WebSocket; a 100-rule policy against none',
    run: networkSection,
  },
  {
    key: 'browser',
    title:
      'kbus/browser in headless Chromium beside Node over WebSocket; the console open against closed',
    run: browserSection,
  },
  {
    key: 'limpet',
    title: 'Across a Limpet pair (loopback TCP), against a single bus',
    run: limpetSection,
  },
  {
    key: 'compat',
    title: 'A C program through the /dev/kbusN layer, against the TypeScript client',
    run: compatSection,
  },
  {
    key: 'cluster',
    title: 'Cluster mode: two kbusd through NATS, against a Limpet pair and a single bus',
    run: clusterSection,
  },
  {
    key: 'scaling',
    title: 'How cost grows: fan-out, connections, names and message size',
    run: scalingSection,
    whenAsked: true,
  },
];

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const all = argv.includes('--scaling');
  const wanted = argv.filter((a) => a !== '--scaling');
  const unknown = wanted.filter((w) => !sections.some((s) => s.key === w));
  if (unknown.length > 0) {
    console.error(
      `unknown section ${unknown.join(', ')}: choose from ${sections.map((s) => s.key).join(', ')}`,
    );
    process.exitCode = 2;
    return;
  }

  const cpus = os.cpus();
  console.log(
    'kbus bench: the engine in process, then kbusd and a Limpet pair against a raw Node relay, each party its own process; every figure beside its baseline from this same run.',
  );
  heading('Machine');
  console.log(`  cpu:   ${cpus[0]?.model ?? 'unknown'}`);
  console.log(`  cores: ${cpus.length}`);
  console.log(`  node:  ${process.version} (${process.platform} ${process.arch})`);
  console.log(
    `  load:  ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} (1, 5, 15 min)`,
  );

  const started = performance.now();
  const checks: Check[] = [];
  for (const section of sections) {
    const asked =
      wanted.length > 0
        ? wanted.includes(section.key) || (all && section.whenAsked === true)
        : !section.whenAsked || all;
    if (!asked) continue;
    heading(section.title);
    const t0 = performance.now();
    checks.push(...(await section.run()));
    console.log(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }

  heading('Summary');
  const failed = checks.filter((c) => !c.pass);
  const lost = failed.filter((c) => c.kind === 'verify');
  console.log(`  ${checks.length - failed.length} of ${checks.length} checks passed`);
  for (const c of failed) console.log(`  FAIL: ${c.label}`);
  console.log(`  total ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (lost.length > 0) process.exitCode = 1;
}

await main();
