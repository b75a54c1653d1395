/** What Pool calls accept, and how it is checked: each bad option is a typed error before anything is queued. */
import { InvalidArgumentError } from './errors';
import type { AsyncResultOptions } from './pool_results';
import { checkInteger, checkOptions, checkSignal, checkTimeout, describe } from './validate';

/** How far a call got: `done` tasks finished (failed ones too), of `total` when the input's length is known. */
export interface Progress {
  done: number;
  total?: number;
}

/** Accepted by every submitting call. */
export interface CallOptions {
  /** Aborting it cancels the call: it rejects with AbortError, its queued tasks never run, its running ones are told. */
  signal?: AbortSignal;
  /**
   * Milliseconds each chunk of the call may run in a worker (one task for apply; queueing time does not count):
   * past it the call is cancelled as by `signal` and rejects with TimeoutError.
   */
  timeout?: number;
}

export interface MapOptions extends CallOptions {
  /** Tasks sent to a worker at once. map/starmap default: ceil(length / (4 × processes)); imap: 1. */
  chunksize?: number;
  /** Called in the parent as tasks finish, with `{ done, total }` (total: map always; imap once known). */
  onProgress?: (progress: Progress) => void;
}

export interface IMapOptions extends MapOptions {
  /**
   * Chunks read from the input whose results the loop has not taken yet: at most this many (default 16 × processes),
   * so an infinite or huge input is read only as fast as results are consumed.
   */
  maxChunksInFlight?: number;
}

/** A call's checked options. */
export interface CallSettings {
  signal: AbortSignal | undefined;
  timeout: number | undefined;
  onProgress: ((progress: Progress) => void) | undefined;
}

export function checkCallOptions(opts: Partial<MapOptions>): CallSettings {
  const onProgress = opts.onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new InvalidArgumentError(`onProgress must be a function, got ${describe(onProgress)}`);
  }
  return { signal: checkSignal(opts.signal), timeout: checkTimeout(opts.timeout), onProgress };
}

export function checkChunksize(opts: Partial<MapOptions>, fallback: number): number {
  return opts.chunksize === undefined ? fallback : checkInteger(opts.chunksize, 'chunksize', 1);
}

export function checkMaxChunksInFlight(opts: Partial<IMapOptions>, fallback: number): number {
  return opts.maxChunksInFlight === undefined ? fallback : checkInteger(opts.maxChunksInFlight, 'maxChunksInFlight', 1);
}

export function checkCallbacks<T>(options: AsyncResultOptions<T> | undefined): AsyncResultOptions<T> {
  const opts = checkOptions<AsyncResultOptions<T>>(options, 'options');
  for (const name of ['callback', 'errorCallback'] as const) {
    if (opts[name] !== undefined && typeof opts[name] !== 'function') {
      throw new InvalidArgumentError(`${name} must be a function, got ${describe(opts[name])}`);
    }
  }
  return { callback: opts.callback, errorCallback: opts.errorCallback };
}

export function toArray(iterable: unknown, what: string): unknown[] {
  if (Array.isArray(iterable)) return iterable;
  if (typeof (iterable as Iterable<unknown> | null | undefined)?.[Symbol.iterator] !== 'function') {
    throw new InvalidArgumentError(`${what} needs an iterable of items, got ${describe(iterable)}`);
  }
  return [...(iterable as Iterable<unknown>)];
}

export function toArgsArrays(iterable: unknown): unknown[] {
  return toArray(iterable, 'starmap').map((args) => toArray(args, 'starmap: each item'));
}
