/**
 * Semaphores that unrelated processes of one user open by name (Semaphore.open): `value` units, each a lock file
 * (lock_file.ts), so the kernel gives back the units of a holder that died, and the next taker of such a unit sees
 * `ownerDied`. The value is fixed when the name is created, in a file of its own.
 */
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { ValueError } from './errors';
import { Guard, guardOf, guardSyncOf } from './guard';
import { acquireByPolling, acquireByPollingSync, checkName, LockFile, OpenOptions, pathOf } from './lock_file';
import type { AcquireOptions, AcquireSyncOptions } from './semlock';
import { checkBoolean, checkInteger, checkOptions } from './validate';

/** Each unit holds a descriptor in every process that opened the semaphore: a bound that keeps that reasonable. */
export const NAMED_SEMAPHORE_MAX_VALUE = 64;

export interface SemaphoreOpenOptions extends OpenOptions {
  /** The number of units, when this call creates the name (1 .. 64; default 1). Ignored when it exists. */
  value?: number;
}

/** The value recorded for `name`, writing `value` first if `create` and nobody did (atomically: a link). */
function valueOf(name: string, create: boolean, exclusive: boolean, value: number): number {
  const file = pathOf('ms', name);
  if (create) {
    const scratch = `${file}.${randomBytes(6).toString('hex')}`;
    writeFileSync(scratch, String(value), { mode: 0o600 });
    try {
      linkSync(scratch, file);
      return value;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || exclusive) throw err;
    } finally {
      unlinkSync(scratch);
    }
  }
  const recorded = Number(readFileSync(file, 'utf8'));
  if (!Number.isInteger(recorded) || recorded < 1 || recorded > NAMED_SEMAPHORE_MAX_VALUE) {
    throw new ValueError(`the named semaphore ${JSON.stringify(name)} records no valid value`, 'ERR_MP_LOCK_NAME');
  }
  return recorded;
}

/**
 * A counting semaphore that unrelated processes open by name: `Semaphore.open(name, { create, value })`. The
 * units this object took are its own: release() gives back the last one, and only this object can.
 */
export class NamedSemaphore {
  readonly name: string;
  /** The number of units, fixed when the name was created. */
  readonly value: number;
  readonly #units: LockFile[];
  /** Indexes of the units this object holds, the last taken last. */
  readonly #held: number[] = [];
  #next = 0;
  #ownerDied = false;
  #closed = false;

  /** @internal use Semaphore.open */
  constructor(name: unknown, options: unknown) {
    this.name = checkName(name);
    const opts = checkOptions<SemaphoreOpenOptions>(options ?? {}, 'open options');
    const create = checkBoolean(opts.create, 'create', false);
    const exclusive = checkBoolean(opts.exclusive, 'exclusive', false);
    const wanted = opts.value === undefined ? 1 : checkInteger(opts.value, 'value', 1, NAMED_SEMAPHORE_MAX_VALUE);
    this.value = valueOf(this.name, create, exclusive, wanted);
    this.#units = [];
    try {
      for (let i = 0; i < this.value; i++) this.#units.push(new LockFile(pathOf('ms', this.name, `#${i}`), true, false, this));
    } catch (err) {
      for (const unit of this.#units) unit.close();
      throw err;
    }
    this.#next = Math.floor(Math.random() * this.value); // processes start their search at different units
  }

  /** Removes the name (its value and its units); whoever has it open keeps what it has. */
  static unlink(name: string): void {
    const checked = checkName(name);
    const value = Number(readFileSync(pathOf('ms', checked), 'utf8'));
    unlinkSync(pathOf('ms', checked));
    for (let i = 0; i < value && i < NAMED_SEMAPHORE_MAX_VALUE; i++) {
      try {
        unlinkSync(pathOf('ms', checked, `#${i}`));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }

  /** Whether the unit the last successful acquire took had been held by a process that died (see NamedLock). */
  get ownerDied(): boolean {
    return this.#ownerDied;
  }

  /** How many units this object holds. */
  get held(): number {
    return this.#held.length;
  }

  #checkOpen(): void {
    if (this.#closed) throw new ValueError(`Semaphore ${JSON.stringify(this.name)} is closed`, 'ERR_MP_CLOSED');
  }

  /** Takes a free unit, searching from where the last search stopped: true once taken. */
  #take(): boolean {
    this.#checkOpen();
    for (let tried = 0; tried < this.value; tried++) {
      const i = this.#next;
      this.#next = (i + 1) % this.value;
      const unit = this.#units[i];
      if (!unit.held && unit.take(false)) {
        this.#held.push(i);
        this.#ownerDied = unit.ownerDied;
        return true;
      }
    }
    return false;
  }

  /** Blocks the calling thread. Returns whether a unit was acquired. */
  acquireSync(options?: AcquireSyncOptions): boolean {
    this.#checkOpen();
    return acquireByPollingSync(options, () => this.#take(), () => this.#take());
  }

  /** Waits without blocking the event loop (tries again every 1 to 10 ms); false when not acquired. */
  async acquire(options?: AcquireOptions): Promise<boolean> {
    this.#checkOpen();
    return acquireByPolling(options, () => this.#take(), () => this.#take());
  }

  /** Gives back the unit this object took last; ValueError when it holds none. */
  release(): void {
    this.#checkOpen();
    const i = this.#held.pop();
    if (i === undefined) throw new ValueError('semaphore or lock released too many times');
    this.#units[i].release();
  }

  guard(options?: AcquireOptions): Promise<Guard> {
    return guardOf(this, options);
  }

  guardSync(options?: AcquireSyncOptions): Guard {
    return guardSyncOf(this, options);
  }

  /** Closes its files; units it holds are given back as by a death (their next takers see ownerDied). Idempotent. */
  close(): void {
    this.#closed = true;
    this.#held.length = 0;
    for (const unit of this.#units) unit.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
