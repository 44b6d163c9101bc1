/**
 * Test support for the network listeners: certificates made here with the
 * openssl command (a CA, a server certificate for 127.0.0.1, ::1 and
 * localhost, client certificates good, expired and from another CA), and
 * kbusd started with --listen, its bound addresses read from its log.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type RunningDaemon, startDaemon, tempDir } from './daemon.js';

export interface Certs {
  readonly dir: string;
  /** PEM text. */
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** File paths, for kbusd's options. */
  readonly files: { ca: string; serverCert: string; serverKey: string };
  /** A client certificate from the CA, subject CN `alice`. */
  readonly client: { cert: string; key: string };
  /** The same CA, CN `alice`, but expired yesterday. */
  readonly expired: { cert: string; key: string };
  /** CN `alice`, from another CA. */
  readonly stranger: { cert: string; key: string };
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT')
      throw new Error('these tests need the openssl command (apt-get install openssl)');
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** Makes a CA and certificates signed by it in a new temporary directory. */
export function makeCerts(): Certs {
  const dir = tempDir('kbus-certs-');
  const cwd = dir.path;
  const ca = (name: string) =>
    openssl(
      [
        'req',
        '-x509',
        ...EC,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.pem`,
        '-subj',
        `/CN=${name}`,
        '-days',
        '2',
      ],
      cwd,
    );
  const signed = (name: string, cn: string, by: string, days: string, ext?: string) => {
    openssl(
      ['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`],
      cwd,
    );
    const extArgs = ext === undefined ? [] : ['-extfile', ext];
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${by}.pem`,
        '-CAkey',
        `${by}.key`,
        '-CAcreateserial',
        '-out',
        `${name}.pem`,
        '-days',
        days,
        ...extArgs,
      ],
      cwd,
    );
  };
  ca('ca');
  ca('other-ca');
  writeFileSync(join(cwd, 'server.ext'), 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n');
  signed('server', 'localhost', 'ca', '2', 'server.ext');
  signed('client', 'alice', 'ca', '2');
  signed('expired', 'alice', 'ca', '-1');
  signed('stranger', 'alice', 'other-ca', '2');
  const read = (file: string) => readFileSync(join(cwd, file), 'utf8');
  const pair = (name: string) => ({ cert: read(`${name}.pem`), key: read(`${name}.key`) });
  return {
    dir: cwd,
    ca: read('ca.pem'),
    serverCert: read('server.pem'),
    serverKey: read('server.key'),
    files: {
      ca: join(cwd, 'ca.pem'),
      serverCert: join(cwd, 'server.pem'),
      serverKey: join(cwd, 'server.key'),
    },
    client: pair('client'),
    expired: pair('expired'),
    stranger: pair('stranger'),
    remove: dir.remove,
  };
}

/** kbusd's options for TLS with these certificates (`mutual`: client certificates required). */
export function tlsArgs(certs: Certs, mutual = false): string[] {
  const args = ['--tls-cert', certs.files.serverCert, '--tls-key', certs.files.serverKey];
  return mutual ? [...args, '--tls-ca', certs.files.ca] : args;
}

/** The addresses a running kbusd logged as "listening on URL", in order. */
export function listenAddresses(daemon: RunningDaemon): string[] {
  return [...daemon.stderr().matchAll(/listening on (\S+)/g)].map((m) => m[1]!);
}

/** Starts kbusd listening on each of `urls` (port 0) and returns it with the bound addresses. */
export async function startListening(
  urls: string[],
  args: string[] = [],
): Promise<{ daemon: RunningDaemon; addresses: string[] }> {
  const daemon = await startDaemon([...urls.flatMap((u) => ['--listen', u]), ...args]);
  const addresses = listenAddresses(daemon);
  if (addresses.length !== urls.length) {
    await daemon.stop();
    throw new Error(
      `kbusd logged ${addresses.length} addresses for ${urls.length} listeners: ${daemon.stderr()}`,
    );
  }
  return { daemon, addresses };
}
