/**
 * The input of imap/imapUnordered: any iterable or async iterable (an infinite generator too), read a chunk at a time
 * as workers take chunks, never ahead of need (CPython's imap reads the whole iterable up front).
 */
import { InvalidArgumentError } from './errors';
import { describe } from './validate';

/** The next items; `error` (present even if undefined was thrown) when the iterable threw after them. */
export interface Pulled { items: unknown[]; error?: unknown; finished: boolean }

export class ChunkSource {
  readonly #iterator: Iterator<unknown> | AsyncIterator<unknown>;
  readonly #async: boolean;
  /** The number of items, when known before reading (an array): progress reports it as `total`. */
  readonly length: number | undefined;
  #finished = false;

  constructor(iterable: unknown, what: string) {
    const candidate = iterable as Partial<AsyncIterable<unknown> & Iterable<unknown>> | null | undefined;
    const asyncIterate = candidate?.[Symbol.asyncIterator];
    const iterate = candidate?.[Symbol.iterator];
    if (typeof asyncIterate === 'function') {
      this.#iterator = asyncIterate.call(candidate);
      this.#async = true;
    } else if (typeof iterate === 'function') {
      this.#iterator = iterate.call(candidate);
      this.#async = false;
    } else {
      throw new InvalidArgumentError(`${what} needs an iterable or async iterable of items, got ${describe(iterable)}`);
    }
    this.length = Array.isArray(iterable) ? iterable.length : undefined;
  }

  get finished(): boolean {
    return this.#finished;
  }

  /** Up to `count` items: synchronously from a sync iterable, so that submitting an array costs no await per chunk. */
  pull(count: number): Pulled | Promise<Pulled> {
    return this.#async ? this.#pullAsync(count) : this.#pullSync(count);
  }

  #pullSync(count: number): Pulled {
    const iterator = this.#iterator as Iterator<unknown>;
    const items: unknown[] = [];
    try {
      while (items.length < count && this.#took(iterator.next(), items));
    } catch (error) {
      return this.#failed(items, error);
    }
    return { items, finished: this.#finished };
  }

  async #pullAsync(count: number): Promise<Pulled> {
    const iterator = this.#iterator as AsyncIterator<unknown>;
    const items: unknown[] = [];
    try { // close() may come while an item is awaited
      while (items.length < count && !this.#finished && this.#took(await iterator.next(), items));
    } catch (error) {
      return this.#failed(items, error);
    }
    return { items, finished: this.#finished };
  }

  /** Keeps a step's item; false once the iterable is done. */
  #took(step: IteratorResult<unknown>, items: unknown[]): boolean {
    if (step.done) {
      this.#finished = true;
      return false;
    }
    items.push(step.value);
    return true;
  }

  #failed(items: unknown[], error: unknown): Pulled {
    this.#finished = true;
    return { items, error, finished: true };
  }

  /** The call stopped early: the iterable's return() runs (a generator's finally blocks), and nothing more is read. */
  close(): void {
    if (this.#finished) return;
    this.#finished = true;
    try {
      const returned = this.#iterator.return?.();
      if (returned instanceof Promise) returned.catch(() => {}); // its error has no caller left to reach
    } catch {
      // as above
    }
  }
}
