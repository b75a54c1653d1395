/**
 * When a thread that expects something from another process soon may spin for it instead of going to sleep: a
 * wake-up through the event loop costs tens of microseconds, a spin that catches the peer a few. Manager calls
 * (manager_channel.ts) and cross-process word waits (atomics_wait.ts) use it.
 *
 * Spinning is bounded three ways: each spin lasts at most a few tens of microseconds; a site spins again only while
 * most of its recent spins caught (or would have caught) what they waited for (otherwise one chance in SPIN_PROBE);
 * the spins of one event-loop turn together hold the thread for at most SPIN_TURN_MS (unless the thread would block
 * anyway); and nobody spins while the machine has no core to spare.
 */
import * as os from 'node:os';
import { deadlineOf, remaining } from './timeouts';

/** What all the spins of one event-loop turn may take together. */
export const SPIN_TURN_MS = 1;
/** While too many recent spins missed, one chance in SPIN_PROBE spins again. */
const SPIN_PROBE = 16;
/**
 * A site spins while at least this share of its recent spins caught what they waited for (a moving average in which
 * the latest spin weighs CATCH_WEIGHT). A miss costs the whole spin and may hold up the very peer it waits for; a
 * catch saves a wake-up of a few tens of microseconds: below about three catches in four, spinning loses
 * (docs/manager-calls.md). One miss (the peer was preempted once) does not stop a site that was catching; three in
 * a row do.
 */
const CATCH_RATE_TO_SPIN = 3 / 4;
const CATCH_WEIGHT = 1 / 8;

/**
 * Whether the machine has a core to spare for a spin: its 1-minute load average is below its cores (plus half a
 * core, for the two sides). On a loaded machine the peer a spin waits for needs the CPU the spin takes, and waiting
 * on it costs more than the wake-up it saves (docs/manager-calls.md). Read once a second.
 */
function machineHasRoom(now: number): boolean {
  if (now - loadCheckedAt > 1000) {
    loadCheckedAt = now;
    roomToSpin = os.loadavg()[0] < os.availableParallelism() + 0.5;
  }
  return roomToSpin;
}
let loadCheckedAt = -Infinity;
let roomToSpin = false;

let turnStarted = -1;
/** Whether this event-loop turn may still spin: its spins began less than SPIN_TURN_MS ago. */
function turnMaySpin(now: number): boolean {
  if (turnStarted < 0) {
    turnStarted = now;
    setImmediate(() => { turnStarted = -1; }); // the event loop has had its turn
  }
  return now - turnStarted < SPIN_TURN_MS;
}

/** One spinning site's memory of whether its spins pay. */
export class SpinPolicy {
  /** Recent spins that caught (or would have caught) what they waited for, as a moving average (1: all). */
  #catchRate = 1;
  #skipped = 0;
  /** When the last wait began that was not spun for (backed off), until arrived() tells how long it took; or -1. */
  #skippedAt = -1;

  /**
   * `beforeSleep`: the site would otherwise block its thread (waitSync), so its spins take nothing from the event
   * loop and the per-turn budget does not apply to them.
   */
  constructor(readonly spinMs: number, private readonly beforeSleep = false) {}

  /**
   * Runs `spin(spinMs)` (which spins at most that long and says whether it caught what it waited for) when a spin
   * is worth it now; true when it caught it.
   */
  spinOn(spin: (ms: number) => boolean): boolean {
    const now = performance.now();
    if (this.#catchRate < CATCH_RATE_TO_SPIN && ++this.#skipped % SPIN_PROBE !== 0) {
      this.#skippedAt = now;
      return false;
    }
    this.#skippedAt = -1;
    if (!machineHasRoom(now) || (!this.beforeSleep && !turnMaySpin(now))) return false;
    const caught = spin(this.spinMs);
    this.#note(caught);
    return caught;
  }

  /**
   * The awaited thing arrived through the event loop. After a wait this site backed off from, it says whether a spin
   * would have caught it: without it the rate could only recover through probes, and two processes that spin for
   * each other back off together (each one's wake-ups make the other's spins miss).
   */
  arrived(): void {
    if (this.#skippedAt < 0) return;
    this.#note(performance.now() - this.#skippedAt <= this.spinMs);
    this.#skippedAt = -1;
  }

  #note(caught: boolean): void {
    this.#catchRate += ((caught ? 1 : 0) - this.#catchRate) * CATCH_WEIGHT;
  }
}

/** Tries `take` on this thread for up to `ms` milliseconds (32 tries between clock reads); true once it succeeds. */
export function spinFor(ms: number, take: () => boolean): boolean {
  if (ms <= 0) return false;
  const until = deadlineOf(ms);
  do {
    for (let i = 0; i < 32; i++) if (take()) return true;
  } while (remaining(until) > 0);
  return false;
}
