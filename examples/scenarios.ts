/**
 * The four scenarios of the original question and the initializer fix, written as a user would write them.
 * Each returns the indices the parent read from the queue.
 */
import { Lock, Manager, Pool, Process, Queue } from 'multiproc';
import { initWorker, LockLike, printBlock, printBlockInherited, printBlockWithQueueArg, QueueLike } from './tasks';

/** What scenarios 2 and 4 need of a manager: a Manager, or a RedisManager (`npm start -- --redis`). */
export interface ManagerLike {
  start(): Promise<void>;
  shutdown(): Promise<void>;
  Lock(): Promise<LockLike>;
  Queue(): Promise<QueueLike & { get(): Promise<unknown> }>;
}
const newManager = (): ManagerLike => new Manager();

const TASKS = 10;
const indices = () => Array.from({ length: TASKS }, (_, i) => i);

async function readAll(queue: { get(): Promise<unknown> }): Promise<number[]> {
  const got: number[] = [];
  for (let i = 0; i < TASKS; i++) got.push((await queue.get()) as number);
  return got.sort((a, b) => a - b);
}

/** Runs `body` with a pool of three workers and a local queue, then cleans both up. */
async function withPoolAndQueue(options: { initializer?: typeof initWorker; initargs?: unknown[] },
                                body: (pool: Pool, queue: Queue<number>) => Promise<unknown>, queue = new Queue<number>()): Promise<number[]> {
  const pool = new Pool({ processes: 3, ...options });
  try {
    await body(pool, queue);
    return await readAll(queue);
  } finally {
    await pool[Symbol.asyncDispose]();
    queue.close();
  }
}

/** 1. A Pool whose task arguments carry a Lock and a Queue. */
export function poolWithLockInArgs(): Promise<number[]> {
  const lock = new Lock();
  return withPoolAndQueue({}, (pool, queue) => pool.starmap(printBlock, indices().map((i) => [i, lock, queue])));
}

/** 2. The same Pool with a Manager's Lock and Queue: proxies are addresses, they travel anywhere. */
export async function poolWithManagerObjects(makeManager = newManager): Promise<number[]> {
  const manager = makeManager();
  await manager.start();
  const pool = new Pool({ processes: 3 });
  try {
    const lock = await manager.Lock();
    const queue = await manager.Queue();
    await pool.starmap(printBlock, indices().map((i) => [i, lock, queue]));
    return await readAll(queue);
  } finally {
    await pool[Symbol.asyncDispose]();
    await manager.shutdown();
  }
}

/** Runs one Process per index, with at most three alive at a time. */
async function tenProcesses(lock: unknown, queue: { get(): Promise<unknown> }): Promise<number[]> {
  const alive = new Set<Promise<void>>();
  for (const i of indices()) {
    if (alive.size === 3) await Promise.race(alive);
    const p = new Process({ target: printBlock, args: [i, lock, queue] });
    await p.start();
    const done: Promise<void> = p.join().then(() => void alive.delete(done));
    alive.add(done);
  }
  await Promise.all(alive);
  return readAll(queue);
}

/** 3. Ten single Processes given a Lock and a Queue when they start: inheritance. */
export async function processesWithLock(): Promise<number[]> {
  const queue = new Queue<number>();
  try {
    return await tenProcesses(new Lock(), queue);
  } finally {
    queue.close();
  }
}

/** 4. The same with a Manager's Lock and Queue. */
export async function processesWithManagerObjects(makeManager = newManager): Promise<number[]> {
  const manager = makeManager();
  await manager.start();
  try {
    return await tenProcesses(await manager.Lock(), await manager.Queue());
  } finally {
    await manager.shutdown();
  }
}

/** The fix: the Pool hands the Lock and the Queue to each worker through initializer/initargs. */
export function poolWithInitargs(): Promise<number[]> {
  const lock = new Lock();
  const queue = new Queue<number>();
  return withPoolAndQueue({ initializer: initWorker, initargs: [lock, queue] },
    (pool) => pool.map(printBlockInherited, indices()), queue);
}

/** The fix as the original answer wrote it: the Lock through initargs, the Queue still in the task arguments. */
export function poolWithInitargsQueueInArgs(): Promise<number[]> {
  const lock = new Lock();
  return withPoolAndQueue({ initializer: initWorker, initargs: [lock] },
    (pool, queue) => pool.starmap(printBlockWithQueueArg, indices().map((i) => [i, queue])));
}
