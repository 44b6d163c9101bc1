/**
 * kbusd's options for the network and access control (docs/network.md):
 * listeners, TLS files, the policy and the limits, read from the command
 * line into what new Daemon() takes.
 */
import { readFileSync } from 'node:fs';
import { parseKbusUrl } from '../protocol/url.js';
import { type AccessLimits, DEFAULT_LIMITS } from './access.js';
import { DEFAULT_MAX_CONNECTIONS } from './gateway.js';
import type { ListenerTls } from './listeners/network.js';
import { type Policy, PolicyError, parsePolicy } from './policy.js';

/** These options' lines in `kbusd --help`. */
export const NETWORK_HELP = `  --listen URL              also serve on URL, repeatable: tcp://HOST:PORT,
                            tls://HOST:PORT, ws://HOST:PORT/PATH,
                            wss://HOST:PORT/PATH (port 0: any free port; the
                            log says which); unix:PATH is --socket PATH
  --tls-cert FILE           certificate (PEM) for tls:// and wss://
  --tls-key FILE            its private key (PEM)
  --tls-ca FILE             CA (PEM) that client certificates must come from:
                            with it, a client certificate is required
  --insecure                allow listening on a non-loopback address without
                            TLS and without a policy that requires a login
  --policy FILE             who may do what (docs/network.md); SIGHUP rereads it
  --hash-token              print a new random token and its policy line, and exit
  --open-timeout SECONDS    close network clients not opened within this
                            (default ${DEFAULT_LIMITS.openTimeoutMs / 1000}; 0: never)
  --frame-timeout SECONDS   close network clients holding part of a frame this
                            long (default ${DEFAULT_LIMITS.frameTimeoutMs / 1000}; 0: never)
  --max-connections N       connections at once per network listener
                            (default ${DEFAULT_MAX_CONNECTIONS}; 0: no limit)
  --max-connections-per-identity N
                            connections at once per identity (default no limit)
  --max-ksocks-per-identity N
                            Ksocks at once per identity (default no limit)
  --max-identity-queue-bytes BYTES
                            bytes the queues of one identity's Ksocks may hold
                            together (default no limit)
`;

/** The command-line values these options are read from. */
export interface NetworkValues {
  socket?: string | undefined;
  listen?: string[] | undefined;
  'tls-cert'?: string | undefined;
  'tls-key'?: string | undefined;
  'tls-ca'?: string | undefined;
  policy?: string | undefined;
  'open-timeout'?: string | undefined;
  'frame-timeout'?: string | undefined;
  'max-connections'?: string | undefined;
  'max-connections-per-identity'?: string | undefined;
  'max-ksocks-per-identity'?: string | undefined;
  'max-identity-queue-bytes'?: string | undefined;
}

export interface NetworkOptions {
  /** The Unix socket, from --socket or --listen unix:PATH. */
  unixPath: string | undefined;
  listen: string[];
  tls: ListenerTls | undefined;
  policyFile: string | undefined;
  policy: Policy | undefined;
  /** Reads the policy file again (SIGHUP); throws a PolicyError for a bad one. */
  loadPolicy: () => Policy | undefined;
  maxConnections: number;
  limits: AccessLimits;
}

/** Reads the options; `fail` reports a bad command line (exit 64). */
export function networkOptions(
  values: NetworkValues,
  fail: (message: string) => never,
  integer: (name: string, text: string | undefined, fallback: number) => number,
  bytes: (name: string, text: string | undefined) => number | undefined,
): NetworkOptions {
  const listen: string[] = [];
  let unixPath = values.socket;
  for (const text of values.listen ?? []) {
    let url: ReturnType<typeof parseKbusUrl>;
    try {
      url = parseKbusUrl(text);
    } catch (err) {
      fail(`--listen: ${(err as Error).message}`);
    }
    if (url.scheme !== 'unix') listen.push(text);
    else if (unixPath !== undefined && unixPath !== url.path)
      fail('kbusd serves one Unix socket: give --socket or one --listen unix:PATH');
    else unixPath = url.path;
  }
  const readPem = (name: string): string | undefined => {
    const file = values[name as 'tls-cert' | 'tls-key' | 'tls-ca'];
    if (file === undefined) return undefined;
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      fail(`--${name}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  const cert = readPem('tls-cert');
  const key = readPem('tls-key');
  const ca = readPem('tls-ca');
  if ((cert === undefined) !== (key === undefined)) fail('--tls-cert and --tls-key go together');
  const policyFile = values.policy;
  const loadPolicy = (): Policy | undefined => {
    if (policyFile === undefined) return undefined;
    return parsePolicy(readFileSync(policyFile, 'utf8'), policyFile);
  };
  let policy: Policy | undefined;
  try {
    policy = loadPolicy();
  } catch (err) {
    if (err instanceof PolicyError) fail(err.message);
    fail(`--policy: cannot read ${policyFile}: ${(err as Error).message}`);
  }
  const seconds = (name: string, fallbackMs: number): number => {
    const text = values[name as 'open-timeout' | 'frame-timeout'];
    if (text === undefined) return fallbackMs;
    const value = Number(text);
    if (!/^\d+(\.\d+)?$/.test(text) || !Number.isFinite(value))
      fail(`--${name} takes a number of seconds, not '${text}'`);
    return Math.round(value * 1000);
  };
  const limits: AccessLimits = {
    openTimeoutMs: seconds('open-timeout', DEFAULT_LIMITS.openTimeoutMs),
    frameTimeoutMs: seconds('frame-timeout', DEFAULT_LIMITS.frameTimeoutMs),
    maxConnectionsPerIdentity: integer(
      'max-connections-per-identity',
      values['max-connections-per-identity'],
      0,
    ),
    maxKsocksPerIdentity: integer('max-ksocks-per-identity', values['max-ksocks-per-identity'], 0),
    identityQueueBytes: bytes('max-identity-queue-bytes', values['max-identity-queue-bytes']) ?? 0,
  };
  return {
    unixPath,
    listen,
    tls: cert !== undefined && key !== undefined ? { cert, key, ca } : undefined,
    policyFile,
    policy,
    loadPolicy,
    maxConnections: integer('max-connections', values['max-connections'], DEFAULT_MAX_CONNECTIONS),
    limits,
  };
}
