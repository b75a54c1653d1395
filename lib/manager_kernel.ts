/**
 * Manager Lock, RLock, Semaphore and BoundedSemaphore kept in the kernel instead of the server's memory: each is a
 * named semaphore the server creates, and its name travels in the proxy's token. A proxy in a process on the same
 * host opens it and acquires and releases it directly — a compare-and-swap instead of a round trip to the server,
 * which costs a process wake-up on each side. Calls that need the server (a client that cannot open the
 * semaphore, a Condition built on the lock) act on the same semaphore from the server, so both paths agree.
 *
 * What only the server can do is kept: a Lock or RLock held by a client that disconnects is released. Proxies that
 * take a lock directly tell the server (`Op.Held` / `Op.Released`, no reply): Held right after taking it, Released
 * right before giving it back, so a death between the two steps can leave a lock held, never released twice.
 */
import { AssertionError, ValueError } from './errors';
import {
  blockingOf, Caller, CallerAware, NOT_ACQUIRED_FOR_WAIT, semaphoreValue, ServerLock, Session,
} from './manager_objects';
import type { SemLock } from './semlock';
import { BoundedSemaphore, Lock, Semaphore } from './synchronize';
import { checkInteger } from './validate';

/** What a proxy needs to open the semaphore itself: its name and the bound on its value. */
export interface KernelDescriptor {
  name: string;
  maxvalue: number;
}

function describe(sem: SemLock): KernelDescriptor {
  return { name: sem._os.name, maxvalue: sem._maxvalue };
}

/** The descriptor a token carries for a server object that is a kernel semaphore; undefined for any other. */
export function kernelDescriptorOf(obj: object): KernelDescriptor | undefined {
  return obj instanceof KernelSemaphore || obj instanceof KernelOwnedLock ? obj.kernel : undefined;
}

/** Waits for `sem` in the server (on one of the addon's waiter threads) for a caller that may go away meanwhile. */
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

  get kernel(): KernelDescriptor {
    return describe(this.sem);
  }

  /** The server dropped the object: proxies that opened the semaphore keep it, nobody new can open it. */
  [Symbol.dispose](): void {
    this.sem._os.unlink();
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
    super(new Semaphore(semaphoreValue(value)));
  }
}

export class KernelBoundedSemaphoreObject extends KernelSemaphore {
  constructor(value?: unknown) {
    super(new BoundedSemaphore(semaphoreValue(value)));
  }
}

/**
 * A Lock or RLock: a binary semaphore, plus what the server knows of who holds it — per session, how many times
 * (an RLock's recursion through the server; a proxy that holds it directly counts its own recursion and is on
 * record once). A session's record is only ever changed by that session's own messages, except by a release
 * through the server, so records of different sessions never overwrite each other.
 */
abstract class KernelOwnedLock extends ServerLock implements Disposable {
  private readonly sem = new Lock();
  readonly #holds = new Map<Session, number>();
  protected abstract readonly recursive: boolean;

  get kernel(): KernelDescriptor {
    return describe(this.sem);
  }

  async acquire(caller: Caller, options?: unknown): Promise<boolean> {
    if (this.recursive && this.isMine(caller)) {
      blockingOf(options, 'blocking'); // still refuse bad options
      this.note(caller.session, 1);
      return true;
    }
    const acquired = await acquireFor(this.sem, caller, options);
    if (acquired) this.note(caller.session, 1);
    return acquired;
  }

  release(caller: Caller): void {
    const holds = this.#holds.get(caller.session) ?? 0;
    if (this.recursive) {
      if (holds === 0) throw new AssertionError('attempt to release recursive lock not owned by process');
      if (holds > 1) return this.note(caller.session, -1);
    }
    this.sem.release(); // ValueError when nobody holds it
    // Any process may release a Lock: the record that goes is the caller's, or else the oldest holder's.
    this.note(holds > 0 ? caller.session : this.#holds.keys().next().value, -1);
  }

  /** Op.Held / Op.Released from a proxy that takes the semaphore itself (+1 / -1). */
  note(session: Session | undefined, delta: 1 | -1): void {
    if (session) this.#record(session, (this.#holds.get(session) ?? 0) + delta);
  }

  #record(session: Session, holds: number): void {
    if (holds > 0 && !session.closed) {
      this.#holds.set(session, holds);
      session.holding.add(this);
    } else {
      this.#holds.delete(session);
      session.holding.delete(this);
    }
  }

  abandon(session: Session): void {
    if (!this.#holds.delete(session)) return;
    if (this.sem._isZero()) this.sem.release();
  }

  releaseAll(caller: Caller): number {
    const holds = this.#holds.get(caller.session);
    if (!holds) throw new AssertionError(NOT_ACQUIRED_FOR_WAIT);
    this.sem.release();
    this.#record(caller.session, 0);
    return holds;
  }

  async reacquire(caller: Caller, count: number): Promise<void> {
    if (await acquireFor(this.sem, caller, undefined)) this.#record(caller.session, count);
  }

  isMine(caller: Caller): boolean {
    return this.#holds.has(caller.session);
  }

  locked(): boolean {
    return this.sem._isZero();
  }

  [Symbol.dispose](): void {
    this.sem._os.unlink();
  }
}

export class KernelLockObject extends KernelOwnedLock {
  protected readonly recursive = false;
}

export class KernelRLockObject extends KernelOwnedLock {
  protected readonly recursive = true;
}
