/**
 * What ends a wait early, the same for every wait of the library: a timeout of any accepted length, and an
 * AbortSignal that any number of waits may share.
 */

/**
 * The longest timeout that is honoured as a length of time: 2^42 ms, about 139 years. A longer one (and Infinity)
 * waits forever. Below it, every clock the library and the addon use can add the timeout to "now" without
 * overflowing (the addon's steady clock counts nanoseconds in 64 bits: about 292 years).
 */
export const TIMEOUT_MAX = 2 ** 42;

/** setTimeout's longest delay: above it Node fires after 1 ms, with a TimeoutOverflowWarning. */
const TIMER_MAX = 0x7fffffff;

/** The moment (performance.now()) a timeout ends; undefined for no timeout. */
export function deadlineOf(timeout: number): number;
export function deadlineOf(timeout: number | undefined): number | undefined;
export function deadlineOf(timeout: number | undefined): number | undefined {
  return timeout === undefined ? undefined : performance.now() + timeout;
}

/** Milliseconds left until `deadline` (undefined: forever), never negative. */
export function remaining(deadline: number): number;
export function remaining(deadline: number | undefined): number | undefined;
export function remaining(deadline: number | undefined): number | undefined {
  return deadline === undefined ? undefined : Math.max(0, deadline - performance.now());
}

/**
 * Calls `fn` once `ms` milliseconds (up to TIMEOUT_MAX) have passed; the returned function cancels it. With `ref`
 * false, the timer does not keep the process alive.
 */
export function setLongTimeout(fn: () => void, ms: number, ref = true): () => void {
  let timer: NodeJS.Timeout;
  const arm = (callback: () => void, delay: number): void => {
    timer = setTimeout(callback, delay);
    if (!ref) timer.unref();
  };
  if (ms <= TIMER_MAX) {
    arm(fn, ms);
  } else {
    const due = deadlineOf(ms);
    const step = (): void => {
      const left = remaining(due);
      if (left > TIMER_MAX) arm(step, TIMER_MAX);
      else arm(fn, left);
    };
    step();
  }
  return () => clearTimeout(timer);
}

/**
 * AbortSignal.timeout(ms) for any accepted timeout (Node's own overflows above 2^31 − 1 ms and fires after 1 ms).
 * Its timer does not keep the process alive; clear() it once the signal is no longer needed.
 */
export function timeoutSignal(ms: number): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const clear = setLongTimeout(() => controller.abort(new DOMException('The operation timed out.', 'TimeoutError')),
    ms, false);
  return { signal: controller.signal, clear };
}

/**
 * The abort callbacks of the waits pending on each signal, behind one listener per signal: a thousand waits sharing
 * a signal add one listener to it (no MaxListenersExceededWarning), and the listener goes with the last of them.
 */
const abortWatches = new WeakMap<AbortSignal, { callbacks: Set<() => void>; listener: () => void }>();

/**
 * Calls `onAbort` once if `signal` aborts; the returned function stops that (call it when the wait settles, so a
 * long-lived signal collects nothing).
 */
export function whenAborted(signal: AbortSignal, onAbort: () => void): () => void {
  let watch = abortWatches.get(signal);
  if (!watch) {
    const callbacks = new Set<() => void>();
    const listener = (): void => {
      abortWatches.delete(signal);
      for (const callback of [...callbacks]) callback();
    };
    watch = { callbacks, listener };
    abortWatches.set(signal, watch);
    signal.addEventListener('abort', listener, { once: true });
  }
  const entry = (): void => onAbort(); // one entry per call, even for the same function
  const { callbacks, listener } = watch;
  callbacks.add(entry);
  return () => {
    if (!callbacks.delete(entry) || callbacks.size > 0 || abortWatches.get(signal) !== watch) return;
    abortWatches.delete(signal);
    signal.removeEventListener('abort', listener);
  };
}

/**
 * Python's Condition.wait_for: evaluates `predicate` until it is truthy, calling `wait` with the time left between
 * tries, and gives up once `timeout` has passed; returns the predicate's last value. (The Sync twin below.)
 */
export async function waitUntil<T>(predicate: () => T | Promise<T>, timeout: number | undefined,
                                   wait: (timeout: number | undefined) => Promise<unknown>): Promise<T> {
  const deadline = deadlineOf(timeout);
  let result = await predicate();
  while (!result) {
    const left = remaining(deadline);
    if (left === 0) break;
    await wait(left);
    result = await predicate();
  }
  return result;
}

/** waitUntil's synchronous twin. */
export function waitUntilSync<T>(predicate: () => T, timeout: number | undefined, wait: (timeout: number | undefined) => unknown): T {
  const deadline = deadlineOf(timeout);
  let result = predicate();
  while (!result) {
    const left = remaining(deadline);
    if (left === 0) break;
    wait(left);
    result = predicate();
  }
  return result;
}
