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

/** What a pool call is waiting for: one settlement per chunk, or an abort when the pool can no longer run it. */
export interface Job {
  settle(index: number, outcome: Outcome): void;
  abort(error: Error): void;
}

/** The result of applyAsync/mapAsync/starmapAsync: Python's AsyncResult, with Promises. */
export class AsyncResult<T> implements Job {
  /** Chunks not settled yet. */
  #pending: number;
  #values: unknown[];
  readonly #chunksize: number;
  readonly #single: boolean;
  #firstError: Error | undefined;
  #outcome: Outcome | undefined;
  #waiters: (() => void)[] = [];
  readonly #callbacks: AsyncResultOptions<T>;

  /** @internal */
  constructor(length: number, chunksize: number, single: boolean, callbacks: AsyncResultOptions<T>) {
    this.#pending = Math.ceil(length / chunksize);
    this.#values = new Array(length);
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
      for (let i = 0; i < values.length; i++) this.#values[index * this.#chunksize + i] = values[i];
    } else {
      this.#firstError ??= outcome.error;
    }
    if (--this.#pending === 0) {
      this.#finish(this.#firstError ? { ok: false, error: this.#firstError }
        : { ok: true, value: this.#single ? this.#values[0] : this.#values });
    }
  }

  /** @internal */
  abort(error: Error): void {
    if (!this.#outcome) this.#finish({ ok: false, error: this.#firstError ?? error });
  }

  #finish(outcome: Outcome): void {
    this.#outcome = outcome;
    this.#values = [];
    for (const wake of this.#waiters.splice(0)) wake();
    // Like Python's result handler, callbacks run outside the pool's own bookkeeping; a throw is the caller's.
    const { callback, errorCallback } = this.#callbacks;
    if (outcome.ok && callback) queueMicrotask(() => callback(outcome.value as T));
    if (!outcome.ok && errorCallback) queueMicrotask(() => errorCallback(outcome.error));
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

/** The async iterable returned by imap/imapUnordered: results stream as chunks complete. */
export class IMapIterator<T> implements Job, AsyncIterableIterator<T> {
  readonly #chunkCount: number;
  readonly #ordered: boolean;
  /** Items ready to be yielded, in yield order; a failed chunk is one failed entry. */
  #ready: Outcome[] = [];
  #head = 0;
  /** Ordered mode: chunks that completed ahead of an earlier one. */
  #early = new Map<number, Outcome[]>();
  #delivered = 0;
  #aborted: Error | undefined;
  #abandoned = false;
  #waiters: (() => void)[] = [];

  constructor(chunkCount: number, ordered: boolean) {
    this.#chunkCount = chunkCount;
    this.#ordered = ordered;
  }

  settle(index: number, outcome: Outcome): void {
    if (this.#abandoned) return;
    const entries: Outcome[] = outcome.ok ? Array.from(outcome.value as ArrayLike<unknown>, (value) => ({ ok: true, value }))
      : [outcome];
    if (!this.#ordered) {
      this.#deliver(entries);
    } else {
      this.#early.set(index, entries);
      for (let next = this.#early.get(this.#delivered); next; next = this.#early.get(this.#delivered)) {
        this.#early.delete(this.#delivered);
        this.#deliver(next);
      }
    }
    for (const wake of this.#waiters.splice(0)) wake();
  }

  #deliver(entries: Outcome[]): void {
    for (const entry of entries) this.#ready.push(entry);
    this.#delivered++;
  }

  abort(error: Error): void {
    this.#aborted = error;
    for (const wake of this.#waiters.splice(0)) wake();
  }

  async next(): Promise<IteratorResult<T>> {
    for (;;) {
      if (this.#head < this.#ready.length) {
        const entry = this.#ready[this.#head];
        this.#ready[this.#head++] = undefined as never; // let yielded values be collected
        if (this.#head === this.#ready.length) {
          this.#ready = [];
          this.#head = 0;
        }
        if (!entry.ok) throw entry.error;
        return { value: entry.value as T, done: false };
      }
      if (this.#abandoned || this.#delivered === this.#chunkCount) return { value: undefined, done: true };
      if (this.#aborted) throw this.#aborted;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Leaving a for-await loop early: results still to come are dropped. */
  async return(): Promise<IteratorResult<T>> {
    this.#abandoned = true;
    this.#ready = [];
    this.#early.clear();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
