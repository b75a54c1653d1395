/**
 * The task of the original question: print a block of lines while holding the lock (so interleaving would show),
 * then put the task's index on the queue. Exported, because a child finds its target by reference.
 */
export interface LockLike {
  acquire(): Promise<boolean>;
  release(): void | Promise<void>;
}

export interface QueueLike {
  put(item: number): Promise<void>;
}

export async function printBlock(i: number, lock: LockLike, queue: QueueLike): Promise<void> {
  await lock.acquire();
  try {
    console.log(`    ┌ task ${i} in pid ${process.pid} holds the lock`);
    console.log(`    │ line 2 of task ${i}`);
    console.log(`    └ task ${i} releases the lock`);
  } finally {
    await lock.release();
  }
  await queue.put(i);
}

// The fix: the Pool hands the lock and the queue to each worker once, when it starts.
let inheritedLock: LockLike | undefined;
let inheritedQueue: QueueLike | undefined;

export function initWorker(lock: LockLike, queue?: QueueLike): void {
  inheritedLock = lock;
  inheritedQueue = queue;
}

export function printBlockInherited(i: number): Promise<void> {
  return printBlock(i, inheritedLock!, inheritedQueue!);
}

/** The answer's fix as literally written: the lock comes through initargs, the queue still rides in the task. */
export function printBlockWithQueueArg(i: number, queue: QueueLike): Promise<void> {
  return printBlock(i, inheritedLock!, queue);
}
