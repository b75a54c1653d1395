/**
 * Manager Lock, RLock, Semaphore, BoundedSemaphore, Queue and JoinableQueue kept in the kernel instead of the
 * server's memory: each lock is a named semaphore the server creates, each queue a local Queue whose pipe is a named
 * pipe in the server's private directory; the names travel in the proxy's token. A proxy in a process on the same
 * host opens them and uses them directly — a compare-and-swap or a read(2) instead of a round trip to the server,
 * which costs a process wake-up on each side. Calls that need the server (a client that cannot open a semaphore, a
 * Condition built on the lock) act on the same semaphore from the server, so both paths agree. A queue's items are
 * never decoded in the server: a client that cannot open the queue gets ERR_MP_MANAGER_KERNEL_OBJECT.
 *
 * A Lock or RLock is kill-safe where the platform allows (Linux): a kill-safe lock's word (robust_lock.ts) names
 * the process that holds it, so when that process dies — at any instruction, even between taking the lock and
 * telling the server — the next taker takes it over and sees ownerDied. Proxies that take a lock directly still tell
 * the server (`Op.Held` / `Op.Released`, no reply), which it needs for a Condition over the lock; it releases a
 * disconnected client's lock only where it took the lock for that client itself (or, without kill-safe locks,
 * where the client's notes say it held it).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import { AssertionError, ManagerError, ValueError } from './errors';
import { NOT_ACQUIRED_FOR_WAIT, semaphoreValue, ServerLock } from './server_synchronize';
import { blockingOf, Caller, CallerAware, Session } from './server_waiters';
import { native } from './native';
import { FramePipe } from './pipe';
import { openState } from './queue_shutdown';
import { JoinableQueue, Queue } from './queues';
import { reduceValue, SpawningContext, withSpawningContext } from './reduction';
import { KillSafeSegment, pidNamespace } from './robust_lock';
import { isRobustSemaphoreSegment } from './robust_semaphore';
import { NO_RECOVERY, SEM_VALUE_MAX, SemLock } from './semlock';
import { BoundedSemaphore, Condition, Lock, Semaphore } from './synchronize';
import { checkBoolean, checkInteger } from './validate';

/** What a proxy needs to open the semaphore itself: its name and the bound on its value. */
export interface KernelDescriptor {
  name: string;
  maxvalue: number;
}

/**
 * What a proxy needs to open a kill-safe lock or semaphore (robust_lock.ts, robust_semaphore.ts) itself: the
 * segment's name, which of the two it is, the bound on its value, and the server's pid namespace — holders are named
 * by pid, which means the same process only inside one pid namespace.
 */
export interface KernelKillSafeDescriptor {
  killSafe: string;
  units: boolean;
  maxvalue: number;
  pidns: string;
}

/** A kernel lock's or semaphore's descriptor: kill-safe where the platform allows, else an OS semaphore's. */
function descriptorOf(sem: SemLock): KernelDescriptor | KernelKillSafeDescriptor {
  const backing = sem._backing;
  if (!(backing instanceof KillSafeSegment)) return { name: sem._os.name, maxvalue: sem._maxvalue };
  return { killSafe: backing.name, units: isRobustSemaphoreSegment(backing), maxvalue: sem._maxvalue, pidns: pidNamespace() };
}

/**
 * What a proxy needs to open a kernel queue: the named pipe, the bound, and the queue's semaphores (and a
 * JoinableQueue's Condition) reduced as for a child being spawned, serialized: opaque to every pass that walks
 * tokens, rebuilt only by the proxy that opens the queue.
 */
export interface KernelQueueDescriptor {
  fifo: string;
  maxsize: number;
  parts: Uint8Array;
}

/** The descriptor a token carries for a server object that lives in the kernel; undefined for any other. */
export function kernelDescriptorOf(obj: object): KernelDescriptor | KernelKillSafeDescriptor | KernelQueueDescriptor | undefined {
  return obj instanceof KernelSemaphore || obj instanceof KernelOwnedLock || obj instanceof KernelQueue
    ? obj.kernel : undefined;
}

/** Waits for `sem` in the server (through the addon's wait hub) for a caller that may go away meanwhile. */
async function acquireFor(sem: SemLock, caller: Caller, options: unknown): Promise<boolean> {
  const { block, timeout } = blockingOf(options, 'blocking');
  const acquired = await sem.acquire(block ? { timeout, signal: caller.signal } : { blocking: false });
  if (acquired && caller.session.closed) { // granted as the caller's connection closed: nobody will release it
    sem.release();
    return false;
  }
  return acquired;
}

/** Releases `n` units, all or none: a bounded semaphore refuses to go above its bound (Python's threading check). */
export function releaseUnits(sem: Semaphore, n: unknown): void {
  const units = checkInteger(n, 'n', 1);
  if (sem._maxvalue - sem.getValue() < units) throw new ValueError('semaphore or lock released too many times');
  for (let i = 0; i < units; i++) sem.release();
}

class KernelSemaphore extends CallerAware implements Disposable {
  constructor(private readonly sem: Semaphore) {
    super();
  }

  get kernel(): KernelDescriptor | KernelKillSafeDescriptor {
    return descriptorOf(this.sem);
  }

  /** The server dropped the object: proxies that opened the semaphore keep it, nobody new can open it. */
  [Symbol.dispose](): void {
    this.sem._backing.unlink();
  }

  acquire(caller: Caller, options?: unknown): Promise<boolean> {
    return acquireFor(this.sem, caller, options);
  }

  release(_caller: Caller, n: unknown = 1): void {
    releaseUnits(this.sem, n);
  }

  getValue(): number {
    return this.sem.getValue();
  }
}

export class KernelSemaphoreObject extends KernelSemaphore {
  constructor(value?: unknown) {
    super(new Semaphore(semaphoreValue(value))); // kill-safe where the platform allows
  }
}

export class KernelBoundedSemaphoreObject extends KernelSemaphore {
  constructor(value?: unknown) {
    super(new BoundedSemaphore(semaphoreValue(value)));
  }
}

/** What the server knows of one session's holds on a kernel lock. */
interface Holds {
  /** Taken through the server: certain. */
  granted: number;
  /** Announced by the session's own Op.Held (a proxy that took the semaphore itself): its word only. */
  claimed: number;
}

/**
 * A Lock or RLock: a binary semaphore, plus what the server knows of who holds it — per session, how many times
 * (an RLock's recursion through the server; a proxy that holds it directly counts its own recursion and is on
 * record once).
 *
 * A client's notes are believed only as far as the server can check them. A Held for a semaphore that is free, or
 * while a hold the server granted itself stands, is ignored; a Released without a claim too. When a session goes,
 * the server releases the lock for it only if it knows that session held it: a hold it granted, or a claim while no
 * other session claims the lock. Two claims at once happen when an honest holder's Released and the next holder's
 * Held cross on their way to the server, and when a client lies: then neither can make the server release the
 * lock (it may stay held by a process that died in that instant, never released under another holder).
 */
abstract class KernelOwnedLock extends ServerLock implements Disposable {
  /** Kill-safe where the platform allows; else an OS semaphore. Either is opened by name by the proxies. */
  private readonly sem = new Lock();
  readonly #holds = new Map<Session, Holds>();
  protected abstract readonly recursive: boolean;

  get kernel(): KernelDescriptor | KernelKillSafeDescriptor {
    return descriptorOf(this.sem);
  }

  async acquire(caller: Caller, options?: unknown): Promise<boolean> {
    if (this.recursive && this.isMine(caller)) {
      blockingOf(options, 'blocking'); // still refuse bad options
      this.#change(caller.session, 'granted', 1);
      return true;
    }
    const acquired = await acquireFor(this.sem, caller, options);
    if (acquired) this.#change(caller.session, 'granted', 1);
    return acquired;
  }

  release(caller: Caller): void {
    if (this.recursive) {
      if (!this.isMine(caller)) throw new AssertionError('attempt to release recursive lock not owned by process');
      const holds = this.#holds.get(caller.session)!;
      if (holds.granted + holds.claimed > 1) return this.#change(caller.session, holds.granted > 0 ? 'granted' : 'claimed', -1);
      this.sem.release();
      return this.#forget(caller.session);
    }
    this.sem.release(); // ValueError when nobody holds it
    // Any process may release a Lock: it is free now, so nobody's hold stands.
    for (const session of [...this.#holds.keys()]) this.#forget(session);
  }

  /** Op.Held / Op.Released from a proxy that takes the semaphore itself (+1 / -1): believed as far as it can be. */
  note(session: Session, delta: 1 | -1): void {
    if (delta < 0) {
      if ((this.#holds.get(session)?.claimed ?? 0) > 0) this.#change(session, 'claimed', -1);
      return;
    }
    if (!this.sem._isZero()) return; // a free lock is held by nobody: a late or false note
    for (const [other, holds] of this.#holds) if (other !== session && holds.granted > 0) return; // the server's own grant stands
    this.#change(session, 'claimed', 1);
  }

  #change(session: Session, kind: keyof Holds, delta: number): void {
    const holds = this.#holds.get(session) ?? { granted: 0, claimed: 0 };
    holds[kind] += delta;
    if (holds.granted + holds.claimed > 0 && !session.closed) {
      this.#holds.set(session, holds);
      session.holding.add(this);
    } else {
      this.#forget(session);
    }
  }

  #forget(session: Session): void {
    this.#holds.delete(session);
    session.holding.delete(this);
  }

  /** Whether the server knows `session` holds the lock: a hold it granted, or the one claim on record. */
  #surelyHeldBy(session: Session): boolean {
    const holds = this.#holds.get(session);
    return holds !== undefined && (holds.granted > 0 || this.#holds.size === 1);
  }

  abandon(session: Session): void {
    // A kill-safe lock that the client's process took itself is its process's: its death frees it for the next
    // taker, and a release here as well could free it under that taker. What the server took for it, it gives back.
    const held = this.sem.recovery ? (this.#holds.get(session)?.granted ?? 0) > 0 : this.#surelyHeldBy(session);
    this.#forget(session);
    if (held && this.sem._isZero()) this.sem.release();
  }

  releaseAll(caller: Caller): number {
    if (!this.isMine(caller)) throw new AssertionError(NOT_ACQUIRED_FOR_WAIT);
    const holds = this.#holds.get(caller.session)!;
    this.sem.release();
    this.#forget(caller.session);
    return holds.granted + holds.claimed;
  }

  async reacquire(caller: Caller, count: number): Promise<void> {
    if (await acquireFor(this.sem, caller, undefined)) this.#change(caller.session, 'granted', count);
  }

  isMine(caller: Caller): boolean {
    return this.#surelyHeldBy(caller.session);
  }

  locked(): boolean {
    return this.sem._isZero();
  }

  [Symbol.dispose](): void {
    this.sem._backing.unlink();
  }
}

export class KernelLockObject extends KernelOwnedLock {
  protected readonly recursive = false;
}

export class KernelRLockObject extends KernelOwnedLock {
  protected readonly recursive = true;
}

// --- queues -----------------------------------------------------------------------------------------------------

/** The server's private directory (mode 0700), where its queues' named pipes are made. */
let fifoDirectory: string | null = null;

export function setFifoDirectory(dir: string): void {
  fifoDirectory = dir;
}

function unreachable(typeid: string): ManagerError {
  return new ManagerError('ERR_MP_MANAGER_KERNEL_OBJECT', `this ${typeid} is a named pipe and semaphores on the ` +
    "manager's host, which this process could not open; create the manager with kernelObjects: false to keep " +
    'queues in the server');
}

/**
 * A Queue whose pipe and semaphores live in the kernel. Clients read items straight from the pipe (a local get) and
 * write small items straight into it while it has room. An item that does not fit (the pipe is full, or the item is
 * large) goes to the server as its frame (Op.PutFrame, no reply); the server writes those into the pipe in the order
 * they arrive and keeps them until they fit — the buffer of CPython's feeder thread, kept here where a producer's
 * exit cannot lose it. So a put never waits for a consumer, as with Python's manager Queue. A client whose items
 * went to the server sends the next ones there too until `awaitWritten` says all are in the pipe, so one
 * producer's items arrive in the order it put them.
 */
export abstract class KernelQueue extends CallerAware implements Disposable {
  readonly kernel: KernelQueueDescriptor;
  /** The server's end: it writes what clients put, and takes no slot (the client took it). */
  protected readonly queue: Queue;
  readonly #slots: BoundedSemaphore | null;
  /** Every semaphore of the queue, to unlink when the server drops it. */
  readonly #semaphores: SemLock[];
  /** Frames received and not yet in the pipe: all of them, and per client. */
  #buffered = 0;
  readonly #bufferedFrom = new Map<Session, number>();
  /** Clients waiting (awaitWritten) until their frames are all in the pipe. */
  readonly #writtenWaiters = new Map<Session, (() => void)[]>();
  #writing: Promise<void> = Promise.resolve();

  constructor(maxsize: unknown, joinable: boolean) {
    super();
    const size = checkInteger(maxsize ?? 0, 'maxsize', 0, SEM_VALUE_MAX);
    if (!fifoDirectory) throw new ManagerError('ERR_MP_MANAGER_STATE', 'this server has no directory for named pipes');
    const [rlock, wlock, items, shut] = [new Lock(NO_RECOVERY), new Lock(NO_RECOVERY), new Semaphore(0, NO_RECOVERY), openState()];
    const slots = size > 0 ? new BoundedSemaphore(size, NO_RECOVERY) : null;
    this.#slots = slots;
    this.#semaphores = [rlock, wlock, items, shut, ...(slots ? [slots] : [])];
    // The order KernelQueueDescriptor.parts lists them in.
    const parts: unknown[] = [rlock, wlock, items, slots];
    let joinableParts: { unfinished: Semaphore; cond: Condition } | undefined;
    if (joinable) {
      const [unfinished, condLock] = [new Semaphore(0, NO_RECOVERY), new Lock(NO_RECOVERY)];
      const condSemaphores = [new Semaphore(0, NO_RECOVERY), new Semaphore(0, NO_RECOVERY), new Semaphore(0, NO_RECOVERY)];
      joinableParts = { unfinished, cond: new Condition(condLock, condSemaphores) };
      this.#semaphores.push(unfinished, condLock, ...condSemaphores);
      parts.push(unfinished, joinableParts.cond);
    }
    parts.push(shut); // last, whatever the class
    const fifo = path.join(fifoDirectory, `q-${randomBytes(9).toString('base64url')}`);
    native.mkfifo(fifo);
    let pipe: FramePipe;
    try {
      pipe = FramePipe.openFifo(fifo);
    } catch (err) {
      fs.rmSync(fifo, { force: true });
      throw err;
    }
    const serverParts = { pipe, rlock, wlock, items, slots: null, shut };
    this.queue = joinableParts ? new JoinableQueue(0, { ...serverParts, ...joinableParts }) : new Queue(0, serverParts);
    const ctx = new SpawningContext();
    const reduced = withSpawningContext(ctx, () => reduceValue(parts)); // names only, no fds
    ctx.release(); // this server holds the parts itself until the queue is dropped
    this.kernel = { fifo, maxsize: size, parts: v8.serialize(reduced) };
  }

  /** Op.PutFrame: one client's put, written after every frame that arrived before it. */
  enqueue(session: Session, frame: Uint8Array): void {
    this.#bufferedFrom.set(session, (this.#bufferedFrom.get(session) ?? 0) + 1);
    const write = () => this.queue._putFrame(frame).catch(() => undefined).then(() => this.#written(session));
    this.#writing = ++this.#buffered === 1 ? write() : this.#writing.then(write);
  }

  #written(session: Session): void {
    this.#buffered--;
    const left = this.#bufferedFrom.get(session)! - 1;
    if (left > 0) return void this.#bufferedFrom.set(session, left);
    this.#bufferedFrom.delete(session);
    for (const wake of this.#writtenWaiters.get(session) ?? []) wake();
    this.#writtenWaiters.delete(session);
  }

  /** Resolves once every frame the caller's process sent before this call is in the pipe. */
  awaitWritten(caller: Caller): Promise<void> | undefined {
    if (!this.#bufferedFrom.has(caller.session)) return undefined;
    return new Promise((resolve) => {
      const waiters = this.#writtenWaiters.get(caller.session) ?? [];
      waiters.push(resolve);
      this.#writtenWaiters.set(caller.session, waiters);
    });
  }

  qsize(): number {
    return this.queue.qsize() + this.#buffered;
  }

  empty(): boolean {
    return this.qsize() === 0;
  }

  full(): boolean {
    return this.#slots !== null && this.#slots._isZero();
  }

  /**
   * Queue.shutdown(): the state is the queue's, so clients see it at once. The server's end takes no slot: it
   * wakes a putter waiting for one itself.
   */
  shutdown(_caller: Caller, immediate?: unknown): void {
    const first = !this.queue._isShut();
    this.queue._shutDown(checkBoolean(immediate ?? false, 'immediate', false));
    if (first) this.#slots?._os.sem.post(this.kernel.maxsize);
  }

  put(): never {
    throw unreachable(this.constructor.name);
  }

  putNowait(): never {
    throw unreachable(this.constructor.name);
  }

  get(): never {
    throw unreachable(this.constructor.name);
  }

  getNowait(): never {
    throw unreachable(this.constructor.name);
  }

  /** The server dropped the queue: its names go; processes that opened it keep it, with the items in it. */
  [Symbol.dispose](): void {
    fs.rmSync(this.kernel.fifo, { force: true });
    for (const sem of this.#semaphores) sem._os.unlink();
    this.queue.close();
  }
}

export class KernelQueueObject extends KernelQueue {
  constructor(maxsize?: unknown) {
    super(maxsize, false);
  }
}

export class KernelJoinableQueueObject extends KernelQueue {
  constructor(maxsize?: unknown) {
    super(maxsize, true);
  }

  taskDone(): never {
    throw unreachable(this.constructor.name);
  }

  join(): never {
    throw unreachable(this.constructor.name);
  }
}
