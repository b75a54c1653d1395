/**
 * The synchronization objects a Manager server holds in its memory (CPython's SyncManager registers threading's):
 * Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event and Barrier, each waiting through server_waiters.ts.
 * Their kernel-backed twins are in manager_kernel.ts.
 */
import { AssertionError, BrokenBarrierError, InvalidArgumentError, ValueError } from './errors';
import { Abandonable, blockingOf, Caller, CallerAware, Session, Waiters } from './server_waiters';
import { checkInteger, checkOptions, checkTimeout, describe } from './validate';

/** What a Condition needs of its lock: a server Lock or RLock, kept in the server or in the kernel. */
export abstract class ServerLock extends CallerAware implements Abandonable {
  abstract acquire(caller: Caller, options?: unknown): Promise<boolean>;
  abstract release(caller: Caller): void;
  abstract abandon(session: Session): void;
  /** For Condition.wait: gives the lock up entirely, returning the recursion count to restore. */
  abstract releaseAll(caller: Caller): number;
  abstract reacquire(caller: Caller, count: number): Promise<void>;
  abstract isMine(caller: Caller): boolean;
  abstract locked(): boolean;
}

/** Lock and RLock kept in the server: an owner session, a recursion count, a FIFO of sessions waiting for it. */
abstract class OwnedLock extends ServerLock {
  protected owner: Session | null = null;
  protected count = 0;
  readonly #waiters = new Waiters<Session>();
  protected abstract readonly recursive: boolean;

  async acquire(caller: Caller, options?: unknown): Promise<boolean> {
    const { block, timeout } = blockingOf(options, 'blocking');
    if (this.owner === null) {
      this.#take(caller.session, 1);
      return true;
    }
    if (this.recursive && this.owner === caller.session) {
      this.count++;
      return true;
    }
    if (!block) return false;
    return (await this.#waiters.wait(caller, timeout, caller.session)) !== null;
  }

  release(caller: Caller): void {
    if (this.recursive) {
      // An RLock nobody holds is not the caller's either: AssertionError, as a local or kernel RLock says.
      if (this.owner !== caller.session) throw new AssertionError('attempt to release recursive lock not owned by process');
      if (--this.count > 0) return;
    } else if (this.owner === null) {
      throw new ValueError('semaphore or lock released too many times');
    }
    this.#handOver();
  }

  /** Hands the lock to the first waiter (FIFO, no barging) or leaves it free. */
  #handOver(): void {
    this.owner!.holding.delete(this);
    this.owner = null;
    this.count = 0;
    const next = this.#waiters.first();
    if (next) {
      this.#take(next.data, 1);
      next.wake(true);
    }
  }

  #take(session: Session, count: number): void {
    this.owner = session;
    this.count = count;
    session.holding.add(this);
  }

  /** A lock held by a client that disconnected is released, so the others do not wait forever. */
  abandon(session: Session): void {
    if (this.owner === session) this.#handOver();
  }

  releaseAll(caller: Caller): number {
    if (this.owner !== caller.session) throw new AssertionError(NOT_ACQUIRED_FOR_WAIT);
    const count = this.count;
    this.#handOver();
    return count;
  }

  async reacquire(caller: Caller, count: number): Promise<void> {
    await this.acquire(caller);
    this.count = count;
  }

  isMine(caller: Caller): boolean {
    return this.owner === caller.session;
  }

  locked(): boolean {
    return this.owner !== null;
  }
}

export class LockObject extends OwnedLock {
  protected readonly recursive = false;
}

export class RLockObject extends OwnedLock {
  protected readonly recursive = true;
}

export const NOT_ACQUIRED_FOR_WAIT = 'must acquire() condition before using wait()';

export function semaphoreValue(value: unknown): number {
  if (value === undefined) return 1;
  return checkInteger(value, 'semaphore initial value', 0, 0x7fffffff);
}

/** A counting semaphore; with `bound`, releasing above the initial value is an error (BoundedSemaphore). */
class CountingSemaphore extends CallerAware {
  #value: number;
  readonly #bound: number | undefined;
  readonly #waiters = new Waiters();

  constructor(value: unknown, bounded: boolean) {
    super();
    this.#value = semaphoreValue(value);
    this.#bound = bounded ? this.#value : undefined;
  }

  async acquire(caller: Caller, options?: unknown): Promise<boolean> {
    const { block, timeout } = blockingOf(options, 'blocking');
    if (this.#value > 0) {
      this.#value--;
      return true;
    }
    if (!block) return false;
    return (await this.#waiters.wait(caller, timeout, undefined)) !== null;
  }

  release(_caller: Caller, n: unknown = 1): void {
    let units = checkInteger(n, 'n', 1);
    if (this.#bound !== undefined && this.#value + units > this.#bound) {
      throw new ValueError('semaphore or lock released too many times');
    }
    for (; units > 0; units--) {
      const next = this.#waiters.first(); // a unit goes straight to the oldest waiter
      if (next) next.wake(true);
      else this.#value++;
    }
  }

  getValue(): number {
    return this.#value;
  }
}

export class SemaphoreObject extends CountingSemaphore {
  constructor(value?: unknown) {
    super(value, false);
  }
}

export class BoundedSemaphoreObject extends CountingSemaphore {
  constructor(value?: unknown) {
    super(value, true);
  }
}

/** A condition variable over a server Lock/RLock (its own RLock by default). */
export class ConditionObject extends CallerAware {
  readonly #lock: ServerLock;
  readonly #waiters = new Waiters();

  constructor(lock?: unknown) {
    super();
    if (lock !== undefined && lock !== null && !(lock instanceof ServerLock)) {
      throw new InvalidArgumentError(`Condition lock must be a manager Lock or RLock proxy, got ${describe(lock)}`);
    }
    this.#lock = lock ?? new RLockObject();
  }

  acquire(caller: Caller, options?: unknown): Promise<boolean> {
    return this.#lock.acquire(caller, options);
  }

  release(caller: Caller): void {
    this.#lock.release(caller);
  }

  async wait(caller: Caller, options?: unknown): Promise<boolean> {
    const timeout = checkTimeout(checkOptions<{ timeout: number }>(options, 'wait options').timeout);
    const count = this.#lock.releaseAll(caller);
    let woken = false;
    try {
      woken = (await this.#waiters.wait(caller, timeout, undefined)) !== null;
    } finally {
      // Python re-acquires even when the wait failed; a caller whose connection closed will not be back for it.
      if (!caller.session.closed) await this.#lock.reacquire({ session: caller.session, signal: NEVER }, count);
    }
    return woken;
  }

  notify(caller: Caller, n: unknown = 1): void {
    const count = checkInteger(n, 'n', 0);
    if (!this.#lock.isMine(caller)) throw new AssertionError('lock is not owned');
    for (let i = 0; i < count; i++) {
      const next = this.#waiters.first();
      if (!next) break;
      next.wake(true);
    }
  }

  notifyAll(caller: Caller): void {
    if (!this.#lock.isMine(caller)) throw new AssertionError('lock is not owned');
    this.#waiters.wakeAll(true);
  }
}

/** A signal that never aborts: re-acquiring after a Condition wait is not cancellable (Python does the same). */
const NEVER = new AbortController().signal;

export class EventObject extends CallerAware {
  #flag = false;
  readonly #waiters = new Waiters();

  isSet(): boolean {
    return this.#flag;
  }

  set(): void {
    this.#flag = true;
    this.#waiters.wakeAll(true);
  }

  clear(): void {
    this.#flag = false;
  }

  async wait(caller: Caller, options?: unknown): Promise<boolean> {
    const timeout = checkTimeout(checkOptions<{ timeout: number }>(options, 'wait options').timeout);
    if (this.#flag) return true;
    await this.#waiters.wait(caller, timeout, undefined);
    return this.#flag;
  }
}

/** threading.Barrier's contract: parties arrive, the last releases them all; a timeout or abort breaks it. */
export class BarrierObject extends CallerAware {
  readonly #parties: number;
  readonly #timeout: number | undefined;
  #broken = false;
  #waiters = new Waiters<undefined, boolean>(); // woken with true (released) or false (broken)

  constructor(parties: unknown, action?: unknown, timeout?: unknown) {
    super();
    this.#parties = checkInteger(parties, 'parties', 1, 0x7fffffff);
    // A client cannot make the server load and run code: the action runs nowhere else than in a local Barrier.
    if (action !== undefined && action !== null) {
      throw new InvalidArgumentError('a manager Barrier takes no action (it would have to run inside the server)');
    }
    this.#timeout = checkTimeout(timeout);
  }

  async wait(caller: Caller, options?: unknown): Promise<number> {
    const timeout = checkTimeout(checkOptions<{ timeout: number }>(options, 'wait options').timeout) ?? this.#timeout;
    if (this.#broken) throw new BrokenBarrierError();
    const index = this.#waiters.size;
    if (index + 1 === this.#parties) {
      this.#waiters.wakeAll(true);
      return index;
    }
    let released: boolean | null;
    try {
      released = await this.#waiters.wait(caller, timeout, undefined);
    } catch (err) {
      this.#break(); // a party that gave up will not arrive: nobody else may wait for it
      throw err;
    }
    if (released === null) {
      this.#break();
      throw new BrokenBarrierError('the barrier timed out and is now broken');
    }
    if (!released) throw new BrokenBarrierError();
    return index;
  }

  #break(): void {
    this.#broken = true;
    this.#waiters.wakeAll(false);
  }

  reset(): void {
    this.#waiters.wakeAll(false);
    this.#broken = false;
  }

  abort(): void {
    this.#break();
  }

  parties(): number {
    return this.#parties;
  }

  nWaiting(): number {
    return this.#waiters.size;
  }

  broken(): boolean {
    return this.#broken;
  }
}
