/**
 * A proxy's side of the kernel objects of manager_kernel.ts: checking the names a token carries and opening them in
 * this process (POSIX, server on this host), so that a proxy takes a lock or reads a queue item without a round trip.
 */
import * as path from 'node:path';
import { deserialize } from './deserialize';
import type { ManagerConnection } from './manager_connection';
import type { KernelDescriptor, KernelKillSafeDescriptor, KernelQueueDescriptor } from './manager_kernel';
import type { Token } from './manager_protocol';
import { native } from './native';
import { FramePipe } from './pipe';
import { JoinableQueue, Queue } from './queues';
import { rebuildValue } from './reduction';
import { openRobustLock, pidNamespace } from './robust_lock';
import { openRobustSemaphore } from './robust_semaphore';
import { LockOptions, OsSemaphore, SEM_VALUE_MAX } from './semlock';
import { BoundedSemaphore, Condition, Lock, Semaphore } from './synchronize';

/** The names our semaphores get (semlock.ts), and nothing else: a token cannot make a proxy open any other. */
const KERNEL_NAME = /^\/mp-[\w-]{8}$/;

const KERNEL_FIFO = /^q-[\w-]{12}$/;

/** The names of kill-safe locks' and semaphores' segments (robust_lock.ts). */
const KERNEL_KILL_SAFE = /^\/mpl-[\w-]{8}$/;

/** Whether a token's kernel descriptor names only what our own kernel objects are called. */
export function isKernelDescriptor(kernel: KernelDescriptor | KernelKillSafeDescriptor | KernelQueueDescriptor): boolean {
  if (typeof kernel !== 'object' || kernel === null) return false;
  if ('killSafe' in kernel) {
    return typeof kernel.killSafe === 'string' && KERNEL_KILL_SAFE.test(kernel.killSafe) && typeof kernel.units === 'boolean' &&
      validBound(kernel.maxvalue) && typeof kernel.pidns === 'string';
  }
  if ('fifo' in kernel) {
    return typeof kernel.fifo === 'string' && KERNEL_FIFO.test(path.basename(kernel.fifo)) &&
      Number.isSafeInteger(kernel.maxsize) && kernel.maxsize >= 0 && kernel.parts instanceof Uint8Array;
  }
  return typeof kernel.name === 'string' && KERNEL_NAME.test(kernel.name) && validBound(kernel.maxvalue);
}

function validBound(maxvalue: unknown): boolean {
  return Number.isSafeInteger(maxvalue) && (maxvalue as number) >= 1 && (maxvalue as number) <= SEM_VALUE_MAX;
}

/** A token's kernel object, if this process may open it: POSIX, and a server on a Unix socket (so on this host). */
function kernelOf(token: Token): KernelDescriptor | KernelKillSafeDescriptor | KernelQueueDescriptor | null {
  if (!token.kernel || native.platform !== 'posix' || Array.isArray(token.address)) return null;
  return token.kernel;
}

/**
 * Opens the kernel object of a manager Lock or Semaphore (manager_kernel.ts): a kill-safe lock or semaphore, or an
 * OS semaphore; null when calls must go to the server.
 */
export function openKernel(token: Token, connection: ManagerConnection): Lock | Semaphore | null {
  const kernel = kernelOf(token);
  if (!kernel || 'fifo' in kernel) return null;
  try {
    if ('killSafe' in kernel) {
      // Its holders are named by pid: a process in another pid namespace would read the names wrongly.
      if (kernel.pidns !== pidNamespace()) return null;
      const descriptor = { killSafe: kernel.killSafe };
      return connection.hold(kernel.units
        ? new Semaphore(0, openRobustSemaphore(descriptor) as LockOptions, kernel.maxvalue)
        : new Lock(openRobustLock(descriptor) as LockOptions));
    }
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
