/**
 * The contract between a protocol end (the daemon's connection, a client's
 * channel) and whatever carries its bytes: a Unix or TCP socket, an
 * in-memory pair, later a WebSocket. The protocol ends know nothing else of
 * the transport, so the same code runs over every one (as nats.js hands its
 * core a Transport).
 */

/** What a transport tells its owner. */
export interface TransportEvents {
  /** Bytes arrived. They may be a view of the transport's own buffer: keep them only if the transport gave them away (see Transport.write). */
  data(bytes: Uint8Array): void;
  /** The backlog has drained after a write that left it over the high-water mark. */
  drain(): void;
  /**
   * The peer has finished sending (it ended its side) and everything it
   * sent has been delivered. What is written now still reaches the peer:
   * the transport ends this side right after, then reports close.
   */
  end?(): void;
  /**
   * The transport is closed for good, by either end or by an error (given).
   * Called once; no data or drain follows.
   */
  close(error?: Error): void;
}

export interface Transport {
  /** Starts delivering events to `events`. Called once, before anything else. */
  attach(events: TransportEvents): void;
  /**
   * Sends `bytes`. Returns true if the transport still refers to them
   * afterwards (the caller must not change them), false if it has finished
   * with them and they may be reused at once.
   */
  write(bytes: Uint8Array): boolean;
  /** Bytes accepted by write() and not yet handed on (to the kernel, or to the peer). */
  readonly backlog: number;
  /** Stops delivering data until resume(): the peer is held back as the backlog fills. */
  pause(): void;
  resume(): void;
  /** Closes after what was written has been sent; the peer sees the end. */
  end(): void;
  /** Closes at once, dropping what was not sent. */
  destroy(error?: Error): void;
  /** True once closed (close was delivered, or end()/destroy() called). */
  readonly closed: boolean;
}
