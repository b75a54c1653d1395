/**
 * wait/notify on an Int32Array over shared memory, across processes: Atomics.wait/Atomics.notify for words other
 * processes write. Linux: a futex without FUTEX_PRIVATE_FLAG, so a notify wakes waiters in every process that maps
 * the segment. Waits spin briefly first (spin.ts); then async waits sleep in the addon's wait hub (each its own
 * futex sleep, never a libuv pool thread) and waitSync blocks the calling thread, as Atomics.wait does. Where the
 * platform has no futex across processes (macOS, Windows) words are polled: a wait ends when the value changes,
 * and notify wakes nothing by itself.
 */
import { InvalidArgumentError, OutOfRangeError, ValueError } from './errors';
import { native } from './native';
import { SpinPolicy, spinFor } from './spin';
import { whenAborted } from './timeouts';
import { abortReason, checkOptions, checkSignal, checkTimeout, describe } from './validate';

export type WaitResult = 'ok' | 'not-equal' | 'timed-out';

export interface SharedWaitOptions {
  /** Milliseconds to wait at most; undefined waits until notified. */
  timeout?: number;
  /** Rejects the pending wait with an AbortError. */
  signal?: AbortSignal;
}

export type SharedWaitSyncOptions = Omit<SharedWaitOptions, 'signal'>;

/** Buffers over mappings of this thread, and the cancellers of the async waits pending on each. */
const mapped = new WeakMap<ArrayBuffer, Set<(err: Error) => void>>();
/** Buffers closed by their SharedMemory: calls on their views say so. */
const closed = new WeakSet<ArrayBuffer>();

/** @internal shared_memory.ts registers each buffer it maps. */
export function registerMapping(buffer: ArrayBuffer): void {
  mapped.set(buffer, new Set());
}

/** @internal Before a buffer is detached: its pending waits reject with `err` (the SharedMemory's closed error). */
export function closeMapping(buffer: ArrayBuffer, err: Error): void {
  const waits = mapped.get(buffer);
  closed.add(buffer);
  mapped.delete(buffer);
  for (const cancel of waits ?? []) cancel(err);
}

function checkWord(view: unknown, index: unknown, what: string): { view: Int32Array; index: number } {
  if (!(view instanceof Int32Array)) {
    throw new InvalidArgumentError(`${what} needs an Int32Array over SharedMemory, got ${describe(view)}`);
  }
  const buffer = view.buffer as ArrayBuffer;
  if (closed.has(buffer)) throw new ValueError('SharedMemory is closed', 'ERR_MP_CLOSED');
  if (!mapped.has(buffer)) {
    throw new InvalidArgumentError(`${what} needs an Int32Array over SharedMemory (other memory is not shared with other processes); ` +
      'for a SharedArrayBuffer use Atomics.wait/Atomics.notify');
  }
  if (typeof index !== 'number' || !Number.isInteger(index)) {
    throw new InvalidArgumentError(`index must be an integer, got ${describe(index)}`);
  }
  if (index < 0 || index >= view.length) {
    throw new OutOfRangeError(`index ${index} is out of range for an Int32Array of length ${view.length}`);
  }
  return { view, index };
}

function checkExpected(expected: unknown): number {
  if (typeof expected !== 'number' || !Number.isFinite(expected)) {
    throw new InvalidArgumentError(`expected must be a number, got ${describe(expected)}`);
  }
  return expected | 0; // as Atomics.wait: ToInt32
}

const RESULTS: readonly WaitResult[] = ['ok', 'not-equal', 'timed-out'];

/**
 * A wait first spins this long for the word to change (when spins have been catching changes and the machine has a
 * core to spare: spin.ts): a futex sleep and wake cost several microseconds of system calls, and an async wait's
 * wake-up through the hub and the event loop tens.
 */
const WAIT_SPIN_MS = 0.05;
const waitSpin = new SpinPolicy(WAIT_SPIN_MS);
/**
 * waitSync spins shorter: its futex wake costs only a few microseconds, and a 50 µs spin that missed (the peer
 * preempted) made the slowest wakes slower — ping-pong p99 41 µs against 22 µs with 20 µs (median of five runs of
 * 20,000 each, idle; median wake 1.2–1.4 µs either way). Below 20 µs most spins miss and the policy stops spinning:
 * the median becomes the futex's 11–12 µs.
 */
const WAIT_SYNC_SPIN_MS = 0.02;
const waitSyncSpin = new SpinPolicy(WAIT_SYNC_SPIN_MS, true);

/** A spin lasts no longer than the wait's timeout. */
function spinLength(ms: number, timeout: number | undefined): number {
  return timeout === undefined ? ms : Math.min(ms, timeout);
}

/** Whether `view[index]` stops holding `value` within `ms`. */
function changesWithin(view: Int32Array, index: number, value: number, ms: number): boolean {
  return spinFor(ms, () => Atomics.load(view, index) !== value);
}

/**
 * Blocks the calling thread while `view[index]` holds `expected`, until notify() from any process (or thread), or
 * `timeout` ms: 'ok', 'not-equal' (it did not hold `expected`) or 'timed-out', as Atomics.wait.
 */
export function waitSync(view: Int32Array, index: number, expected: number, options?: SharedWaitSyncOptions): WaitResult {
  const word = checkWord(view, index, 'waitSync');
  const value = checkExpected(expected);
  const timeout = checkTimeout(checkOptions<SharedWaitSyncOptions>(options, 'waitSync options').timeout);
  if (Atomics.load(word.view, word.index) !== value) return 'not-equal';
  const changed = (ms: number): boolean => changesWithin(word.view, word.index, value, spinLength(ms, timeout));
  if (timeout !== 0 && waitSyncSpin.spinOn(changed)) return 'ok';
  const result = RESULTS[native.wordWait(word.view, word.index, value, timeout === undefined ? -1 : timeout)];
  if (result === 'ok') waitSyncSpin.arrived();
  return result;
}

/**
 * wait() without blocking: resolves 'ok' when notified (or, as with futexes, when the value changed before the
 * wait went to sleep), 'not-equal' at once when `view[index]` does not hold `expected`, 'timed-out' after `timeout`
 * ms. Rejects with an AbortError on `signal`, and with ValueError (ERR_MP_CLOSED) when the SharedMemory is closed.
 */
export function wait(view: Int32Array, index: number, expected: number, options?: SharedWaitOptions): Promise<WaitResult> {
  try {
    const word = checkWord(view, index, 'wait');
    const value = checkExpected(expected);
    const opts = checkOptions<SharedWaitOptions>(options, 'wait options');
    const timeout = checkTimeout(opts.timeout);
    const signal = checkSignal(opts.signal);
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (Atomics.load(word.view, word.index) !== value) return Promise.resolve('not-equal');
    if (timeout === 0) return Promise.resolve('timed-out');
    if (waitSpin.spinOn((ms) => changesWithin(word.view, word.index, value, spinLength(ms, timeout)))) return Promise.resolve('ok');
    const cancellers = mapped.get(word.view.buffer as ArrayBuffer)!;
    return new Promise<WaitResult>((resolve, reject) => {
      let stopListening: (() => void) | undefined;
      const settle = (err: Error | null, result?: WaitResult): void => {
        cancellers.delete(cancel);
        stopListening?.();
        if (err) reject(err);
        else resolve(result!);
      };
      const id = native.wordWaitAsync(word.view, word.index, value, timeout === undefined ? -1 : timeout, (err, woken) => {
        if (woken) waitSpin.arrived();
        settle(err, woken ? 'ok' : 'timed-out');
      });
      const cancel = (err: Error): void => {
        if (native.cancelWait(id)) settle(err);
      };
      cancellers.add(cancel);
      if (signal) stopListening = whenAborted(signal, () => cancel(abortReason(signal)));
    });
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * Wakes up to `count` (default: all) waiters of `view[index]`, in every process and thread that maps the segment;
 * returns how many woke. Where words are polled (macOS, Windows) it wakes nothing itself and returns 0: waiters
 * there see the value change that should come with every notify.
 */
export function notify(view: Int32Array, index: number, count = Infinity): number {
  const word = checkWord(view, index, 'notify');
  if (typeof count !== 'number' || Number.isNaN(count) || count < 0) {
    throw new OutOfRangeError(`count must be a number >= 0, got ${describe(count)}`);
  }
  return native.wordNotify(word.view, word.index, Math.floor(count));
}
