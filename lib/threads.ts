/**
 * Handing kernel objects to another thread of this process (worker_threads). Within one process a semaphore, a pipe
 * or a handle is valid in every thread, as Python's threads share one Lock; but a Worker has its own JS heap, so
 * what crosses is a description that the receiving thread turns back into objects of its own over the same OS
 * objects: `forThread(value)` in the sender, through postMessage or workerData, `fromThread(message)` in the
 * receiver. Semaphores are shared (the addon's lending tickets), queue descriptors and handles duplicated.
 *
 * The inheritance RuntimeError still stops a Lock sent to a worker as it is, and anything sent to another process.
 */
import { InvalidArgumentError, RuntimeError, ValueError } from './errors';
import { dumps, loads, SpawningContext, withAdoption, withSpawningContext } from './reduction';
import { describe } from './validate';

const HANDOVER = '$multiproc.forThread';

/** What forThread() makes: plain data (structured-cloneable) that fromThread() turns back into the objects. */
export interface ThreadHandover<T = unknown> {
  readonly [HANDOVER]: { pid: number; data: Uint8Array };
  /** Only carries the type of the value. */
  readonly value?: T;
}

/**
 * Describes `value` — plain data that may hold Locks, Semaphores, Conditions, Events, Barriers and Queues — for
 * another thread of this process. The receiver must call fromThread() while this thread still holds the objects
 * (a closed or collected object can no longer be adopted); from then on each thread's objects live and close on
 * their own. A closed object cannot be handed over (ValueError ERR_MP_CLOSED).
 */
export function forThread<T>(value: T): ThreadHandover<T> {
  const data = withSpawningContext(new SpawningContext(true), () => dumps(value));
  return { [HANDOVER]: { pid: process.pid, data } };
}

/**
 * In the receiving thread: the objects forThread() described, as objects of this thread. Each call makes new
 * objects (adopting the same handover twice gives two Locks over one semaphore). RuntimeError
 * (ERR_MP_NOT_A_THREAD_HANDOVER) in another process; ValueError (ERR_MP_CLOSED) when the sender closed an object
 * first.
 */
export function fromThread<T>(handover: ThreadHandover<T>): T {
  const described = (handover as Partial<ThreadHandover<T>> | null)?.[HANDOVER];
  if (typeof described !== 'object' || described === null || !(described.data instanceof Uint8Array)) {
    throw new InvalidArgumentError(`fromThread needs what forThread() returned, got ${describe(handover)}`);
  }
  if (described.pid !== process.pid) {
    throw new RuntimeError('forThread() values can only be adopted by threads of the process that made them',
      'ERR_MP_NOT_A_THREAD_HANDOVER');
  }
  try {
    return withAdoption(() => loads(described.data)) as T;
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_MP_CLOSED') throw err;
    throw new ValueError('an object handed over with forThread() was closed by its sender before this thread adopted it',
      'ERR_MP_CLOSED');
  }
}
