/**
 * A WebSocket as a Transport: one frame per binary message (protocol.md
 * "Connecting"). Written against the standard WebSocket interface
 * (addEventListener, send, close, bufferedAmount), which both the `ws`
 * package and browsers offer, so that it depends on neither.
 */
import { readU32LE } from '../wire/index.js';
import type { Transport, TransportEvents } from './transport.js';

/** The parts of a WebSocket this transport uses. */
export interface WebSocketLike {
  binaryType: string;
  readonly bufferedAmount: number;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(
    type: 'close',
    listener: (event: { code: number; reason: string | Uint8Array }) => void,
  ): void;
  addEventListener(type: 'error', listener: (event: { error?: unknown }) => void): void;
  /** `ws` only: stop reading the socket (browsers cannot). */
  pause?(): void;
  resume?(): void;
  /** `ws` only: drop the connection at once. */
  terminate?(): void;
}

/** Close codes (RFC 6455 7.4.1) this transport uses. */
export const WsCloseCode = {
  NORMAL: 1000,
  /** A binary message that is not exactly one frame. */
  PROTOCOL_ERROR: 1002,
  /** A text message: the protocol is binary. */
  UNSUPPORTED_DATA: 1003,
  /** Refused by the daemon's rules (a failed AUTH, a limit). */
  POLICY_VIOLATION: 1008,
  /** A message over the frame limit (the `ws` package sends it itself). */
  MESSAGE_TOO_BIG: 1009,
} as const;

const OPEN = 1;

export interface WebSocketTransportOptions {
  /**
   * Check that every message is exactly one frame, closing with 1002
   * otherwise (the daemon does; a client trusts its daemon).
   */
  checkFrames?: boolean;
  /** Calls back when the socket's send buffer has drained; without it the backlog is polled. */
  onDrain?: (callback: () => void) => void;
  /**
   * Report the close as soon as the peer's close frame arrives (`ws` answers
   * it by calling close()), not when TCP has finished closing: the daemon
   * releases the Ksock then, as when a stream socket ends, so that a client
   * whose close has completed finds its Ksock gone.
   */
  closeOnPeerClose?: boolean;
  /**
   * The stream under the WebSocket (Node): corked while a batch of frames
   * is sent as messages, so that they leave in one system call, as they do
   * over a stream socket, rather than one each.
   */
  stream?: { cork(): void; uncork(): void } | undefined;
}

export class WebSocketTransport implements Transport {
  private events: TransportEvents | undefined;
  private isClosed = false;
  private waitingForDrain = false;
  private pollTimer: ReturnType<typeof setInterval> | undefined;

  constructor(
    readonly socket: WebSocketLike,
    private readonly options: WebSocketTransportOptions = {},
  ) {
    // `ws` hands Node Buffers (views, no copy); browsers need 'arraybuffer'.
    socket.binaryType = typeof Buffer === 'function' ? 'nodebuffer' : 'arraybuffer';
    if (options.closeOnPeerClose) {
      const close = socket.close.bind(socket);
      socket.close = (code?: number, reason?: string) => {
        close(code, reason);
        // Not closing already (end(), refuse()): this is the answer to the peer's close frame.
        if (!this.isClosed) this.closed_(undefined);
      };
    }
  }

  attach(events: TransportEvents): void {
    this.events = events;
    const ws = this.socket;
    ws.addEventListener('message', ({ data }) => {
      if (this.isClosed) return;
      if (typeof data === 'string') {
        this.refuse(WsCloseCode.UNSUPPORTED_DATA, 'text message: kbus frames are binary');
        return;
      }
      const bytes =
        data instanceof Uint8Array ? data : new Uint8Array(data as ArrayBufferLike as ArrayBuffer);
      if (this.options.checkFrames && !isOneFrame(bytes)) {
        this.refuse(WsCloseCode.PROTOCOL_ERROR, 'a message must hold exactly one frame');
        return;
      }
      events.data(bytes);
    });
    ws.addEventListener('close', ({ code, reason }) => {
      const text = typeof reason === 'string' ? reason : new TextDecoder().decode(reason);
      const normal = code === WsCloseCode.NORMAL || code === 1001 || code === 1005;
      this.closed_(normal ? undefined : new Error(`WebSocket closed: ${code} ${text}`.trim()));
    });
    ws.addEventListener('error', ({ error }) =>
      this.closed_(error instanceof Error ? error : new Error('WebSocket error')),
    );
    this.options.onDrain?.(() => this.drained());
  }

  /** Closes with a close code that says why (the peer broke the transport's rules). */
  refuse(code: number, reason: string): void {
    if (this.isClosed) return;
    this.socket.close(code, reason);
    this.closed_(new Error(`${reason} (${code})`));
  }

  private closed_(error: Error | undefined): void {
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    this.isClosed = true;
    const events = this.events;
    this.events = undefined;
    events?.close(error);
  }

  private drained(): void {
    if (!this.waitingForDrain || this.socket.bufferedAmount !== 0) return;
    this.waitingForDrain = false;
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    this.events?.drain();
  }

  get closed(): boolean {
    return this.isClosed || this.socket.readyState > OPEN;
  }

  get backlog(): number {
    return this.socket.bufferedAmount;
  }

  /** Sends each whole frame in `bytes` as one binary message (the frame writer hands whole frames). */
  write(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    const stream = this.options.stream;
    stream?.cork();
    let at = 0;
    while (at + 4 <= bytes.length) {
      const end = at + 4 + readU32LE(bytes, at);
      this.socket.send(bytes.subarray(at, Math.min(end, bytes.length)));
      at = end;
    }
    stream?.uncork();
    const held = this.socket.bufferedAmount !== 0;
    if (held && !this.waitingForDrain) {
      this.waitingForDrain = true;
      // Without a drain event (a browser), look every few milliseconds.
      if (this.options.onDrain === undefined) {
        this.pollTimer = setInterval(() => this.drained(), 5);
      }
    }
    return held;
  }

  pause(): void {
    this.socket.pause?.();
  }

  resume(): void {
    if (!this.closed) this.socket.resume?.();
  }

  end(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.socket.close(WsCloseCode.NORMAL);
  }

  destroy(error?: Error): void {
    if (this.socket.terminate) this.socket.terminate();
    else this.socket.close(WsCloseCode.NORMAL);
    if (!this.isClosed) this.closed_(error);
  }
}

/** Is `bytes` exactly one frame (its length field says so)? */
function isOneFrame(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && readU32LE(bytes, 0) + 4 === bytes.length;
}
