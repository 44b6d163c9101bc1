/**
 * Waiting with an AbortSignal and a timeout, for the client's waits: a
 * timeout rejects with a TimeoutError (code KBUS_TIMEOUT), an abort with an
 * AbortError (code KBUS_ABORTED) whose cause is the signal's reason.
 */
import { AbortError, TimeoutError } from './errors.js';
import { checkOptionsObject } from './messages.js';

export interface WaitOptions {
  /** Gives up when aborted (rejecting with an AbortError, code KBUS_ABORTED, the signal's reason its cause). */
  signal?: AbortSignal;
  /** Gives up after this many milliseconds (rejecting with a TimeoutError, code KBUS_TIMEOUT). */
  timeout?: number;
}

export interface Waiter<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** Throws a TypeError for a timeout that is not a number of milliseconds. */
export function checkWaitOptions(what: string, options: WaitOptions | undefined): void {
  checkOptionsObject(options, what);
  const timeout = options?.timeout;
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout >= 0)) {
    throw new TypeError(`${what}: timeout takes a number of milliseconds, not ${String(timeout)}`);
  }
}

/**
 * Waits for what `register` arranges to settle the waiter; `what` (e.g.
 * "receive()") says in an error what was waited for.
 */
export function waitOn<T>(
  what: string,
  register: (waiter: Waiter<T>) => () => void,
  options: WaitOptions | undefined,
): Promise<T> {
  try {
    checkWaitOptions(what, options);
  } catch (err) {
    return Promise.reject(err);
  }
  const signal = options?.signal;
  if (signal?.aborted) return Promise.reject(new AbortError(what, signal.reason));
  return new Promise<T>((resolve, reject) => {
    // A referenced timer (unlike AbortSignal.timeout's) keeps the process
    // alive while a wait is pending, as a pending socket read would.
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    let unregister = () => {};
    const settle = () => {
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const giveUp = (reason: unknown) => {
      settle();
      unregister();
      reject(reason);
    };
    const onAbort = () => giveUp(new AbortError(what, signal!.reason));
    unregister = register({
      resolve: (value) => {
        settle();
        resolve(value);
      },
      reject: (error) => {
        settle();
        reject(error);
      },
    });
    if (done) return;
    signal?.addEventListener('abort', onAbort, { once: true });
    if (options?.timeout !== undefined) {
      timer = setTimeout(() => giveUp(new TimeoutError(what, options.timeout!)), options.timeout);
    }
  });
}
