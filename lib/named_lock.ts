/**
 * Locks that unrelated processes of one user open by a name they choose (Lock.open, RLock.open): one lock file each
 * (lock_file.ts), so the kernel releases a lock whose holder died, and the next holder sees `ownerDied`.
 */
import { unlinkSync } from 'node:fs';
import { AssertionError, ValueError } from './errors';
import { Guard, guardOf, guardSyncOf } from './guard';
import { acquireByPolling, acquireByPollingSync, checkName, LockFile, OpenOptions, pathOf } from './lock_file';
import type { AcquireOptions, AcquireSyncOptions } from './semlock';
import { checkBoolean, checkOptions } from './validate';

export type { OpenOptions } from './lock_file';

/**
 * A lock that unrelated processes open by name: `Lock.open(name, options)` (recursive: false) and
 * `RLock.open(name, options)` (recursive: true). It is held by this object: another open of the same name, in this
 * process or any other, waits for it; only this object releases it.
 */
export class NamedLock {
  readonly name: string;
  readonly recursive: boolean;
  readonly #file: LockFile;
  #count = 0;

  /** @internal use Lock.open / RLock.open */
  constructor(name: unknown, options: unknown, recursive: boolean) {
    this.name = checkName(name);
    const opts = checkOptions<OpenOptions>(options ?? {}, 'open options');
    const create = checkBoolean(opts.create, 'create', false);
    const exclusive = checkBoolean(opts.exclusive, 'exclusive', false);
    this.recursive = recursive;
    this.#file = new LockFile(pathOf('mp', this.name), create, exclusive, this);
  }

  /** Removes the name: who opens it from now on gets a new lock (or ENOENT); whoever has it open keeps it. */
  static unlink(name: string): void {
    unlinkSync(pathOf('mp', checkName(name)));
  }

  /**
   * Whether the last acquire of this object that took the lock found that its previous holder had died holding it
   * (killed, crashed, or closed it while held): what that holder protected may be half done. The lock is held all
   * the same, as after pthread's EOWNERDEAD.
   */
  get ownerDied(): boolean {
    return this.#file.ownerDied;
  }

  /** Whether this object holds the lock. */
  get held(): boolean {
    return this.#count > 0;
  }

  #checkOpen(): void {
    if (this.#file.closed) {
      throw new ValueError(`${this.recursive ? 'RLock' : 'Lock'} ${JSON.stringify(this.name)} is closed`, 'ERR_MP_CLOSED');
    }
  }

  /** Takes the file's lock unless this object holds it: true once taken. */
  #take(wait: boolean): boolean {
    if (this.#count > 0 || !this.#file.take(wait)) return false;
    this.#count = 1;
    return true;
  }

  /** true when this call holds it now without waiting (a recursive lock re-entered, or a free lock taken). */
  #tryNow(): boolean {
    if (this.#count > 0 && this.recursive) {
      this.#count++;
      return true;
    }
    return this.#take(false);
  }

  /** Blocks the calling thread, like Python's acquire(). Returns whether the lock was acquired. */
  acquireSync(options?: AcquireSyncOptions): boolean {
    this.#checkOpen();
    return acquireByPollingSync(options, () => this.#tryNow(), () => this.#take(false),
      this.#count === 0 ? () => this.#take(true) : undefined); // the kernel wakes a wait without timeout
  }

  /**
   * Waits without blocking the event loop: it tries again from every 1 ms up to every 10 ms. Resolves true when
   * acquired, false when `blocking` is false or `timeout` passed first; AbortError on `signal`.
   */
  async acquire(options?: AcquireOptions): Promise<boolean> {
    this.#checkOpen();
    return acquireByPolling(options, () => this.#tryNow(), () => {
      this.#checkOpen(); // closed meanwhile: the wait rejects with ERR_MP_CLOSED
      return this.#take(false);
    });
  }

  release(): void {
    this.#checkOpen();
    if (this.#count === 0) {
      if (this.recursive) throw new AssertionError('attempt to release recursive lock not owned by thread');
      throw new ValueError('semaphore or lock released too many times');
    }
    if (--this.#count === 0) this.#file.release();
  }

  /** Acquires (as acquire() does) and returns a guard that releases on dispose; TimeoutError if not acquired. */
  guard(options?: AcquireOptions): Promise<Guard> {
    return guardOf(this, options);
  }

  guardSync(options?: AcquireSyncOptions): Guard {
    return guardSyncOf(this, options);
  }

  /**
   * Closes this object's file. A lock it holds is dropped as by a process that dies: the next holder sees
   * ownerDied. Idempotent; later calls throw ValueError (ERR_MP_CLOSED).
   */
  close(): void {
    this.#count = 0;
    this.#file.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
