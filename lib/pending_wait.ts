/**
 * The ending of an async wait on shared words (robust_lock.ts, robust_semaphore.ts): it settles the promise once,
 * forgets the wait in its owner's pending set (close() cancels what is left there) and stops listening to the abort
 * signal. A cancel (close() or the signal) first runs `stopWaiting`, which ends the wait it has in the wait hub.
 */
import { whenAborted } from './timeouts';
import { abortReason } from './validate';

export interface PendingWait {
  settle(err: Error | null, ok: boolean): void;
  readonly done: boolean;
}

export function pendingWait(pending: Set<(err: Error) => void>, signal: AbortSignal | undefined,
                            resolve: (ok: boolean) => void, reject: (err: Error) => void,
                            stopWaiting: () => void): PendingWait {
  let done = false;
  let stopListening: (() => void) | undefined;
  const settle = (err: Error | null, ok: boolean): void => {
    if (done) return;
    done = true;
    pending.delete(cancel);
    stopListening?.();
    if (err) reject(err);
    else resolve(ok);
  };
  const cancel = (err: Error): void => {
    stopWaiting();
    settle(err, false);
  };
  pending.add(cancel);
  if (signal) stopListening = whenAborted(signal, () => cancel(abortReason(signal)));
  return { settle, get done() { return done; } };
}
