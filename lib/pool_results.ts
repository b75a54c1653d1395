/** What a Pool call returns: AsyncResult (applyAsync, mapAsync) and the iterators of imap / imapUnordered. */
import { TimeoutError, ValueError } from './errors';
import { setLongTimeout } from './timeouts';
import { checkTimeout } from './validate';

export interface AsyncResultOptions<T> {
  callback?: (value: T) => void;
  errorCallback?: (error: Error) => void;
}

/** How a chunk ended: its values, or the error of its first failing task. */
export type Outcome = { ok: true; value: unknown } | { ok: false; error: Error };

/**
 * Runs a user's callback inside the pool's bookkeeping: a throw is the caller's (it surfaces as an uncaught
 * exception, as an EventEmitter listener's would), never the pool's.
 */
export function runCallback<A>(callback: (arg: A) => void, arg: A): void {
  try {
    callback(arg);
  } catch (err) {
    queueMicrotask(() => { throw err; });
  }
}

/** What a pool call is waiting for: one settlement per chunk, or an abort when the pool can no longer run it. */
export interface Job {
  /** `size`: the tasks the chunk stood for. */
  settle(index: number, outcome: Outcome, size: number): void;
  abort(error: Error): void;
}

/** The result of applyAsync/mapAsync/starmapAsync: Python's AsyncResult, with Promises. */
export class AsyncResult<T> implements Job {
  /** Chunks not settled yet. */
  #pending: number;
  readonly #length: number;
  /** Made when the first chunk's values arrive (see resultArray). */
  #values: unknown[] | undefined;
  readonly #chunksize: number;
  readonly #single: boolean;
  #firstError: Error | undefined;
  #outcome: Outcome | undefined;
  #waiters: (() => void)[] = [];
  readonly #callbacks: AsyncResultOptions<T>;

  /** @internal */
  constructor(length: number, chunksize: number, single: boolean, callbacks: AsyncResultOptions<T>) {
    this.#pending = Math.ceil(length / chunksize);
    this.#length = length;
    this.#chunksize = chunksize;
    this.#single = single;
    this.#callbacks = callbacks;
    if (this.#pending === 0) this.#finish({ ok: true, value: [] });
  }

  /** @internal Like Python's MapResult: the first error wins, but the result is ready only once every chunk is. */
  settle(index: number, outcome: Outcome): void {
    if (this.#outcome) return;
    if (outcome.ok) {
      const values = outcome.value as ArrayLike<unknown>;
      this.#values ??= resultArray(this.#length, values);
      copyInto(this.#values, index * this.#chunksize, values);
    }
    else this.#firstError ??= outcome.error;
    if (--this.#pending === 0) {
      this.#finish(this.#firstError ? { ok: false, error: this.#firstError }
        : { ok: true, value: this.#single ? this.#values![0] : this.#values });
    }
  }

  /** @internal */
  abort(error: Error): void {
    if (!this.#outcome) this.#finish({ ok: false, error: this.#firstError ?? error });
  }

  #finish(outcome: Outcome): void {
    this.#outcome = outcome;
    this.#values = undefined;
    // As in Python, the callback has run by the time wait() or get() returns.
    const { callback, errorCallback } = this.#callbacks;
    if (outcome.ok && callback) runCallback(callback, outcome.value as T);
    if (!outcome.ok && errorCallback) runCallback(errorCallback, outcome.error);
    for (const wake of this.#waiters.splice(0)) wake();
  }

  ready(): boolean {
    return this.#outcome !== undefined;
  }

  /** Whether the call completed without error; throws ValueError while it is not ready, as in Python. */
  successful(): boolean {
    if (!this.#outcome) throw new ValueError('the result is not ready', 'ERR_MP_RESULT_NOT_READY');
    return this.#outcome.ok;
  }

  /** Resolves true once ready, or false after `timeoutMs`. */
  wait(timeoutMs?: number): Promise<boolean> {
    const timeout = checkTimeout(timeoutMs, 'wait timeout');
    if (this.#outcome) return Promise.resolve(true);
    return new Promise((resolve) => {
      let stopTimer: (() => void) | undefined;
      const wake = () => {
        stopTimer?.();
        resolve(true);
      };
      this.#waiters.push(wake);
      if (timeout !== undefined) {
        stopTimer = setLongTimeout(() => {
          this.#waiters.splice(this.#waiters.indexOf(wake), 1);
          resolve(false);
        }, timeout);
      }
    });
  }

  /** The value, or the task's error; TimeoutError if not ready within `timeoutMs`. */
  async get(timeoutMs?: number): Promise<T> {
    if (!(await this.wait(timeoutMs))) throw new TimeoutError(`the result was not ready within ${timeoutMs} ms`);
    const outcome = this.#outcome!;
    if (!outcome.ok) throw outcome.error;
    return outcome.value as T;
  }
}

/**
 * The array a call's results are copied into, made once its first chunk's values arrive (by then every chunk is on
 * its way, so the workers run while this fresh memory is written, ~3 ms per 100k items on a VM). Numbers (a chunk
 * of them arrives as a Float64Array) get an array of unboxed doubles from the start: `new Array(length)` would be
 * converted, that is copied into fresh memory a second time, by the first number stored.
 */
function resultArray(length: number, first: ArrayLike<unknown>): unknown[] {
  if (!(first instanceof Float64Array)) return new Array(length);
  const doubles: unknown[] = [0.5];
  doubles.length = length;
  return doubles;
}

/** A chunk's values into the call's result (a chunk of numbers arrives as a Float64Array). */
function copyInto(out: unknown[], offset: number, values: ArrayLike<unknown>): void {
  for (let i = 0; i < values.length; i++) out[offset + i] = values[i];
}

/** What the pool learns from an imap iterator's consumer: items taken (so it may read more input), or leaving. */
export interface IMapFeedback {
  taken(count: number): void;
  left(): void;
}

/**
 * The async iterable returned by imap/imapUnordered: results stream as chunks complete. The number of chunks is
 * known once the input is exhausted (setChunkCount).
 */
export class IMapIterator<T> implements Job, AsyncIterableIterator<T> {
  #chunkCount = Infinity;
  readonly #ordered: boolean;
  readonly #feedback: IMapFeedback;
  /** Items ready to be yielded, in yield order; a failed chunk is one failed entry standing for `count` items. */
  #ready: (Outcome & { count?: number })[] = [];
  #head = 0;
  /** Ordered mode: chunks that completed ahead of an earlier one. */
  #early = new Map<number, (Outcome & { count?: number })[]>();
  #delivered = 0;
  /** Why the call stopped early (cancelled, timed out, terminated): thrown once, then the iterator is done. */
  #aborted: Error | undefined;
  #finished = false;
  #waiters: (() => void)[] = [];

  /** @internal */
  constructor(ordered: boolean, feedback: IMapFeedback) {
    this.#ordered = ordered;
    this.#feedback = feedback;
  }

  /** @internal */
  setChunkCount(count: number): void {
    this.#chunkCount = count;
    this.#wake();
  }

  /** @internal `count`: the items a failed chunk stands for. */
  settle(index: number, outcome: Outcome, count = 1): void {
    if (this.#finished) return;
    const entries = outcome.ok ? Array.from(outcome.value as ArrayLike<unknown>, (value) => ({ ok: true as const, value }))
      : [{ ...outcome, count }];
    if (!this.#ordered) {
      this.#deliver(entries);
    } else {
      this.#early.set(index, entries);
      for (let next = this.#early.get(this.#delivered); next; next = this.#early.get(this.#delivered)) {
        this.#early.delete(this.#delivered);
        this.#deliver(next);
      }
    }
    this.#wake();
  }

  #deliver(entries: (Outcome & { count?: number })[]): void {
    for (const entry of entries) this.#ready.push(entry);
    this.#delivered++;
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** @internal */
  abort(error: Error): void {
    if (this.#finished || this.#aborted) return;
    this.#aborted = error;
    this.#wake();
  }

  async next(): Promise<IteratorResult<T>> {
    for (;;) {
      if (this.#finished) return { value: undefined, done: true };
      if (this.#aborted) {
        this.#finish();
        throw this.#aborted;
      }
      if (this.#head < this.#ready.length) {
        const entry = this.#ready[this.#head];
        this.#ready[this.#head++] = undefined as never; // let yielded values be collected
        if (this.#head === this.#ready.length) {
          this.#ready = [];
          this.#head = 0;
        }
        this.#feedback.taken(entry.ok ? 1 : entry.count ?? 1);
        if (!entry.ok) throw entry.error;
        return { value: entry.value as T, done: false };
      }
      if (this.#delivered === this.#chunkCount) {
        this.#finish();
        continue;
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  #finish(): void {
    this.#finished = true;
    this.#ready = [];
    this.#early.clear();
  }

  /** Leaving a for-await loop early: the call is cancelled, results still to come are dropped. */
  async return(): Promise<IteratorResult<T>> {
    if (!this.#finished) {
      this.#finish();
      this.#feedback.left();
    }
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
