/**
 * A Pool's worker processes as records: starting one, choosing the one to hand a chunk to, keeping Node's event
 * loop alive through them or not, and describing how one ended. The Pool (pool.ts) decides when.
 */
import type { Chunk, Worker } from './pool_types';
import { QUICK_DEPTH, RESPAWN_BACKOFF_MAX_MS, RESPAWN_BACKOFF_MS } from './pool_types';
import { sendFrame } from './pool_protocol';
import { BOOTSTRAP, childExecArgv, nextChildIdentity, SpawnFailed, spawnWithInheritance } from './process';
import type { Reducible } from './reduction';

export interface WorkerConfig {
  initializer: Reducible | null;
  initargs: unknown[];
  maxMemory: number | undefined;
  heapLimitMb: number | undefined;
}

/** Spawns a pool worker (its bootstrap runs pool_worker.ts); SpawnFailed when the OS refused. */
export function startWorker(config: WorkerConfig): Worker | SpawnFailed {
  const identity = nextChildIdentity();
  const spawned = spawnWithInheritance(BOOTSTRAP, [], {
    kind: 'pool-worker', daemon: true, initializer: config.initializer, initargs: config.initargs,
    maxMemory: config.maxMemory ?? null,
  }, `PoolWorker-${identity.join(':')}`, identity, config.heapLimitMb === undefined ? {}
    : { execArgv: [...childExecArgv(), `--max-old-space-size=${config.heapLimitMb}`] });
  if (spawned instanceof SpawnFailed) return spawned;
  const { child, channel } = spawned;
  return {
    child, channel, ready: false, inFlight: [], sent: 0, received: 0, lastReplyAt: 0, quick: false,
    knownFunctions: new Set(), leaving: false, retiring: false, stopGrace: undefined,
  };
}

/** Says, as a warning, why a worker could not start. */
export function warnSpawnFailed(why: Promise<NodeJS.ErrnoException>): void {
  why.then((err) => process.emitWarning(
    `the Pool could not start a worker (${err.message}); it keeps the others and retries with backoff`,
    { type: 'PoolWarning', code: err.code }));
}

/** The wait before the next start after `failedStarts` failed starts in a row. */
export function respawnDelay(failedStarts: number): number {
  return Math.min(RESPAWN_BACKOFF_MS * 2 ** (failedStarts - 1), RESPAWN_BACKOFF_MAX_MS);
}

/**
 * The least busy worker that may take a chunk now, if any. With `prefetch` (more chunks queued than workers), a
 * quick worker may hold QUICK_DEPTH chunks; otherwise every worker holds one at a time.
 */
export function pickWorker(workers: Iterable<Worker>, prefetch: boolean, maxtasks: number | undefined): Worker | undefined {
  let best: Worker | undefined;
  for (const w of workers) {
    if (!w.ready || w.leaving || w.retiring || w.stopGrace || w.inFlight.length >= (prefetch && w.quick ? QUICK_DEPTH : 1)) continue;
    if (maxtasks !== undefined && w.sent >= maxtasks) continue;
    if (!best || w.inFlight.length < best.inFlight.length) best = w;
  }
  return best;
}

/** Sends a chunk to a worker (its function's definition first, the first time this worker sees it). */
export function sendChunk(worker: Worker, chunk: Chunk, functionDefs: readonly Buffer[]): void {
  if (!worker.knownFunctions.has(chunk.fn)) {
    sendFrame(worker.channel, functionDefs[chunk.fn]);
    worker.knownFunctions.add(chunk.fn);
  }
  if (typeof chunk.data === 'function') chunk.data = chunk.data();
  sendFrame(worker.channel, chunk.data);
  chunk.sentAt = performance.now();
  chunk.seq = worker.received++;
  worker.inFlight.push(chunk);
  worker.sent++;
}

/** How a worker ended, for its WorkerLostError: V8 aborts a process whose heap is full (with a limit, the likely reason). */
export function describeExit(code: number | null, signal: NodeJS.Signals | null, heapLimitMb: number | undefined): string {
  const outOfMemory = heapLimitMb !== undefined && (signal === 'SIGABRT' || code === 134);
  return (signal ? `was killed by ${signal}` : `exited with code ${code}`) + (outOfMemory
    ? ` (out of memory: its heap reached maxOldGenerationSizeMb, ${heapLimitMb} MiB)` : '');
}

/** Whether the worker (its process and channel) keeps Node's event loop alive. */
export function referenceWorker(worker: Worker, on: boolean): void {
  if (on) {
    worker.child.ref();
    worker.channel.socket.ref();
  } else {
    worker.child.unref();
    worker.channel.socket.unref();
  }
}
