/**
 * The task a pool worker is running, as the task itself sees it: `currentTask().signal` aborts when the caller
 * cancels the call (its AbortSignal) or the call's timeout passes, so cooperative tasks can stop cleanly.
 */
import { AbortError, RuntimeError, TimeoutError } from './errors';

export type CancelReason = 'abort' | 'timeout';

/** What a running task can know about itself. */
export interface TaskContext {
  /** Aborts (with an AbortError or a TimeoutError as its reason) once the task's call is cancelled or timed out. */
  readonly signal: AbortSignal;
}

/** The chunk a worker runs: its number on the worker's channel, and its cancellation once asked for. */
export class RunningChunk implements TaskContext {
  readonly seq: number;
  #controller: AbortController | undefined;
  #reason: Error | undefined;

  constructor(seq: number, cancelled: CancelReason | undefined) {
    this.seq = seq;
    if (cancelled) this.cancel(cancelled);
  }

  /** Created on first use: most tasks never look, and a chunk of a million quick tasks should not pay for it. */
  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    if (this.#reason && !this.#controller.signal.aborted) this.#controller.abort(this.#reason);
    return this.#controller.signal;
  }

  /** Set once cancelled: the tasks of the chunk not yet started are skipped with it. */
  get reason(): Error | undefined {
    return this.#reason;
  }

  cancel(why: CancelReason): void {
    if (this.#reason) return;
    this.#reason = why === 'timeout' ? new TimeoutError('the task ran longer than its call\'s timeout')
      : new AbortError('the task\'s call was cancelled');
    this.#controller?.abort(this.#reason);
  }
}

let running: RunningChunk | undefined;

/** @internal The worker loop says which chunk runs (undefined between chunks). */
export function setRunningChunk(chunk: RunningChunk | undefined): void {
  running = chunk;
}

/**
 * The running Pool task's context: call it inside a task function (in the worker), e.g.
 * `const { signal } = currentTask()` at the start of the task, and keep the signal. Throws RuntimeError
 * (`ERR_MP_NO_TASK`) anywhere else.
 */
export function currentTask(): TaskContext {
  if (!running) throw new RuntimeError('currentTask() is only available while a Pool task runs', 'ERR_MP_NO_TASK');
  return running;
}
