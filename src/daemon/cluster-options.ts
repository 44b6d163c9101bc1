/**
 * kbusd's cluster options (docs/cluster.md section 1): parsed here so that
 * the command line's main file only passes them on.
 */
import { type ClusterOptions, DEFAULT_CLUSTER_TIMEOUT_MS } from '../cluster/index.js';

export const CLUSTER_HELP = `
Cluster mode (docs/cluster.md): every daemon joined to the same NATS cluster
with its own --bus-id is part of one KBUS bus per device.
  --cluster URL[,URL...]    NATS servers, e.g. nats://127.0.0.1:4222 (JetStream
                            must be enabled: nats-server -js)
  --bus-id N                this bus's id, 1 to 4294967295, unique in the cluster
  --cluster-timeout MS      silence after which a bus is gone and its pending
                            requests are answered $.KBUS.Replier.Disappeared
                            (default ${DEFAULT_CLUSTER_TIMEOUT_MS}, at least 200)
  --cluster-creds FILE      NATS credentials file
  --cluster-tls-ca FILE     CA certificate to trust for NATS
  --cluster-tls-cert FILE   client certificate for NATS (with --cluster-tls-key)
  --cluster-tls-key FILE    its key
  --cluster-replicas N      replicas of kbus's key-value buckets when created (default 1)
`;

export const CLUSTER_ARGS = {
  cluster: { type: 'string' },
  'bus-id': { type: 'string' },
  'cluster-timeout': { type: 'string' },
  'cluster-creds': { type: 'string' },
  'cluster-tls-ca': { type: 'string' },
  'cluster-tls-cert': { type: 'string' },
  'cluster-tls-key': { type: 'string' },
  'cluster-replicas': { type: 'string' },
} as const;

type Values = { [K in keyof typeof CLUSTER_ARGS]?: string | undefined };

/** The agent's options, undefined without --cluster; throws an Error whose message is for the user. */
export function clusterOptions(
  values: Values,
): Omit<ClusterOptions, 'log' | 'onFatal'> | undefined {
  const whole = (name: string, text: string | undefined, min: number, max: number) => {
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < min || value > max) {
      throw new Error(`--${name} takes a whole number from ${min} to ${max}, not '${text}'`);
    }
    return value;
  };
  if (values.cluster === undefined) {
    const stray = Object.keys(CLUSTER_ARGS).find((k) => values[k as keyof Values] !== undefined);
    if (stray) throw new Error(`--${stray} needs --cluster`);
    return undefined;
  }
  const busId = whole('bus-id', values['bus-id'], 1, 0xffffffff);
  if (busId === undefined) throw new Error('--cluster needs --bus-id N');
  const servers = values.cluster.split(',').filter((s) => s !== '');
  if (servers.length === 0) throw new Error('--cluster takes one or more NATS URLs');
  const tls =
    values['cluster-tls-ca'] || values['cluster-tls-cert'] || values['cluster-tls-key']
      ? {
          caFile: values['cluster-tls-ca'],
          certFile: values['cluster-tls-cert'],
          keyFile: values['cluster-tls-key'],
        }
      : undefined;
  if (tls && Boolean(tls.certFile) !== Boolean(tls.keyFile)) {
    throw new Error('--cluster-tls-cert and --cluster-tls-key go together');
  }
  return {
    servers,
    busId,
    timeoutMs: whole('cluster-timeout', values['cluster-timeout'], 200, 3_600_000),
    credsFile: values['cluster-creds'],
    tls,
    replicas: whole('cluster-replicas', values['cluster-replicas'], 1, 5),
  };
}
