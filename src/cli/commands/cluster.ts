import type { Command } from 'commander';
import { DEFAULT_CLUSTER_TIMEOUT_MS } from '../../cluster/index.js';
import { type ClusterStatus, clusterStatus } from '../../cluster/status.js';
import { CliError, CliErrorCode, type GlobalOptions } from '../common.js';

function render(status: ClusterStatus): string {
  const lines = [
    'buses:',
    '  bus      state  host/pid                 sent (bytes)        received (bytes)   pending',
  ];
  for (const b of status.buses) {
    const t = b.traffic;
    const traffic = t
      ? `${`${t.sent} (${t.sentBytes})`.padEnd(19)} ${`${t.received} (${t.receivedBytes})`.padEnd(18)} ${b.pending ?? 0}`
      : '-';
    lines.push(
      `  ${String(b.bus).padEnd(8)} ${(b.live ? 'live' : 'gone').padEnd(6)} ${`${b.host}/${b.pid}`.padEnd(24)} ${traffic}`,
    );
  }
  lines.push('repliers:', '  device  bus      ksock    name');
  for (const r of status.repliers) {
    lines.push(
      `  ${String(r.device).padEnd(7)} ${String(r.bus).padEnd(8)} ${String(r.ksock).padEnd(8)} ${r.name}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export function registerCluster(program: Command, globals: () => GlobalOptions): void {
  program
    .command('cluster')
    .description(
      'show the buses of a NATS cluster, their liveness, the replier registry and the traffic',
    )
    .requiredOption('--cluster <urls>', 'NATS servers, comma-separated (nats://host:port)')
    .option(
      '--listen <ms>',
      'how long to listen for heartbeats',
      String(Math.ceil(DEFAULT_CLUSTER_TIMEOUT_MS / 2)),
    )
    .addHelpText(
      'after',
      `
A bus is "live" if its heartbeat was heard while listening; traffic counts
the messages and bytes each bus sent to and received from NATS since it
started (docs/cluster.md).`,
    )
    .action(async (options: { cluster: string; listen: string }) => {
      const listenMs = Number(options.listen);
      if (!Number.isInteger(listenMs) || listenMs < 0) {
        throw new CliError(
          CliErrorCode.USAGE,
          `--listen takes milliseconds, not '${options.listen}'`,
        );
      }
      const status = await clusterStatus(options.cluster.split(','), listenMs);
      process.stdout.write(globals().json ? `${JSON.stringify(status)}\n` : render(status));
    });
}
