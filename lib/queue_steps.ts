/**
 * A queue operation is written once, as a generator of the waits it needs (`Wait`); `runSync` performs those waits
 * by blocking the thread, `runAsync` through the event loop or the addon's wait hub. A wait answers true ("look
 * again": taken, ready, or a nap ended) or false (the call's deadline passed).
 */
import { native, WaitId } from './native';
import { pendingWait } from './pending_wait';
import { Readiness } from './pipe';
import { PipeReadable, PipeWritable } from './pipe_win';
import { RobustLockHandle } from './robust_lock';
import { SemaphoreHandle, SPIN_MS, waitAsync } from './semlock';
import { remaining } from './timeouts';

type PipeReadiness = Readiness | PipeReadable | PipeWritable;

/**
 * One wait an operation needs. `bounded` waits honour the call's timeout and signal; the others happen once this
 * process is committed to an item (it claimed it, or started writing it) and must see it through. A wait with a
 * `nap` ends after that many ms at most, answering true, so that the operation looks at the queue again.
 */
export type Wait =
  | { sem: SemaphoreHandle; bounded: boolean; lock?: true } // take one unit (of the read or write lock: see spinForLock)
  | { sem: SemaphoreHandle; ready: PipeReadiness; bounded: true } // take a unit whose frame shows up on `ready`
  | { ready: PipeReadiness; bounded: boolean; nap?: number } // wait until the descriptor is ready
  | { lock: RobustLockHandle; bounded: boolean } // take a kill-safe lock
  | { word: Int32Array; index: number; expected: number; bounded: boolean; nap: number }; // a shared word changes
export type Steps<T> = Generator<Wait, T, boolean>;

/** The time a wait may take: the call's, shortened to the wait's nap. */
function waitMs(wait: Wait, deadline: number | undefined): { ms: number | undefined; napped: boolean } {
  const ms = wait.bounded ? remaining(deadline) : undefined;
  const nap = 'nap' in wait ? wait.nap : undefined;
  if (nap !== undefined && (ms === undefined || nap < ms)) return { ms: nap, napped: true };
  return { ms, napped: false };
}

export function runSync<T>(steps: Steps<T>, deadline: number | undefined): T {
  let step = steps.next();
  while (!step.done) {
    step = steps.next(waitSync(step.value, deadline));
  }
  return step.value;
}

function waitSync(wait: Wait, deadline: number | undefined): boolean {
  const { ms, napped } = waitMs(wait, deadline);
  const timeoutMs = ms === undefined ? -1 : Math.ceil(ms);
  let done: boolean;
  if ('sem' in wait) done = wait.sem.wait(timeoutMs);
  else if ('lock' in wait) done = wait.lock.wait(timeoutMs);
  else if ('word' in wait) done = native.wordWait(wait.word, wait.index, wait.expected, timeoutMs) !== 2;
  else done = wait.ready.waitSync(timeoutMs);
  return done || napped;
}

/** Performs the waits of `steps` from `step` (its first wait) on. */
export async function runAsync<T>(steps: Steps<T>, step: IteratorResult<Wait, T>, deadline: number | undefined,
                                  signal: AbortSignal | undefined): Promise<T> {
  while (!step.done) {
    let ready: boolean;
    try {
      ready = await waitFor(step.value, deadline, signal);
    } catch (err) {
      step = steps.throw(err); // runs the operation's finally blocks: locks and claims go back
      continue;
    }
    step = steps.next(ready);
  }
  return step.value;
}

async function waitFor(wait: Wait, deadline: number | undefined, signal: AbortSignal | undefined): Promise<boolean> {
  const { ms: timeout, napped } = waitMs(wait, deadline);
  const abort = wait.bounded ? signal : undefined;
  if ('sem' in wait && 'ready' in wait) {
    // Windows pipes report no readiness (pipe_win.ts): wait for the count alone, as runSync does everywhere.
    if (wait.ready instanceof PipeReadable) return waitAsync(wait.sem, timeout, abort);
    // A producer that keeps up counts its next item within microseconds: worth trying for that long before the
    // event loop's round trip. Then bytes on the pipe wake the event loop without any thread. A reader woken for a
    // frame counted for someone else (or not counted yet) tries once more for as long, then waits for the count on
    // the wait hub: polling the still readable pipe would spin.
    if (wait.sem.spin(ITEM_SPIN_MS)) return true;
    if (!(await wait.ready.wait(timeout, abort))) return false;
    return wait.sem.spin(ITEM_SPIN_MS) || waitAsync(wait.sem, remaining(deadline), abort);
  }
  if ('sem' in wait) return (wait.lock && spinForLock(wait.sem)) || waitAsync(wait.sem, timeout, abort);
  if ('lock' in wait) return spinForLock(wait.lock) || wait.lock.waitAsync(true, timeout, abort);
  if ('word' in wait) return (await wordChange(wait.word, wait.index, wait.expected, timeout, abort)) || napped;
  return (await wait.ready.wait(timeout, abort)) || napped;
}

/** Resolves true when `word[index]` is notified (or no longer holds `expected`), false after `timeout` ms. */
function wordChange(word: Int32Array, index: number, expected: number, timeout: number | undefined,
                    signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    let id: WaitId | undefined;
    const wait = pendingWait(new Set(), signal, resolve, reject, () => {
      if (id !== undefined) native.cancelWait(id);
    });
    id = native.wordWaitAsync(word, index, expected, timeout === undefined ? -1 : timeout,
      (err, woken) => wait.settle(err, woken));
  });
}

/**
 * The read and write locks are held for one read(2) or write(2) of a frame: a few microseconds. Trying again for
 * about that long is far cheaper than a hand-over to the wait hub and back through the event loop, and keeps the
 * event loop's thread busy for microseconds at most.
 */
const LOCK_SPIN_TRIES = 200;

/** How long a get that found no item tries again before it waits (semlock.ts). */
export const ITEM_SPIN_MS = SPIN_MS;

export function spinForLock(sem: { tryWaitPolling(): boolean }): boolean {
  for (let i = 0; i < LOCK_SPIN_TRIES; i++) if (sem.tryWaitPolling()) return true;
  return false;
}
