/**
 * Waiting on Redis: an option check shared by every proxy method that may wait, and the loop they all use. A
 * wait is a blocking command (BLPOP, BLMOVE) on a list that the state change it waits for pushes to; it never
 * polls. Each blocking command lasts at most one slice (the lease length, or less when a lease is due to end
 * sooner: the one change no command announces), so a server that stops answering is noticed within a slice plus
 * the command timeout.
 */
import { InvalidArgumentError } from '../errors';
import { deadlineOf, remaining } from '../timeouts';
import { abortReason, checkOptions, checkSignal, checkTimeout } from '../validate';

export interface Waiting {
  block: boolean;
  /** performance.now() deadline; undefined: none. */
  deadline: number | undefined;
  signal: AbortSignal | undefined;
}

/** `{ blocking | block, timeout, signal }` as the Manager's proxies take them; timeout 0 means "try once". */
export function waitingOf(options: unknown, flag: 'blocking' | 'block' | null, what: string): Waiting {
  const opts = checkOptions<Record<string, unknown>>(options, what);
  const value = flag === null ? undefined : opts[flag];
  if (value !== undefined && typeof value !== 'boolean') throw new InvalidArgumentError(`${flag} must be a boolean`);
  const signal = checkSignal(opts.signal);
  const timeout = checkTimeout(opts.timeout);
  return {
    block: value !== false && timeout !== 0,
    deadline: deadlineOf(timeout),
    signal,
  };
}

export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

/**
 * How long the next blocking command may block: until the deadline, or until `dueMs` (when a lease ends; -1:
 * none) plus a millisecond, and never longer than `maxMs`. 0 when the deadline has passed.
 */
export function sliceOf(waiting: Waiting, dueMs: number, maxMs: number): number {
  const left = remaining(waiting.deadline) ?? Infinity;
  if (left <= 0) return 0;
  const due = dueMs >= 0 ? dueMs + 1 : Infinity;
  return Math.max(1, Math.ceil(Math.min(left, due, maxMs)));
}

/**
 * How long from now a caller that finds nothing may stay blocked, as the script that finds nothing records it so
 * that state changes push wake-ups meanwhile: its next blocking command (at most `maxMs`, or until the deadline),
 * plus `graceMs` for that command to reach the server. 0 when it will not block.
 */
export function mayWaitMs(waiting: Waiting, maxMs: number, graceMs: number): number {
  if (!waiting.block) return 0;
  const left = Math.min(remaining(waiting.deadline) ?? Infinity, maxMs);
  return left > 0 ? Math.ceil(left) + graceMs : 0;
}
