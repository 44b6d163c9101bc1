/**
 * Bounded waits for the tests: wait for a condition, or for a promise, and
 * fail with a message naming what was waited for. Never sleep-and-hope: the
 * suite runs on a loaded two-core machine, so every wait is for a condition
 * and has a generous deadline that only a real failure reaches.
 */

/** Generous: the suite must hold on a loaded two-core machine. */
export const DEADLINE_MS = 20_000;

/** How often waitFor checks its condition. */
const POLL_MS = 10;

/** What was waited for: a text, or a function giving it when the wait fails (to show state then). */
export type What = string | (() => string);

/** The error a wait that ran out of time rejects with. */
function timedOut(what: What, timeoutMs: number): Error {
  const text = typeof what === 'string' ? what : what();
  return new Error(`timed out after ${timeoutMs} ms waiting for ${text}`);
}

/** `promise`'s outcome, or a rejection with `onTimeout()` after `ms`. */
async function race<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `promise`'s outcome, or a rejection naming `what` if it has not settled
 * within `timeoutMs`. The timer is cleared either way, so it holds no test
 * process open.
 */
export async function within<T>(
  promise: Promise<T>,
  what: What,
  timeoutMs = DEADLINE_MS,
): Promise<T> {
  return race(promise, timeoutMs, () => timedOut(what, timeoutMs));
}

/**
 * Checks `condition` every few milliseconds until it holds; rejects naming
 * `what` once `timeoutMs` has passed. An asynchronous condition that never
 * settles is cut off at the same deadline; one that throws ends the wait
 * with its error.
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: What,
  timeoutMs = DEADLINE_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = condition();
    const holds =
      typeof result === 'boolean'
        ? result
        : await race(result, Math.max(1, deadline - Date.now()), () => timedOut(what, timeoutMs));
    if (holds) return;
    if (Date.now() >= deadline) throw timedOut(what, timeoutMs);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
