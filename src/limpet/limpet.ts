/**
 * A Limpet (limpet.md): an ordinary client of its daemon, with one Ksock and
 * one link to a peer Limpet on another bus. Together a pair makes two buses
 * behave almost like one.
 *
 *   await using limpet = await Limpet.start({ role: 'client', address, networkId: 1 });
 *   const result = await limpet.closed; // why it stopped
 */
import type { Socket } from 'node:net';
import { debuglog } from 'node:util';
import { type ClientTls, Ksock } from '../client/index.js';
import { DEFAULT_MAX_DATA_LENGTH, MessageNames } from '../wire/index.js';
import { LimpetCore } from './core.js';
import {
  acceptLink,
  connectLink,
  formatLinkAddress,
  greet,
  isLoopbackHost,
  type LinkAddress,
  readTlsFiles,
  type TlsFiles,
  type TlsMaterial,
} from './link.js';
import { ProxyRepliers } from './proxies.js';
import { relay } from './relay.js';
import type { LimpetResult } from './result.js';

export interface LimpetOptions {
  role: 'server' | 'client';
  address: LinkAddress;
  /** This Limpet's network id, 1 to 4294967295, unique in the tree of buses. */
  networkId: number;
  /** The daemon's socket (default: as for every client). */
  socket?: string;
  /** The daemon's address as a URL (tcp://, tls://, ws://, wss://, unix:), instead of `socket`. */
  url?: string;
  /** A bearer token for a daemon with an access policy. */
  token?: string;
  /** TLS settings for reaching the daemon at a tls:// or wss:// url (`tls` is the link's). */
  daemonTls?: ClientTls;
  /** Device on the daemon (default 0). */
  device?: number;
  /** Listening filter (default `$.*`). */
  filter?: string;
  /** Reading a message of this name stops the Limpet (`terminated`). */
  terminationName?: string;
  /** 0 quiet, 1 (default) link and proxy events, 2 every message. */
  verbosity?: number;
  /** MAXMSGS for the Limpet's Ksock (default 10,000). */
  maxMessages?: number;
  /** Largest message data accepted from the link (default 1 MiB). */
  maxDataLength?: number;
  /** Client role: keep trying to connect for this many seconds (default 0: once). */
  retrySeconds?: number;
  /** Give up on the peer's greeting after this many milliseconds (default 10 s). */
  greetingTimeoutMs?: number;
  /** Mutual TLS for a TCP link. */
  tls?: TlsFiles;
  /**
   * Where log lines go, each starting `limpet N:` (default: `util.debuglog`,
   * shown with NODE_DEBUG=kbus-limpet).
   */
  log?: (line: string) => void;
  /** Aborting stops the Limpet: `start()` rejects with the reason, or `closed` says `aborted`. */
  signal?: AbortSignal;
}

/** Why a Limpet could not start (link failures are LinkErrors). Match on `code`. */
export const LimpetErrorCode = {
  /** Options that cannot work: a network id outside 1 to 4294967295, TLS on a Unix link. */
  OPTIONS: 'KBUS_LIMPET_OPTIONS',
  /**
   * The daemon could not be reached, or refused the Limpet's set-up (its
   * Ksock, bindings or settings); `cause` is the KbusError or system error.
   */
  DAEMON: 'KBUS_LIMPET_DAEMON',
} as const;
export type LimpetErrorCode = (typeof LimpetErrorCode)[keyof typeof LimpetErrorCode];

export class LimpetError extends Error {
  readonly code: LimpetErrorCode;

  constructor(code: LimpetErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LimpetError';
    this.code = code;
  }
}

function checkOptions(options: LimpetOptions): void {
  const id = options.networkId;
  if (!Number.isInteger(id) || id < 1 || id > 0xffffffff) {
    throw new LimpetError(LimpetErrorCode.OPTIONS, `network id ${id} is not 1 to 4294967295`);
  }
  if (options.tls && options.address.kind !== 'tcp') {
    throw new LimpetError(LimpetErrorCode.OPTIONS, 'TLS is for TCP links only');
  }
}

export class Limpet implements AsyncDisposable {
  private constructor(
    /** This Limpet's network id. */
    readonly networkId: number,
    /** The peer Limpet's network id, from its greeting. */
    readonly peerId: number,
    /** The id of the Limpet's Ksock on its bus (what its proxy repliers are bound as). */
    readonly ksockId: number,
    /** Resolves, never rejects, once the Limpet has stopped and released everything. */
    readonly closed: Promise<LimpetResult>,
    private readonly stop: (result: LimpetResult) => void,
  ) {}

  /**
   * Makes the link (a server waits for its one peer; a client connects),
   * greets the peer, and sets up the Ksock (limpet.md section 3). Resolves
   * once both directions run. Rejects with a LinkError or LimpetError (see
   * their `code`), or with the signal's reason if aborted first.
   */
  static async start(options: LimpetOptions): Promise<Limpet> {
    checkOptions(options);
    const { signal, networkId } = options;
    signal?.throwIfAborted();
    const verbosity = options.verbosity ?? 1;
    const write = options.log ?? defaultLog();
    const log = (line: string): void => {
      if (verbosity >= 1) write(`limpet ${networkId}: ${line}`);
    };
    const trace = (line: string): void => {
      if (verbosity >= 2) write(`limpet ${networkId}: ${line}`);
    };
    const where = formatLinkAddress(options.address);

    // limpet.md section 2 "Trust": without TLS, anyone who can reach the port is trusted.
    if (
      options.address.kind === 'tcp' &&
      !options.tls &&
      options.role === 'server' &&
      !isLoopbackHost(options.address.host)
    ) {
      const at = options.address.host === '' ? 'every interface' : where;
      write(
        `limpet ${networkId}: warning: listening on ${at}, beyond this machine, without TLS (--tls-cert/--tls-key/--tls-ca)`,
      );
    }
    const tls: TlsMaterial | undefined = options.tls && (await readTlsFiles(options.tls));

    // 1. The link, 2. the greeting.
    let socket: Socket;
    let cleanup = async () => {};
    if (options.role === 'server') {
      const accepted = await acceptLink(
        options.address,
        tls,
        (at) => log(`listening on ${at}`),
        signal,
      );
      socket = accepted.socket;
      cleanup = accepted.cleanup;
    } else {
      socket = await connectLink(
        options.address,
        tls,
        options.retrySeconds ?? 0,
        (err) => trace(`connecting to ${where}: ${err.message}; retrying`),
        signal,
      );
    }
    if (options.address.kind === 'tcp') {
      socket.setKeepAlive(true, 10_000);
      socket.setNoDelay(true);
    }
    let peerId: number;
    let early: Buffer;
    try {
      ({ peerId, rest: early } = await greet(
        socket,
        networkId,
        options.greetingTimeoutMs ?? 10_000,
        signal,
      ));
    } catch (err) {
      socket.destroy();
      await cleanup();
      throw err;
    }
    log(`link up with ${peerId} over ${where}`);

    // What stops the Limpet; the first reason is the result.
    let result: LimpetResult | undefined;
    let stopped!: () => void;
    const stopping = new Promise<void>((resolve) => {
      stopped = resolve;
    });
    const stop = (why: LimpetResult) => {
      if (result !== undefined) return;
      result = why;
      stopped();
    };
    const onAbort = () => stop({ reason: 'aborted' });
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
    // The link may end while the Ksock is being set up: notice it.
    const linkEnded = () => {
      if (result !== undefined) return; // our own closing
      log('link closed by the peer');
      stop({ reason: 'link-closed' });
    };
    socket.once('end', linkEnded);
    socket.once('close', linkEnded);
    socket.on('error', (err) => {
      if (result !== undefined) return;
      log(`link failed: ${err.message}`);
      stop({ reason: 'link-failed', error: err });
    });
    const release = async () => {
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      await cleanup();
    };

    // 3, 4. The Ksock, set up in limpet.md's order.
    let ksock: Ksock | undefined;
    try {
      ksock = await Ksock.connect({
        ...(options.url === undefined ? { socket: options.socket } : { url: options.url }),
        ...(options.token === undefined ? {} : { token: options.token }),
        ...(options.daemonTls === undefined ? {} : { tls: options.daemonTls }),
        device: options.device ?? 0,
      });
      await ksock.msgOnlyOnce(true);
      await ksock.maxMessages(options.maxMessages ?? 10_000);
      await ksock.bind(options.filter ?? '$.*');
      await ksock.bind(MessageNames.REPLIER_BIND_EVENT);
      await ksock.reportReplierBinds(true);
    } catch (err) {
      // limpet.md section 9.12: a Limpet whose daemon refuses its set-up stops.
      await ksock?.close();
      await release();
      throw new LimpetError(
        LimpetErrorCode.DAEMON,
        `setting up on the daemon failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const bus = ksock;
    // Not in limpet.md: tells monitors (kbusd's console) that this Ksock is
    // a Limpet and what it links. A daemon without DESCRIBE is not an error.
    try {
      await bus.describe({
        kind: 'limpet',
        networkId,
        peerId,
        role: options.role,
        link: where,
        filter: options.filter ?? '$.*',
        since: Date.now(),
      });
    } catch (err) {
      trace(`describing the Limpet to the daemon: ${(err as Error).message}`);
    }
    if (result !== undefined) {
      const closed = (async () => {
        await bus.close();
        await release();
        return result!;
      })();
      return new Limpet(networkId, peerId, bus.id, closed, stop);
    }

    // 5. Both directions, until something stops them.
    const core = new LimpetCore({ networkId, peerId, ksockId: bus.id }, options.terminationName);
    const proxies = new ProxyRepliers({
      bind: (name) => bus.bind(name, { replier: true }),
      unbind: (name) => bus.unbind(name, { replier: true }),
      log,
    });
    const busToLink = relay({
      socket,
      early,
      bus,
      core,
      proxies,
      maxDataLength: options.maxDataLength ?? DEFAULT_MAX_DATA_LENGTH,
      log,
      trace: verbosity >= 2 ? trace : undefined,
      stop,
      stopping: () => result !== undefined,
      stopped: stopping,
    });
    const closed = (async () => {
      await stopping;
      // Section 6: close the Ksock first, then the link.
      proxies.stop();
      await bus.close();
      await busToLink;
      await release();
      return result!;
    })();
    return new Limpet(networkId, peerId, bus.id, closed, stop);
  }

  /** Stops the Limpet (`closed`, unless it had already stopped) and waits until it has. */
  close(): Promise<LimpetResult> {
    this.stop({ reason: 'closed' });
    return this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Log lines for NODE_DEBUG=kbus-limpet. */
function defaultLog(): (line: string) => void {
  const debug = debuglog('kbus-limpet');
  return (line) => debug('%s', line);
}
