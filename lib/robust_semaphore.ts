/**
 * Kill-safe semaphores: a Semaphore or BoundedSemaphore with recovery (the default where kill-safe locks exist:
 * Linux). One shared segment holds the free units, the total of free and held units, and a table of holders (pid and
 * start time, as robust_lock.ts names a lock's holder) with how many units each holds.
 *
 * Fast steps. The main thread of a process that has its slot takes or gives back a unit with one compare-and-swap on
 * the free units, then moves its own slot's count; its slot's busy word is set around the two (slots never change
 * hands while their process lives, so nothing else writes a live process's slot outside a slow step). A process
 * killed between the two leaves the free units one off; the next slow step recounts them.
 *
 * Slow steps (worker threads, a first take, no unit free, a release by a process that holds none, recovery, a normal
 * exit) take a small kill-safe lock (robust_lock.ts), stop the fast steps (STOPPED, the sign bit of the free units,
 * makes their compare-and-swap fail), wait for those in flight (a busy slot whose process is dead is cleared), change
 * what they change, and end by recounting the free units as total − held. That recount is also the repair: whatever
 * a dead process did or half did, the free units are again what the counts say. Dead holders' units are given back
 * (their count cleared) when a waiter saw no release for RECHECK_MS, or by a slow step that finds no unit free (a
 * holder this thread found alive less than RECHECK_MS ago is not looked at again: reading /proc costs microseconds).
 * A release by a process that holds nothing moves a unit out of another holder's count, so no unit is ever given
 * back twice and a BoundedSemaphore never grows above its bound.
 *
 * Only a death gives units back. A process that ends normally (exit code 0) keeps what it took, as in Python: a
 * Semaphore is often a signal (one process releases, another acquires and goes on), and a unit given back when the
 * acquirer exits would be a signal nobody sent. At such an exit the main thread clears this process's holder slots
 * (forfeitOnExit) and takes their units out of the total.
 *
 * Layout (Int32 words): 0-1 the inner lock's word, 2 free units, with STOPPED while a slow step runs (the word
 * waiters sleep on), 3 sleepers, 4 units recovered from dead holders and not yet reported to a taker, 5 total units
 * (free + held), 6 slots in use (every claimed slot is below it). From byte 64: SLOTS slots of 16 bytes: the holder
 * (64 bits: pid | start time << 32, as the lock's word), its count, busy.
 */
import { isMainThread } from 'node:worker_threads';
import { ValueError } from './errors';
import { native, WaitId } from './native';
import { holderDead, KillSafeDescriptor, KillSafeSegment, RECHECK_MS, RobustLockHandle, SELF_TOKEN } from './robust_lock';
import { spinFor } from './spin';
import { pendingWait } from './pending_wait';
import { deadlineOf, remaining } from './timeouts';
import { abortReason } from './validate';

const VALUE = 2;
const SLEEPERS = 3;
const DIED = 4;
const TOTAL = 5;
const USED = 6;
/** Set in the free units while a slow step runs: a fast step's compare-and-swap then fails. */
const STOPPED = 1 << 31;
/** The most units a semaphore can have (SEM_VALUE_MAX, as an OS semaphore's). */
const MAX_TOTAL = 0x7fffffff;
const HEADER = 64;
const SLOT_BYTES = 16;
/** Processes alive at once that can use one semaphore (a slot is its process's until it dies or exits). */
export const SLOTS = 1020;
const SEGMENT_BYTES = HEADER + SLOTS * SLOT_BYTES; // 16 KiB (tmpfs gives pages only where slots are written)
/** This process's holder id as the two Int32 words a slot stores it in (little-endian, as every platform here). */
const SELF_LOW = Number(SELF_TOKEN & 0xffffffffn) | 0;
const SELF_HIGH = Number(SELF_TOKEN >> 32n) | 0;
/**
 * Whether plain stores become visible to other cores in program order (x86's total store order): a fast step's last
 * store (busy = 0) must not overtake its count's. Elsewhere that store is an atomic (release) one.
 */
const STORES_IN_ORDER = process.arch === 'x64' || process.arch === 'ia32';

/** How long an acquire tries the inner lock on its own thread before it waits for it (20 µs). */
const INNER_SPIN_MS = 0.02;
/** How long a slow step spins for a fast step in flight before it looks whether that step's process lives. */
const DRAIN_SPIN_MS = 0.05;

function closedError(owner: string): Error {
  return new ValueError(`${owner} is closed`, 'ERR_MP_CLOSED');
}

/** The count word of `slot` (its busy word follows it). */
function countIndex(slot: number): number {
  return (HEADER + slot * SLOT_BYTES) / 4 + 2;
}

/** The holder word of `slot`, as an index into the 64-bit view. */
function idIndex(slot: number): number {
  return (HEADER + slot * SLOT_BYTES) / 8;
}

/** A private word for a slow step to sleep on while a fast step in flight is slow to end (its process preempted). */
const napWord = new Int32Array(new SharedArrayBuffer(4));

/** The units and holders of one mapping, as this thread uses them. */
export class RobustSemaphoreHandle {
  readonly #inner: RobustLockHandle;
  #ints: Int32Array | undefined;
  #ids: BigUint64Array | undefined;
  /** The words again where this thread may take fast steps (the main thread), until closed. */
  #fast: Int32Array | undefined;
  /** This process's slot's count word, once this handle found or claimed it (0: not yet). */
  #slotAt = 0;
  /** Free units the last recount left, for #unlock to wake sleepers for. */
  #toWake = 0;
  /** Whether the last take got a unit that a dead holder had held (its taker is told: ownerDied). */
  tookOver = false;
  readonly #pending = new Set<(err: Error) => void>();
  #closedBy: string | undefined;
  /** Its entry in `holding`, from its first take (a Set add and delete per acquire would cost more than the rest). */
  #held: WeakRef<RobustSemaphoreHandle> | undefined;
  /**
   * Which holder each slot had when this thread last found it alive, and when: a try that finds no unit and a
   * release by a non-holder look at the holders, and reading /proc for every live one on every call cost tens of
   * µs a call. A live holder is looked at again once RECHECK_MS passed (a waiter that saw no release for that long
   * looks at every holder). By slot (a Map: most handles never look, and 1,020 slots' worth of arrays each would
   * weigh 16 KiB).
   */
  readonly #seenAlive = new Map<number, { id: bigint; at: number }>();

  constructor(buffer: ArrayBuffer, initial?: number) {
    this.#inner = new RobustLockHandle(buffer);
    this.#ints = new Int32Array(buffer, 0, SEGMENT_BYTES / 4);
    this.#ids = new BigUint64Array(buffer, 0, SEGMENT_BYTES / 8);
    if (isMainThread) this.#fast = this.#ints;
    if (initial !== undefined) {
      this.#ints[VALUE] = initial;
      this.#ints[TOTAL] = initial;
    }
  }

  #open(): Int32Array {
    if (this.#ints === undefined) throw closedError(this.#closedBy ?? 'Semaphore');
    return this.#ints;
  }

  // --- fast steps (the main thread, once its process has a slot) ------------------------------------------------

  /** Takes a free unit with one compare-and-swap; false (nothing done) when a slow step must do it. */
  takeFast(): boolean {
    const ints = this.#fast;
    if (ints === undefined) return false;
    const at = this.#slotAt;
    const value = ints[VALUE];
    if (value <= 0 || at === 0) return false; // none free, a slow step running, or no slot yet
    ints[at + 1] = 1; // busy: from here until idle, a slow step waits for this one (or for this process's death)
    if (Atomics.compareExchange(ints, VALUE, value, value - 1) !== value) {
      this.#idle(ints, at);
      return false;
    }
    ints[at]++;
    this.tookOver = ints[DIED] !== 0 && this.#reportDeath(ints);
    this.#idle(ints, at);
    return true;
  }

  /** Gives back a unit this process holds with one compare-and-swap; false (nothing done) when a slow step must. */
  giveFast(): boolean {
    const ints = this.#fast;
    if (ints === undefined) return false;
    const at = this.#slotAt;
    const value = ints[VALUE];
    if (value < 0 || at === 0 || ints[at] === 0) return false;
    ints[at + 1] = 1;
    if (Atomics.compareExchange(ints, VALUE, value, value + 1) !== value) {
      this.#idle(ints, at);
      return false;
    }
    const count = ints[at]; // read again: a release by another process may have moved this one's last unit
    if (count === 0) { // that slow step ended before the swap: this give is taken back by a recount, done slowly
      this.#slowStep(() => false); // (the recount; this slot's busy word is cleared as this thread's own)
      return false;
    }
    ints[at] = count - 1;
    this.#idle(ints, at);
    if (Atomics.load(ints, SLEEPERS) !== 0) native.wordNotify(ints, VALUE, 1);
    return true;
  }

  #idle(ints: Int32Array, at: number): void {
    if (STORES_IN_ORDER) ints[at + 1] = 0;
    else Atomics.store(ints, at + 1, 0);
  }

  /** A unit recovered from a dead holder is reported to this taker (true), unless other takers had them all. */
  #reportDeath(ints: Int32Array): boolean {
    for (let died = Atomics.load(ints, DIED); died > 0; died = Atomics.load(ints, DIED)) {
      if (Atomics.compareExchange(ints, DIED, died, died - 1) === died) return true;
    }
    return false;
  }

  // --- slow steps: under the inner lock, fast steps stopped ------------------------------------------------------

  /** Takes the inner lock, blocking this thread (held for a few instructions; longer only after a death inside). */
  #lockSync(): void {
    const inner = this.#inner;
    if (!inner.spin(INNER_SPIN_MS)) inner.wait(-1);
  }

  /** Releases the inner lock, then wakes sleepers for the units the recount freed (not before: see #recount). */
  #unlock(): void {
    this.#inner.post();
    const units = this.#toWake;
    this.#toWake = 0;
    this.#wakeFor(units);
  }

  /** Runs `step` with fast steps stopped, then recounts the free units (a dead slow step's half is mended so too). */
  #stopped<T>(step: () => T): T {
    this.#stop();
    try {
      return step();
    } finally {
      this.#recount();
    }
  }

  /** Runs `step` as a slow step: under the inner lock (taken on this thread, blocking it), fast steps stopped. */
  #slowStep<T>(step: () => T): T {
    this.#lockSync();
    try {
      return this.#stopped(step);
    } finally {
      this.#unlock();
    }
  }

  /** Makes fast steps fail from now on and waits for those in flight (a dead process's is dropped). */
  #stop(): void {
    const ints = this.#ints!;
    for (let value = Atomics.load(ints, VALUE); value >= 0; value = Atomics.load(ints, VALUE)) {
      if (Atomics.compareExchange(ints, VALUE, value, value | STOPPED) === value) break;
    }
    const used = this.#used();
    for (let slot = 0; slot < used; slot++) {
      const busy = countIndex(slot) + 1;
      if (Atomics.load(ints, busy) === 0) continue;
      if (isMainThread && this.#isMine(slot)) Atomics.store(ints, busy, 0); // this thread's own (giveFast's redo)
      else this.#waitIdle(slot);
    }
  }

  /** Waits until the fast step in flight in `slot` ends, or its process is found dead (its step is then dropped). */
  #waitIdle(slot: number): void {
    const ints = this.#ints!;
    const busy = countIndex(slot) + 1;
    if (spinFor(DRAIN_SPIN_MS, () => Atomics.load(ints, busy) === 0)) return;
    while (Atomics.load(ints, busy) !== 0) {
      const id = this.#ids![idIndex(slot)];
      if (id === 0n || holderDead(id)) {
        Atomics.store(ints, busy, 0);
        return;
      }
      Atomics.wait(napWord, 0, 0, 1); // preempted mid-step: it ends within a scheduler tick
    }
  }

  /** The slots in use (bounded: the segment is writable by any process of this user). */
  #used(): number {
    return Math.min(this.#ints![USED] >>> 0, SLOTS);
  }

  /** The free units as the counts say: total − the units held by every slot (negative only mid-step). */
  #free(): number {
    const ints = this.#ints!;
    let free = ints[TOTAL];
    for (let slot = 0, used = this.#used(); slot < used; slot++) free -= ints[countIndex(slot)];
    return free;
  }

  /**
   * Ends a stop: the free units are total − held (never below 0); sleepers are woken for them once the inner lock is
   * released (a wake-up can preempt the waker, and a waker preempted with the inner lock held stalled every other
   * slow step for milliseconds).
   */
  #recount(): void {
    const ints = this.#ints!;
    const free = Math.max(0, this.#free());
    Atomics.store(ints, VALUE, free);
    this.#toWake = free;
  }

  /** Whether `slot` names this process. */
  #isMine(slot: number): boolean {
    const ints = this.#ints!;
    const at = idIndex(slot) * 2; // its id's two 32-bit halves
    return ints[at] === SELF_LOW && ints[at + 1] === SELF_HIGH;
  }

  /** This process's slot, or -1; `claim`: a free slot (or a dead process's) is made this process's. */
  #slotOf(claim: boolean): number {
    const ints = this.#ints!;
    const ids = this.#ids!;
    const used = this.#used();
    let free = -1;
    for (let slot = 0; slot < used; slot++) {
      if (this.#isMine(slot)) return this.#mine(slot);
      if (free < 0 && ids[idIndex(slot)] === 0n) free = slot;
    }
    if (!claim) return -1;
    if (free < 0 && used < SLOTS) {
      free = used;
      ints[USED] = used + 1; // before the slot is written: a death in between leaves an empty slot counted
    }
    for (let slot = 0; free < 0 && slot < used; slot++) { // every slot named: one of a dead process that holds nothing
      if (ints[countIndex(slot)] === 0 && holderDead(ids[idIndex(slot)])) free = slot;
    }
    if (free < 0) {
      throw new ValueError(`more than ${SLOTS} live processes use this Semaphore; make it with { recovery: false }`,
        'ERR_MP_SEMAPHORE_HOLDERS');
    }
    ints[countIndex(free)] = 0;
    ids[idIndex(free)] = SELF_TOKEN;
    return this.#mine(free);
  }

  /** Notes `slot` as this process's, for the fast steps. */
  #mine(slot: number): number {
    this.#slotAt = countIndex(slot);
    return slot;
  }

  /**
   * Clears the counts of every dead holder (the recount gives their units back); returns how many. `everyHolder`:
   * look at each holder, even one found alive less than RECHECK_MS ago.
   */
  #recoverDead(everyHolder: boolean): number {
    const ints = this.#ints!;
    const ids = this.#ids!;
    const now = performance.now();
    let recovered = 0;
    for (let slot = 0, used = this.#used(); slot < used; slot++) {
      // the count first: most slots hold nothing, and reading an id makes a BigInt
      const count = ints[countIndex(slot)];
      if (count === 0 || this.#isMine(slot)) continue;
      const id = ids[idIndex(slot)];
      const seen = this.#seenAlive.get(slot);
      if (!everyHolder && seen?.id === id && now - seen.at < RECHECK_MS) continue;
      if (!holderDead(id)) {
        this.#seenAlive.set(slot, { id, at: now });
        continue;
      }
      ints[countIndex(slot)] = 0; // first: a death before the report below loses the report, never a unit
      ids[idIndex(slot)] = 0n;
      ints[DIED] += count;
      recovered += count;
    }
    return recovered;
  }

  /** One try, fast steps stopped: true when a unit was taken. `recover`: dead holders' units come back first. */
  #takeStopped(recover: boolean): boolean {
    const ints = this.#ints!;
    if (recover) this.#recoverDead(true);
    let free = this.#free();
    if (free <= 0 && !recover && this.#recoverDead(false) > 0) free = this.#free();
    if (free <= 0) return false;
    ints[countIndex(this.#slotOf(true))]++;
    if (this.#held === undefined) this.#held = holdingAdd(this);
    this.tookOver = ints[DIED] > 0;
    if (this.tookOver) ints[DIED]--;
    return true;
  }

  /** Wakes sleepers for `units` new free units (when there may be some). */
  #wakeFor(units: number): void {
    if (units > 0 && Atomics.load(this.#ints!, SLEEPERS) > 0) native.wordNotify(this.#ints!, VALUE, units);
  }

  #tryTake(recover: boolean): boolean {
    this.#open();
    return this.#slowStep(() => this.#takeStopped(recover));
  }

  // --- the SemLock interface --------------------------------------------------------------------------------------

  tryWait(): boolean {
    return this.takeFast() || this.#tryTake(false);
  }

  tryWaitPolling(): boolean {
    return Atomics.load(this.#open(), VALUE) > 0 && this.tryWait();
  }

  spin(ms: number): boolean {
    return this.tryWait() || spinFor(ms, () => this.tryWaitPolling());
  }

  /** Blocks this thread until a unit is taken (true) or `timeoutMs` passed (false); < 0 waits forever. */
  wait(timeoutMs: number): boolean {
    if (this.tryWait()) return true;
    const deadline = timeoutMs < 0 ? undefined : deadlineOf(timeoutMs);
    let recover = false;
    for (;;) {
      if ((!recover && this.takeFast()) || this.#tryTake(recover)) return true;
      const left = remaining(deadline);
      if (left === 0) return false;
      const ints = this.#open();
      Atomics.add(ints, SLEEPERS, 1);
      let result: number;
      try {
        result = native.wordWait(ints, VALUE, 0, left === undefined ? RECHECK_MS : Math.min(left, RECHECK_MS));
      } finally {
        Atomics.sub(ints, SLEEPERS, 1);
      }
      recover = result === 2; // no release for RECHECK_MS: are the holders alive?
    }
  }

  /**
   * Waits without blocking: resolves true once a unit is taken, false when `timeoutMs` (undefined: never) passed;
   * AbortError on `signal`, ERR_MP_CLOSED on close(). (`take` is always true: the SemLock interface of a lock.)
   */
  waitAsync(_take: boolean, timeoutMs: number | undefined, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const deadline = deadlineOf(timeoutMs);
    return new Promise<boolean>((resolve, reject) => {
      let id: WaitId | undefined;
      const wait = pendingWait(this.#pending, signal, resolve, reject, () => {
        if (id !== undefined && native.cancelWait(id)) Atomics.sub(this.#ints!, SLEEPERS, 1);
        id = undefined;
      });
      const settle = wait.settle;
      const step = async (recover: boolean): Promise<void> => {
        try {
          this.#open();
          // Woken by a release: a fast take needs no inner lock, whose holder another process may have been
          // preempted with (a wake then took milliseconds in 1 % of ping-pongs)
          if (!recover && !wait.done && this.takeFast()) return settle(null, true);
          const inner = this.#inner;
          if (!inner.spin(INNER_SPIN_MS) && !(await inner.waitAsync(true, undefined))) return;
          let took: boolean;
          try {
            took = this.#stopped(() => this.#takeStopped(recover));
          } finally {
            this.#unlock();
          }
          if (wait.done) { // ended while it waited for the inner lock: the unit goes back
            if (took) this.post();
            return;
          }
          if (took) return settle(null, true);
          const left = remaining(deadline);
          if (left === 0) return settle(null, false);
          const ints = this.#open();
          Atomics.add(ints, SLEEPERS, 1);
          id = native.wordWaitAsync(ints, VALUE, 0, left === undefined ? RECHECK_MS : Math.min(left, RECHECK_MS),
            (err, woken) => {
              id = undefined;
              if (this.#ints) Atomics.sub(this.#ints, SLEEPERS, 1);
              if (wait.done) {
                if (woken && this.#ints) native.wordNotify(this.#ints, VALUE, 1); // pass the wake on
                return;
              }
              if (err) return settle(err, false);
              void step(!woken);
            });
        } catch (err) {
          settle(err as Error, false);
        }
      };
      void step(false);
    });
  }

  /**
   * Gives a unit back: this process's own when it holds one, else one out of another holder's count (a release by
   * another process, as Python allows), else a new unit. False (nothing done) when that would exceed `maxValue`.
   */
  post(maxValue = MAX_TOTAL): boolean {
    if (this.giveFast()) return true;
    this.#open();
    return this.#slowStep(() => this.#giveStopped(maxValue));
  }

  /** A release, fast steps stopped (see post). */
  #giveStopped(maxValue: number): boolean {
    const ints = this.#ints!;
    const mine = this.#slotOf(false);
    let at = mine >= 0 && ints[countIndex(mine)] > 0 ? countIndex(mine) : 0;
    if (at === 0) { // not a holder: a dead holder's units come back first, then a live holder's unit moves
      this.#recoverDead(false);
      for (let slot = 0, used = this.#used(); slot < used && at === 0; slot++) {
        if (ints[countIndex(slot)] > 0) at = countIndex(slot);
      }
    }
    if (at !== 0) {
      ints[at]--;
      return true;
    }
    if (this.#free() >= maxValue) return false;
    ints[TOTAL]++;
    return true;
  }

  /** The free units. */
  value(): number {
    return Atomics.load(this.#open(), VALUE) & ~STOPPED;
  }

  /** @internal units held by live or dead processes, per holder pid: for tests. */
  holders(): Map<number, number> {
    const ints = this.#open();
    const held = new Map<number, number>();
    for (let slot = 0, used = this.#used(); slot < used; slot++) {
      const id = this.#ids![idIndex(slot)];
      if (id !== 0n && ints[countIndex(slot)] !== 0) held.set(Number(id & 0x3fffffn), ints[countIndex(slot)]);
    }
    return held;
  }

  /**
   * @internal for tests: leaves a fast take half done, as a process killed inside it would ('busy': before its
   * compare-and-swap, 'swapped': after it, its count not yet moved). This process must have its slot already.
   */
  _halfTake(at: 'busy' | 'swapped'): void {
    const ints = this.#open();
    if (this.#slotAt === 0) throw new ValueError('no slot yet: take a unit first', 'ERR_MP_TEST');
    ints[this.#slotAt + 1] = 1;
    if (at === 'swapped') Atomics.sub(ints, VALUE, 1);
  }

  /** At a normal exit: this process's slot is given up, and its units stay taken (see the header). */
  forfeit(): void {
    if (this.#ints === undefined) return;
    this.#slotAt = 0; // no fast step after this (an exit handler that runs later takes slow steps)
    this.#slowStep(() => {
      const ints = this.#ints!;
      const slot = this.#slotOf(false);
      if (slot < 0) return;
      const count = ints[countIndex(slot)];
      ints[countIndex(slot)] = 0; // first: a death before the total drops gives the units back, as a death does
      ints[TOTAL] -= count;
      this.#ids![idIndex(slot)] = 0n;
    });
  }

  close(owner = 'Semaphore'): void {
    if (this.#closedBy !== undefined) return;
    if (this.#held !== undefined) holdingDelete(this.#held);
    this.#closedBy = owner;
    for (const cancel of [...this.#pending]) cancel(closedError(owner));
    this.#ints = undefined;
    this.#ids = undefined;
    this.#fast = undefined;
    this.#inner.close(owner);
  }
}

/**
 * The handles this thread ever took units of and has not closed or lost to the collector: what a normal exit
 * forfeits. Weak, so that a dropped Semaphore is still collected (its units then come back as after a death).
 */
const holding = new Set<WeakRef<RobustSemaphoreHandle>>();
const collected = new FinalizationRegistry<WeakRef<RobustSemaphoreHandle>>((ref) => holding.delete(ref));

function holdingAdd(handle: RobustSemaphoreHandle): WeakRef<RobustSemaphoreHandle> {
  const ref = new WeakRef(handle);
  holding.add(ref);
  collected.register(handle, ref, ref);
  return ref;
}

function holdingDelete(ref: WeakRef<RobustSemaphoreHandle>): void {
  holding.delete(ref);
  collected.unregister(ref);
}

// A worker thread's exit is not its process's: only the main thread's normal exit forfeits (worker threads' own
// handles are not seen there: their units come back when the process ends, as after a death).
if (isMainThread) {
  process.on('exit', (code) => {
    if (code === 0) for (const ref of holding) ref.deref()?.forfeit();
  });
}

export type RobustSemaphoreSegment = KillSafeSegment<RobustSemaphoreHandle>;

export function createRobustSemaphore(value: number): RobustSemaphoreSegment {
  return KillSafeSegment.create(SEGMENT_BYTES, (buffer) => new RobustSemaphoreHandle(buffer, value));
}

export function openRobustSemaphore(descriptor: KillSafeDescriptor): RobustSemaphoreSegment {
  return KillSafeSegment.open(descriptor, (buffer) => new RobustSemaphoreHandle(buffer));
}

export function isRobustSemaphoreSegment(value: unknown): value is RobustSemaphoreSegment {
  return value instanceof KillSafeSegment && value.sem instanceof RobustSemaphoreHandle;
}
