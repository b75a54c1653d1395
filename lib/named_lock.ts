/**
 * Locks that unrelated processes of one user open by a name they choose (Lock.open, RLock.open): a file per name,
 * locked with the kernel's whole-file lock (flock; Windows LockFileEx). The kernel drops that lock with the last
 * descriptor of its holder, however the holder ends (SIGKILL, crash, abort), so a dead holder never wedges anyone,
 * and no process identity is stored that a reused pid could fake. One byte of the file tells the next holder that
 * the previous one died holding it (`ownerDied`, as pthread's EOWNERDEAD and Windows' WAIT_ABANDONED).
 */
import { lstatSync, mkdirSync, fstatSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { AssertionError, InvalidArgumentError, RuntimeError, ValueError } from './errors';
import { Guard, guardOf, guardSyncOf } from './guard';
import { native } from './native';
import type { AcquireOptions, AcquireSyncOptions } from './semlock';
import { deadlineOf, remaining } from './timeouts';
import { abortReason, checkBoolean, checkOptions, checkSignal, checkTimeout, describe } from './validate';

export interface OpenOptions {
  /** Create the lock if no process made it yet. Default false: opening a name nobody created fails with ENOENT. */
  create?: boolean;
  /** With create: fail with EEXIST if the name exists. Default false. */
  exclusive?: boolean;
}

/** The longest name: a file name of the lock directory, on every platform. */
export const NAME_MAX_LENGTH = 200;
const NAME_PATTERN = /^[a-z0-9_][a-z0-9._-]*(?:\/[a-z0-9_][a-z0-9._-]*)*$/;

/** The lock file's first byte while a holder is inside; FREE once it released. */
const HELD = 1;
const FREE = 0;

/**
 * How often a waiter that cannot sleep in the kernel (an async acquire, or one with a timeout) tries again: from 1 ms,
 * doubling up to this. A release, or the death of the holder, is therefore seen within about 10 ms.
 */
const POLL_MAX_MS = 10;

const isWindows = native.platform === 'win32';

function checkName(name: unknown): string {
  if (typeof name !== 'string') throw new InvalidArgumentError(`lock name must be a string, got ${describe(name)}`);
  if (name.length === 0 || name.length > NAME_MAX_LENGTH || !NAME_PATTERN.test(name)) {
    throw new ValueError(
      `invalid lock name ${JSON.stringify(name.slice(0, NAME_MAX_LENGTH + 1))}: 1 to ${NAME_MAX_LENGTH} characters, ` +
      'segments of a-z 0-9 . _ - separated by "/", each starting with a letter, digit or "_"',
      'ERR_MP_LOCK_NAME');
  }
  return name;
}

/**
 * The directory of this user's lock files, made on first use: /tmp/multiproc-<uid> (the same for every process of
 * the user, whatever its TMPDIR), mode 0700 and refused unless this user owns it; Windows: the user's temp directory.
 */
function lockDirectory(): string {
  if (isWindows) {
    const dir = path.join(tmpdir(), 'multiproc-locks');
    mkdirSync(dir, { recursive: true });
    return dir;
  }
  const uid = process.getuid!();
  const dir = `/tmp/multiproc-${uid}`;
  try {
    mkdirSync(dir, 0o700);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const stat = lstatSync(dir);
  if (!stat.isDirectory() || stat.uid !== uid || (stat.mode & 0o077) !== 0) {
    throw new RuntimeError(`${dir} is not a private directory of this user: named locks refuse to use it`,
      'ERR_MP_LOCK_DIRECTORY');
  }
  return dir;
}

function pathOf(name: string): string {
  return path.join(lockDirectory(), `mp-${name.replaceAll('/', '+')}`);
}

/** The open file of a NamedLock; a FinalizationRegistry closes it when its lock is collected unclosed. */
interface LockFile {
  handle: number;
  /** The file's identity (POSIX: device and inode), to tell whether the name still leads to it. */
  dev: number;
  ino: number;
}

function closeFile(file: LockFile): void {
  if (file.handle < 0) return;
  const handle = file.handle;
  file.handle = -1;
  if (isWindows) native.closeHandle(handle);
  else native.closeFd(handle);
}

const collected = new FinalizationRegistry<LockFile>(closeFile);

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A lock that unrelated processes open by name: `Lock.open(name, options)` (recursive: false) and
 * `RLock.open(name, options)` (recursive: true). It is held by this object: another open of the same name, in this
 * process or any other, waits for it; only this object releases it.
 */
export class NamedLock {
  readonly name: string;
  readonly recursive: boolean;
  readonly #path: string;
  readonly #create: boolean;
  readonly #file: LockFile;
  #count = 0;
  #ownerDied = false;

  /** @internal use Lock.open / RLock.open */
  constructor(name: unknown, options: unknown, recursive: boolean) {
    this.name = checkName(name);
    const opts = checkOptions<OpenOptions>(options ?? {}, 'open options');
    this.#create = checkBoolean(opts.create, 'create', false);
    const exclusive = checkBoolean(opts.exclusive, 'exclusive', false);
    this.recursive = recursive;
    this.#path = pathOf(this.name);
    this.#file = { handle: -1, dev: 0, ino: 0 };
    this.#openFile(this.#create, exclusive);
    collected.register(this, this.#file, this);
  }

  /** Removes the name: who opens it from now on gets a new lock (or ENOENT); whoever has it open keeps it. */
  static unlink(name: string): void {
    unlinkSync(pathOf(checkName(name)));
  }

  /**
   * Whether the last acquire of this object that took the lock found that its previous holder had died holding it
   * (killed, crashed, or closed it while held): what that holder protected may be half done. The lock is held all
   * the same, as after pthread's EOWNERDEAD.
   */
  get ownerDied(): boolean {
    return this.#ownerDied;
  }

  /** Whether this object holds the lock. */
  get held(): boolean {
    return this.#count > 0;
  }

  #handle(): number {
    const handle = this.#file.handle;
    if (handle < 0) throw new ValueError(`${this.recursive ? 'RLock' : 'Lock'} ${JSON.stringify(this.name)} is closed`, 'ERR_MP_CLOSED');
    return handle;
  }

  /** Takes the file's lock (waiting in the kernel when `wait`): true once this object holds it. */
  #take(wait: boolean): boolean {
    for (;;) {
      const handle = this.#handle();
      if (!native.lockFile(handle, wait)) return false;
      if (this.#isCurrent()) break;
      // The name was removed (or made anew) since this object opened it: the lock now lives in the new file.
      native.unlockFile(handle);
      closeFile(this.#file);
      this.#openFile(this.#create, false);
    }
    const handle = this.#file.handle;
    this.#ownerDied = native.lockMark(handle) === HELD;
    if (!this.#ownerDied) native.setLockMark(handle, HELD);
    this.#count = 1;
    return true;
  }

  #openFile(create: boolean, exclusive: boolean): void {
    const file = this.#file;
    file.handle = native.lockFileOpen(this.#path, create, exclusive);
    if (isWindows) return;
    const { dev, ino } = fstatSync(file.handle);
    file.dev = dev;
    file.ino = ino;
  }

  /** POSIX: whether the name still leads to the file locked (Windows cannot remove a file that is open). */
  #isCurrent(): boolean {
    if (isWindows) return true;
    const now = statSync(this.#path, { throwIfNoEntry: false });
    return now !== undefined && now.ino === this.#file.ino && now.dev === this.#file.dev;
  }

  /** true when this call holds it now without waiting (a recursive lock re-entered, or a free lock taken). */
  #tryNow(): boolean {
    if (this.#count > 0) {
      if (!this.recursive) return false;
      this.#count++;
      return true;
    }
    return this.#take(false);
  }

  /** Blocks the calling thread, like Python's acquire(). Returns whether the lock was acquired. */
  acquireSync(options?: AcquireSyncOptions): boolean {
    this.#handle();
    const opts = checkOptions<AcquireSyncOptions>(options ?? {}, 'acquireSync options');
    const blocking = checkBoolean(opts.blocking, 'blocking', true);
    const timeout = checkTimeout(opts.timeout);
    if (this.#tryNow()) return true;
    if (!blocking || timeout === 0) return false;
    if (timeout === undefined && this.#count === 0) return this.#take(true); // the kernel wakes it
    const deadline = deadlineOf(timeout);
    for (let delay = 1; ; delay = Math.min(2 * delay, POLL_MAX_MS)) {
      const left = remaining(deadline);
      if (left === 0) return false;
      sleepSync(left === undefined ? delay : Math.min(delay, left));
      if (this.#count === 0 && this.#take(false)) return true;
    }
  }

  /**
   * Waits without blocking the event loop: it tries again from 1 ms up to every 10 ms. Resolves true when acquired,
   * false when `blocking` is false or `timeout` passed first; AbortError on `signal`.
   */
  async acquire(options?: AcquireOptions): Promise<boolean> {
    this.#handle();
    const opts = checkOptions<AcquireOptions>(options ?? {}, 'acquire options');
    const blocking = checkBoolean(opts.blocking, 'blocking', true);
    const timeout = checkTimeout(opts.timeout);
    const signal = checkSignal(opts.signal);
    if (signal?.aborted) throw abortReason(signal);
    if (this.#tryNow()) return true;
    if (!blocking || timeout === 0) return false;
    const deadline = deadlineOf(timeout);
    for (let delay = 1; ; delay = Math.min(2 * delay, POLL_MAX_MS)) {
      const left = remaining(deadline);
      if (left === 0) return false;
      await sleep(left === undefined ? delay : Math.min(delay, left), signal);
      if (this.#count === 0 && this.#take(false)) return true;
    }
  }

  release(): void {
    const handle = this.#handle();
    if (this.#count === 0) {
      if (this.recursive) throw new AssertionError('attempt to release recursive lock not owned by thread');
      throw new ValueError('semaphore or lock released too many times');
    }
    if (--this.#count > 0) return;
    native.setLockMark(handle, FREE);
    native.unlockFile(handle);
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
    collected.unregister(this);
    this.#count = 0;
    closeFile(this.#file);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
