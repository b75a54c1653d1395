/**
 * Queue.shutdown()'s state, which every process holding the queue must see: a semaphore of the queue that is zero
 * while the queue is open and stays above zero once it is shut down (it only ever goes up). Where a semaphore's
 * value cannot be read (macOS), a process tests it by taking one and giving it back: SHUT_COUNT leaves room for
 * that many processes testing at once.
 *
 * Waking the processes blocked in a queue when it shuts down takes a "baton" for each thing they wait on: for
 * getters, a frame written after the items left (an async get waits for the pipe to be readable, then for its
 * count), for putters a count of the free slots. The process it wakes sees the queue shut down, passes the baton on
 * to the next waiter and throws ShutDown. While the queue is shut down, one item of the count is that baton: qsize()
 * and empty() leave it out.
 */
import { native } from './native';
import { NO_RECOVERY, type SemaphoreHandle } from './semlock';
import { Semaphore } from './synchronize';

const SHUT_COUNT = 64;

/** The baton frame's value: an item equal to it is the baton only once the queue is shut down (no put is then accepted). */
export const SHUT_BATON = '\u0000multiproc: queue shut down\u0000';

export function isShutBaton(item: unknown): boolean {
  return item === SHUT_BATON;
}

/** A new queue's state: open. */
export function openState(): Semaphore {
  return new Semaphore(0, NO_RECOVERY);
}

export function isShut(state: SemaphoreHandle): boolean {
  if (native.features.semGetValue) return state.value() > 0;
  if (!state.tryWait()) return false;
  state.post();
  return true;
}

/** Shuts the queue down for every process; false if it already was. */
export function markShut(state: SemaphoreHandle): boolean {
  if (isShut(state)) return false;
  for (let i = 0; i < SHUT_COUNT; i++) state.post();
  return true;
}

/** How many items `items` counts, leaving out the baton of a shut-down queue (never below zero). */
export function queuedItems(items: Semaphore, shut: boolean): number {
  const n = items.getValue();
  return shut ? Math.max(0, n - 1) : n;
}

/** Whether `items` counts no item, leaving out the baton of a shut-down queue (no value read needed). */
export function noItems(items: SemaphoreHandle, shut: boolean): boolean {
  if (native.features.semGetValue) return items.value() <= (shut ? 1 : 0);
  if (!items.tryWait()) return true;
  if (!shut) {
    items.post();
    return false;
  }
  const second = items.tryWait();
  if (second) items.post();
  items.post();
  return !second;
}
