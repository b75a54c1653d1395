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
export function deadlineOf(timeout: number | undefined): number | undefined {
  return timeout === undefined ? undefined : performance.now() + timeout;
}

/** Milliseconds left until `deadline` (undefined: forever), never negative. */
export function remaining(deadline: number | undefined): number | undefined {
  return deadline === undefined ? undefined : Math.max(0, deadline - performance.now());
}

/** Calls `fn` once `ms` milliseconds (up to TIMEOUT_MAX) have passed; the returned function cancels it. */
export function setLongTimeout(fn: () => void, ms: number): () => void {
  if (ms <= TIMER_MAX) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  }
  const due = performance.now() + ms;
  let timer: NodeJS.Timeout;
  const step = (): void => {
    const left = due - performance.now();
    timer = left > TIMER_MAX ? setTimeout(step, TIMER_MAX) : setTimeout(fn, Math.max(0, left));
  };
  step();
  return () => clearTimeout(timer);
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
