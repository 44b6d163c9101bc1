/**
 * The compatibility layer against the TypeScript client, in the same run on
 * the same kbusd: request/reply round trips (p50, p99) and announcements per
 * second, made by a C program written for /dev/kbusN (test/compat/programs/
 * peer.c, run under `kbus run`) and by the same roles through the client
 * (peer.ts). Each party is its own process; runs alternate C, TypeScript.
 * The aim: the layer's request/reply p50 within 1.2x of the client's.
 *
 * `node dist/bench/run.js compat` runs only this section.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Check, checked, count, line } from './harness.js';
import { median } from './measure.js';
import { Fleet, KBUS_CLI, ROOT } from './processes.js';

const PROGRAMS = join(ROOT, 'test', 'compat', 'programs');
const LAYER = join(ROOT, 'compat', 'build', 'libkbus-compat.so');
const TS_PEER = join(ROOT, 'dist', 'test', 'compat', 'programs', 'peer.js');
const RUNS = 3;
const ROUND_TRIPS = 1_000;
const ANNOUNCEMENTS = 10_000;
const CEILING_P50_RATIO = 1.2;
const PROCESS_TIMEOUT_MS = 120_000;

type Side = 'c' | 'ts';

/** A peer process: its output, once it has printed a line, and its end. */
class PeerProcess {
  private out = '';
  private err = '';
  private readonly child: ChildProcess;
  private readonly ended: Promise<void>;

  constructor(argv: readonly string[], socket: string) {
    this.child = spawn(process.execPath, argv, {
      env: { ...process.env, KBUS_SOCKET: socket },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (chunk: Buffer) => {
      this.out += chunk.toString();
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.err += chunk.toString();
    });
    this.ended = new Promise((resolve) => this.child.once('close', () => resolve()));
  }

  async ready(): Promise<void> {
    await this.until(() => this.out.startsWith('ready\n'), 'ready');
  }

  /** The last line it printed, once it has exited 0. */
  async result(): Promise<string> {
    await this.until(() => this.child.exitCode !== null || this.child.signalCode !== null, 'exit');
    await this.ended;
    if (this.child.exitCode !== 0)
      throw new Error(
        `peer exited ${this.child.exitCode ?? this.child.signalCode}: ${this.out} ${this.err}`,
      );
    return this.out.trimEnd().split('\n').pop()!;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  private async until(condition: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + PROCESS_TIMEOUT_MS;
    while (!condition()) {
      if (this.child.exitCode !== null && what !== 'exit')
        throw new Error(`peer exited before ${what}: ${this.out} ${this.err}`);
      if (Date.now() > deadline)
        throw new Error(`peer: no ${what} within ${PROCESS_TIMEOUT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

function peerArgv(side: Side, peer: string, socket: string, role: string, name: string, n: number) {
  const args = [role, name, String(n)];
  return side === 'c'
    ? [KBUS_CLI, '--socket', socket, 'run', '--', peer, ...args]
    : [TS_PEER, ...args];
}

async function roundTrips(side: Side, peer: string, socket: string, run: number) {
  const name = `$.Bench.Compat.${side}.${run}`;
  const replier = new PeerProcess(
    peerArgv(side, peer, socket, 'replier', name, ROUND_TRIPS),
    socket,
  );
  try {
    await replier.ready();
    const requester = new PeerProcess(
      peerArgv(side, peer, socket, 'requester', name, ROUND_TRIPS),
      socket,
    );
    const result = JSON.parse(await requester.result()) as { p50: number; p99: number };
    await replier.result();
    return result;
  } finally {
    replier.kill();
  }
}

async function announcements(side: Side, peer: string, socket: string, run: number) {
  const name = `$.Bench.Compat.Ann.${side}.${run}`;
  const counter = new PeerProcess(
    peerArgv(side, peer, socket, 'counter', name, ANNOUNCEMENTS),
    socket,
  );
  try {
    await counter.ready();
    const sender = new PeerProcess(
      peerArgv(side, peer, socket, 'sender', name, ANNOUNCEMENTS),
      socket,
    );
    const start = BigInt(await sender.result());
    const last = BigInt(await counter.result());
    return (ANNOUNCEMENTS * 1e9) / Number(last - start);
  } finally {
    counter.kill();
  }
}

/** Why this section cannot run here, if it cannot. */
function missing(): string | undefined {
  try {
    execFileSync('gcc', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'gcc is not installed (the C side is compiled from test/compat/programs/peer.c)';
  }
  if (!existsSync(LAYER))
    return `the layer is not built (no ${LAYER}): npm run build with a C compiler`;
  return undefined;
}

export async function compatSection(): Promise<Check[]> {
  const why = missing();
  if (why !== undefined) {
    console.log(`  cannot run: ${why}`);
    return [{ label: 'compat: the layer against the client', pass: false, kind: 'floor' }];
  }
  const dir = mkdtempSync(join(tmpdir(), 'kbus-bench-compat-'));
  const fleet = new Fleet();
  try {
    const peer = join(dir, 'peer');
    execFileSync('gcc', [
      '-Wall',
      '-Wextra',
      '-Werror',
      '-O2',
      '-o',
      peer,
      join(PROGRAMS, 'peer.c'),
    ]);
    const kbusd = await fleet.startKbusd([], ['--max-messages', '100']);
    const rtt: Record<Side, { p50: number[]; p99: number[] }> = {
      c: { p50: [], p99: [] },
      ts: { p50: [], p99: [] },
    };
    const rate: Record<Side, number[]> = { c: [], ts: [] };
    console.log(
      `  ${RUNS} runs per side, alternating: ${count(ROUND_TRIPS)} round trips, ${count(ANNOUNCEMENTS)} announcements of 64 bytes`,
    );
    for (let run = 0; run < RUNS; run++) {
      for (const side of ['c', 'ts'] as const) {
        try {
          const r = await roundTrips(side, peer, kbusd.socket, run);
          rtt[side].p50.push(r.p50);
          rtt[side].p99.push(r.p99);
          rate[side].push(await announcements(side, peer, kbusd.socket, run));
        } catch (err) {
          // A peer that stalls or fails is a wrong answer, not a slow one.
          const label = `compat: ${side === 'c' ? 'C through the layer' : 'TypeScript client'} completed every exchange`;
          console.log(`  FAIL ${label}: ${String((err as Error).message).split('\n')[0]}`);
          return [{ label, pass: false, kind: 'verify' }];
        }
      }
    }
    const us = (values: number[]) => `${median(values).toFixed(1)} us`;
    const range = (values: number[], digits = 1) =>
      `runs ${Math.min(...values).toFixed(digits)}..${Math.max(...values).toFixed(digits)}`;
    line('request/reply p50, C through the layer', us(rtt.c.p50), range(rtt.c.p50));
    line('request/reply p50, TypeScript client', us(rtt.ts.p50), range(rtt.ts.p50));
    line('request/reply p99, C through the layer', us(rtt.c.p99), range(rtt.c.p99));
    line('request/reply p99, TypeScript client', us(rtt.ts.p99), range(rtt.ts.p99));
    const p50Ratio = median(rtt.c.p50) / median(rtt.ts.p50);
    const checks = [
      checked(
        'request/reply p50, layer / client',
        `${p50Ratio.toFixed(2)}x`,
        p50Ratio <= CEILING_P50_RATIO,
        `<= ${CEILING_P50_RATIO}x`,
      ),
    ];
    line('announcements/s, C through the layer', count(median(rate.c)), range(rate.c, 0));
    line('announcements/s, TypeScript client', count(median(rate.ts)), range(rate.ts, 0));
    line('announcements/s, layer / client', `${(median(rate.c) / median(rate.ts)).toFixed(2)}x`);
    return checks;
  } finally {
    await fleet.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
