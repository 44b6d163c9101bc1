/**
 * The client conformance suite over kbusd's network listeners: TCP, TLS
 * and WebSocket, the same tests as over the Unix socket
 * (test/client/daemon.test.ts). One kbusd per transport serves every
 * section (each test has a fresh device, NEWDEVICE), so that the suite
 * costs three daemon starts, not one per section.
 */
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { type ConnectOptions, Ksock } from '../../src/client/index.js';
import { type Bus, type BusFactory, conformance } from '../client/conformance.js';
import type { RunningDaemon } from '../support/daemon.js';
import { type Certs, makeCerts, startListening, tlsArgs } from '../support/network.js';

let certs: Certs | undefined;
const daemons: RunningDaemon[] = [];

after(async () => {
  for (const daemon of daemons) {
    const code = await daemon.stop();
    assert.equal(code, 0, `kbusd exited with ${code}: ${daemon.stderr()}`);
  }
  certs?.remove();
});

/** A bus on one listener, started on first use and shared by every section. */
function sharedBus(
  listen: string,
  extra: () => string[],
  connect: () => ConnectOptions,
): BusFactory {
  let shared: Promise<string> | undefined;
  const start = () =>
    startListening([listen], extra()).then(({ daemon, addresses }) => {
      daemons.push(daemon);
      return addresses[0]!;
    });
  return async (need) => {
    if (need?.freshBus) return busAt(await start());
    shared ??= start();
    return busAt(await shared);
  };
  function busAt(url: string): Bus {
    return {
      open: (options) => Ksock.connect(url, { ...connect(), ...options }),
      stop: async () => {},
    };
  }
}

const getCerts = () => {
  certs ??= makeCerts();
  return certs;
};

conformance(
  'kbusd over TCP',
  sharedBus(
    'tcp://127.0.0.1:0',
    () => [],
    () => ({}),
  ),
);
conformance(
  'kbusd over TLS',
  sharedBus(
    'tls://127.0.0.1:0',
    () => tlsArgs(getCerts()),
    () => ({ tls: { ca: getCerts().ca } }),
  ),
);
conformance(
  'kbusd over WebSocket',
  sharedBus(
    'ws://[::1]:0/kbus',
    () => [],
    () => ({}),
  ),
);
