/**
 * Kill-safe locks: the shared word behind a Lock or RLock with recovery (the default where the OS has futexes across
 * processes: Linux). The word names its holder — pid and start time, written by one 64-bit compare-and-swap, so
 * there is no moment at which a lock is held by nobody known — and a waiter that finds the holder dead (no process
 * of that pid, a zombie, or a process of that pid started at another time: the pid was reused) takes the lock over;
 * its acquire then reports ownerDied, as pthread's EOWNERDEAD. Waiters sleep on the word's low half (a futex without
 * FUTEX_PRIVATE_FLAG; async waits through the wait hub), at most RECHECK_MS at a time without a release, and look at
 * the holder between two sleeps.
 *
 * The word (little-endian 64 bits): low half = holder's pid | WAITERS | OWNER_DIED, high half = low 32 bits of the
 * holder's start time (/proc/<pid>/stat field 22, clock ticks since boot). Free: pid 0 (OWNER_DIED then tells the
 * next taker that the last holder died; WAITERS that sleepers may be left).
 */
import { closeSync, openSync, readlinkSync, readSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { ValueError } from './errors';
import { native, WaitId } from './native';
import { spawningContext } from './reduction';
import * as tracker from './resource_tracker';
import { LOCK_SEGMENT_PREFIX } from './resource_tracker';
import { spinFor } from './spin';
import { pendingWait } from './pending_wait';
import { deadlineOf, remaining } from './timeouts';
import { abortReason } from './validate';

/** A waiter that saw no release for this long looks whether the holder still lives. */
export const RECHECK_MS = 20;

const PID_MASK = 0x3fffff; // Linux's PID_MAX_LIMIT is 2^22
const OWNER_DIED = 0x20000000;
const WAITERS = 0x40000000;
const LOW = 0xffffffffn;

/** Whether this platform has kill-safe locks (Linux: futexes across processes, /proc). */
export const recoveryAvailable = native.sharedWordWakes;

/** Where startTimeOf reads a /proc/<pid>/stat (its field 22 lies within its first few hundred bytes). */
const statBuffer = Buffer.alloc(2048);

/**
 * The start time of process `pid` (low 32 bits of its clock ticks since boot), or undefined if it is dead. One
 * open, read and close into a kept buffer: readFileSync took 62 µs a call here against 10, and a slow step that
 * looks at a holder holds up every other. An error other than "no such process" (out of descriptors) is thrown: a
 * holder is never taken for dead on a guess.
 */
export function startTimeOf(pid: number): number | undefined {
  let stat: string;
  try {
    const fd = openSync(`/proc/${pid}/stat`, 'r');
    try {
      stat = statBuffer.toString('latin1', 0, readSync(fd, statBuffer, 0, statBuffer.length, 0));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return undefined; // no such process (or gone since the open)
    throw err;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined; // dead, not yet reaped
  return Number(fields[19]) >>> 0; // field 22
}

/** This process as a holder: pid and start time, as the word holds them. */
const SELF = recoveryAvailable ? BigInt(process.pid) | (BigInt(startTimeOf(process.pid) ?? 0) << 32n) : 0n;
const SELF_WAITERS = SELF | BigInt(WAITERS);
/** The word's value while this process holds the lock and no one waits: for SemLock's inlined fast paths. */
export const SELF_TOKEN = SELF;

/** Whether the holder named by `word` (pid not 0) is dead: gone, a zombie, or its pid now another process's. */
export function holderDead(word: bigint): boolean {
  const pid = Number(word & LOW) & PID_MASK;
  if (pid === process.pid) return false; // this process holds it (another thread, or this one)
  const started = startTimeOf(pid);
  return started === undefined || started !== Number(word >> 32n);
}

function closedError(owner: string): Error {
  return new ValueError(`${owner} is closed`, 'ERR_MP_CLOSED');
}

/** The lock word of one mapping, as this thread uses it. */
export class RobustLockHandle {
  /** The word, or undefined once closed. */
  word: BigUint64Array | undefined;
  #low: Int32Array | undefined;
  /** Whether the last take found that the previous holder had died holding it. */
  tookOver = false;
  /** Async waits pending: close() ends them. */
  readonly #pending = new Set<(err: Error) => void>();
  #closedBy: string | undefined;

  constructor(buffer: ArrayBuffer) {
    this.word = new BigUint64Array(buffer, 0, 1);
    this.#low = new Int32Array(buffer, 0, 1);
  }

  #words(): BigUint64Array {
    if (this.word === undefined) throw closedError(this.#closedBy ?? 'Lock');
    return this.word;
  }

  /**
   * Takes the lock if it is free: from a free word that says a holder died, tookOver is set. `mark` keeps WAITERS
   * set for a taker that waited (other sleepers may be left, and the release must wake one).
   */
  #takeFree(seen: bigint, mark: boolean): boolean {
    const low = Number(seen & LOW);
    const next = (mark || (low & WAITERS) !== 0) ? SELF_WAITERS : SELF;
    if (Atomics.compareExchange(this.#words(), 0, seen, next) !== seen) return false;
    this.tookOver = (low & OWNER_DIED) !== 0;
    return true;
  }

  tryWait(): boolean {
    const words = this.#words();
    if (Atomics.compareExchange(words, 0, 0n, SELF) === 0n) {
      this.tookOver = false;
      return true;
    }
    for (;;) {
      const seen = Atomics.load(words, 0);
      if ((Number(seen & LOW) & PID_MASK) !== 0) return false;
      if (this.#takeFree(seen, false)) return true;
    }
  }

  tryWaitPolling(): boolean {
    return (Number(Atomics.load(this.#words(), 0) & LOW) & PID_MASK) === 0 && this.tryWait();
  }

  spin(ms: number): boolean {
    return this.tryWait() || spinFor(ms, () => this.tryWaitPolling());
  }

  /**
   * One look at the word by a waiter: true when it took the lock (`take`) or found it free (not `take`); else the
   * low half to sleep on, with WAITERS set. `checkHolder`: a holder found dead is cleared (OWNER_DIED left for the
   * next taker, and one sleeper woken when this waiter does not take it).
   */
  #look(take: boolean, checkHolder: boolean): true | number {
    const words = this.#words();
    for (;;) {
      const seen = Atomics.load(words, 0);
      const low = Number(seen & LOW);
      if ((low & PID_MASK) === 0) {
        if (!take || this.#takeFree(seen, true)) return true;
        continue;
      }
      if (checkHolder && holderDead(seen)) {
        const freed = BigInt(OWNER_DIED | (low & WAITERS));
        if (Atomics.compareExchange(words, 0, seen, freed) === seen && !take && (low & WAITERS) !== 0) {
          native.wordNotify(this.#low!, 0, 1);
        }
        continue;
      }
      if ((low & WAITERS) !== 0) return low | 0;
      if (Atomics.compareExchange(words, 0, seen, seen | BigInt(WAITERS)) === seen) return (low | WAITERS) | 0;
    }
  }

  /** Takes the lock if its holder is dead (tookOver is then set); false, with nothing done, otherwise. */
  takeOverIfDead(): boolean {
    const seen = Atomics.load(this.#words(), 0);
    if ((Number(seen & LOW) & PID_MASK) === 0 || !holderDead(seen)) return false;
    return this.#look(true, true) === true;
  }

  /** Blocks this thread until taken (true) or `timeoutMs` passed (false); timeoutMs < 0 waits forever. */
  wait(timeoutMs: number): boolean {
    if (this.tryWait()) return true;
    const deadline = timeoutMs < 0 ? undefined : deadlineOf(timeoutMs);
    let checkHolder = false;
    for (;;) {
      const seen = this.#look(true, checkHolder);
      if (seen === true) return true;
      const left = remaining(deadline);
      if (left === 0) return false;
      const nap = left === undefined ? RECHECK_MS : Math.min(left, RECHECK_MS);
      checkHolder = native.wordWait(this.#low!, 0, seen, nap) === 2; // no release for RECHECK_MS: is it alive?
    }
  }

  /**
   * Waits without blocking: resolves true once taken (`take`) or seen free (not `take`: Condition's waitUntilFree),
   * false when `timeoutMs` (undefined: never) passed; AbortError on `signal`, ERR_MP_CLOSED on close().
   */
  waitAsync(take: boolean, timeoutMs: number | undefined, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const deadline = deadlineOf(timeoutMs);
    return new Promise<boolean>((resolve, reject) => {
      let id: WaitId | undefined;
      // A wait that cannot be cancelled any more has its callback on its way: it passes on a wake it got.
      const wait = pendingWait(this.#pending, signal, resolve, reject, () => {
        if (id !== undefined) native.cancelWait(id);
      });
      const settle = wait.settle;
      const step = (checkHolder: boolean): void => {
        id = undefined;
        if (wait.done) return;
        try {
          const seen = this.#look(take, checkHolder);
          if (seen === true) return settle(null, true);
          const left = remaining(deadline);
          if (left === 0) return settle(null, false);
          const nap = left === undefined ? RECHECK_MS : Math.min(left, RECHECK_MS);
          id = native.wordWaitAsync(this.#low!, 0, seen, nap, (err, woken) => {
            if (wait.done) { // ended meanwhile: a wake it took goes to another sleeper
              if (woken && this.#low) native.wordNotify(this.#low, 0, 1);
              return;
            }
            if (err) return settle(err, false);
            step(!woken);
          });
        } catch (err) {
          settle(err as Error, false);
        }
      };
      step(false);
    });
  }

  /**
   * Releases the lock, whoever holds it (a Lock may be released by another process, as in Python); false when it
   * was not held. A sleeper is woken when there may be one.
   */
  post(): boolean {
    const words = this.#words();
    if (Atomics.compareExchange(words, 0, SELF, 0n) === SELF) return true;
    const old = Atomics.exchange(words, 0, 0n);
    const low = Number(old & LOW);
    if ((low & PID_MASK) === 0) {
      Atomics.compareExchange(words, 0, 0n, old); // it was free: as it was
      return false;
    }
    if ((low & WAITERS) !== 0) native.wordNotify(this.#low!, 0, 1);
    return true;
  }

  /** 1 when free, 0 when held. */
  value(): number {
    return (Number(Atomics.load(this.#words(), 0) & LOW) & PID_MASK) === 0 ? 1 : 0;
  }

  close(owner = 'Lock'): void {
    if (this.#closedBy !== undefined) return;
    this.#closedBy = owner;
    for (const cancel of [...this.#pending]) cancel(closedError(owner));
    const buffer = this.word!.buffer as ArrayBuffer;
    this.word = undefined;
    this.#low = undefined;
    native.shmDetach(buffer);
  }
}


/** LOCK_SEGMENT_PREFIX and 8 random characters each. */
function randomNames(count: number): string[] {
  const bytes = randomBytes(6 * count);
  return Array.from({ length: count },
    (_, i) => `${LOCK_SEGMENT_PREFIX}${bytes.subarray(6 * i, 6 * i + 6).toString('base64url')}`);
}

/** Names this thread created that are not removed yet: they go at exit (the tracker covers deaths). */
const createdHere = new Set<string>();

/**
 * Drops one of this process's references to `name` (every thread's objects, and children still starting, hold
 * one): the last one removes a name this process created.
 */
function dropReference(name: string): void {
  if (native.nameReference(name, -1, false) !== -1) return;
  removeName(name);
}

function removeName(name: string): void {
  createdHere.delete(name);
  try {
    native.shmUnlink(name);
  } catch {
    // removed already
  }
  tracker.unregister(name);
}

const collected = new FinalizationRegistry<string>(dropReference);

/** What a child (or another thread) receives for a kill-safe lock or a Condition's sleepers: a segment's name. */
export interface KillSafeDescriptor {
  killSafe: string;
  /** Handed to another thread of this process: valid while the creator's objects keep the name. */
  toThread?: true;
}

export function isKillSafeDescriptor(value: unknown): value is KillSafeDescriptor {
  return typeof value === 'object' && value !== null && typeof (value as KillSafeDescriptor).killSafe === 'string';
}

/** What lives in a segment: made over its buffer, closed (its buffer detached) with it. */
interface SegmentContent {
  close(owner?: string): void;
}

/**
 * A small shared-memory segment of kill-safe words (a lock's word, a Condition's sleepers) as this process holds
 * it: created (and tracked) or opened. A name this process created is removed when no object of any of its threads
 * refers to it any more (closed or collected) and no child started with it is still starting; the mapping stays in
 * every process that opened it.
 */
export class KillSafeSegment<T extends SegmentContent = SegmentContent> {
  readonly sem: T;
  readonly name: string;
  readonly #created: boolean;
  #closed = false;

  /** `name` is referenced for it already. */
  private constructor(content: T, name: string, created: boolean) {
    this.sem = content;
    this.name = name;
    this.#created = created;
    collected.register(this, name, this);
  }

  static create<T extends SegmentContent>(bytes: number, make: (buffer: ArrayBuffer) => T): KillSafeSegment<T> {
    for (;;) {
      const name = tracker.registeredName(randomNames); // registered before it exists: no death can leak it
      let buffer: ArrayBuffer;
      try {
        buffer = native.shmCreate(name, bytes, false); // no descriptor kept: the name is removed by us, not by use
      } catch (err) {
        tracker.unregister(name);
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        continue;
      }
      native.nameReference(name, 1, true);
      createdHere.add(name);
      return new KillSafeSegment(make(buffer), name, true);
    }
  }

  static open<T extends SegmentContent>(descriptor: KillSafeDescriptor, make: (buffer: ArrayBuffer) => T): KillSafeSegment<T> {
    const name = descriptor.killSafe;
    if (!name.startsWith(LOCK_SEGMENT_PREFIX) || name.length > 40) throw new Error(`not a kill-safe segment: ${name}`);
    let buffer: ArrayBuffer;
    try {
      buffer = native.shmOpen(name, false);
    } catch (err) {
      // A thread's handover whose objects were all closed (or collected) since, as for a lent semaphore.
      if (descriptor.toThread && (err as NodeJS.ErrnoException).code === 'ENOENT') throw closedError('the object');
      throw err;
    }
    native.nameReference(name, 1, false);
    return new KillSafeSegment(make(buffer), name, false);
  }

  /** What a child or another thread needs to open it: valid only inside a spawning context. */
  descriptor(): KillSafeDescriptor {
    const ctx = spawningContext();
    if (ctx.toThread) return { killSafe: this.name, toThread: true }; // opened while objects here keep the name
    // the name stays until the child exits: it opens it while it starts
    const name = this.name;
    native.nameReference(name, 1, false);
    let kept = true;
    ctx.retain({ close: () => { if (kept) { kept = false; dropReference(name); } } });
    return { killSafe: name };
  }

  /** Removes the name now if this process created it; processes that mapped it keep using it. */
  unlink(): void {
    if (this.#created && createdHere.has(this.name)) removeName(this.name);
  }

  close(owner?: string): void {
    if (this.#closed) return;
    this.#closed = true;
    collected.unregister(this);
    dropReference(this.name);
    this.sem.close(owner);
  }
}

/**
 * This process's pid namespace, as /proc names it: holders are named by pid, which names the same process only
 * inside one namespace (a Manager's proxies in another one use the server instead).
 */
export function pidNamespace(): string {
  return readlinkSync('/proc/self/ns/pid');
}

/** A kill-safe lock's segment: its word. */
export type RobustLockSegment = KillSafeSegment<RobustLockHandle>;

export function createRobustLock(): RobustLockSegment {
  return KillSafeSegment.create(8, (buffer) => new RobustLockHandle(buffer));
}

export function openRobustLock(descriptor: KillSafeDescriptor): RobustLockSegment {
  return KillSafeSegment.open(descriptor, (buffer) => new RobustLockHandle(buffer));
}

export function isRobustLockSegment(value: unknown): value is RobustLockSegment {
  return value instanceof KillSafeSegment && value.sem instanceof RobustLockHandle;
}

// At exit the names this process created go at once (the tracker covers deaths).
process.on('exit', () => {
  for (const name of [...createdHere]) removeName(name);
});
