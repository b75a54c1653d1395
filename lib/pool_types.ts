/**
 * What a Pool is made of: its options, its tuning constants, and its records of calls, chunks and workers (pool.ts
 * keeps them; pool_workers.ts starts and watches the workers).
 */
import type { Child } from './spawn_child';
import type { FramedSocket } from './framing';
import type { CallSettings } from './pool_options';
import type { Job } from './pool_results';
import type { ChunkSource } from './pool_source';
import type { Target } from './process';
import type { LazyFrame } from './pool_protocol';

export interface PoolOptions {
  /** Number of worker processes; defaults to cpuCount(). */
  processes?: number;
  /** Runs once in every worker (and in every replacement) before its first task; found by reference. */
  initializer?: Target;
  /** Arguments for `initializer`; they travel while the worker is spawned, so Locks and Queues may be among them. */
  initargs?: unknown[];
  /** A worker is replaced after completing this many tasks (a chunk counts as one task, as in Python). */
  maxtasksperchild?: number | null;
  /**
   * Milliseconds a cancelled or timed-out task has to stop by itself (see currentTask().signal) before its worker
   * is killed (SIGKILL) and replaced. Default 1000.
   */
  cancelGrace?: number;
  /**
   * Bytes of resident memory (RSS) a worker may use: one found above it after a chunk (it measures itself then) is
   * replaced once that chunk's result is delivered. Catches slow growth (leaks, caches) between tasks.
   */
  maxMemoryPerChild?: number;
  /**
   * The V8 heap limit of each worker (`--max-old-space-size`, in MiB): a task that outgrows it kills its worker
   * mid-task, and its call rejects with WorkerLostError saying it ran out of memory; the pool replaces the worker.
   */
  maxOldGenerationSizeMb?: number;
}

/**
 * A worker whose initializer failed this many times in a row breaks the pool (CPython would respawn forever). A
 * failure is the initializer's (or its module's) error, or the worker exiting by itself before it was ready; a
 * worker killed by a signal before it was ready is replaced, and counts only towards the respawn backoff.
 */
export const MAX_INITIALIZER_ATTEMPTS = 3;
/**
 * After starts that failed in a row (the OS refused to spawn, or the worker was killed before it was ready), the next
 * one waits RESPAWN_BACKOFF_MS × 2^(failures − 1), at most RESPAWN_BACKOFF_MAX_MS.
 */
export const RESPAWN_BACKOFF_MS = 50;
export const RESPAWN_BACKOFF_MAX_MS = 5000;
/**
 * While more chunks are queued than there are workers, a worker whose tasks took less than QUICK_TASK_MS each is
 * also handed its next chunk before it finishes the current one, so quick tasks never wait for a round trip to the
 * parent. Otherwise a worker holds one chunk at a time, as Python's workers pull one task at a time: a slow or
 * blocking task does not hold up a chunk queued behind it while another worker is (or will soon be) free.
 */
export const QUICK_TASK_MS = 2;
/** How many chunks a quick worker may hold: enough to cover a round trip to the parent with work. */
export const QUICK_DEPTH = 8;
export const DEFAULT_CANCEL_GRACE_MS = 1000;
/**
 * imap's default window, per worker: room for a quick worker's QUICK_DEPTH chunks and as many again queued, so that
 * lazy reading never starves the prefetch that keeps quick tasks from waiting for round trips.
 */
export const DEFAULT_CHUNKS_IN_FLIGHT_PER_PROCESS = 2 * QUICK_DEPTH;

/** A submitted call while it has work queued, running or still to read from its input. */
export interface Call {
  job: Job;
  settings: CallSettings;
  /** Chunks made so far: the next chunk's index. */
  chunks: number;
  /** Chunks made and not yet settled. */
  left: number;
  /** Tasks finished, and the call's number of tasks when known (progress). */
  done: number;
  total: number | undefined;
  stopWatching: (() => void) | undefined;
  /** imap/imapUnordered: the input, read as results are taken (see #read). */
  feed: Feed | undefined;
}

export interface Feed {
  source: ChunkSource;
  fn: number;
  chunksize: number;
  /** At most this many items read whose results the loop has not taken. */
  window: number;
  /** Items read so far, and of those, the ones whose results the loop has not taken. */
  read: number;
  untaken: number;
  reading: boolean;
}

export interface Chunk {
  call: Call;
  index: number;
  fn: number;
  /**
   * The serialized run message (arguments were reduced, and refused if they hold a Lock, when it was made), or, for
   * primitives, what makes it when the chunk is sent.
   */
  data: Buffer | LazyFrame;
  /** Tasks in the chunk. */
  size: number;
  /** When it was handed to a worker (performance.now()). */
  sentAt: number;
  /** Its number on its worker's channel (the worker cancels by it). */
  seq: number;
  /** Its call was cancelled while a worker held it. */
  cancelled: boolean;
  /** Stops its call's timeout, armed while it runs. */
  stopTimer: (() => void) | undefined;
}

export interface Worker {
  child: Child;
  channel: FramedSocket;
  ready: boolean;
  /** Chunks sent whose results have not arrived, in order: the first is the one running. */
  inFlight: Chunk[];
  /** Chunks sent and counted towards maxtasksperchild; run messages sent (numbering them for cancel). */
  sent: number;
  received: number;
  /** When the last result arrived (or the worker became ready): the start of the chunk now running. */
  lastReplyAt: number;
  /** Whether its last chunk's tasks took less than QUICK_TASK_MS each: then it may hold two chunks. */
  quick: boolean;
  knownFunctions: Set<number>;
  /** Asked to stop, or killed by the pool: its exit is expected and fails nothing. */
  leaving: boolean;
  /** It reported memory above maxMemoryPerChild: it takes no new chunk and is replaced once its chunks are done. */
  retiring: boolean;
  /** Its running chunk was cancelled: the kill after the grace period, stopped if the chunk ends first. */
  stopGrace: (() => void) | undefined;
  initError?: Error;
  /** Why the pool killed it for what it sent (a message that does not decode): said in its WorkerLostError. */
  garbled?: string;
}
