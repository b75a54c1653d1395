/**
 * Pool (CPython's pool.py): worker processes that run task functions found by reference.
 *
 * Unlike CPython, the parent hands each chunk of tasks to one chosen worker over that worker's own channel, so it
 * always knows which chunks a worker holds. A worker that dies therefore fails exactly the chunk it was running
 * (WorkerLostError naming its pid and signal), the chunks queued behind it go to other workers, and a replacement
 * starts: no call hangs (CPython hangs here, bpo-22393). `initargs` travel in the spawning context like a Process's
 * arguments, so Locks and Queues given there work; in task arguments they are refused before any task runs.
 */
import { InvalidArgumentError, MultiprocError, remoteError, TimeoutError, ValueError, WorkerLostError } from './errors';
import {
  CallOptions, CallSettings, checkCallbacks, checkCallOptions, checkChunksize, checkMaxChunksInFlight, IMapOptions,
  MapOptions, toArgsArrays, toArray,
} from './pool_options';
import { FromWorker, LazyFrame, runFrame, sendFrame, serializeFrame, ToWorker } from './pool_protocol';
import { decodeMessage } from './pool_numbers';
import { giveBuffer } from './buffer_pool';
import { AsyncResult, AsyncResultOptions, IMapIterator, Job, Outcome, runCallback } from './pool_results';
import { ChunkSource } from './pool_source';
import type { CancelReason } from './pool_task';
import { cpuCount, exitCodeOf, SpawnFailed, Target } from './process';
import {
  Call, Chunk, DEFAULT_CANCEL_GRACE_MS, DEFAULT_CHUNKS_IN_FLIGHT_PER_PROCESS, Feed, MAX_INITIALIZER_ATTEMPTS,
  PoolOptions, QUICK_TASK_MS, Worker,
} from './pool_types';
import {
  describeExit, pickWorker, referenceWorker, respawnDelay, sendChunk, startWorker, warnSpawnFailed,
} from './pool_workers';
import { functionReference, rebuildValue, Reducible } from './reduction';
import { referenceOf } from './reference';
import { setLongTimeout, whenAborted } from './timeouts';
import { abortReason, checkInteger, checkOptions, checkTimeout, describe } from './validate';

export { AsyncResult } from './pool_results';
export type { AsyncResultOptions } from './pool_results';
export type { CallOptions, IMapOptions, MapOptions, Progress } from './pool_options';
export { currentTask } from './pool_task';
export type { TaskContext } from './pool_task';
export { MAX_INITIALIZER_ATTEMPTS } from './pool_types';
export type { PoolOptions } from './pool_types';

type PoolState = 'running' | 'closed' | 'terminated';

/** Worker processes running task functions: Python's multiprocessing.Pool. */
export class Pool {
  readonly #processes: number;
  readonly #initializer: Reducible | null;
  readonly #initargs: unknown[];
  readonly #maxtasks: number | undefined;
  readonly #cancelGrace: number;
  readonly #maxMemory: number | undefined;
  readonly #heapLimitMb: number | undefined;
  #state: PoolState = 'running';
  /** Set once the initializer failed MAX_INITIALIZER_ATTEMPTS times in a row: every call fails with it. */
  #broken: Error | undefined;
  #initFailures = 0;
  /** Starts that failed in a row for another reason than the initializer (see RESPAWN_BACKOFF_MS). */
  #failedStarts = 0;
  /** The next attempt to replace missing workers, while the respawn backoff runs. */
  #respawnTimer: NodeJS.Timeout | undefined;
  readonly #workers = new Set<Worker>();
  #pending: Chunk[] = [];
  #pendingHead = 0;
  /** Calls not finished yet. */
  readonly #calls = new Set<Call>();
  /** Task functions by reference key, numbered in order of first use; the def messages that teach them to workers. */
  readonly #functionIds = new Map<string, number>();
  readonly #functionDefs: Buffer[] = [];
  #joiners: (() => void)[] = [];
  #referenced = true;

  constructor(options?: PoolOptions) {
    const opts = checkOptions<PoolOptions>(options, 'Pool options');
    this.#processes = opts.processes === undefined ? cpuCount() : checkInteger(opts.processes, 'processes', 1);
    if (opts.initargs !== undefined && !Array.isArray(opts.initargs)) {
      throw new InvalidArgumentError(`Pool initargs must be an array, got ${describe(opts.initargs)}`);
    }
    this.#initializer = opts.initializer === undefined || opts.initializer === null ? null
      : functionReference(opts.initializer, 'Pool initializer');
    this.#initargs = opts.initargs ?? [];
    this.#maxtasks = opts.maxtasksperchild === undefined || opts.maxtasksperchild === null ? undefined
      : checkInteger(opts.maxtasksperchild, 'maxtasksperchild', 1);
    this.#cancelGrace = checkTimeout(opts.cancelGrace, 'cancelGrace') ?? DEFAULT_CANCEL_GRACE_MS;
    this.#maxMemory = opts.maxMemoryPerChild === undefined || opts.maxMemoryPerChild === null ? undefined
      : checkInteger(opts.maxMemoryPerChild, 'maxMemoryPerChild', 1);
    this.#heapLimitMb = opts.maxOldGenerationSizeMb === undefined || opts.maxOldGenerationSizeMb === null ? undefined
      : checkInteger(opts.maxOldGenerationSizeMb, 'maxOldGenerationSizeMb', 1);
    try {
      this.#spawnMissing();
    } catch (err) {
      this.terminate(); // e.g. a function among initargs: nothing must outlive the failed constructor
      throw err;
    }
    this.#updateRefs();
  }

  /** `fn(...args)` in a worker. */
  async apply<T>(fn: Target, args: unknown[] = [], options?: CallOptions): Promise<T> {
    return this.applyAsync<T>(fn, args, options).get();
  }

  applyAsync<T>(fn: Target, args: unknown[] = [], options?: CallOptions & AsyncResultOptions<T>): AsyncResult<T> {
    if (!Array.isArray(args)) throw new InvalidArgumentError(`apply args must be an array, got ${describe(args)}`);
    const opts = checkOptions<CallOptions & AsyncResultOptions<T>>(options, 'apply options');
    const settings = checkCallOptions(opts);
    const result = new AsyncResult<T>(1, 1, true, checkCallbacks(opts));
    this.#submit(fn, [args], true, 1, result, settings, () => 'args');
    return result;
  }

  /** `fn(item)` for every item; results in order. */
  async map<T>(fn: Target, iterable: Iterable<unknown>, options?: MapOptions): Promise<T[]> {
    return this.mapAsync<T>(fn, iterable, options).get();
  }

  mapAsync<T>(fn: Target, iterable: Iterable<unknown>, options?: MapOptions & AsyncResultOptions<T[]>): AsyncResult<T[]> {
    return this.#mapAsync<T>(fn, toArray(iterable, 'map'), false, options);
  }

  /** `fn(...args)` for every array of args; results in order. */
  async starmap<T>(fn: Target, iterable: Iterable<Iterable<unknown>>, options?: MapOptions): Promise<T[]> {
    return this.starmapAsync<T>(fn, iterable, options).get();
  }

  starmapAsync<T>(fn: Target, iterable: Iterable<Iterable<unknown>>,
                  options?: MapOptions & AsyncResultOptions<T[]>): AsyncResult<T[]> {
    return this.#mapAsync<T>(fn, toArgsArrays(iterable), true, options);
  }

  #mapAsync<T>(fn: Target, items: unknown[], star: boolean,
               options?: MapOptions & AsyncResultOptions<T[]>): AsyncResult<T[]> {
    const opts = checkOptions<MapOptions & AsyncResultOptions<T[]>>(options, 'map options');
    const settings = checkCallOptions(opts);
    const chunksize = checkChunksize(opts, Math.max(1, Math.ceil(items.length / (4 * this.#processes))));
    const result = new AsyncResult<T[]>(items.length, chunksize, false, checkCallbacks(opts));
    this.#submit(fn, items, star, chunksize, result, settings);
    return result;
  }

  /**
   * `fn(item)` for every item of an iterable or async iterable (an infinite generator too, read only as fast as
   * results are taken), as an async iterable yielding results in input order as they become available.
   */
  imap<T>(fn: Target, iterable: Iterable<unknown> | AsyncIterable<unknown>, options?: IMapOptions): AsyncIterableIterator<T> {
    return this.#imap<T>(fn, iterable, true, options);
  }

  /** Like imap, yielding results in completion order. */
  imapUnordered<T>(fn: Target, iterable: Iterable<unknown> | AsyncIterable<unknown>,
                   options?: IMapOptions): AsyncIterableIterator<T> {
    return this.#imap<T>(fn, iterable, false, options);
  }

  #imap<T>(fn: Target, iterable: Iterable<unknown> | AsyncIterable<unknown>, ordered: boolean,
           options?: IMapOptions): IMapIterator<T> {
    const opts = checkOptions<IMapOptions>(options, 'imap options');
    const settings = checkCallOptions(opts);
    const chunksize = checkChunksize(opts, 1);
    const maxChunks = checkMaxChunksInFlight(opts, DEFAULT_CHUNKS_IN_FLIGHT_PER_PROCESS * this.#processes);
    this.#checkRunning();
    const fnId = this.#functionId(fn);
    const source = new ChunkSource(iterable, ordered ? 'imap' : 'imapUnordered');
    const feed: Feed = { source, fn: fnId, chunksize, window: maxChunks * chunksize, read: 0, untaken: 0, reading: false };
    const call = this.#newCall(undefined as never, settings, source.length, feed);
    call.job = new IMapIterator<T>(ordered, {
      taken: (count) => {
        feed.untaken -= count;
        this.#read(call);
      },
      left: () => this.#cancel(call, undefined, 'abort'),
    });
    if (settings.signal?.aborted) {
      source.close();
      call.job.abort(abortReason(settings.signal));
    } else {
      this.#open(call);
      this.#read(call);
    }
    return call.job as IMapIterator<T>;
  }

  /** No more tasks; workers exit once the submitted ones are done. */
  close(): void {
    if (this.#state === 'running') this.#state = 'closed';
    this.#stopIdleWorkers();
  }

  /** Ends the workers now (SIGTERM); calls still waiting reject with ERR_MP_POOL_TERMINATED. */
  terminate(): void {
    if (this.#state === 'terminated') return;
    this.#state = 'terminated';
    this.#failEverything(new MultiprocError('ERR_MP_POOL_TERMINATED', 'the pool was terminated before the call completed'));
  }

  /** Resolves once every worker has exited; call close() or terminate() first. */
  async join(): Promise<void> {
    if (this.#state === 'running') {
      throw new ValueError('Pool is still running: call close() or terminate() first', 'ERR_MP_POOL_STATE');
    }
    if (this.#workers.size === 0) return;
    const joined = new Promise<void>((resolve) => this.#joiners.push(resolve));
    this.#updateRefs();
    await joined;
  }

  /** Like Python's `with Pool() as pool:` — leaving terminates, and here also waits for the workers to exit. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.terminate();
    await this.join();
  }

  toString(): string {
    return `<Pool state=${this.#broken ? 'broken' : this.#state} pool_size=${this.#processes}>`;
  }

  // --- submitting -----------------------------------------------------------------------------------------------

  #checkRunning(): void {
    if (this.#broken) throw this.#broken;
    if (this.#state !== 'running') throw new ValueError('Pool not running', 'ERR_MP_POOL_NOT_RUNNING');
  }

  #newCall(job: Job, settings: CallSettings, total: number | undefined, feed?: Feed): Call {
    return { job, settings, chunks: 0, left: 0, done: 0, total, stopWatching: undefined, feed };
  }

  /** The call is under way: its signal is watched until it ends. */
  #open(call: Call): void {
    this.#calls.add(call);
    const { signal } = call.settings;
    if (signal) call.stopWatching = whenAborted(signal, () => this.#cancel(call, abortReason(signal), 'abort'));
    this.#updateRefs();
  }

  /**
   * map/starmap/apply: checks and serializes the whole call before queueing any of it, so a bad argument fails the
   * call, not a task. `name(i)` names item i in errors (a value that cannot travel).
   */
  #submit(fn: Target, items: unknown[], star: boolean, chunksize: number, job: Job, settings: CallSettings,
          name = (i: number) => `items[${i}]`): void {
    this.#checkRunning();
    const fnId = this.#functionId(fn);
    const call = this.#newCall(job, settings, items.length);
    const chunks: Chunk[] = [];
    for (let start = 0; start < items.length; start += chunksize) {
      const end = Math.min(start + chunksize, items.length);
      chunks.push(this.#newChunk(call, fnId, runFrame(fnId, star, items, start, end, (i) => name(start + i)), end - start));
    }
    if (chunks.length === 0) return;
    if (settings.signal?.aborted) return job.abort(abortReason(settings.signal));
    call.left = chunks.length;
    this.#open(call);
    for (const chunk of chunks) this.#pending.push(chunk); // not push(...chunks): a million chunks would overflow the stack
    this.#dispatch();
  }

  #newChunk(call: Call, fn: number, data: Buffer | LazyFrame, size: number): Chunk {
    return { call, index: call.chunks++, fn, data, size, sentAt: 0, seq: 0, cancelled: false, stopTimer: undefined };
  }

  /**
   * imap: reads the input a chunk at a time while fewer than `window` items read await being taken by the loop.
   * An item that cannot travel, or the input throwing, fails the call at that chunk's position (the chunks before
   * it run; the loop may go on past the error, and then ends).
   */
  async #read(call: Call): Promise<void> {
    const feed = call.feed!;
    if (feed.reading) return;
    feed.reading = true;
    try {
      while (this.#calls.has(call) && !feed.source.finished && feed.untaken < feed.window) {
        let pulled = feed.source.pull(feed.chunksize);
        if (pulled instanceof Promise) pulled = await pulled; // a sync input costs no turn of the event loop
        if (!this.#calls.has(call)) return;
        const { items } = pulled;
        const first = feed.read;
        feed.read += items.length;
        feed.untaken += items.length;
        if ('error' in pulled) { // as in CPython, the error takes the place of the whole chunk it broke
          this.#fail(call, pulled.error as Error, items.length);
        } else if (items.length > 0) {
          let data: Buffer | LazyFrame;
          try {
            data = runFrame(feed.fn, false, items, 0, items.length, (i) => `items[${first + i}]`);
          } catch (err) {
            this.#fail(call, err as Error, items.length);
            continue;
          }
          call.left++;
          this.#pending.push(this.#newChunk(call, feed.fn, data, items.length));
          this.#dispatch();
        }
      }
      if (feed.source.finished && this.#calls.has(call)) {
        const { onProgress } = call.settings;
        if (onProgress && call.total === undefined && call.done > 0) { // the total is news: say it
          runCallback(onProgress, { done: call.done, total: feed.read });
        }
        call.total = feed.read;
        (call.job as IMapIterator<unknown>).setChunkCount(call.chunks);
        this.#endIfDone(call);
        this.#stopIdleWorkers();
      }
    } finally {
      feed.reading = false;
    }
  }

  /** A chunk of the input that failed in the parent: it settles at its position with `error`. */
  #fail(call: Call, error: Error, size: number): void {
    call.left++;
    this.#settle(call, call.chunks++, size, { ok: false, error });
  }

  /** Task functions are resolved once per pool and sent once per worker, then named by number. */
  #functionId(fn: Target): number {
    const ref = referenceOf(fn, 'Pool task');
    const key = `${ref.kind}:${ref.specifier}:${ref.exportName}:${ref.source ?? ''}`;
    let id = this.#functionIds.get(key);
    if (id === undefined) {
      id = this.#functionDefs.push(serializeFrame({ op: 'def', fn: this.#functionDefs.length, ref } satisfies ToWorker)) - 1;
      this.#functionIds.set(key, id);
    }
    return id;
  }

  /** Hands queued chunks to the least busy ready workers, in submission order (Python's task queue is FIFO). */
  #dispatch(): void {
    while (this.#pendingHead < this.#pending.length) {
      const prefetch = this.#pending.length - this.#pendingHead > this.#processes;
      const best = pickWorker(this.#workers, prefetch, this.#maxtasks);
      if (!best) break;
      const chunk = this.#pending[this.#pendingHead];
      this.#pending[this.#pendingHead++] = undefined as never;
      sendChunk(best, chunk, this.#functionDefs);
      if (best.inFlight.length === 1) this.#running(best);
    }
    if (this.#pendingHead === this.#pending.length) {
      this.#pending = [];
      this.#pendingHead = 0;
    }
  }

  /** Chunks a lost worker had not started go back to the front of the queue (cancelled ones are dropped). */
  #requeue(chunks: Chunk[]): void {
    this.#pending.splice(this.#pendingHead, 0, ...chunks.filter((chunk) => !chunk.cancelled));
  }

  /** The worker's first chunk has started: its call's timeout runs, or, cancelled, the grace period. */
  #running(worker: Worker): void {
    const chunk = worker.inFlight[0];
    if (!chunk) return;
    if (chunk.cancelled) return this.#armGrace(worker);
    const { timeout } = chunk.call.settings;
    if (timeout === undefined) return;
    chunk.stopTimer = setLongTimeout(() => this.#cancel(chunk.call,
      new TimeoutError(`a task of the call ran longer than its timeout of ${timeout} ms`), 'timeout'), timeout, false);
  }

  /** A cancelled chunk runs: unless it ends within cancelGrace, its worker is killed (and replaced). */
  #armGrace(worker: Worker): void {
    if (worker.stopGrace) return;
    worker.stopGrace = setLongTimeout(() => {
      worker.stopGrace = undefined;
      worker.leaving = true;
      worker.child.kill('SIGKILL');
    }, this.#cancelGrace, false);
  }

  /**
   * Cancels a call (its signal, its timeout, or leaving an imap loop): queued chunks are dropped, the worker running
   * one is told (currentTask().signal) and gets the grace period, and the call rejects with `error` once. Other
   * calls' chunks, queued behind or running elsewhere, are untouched.
   */
  #cancel(call: Call, error: Error | undefined, reason: CancelReason): void {
    if (!this.#calls.has(call)) return;
    this.#end(call);
    const kept: Chunk[] = [];
    for (let i = this.#pendingHead; i < this.#pending.length; i++) {
      if (this.#pending[i].call !== call) kept.push(this.#pending[i]);
    }
    this.#pending = kept;
    this.#pendingHead = 0;
    for (const w of this.#workers) {
      w.inFlight.forEach((chunk, i) => {
        if (chunk.call !== call) return;
        chunk.cancelled = true;
        chunk.stopTimer?.();
        sendFrame(w.channel, serializeFrame({ op: 'cancel', seq: chunk.seq, reason } satisfies ToWorker));
        if (i === 0) this.#armGrace(w);
      });
    }
    if (error) call.job.abort(error);
    this.#stopIdleWorkers();
  }

  #settle(call: Call, index: number, size: number, outcome: Outcome): void {
    if (!this.#calls.has(call)) return; // cancelled or aborted meanwhile
    call.left--;
    call.done += size;
    const { onProgress } = call.settings;
    if (onProgress && size > 0) runCallback(onProgress, { done: call.done, total: call.total });
    call.job.settle(index, outcome, size);
    this.#endIfDone(call);
  }

  #endIfDone(call: Call): void {
    if (call.left === 0 && (!call.feed || call.feed.source.finished) && this.#calls.has(call)) this.#end(call);
  }

  /** The call needs nothing more from the pool. */
  #end(call: Call): void {
    this.#calls.delete(call);
    call.stopWatching?.();
    call.feed?.source.close();
    this.#updateRefs();
  }

  // --- workers --------------------------------------------------------------------------------------------------

  /** Starts a worker; false when the OS refused (reported as a warning), and then a retry is due. */
  #spawnWorker(): boolean {
    const worker = startWorker({ initializer: this.#initializer, initargs: this.#initargs, maxMemory: this.#maxMemory,
      heapLimitMb: this.#heapLimitMb });
    if (worker instanceof SpawnFailed) {
      const why = worker.error(); // every refusal is an 'error' event, which must have a listener
      if (++this.#failedStarts === 1) warnSpawnFailed(why); // once per streak of failures
      return false;
    }
    const { child, channel } = worker;
    this.#workers.add(worker);
    referenceWorker(worker, this.#referenced);
    channel.on('frame', (frame: Buffer) => {
      if (worker.garbled) return; // nothing it sends after that is trusted: its chunk fails with the reason
      let message: FromWorker;
      try {
        message = decodeMessage(frame) as FromWorker;
      } catch (err) { // not a message of ours (its task wrote on the channel?): the worker is lost, not this process
        return this.#garbled(worker, `sent a message that does not decode (${(err as Error).message})`);
      }
      this.#onMessage(worker, message);
    });
    // 'close' comes after the exit and after the channel's last frame: every result the worker sent is in.
    child.once('close', (code, signal) => this.#onWorkerExit(worker, code, signal));
    return true;
  }

  #onMessage(worker: Worker, message: FromWorker): void {
    if ('ok' in message) {
      const chunk = worker.inFlight.shift();
      if (!chunk) return; // its call was aborted (terminate, broken pool) while the worker was finishing it
      const now = performance.now();
      worker.quick = now - Math.max(worker.lastReplyAt, chunk.sentAt) < QUICK_TASK_MS * chunk.size;
      worker.lastReplyAt = now;
      chunk.stopTimer?.();
      worker.stopGrace?.();
      worker.stopGrace = undefined;
      this.#running(worker);
      if (!chunk.cancelled) this.#settle(chunk.call, chunk.index, chunk.size, outcomeOf(message));
      // The worker read the whole chunk, and settling copied the numbers out: their memory may be reused.
      if (typeof chunk.data !== 'function') giveBuffer(chunk.data);
      if (message.ok && message.values instanceof Float64Array) giveBuffer(message.values);
      this.#retireIfSpent(worker);
      this.#dispatch();
      this.#stopIdleWorkers();
    } else if ('overMemory' in message) {
      worker.retiring = true;
      this.#retireIfSpent(worker);
    } else if ('ready' in message) {
      worker.ready = true;
      worker.lastReplyAt = performance.now();
      this.#initFailures = 0;
      this.#failedStarts = 0;
      this.#dispatch();
      this.#stopIdleWorkers();
    } else {
      worker.initError = remoteError('initError' in message ? message.initError : message.error);
      worker.leaving = true;
      worker.child.kill('SIGKILL');
    }
  }

  /** A worker past maxtasksperchild or maxMemoryPerChild is replaced once it has no chunk left. */
  #retireIfSpent(worker: Worker): void {
    const spent = worker.retiring || (this.#maxtasks !== undefined && worker.sent >= this.#maxtasks);
    if (!spent || worker.inFlight.length > 0 || worker.leaving) return;
    this.#stopWorker(worker);
    this.#maintainWorkers();
  }

  /** A worker whose channel carries what the pool cannot read: killed, and its chunk fails saying why. */
  #garbled(worker: Worker, why: string): void {
    if (worker.garbled) return;
    worker.garbled = why;
    worker.child.kill('SIGKILL');
  }

  #onWorkerExit(worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    this.#workers.delete(worker);
    worker.stopGrace?.();
    for (const chunk of worker.inFlight) chunk.stopTimer?.();
    const exitCode = exitCodeOf(code, signal);
    const pid = worker.child.pid;
    const how = worker.garbled ?? describeExit(code, signal, this.#heapLimitMb);
    if (worker.initError || (!worker.ready && !worker.leaving && !signal)) {
      this.#initializerFailed(worker.initError ??
        new WorkerLostError(`pool worker ${pid} ${how} before it was ready`, pid, exitCode));
    } else if (!worker.ready && !worker.leaving) {
      this.#failedStarts++; // killed from outside while it started: not the initializer's failure
    } else if (worker.inFlight.length > 0) {
      const [lost, ...unstarted] = worker.inFlight;
      worker.inFlight = [];
      this.#requeue(unstarted);
      const error = new WorkerLostError(`pool worker ${pid} ${how} while running a task`, pid, exitCode);
      this.#settle(lost.call, lost.index, lost.size, { ok: false, error });
    }
    this.#maintainWorkers();
    this.#dispatch();
    this.#stopIdleWorkers();
    if (this.#workers.size === 0 && !this.#respawnTimer) {
      for (const resolve of this.#joiners.splice(0)) resolve();
    }
  }

  #initializerFailed(error: Error): void {
    if (this.#state === 'terminated' || this.#broken) return;
    if (++this.#initFailures < MAX_INITIALIZER_ATTEMPTS) return;
    this.#broken = error;
    this.#failEverything(error);
  }

  /**
   * Keeps `processes` workers while there is or may be work; replacements run the initializer again. After failed
   * starts, replacements wait for the respawn backoff.
   */
  #maintainWorkers(): void {
    if (this.#broken || this.#state === 'terminated' || this.#respawnTimer) return;
    if (this.#state === 'closed' && this.#calls.size === 0) return;
    let working = 0;
    for (const w of this.#workers) if (!w.leaving) working++;
    if (working >= this.#processes) return;
    if (this.#failedStarts > 0) {
      this.#respawnTimer = setTimeout(() => {
        this.#respawnTimer = undefined;
        this.#spawnMissing();
      }, respawnDelay(this.#failedStarts));
      if (!this.#referenced) this.#respawnTimer.unref();
      return;
    }
    this.#spawnMissing();
  }

  #spawnMissing(): void {
    if (this.#broken || this.#state === 'terminated') return;
    if (this.#state === 'closed' && this.#calls.size === 0) return;
    let working = 0;
    for (const w of this.#workers) if (!w.leaving) working++;
    for (; working < this.#processes; working++) {
      if (!this.#spawnWorker()) return this.#maintainWorkers(); // the OS refused: retry after the backoff
    }
  }

  /** After close(), idle workers are told to exit once nothing is queued. */
  #stopIdleWorkers(): void {
    if (this.#state !== 'closed' || this.#pendingHead < this.#pending.length) return;
    for (const call of this.#calls) if (call.feed && !call.feed.source.finished) return; // more input may come
    for (const w of this.#workers) if (!w.leaving && w.inFlight.length === 0) this.#stopWorker(w);
  }

  #stopWorker(worker: Worker): void {
    worker.leaving = true;
    sendFrame(worker.channel, serializeFrame({ op: 'stop' } satisfies ToWorker));
  }

  #failEverything(error: Error): void {
    clearTimeout(this.#respawnTimer);
    this.#respawnTimer = undefined;
    const calls = [...this.#calls];
    for (const call of calls) this.#end(call);
    this.#pending = [];
    this.#pendingHead = 0;
    for (const w of this.#workers) {
      w.stopGrace?.();
      w.stopGrace = undefined;
      for (const chunk of w.inFlight) chunk.stopTimer?.();
      w.inFlight = [];
      w.leaving = true;
      w.child.kill('SIGTERM');
    }
    for (const call of calls) call.job.abort(error);
    this.#updateRefs();
  }

  /** The pool keeps Node's event loop alive only while it has calls to finish or a join() waiting. */
  #updateRefs(): void {
    const wanted = this.#calls.size > 0 || this.#joiners.length > 0;
    if (wanted === this.#referenced) return;
    this.#referenced = wanted;
    for (const w of this.#workers) referenceWorker(w, wanted);
    if (wanted) this.#respawnTimer?.ref();
    else this.#respawnTimer?.unref();
  }

}

/** A reply's outcome for its chunk: values that cannot be rebuilt (a rebuilder that throws) fail the chunk, not the pool. */
function outcomeOf(reply: Extract<FromWorker, { ok: boolean }>): Outcome {
  if (!reply.ok) return { ok: false, error: remoteError(reply.error) };
  try {
    return { ok: true, value: reply.plain ? reply.values : rebuildValue(reply.values) };
  } catch (err) {
    return { ok: false, error: err as Error };
  }
}
