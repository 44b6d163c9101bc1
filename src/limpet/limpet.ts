/**
 * A Limpet (limpet.md): an ordinary client of its daemon, with one Ksock and
 * one link to a peer Limpet on another bus. Together a pair makes two buses
 * behave almost like one.
 */
import type { Socket } from 'node:net';
import { Ksock } from '../client/index.js';
import {
  DEFAULT_MAX_DATA_LENGTH,
  Flags,
  formatId,
  isKbusError,
  isReply,
  type Message,
  MessageNames,
} from '../wire/index.js';
import { bindEventOf, LimpetCore } from './core.js';
import { acceptLink, connectLink, greet, type LinkAddress, type TlsFiles } from './link.js';
import { encodeLinkMessage, LinkDecoder, type LinkError } from './link-codec.js';
import { ProxyRepliers } from './proxies.js';

export interface LimpetOptions {
  role: 'server' | 'client';
  address: LinkAddress;
  /** This Limpet's network id, at least 1. */
  networkId: number;
  /** The daemon's socket (default: as for every client). */
  socket?: string;
  /** Device on the daemon. */
  device?: number;
  /** Listening filter (default `$.*`). */
  filter?: string;
  /** Reading a message of this name stops the Limpet (exit 0). */
  terminationName?: string;
  /** 0 quiet, 1 link and proxy events, 2 every message. */
  verbosity?: number;
  /** MAXMSGS for the Limpet's Ksock (default 10,000). */
  maxMessages?: number;
  /** Largest message data accepted from the link (default 1 MiB). */
  maxDataLength?: number;
  /** Client role: keep trying to connect for this many seconds. */
  retrySeconds?: number;
  /** Give up on the peer's greeting after this many milliseconds (default 10 s). */
  greetingTimeoutMs?: number;
  /** Mutual TLS for a TCP link. */
  tls?: TlsFiles;
  log?: (line: string) => void;
  /** Aborting stops the Limpet (exit 0). */
  signal?: AbortSignal;
}

/** Link traffic waiting for the bus before we stop reading the link. */
const LINK_BACKLOG = 1000;

export async function runLimpet(options: LimpetOptions): Promise<number> {
  const verbosity = options.verbosity ?? 1;
  const write = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const log = (line: string): void => {
    if (verbosity >= 1) write(`limpet ${options.networkId}: ${line}`);
  };
  const trace = (line: string): void => {
    if (verbosity >= 2) write(`limpet ${options.networkId}: ${line}`);
  };
  const where =
    options.address.kind === 'unix'
      ? options.address.path
      : `${options.address.host}:${options.address.port}`;

  if (options.address.kind === 'tcp' && !options.tls && options.role === 'server') {
    write(
      `limpet ${options.networkId}: warning: listening on all interfaces without TLS (--tls-cert/--tls-key/--tls-ca)`,
    );
  }

  // 1. The link, 2. the greeting.
  let socket: Socket;
  let cleanup = async () => {};
  if (options.role === 'server') {
    const accepted = await acceptLink(
      options.address,
      options.tls,
      (at) => log(`listening on ${at}`),
      options.signal,
    );
    socket = accepted.socket;
    cleanup = accepted.cleanup;
  } else {
    socket = await connectLink(
      options.address,
      options.tls,
      options.retrySeconds ?? 0,
      (err) => trace(`connecting to ${where}: ${err.message}; retrying`),
      options.signal,
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
      options.networkId,
      options.greetingTimeoutMs ?? 10_000,
    ));
  } catch (err) {
    socket.destroy();
    await cleanup();
    throw err;
  }
  log(`link up with ${peerId} over ${where}`);

  // What stops the Limpet; the first reason decides the exit code.
  let exitCode: number | undefined;
  let finish!: (code: number) => void;
  const finished = new Promise<void>((resolve) => {
    finish = (code) => {
      if (exitCode !== undefined) return;
      exitCode = code;
      resolve();
    };
  });
  options.signal?.addEventListener('abort', () => finish(0), { once: true });
  // The link may end while the Ksock is being set up: notice it.
  const linkEnded = () => {
    if (exitCode !== undefined) return; // our own closing
    log('link closed by the peer');
    finish(1);
  };
  socket.once('end', linkEnded);
  socket.once('close', linkEnded);
  socket.on('error', (err) => {
    if (exitCode !== undefined) return;
    log(`link failed: ${err.message}`);
    finish(1);
  });

  // 3, 4. The Ksock, set up in limpet.md's order.
  let ksock: Ksock | undefined;
  try {
    ksock = await Ksock.connect({ socket: options.socket, device: options.device ?? 0 });
    await ksock.msgOnlyOnce(true);
    await ksock.maxMessages(options.maxMessages ?? 10_000);
    await ksock.bind(options.filter ?? '$.*');
    await ksock.bind(MessageNames.REPLIER_BIND_EVENT);
    await ksock.reportReplierBinds(true);
  } catch (err) {
    // limpet.md section 9.12: a Limpet whose daemon refuses its set-up exits.
    await ksock?.close();
    socket.destroy();
    await cleanup();
    throw err;
  }
  if (exitCode !== undefined) {
    await ksock.close();
    socket.destroy();
    await cleanup();
    log(`link down (exit ${exitCode})`);
    return exitCode;
  }
  const bus = ksock;
  const K = bus.id;
  const core = new LimpetCore(
    { networkId: options.networkId, peerId, ksockId: K },
    options.terminationName,
  );
  const proxies = new ProxyRepliers({
    bind: (name) => bus.bind(name, { replier: true }),
    unbind: (name) => bus.unbind(name, { replier: true }),
    log,
  });

  // 5. Both directions, until something stops them.
  let corked = false;
  const sendToLink = (message: Message) => {
    trace(`bus -> link: ${message.name} ${formatId(message.id)}`);
    // What the bus hands over in one go leaves in one write (one segment,
    // not one a message): held until the microtasks now running are done.
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        socket.uncork();
      });
    }
    if (!socket.write(encodeLinkMessage(message))) {
      // Reading from the bus waits while the link is full.
      return new Promise<void>((resolve) => socket.once('drain', resolve));
    }
    return undefined;
  };

  const busToLink = (async () => {
    try {
      for await (const message of bus) {
        const action = core.fromBus(message);
        if (message.name === MessageNames.REPLIER_BIND_EVENT && message.isSynthetic) {
          const event = bindEventOf(message);
          if (event && !event.isBind && event.binder !== K) proxies.localReplierUnbound(event.name);
        }
        if (action.kind === 'stop') {
          log(`termination message ${message.name}: stopping`);
          finish(0);
          return;
        }
        if (action.kind === 'drop') {
          trace(`bus: dropped ${message.name} ${formatId(message.id)}: ${action.why}`);
        } else if (action.kind === 'inject') {
          bus
            .send(action.message)
            .catch((err: Error) => log(`self-loop answer failed: ${err.message}`));
        } else {
          const waiting = sendToLink(action.message);
          if (waiting) await waiting;
        }
      }
      if (exitCode === undefined) log('lost the daemon connection');
      finish(1);
    } catch (err) {
      if (!bus.closed) log(`bus side failed: ${(err as Error).message}`);
      finish(1);
    }
  })();

  // Link to bus: in arrival order; sends are pipelined. Only a Request
  // waits (to ask who its replier is); while one does, what follows it
  // queues behind it. Everything else is handled at once, so the messages
  // of one read from the link reach the bus in one write.
  let chain: Promise<void> = Promise.resolve();
  let backlog = 0;
  /** A Request waits to ask who its replier is; nothing else does. */
  const waits = (message: Message) =>
    message.name !== MessageNames.REPLIER_BIND_EVENT &&
    !isReply(message) &&
    (message.flags & Flags.WANT_A_REPLY) !== 0;
  const fromLinkNow = (message: Message): void => {
    trace(`link -> bus: ${message.name} ${formatId(message.id)}`);
    if (message.name === MessageNames.REPLIER_BIND_EVENT) {
      // Section 10.2: a bind event without SYNTHETIC is not genuine.
      if (!(message.flags & Flags.SYNTHETIC)) return;
      const event = bindEventOf(message);
      if (event) proxies.peerReplier(event.name, event.isBind);
      return;
    }
    if (isReply(message)) {
      const reply = core.replyFromLink(message);
      if (reply === undefined) {
        trace(`link: dropped reply to ${formatId(message.inReplyTo)}: nothing pending`);
        return;
      }
      bus
        .send(reply)
        .catch((err: Error) =>
          log(`relaying reply ${formatId(message.id)} failed: ${err.message}`),
        );
      return;
    }
    bus
      .send(core.otherFromLink(message))
      .catch((err: Error) => log(`injecting ${message.name} failed: ${err.message}`));
  };
  const requestFromLink = async (message: Message) => {
    trace(`link -> bus: ${message.name} ${formatId(message.id)}`);
    const replier = await bus.replier(message.name);
    const decision = core.requestFromLink(message, replier);
    if (decision.kind === 'drop') return trace(`link: dropped ${message.name}: ${decision.why}`);
    if (decision.kind === 'answer') {
      sendToLink(decision.message);
      return;
    }
    bus.send(decision.message).catch((err: unknown) => {
      const errno = isKbusError(err) ? err.errno : 22;
      sendToLink(core.remoteError(message, errno));
    });
  };
  const failed = (err: Error) => {
    if (!bus.closed) log(`link message failed: ${err.message}`);
  };
  const fromLink = (message: Message) => {
    if (backlog === 0 && !waits(message)) {
      try {
        fromLinkNow(message);
      } catch (err) {
        failed(err as Error);
      }
      return;
    }
    backlog++;
    if (backlog > LINK_BACKLOG) socket.pause();
    chain = chain
      .then(() => (waits(message) ? requestFromLink(message) : fromLinkNow(message)))
      .catch(failed)
      .finally(() => {
        if (--backlog <= LINK_BACKLOG / 2 && socket.isPaused()) socket.resume();
      });
  };
  const decoder = new LinkDecoder(options.maxDataLength ?? DEFAULT_MAX_DATA_LENGTH);
  const onLinkData = (chunk: Buffer) => {
    try {
      decoder.push(chunk, fromLink);
    } catch (err) {
      log(`link broken: ${(err as LinkError).message}`);
      finish(1);
    }
  };
  socket.on('data', onLinkData);
  if (early.length > 0) onLinkData(early);
  socket.resume();

  await finished;
  // Section 6: close the Ksock first, then the link.
  proxies.stop();
  await bus.close();
  await busToLink;
  socket.destroy();
  await cleanup();
  log(`link down (exit ${exitCode})`);
  return exitCode ?? 0;
}
