/**
 * kbusd over each transport, side by side in one run: announcements per
 * second (one sender, one listener) and request/reply round-trip p50 over
 * the Unix socket, TCP, TLS and WebSocket; then the cost of an access policy
 * of a hundred rules against none, over the Unix socket.
 *
 * kbusd runs as its own process; the clients of a measurement run in this
 * process (so its figures are lower than the daemon section's, which gives
 * each client a process: compare the transports with each other). Runs
 * alternate between the transports, so that a noisy moment hits all alike.
 * Every announcement carries its sequence number, checked by the listener.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConnectOptions, Ksock } from '../src/client/index.js';
import { hashToken } from '../src/daemon/policy.js';
import { type Check, checked, count, line } from './harness.js';
import { median, percentile } from './measure.js';
import { KBUSD, KBUSD_NODE_FLAGS } from './processes.js';

const RUNS = 3;
const POLICY_RUNS = 5;
const WARMUP_MS = 300;
const RUN_MS = 1000;
const RTT_MS = 1000;
const SIZE = 64;
const BATCH = 200;
/** Announcements a sender may have sent beyond what its listener has read. */
const WINDOW = 20_000;
const POLICY_CEILING = 0.1;

interface Bus {
  child: ChildProcess;
  dir: string;
  socket: string;
  addresses: string[];
  /** What kbusd has written to stderr. */
  log(): string;
  stop(): Promise<void>;
}

export async function startKbusd(args: string[]): Promise<Bus> {
  const dir = mkdtempSync(join(tmpdir(), 'kbus-bench-net-'));
  const socket = join(dir, 'kbus.sock');
  const child = spawn(process.execPath, [...KBUSD_NODE_FLAGS, KBUSD, '--socket', socket, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kbusd did not start: ${stderr}`)), 10_000);
    child.stderr!.on('data', (text: string) => {
      stderr += text;
      if (stderr.includes('serving')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`kbusd exited ${code}: ${stderr}`)));
  });
  const addresses = [...stderr.matchAll(/listening on (\S+)/g)].map((m) => m[1]!);
  return {
    child,
    dir,
    socket,
    addresses,
    log: () => stderr,
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A CA-less self-signed certificate for 127.0.0.1, made with openssl. */
function selfSigned(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-subj',
      '/CN=localhost',
      '-days',
      '1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

/** Announcements per second, one sender to one listener, for `ms`. */
export async function announceRate(
  target: string,
  options: ConnectOptions,
  ms: number,
): Promise<number> {
  await using listener = await Ksock.connect(target, options);
  await using sender = await Ksock.connect(target, options);
  await listener.maxMessages(1_000_000);
  await listener.bind('$.Bench.Net');
  let received = 0;
  let bad = 0;
  let expected = -1;
  const reading = (async () => {
    for await (const message of listener) {
      if (
        new DataView(message.data.buffer, message.data.byteOffset).getUint32(0, true) !== received
      )
        bad++;
      received++;
      if (received === expected) return;
    }
  })();
  const data = new Uint8Array(SIZE);
  const view = new DataView(data.buffer);
  const start = performance.now();
  let sent = 0;
  while (performance.now() - start < ms) {
    const batch: Promise<unknown>[] = [];
    for (let i = 0; i < BATCH; i++) {
      view.setUint32(0, sent++, true);
      batch.push(sender.announce('$.Bench.Net', data));
    }
    await Promise.all(batch);
    while (sent - received > WINDOW) await new Promise((resolve) => setImmediate(resolve));
  }
  expected = sent;
  if (received < expected) await reading;
  const seconds = (performance.now() - start) / 1000;
  if (bad > 0) throw new Error(`${bad} announcements out of order or garbled over ${target}`);
  return received / seconds;
}

/** Request/reply round trips for `ms`, one at a time: their latencies in microseconds. */
export async function roundTrips(
  target: string,
  options: ConnectOptions,
  ms: number,
): Promise<number[]> {
  await using replier = await Ksock.connect(target, options);
  await using asker = await Ksock.connect(target, options);
  await replier.bind('$.Bench.Echo', { replier: true });
  const serving = (async () => {
    for await (const request of replier)
      void replier.replyTo(request, request.data).catch(() => {});
  })();
  const latencies: number[] = [];
  const start = performance.now();
  while (performance.now() - start < ms) {
    const t0 = performance.now();
    await asker.request('$.Bench.Echo', 'ping', { timeout: 10_000 });
    latencies.push((performance.now() - t0) * 1000);
  }
  await replier.close();
  await serving.catch(() => {});
  return latencies.sort((a, b) => a - b);
}

/** A policy of a hundred allow rules, the Unix client's six last. */
function hundredRules(): string {
  const lines = ['user local unix'];
  for (let i = 0; i < 47; i++) {
    lines.push(`user u${i} token sha256:${hashToken(`token-${i}`)}`);
    lines.push(`allow u${i} send $.Team${i}.* $.Other${i}.%`);
    lines.push(`allow u${i} listen $.Team${i}.*`);
  }
  lines.push('allow local open 0 rw', 'allow local send $.Unused.*');
  lines.push('allow local listen $.Bench.*', 'allow local send $.Bench.*');
  lines.push('allow local request $.Bench.*', 'allow local reply $.Bench.Echo');
  return `${lines.join('\n')}\n`;
}

export async function networkSection(): Promise<Check[]> {
  const checks: Check[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'kbus-bench-certs-'));
  try {
    const { cert, key } = selfSigned(dir);
    const ca = readFileSync(cert, 'utf8');
    const bus = await startKbusd([
      '--listen',
      'tcp://127.0.0.1:0',
      '--listen',
      'tls://127.0.0.1:0',
      '--listen',
      'ws://127.0.0.1:0/kbus',
      '--tls-cert',
      cert,
      '--tls-key',
      key,
      '--max-queue-bytes',
      '256M',
    ]);
    try {
      const transports: [string, string, ConnectOptions][] = [
        ['Unix socket', bus.socket, {}],
        ['TCP', bus.addresses[0]!, {}],
        ['TLS', bus.addresses[1]!, { tls: { ca } }],
        ['WebSocket', bus.addresses[2]!, {}],
      ];
      // A short run on each first, so that no transport is measured cold (JIT, TLS sessions).
      for (const [, target, options] of transports) await announceRate(target, options, WARMUP_MS);
      const rates = new Map<string, number[]>(transports.map(([name]) => [name, []]));
      for (let run = 0; run < RUNS; run++) {
        for (const [name, target, options] of transports) {
          rates.get(name)!.push(await announceRate(target, options, RUN_MS));
        }
      }
      for (const [name, target, options] of transports) {
        const runs = rates.get(name)!;
        line(
          `announcements/s 1 -> 1, ${SIZE} B, ${name}`,
          count(median(runs)),
          `runs ${count(Math.min(...runs))}..${count(Math.max(...runs))}`,
        );
        const rtt = await roundTrips(target, options, RTT_MS);
        line(
          `request/reply p50, ${name}`,
          `${percentile(rtt, 0.5).toFixed(0)} us`,
          `p99 ${percentile(rtt, 0.99).toFixed(0)} us, ${count(rtt.length)} round trips`,
        );
      }
    } finally {
      await bus.stop();
    }

    // The policy's cost: the same measurement on a daemon with a hundred rules and one without.
    const policyFile = join(dir, 'bench.policy');
    writeFileSync(policyFile, hundredRules());
    const plain = await startKbusd(['--max-queue-bytes', '256M']);
    const guarded = await startKbusd(['--max-queue-bytes', '256M', '--policy', policyFile]);
    try {
      const without: number[] = [];
      const withPolicy: number[] = [];
      await announceRate(plain.socket, {}, WARMUP_MS);
      await announceRate(guarded.socket, {}, WARMUP_MS);
      for (let run = 0; run < POLICY_RUNS; run++) {
        without.push(await announceRate(plain.socket, {}, RUN_MS));
        withPolicy.push(await announceRate(guarded.socket, {}, RUN_MS));
      }
      const cost = 1 - median(withPolicy) / median(without);
      line(
        'announcements/s, no policy',
        count(median(without)),
        `runs ${count(Math.min(...without))}..${count(Math.max(...without))}`,
      );
      line(
        'announcements/s, 100-rule policy',
        count(median(withPolicy)),
        `runs ${count(Math.min(...withPolicy))}..${count(Math.max(...withPolicy))}`,
      );
      checks.push(
        checked(
          'throughput lost to a 100-rule policy',
          `${(cost * 100).toFixed(1)} %`,
          cost < POLICY_CEILING,
          `< ${POLICY_CEILING * 100} %`,
        ),
      );
    } finally {
      await plain.stop();
      await guarded.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return checks;
}
