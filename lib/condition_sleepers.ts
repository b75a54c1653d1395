/**
 * The sleepers of a Condition by process identity, so that notify() never waits for ever for the acknowledgement of a
 * sleeper that died (where kill-safe locks exist: Linux). A sleeper takes a slot (its pid and start time, as a
 * kill-safe lock's word holds them) before it counts itself asleep, and clears it after it acknowledged; a notifier
 * that waited RECHECK_MS for acknowledgements clears the slots of dead processes and acknowledges for them, as a
 * sleeper that timed out would have.
 */
import { native } from './native';
import { holderDead, isKillSafeDescriptor, KillSafeDescriptor, KillSafeSegment, recoveryAvailable, SELF_TOKEN } from './robust_lock';

/** Sleepers at once with a slot (a page): more sleep without one, as in CPython (a death among them is not seen). */
const SLOTS = 512;

export class SleeperTable {
  #slots: BigUint64Array | undefined;
  /** The same slots as pairs of 32-bit words: counting them reads no BigInt (a BigInt a slot is an allocation). */
  #words: Int32Array | undefined;

  constructor(buffer: ArrayBuffer) {
    this.#slots = new BigUint64Array(buffer, 0, SLOTS);
    this.#words = new Int32Array(buffer, 0, 2 * SLOTS);
  }

  /** Takes a slot for a sleeper of this process: its index, or -1 when none is free. */
  enter(): number {
    const slots = this.#slots;
    if (!slots) return -1;
    for (let i = 0; i < SLOTS; i++) if (Atomics.compareExchange(slots, i, 0n, SELF_TOKEN) === 0n) return i;
    return -1;
  }

  /** Gives the slot back (unless a notifier cleared it, which cannot happen while this process lives). */
  leave(slot: number): void {
    if (slot >= 0 && this.#slots) Atomics.compareExchange(this.#slots, slot, SELF_TOKEN, 0n);
  }

  /** Clears the slots of dead sleepers: how many it cleared (each owes an acknowledgement). */
  reapDead(): number {
    const slots = this.#slots;
    if (!slots) return 0;
    let reaped = 0;
    for (let i = 0; i < SLOTS; i++) {
      const holder = Atomics.load(slots, i);
      if (holder !== 0n && holderDead(holder) && Atomics.compareExchange(slots, i, holder, 0n) === holder) reaped++;
    }
    return reaped;
  }

  /** Slots taken (by live sleepers and dead ones not reaped yet); exact while the table's users hold their lock. */
  taken(): number {
    const words = this.#words;
    let n = 0;
    if (words) for (let i = 0; i < 2 * SLOTS; i += 2) if ((words[i] | words[i + 1]) !== 0) n++; // the lock orders them
    return n;
  }

  close(): void {
    const slots = this.#slots;
    if (!slots) return;
    this.#slots = undefined;
    this.#words = undefined;
    native.shmDetach(slots.buffer as ArrayBuffer);
  }
}

export type SleepersSegment = KillSafeSegment<SleeperTable>;

/** A new table where the platform has kill-safe locks; undefined elsewhere. */
export function createSleepers(): SleepersSegment | undefined {
  return recoveryAvailable ? KillSafeSegment.create(8 * SLOTS, (buffer) => new SleeperTable(buffer)) : undefined;
}

export function openSleepers(descriptor: unknown): SleepersSegment | undefined {
  return isKillSafeDescriptor(descriptor) ? KillSafeSegment.open(descriptor, (buffer) => new SleeperTable(buffer)) : undefined;
}

export type SleepersDescriptor = KillSafeDescriptor | null;
