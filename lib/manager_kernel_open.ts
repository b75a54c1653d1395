/**
 * A proxy's side of the kernel objects of manager_kernel.ts: checking the names a token carries and opening them in
 * this process (POSIX, server on this host), so that a proxy takes a lock or reads a queue item without a round trip.
 */
import * as path from 'node:path';
import { deserialize } from './deserialize';
import type { ManagerConnection } from './manager_connection';
import type { KernelDescriptor, KernelQueueDescriptor } from './manager_kernel';
import type { Token } from './manager_protocol';
import { native } from './native';
import { FramePipe } from './pipe';
import { JoinableQueue, Queue } from './queues';
import { rebuildValue } from './reduction';
import { LockOptions, OsSemaphore, SEM_VALUE_MAX } from './semlock';
import { BoundedSemaphore, Condition, Lock, Semaphore } from './synchronize';

/** The names our semaphores get (semlock.ts), and nothing else: a token cannot make a proxy open any other. */
const KERNEL_NAME = /^\/mp-[\w-]{8}$/;

const KERNEL_FIFO = /^q-[\w-]{12}$/;

/** Whether a token's kernel descriptor names only what our own kernel objects are called. */
export function isKernelDescriptor(kernel: KernelDescriptor | KernelQueueDescriptor): boolean {
  if (typeof kernel !== 'object' || kernel === null) return false;
  if ('fifo' in kernel) {
    return typeof kernel.fifo === 'string' && KERNEL_FIFO.test(path.basename(kernel.fifo)) &&
      Number.isSafeInteger(kernel.maxsize) && kernel.maxsize >= 0 && kernel.parts instanceof Uint8Array;
  }
  return typeof kernel.name === 'string' && KERNEL_NAME.test(kernel.name) &&
    Number.isSafeInteger(kernel.maxvalue) && kernel.maxvalue >= 1 && kernel.maxvalue <= SEM_VALUE_MAX;
}

/** A token's kernel object, if this process may open it: POSIX, and a server on a Unix socket (so on this host). */
function kernelOf(token: Token): KernelDescriptor | KernelQueueDescriptor | null {
  if (!token.kernel || native.platform !== 'posix' || Array.isArray(token.address)) return null;
  return token.kernel;
}

/** Opens the kernel semaphore of a manager Lock or Semaphore (manager_kernel.ts); null when calls must go to the server. */
export function openKernel(token: Token, connection: ManagerConnection): Semaphore | null {
  const kernel = kernelOf(token);
  if (!kernel || !('name' in kernel)) return null;
  try {
    return connection.hold(new Semaphore(0, OsSemaphore.open(kernel.name) as LockOptions, kernel.maxvalue));
  } catch {
    return null; // not on the server's host after all (e.g. another mount namespace)
  }
}

/** Opens a manager Queue's named pipe and semaphores (manager_kernel.ts); null when calls must go to the server. */
export function openKernelQueue(token: Token, connection: ManagerConnection): OpenedQueue | null {
  const kernel = kernelOf(token);
  if (!kernel || !('fifo' in kernel)) return null;
  let pipe: FramePipe;
  try {
    pipe = FramePipe.openFifo(kernel.fifo);
  } catch {
    return null;
  }
  try {
    const all = rebuildValue(deserialize(kernel.parts)) as unknown[];
    const shut = all.pop() as Semaphore; // last, whatever the class
    const [rlock, wlock, items, slots, unfinished, cond] = all as
      [Lock, Lock, Semaphore, BoundedSemaphore | null, Semaphore | undefined, Condition | undefined];
    const parts = { pipe, rlock, wlock, items, slots, shut };
    const queue = token.typeid === 'JoinableQueue'
      ? new JoinableQueue(kernel.maxsize, { ...parts, unfinished: unfinished!, cond: cond! })
      : new Queue(kernel.maxsize, parts);
    return { queue: connection.hold(queue), slots };
  } catch {
    pipe.close();
    return null;
  }
}

/** A kernel queue as a proxy's process opened it: a local Queue to read items from, and the slots of a bounded one. */
export interface OpenedQueue {
  queue: Queue;
  slots: BoundedSemaphore | null;
}
