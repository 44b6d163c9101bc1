/**
 * The client's own errors, for what is not a KBUS errno: a wait that timed
 * out or was aborted, a connection that was lost, a socket that cannot be
 * reached. Each has a stable `code` starting with KBUS_; tests and callers
 * check the code, never the text.
 */

export const ClientErrorCode = {
  /** A wait (receive, request, iteration, waitReady) passed its `timeout`. */
  TIMEOUT: 'KBUS_TIMEOUT',
  /** A wait's `signal` aborted; the signal's reason is the cause. */
  ABORTED: 'KBUS_ABORTED',
  /** The connection to the bus ended without close() being called (kbusd stopped or died). */
  CONNECTION_LOST: 'KBUS_CONNECTION_LOST',
  /** No socket path was given to connect to, or an empty one. */
  NO_SOCKET_PATH: 'KBUS_NO_SOCKET_PATH',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

/** An error of the client that is not a KBUS errno: `code` says which. */
export class ClientError extends Error {
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ClientError';
  }
}

/** A wait passed its timeout (code KBUS_TIMEOUT); `timeout` is in milliseconds. */
export class TimeoutError extends ClientError {
  constructor(
    readonly what: string,
    readonly timeout: number,
  ) {
    super(ClientErrorCode.TIMEOUT, `${what} timed out after ${timeout} ms`);
    this.name = 'TimeoutError';
  }
}

/** A wait was aborted by its signal (code KBUS_ABORTED); the signal's reason is the cause. */
export class AbortError extends ClientError {
  constructor(what: string, reason: unknown) {
    super(ClientErrorCode.ABORTED, `${what} was aborted`, { cause: reason });
    this.name = 'AbortError';
  }
}

/** The connection ended without close() (code KBUS_CONNECTION_LOST). */
export class ConnectionLostError extends ClientError {
  constructor(cause?: unknown) {
    super(
      ClientErrorCode.CONNECTION_LOST,
      'the connection to kbusd closed without close() being called (kbusd stopped or died): connect again',
      cause === undefined ? undefined : { cause },
    );
    this.name = 'ConnectionLostError';
  }
}

export function isClientError(value: unknown, code?: ClientErrorCode): value is ClientError {
  return value instanceof ClientError && (code === undefined || value.code === code);
}

/**
 * kbusd's socket cannot be reached. `code` is the system's errno name
 * (ENOENT, ECONNREFUSED, EACCES, ENOTSOCK, ENOTDIR), the message says what
 * to do, the system's error is the cause.
 */
export class SocketPathError extends Error {
  constructor(
    readonly code: string,
    readonly path: string,
    message: string,
    cause: unknown,
  ) {
    super(message, { cause });
    this.name = 'SocketPathError';
  }
}
