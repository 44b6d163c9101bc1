/**
 * One client connection: one Ksock. Turns each request frame into the
 * engine operation it names (protocol.md "Operations") and answers it, in
 * order, exactly once; pushes STREAM messages and POLL events.
 */
import { type Engine, type EngineKsock, MessageCopy } from '../engine/index.js';
import {
  decodeAbout,
  type Frame,
  FrameDecoder,
  FrameError,
  FrameWriter,
  Op,
  opName,
  PROTOCOL_VERSION,
  QUERY,
  type Transport,
} from '../protocol/index.js';
import {
  decodeName,
  Errno,
  type ErrnoName,
  Flags,
  HeaderOffset,
  KbusError,
  latin1Bytes,
  type Message,
  readU32LE,
} from '../wire/index.js';
import type { Session } from './access.js';

const MAX_CREDIT = 0xffffffff;
/** Stop pushing STREAM messages into the batch past this many bytes; carry on after the flush. */
const PUSH_BATCH_BYTES = 256 * 1024;

/** The most Node reads from a socket at once: a read this long may have left more behind. */
const FULL_READ = 64 * 1024;

class BadPayload extends Error {}

function word(payload: Uint8Array, index: number): number {
  const at = index * 4;
  if (payload.length < at + 4) throw new BadPayload(`payload too short for word ${index}`);
  return readU32LE(payload, at);
}

/** u32 name_len then the name, starting at word `index`. */
function nameAt(payload: Uint8Array, index: number): string {
  const length = word(payload, index);
  const at = (index + 1) * 4;
  if (length > 1000) throw new KbusError('ENAMETOOLONG', `name length ${length}`);
  if (payload.length < at + length) throw new BadPayload('name runs past the frame');
  return decodeName(payload, at, length);
}

/**
 * Is the sender of this (valid, as sent) message waiting for a push: a
 * request that wants a reply (the reply, or KBUS's status message in its
 * place, is coming)?
 */
function wantsReply(message: Uint8Array): boolean {
  return (readU32LE(message, HeaderOffset.FLAGS) & Flags.WANT_A_REPLY) !== 0;
}

/** 1, 0 or "ask" (0xFFFFFFFF) as MSGONLYONCE / VERBOSE / REPORTREPLIERBINDS take it. */
function tristate(value: number): boolean | undefined {
  if (value === QUERY) return undefined;
  if (value === 0 || value === 1) return value === 1;
  throw new KbusError('EINVAL', `expected 0, 1 or 0xFFFFFFFF, not ${value}`);
}

export interface ConnectionOptions {
  /** Largest frame `length` accepted. */
  maxFrameLength: number;
  /** One line per event, or undefined for none. */
  log: ((line: string) => void) | undefined;
  /** Events an operator should hear of (a client refused for breaking the protocol). */
  notice?: ((line: string) => void) | undefined;
  /** Who the client is and what it may do (docs/network.md); none: everything, as without a policy. */
  session?: Session | undefined;
  /** Told why kbusd refused or closed this connection ("auth", "protocol", "limit"), for /metrics. */
  refused?: ((reason: string) => void) | undefined;
  /** Largest frame `length` accepted before OPEN (only small frames belong there). */
  preOpenFrameLength?: number | undefined;
  /** Told once the connection is gone and its Ksock released. */
  released?: (() => void) | undefined;
  /**
   * Binds `ksock` as replier to `name` once something outside the engine
   * has agreed (cluster mode: the replier registry). Frames after such a
   * BIND wait for it, so that answers stay in order.
   */
  bindReplier?: ((ksock: EngineKsock, name: string) => Promise<void>) | undefined;
}

/** docs/network.md AUTH: the methods it knows. */
const AUTH_BEARER = 1;

export class Connection {
  private readonly decoder: FrameDecoder;
  private readonly writer: FrameWriter;
  private ksock: EngineKsock | undefined;
  /** The copy pushNow() writes from, set for each message (one for the connection). */
  private readonly copy = new MessageCopy();
  /**
   * True while this connection's own frame is handled or its queue pumped:
   * pushNow() then declines, so that nothing it pushes can pass what that
   * work has taken off the queue and not yet written (a pop may let a
   * waiting ALL_OR_WAIT send through), nor a response being written.
   */
  private busy = false;
  private credit = 0;
  private armed = 0;
  private pumpScheduled = false;
  private yielding = false;
  private closed = false;
  /** Frames that arrived while a replier BIND waits (see ConnectionOptions.bindReplier). */
  private held: Frame[] | undefined;
  readonly name: string;

  constructor(
    private readonly engine: Engine,
    private readonly transport: Transport,
    private readonly options: ConnectionOptions,
    index: number,
  ) {
    this.name = `conn ${index}`;
    this.decoder = new FrameDecoder(options.preOpenFrameLength ?? options.maxFrameLength);
    const session = options.session;
    if (session !== undefined) {
      session.close = (why) => {
        this.options.notice?.(`${this.name}: closed: ${why}`);
        this.options.refused?.('limit');
        this.writer.flush();
        transport.destroy();
        this.release();
      };
    }
    this.writer = new FrameWriter(
      transport,
      () => {
        // Room in the transport again: read requests again and push what waits.
        if (!this.closed && !this.yielding) transport.resume();
        this.pump();
      },
      // A client that sends faster than it reads: stop reading until the transport drains.
      () => transport.pause(),
    );
    transport.attach({
      data: (bytes) => this.onData(bytes),
      drain: () => this.writer.drained(),
      // The client has finished sending: everything it sent is answered
      // (a held response too) before our side ends and the Ksock goes.
      end: () => this.writer.flush(),
      close: (error) => {
        if (error) this.log(`transport error: ${error.message}`);
        this.release();
      },
    });
  }

  private log(text: string): void {
    // The daemon's log adds the time, the level and the "kbusd:" prefix.
    this.options.log?.(`${this.name}${this.ksock ? ` ksock ${this.ksock.id}` : ''}: ${text}`);
  }

  private onData(chunk: Uint8Array): void {
    try {
      this.decoder.pushFields(chunk, this.onFrame);
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      // protocol.md: a frame whose length cannot be a frame closes the connection.
      this.log(`closing: ${err.message}`);
      this.options.notice?.(`${this.name}: closed, it broke the protocol: ${err.message}`);
      this.options.refused?.('protocol');
      this.writer.flush();
      this.transport.destroy();
      this.release();
      return;
    }
    this.options.session?.afterData(this.decoder.partial);
    // Responses go out with the microtask flush, after any messages this
    // chunk pushed to other Ksocks: their readers start work first.
    this.pump();
    // A short read emptied the socket; a full one means more is waiting.
    if (chunk.length >= FULL_READ) this.yieldReading();
  }

  /**
   * Reads no more from this client until the event loop has been round
   * once. Left alone, Node reads a busy socket up to 32 times in a row
   * (2 MB) before it services any other, so the messages those reads push
   * wait in our buffers while their readers, having emptied their sockets,
   * sit idle; taking one read per turn keeps every reader fed.
   */
  private yieldReading(): void {
    if (this.yielding) return;
    this.yielding = true;
    this.transport.pause();
    setImmediate(() => {
      this.yielding = false;
      if (!this.closed && !this.writer.blocked) this.transport.resume();
    });
  }

  /** Each frame as it is cut from the stream: handled now, or kept while an earlier one is held. */
  private readonly onFrame = (
    op: number,
    tag: number,
    payload: Uint8Array,
    tooLong: boolean,
  ): void => {
    if (this.held) this.held.push({ op, tag, payload, tooLong });
    else this.handle(op, tag, payload, tooLong);
  };

  private handle(op: number, tag: number, payload: Uint8Array, tooLong: boolean): void {
    if (tooLong) {
      this.log(`${opName(op) ?? op} frame over the limit`);
      this.fail(op, tag, 'EMSGSIZE');
      return;
    }
    if (this.options.log)
      this.log(`${opName(op) ?? `op ${op}`} tag ${tag} (${payload.length} bytes)`);
    const wasBusy = this.busy;
    this.busy = true;
    try {
      this.dispatch(op, tag, payload);
    } catch (err) {
      if (err instanceof KbusError) this.fail(op, tag, err.code);
      else if (err instanceof BadPayload) this.fail(op, tag, 'EINVAL');
      else throw err;
    } finally {
      this.busy = wasBusy;
    }
  }

  private fail(op: number, tag: number, code: ErrnoName): void {
    if (this.options.log) this.log(`${opName(op) ?? op} tag ${tag} -> -${code}`);
    this.writer.response(op, tag, -Errno[code]);
  }

  private dispatch(op: number, tag: number, payload: Uint8Array): void {
    const w = this.writer;
    switch (op) {
      case Op.OPEN:
        this.open(tag, payload);
        return;
      // protocol.md: answered before OPEN too, creating no Ksock, so that a
      // tool can read the bus's state without appearing in it.
      case Op.AUTH:
        this.auth(tag, payload);
        return;
      case Op.BINDINGS:
        this.options.session?.checkInspect('BINDINGS');
        w.response(op, tag, 0, [], latin1Bytes(this.engine.bindingsText()));
        return;
      case Op.STATS:
        this.options.session?.checkInspect('STATS');
        w.response(op, tag, 0, [], latin1Bytes(this.engine.statsText()));
        return;
      case Op.DEVICES:
        w.response(op, tag, 0, [this.engine.deviceCount]);
        return;
    }
    const ksock = this.ksock;
    if (ksock === undefined) {
      // protocol.md: any frame but OPEN first gets EBADF.
      this.fail(op, tag, 'EBADF');
      return;
    }
    switch (op) {
      case Op.SENDMSG: {
        // The payload is a view of what the socket read, which nothing else
        // uses: the message keeps it, with no copy. A message that stays
        // queued gets bytes of its own soon after (Engine.compactQueues), so
        // that it does not keep the whole read alive.
        const id = ksock.sendBytes(payload, true);
        w.idResponse(op, tag, id.networkId, id.serialNum);
        // The reply to this request will be pushed soon: let this response
        // leave with it, in one write (one wake-up of the requester, not
        // two). A reply's response is not held: its replier may wait on it
        // with no next request coming (docs/performance.md).
        if (this.credit > 0 && wantsReply(payload)) w.hold();
        return;
      }
      case Op.NEXTREAD: {
        const item = ksock.nextQueued();
        if (item === undefined) w.response(op, tag, 0, [0]);
        else w.messagesResponse(op, tag, item.length, [item]);
        return;
      }
      case Op.NEXTREADS: {
        const items = ksock.nextQueuedMany(word(payload, 0), word(payload, 1));
        w.messagesResponse(op, tag, items.length, items);
        return;
      }
      case Op.WRITE:
        w.response(op, tag, 0, [ksock.write(payload)]);
        return;
      case Op.READ:
        w.response(op, tag, 0, [], ksock.read(word(payload, 0)));
        return;
      case Op.POLL: {
        const notify = word(payload, 0);
        w.response(op, tag, 0, [ksock.poll()]);
        this.armed = notify;
        return;
      }
      case Op.STREAM: {
        // Pushing a message reads it, so a Ksock must be open for reading.
        if (!ksock.readable) throw new KbusError('EBADF', 'the Ksock is not open for reading');
        this.credit = Math.min(MAX_CREDIT, this.credit + word(payload, 0));
        w.response(op, tag, 0, [this.credit]);
        return;
      }
      case Op.MISSED:
        w.response(op, tag, 0, [ksock.missedCount >>> 0]);
        return;
      case Op.DESCRIBE:
        ksock.about = decodeAbout(payload);
        w.response(op, tag, 0);
        return;
      case Op.RESET:
        ksock.reset();
        w.response(op, tag, 0);
        return;
      case Op.BIND:
      case Op.UNBIND: {
        const isReplier = word(payload, 0) !== 0;
        const name = nameAt(payload, 1);
        if (op === Op.BIND) {
          this.options.session?.checkBind(name, isReplier);
          const bindReplier = this.options.bindReplier;
          if (isReplier && bindReplier) {
            this.hold(op, tag, bindReplier(ksock, name));
            return;
          }
          ksock.bind(name, isReplier);
        } else ksock.unbind(name, isReplier);
        w.response(op, tag, 0);
        return;
      }
      case Op.KSOCKID:
        w.response(op, tag, 0, [ksock.id]);
        return;
      case Op.REPLIER: {
        const id = ksock.replier(nameAt(payload, 0));
        // kbus.c answers 1 when there is a replier, 0 when there is none.
        w.response(op, tag, id === 0 ? 0 : 1, [id]);
        return;
      }
      case Op.NEXTMSG: {
        const length = ksock.nextMsg();
        w.response(op, tag, length === 0 ? 0 : 1, [length]);
        return;
      }
      case Op.LENLEFT:
        w.response(op, tag, ksock.hasCurrentMessage ? 1 : 0, [ksock.lenLeft()]);
        return;
      case Op.SEND: {
        const id = ksock.sendWritten();
        w.idResponse(op, tag, id.networkId, id.serialNum);
        return;
      }
      case Op.DISCARD:
        ksock.discard();
        w.response(op, tag, 0);
        return;
      case Op.LASTSENT: {
        const id = ksock.lastSent();
        w.idResponse(op, tag, id.networkId, id.serialNum);
        return;
      }
      case Op.MAXMSGS:
        w.response(op, tag, 0, [ksock.setMaxMessages(word(payload, 0))]);
        return;
      case Op.MAXMSGSIZE:
        w.response(op, tag, 0, [ksock.maxMessageSize(word(payload, 0))]);
        return;
      case Op.NUMMSGS:
        w.response(op, tag, 0, [ksock.numMessages()]);
        return;
      case Op.UNREPLIEDTO:
        w.response(op, tag, 0, [ksock.unrepliedTo()]);
        return;
      case Op.MSGONLYONCE:
        w.response(op, tag, 0, [ksock.msgOnlyOnce(tristate(word(payload, 0))) ? 1 : 0]);
        return;
      case Op.VERBOSE:
        w.response(op, tag, 0, [ksock.verbose(tristate(word(payload, 0))) ? 1 : 0]);
        return;
      case Op.NEWDEVICE:
        this.options.session?.checkNewDevice();
        w.response(op, tag, 0, [ksock.newDevice()]);
        return;
      case Op.REPORTREPLIERBINDS:
        w.response(op, tag, 0, [ksock.reportReplierBinds(tristate(word(payload, 0))) ? 1 : 0]);
        return;
      default:
        this.fail(op, tag, 'ENOTTY');
    }
  }

  /** Answers `op` when `done` settles; until then later frames wait, in order. */
  private hold(op: number, tag: number, done: Promise<void>): void {
    this.held = [];
    this.transport.pause();
    done
      .then(
        () => this.writer.response(op, tag, 0),
        (err: unknown) => this.fail(op, tag, err instanceof KbusError ? err.code : 'EAGAIN'),
      )
      .finally(() => {
        const frames = this.held ?? [];
        this.held = undefined;
        if (this.closed) return;
        for (const [i, frame] of frames.entries()) {
          if (this.held !== undefined) {
            (this.held as Frame[]).push(...frames.slice(i));
            break;
          }
          this.handle(frame.op, frame.tag, frame.payload, frame.tooLong);
        }
        this.pump();
        if (this.held === undefined && !this.yielding && !this.writer.blocked) {
          this.transport.resume();
        }
      });
  }

  private open(tag: number, payload: Uint8Array): void {
    if (this.ksock !== undefined) throw new KbusError('EINVAL', 'this connection is already open');
    const version = word(payload, 0);
    const device = word(payload, 1);
    const mode = word(payload, 2);
    const pid = word(payload, 3);
    if (version !== PROTOCOL_VERSION) {
      throw new KbusError(
        'EINVAL',
        `protocol version ${version}, this daemon speaks ${PROTOCOL_VERSION}`,
      );
    }
    const session = this.options.session;
    let ksock: EngineKsock;
    if (session === undefined) ksock = this.engine.open(device, mode & 3, pid);
    else {
      session.checkOpen(device, mode & 3);
      try {
        ksock = this.engine.open(device, mode & 3, pid);
      } catch (err) {
        session.openFailed();
        throw err;
      }
      session.opened(ksock);
      ksock.identity = session.identity;
    }
    this.decoder.maxLength = this.options.maxFrameLength;
    this.ksock = ksock;
    ksock.onReady = () => this.schedulePump();
    ksock.takeNow = (message, flags) => this.pushNow(message, flags);
    this.writer.response(Op.OPEN, tag, 0, [ksock.id]);
    this.log(`opened device ${device} mode ${mode & 3} pid ${pid}`);
  }

  /**
   * AUTH (docs/network.md): before OPEN only; a token the daemon does not
   * know is EACCES, and the connection is closed after the answer, so that
   * tokens cannot be guessed at speed on one connection.
   */
  private auth(tag: number, payload: Uint8Array): void {
    if (this.ksock !== undefined) throw new KbusError('EINVAL', 'AUTH comes before OPEN');
    const method = word(payload, 0);
    if (method !== AUTH_BEARER) throw new KbusError('EINVAL', `unknown AUTH method ${method}`);
    const token = new TextDecoder().decode(payload.subarray(4));
    try {
      this.options.session?.auth(token);
    } catch (err) {
      if (!(err instanceof KbusError) || err.code !== 'EACCES') throw err;
      this.options.notice?.(`${this.name}: AUTH refused: unknown token; closing`);
      this.options.refused?.('auth');
      this.fail(Op.AUTH, tag, 'EACCES');
      this.writer.flush();
      this.transport.end();
      this.release();
      return;
    }
    this.log(`authenticated as ${this.options.session?.who ?? 'anyone (no policy)'}`);
    this.writer.response(Op.AUTH, tag, 0);
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Pushes STREAM messages while there is credit and room, then any armed POLL event. */
  private pump(): void {
    const ksock = this.ksock;
    if (ksock === undefined || this.closed) return;
    let pushed = false;
    const wasBusy = this.busy;
    this.busy = true;
    try {
      while (this.credit > 0 && !this.writer.blocked) {
        if (this.writer.pending > PUSH_BATCH_BYTES) {
          this.writer.flush();
          continue;
        }
        const item = ksock.nextQueued();
        if (item === undefined) break;
        this.credit--;
        this.writer.entire(Op.MESSAGE, item);
        pushed = true;
      }
    } finally {
      this.busy = wasBusy;
    }
    // A pushed message is what a reader waits for: send it now.
    if (pushed) this.writer.flush();
    if (this.armed !== 0) {
      const ready = ksock.poll() & this.armed;
      if (ready !== 0) {
        this.armed = 0;
        this.writer.frame(Op.EVENT, [ready]);
      }
    }
  }

  /**
   * Pushes a listener's copy the moment it is sent, as pump() would push it
   * once queued (EngineKsock.takeNow): only with credit, and not while the
   * client is behind. False leaves it to the queue.
   */
  private pushNow(message: Message, flags: number): boolean {
    if (this.credit === 0 || this.busy || this.writer.blocked || this.closed) return false;
    if (this.writer.pending > PUSH_BATCH_BYTES) {
      this.writer.flush();
      if (this.writer.blocked) return false;
    }
    this.credit--;
    // The batch leaves with the writer's own flush, once this read is handled.
    this.writer.entire(Op.MESSAGE, this.copy.set(message, flags));
    return true;
  }

  /** Hands every frame owed to the client (a held response too) to the transport now. */
  flush(): void {
    this.writer.flush();
  }

  /** The connection is gone: the seed's release. */
  private release(): void {
    if (this.closed) return;
    this.closed = true;
    this.options.session?.end();
    if (this.ksock) {
      this.log('released');
      this.ksock.onReady = undefined;
      this.ksock.takeNow = undefined;
      this.ksock.close();
    }
    this.options.released?.();
  }
}
