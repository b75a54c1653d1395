/**
 * A wait for a readiness callback (a descriptor's watcher, a socket's data) that a timeout or an AbortSignal may
 * end first: the one shape of every such wait in the library.
 */
import { setLongTimeout, whenAborted } from './timeouts';
import { abortReason } from './validate';

/**
 * `arm(ready)` registers `ready` and returns what unregisters it. Resolves true once `ready(null)` is called, false
 * when `timeout` ms pass first; rejects with the error given to `ready`, or with an AbortError on `signal`.
 * Whatever ends the wait, `ready` is unregistered and the timer and the signal's listener are removed.
 */
export function whenReady(arm: (ready: (err: Error | null) => void) => () => void, timeout: number | undefined,
                          signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise<boolean>((resolve, reject) => {
    let settled = false;
    let disarm: (() => void) | undefined;
    let stopTimer: (() => void) | undefined;
    let stopListening: (() => void) | undefined;
    const settle = (err: Error | null, ready: boolean): void => {
      if (settled) return;
      settled = true;
      disarm?.();
      stopTimer?.();
      stopListening?.();
      if (err) reject(err);
      else resolve(ready);
    };
    if (timeout !== undefined) stopTimer = setLongTimeout(() => settle(null, false), timeout);
    if (signal) stopListening = whenAborted(signal, () => settle(abortReason(signal), false));
    if (!settled) disarm = arm((err) => settle(err, true));
  });
}
