/**
 * SemLock: one OS semaphore with Python's acquire/release rules (CPython's _multiprocessing.SemLock).
 * The OS object comes from the addon; naming, tracking, ownership and reduction are decided here.
 */
import { randomBytes } from 'node:crypto';
import { threadId } from 'node:worker_threads';
import { AssertionError, NotImplementedError, ValueError } from './errors';
import { native, NativeSemaphore, NativeWaiter, WaitCallback } from './native';
import { assertSpawning, reduce, Reduced, registerRebuilder, spawningContext } from './reduction';
import * as tracker from './resource_tracker';
import { setLongTimeout, whenAborted } from './timeouts';
import { abortReason, checkBoolean, checkOptions, checkSignal, checkTimeout } from './validate';

export const RECURSIVE_MUTEX = 0;
export const SEMAPHORE = 1;
/** Linux's SEM_VALUE_MAX (INT_MAX); also what Windows accepts as a maximum count. */
export const SEM_VALUE_MAX = 0x7fffffff;

export interface AcquireOptions {
  /** false: return at once with the result of one try. Default true. */
  blocking?: boolean;
  /** Milliseconds to wait at most; undefined waits forever. */
  timeout?: number;
  /** Rejects the pending acquire with an AbortError. */
  signal?: AbortSignal;
}

export type AcquireSyncOptions = Omit<AcquireOptions, 'signal'>;

const isWindows = native.platform === 'win32';

/**
 * The addon's semaphore with its uncontended paths run as JS atomics on the semaphore's own shared memory where
 * the addon offers it (Linux/glibc): no native call to take a free unit or to release without sleepers. Everything
 * that may sleep, and every other platform, goes through the addon.
 */
export class SemaphoreHandle implements NativeSemaphore {
  readonly native: NativeSemaphore;
  /** [value, waiters] in the semaphore's shared memory, or undefined where the addon does not offer them. */
  readonly words: Int32Array | undefined;

  constructor(nativeSem: NativeSemaphore) {
    this.native = nativeSem;
    const shared = nativeSem.sharedWords();
    this.words = shared ? new Int32Array(shared) : undefined;
  }

  tryWait(): boolean {
    const words = this.words;
    if (!words) return this.native.tryWait();
    // A compare-and-swap first, guessing one unit: the word is most often in another core's cache, and a load
    // before the swap would fetch it twice.
    let value = 1;
    for (;;) {
      const seen = Atomics.compareExchange(words, 0, value, value - 1);
      if (seen === value) return true;
      if (seen <= 0) return false;
      value = seen;
    }
  }

  /** tryWait() that only reads while no unit is free: for loops that try again and again. */
  tryWaitPolling(): boolean {
    const words = this.words;
    if (!words) return this.native.tryWait();
    return Atomics.load(words, 0) > 0 && this.tryWait();
  }

  wait(timeoutMs: number): boolean {
    if (this.words && this.tryWait()) return true;
    return this.native.wait(timeoutMs);
  }

  post(maxValue?: number): boolean {
    const words = this.words;
    if (!words) return this.native.post(maxValue);
    if (maxValue === undefined) {
      // Unbounded: one atomic add (the word is fetched once), undone in the case that cannot happen in practice.
      if (Atomics.add(words, 0, 1) >= SEM_VALUE_MAX) {
        Atomics.sub(words, 0, 1);
        throw Object.assign(new Error('sem_post failed: Value too large for defined data type (EOVERFLOW)'),
          { code: 'EOVERFLOW', syscall: 'sem_post' });
      }
    } else {
      let value = maxValue - 1; // a guess that lets a lock's release be one compare-and-swap
      for (;;) {
        if (value >= maxValue) return false;
        const seen = Atomics.compareExchange(words, 0, value, value + 1);
        if (seen === value) break;
        value = seen;
      }
    }
    if (Atomics.load(words, 1) !== 0) this.native.wakeWaiter(); // read after the add: no sleeper is missed
    return true;
  }

  value(): number {
    return this.words ? Atomics.load(this.words, 0) : this.native.value();
  }

  waitAsync(timeoutMs: number, callback: WaitCallback, then?: NativeSemaphore): NativeWaiter {
    return this.native.waitAsync(timeoutMs, callback, then instanceof SemaphoreHandle ? then.native : then);
  }

  duplicateInto(pid: number): string {
    return this.native.duplicateInto(pid);
  }

  sharedWords(): ArrayBuffer | undefined {
    return this.words?.buffer as ArrayBuffer | undefined;
  }

  wakeWaiter(): void {
    this.native.wakeWaiter();
  }

  close(): void {
    this.native.close();
  }
}

/** A named (POSIX) or unnamed (Windows) OS semaphore owned by this process: created, tracked, unlinked. */
export class OsSemaphore {
  readonly sem: SemaphoreHandle;
  readonly name: string;
  #creator: boolean;

  private constructor(sem: NativeSemaphore, name: string, creator: boolean) {
    this.sem = new SemaphoreHandle(sem);
    this.name = name;
    this.#creator = creator;
    if (creator && !isWindows) createdHere.add(this);
  }

  static create(value: number, maxValue: number): OsSemaphore {
    for (;;) {
      // "/mp-" and 8 random characters, as CPython: unpredictable, and within macOS's 31-character limit
      const name = isWindows ? '' : `/mp-${randomBytes(6).toString('base64url')}`;
      if (!isWindows) tracker.register(name); // before the name exists, so no death can leak it
      try {
        return new OsSemaphore(native.Semaphore.create(name, value, maxValue), name, true);
      } catch (err) {
        if (!isWindows) tracker.unregister(name);
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
  }

  /** Opens what a parent handed over: POSIX by name, Windows by the handle value duplicated into this process. */
  static open(nameOrHandle: string): OsSemaphore {
    return new OsSemaphore(native.Semaphore.open(nameOrHandle), isWindows ? '' : nameOrHandle, false);
  }

  /** What a child needs to open this semaphore; valid only inside a spawning context. */
  descriptor(): string {
    return isWindows ? spawningContext().duplicateHandle(this.sem.native) : this.name;
  }

  /** Removes the name (the creator only); processes that opened it keep using it. */
  unlink(): void {
    if (!this.#creator) return;
    this.#creator = false;
    createdHere.delete(this);
    try {
      native.Semaphore.unlink(this.name);
    } finally {
      tracker.unregister(this.name);
    }
  }
}

// Names this process created and still owns: unlinked when it exits normally (the tracker covers the rest).
const createdHere = new Set<OsSemaphore>();
process.on('exit', () => {
  for (const sem of [...createdHere]) {
    try {
      sem.unlink();
    } catch {
      // already gone (e.g. removed by hand): nothing to clean
    }
  }
});

function currentOwner(): number {
  return threadId;
}

/**
 * The core of every synchronization primitive. `count` and `owner` are per-process bookkeeping, as in CPython:
 * they tell whether this process (thread) holds the lock, for RLock recursion and Condition.wait.
 */
export class SemLock {
  // Private fields: invisible to serializers, which meet the inheritance guard first.
  readonly #os: OsSemaphore;
  readonly #kind: number;
  readonly #maxvalue: number;
  readonly #sem: SemaphoreHandle; // this.#os.sem, read on every call
  readonly #words: Int32Array | undefined; // its shared [value, waiters], when the platform offers them
  readonly #postLimit: number | undefined; // the over-release check's bound; none for unbounded semaphores
  #count = 0;
  #owner = -1;

  /** @internal */
  constructor(kind: number, value: number, maxvalue: number, rebuilt?: OsSemaphore) {
    this.#kind = kind;
    this.#maxvalue = maxvalue;
    this.#os = rebuilt ?? OsSemaphore.create(value, maxvalue);
    this.#sem = this.#os.sem;
    this.#words = this.#sem.words;
    this.#postLimit = maxvalue === SEM_VALUE_MAX ? undefined : maxvalue;
    defineInheritanceGuard(this);
  }

  /** @internal */
  get _os(): OsSemaphore {
    return this.#os;
  }

  /** @internal */
  get _kind(): number {
    return this.#kind;
  }

  /** @internal */
  get _maxvalue(): number {
    return this.#maxvalue;
  }

  /** @internal true when this process (thread) holds it: CPython's SemLock._is_mine(). */
  _isMine(): boolean {
    return this.#count > 0 && this.#owner === currentOwner();
  }

  /** @internal how many times this process holds it: CPython's SemLock._count(). */
  _count(): number {
    return this.#count;
  }

  #acquired(): true {
    this.#count++;
    this.#owner = currentOwner();
    return true;
  }

  /** Blocks the calling thread, like Python's acquire(). Returns whether the lock was acquired. */
  acquireSync(options?: AcquireSyncOptions): boolean {
    if (options === undefined) {
      // The common call, inlined down to one compare-and-swap when a unit is free: Python's time is the bar.
      const words = this.#words;
      if (words && this.#kind !== RECURSIVE_MUTEX) {
        const value = Atomics.load(words, 0);
        if (value > 0 && Atomics.compareExchange(words, 0, value, value - 1) === value) {
          this.#count++;
          this.#owner = threadId;
          return true;
        }
      }
      if (this.#kind === RECURSIVE_MUTEX && this._isMine()) return this.#acquired();
      return this.#sem.wait(-1) ? this.#acquired() : false;
    }
    const { blocking: rawBlocking, timeout: rawTimeout } = checkOptions<AcquireSyncOptions>(options, 'acquireSync options');
    const blocking = checkBoolean(rawBlocking, 'blocking', true);
    const timeout = checkTimeout(rawTimeout);
    if (this.#kind === RECURSIVE_MUTEX && this._isMine()) return this.#acquired();
    const sem = this.#sem;
    const ok = !blocking ? sem.tryWait() : sem.wait(timeout === undefined ? -1 : Math.ceil(timeout));
    return ok ? this.#acquired() : false;
  }

  /**
   * Waits without blocking the event loop (on a thread of the addon's own, not libuv's pool).
   * Resolves true when acquired, false when `blocking` is false or `timeout` passed first.
   */
  acquire(options?: AcquireOptions): Promise<boolean> {
    if (options === undefined && this.#kind !== RECURSIVE_MUTEX && this.#sem.tryWait()) {
      this.#acquired(); // the common case: free, no options to check
      return RESOLVED_TRUE;
    }
    try {
      const opts = checkOptions<AcquireOptions>(options, 'acquire options');
      const blocking = checkBoolean(opts.blocking, 'blocking', true);
      const timeout = checkTimeout(opts.timeout);
      const signal = checkSignal(opts.signal);
      if (signal?.aborted) return Promise.reject(abortReason(signal));
      if (this.#kind === RECURSIVE_MUTEX && this._isMine()) return Promise.resolve(this.#acquired());
      const sem = this.#sem;
      if (sem.tryWait()) return Promise.resolve(this.#acquired());
      if (!blocking || timeout === 0) return Promise.resolve(false);
      return waitAsync(sem, timeout, signal).then((ok) => (ok ? this.#acquired() : false));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  release(): void {
    if (this.#kind === RECURSIVE_MUTEX) {
      if (!this._isMine()) throw new AssertionError('attempt to release recursive lock not owned by thread');
      if (this.#count > 1) {
        this.#count--;
        return;
      }
    }
    const words = this.#words;
    const limit = this.#postLimit;
    if (words && limit !== undefined) { // the common release, inlined as in acquireSync
      const value = Atomics.load(words, 0);
      if (value < limit && Atomics.compareExchange(words, 0, value, value + 1) === value) {
        if (Atomics.load(words, 1) !== 0) this.#sem.wakeWaiter();
        if (this.#count > 0) this.#count--;
        return;
      }
    }
    if (!this.#sem.post(limit)) throw new ValueError('semaphore or lock released too many times');
    if (this.#count > 0) this.#count--;
  }

  /** @internal the current value where the platform can tell; NotImplementedError on macOS (no sem_getvalue). */
  _getValue(): number {
    if (!native.features.semGetValue) {
      throw new NotImplementedError('the value of a semaphore cannot be read on this platform (no sem_getvalue)');
    }
    return this.#sem.value();
  }

  /**
   * @internal true when no unit is free: CPython's SemLock._is_zero(). Without sem_getvalue (macOS) it takes a unit
   * and gives it back, so a concurrent non-blocking acquire elsewhere may fail in between, as in CPython.
   */
  _isZero(): boolean {
    if (native.features.semGetValue) return this.#sem.value() === 0;
    if (!this.#sem.tryWait()) return true;
    this.#sem.post();
    return false;
  }

  [reduce](): Reduced {
    assertSpawning(this);
    return [REBUILD_SEMLOCK, [this.constructor.name, this._kind, this._maxvalue, this._os.descriptor()]];
  }
}

const RESOLVED_TRUE = Promise.resolve(true);

/**
 * Waits on a waiter thread; settles exactly once. `then` is posted by that thread when the wait ends.
 * `onAbort` runs when the signal wins the race, in place of `then`.
 * @internal
 */
export function waitAsync(sem: NativeSemaphore, timeout: number | undefined, signal: AbortSignal | undefined,
                          then?: NativeSemaphore, onAbort?: () => void): Promise<boolean> {
  if (signal?.aborted) { // aborted between two steps of an operation: nothing to wait for
    onAbort?.();
    return Promise.reject(abortReason(signal));
  }
  return new Promise<boolean>((resolve, reject) => {
    let stopListening: (() => void) | undefined;
    const waiter = sem.waitAsync(timeout === undefined ? -1 : Math.ceil(timeout), (err, ok) => {
      stopListening?.();
      if (err) reject(err);
      else resolve(ok);
    }, then);
    if (signal) {
      stopListening = whenAborted(signal, () => {
        if (!waiter.cancel()) return; // too late: the result is already on its way
        onAbort?.();
        reject(abortReason(signal));
      });
    }
  });
}

/**
 * Resolves true once `sem` had a free unit, and leaves it free: a waiter thread takes the unit and gives it straight
 * back, so the caller tries again itself. For a library object's inner lock, which this thread also takes
 * synchronously: a unit a waiter thread took for us would be held, unknown to JS, while other callbacks of this thread
 * run, and a synchronous acquire among them would then wait forever for a callback it keeps from running. False when
 * `timeout` passes first; AbortError on `signal`. @internal
 */
export function waitUntilFree(sem: SemaphoreHandle, timeout: number | undefined, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise<boolean>((resolve, reject) => {
    let stopTimer: (() => void) | undefined;
    let stopListening: (() => void) | undefined;
    const settle = (err: Error | null, free: boolean): void => {
      stopTimer?.();
      stopListening?.();
      if (err) reject(err);
      else resolve(free);
    };
    // Never a native timeout: the unit is given back by posting it, which a wait that timed out must not do.
    const waiter = sem.waitAsync(-1, settle, sem);
    const giveUp = (why: () => Error | null) => () => {
      if (waiter.cancel()) settle(why(), false); // else the unit is back already and the result on its way
    };
    if (timeout !== undefined) stopTimer = setLongTimeout(giveUp(() => null), timeout);
    if (signal) stopListening = whenAborted(signal, giveUp(() => abortReason(signal)));
  });
}

/**
 * Library objects carry an enumerable accessor that throws Python's RuntimeError, so that every serializer that
 * walks them (JSON.stringify, structuredClone, v8.serialize, process.send, worker.postMessage) fails loudly
 * instead of delivering a dead copy. Our own reduce pass handles these objects before it would look inside.
 * @internal
 */
export function defineInheritanceGuard(obj: object): void {
  Object.defineProperty(obj, 'sharedThroughInheritanceOnly', {
    enumerable: true,
    get(this: object) {
      assertSpawning(this, true);
      return true;
    },
  });
}

const REBUILD_SEMLOCK = 'multiproc.SemLock';
type SemLockFactory = (os: OsSemaphore, maxvalue: number) => SemLock;
const semlockClasses = new Map<string, SemLockFactory>();

/** Classes built on SemLock register how a child rebuilds them around an opened semaphore. */
export function registerSemLockClass(name: string, factory: SemLockFactory): void {
  semlockClasses.set(name, factory);
}

registerRebuilder(REBUILD_SEMLOCK, (className: string, _kind: number, maxvalue: number, descriptor: string) => {
  const factory = semlockClasses.get(className);
  if (!factory) throw new ValueError(`unknown SemLock class ${className}`);
  return factory(OsSemaphore.open(descriptor), maxvalue);
});
