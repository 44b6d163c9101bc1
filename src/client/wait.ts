/**
 * Waiting with an AbortSignal and a timeout, for the client's waits.
 */

export interface WaitOptions {
  /** Gives up when aborted (rejecting with the signal's reason). */
  signal?: AbortSignal;
  /** Gives up after this many milliseconds (rejecting with a TimeoutError). */
  timeout?: number;
}

export interface Waiter<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function waitOn<T>(
  register: (waiter: Waiter<T>) => () => void,
  options: WaitOptions | undefined,
): Promise<T> {
  const signal = options?.signal;
  if (signal?.aborted) return Promise.reject(signal.reason);
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
    const onAbort = () => giveUp(signal!.reason);
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
      timer = setTimeout(
        () => giveUp(new DOMException(`timed out after ${options.timeout} ms`, 'TimeoutError')),
        options.timeout,
      );
    }
  });
}
