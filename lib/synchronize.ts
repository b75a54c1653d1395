/**
 * Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event and Barrier across processes (CPython's
 * synchronize.py). Every blocking method has an async form that never blocks the event loop and a Sync twin that
 * blocks the calling thread like Python.
 */
import { inspect } from 'node:util';
import { AssertionError, BrokenBarrierError, InvalidArgumentError, ValueError } from './errors';
import { assertSpawning, functionReference, reduce, Reduced, registerRebuilder } from './reduction';
import {
  AcquireOptions, AcquireSyncOptions, defineInheritanceGuard, LockOptions, NO_RECOVERY, OsSemaphore, RECURSIVE_MUTEX,
  registerSemLockClass, SEM_VALUE_MAX, SEMAPHORE, SemLock, SemLockBacking, waitAsync,
} from './semlock';
import { isRobustLockSegment, RECHECK_MS } from './robust_lock';
import { isRobustSemaphoreSegment } from './robust_semaphore';
import { createSleepers, openSleepers, SleepersDescriptor, SleepersSegment } from './condition_sleepers';
import { guardOf, guardSyncOf, Guard } from './guard';
import { NamedLock, OpenOptions } from './named_lock';
import { NamedSemaphore, SemaphoreOpenOptions } from './named_semaphore';
import { NamedEvent } from './named_event';
import { deadlineOf, remaining, waitUntil, waitUntilSync } from './timeouts';
import { abortReason, checkBoolean, checkInteger, checkOptions, checkSignal, checkTimeout } from './validate';
import { native, WaitId } from './native';
import { REBUILD_BARRIER, REBUILD_CONDITION, REBUILD_EVENT } from './rebuilder_ids';

export type { AcquireOptions, AcquireSyncOptions, LockOptions } from './semlock';
export type { Guard } from './guard';
export { SemLock } from './semlock';

export interface WaitOptions {
  /** Milliseconds to wait at most; undefined waits forever. */
  timeout?: number;
  signal?: AbortSignal;
}
export type WaitSyncOptions = Omit<WaitOptions, 'signal'>;

/** Adds guard()/guardSync() and a readable inspect() to SemLock classes. */
abstract class GuardedSemLock extends SemLock {
  /** Acquires (waiting as acquire() does) and returns a guard that releases on dispose; TimeoutError if not acquired. */
  guard(options?: AcquireOptions): Promise<Guard> {
    return guardOf(this, options);
  }

  guardSync(options?: AcquireSyncOptions): Guard {
    return guardSyncOf(this, options);
  }

  [inspect.custom](): string {
    return `<${this.constructor.name}(${this.describeState()})>`;
  }

  protected abstract describeState(): string;
}

/** A rebuilt lock's OS object, or undefined for options (or nothing). */
function rebuiltBacking(arg: unknown): SemLockBacking | undefined {
  return arg instanceof OsSemaphore || isRobustLockSegment(arg) || isRobustSemaphoreSegment(arg) ? arg : undefined;
}

/** Whether a new lock recovers from its holder's death (options.recovery, default true). */
function wantsRecovery(options: unknown): boolean {
  if (options === undefined || rebuiltBacking(options)) return true;
  return checkBoolean(checkOptions<LockOptions>(options, 'Lock options').recovery, 'recovery', true);
}

/**
 * A non-recursive lock: Python's multiprocessing.Lock. Any process may release it. Kill-safe by default where the
 * platform allows (see `recovery`, `ownerDied`): a holder that dies frees it.
 */
export class Lock extends GuardedSemLock {
  constructor(options?: LockOptions) {
    super(SEMAPHORE, 1, 1, rebuiltBacking(options), wantsRecovery(options));
  }

  /**
   * A lock that any process of this user opens by `name` (see docs/kill-safety.md): released by the kernel when its
   * holder dies, which the next holder sees as `ownerDied`.
   */
  static open(name: string, options?: OpenOptions): NamedLock {
    return new NamedLock(name, options, false);
  }

  /** Whether any process (or thread) holds it now: Python's Lock.locked(). Another may change that at once. */
  locked(): boolean {
    return this._isZero();
  }

  protected describeState(): string {
    return this._isMine() ? 'owner=this process' : 'owner=unknown';
  }
}

/**
 * A recursive lock: the owning process (thread) may acquire it again; only the owner may release it. Kill-safe as
 * Lock is.
 */
export class RLock extends GuardedSemLock {
  constructor(options?: LockOptions) {
    super(RECURSIVE_MUTEX, 1, 1, rebuiltBacking(options), wantsRecovery(options));
  }

  /** Lock.open's recursive twin: the object that holds it may acquire it again. */
  static open(name: string, options?: OpenOptions): NamedLock {
    return new NamedLock(name, options, true);
  }

  /** Whether any process (or thread) holds it now: Python's RLock.locked(). Another may change that at once. */
  locked(): boolean {
    return this._isZero();
  }

  protected describeState(): string {
    return this._isMine() ? `owner=this process, count=${this._count()}` : 'owner=unknown';
  }
}

function checkInitialValue(value: unknown): number {
  if (typeof value !== 'number') throw new InvalidArgumentError(`semaphore initial value must be a number, got ${typeof value}`);
  if (!Number.isInteger(value) || value < 0) throw new ValueError('semaphore initial value must be >= 0');
  return checkInteger(value, 'semaphore initial value', 0, SEM_VALUE_MAX);
}

/**
 * A counting semaphore: Python's multiprocessing.Semaphore. Kill-safe by default where the platform allows (see
 * `recovery`, `ownerDied`): the units a process took and had not released come back when it dies.
 */
export class Semaphore extends GuardedSemLock {
  constructor(value = 1, options?: LockOptions, /** @internal */ maxvalue = SEM_VALUE_MAX) {
    const rebuilt = rebuiltBacking(options);
    super(SEMAPHORE, rebuilt ? 0 : checkInitialValue(value), maxvalue, rebuilt, wantsRecovery(options) && 'units');
  }

  /**
   * A semaphore that any process of this user opens by `name` (see docs/kill-safety.md): the units of a holder that
   * dies come back, and their next taker sees `ownerDied`.
   */
  static open(name: string, options?: SemaphoreOpenOptions): NamedSemaphore {
    return new NamedSemaphore(name, options);
  }

  /** The current value; NotImplementedError on macOS (no sem_getvalue), like Python's get_value(). */
  getValue(): number {
    return this._getValue();
  }

  protected describeState(): string {
    return native.features.semGetValue ? `value=${this.getValue()}` : 'value=unknown';
  }
}

/** A semaphore that refuses to be released above its initial value. */
export class BoundedSemaphore extends Semaphore {
  constructor(value = 1, options?: LockOptions, /** @internal */ maxvalue?: number) {
    const rebuilt = rebuiltBacking(options);
    super(rebuilt ? 0 : value, options, rebuilt ? maxvalue : checkInitialValue(value));
  }

  protected override describeState(): string {
    return `${super.describeState()}, maxvalue=${this._maxvalue}`;
  }
}

registerSemLockClass('Lock', (os) => new Lock(os as LockOptions));
registerSemLockClass('RLock', (os) => new RLock(os as LockOptions));
registerSemLockClass('Semaphore', (os) => new Semaphore(0, os as LockOptions));
registerSemLockClass('BoundedSemaphore', (os, maxvalue) => new BoundedSemaphore(0, os as LockOptions, maxvalue));

type AnyLock = Lock | RLock;

/**
 * A critical section written once as a generator and driven synchronously or asynchronously: it runs with the
 * condition's lock held and yields a timeout whenever it must sleep until notified; it is resumed with whether
 * it was notified (false: timed out), holding the lock again. It wakes sleepers with _wakeAllOnRelease(), in its
 * last step only. The async driver takes the lock in the very run that resumes the section and begins its next sleep
 * or its unlock (see #lockAsync, #advance), and holds it across an await only while sleepers it woke acknowledge
 * (see #collectAcks).
 */
export type Section<T> = Generator<number | undefined, T, boolean>;


/** Sleepers woken by an async section, whose acknowledgements it awaits holding the lock (#collectAcks). */
interface PendingAcks {
  left: number;
  /** The wait for the next acknowledgement, and what resumes the section's driver after it. */
  waiter: WaitId | null;
  resume: () => void;
  /** A synchronous call of this thread took over the rest (#finishAcksSync) and let the lock go. */
  takenOver: boolean;
}

/** How long woken sleepers' acknowledgements are waited for by trying, before a hand-over to the wait hub. */
const ACK_SPIN_MS = 0.02;

/**
 * A condition variable over processes, with CPython's algorithm: a sleeper count, a woken count and a wait
 * semaphore. The wait hub posts a sleeper's "woken" itself, so notify() never depends on any event loop.
 */
export class Condition {
  readonly #lock: AnyLock;
  /** It made its lock (no lock given): close() closes it too. */
  readonly #ownsLock: boolean;
  readonly #sleeping: Semaphore;
  readonly #woken: Semaphore;
  readonly #wait: Semaphore;
  /** Its sleepers by identity, so a notify skips the dead (Linux; none for a Manager's kernel condition). */
  readonly #sleepers: SleepersSegment | undefined;
  /** Set by _wakeAllOnRelease(): every sleeper is woken when the lock is next let go. */
  #wakeAllPending = false;
  /** Acknowledgements an async section of this thread awaits, holding the lock. */
  #acks: PendingAcks | null = null;

  constructor(lock?: AnyLock, /** @internal */ parts?: Semaphore[], /** @internal */ sleepers?: SleepersSegment) {
    if (lock !== undefined && !(lock instanceof Lock) && !(lock instanceof RLock)) {
      throw new InvalidArgumentError('Condition lock must be a Lock or an RLock');
    }
    this.#ownsLock = lock === undefined;
    this.#lock = lock ?? new RLock();
    [this.#sleeping, this.#woken, this.#wait] = Array.isArray(parts) ? parts : [new Semaphore(0, NO_RECOVERY), new Semaphore(0, NO_RECOVERY), new Semaphore(0, NO_RECOVERY)];
    this.#sleepers = Array.isArray(parts) ? sleepers : createSleepers();
    defineInheritanceGuard(this);
  }

  /** @internal */
  get _lock(): AnyLock {
    return this.#lock;
  }

  acquire(options?: AcquireOptions): Promise<boolean> {
    return this.#lock.acquire(options);
  }

  acquireSync(options?: AcquireSyncOptions): boolean {
    this.#finishAcksSync();
    return this.#lock.acquireSync(options);
  }

  release(): void {
    if (this.#wakeAllPending && this.#lock._count() <= 1) { // the lock is let go now, not an RLock's inner hold
      this.#wakeAllPending = false;
      this.notifyAll();
    }
    this.#lock.release();
  }

  guard(options?: AcquireOptions): Promise<Guard> {
    return guardOf(this, options);
  }

  guardSync(options?: AcquireSyncOptions): Guard {
    return guardSyncOf(this, options);
  }

  /** Releases the lock, waits for a notify (or the timeout), re-acquires the lock. Resolves false on timeout. */
  async wait(options?: WaitOptions): Promise<boolean> {
    const opts = checkOptions<WaitOptions>(options, 'wait options');
    const timeout = checkTimeout(opts.timeout);
    const signal = checkSignal(opts.signal);
    const count = this.#ownedCount();
    try {
      return await this.#sleep(timeout, signal);
    } finally {
      for (let i = 0; i < count; i++) await this.#lockAsync(undefined, undefined, () => true);
    }
  }

  waitSync(options?: WaitSyncOptions): boolean {
    const timeout = checkTimeout(checkOptions<WaitSyncOptions>(options, 'waitSync options').timeout);
    const count = this.#ownedCount();
    try {
      return this.#sleepSync(timeout);
    } finally {
      for (let i = 0; i < count; i++) this._lock.acquireSync();
    }
  }

  #ownedCount(): number {
    this.#sleeping._checkOpen(); // a closed Condition says so first
    if (!this._lock._isMine()) throw new AssertionError('must acquire() condition before using wait()');
    return this._lock._count();
  }

  /** Counts itself asleep (in a slot of the sleepers' table first) and lets the lock go: returns its slot. */
  #releaseToSleep(): number {
    const slot = this.#sleepers?.sem.enter() ?? -1;
    this.#sleeping.release();
    for (let i = this.#ownedCount(); i > 0; i--) this._lock.release();
    return slot;
  }

  /** Releases the lock and waits; returns without the lock. */
  #sleep(timeout: number | undefined, signal: AbortSignal | undefined): Promise<boolean> {
    const slot = this.#releaseToSleep();
    const slept = waitAsync(this.#wait._os.sem, timeout, signal, this.#woken._os.sem, () => this.#woken.release());
    return slot < 0 ? slept : slept.finally(() => this.#sleepers?.sem.leave(slot)); // acknowledged by then
  }

  #sleepSync(timeout: number | undefined): boolean {
    const slot = this.#releaseToSleep();
    try {
      return this.#wait._os.sem.wait(timeout === undefined ? -1 : Math.ceil(timeout));
    } finally {
      this.#woken.release();
      this.#sleepers?.sem.leave(slot);
    }
  }

  /**
   * Waits, blocking this thread, for `count` acknowledgements of woken sleepers; one that died acknowledges through
   * #reapDeadSleepers (where the sleepers are known), so this never waits for ever for a dead process.
   */
  #awaitAcksSync(count: number): void {
    const woken = this.#woken._os.sem;
    const sleepers = this.#sleepers;
    for (let left = count; left > 0;) {
      if (woken.wait(sleepers ? RECHECK_MS : -1)) left--;
      else this.#reapDeadSleepers();
    }
  }

  /** Acknowledges for each sleeper found dead (it would have, timed out): they come back as acknowledgements. */
  #reapDeadSleepers(): void {
    for (let dead = this.#sleepers?.sem.reapDead() ?? 0; dead > 0; dead--) this.#woken.release();
  }

  /**
   * @internal Runs a section (see Section) on this condition's lock without blocking the event loop. Taking the lock
   * first honours `deadline` (then the result is `onTimeout()`) and `signal`; a section that began runs to its end.
   */
  async _runSection<T>(section: Section<T>, signal: AbortSignal | undefined, deadline: number | undefined,
                       onTimeout: () => T): Promise<T> {
    let resume = (): IteratorResult<number | undefined, T> => section.next();
    let lockDeadline = deadline;
    let lockSignal = signal;
    for (;;) {
      const next = await this.#lockAsync(lockDeadline, lockSignal, () => this.#advance(section, resume, signal));
      if (next === undefined) return onTimeout();
      if ('ended' in next) return next.ended;
      lockDeadline = undefined; // a section that began runs to its end
      lockSignal = undefined;
      try {
        const notified = await next.slept;
        resume = () => section.next(notified);
      } catch (error) {
        resume = () => section.throw(error);
      }
    }
  }

  /**
   * Holding the lock, in the run that took it: resumes the section with `resume`, then begins its next sleep (which
   * lets the lock go) or, once it ended, the unlock. A sleep that cannot begin is thrown into the section at once.
   */
  #advance<T>(section: Section<T>, resume: () => IteratorResult<number | undefined, T>,
              signal: AbortSignal | undefined): { slept: Promise<boolean> } | { ended: Promise<T> } {
    for (;;) {
      let step: IteratorResult<number | undefined, T>;
      try {
        step = resume();
      } catch (error) {
        return { ended: this.#unlockAsync().then(() => Promise.reject(error)) };
      }
      if (step.done) {
        const { value } = step;
        return { ended: this.#unlockAsync().then(() => value) };
      }
      try {
        return { slept: this.#sleep(step.value, signal) };
      } catch (error) {
        resume = () => section.throw(error);
      }
    }
  }

  /** @internal The same, blocking this thread. */
  _runSectionSync<T>(section: Section<T>): T {
    this.acquireSync();
    try {
      let step = section.next();
      while (!step.done) {
        const notified = this.#sleepSync(step.value);
        this._lock.acquireSync();
        step = section.next(notified);
      }
      return step.value;
    } finally {
      this.release();
    }
  }

  /** @internal Wakes every sleeper when the lock is let go: for code that both drivers run. */
  _wakeAllOnRelease(): void {
    this.#wakeAllPending = true;
  }

  /**
   * Takes the lock without blocking the event loop, and without the wait hub holding it for us while other
   * callbacks of this thread run (see waitUntilFree), then runs `then` in the same synchronous run: the lock is
   * never held across an await for its taker, where a synchronous call of this thread would wait forever for it and
   * a worker terminated in between would keep it. Undefined when `deadline` passes first.
   */
  async #lockAsync<R>(deadline: number | undefined, signal: AbortSignal | undefined, then: () => R): Promise<R | undefined> {
    const lock = this.#lock;
    for (;;) {
      if (signal?.aborted) throw abortReason(signal);
      if (lock.acquireSync({ blocking: false })) return then();
      const timeout = remaining(deadline);
      if (timeout === 0) return undefined;
      await lock._waitUntilFree(timeout, signal);
    }
  }

  /**
   * Lets the lock go after an async section, waking the sleepers it asked to wake: at once when they acknowledge
   * within the spin (an await would hold the lock until a later continuation), else once they all did.
   */
  #unlockAsync(): Promise<void> {
    if (this.#wakeAllPending) {
      this.#wakeAllPending = false;
      const woken = this.#postWakeups(Number.MAX_SAFE_INTEGER);
      const left = woken > 0 ? this.#spinForAcks(woken) : 0;
      if (left > 0) {
        return this.#collectAcks(left).then((held) => {
          if (held) this.#lock.release(); // else taken over: the lock is let go already
        });
      }
      if (woken > 0) this.#rezeroWait();
    }
    this.#lock.release();
    return Promise.resolve();
  }

  /** Takes what it can of `count` acknowledgements by trying for ACK_SPIN_MS; returns how many are still due. */
  #spinForAcks(count: number): number {
    const woken = this.#woken._os.sem;
    let left = count;
    const until = deadlineOf(ACK_SPIN_MS);
    while (left > 0) {
      if (woken.tryWaitPolling()) left--;
      else if (remaining(until) === 0) break;
    }
    return left;
  }

  /**
   * The second half of notify() for an async section: waits, holding the lock, until `count` more woken sleepers
   * acknowledge. Their wait hubs do so within microseconds, unless their process is stopped (or
   * died: then this waits forever, as CPython's notify does, but without blocking the event loop). A synchronous call
   * of this thread that needs the lock meanwhile finishes this wait itself (#finishAcksSync): it cannot wait for this
   * continuation, which cannot run while it blocks. Returns false when that happened.
   */
  async #collectAcks(count: number): Promise<boolean> {
    const woken = this.#woken._os.sem;
    const pending: PendingAcks = { left: count, waiter: null, resume: () => undefined, takenOver: false };
    this.#acks = pending;
    try {
      while (pending.left > 0) {
        const acknowledged = await new Promise<boolean>((resolve, reject) => {
          pending.resume = () => resolve(true);
          pending.waiter = woken.waitAsync(this.#sleepers ? RECHECK_MS : -1, (err, ok) => (err ? reject(err) : resolve(ok)));
        });
        if (pending.takenOver) return false;
        if (acknowledged) pending.left--;
        else this.#reapDeadSleepers(); // none for RECHECK_MS: a sleeper may have died
      }
    } catch (err) {
      if (pending.takenOver) return false;
      throw err;
    } finally {
      if (this.#acks === pending) this.#acks = null;
    }
    this.#rezeroWait();
    return true;
  }

  /** An async section of this thread awaits acknowledgements holding the lock: waits for them here and lets it go. */
  #finishAcksSync(): void {
    const pending = this.#acks;
    if (!pending) return;
    this.#acks = null;
    pending.takenOver = true;
    let left = pending.left;
    if (pending.waiter !== null && !native.cancelWait(pending.waiter)) left--; // that acknowledgement is taken, its callback on its way
    this.#awaitAcksSync(left);
    this.#rezeroWait();
    this.#lock.release();
    pending.resume();
  }

  /** Waits until `predicate()` is truthy (checked under the lock), or the timeout passes; returns its last value. */
  async waitFor<T>(predicate: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    const opts = checkOptions<WaitOptions>(options, 'waitFor options');
    const timeout = checkTimeout(opts.timeout);
    checkSignal(opts.signal);
    return waitUntil(predicate, timeout, (left) => this.wait({ timeout: left, signal: opts.signal }));
  }

  waitForSync<T>(predicate: () => T, options?: WaitSyncOptions): T {
    const timeout = checkTimeout(checkOptions<WaitSyncOptions>(options, 'waitForSync options').timeout);
    return waitUntilSync(predicate, timeout, (left) => this.waitSync({ timeout: left }));
  }

  /** Wakes up to `n` waiters (in any process) and returns once they are awake. */
  notify(n = 1): void {
    checkInteger(n, 'n', 0);
    this.#sleeping._checkOpen();
    if (!this._lock._isMine()) throw new AssertionError('lock is not owned');
    const sleepers = this.#postWakeups(n);
    if (sleepers === 0) return;
    this.#awaitAcksSync(sleepers);
    this.#rezeroWait();
  }

  /** The first half of notify: wakes up to `n` counted sleepers; returns how many must acknowledge. */
  #postWakeups(n: number): number {
    const wait = this.#wait._os.sem;
    const sleeping = this.#sleeping._os.sem;
    const woken = this.#woken._os.sem;
    if (wait.tryWait()) throw new AssertionError('notify: wait semaphore was not zero');
    // Sleepers that timed out since the last notify: take them off the sleeping count.
    // (An acknowledgement without a count: a sleeper that died between two of its steps and was acknowledged for.)
    while (woken.tryWait()) sleeping.tryWait();
    let sleepers = 0;
    while (sleepers < n && sleeping.tryWait()) {
      wait.post();
      sleepers++;
    }
    return sleepers;
  }

  /** After the acknowledgements: takes back wake-ups meant for sleepers that timed out after they were counted. */
  #rezeroWait(): void {
    const wait = this.#wait._os.sem;
    while (wait.tryWait()) {
      // re-zero
    }
  }

  notifyAll(): void {
    this.notify(Number.MAX_SAFE_INTEGER);
  }

  /**
   * Releases what it holds in this process (see Lock.close()): its semaphores, and its lock if it made it (a lock
   * given to the constructor stays open). Later waits and notifies throw ValueError (ERR_MP_CLOSED).
   */
  close(): void {
    this._close('Condition');
  }

  /** @internal */
  _close(owner: string): void {
    for (const sem of [this.#sleeping, this.#woken, this.#wait]) sem._close(owner);
    this.#sleepers?.close(owner);
    if (this.#ownsLock) this.#lock._close(owner);
  }

  /** @internal its semaphores, its lock first */
  _semaphores(): SemLock[] {
    return [this.#lock, this.#sleeping, this.#woken, this.#wait];
  }

  [Symbol.dispose](): void {
    this.close();
  }

  [reduce](): Reduced {
    assertSpawning(this);
    const sleepers: SleepersDescriptor = this.#sleepers?.descriptor() ?? null;
    return [REBUILD_CONDITION, [this._lock, this.#sleeping, this.#woken, this.#wait, sleepers]];
  }

  /** @internal for tests: sleepers with a slot in the table (0 where there is none). */
  _sleepersKnown(): number {
    return this.#sleepers?.sem.taken() ?? 0;
  }

  [inspect.custom](): string {
    return `<Condition(${inspect(this._lock)})>`;
  }
}

registerRebuilder(REBUILD_CONDITION, (lock: AnyLock, sleeping: Semaphore, woken: Semaphore, wait: Semaphore,
                                        sleepers?: SleepersDescriptor) =>
  new Condition(lock, [sleeping, woken, wait], openSleepers(sleepers)));

/** Closes the parts of an Event or a Barrier, which made them all. */
function closeAll(parts: (Condition | SemLock)[], owner: string): void {
  for (const part of parts) part._close(owner);
}

/** A flag processes can wait for: Python's multiprocessing.Event. */
export class Event {
  readonly #cond: Condition;
  readonly #flag: Semaphore;

  constructor(/** @internal */ parts?: [Condition, Semaphore]) {
    [this.#cond, this.#flag] = Array.isArray(parts) ? parts : [new Condition(new Lock()), new Semaphore(0, NO_RECOVERY)];
    defineInheritanceGuard(this);
  }

  /**
   * An event that any process of this user opens by `name` (see docs/kill-safety.md): the same calls, and nothing a
   * killed process could leave held.
   */
  static open(name: string, options?: OpenOptions): NamedEvent {
    return new NamedEvent(name, options);
  }

  /** @internal */
  get _cond(): Condition {
    return this.#cond;
  }

  isSet(): boolean {
    using _held = this.#cond.guardSync();
    return this.#peek();
  }

  set(): void {
    using _held = this.#cond.guardSync();
    this.#flag._os.sem.tryWait();
    this.#flag.release();
    this.#cond.notifyAll();
  }

  clear(): void {
    using _held = this.#cond.guardSync();
    this.#flag._os.sem.tryWait();
  }

  /** Resolves true once the flag is set, false if the timeout passes first. */
  wait(options?: WaitOptions): Promise<boolean> {
    try {
      const opts = checkOptions<WaitOptions>(options, 'wait options');
      const deadline = deadlineOf(checkTimeout(opts.timeout));
      return this.#cond._runSection(this.#waitSection(deadline), checkSignal(opts.signal), deadline, () => false);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  waitSync(options?: WaitSyncOptions): boolean {
    const timeout = checkTimeout(checkOptions<WaitSyncOptions>(options, 'waitSync options').timeout);
    return this.#cond._runSectionSync(this.#waitSection(deadlineOf(timeout)));
  }

  *#waitSection(deadline: number | undefined): Section<boolean> {
    if (this.#peek()) return true;
    yield remaining(deadline);
    return this.#peek();
  }

  #peek(): boolean {
    if (!this.#flag._os.sem.tryWait()) return false;
    this.#flag.release();
    return true;
  }

  /** Releases what it holds in this process (see Lock.close()); later calls throw ValueError (ERR_MP_CLOSED). */
  close(): void {
    closeAll([this.#cond, this.#flag], 'Event');
  }

  [Symbol.dispose](): void {
    this.close();
  }

  [reduce](): Reduced {
    assertSpawning(this);
    return [REBUILD_EVENT, [this.#cond, this.#flag]];
  }

  [inspect.custom](): string {
    return `<Event(${this.isSet() ? 'set' : 'unset'})>`;
  }
}

registerRebuilder(REBUILD_EVENT, (cond: Condition, flag: Semaphore) => new Event([cond, flag]));

/** A small integer kept in a semaphore's value; read and written only under the owner's lock. */
class SemCounter {
  constructor(readonly sem: Semaphore) {}

  get(): number {
    const os = this.sem._os.sem;
    if (native.features.semGetValue) return os.value();
    let n = 0; // macOS: count by draining, then give the units back
    while (os.tryWait()) n++;
    for (let i = 0; i < n; i++) os.post();
    return n;
  }

  set(value: number): void {
    const os = this.sem._os.sem;
    let current = this.get();
    for (; current > value; current--) os.tryWait();
    for (; current < value; current++) os.post();
  }
}

// Barrier states, as in threading.Barrier (stored + 2, since a semaphore cannot go negative)
const FILLING = 0;
const DRAINING = 1;
const RESETTING = -1;
const BROKEN = -2;

type BarrierAction = () => void;

/** A barrier for a fixed number of processes: Python's multiprocessing.Barrier. */
export class Barrier {
  readonly parties: number;
  readonly #action: BarrierAction | undefined;
  readonly #timeout: number | undefined;
  readonly #cond: Condition;
  readonly #state: SemCounter;
  readonly #count: SemCounter;
  /** The parties inside wait() by identity, so that a dead one breaks the barrier (Linux; none elsewhere). */
  readonly #inside: SleepersSegment | undefined;
  /** When this object last looked in #inside for dead parties (performance.now()). */
  #reapedAt = -Infinity;

  /**
   * @param action runs in the process that arrives last, before the others are released; it must be exported by
   *   a module so that every process can reach it.
   * @param timeout default timeout (ms) of wait().
   */
  constructor(parties: number, action?: BarrierAction, timeout?: number,
              /** @internal */ parts?: [Condition, Semaphore, Semaphore], /** @internal */ inside?: SleepersSegment) {
    this.parties = checkInteger(parties, 'parties', 1, SEM_VALUE_MAX);
    if (action !== undefined && action !== null && typeof action !== 'function') {
      throw new InvalidArgumentError('Barrier action must be a function');
    }
    this.#action = action ?? undefined;
    this.#timeout = checkTimeout(timeout);
    const [cond, state, count] = parts ?? [new Condition(new Lock()), new Semaphore(FILLING + 2, NO_RECOVERY), new Semaphore(0, NO_RECOVERY)];
    this.#cond = cond;
    this.#state = new SemCounter(state);
    this.#count = new SemCounter(count);
    this.#inside = parts ? inside : createSleepers();
    defineInheritanceGuard(this);
  }

  get #stateValue(): number {
    return this.#state.get() - 2;
  }

  set #stateValue(value: number) {
    this.#state.set(value + 2);
  }

  /** Resolves with this caller's arrival index (0 .. parties-1) once all parties arrived. */
  wait(options?: WaitOptions): Promise<number> {
    try {
      const opts = checkOptions<WaitOptions>(options, 'wait options');
      const deadline = deadlineOf(checkTimeout(opts.timeout) ?? this.#timeout);
      return this.#cond._runSection(this.#waitSection(deadline), checkSignal(opts.signal), deadline, () => {
        // It never arrived (the barrier's lock stayed taken by another process): the barrier is left as it is.
        throw new BrokenBarrierError('the barrier timed out before this party could reach it');
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  waitSync(options?: WaitSyncOptions): number {
    const timeout = checkTimeout(checkOptions<WaitSyncOptions>(options, 'waitSync options').timeout) ?? this.#timeout;
    return this.#cond._runSectionSync(this.#waitSection(deadlineOf(timeout)));
  }

  /** threading.Barrier.wait, under the condition's lock. */
  *#waitSection(deadline: number | undefined): Section<number> {
    while (this.#stateValue === DRAINING || this.#stateValue === RESETTING) {
      this.#reapDeadParties(yield this.#recheck(undefined));
    }
    if (this.#stateValue < 0) throw new BrokenBarrierError();
    const index = this.#partiesInside();
    const slot = this.#enter();
    try {
      if (index + 1 === this.parties) {
        this.#releaseAll();
      } else {
        try {
          while (this.#stateValue === FILLING) {
            const left = remaining(deadline);
            if (left === 0) break;
            this.#reapDeadParties(yield this.#recheck(left));
          }
        } catch (err) {
          this.#break(); // a party that gives up (aborted) breaks the barrier for the others, as a timeout does
          throw err;
        }
        if (this.#stateValue === FILLING) {
          this.#break();
          throw new BrokenBarrierError('the barrier timed out and is now broken');
        }
        if (this.#stateValue < 0) throw new BrokenBarrierError();
      }
      return index;
    } finally {
      this.#leave(slot);
    }
  }

  /** How long to sleep: `left`, cut to RECHECK_MS where dead parties can be seen (a death wakes no one). */
  #recheck(left: number | undefined): number | undefined {
    return this.#inside ? Math.min(left ?? RECHECK_MS, RECHECK_MS) : left;
  }

  /**
   * After a sleep (`notified`: something woke it), counts dead parties out, under the lock: one that died while the
   * barrier filled breaks it (it will never arrive), one that died after it tripped was released and only stops
   * being waited for by the next generation. A death wakes no one, so the parties are looked at after a sleep that
   * nothing ended, and otherwise at most every RECHECK_MS: reading each party's /proc entry after every wake-up made
   * a round of a Barrier(3) of processes several times slower.
   */
  #reapDeadParties(notified: boolean): void {
    const now = performance.now();
    if (notified && now - this.#reapedAt < RECHECK_MS) return;
    this.#reapedAt = now;
    const dead = this.#inside?.sem.reapDead() ?? 0; // their slots are free: they are out
    if (dead > 0 && this.#stateValue === FILLING) this.#break();
    this.#letFillIfEmpty(); // the last one out may have died right after leaving, before letting it fill
  }

  #releaseAll(): void {
    try {
      this.#action?.();
      this.#stateValue = DRAINING;
      this.#cond._wakeAllOnRelease();
    } catch (err) {
      this.#break();
      throw err;
    }
  }

  /**
   * The parties inside wait(): those holding a slot of #inside, and those counted in #count (every party where
   * there is no table, a party that found the table full). A party comes in and goes out in one atomic step (a
   * slot taken or freed, a semaphore unit), so a SIGKILL anywhere leaves the count right: a dead party's slot is
   * freed by the reaper. Counting a party and taking its slot in two steps wedged the barrier when a party died
   * between them (test: kill_safe_barrier "killed between leaving its slot and counting itself out").
   */
  #partiesInside(): number {
    return (this.#inside?.sem.taken() ?? 0) + this.#count.get();
  }

  /** This party is inside: its slot, or -1 when it is counted in #count instead. */
  #enter(): number {
    const slot = this.#inside?.sem.enter() ?? -1;
    if (slot < 0) this.#count.set(this.#count.get() + 1);
    return slot;
  }

  #leave(slot: number): void {
    if (slot >= 0) this.#inside!.sem.leave(slot);
    else this.#count.set(this.#count.get() - 1);
    this.#letFillIfEmpty();
  }

  /** The last one out lets a drained or reset barrier fill again. */
  #letFillIfEmpty(): void {
    if ((this.#stateValue === RESETTING || this.#stateValue === DRAINING) && this.#partiesInside() === 0) {
      this.#stateValue = FILLING;
      this.#cond._wakeAllOnRelease();
    }
  }

  #break(): void {
    this.#stateValue = BROKEN;
    this.#cond._wakeAllOnRelease();
  }

  /** Returns the barrier to its empty state; processes waiting in it get BrokenBarrierError. */
  reset(): void {
    using _held = this.#cond.guardSync();
    if (this.#partiesInside() > 0) {
      if (this.#stateValue === FILLING || this.#stateValue === BROKEN) this.#stateValue = RESETTING;
    } else {
      this.#stateValue = FILLING;
    }
    this.#cond._wakeAllOnRelease();
  }

  /** Breaks the barrier: current and future waiters get BrokenBarrierError until reset(). */
  abort(): void {
    using _held = this.#cond.guardSync();
    this.#break();
  }

  get nWaiting(): number {
    using _held = this.#cond.guardSync();
    return this.#stateValue === FILLING ? this.#partiesInside() : 0;
  }

  get broken(): boolean {
    using _held = this.#cond.guardSync();
    return this.#stateValue === BROKEN;
  }

  /** Releases what it holds in this process (see Lock.close()); later calls throw ValueError (ERR_MP_CLOSED). */
  close(): void {
    closeAll([this.#cond, this.#state.sem, this.#count.sem], 'Barrier');
    this.#inside?.close('Barrier');
  }

  [Symbol.dispose](): void {
    this.close();
  }

  [reduce](): Reduced {
    assertSpawning(this);
    return [REBUILD_BARRIER, [this.parties, this.#action ? functionReference(this.#action, 'Barrier action') : null,
      this.#timeout ?? null, this.#cond, this.#state.sem, this.#count.sem, this.#inside?.descriptor() ?? null]];
  }

  [inspect.custom](): string {
    return `<Barrier(parties=${this.parties}, waiting=${this.nWaiting}${this.broken ? ', broken' : ''})>`;
  }
}

registerRebuilder(REBUILD_BARRIER, (parties: number, action: BarrierAction | null, timeout: number | null,
                                    cond: Condition, state: Semaphore, count: Semaphore, inside?: SleepersDescriptor) =>
  new Barrier(parties, action ?? undefined, timeout ?? undefined, [cond, state, count], openSleepers(inside)));
