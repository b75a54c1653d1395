/**
 * SemLock: one OS semaphore with Python's acquire/release rules (CPython's _multiprocessing.SemLock).
 * The OS object comes from the addon; naming, tracking, ownership and reduction are decided here.
 */
import { randomBytes } from 'node:crypto';
import { isMainThread, threadId } from 'node:worker_threads';
import { AssertionError, NotImplementedError, ValueError } from './errors';
import { native, NativeSemaphore, WaitCallback, WaitId } from './native';
import { assertSpawning, isLent, Lent, reduce, Reduced, registerRebuilder, requireAdoption, spawningContext } from './reduction';
import * as tracker from './resource_tracker';
import {
  createRobustLock, isKillSafeDescriptor, KillSafeDescriptor, openRobustLock, recoveryAvailable, RobustLockHandle,
  RobustLockSegment, SELF_TOKEN,
} from './robust_lock';
import {
  createRobustSemaphore, openRobustSemaphore, RobustSemaphoreHandle, RobustSemaphoreSegment,
} from './robust_semaphore';
import { REBUILD_SEMLOCK } from './rebuilder_ids';
import { spinFor } from './spin';
import { setLongTimeout, whenAborted } from './timeouts';
import { abortReason, checkBoolean, checkOptions, checkSignal, checkTimeout } from './validate';

export const RECURSIVE_MUTEX = 0;
export const SEMAPHORE = 1;
/** Linux's SEM_VALUE_MAX (INT_MAX); also what Windows accepts as a maximum count. */
export const SEM_VALUE_MAX = 0x7fffffff;

/**
 * How long a queue's get that found no item tries again on its own thread before it waits (20 µs): once per wait,
 * so an idle consumer burns nothing, and the event loop's thread is held for no longer than that.
 */
export const SPIN_MS = 0.02;

/**
 * How long an async acquire tries again on its own thread before it hands the wait to the wait hub (50 µs). A
 * release in another process that comes that soon then costs a cache-line transfer instead of two thread wake-ups
 * (the hub thread's and, through the event loop, this thread's: together 20 to 60 µs on the VMs measured), and the
 * event loop is held for no longer than that.
 */
const ACQUIRE_SPIN_MS = 0.05;
/**
 * A wait through the hub that took longer than this (4 spins) tells acquire() that the releases it waits for come
 * too late for a spin to catch them: it stops spinning, except for one wait in SPIN_PROBE, until one comes soon again.
 */
const SPIN_WORTH_MS = 0.2;
const SPIN_PROBE = 16;

export interface AcquireOptions {
  /** false: return at once with the result of one try. Default true. */
  blocking?: boolean;
  /** Milliseconds to wait at most; undefined waits forever. */
  timeout?: number;
  /** Rejects the pending acquire with an AbortError. */
  signal?: AbortSignal;
}

export type AcquireSyncOptions = Omit<AcquireOptions, 'signal'>;

export interface LockOptions {
  /**
   * Whether a holder that dies (SIGKILL, crash, abort) frees the lock for the next taker, who then sees
   * `ownerDied` (default true, where the platform offers it: see `recovery` on the lock). false keeps Python's exact
   * behaviour: a lock whose holder died stays held.
   */
  recovery?: boolean;
}

/** Options of the library's own locks that stay OS semaphores (queue and Manager internals). @internal */
export const NO_RECOVERY: LockOptions = Object.freeze({ recovery: false });

/** The OS object behind a SemLock: an OS semaphore, or the shared words of a kill-safe lock or semaphore. */
export type SemLockBacking = OsSemaphore | RobustLockSegment | RobustSemaphoreSegment;

/** A kill-safe handle: what a SemLock waits on through its own waitAsync, and whose takes report tookOver. */
type RecoveringHandle = RobustLockHandle | RobustSemaphoreHandle;

const isWindows = native.platform === 'win32';

/**
 * The addon's semaphore with its uncontended paths run as JS atomics on the semaphore's own shared memory where
 * the addon offers it (Linux/glibc): no native call to take a free unit or to release without sleepers. Everything
 * that may sleep, and every other platform, goes through the addon.
 */
export class SemaphoreHandle implements NativeSemaphore {
  readonly native: NativeSemaphore;
  /**
   * [value, waiters] in the semaphore's shared memory, or undefined where the addon does not offer them, and once
   * closed (the native side detaches the buffer too, so nothing can reach memory that is no longer mapped).
   */
  words: Int32Array | undefined;
  /** Set once closed: the name of the object calls are reported on. */
  #closedBy: string | undefined;

  constructor(nativeSem: NativeSemaphore) {
    this.native = nativeSem;
    const shared = nativeSem.sharedWords();
    this.words = shared ? new Int32Array(shared) : undefined;
  }

  /** The addon's semaphore, or ValueError (ERR_MP_CLOSED) once closed: checked off the shared-words paths only. */
  #open(): NativeSemaphore {
    if (this.#closedBy !== undefined) throw closedError(this.#closedBy);
    return this.native;
  }

  tryWait(): boolean {
    const words = this.words;
    if (!words) return this.#open().tryWait();
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
    if (!words) return this.#open().tryWait();
    return Atomics.load(words, 0) > 0 && this.tryWait();
  }

  wait(timeoutMs: number): boolean {
    if (this.words && this.tryWait()) return true;
    return this.#open().wait(timeoutMs);
  }

  /** Tries to take a unit for up to `ms` milliseconds, on this thread. */
  spin(ms: number): boolean {
    return this.tryWait() || spinFor(ms, () => this.tryWaitPolling());
  }

  post(maxValue?: number): boolean {
    const words = this.words;
    if (!words) return this.#open().post(maxValue);
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
    return this.words ? Atomics.load(this.words, 0) : this.#open().value();
  }

  waitAsync(timeoutMs: number, callback: WaitCallback, then?: NativeSemaphore): WaitId {
    return this.#open().waitAsync(timeoutMs, callback, then instanceof SemaphoreHandle ? then.#open() : then);
  }

  duplicateInto(pid: number): string {
    return this.#open().duplicateInto(pid);
  }

  sharedWords(): ArrayBuffer | undefined {
    return this.words?.buffer as ArrayBuffer | undefined;
  }

  wakeWaiter(): void {
    this.#open().wakeWaiter();
  }

  share(): NativeSemaphore {
    return this.#open().share();
  }

  lend(): string {
    return this.#open().lend();
  }

  unlink(): void {
    this.#open().unlink();
  }

  /** Closes this reference; later calls throw ValueError (ERR_MP_CLOSED) naming `owner`. */
  close(owner = 'Semaphore'): void {
    if (this.#closedBy !== undefined) return;
    this.#closedBy = owner;
    this.words = undefined;
    this.native.close();
  }
}

/** "/mp-" and 8 random characters each, as CPython: unpredictable, and within macOS's 31-character limit. */
function randomNames(count: number): string[] {
  const bytes = randomBytes(6 * count);
  return Array.from({ length: count }, (_, i) => `/mp-${bytes.subarray(6 * i, 6 * i + 6).toString('base64url')}`);
}

/** What a child or another thread receives for a semaphore: its name (POSIX) or handle (Windows), or a ticket. */
type SemaphoreDescriptor = string | (Lent & { name: string });

/**
 * A named (POSIX) or unnamed (Windows) OS semaphore as this process holds it: created (and tracked), opened, or
 * adopted from another thread. The addon closes the OS object with its last reference in the process and removes a
 * name this process created then; until a child that received it exits, its spawning context holds a reference.
 */
export class OsSemaphore {
  readonly sem: SemaphoreHandle;
  readonly name: string;

  private constructor(sem: NativeSemaphore, name: string) {
    this.sem = new SemaphoreHandle(sem);
    this.name = name;
  }

  static create(value: number, maxValue: number): OsSemaphore {
    for (;;) {
      // registered before the name exists, so no death can leak it
      const name = isWindows ? '' : tracker.registeredName(randomNames);
      try {
        return new OsSemaphore(native.Semaphore.create(name, value, maxValue), name);
      } catch (err) {
        if (!isWindows) tracker.unregister(name);
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
  }

  /**
   * Opens what a parent handed over (POSIX: by name; Windows: the handle value duplicated into this process), or
   * adopts what another thread lent (fromThread only).
   */
  static open(descriptor: SemaphoreDescriptor): OsSemaphore {
    if (isLent(descriptor)) {
      requireAdoption();
      return new OsSemaphore(native.Semaphore.adopt(descriptor.lent), descriptor.name);
    }
    return new OsSemaphore(native.Semaphore.open(descriptor), isWindows ? '' : descriptor);
  }

  /** What a child (or another thread) needs to open this semaphore; valid only inside a spawning context. */
  descriptor(): SemaphoreDescriptor {
    const ctx = spawningContext();
    if (ctx.toThread) return { lent: this.sem.lend(), name: this.name };
    if (isWindows) return ctx.duplicateHandle(this.sem.native);
    ctx.retain(this.sem.share()); // the name stays until the child exits: it opens it while it starts
    return this.name;
  }

  /** Removes the name now if this process created it; processes that opened it keep using it. */
  unlink(): void {
    this.sem.unlink();
  }

  close(owner?: string): void {
    this.sem.close(owner);
  }
}

// At exit the names this process created go at once (the tracker covers deaths); a worker thread's end is not the
// process's.
if (isMainThread) process.on('exit', () => native.processExiting());

function currentOwner(): number {
  return threadId;
}

/**
 * The core of every synchronization primitive. `count` and `owner` are per-process bookkeeping, as in CPython:
 * they tell whether this process (thread) holds the lock, for RLock recursion and Condition.wait.
 */
export class SemLock {
  // Private fields: invisible to serializers, which meet the inheritance guard first.
  readonly #os: SemLockBacking;
  readonly #kind: number;
  readonly #maxvalue: number;
  readonly #sem: SemaphoreHandle | RecoveringHandle; // this.#os.sem, read on every call
  #words: Int32Array | undefined; // its shared [value, waiters], when the platform offers them; none once closed
  /** A kill-safe lock's handle and word (none once closed): what the fast paths below inline. */
  readonly #robust: RobustLockHandle | undefined;
  /** A kill-safe lock's or semaphore's handle: whose takes report ownerDied. */
  readonly #recovering: RecoveringHandle | undefined;
  /** A kill-safe semaphore's handle: what the fast paths below call first. */
  readonly #units: RobustSemaphoreHandle | undefined;
  #robustWord: BigUint64Array | undefined;
  #ownerDied = false;
  readonly #postLimit: number | undefined; // the over-release check's bound; none for unbounded semaphores
  #count = 0;
  #owner = -1;
  /** Async acquires of this object still waiting: a new one queues behind them (first come, first served). */
  #queued = 0;
  /** Whether the last async acquire that had to wait was served soon: then the next one spins first. */
  #spinWorth = true;
  #spinSkipped = 0;
  /** Set by close(): the name of the object closed (a Condition closes its semaphores as itself). */
  #closedBy: string | undefined;

  /** @internal robust: a kill-safe lock (true) or semaphore ('units') where the platform offers them. */
  constructor(kind: number, value: number, maxvalue: number, rebuilt?: SemLockBacking, robust: boolean | 'units' = false) {
    this.#kind = kind;
    this.#maxvalue = maxvalue;
    this.#os = rebuilt ?? (!robust || !recoveryAvailable ? OsSemaphore.create(value, maxvalue)
      : robust === 'units' ? createRobustSemaphore(value) : createRobustLock());
    const sem = this.#os.sem;
    this.#sem = sem;
    if (sem instanceof RobustLockHandle) {
      this.#robust = sem;
      this.#recovering = sem;
      this.#robustWord = sem.word;
    } else if (sem instanceof RobustSemaphoreHandle) {
      this.#recovering = sem;
      this.#units = sem;
    } else {
      this.#words = sem.words;
    }
    this.#postLimit = maxvalue === SEM_VALUE_MAX ? undefined : maxvalue;
    defineInheritanceGuard(this);
  }

  /** @internal the OS semaphore behind it (not for a kill-safe lock: see _backing). */
  get _os(): OsSemaphore {
    if (!(this.#os instanceof OsSemaphore)) throw new AssertionError(`${this.constructor.name} has no OS semaphore`);
    return this.#os;
  }

  /** @internal what is behind it: an OS semaphore, or a kill-safe lock's segment. */
  get _backing(): SemLockBacking {
    return this.#os;
  }

  /**
   * Whether a holder that dies frees it for the next taker (who then sees ownerDied): true for a Lock or RLock made
   * with recovery (the default) on a platform that offers it (Linux); false for Python's behaviour.
   */
  get recovery(): boolean {
    return this.#recovering !== undefined;
  }

  /**
   * Whether the last acquire in this process (thread) that took it found that its previous holder had died holding
   * it (SIGKILL, crash, abort): what that holder protected may be half done. It is held all the same, as after
   * pthread's EOWNERDEAD or Windows' WAIT_ABANDONED. Always false without recovery.
   */
  get ownerDied(): boolean {
    return this.#ownerDied;
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

  /**
   * Releases what this object holds in this process now: its reference to the OS semaphore (and, once no object of
   * this process and no child started with it still needs it, the name this process created). Pending async
   * acquires reject with ValueError (ERR_MP_CLOSED), and so does every later call. Idempotent. A held lock is not
   * released: close it as a process would exit.
   */
  close(): void {
    this._close(this.constructor.name);
  }

  /** @internal close(), reporting later calls as calls on `owner` (a Condition closes its semaphores as itself). */
  _close(owner: string): void {
    if (this.#closedBy !== undefined) return;
    this.#closedBy = owner;
    this.#words = undefined;
    this.#robustWord = undefined;
    this.#os.close(owner);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal */
  get _closed(): boolean {
    return this.#closedBy !== undefined;
  }

  #checkOpen(): void {
    if (this.#closedBy !== undefined) throw closedError(this.#closedBy);
  }

  /** @internal ValueError (ERR_MP_CLOSED) once closed. */
  _checkOpen(): void {
    this.#checkOpen();
  }

  #acquired(): true {
    if (this.#recovering && (this.#count === 0 || this.#kind !== RECURSIVE_MUTEX)) this.#ownerDied = this.#recovering.tookOver;
    this.#count++;
    this.#owner = currentOwner();
    return true;
  }

  /** Blocks the calling thread, like Python's acquire(). Returns whether the lock was acquired. */
  acquireSync(options?: AcquireSyncOptions): boolean {
    if (options === undefined) {
      // The common call, inlined down to one compare-and-swap when a unit is free: Python's time is the bar.
      const robust = this.#robustWord;
      if (robust && this.#kind !== RECURSIVE_MUTEX && Atomics.compareExchange(robust, 0, 0n, SELF_TOKEN) === 0n) {
        this.#count++;
        this.#owner = threadId;
        this.#ownerDied = false;
        return true;
      }
      const units = this.#units;
      if (units && units.takeFast()) {
        this.#count++;
        this.#owner = threadId;
        this.#ownerDied = units.tookOver;
        return true;
      }
      const words = this.#words;
      if (words && this.#kind !== RECURSIVE_MUTEX) {
        const value = Atomics.load(words, 0);
        if (value > 0 && Atomics.compareExchange(words, 0, value, value - 1) === value) {
          this.#count++;
          this.#owner = threadId;
          return true;
        }
      }
      this.#checkOpen();
      if (this.#kind === RECURSIVE_MUTEX && this._isMine()) return this.#acquired();
      return this.#sem.wait(-1) ? this.#acquired() : false;
    }
    this.#checkOpen();
    const { blocking: rawBlocking, timeout: rawTimeout } = checkOptions<AcquireSyncOptions>(options, 'acquireSync options');
    const blocking = checkBoolean(rawBlocking, 'blocking', true);
    const timeout = checkTimeout(rawTimeout);
    if (this.#kind === RECURSIVE_MUTEX && this._isMine()) return this.#acquired();
    const sem = this.#sem;
    const ok = !blocking ? sem.tryWait() : sem.wait(timeout === undefined ? -1 : Math.ceil(timeout));
    return ok ? this.#acquired() : false;
  }

  /**
   * Waits without blocking the event loop (through the addon's wait hub, not libuv's pool), after the async
   * acquires of this object that came first. Resolves true when acquired, false when `blocking` is false or
   * `timeout` passed first.
   */
  acquire(options?: AcquireOptions): Promise<boolean> {
    if (options === undefined && this.#kind !== RECURSIVE_MUTEX && this.#queued === 0 &&
        this.#closedBy === undefined && this.#sem.tryWait()) {
      this.#acquired(); // the common case: free, no options to check
      return RESOLVED_TRUE;
    }
    try {
      this.#checkOpen();
      const opts = checkOptions<AcquireOptions>(options, 'acquire options');
      const blocking = checkBoolean(opts.blocking, 'blocking', true);
      const timeout = checkTimeout(opts.timeout);
      const signal = checkSignal(opts.signal);
      if (signal?.aborted) return Promise.reject(abortReason(signal));
      if (this.#kind === RECURSIVE_MUTEX && this._isMine()) return Promise.resolve(this.#acquired());
      const sem = this.#sem;
      if ((this.#queued === 0 || !blocking) && sem.tryWait()) return Promise.resolve(this.#acquired());
      if (!blocking || timeout === 0) return Promise.resolve(false);
      // Spinning on a lock this very thread holds would only hold up the code that releases it. After waits that
      // came back late, one in SPIN_PROBE still spins: releases may come soon again.
      if (this.#queued === 0 && (this.#spinWorth || ++this.#spinSkipped % SPIN_PROBE === 0) &&
          !(this.#maxvalue === 1 && this._isMine()) &&
          sem.spin(timeout === undefined ? ACQUIRE_SPIN_MS : Math.min(timeout, ACQUIRE_SPIN_MS))) {
        this.#spinWorth = true;
        return Promise.resolve(this.#acquired());
      }
      this.#queued++;
      const started = performance.now();
      const waited = sem instanceof SemaphoreHandle ? waitAsync(sem, timeout, signal) : sem.waitAsync(true, timeout, signal);
      return waited.then((ok) => {
        this.#queued--;
        this.#spinWorth = performance.now() - started < SPIN_WORTH_MS;
        return ok ? this.#acquired() : false;
      }, (err) => {
        this.#queued--;
        throw (err as { code?: string }).code === 'ERR_MP_CLOSED' ? closedError(this.#closedBy ?? this.constructor.name) : err;
      });
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
    const robust = this.#robustWord;
    if (robust) { // a kill-safe lock: one compare-and-swap when this process holds it and nobody waits
      if (Atomics.compareExchange(robust, 0, SELF_TOKEN, 0n) !== SELF_TOKEN) {
        this.#checkOpen();
        if (!this.#robust!.post()) throw new ValueError('semaphore or lock released too many times');
      }
      if (this.#count > 0) this.#count--;
      return;
    }
    if (this.#units?.giveFast()) { // a kill-safe semaphore: one compare-and-swap when this process holds a unit
      if (this.#count > 0) this.#count--;
      return;
    }
    const words = this.#words;
    const limit = this.#postLimit;
    if (words && limit !== undefined) { // the common release, inlined as in acquireSync
      const value = Atomics.load(words, 0);
      if (value < limit && Atomics.compareExchange(words, 0, value, value + 1) === value) {
        if (Atomics.load(words, 1) !== 0) (this.#sem as SemaphoreHandle).wakeWaiter();
        if (this.#count > 0) this.#count--;
        return;
      }
    }
    this.#checkOpen();
    if (!(this.#sem as SemaphoreHandle).post(limit)) throw new ValueError('semaphore or lock released too many times');
    if (this.#count > 0) this.#count--;
  }

  /** @internal the current value where the platform can tell; NotImplementedError on macOS (no sem_getvalue). */
  _getValue(): number {
    this.#checkOpen();
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
    this.#checkOpen();
    if (native.features.semGetValue) return this.#sem.value() === 0;
    if (!this.#sem.tryWait()) return true;
    this.#sem.post();
    return false;
  }

  /**
   * @internal Resolves true once it is free, leaving it free (see waitUntilFree); false when `timeout` passes first.
   */
  _waitUntilFree(timeout: number | undefined, signal?: AbortSignal): Promise<boolean> {
    const sem = this.#sem;
    if (sem instanceof RobustSemaphoreHandle) { // a unit taken and given straight back
      return sem.waitAsync(true, timeout, signal).then((ok) => ok && sem.post());
    }
    return sem instanceof RobustLockHandle ? sem.waitAsync(false, timeout, signal) : waitUntilFree(sem, timeout, signal);
  }

  [reduce](): Reduced {
    assertSpawning(this);
    this.#checkOpen(); // a closed object cannot be handed to anyone
    return [REBUILD_SEMLOCK, [this.constructor.name, this._kind, this._maxvalue, this.#os.descriptor()]];
  }
}

const RESOLVED_TRUE = Promise.resolve(true);

/** What a call on a closed object throws. */
export function closedError(owner: string): ValueError {
  return new ValueError(`${owner} is closed`, 'ERR_MP_CLOSED');
}

/**
 * Waits through the wait hub; settles exactly once. `then` is posted by the hub when the wait ends.
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
    const id = sem.waitAsync(timeout === undefined ? -1 : timeout, (err, ok) => {
      stopListening?.();
      if (err) reject(err);
      else resolve(ok);
    }, then);
    if (signal) {
      stopListening = whenAborted(signal, () => {
        if (!native.cancelWait(id)) return; // too late: the result is already on its way
        onAbort?.();
        reject(abortReason(signal));
      });
    }
  });
}

/**
 * Resolves true once `sem` had a free unit, and leaves it free: the wait hub takes the unit and gives it straight
 * back, so the caller tries again itself. For a library object's inner lock, which this thread also takes
 * synchronously: a unit the hub took for us would be held, unknown to JS, while other callbacks of this thread
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
    // `then` is the semaphore itself: the hub gives the unit straight back (and a timed-out or dropped wait posts
    // nothing). Never a native timeout all the same: the timer below ends the wait.
    const id = sem.waitAsync(-1, settle, sem);
    const giveUp = (why: () => Error | null) => () => {
      if (native.cancelWait(id)) settle(why(), false); // else the unit is back already and the result on its way
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

type SemLockFactory = (os: SemLockBacking, maxvalue: number) => SemLock;
const semlockClasses = new Map<string, SemLockFactory>();

/** Classes built on SemLock register how a child rebuilds them around an opened semaphore. */
export function registerSemLockClass(name: string, factory: SemLockFactory): void {
  semlockClasses.set(name, factory);
}

registerRebuilder(REBUILD_SEMLOCK, (className: string, _kind: number, maxvalue: number,
                                     descriptor: SemaphoreDescriptor | KillSafeDescriptor) => {
  const factory = semlockClasses.get(className);
  if (!factory) throw new ValueError(`unknown SemLock class ${className}`);
  const units = className === 'Semaphore' || className === 'BoundedSemaphore';
  return factory(!isKillSafeDescriptor(descriptor) ? OsSemaphore.open(descriptor)
    : units ? openRobustSemaphore(descriptor) : openRobustLock(descriptor), maxvalue);
});
