/**
 * Kill-safe semaphores: a Semaphore or BoundedSemaphore with recovery (the default where kill-safe locks exist:
 * Linux). One shared segment holds the free units, a table of holders (pid and start time, as robust_lock.ts names
 * a lock's holder, with how many units each holds) and an undo record; a small kill-safe lock (robust_lock.ts) makes
 * each acquire or release one step over them. A process killed inside that step is rolled back by the next one to
 * take the inner lock (it finds the undo record); a process killed holding units gives them back when a waiter that
 * saw no release for RECHECK_MS looks at the holders, or at the next acquire that finds no unit free (a holder this
 * thread found alive less than RECHECK_MS ago is not looked at again: reading /proc costs microseconds). A release by a
 * process that holds nothing moves a unit out of another holder's count, so no unit is ever given back twice and a
 * BoundedSemaphore never grows above its bound.
 *
 * Only a death gives units back. A process that ends normally (exit code 0) keeps what it took, as in Python: a
 * Semaphore is often a signal (one process releases, another acquires and goes on), and a unit given back when the
 * acquirer exits would be a signal nobody sent. At such an exit the main thread clears this process's holder slots
 * (forfeitOnExit).
 *
 * Layout (Int32 words): 0-1 the inner lock's word, 2 free units (the word waiters sleep on), 3 sleepers, 4 units
 * recovered from dead holders and not yet reported to a taker, 5 undo: slot + 1 (0: none), 6 undo: free units
 * before, 7 undo: that slot's count before. From byte 64: SLOTS slots of 16 bytes: the holder (64 bits: pid | start
 * time << 32, as the lock's word), its count (Int32), unused.
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
const UNDO_SLOT = 5;
const UNDO_VALUE = 6;
const UNDO_COUNT = 7;
const HEADER = 64;
const SLOT_BYTES = 16;
/** Processes that can hold units of one semaphore at the same time (a slot is freed when its count drops to 0). */
export const SLOTS = 252;
const SEGMENT_BYTES = HEADER + SLOTS * SLOT_BYTES; // 4096
/** This process's holder id as the two Int32 words a slot stores it in (little-endian, as every platform here). */
const SELF_LOW = Number(SELF_TOKEN & 0xffffffffn) | 0;
const SELF_HIGH = Number(SELF_TOKEN >> 32n) | 0;

/** How long an acquire tries the inner lock on its own thread before it waits for it (20 µs). */
const INNER_SPIN_MS = 0.02;

function closedError(owner: string): Error {
  return new ValueError(`${owner} is closed`, 'ERR_MP_CLOSED');
}

/** The units and holders of one mapping, as this thread uses them. */
export class RobustSemaphoreHandle {
  readonly #inner: RobustLockHandle;
  #ints: Int32Array | undefined;
  #ids: BigUint64Array | undefined;
  /** Whether the last take got a unit that a dead holder had held (its taker is told: ownerDied). */
  tookOver = false;
  readonly #pending = new Set<(err: Error) => void>();
  #closedBy: string | undefined;
  /** Its entry in `holding`, from its first take (a Set add and delete per acquire would cost more than the rest). */
  #held: WeakRef<RobustSemaphoreHandle> | undefined;
  /** The slot this process had last (checked before use: another process may have taken it over since). */
  #mySlot = 0;
  /**
   * Which holder each slot had when this thread last found it alive, and when: a try that finds no unit and a
   * release by a non-holder look at the holders, and reading /proc for every live one on every call cost tens of
   * µs a call. A live holder is looked at again once RECHECK_MS passed (a waiter that saw no release for that long
   * looks at every holder).
   */
  readonly #aliveId = new BigUint64Array(SLOTS);
  readonly #aliveAt = new Float64Array(SLOTS);

  constructor(buffer: ArrayBuffer, initial?: number) {
    this.#inner = new RobustLockHandle(buffer);
    this.#ints = new Int32Array(buffer, 0, SEGMENT_BYTES / 4);
    this.#ids = new BigUint64Array(buffer, 0, SEGMENT_BYTES / 8);
    if (initial !== undefined) this.#ints[VALUE] = initial;
  }

  #open(): Int32Array {
    if (this.#ints === undefined) throw closedError(this.#closedBy ?? 'Semaphore');
    return this.#ints;
  }

  // --- under the inner lock -------------------------------------------------------------------------------------

  /** Takes the inner lock, blocking this thread (held for a few instructions; longer only after a death inside). */
  #lockSync(): void {
    const inner = this.#inner;
    if (!inner.spin(INNER_SPIN_MS)) inner.wait(-1);
    if (inner.tookOver) this.#repair();
  }

  #unlock(): void {
    this.#inner.post();
  }

  /** After a process died holding the inner lock: undoes its half-done step. */
  #repair(): void {
    const ints = this.#ints!;
    const slot = ints[UNDO_SLOT] - 1;
    if (slot < 0) return;
    ints[VALUE] = ints[UNDO_VALUE];
    ints[this.#countIndex(slot)] = ints[UNDO_COUNT];
    ints[UNDO_SLOT] = 0;
  }

  #countIndex(slot: number): number {
    return (HEADER + slot * SLOT_BYTES) / 4 + 2;
  }

  /** Whether `slot` names this process. */
  #isMine(slot: number): boolean {
    const ints = this.#ints!;
    const at = this.#idIndex(slot) * 2; // its id's two 32-bit halves
    return ints[at] === SELF_LOW && ints[at + 1] === SELF_HIGH;
  }

  #idIndex(slot: number): number {
    return (HEADER + slot * SLOT_BYTES) / 8;
  }

  /**
   * This process's slot, or -1; `claim`: a slot that holds nothing is made this process's (-1 if none does). A slot
   * stays its process's while it holds nothing, until another process needs it.
   */
  #slotOf(claim: boolean): number {
    const ids = this.#ids!;
    const ints = this.#ints!;
    if (this.#isMine(this.#mySlot)) return this.#mySlot; // two 32-bit reads: a 64-bit one makes a BigInt
    let free = -1;
    for (let slot = 0; slot < SLOTS; slot++) {
      const id = ids[this.#idIndex(slot)];
      if (id === SELF_TOKEN) return (this.#mySlot = slot);
      if (free < 0 && (id === 0n || ints[this.#countIndex(slot)] === 0)) free = slot;
    }
    if (!claim || free < 0) return -1;
    ids[this.#idIndex(free)] = SELF_TOKEN;
    return (this.#mySlot = free);
  }

  /** Changes free units and one slot's count as one step: a death in between is undone by #repair. */
  #move(slot: number, units: number): void {
    const ints = this.#ints!;
    const at = this.#countIndex(slot);
    // Plain stores: other processes read these words only under the inner lock, whose compare-and-swaps publish
    // them; against a kill only their program order matters (a killed process has done every store before the
    // instruction it stopped at and none after), and compiled code keeps the order of typed-array stores. Atomic
    // stores here (each a full fence) made the uncontended pair 135 ns instead of 77.
    ints[UNDO_VALUE] = ints[VALUE];
    ints[UNDO_COUNT] = ints[at];
    ints[UNDO_SLOT] = slot + 1;
    ints[at] += units;
    ints[VALUE] -= units;
    ints[UNDO_SLOT] = 0;
  }

  /**
   * Gives back the units of every dead holder; returns how many. `everyHolder`: look at each holder, even one found
   * alive less than RECHECK_MS ago.
   */
  #recoverDead(everyHolder: boolean): number {
    const ints = this.#ints!;
    const ids = this.#ids!;
    const now = performance.now();
    let recovered = 0;
    for (let slot = 0; slot < SLOTS; slot++) {
      // the count first: most slots hold nothing, and reading an id makes a BigInt
      const count = ints[this.#countIndex(slot)];
      if (count === 0 || this.#isMine(slot)) continue;
      const id = ids[this.#idIndex(slot)];
      if (id === 0n) continue;
      if (!everyHolder && this.#aliveId[slot] === id && now - this.#aliveAt[slot] < RECHECK_MS) continue;
      if (!holderDead(id)) {
        this.#aliveId[slot] = id;
        this.#aliveAt[slot] = now;
        continue;
      }
      this.#move(slot, -count);
      ids[this.#idIndex(slot)] = 0n;
      ints[DIED] += count;
      recovered += count;
    }
    return recovered;
  }

  /** One try under the inner lock: true when a unit was taken. `recover`: dead holders' units come back first. */
  #tryTakeLocked(recover: boolean): boolean {
    const ints = this.#ints!;
    if (recover) this.#wakeFor(this.#recoverDead(true));
    if (ints[VALUE] <= 0 && !recover) {
      if (this.#wakeFor(this.#recoverDead(false)) === 0) return false;
    }
    if (ints[VALUE] <= 0) return false;
    const slot = this.#slotOf(true);
    if (slot < 0) {
      throw new ValueError(`more than ${SLOTS} processes hold units of this Semaphore at once; make it with ` +
        '{ recovery: false }', 'ERR_MP_SEMAPHORE_HOLDERS');
    }
    this.#move(slot, 1);
    if (this.#held === undefined) this.#held = holdingAdd(this);
    this.tookOver = ints[DIED] > 0;
    if (this.tookOver) ints[DIED]--;
    return true;
  }

  /** Wakes sleepers for `units` new free units (when there may be some); returns `units`. */
  #wakeFor(units: number): number {
    if (units > 0 && Atomics.load(this.#ints!, SLEEPERS) > 0) native.wordNotify(this.#ints!, VALUE, units);
    return units;
  }

  #tryTake(recover: boolean): boolean {
    this.#open();
    this.#lockSync();
    try {
      return this.#tryTakeLocked(recover);
    } finally {
      this.#unlock();
    }
  }

  // --- the SemLock interface --------------------------------------------------------------------------------------

  tryWait(): boolean {
    return this.#tryTake(false);
  }

  tryWaitPolling(): boolean {
    return Atomics.load(this.#open(), VALUE) > 0 && this.#tryTake(false);
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
      if (this.#tryTake(recover)) return true;
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

  /** Takes the inner lock without blocking the event loop. */
  async #lockAsync(): Promise<void> {
    const inner = this.#inner;
    if (!inner.spin(INNER_SPIN_MS) && !(await inner.waitAsync(true, undefined))) return;
    if (inner.tookOver) this.#repair();
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
          await this.#lockAsync();
          let took: boolean;
          try {
            took = this.#tryTakeLocked(recover);
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
  post(maxValue?: number): boolean {
    const ints = this.#open();
    this.#lockSync();
    try {
      let slot = this.#slotOf(false);
      if (slot >= 0 && ints[this.#countIndex(slot)] === 0) slot = -1;
      if (slot < 0) { // not a holder: a dead holder's units come back first, then a live holder's unit moves
        this.#recoverDead(false);
        for (let s = 0; s < SLOTS && slot < 0; s++) if (ints[this.#countIndex(s)] > 0) slot = s;
      }
      if (slot >= 0) {
        this.#move(slot, -1);
      } else {
        if (maxValue !== undefined && ints[VALUE] >= maxValue) return false;
        Atomics.add(ints, VALUE, 1);
      }
    } finally {
      this.#unlock();
    }
    this.#wakeFor(1);
    return true;
  }

  /** The free units. */
  value(): number {
    return Atomics.load(this.#open(), VALUE);
  }

  /** @internal units held by live or dead processes, per holder pid: for tests. */
  holders(): Map<number, number> {
    const ints = this.#open();
    const held = new Map<number, number>();
    for (let slot = 0; slot < SLOTS; slot++) {
      const id = this.#ids![this.#idIndex(slot)];
      if (id !== 0n && ints[this.#countIndex(slot)] !== 0) held.set(Number(id & 0x3fffffn), ints[this.#countIndex(slot)]);
    }
    return held;
  }

  /** At a normal exit: this process's slot holds nothing any more, and its units stay taken (see the header). */
  forfeit(): void {
    if (this.#ints === undefined) return;
    this.#lockSync();
    try {
      const slot = this.#slotOf(false);
      if (slot >= 0) {
        this.#ints[this.#countIndex(slot)] = 0;
        this.#ids![this.#idIndex(slot)] = 0n;
      }
    } finally {
      this.#unlock();
    }
  }

  close(owner = 'Semaphore'): void {
    if (this.#closedBy !== undefined) return;
    if (this.#held !== undefined) holdingDelete(this.#held);
    this.#closedBy = owner;
    for (const cancel of [...this.#pending]) cancel(closedError(owner));
    this.#ints = undefined;
    this.#ids = undefined;
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
