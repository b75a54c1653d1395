/**
 * Lock files, for the locks and semaphores that unrelated processes open by name (named_lock.ts,
 * named_semaphore.ts): where they live, how names map to them, and how one is taken. A lock file is held through the
 * kernel's whole-file lock (flock; Windows LockFileEx), which the kernel drops with the holder's last descriptor
 * however the holder ends, so a dead holder never wedges anyone and no process identity is stored that a reused pid
 * could fake. The file's first byte tells the next holder that the previous one died holding it (`ownerDied`, as
 * pthread's EOWNERDEAD and Windows' WAIT_ABANDONED).
 */
import { fstatSync, lstatSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { InvalidArgumentError, RuntimeError, ValueError } from './errors';
import { native } from './native';
import { deadlineOf, remaining } from './timeouts';
import type { AcquireOptions, AcquireSyncOptions } from './semlock';
import { abortReason, checkBoolean, checkOptions, checkSignal, checkTimeout, describe } from './validate';

export interface OpenOptions {
  /** Create it if no process made it yet. Default false: opening a name nobody created fails with ENOENT. */
  create?: boolean;
  /** With create: fail with EEXIST if the name exists. Default false. */
  exclusive?: boolean;
}

/** The longest name: the same on every platform (these are file names, not POSIX semaphore names). */
export const NAME_MAX_LENGTH = 200;
const NAME_PATTERN = /^[a-z0-9_][a-z0-9._-]*(?:\/[a-z0-9_][a-z0-9._-]*)*$/;

/** The first byte of a lock file while a holder is inside; FREE once it released. */
const HELD = 1;
const FREE = 0;

/**
 * How often a waiter that cannot sleep in the kernel (an async acquire, or one with a timeout) tries again: from 1 ms,
 * doubling up to this. A release, or the death of the holder, is therefore seen within about 10 ms.
 */
const POLL_MAX_MS = 10;

const isWindows = native.platform === 'win32';

/** Checks a name of a named lock, semaphore or event (`what` says which, for the message). */
export function checkName(name: unknown, what = 'lock'): string {
  if (typeof name !== 'string') throw new InvalidArgumentError(`${what} name must be a string, got ${describe(name)}`);
  if (name.length === 0 || name.length > NAME_MAX_LENGTH || !NAME_PATTERN.test(name)) {
    throw new ValueError(
      `invalid ${what} name ${JSON.stringify(name.slice(0, NAME_MAX_LENGTH + 1))}: 1 to ${NAME_MAX_LENGTH} characters, ` +
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

/** The path of a checked name's file, `kind` keeping locks and semaphores of one name apart ("/" cannot be in it). */
export function pathOf(kind: 'mp' | 'ms', name: string, suffix = ''): string {
  return path.join(lockDirectory(), `${kind}-${name.replaceAll('/', '+')}${suffix}`);
}

/** The open file of a LockFile, apart from it: a FinalizationRegistry closes it when its owner is collected. */
interface OpenFile {
  handle: number;
  /** The file's identity (POSIX: device and inode), to tell whether the name still leads to it. */
  dev: number;
  ino: number;
}

function closeFile(file: OpenFile): void {
  if (file.handle < 0) return;
  const handle = file.handle;
  file.handle = -1;
  if (isWindows) native.closeHandle(handle);
  else native.closeFd(handle);
}

const collected = new FinalizationRegistry<OpenFile>(closeFile);

/** One kernel-locked file, held by this object or not. */
export class LockFile {
  readonly #path: string;
  readonly #create: boolean;
  readonly #file: OpenFile = { handle: -1, dev: 0, ino: 0 };
  #held = false;
  #ownerDied = false;

  /** `owner`: the object whose collection closes the file. */
  constructor(filePath: string, create: boolean, exclusive: boolean, owner: object) {
    this.#path = filePath;
    this.#create = create;
    this.#open(create, exclusive);
    collected.register(owner, this.#file, this);
  }

  get held(): boolean {
    return this.#held;
  }

  /** Whether the last take found the previous holder dead while it held the file. */
  get ownerDied(): boolean {
    return this.#ownerDied;
  }

  get closed(): boolean {
    return this.#file.handle < 0;
  }

  #open(create: boolean, exclusive: boolean): void {
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

  /** Takes the file's lock (waiting in the kernel when `wait`): true once this object holds it. */
  take(wait: boolean): boolean {
    for (;;) {
      if (!native.lockFile(this.#file.handle, wait)) return false;
      if (this.#isCurrent()) break;
      // The name was removed (or made anew) since it was opened: the lock now lives in the new file.
      native.unlockFile(this.#file.handle);
      closeFile(this.#file);
      this.#open(this.#create, false);
    }
    const handle = this.#file.handle;
    this.#ownerDied = native.lockMark(handle) === HELD;
    if (!this.#ownerDied) native.setLockMark(handle, HELD);
    this.#held = true;
    return true;
  }

  release(): void {
    this.#held = false;
    native.setLockMark(this.#file.handle, FREE);
    native.unlockFile(this.#file.handle);
  }

  /** Closes the file; a lock held is dropped as by a death (the next holder sees ownerDied). Idempotent. */
  close(): void {
    collected.unregister(this);
    this.#held = false;
    closeFile(this.#file);
  }
}

/**
 * acquireSync() of the lock-file classes: `tryNow` once; then, if blocking, `waitForever` when there is no timeout
 * and it is given (a wait in the kernel), else `tryAgain` from every 1 ms up to every 10 ms until `timeout` passes.
 */
export function acquireByPollingSync(options: unknown, tryNow: () => boolean, tryAgain: () => boolean,
                                     waitForever?: () => boolean): boolean {
  const opts = checkOptions<AcquireSyncOptions>(options ?? {}, 'acquireSync options');
  const blocking = checkBoolean(opts.blocking, 'blocking', true);
  const timeout = checkTimeout(opts.timeout);
  if (tryNow()) return true;
  if (!blocking || timeout === 0) return false;
  if (timeout === undefined && waitForever) return waitForever();
  const deadline = deadlineOf(timeout);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let delay = 1; ; delay = Math.min(2 * delay, POLL_MAX_MS)) {
    const left = remaining(deadline);
    if (left === 0) return false;
    Atomics.wait(pause, 0, 0, left === undefined ? delay : Math.min(delay, left));
    if (tryAgain()) return true;
  }
}

/** acquire() of the lock-file classes: acquireByPollingSync without blocking the event loop; AbortError on signal. */
export async function acquireByPolling(options: unknown, tryNow: () => boolean, tryAgain: () => boolean): Promise<boolean> {
  const opts = checkOptions<AcquireOptions>(options ?? {}, 'acquire options');
  const blocking = checkBoolean(opts.blocking, 'blocking', true);
  const timeout = checkTimeout(opts.timeout);
  const signal = checkSignal(opts.signal);
  if (signal?.aborted) throw abortReason(signal);
  if (tryNow()) return true;
  if (!blocking || timeout === 0) return false;
  const deadline = deadlineOf(timeout);
  for (let delay = 1; ; delay = Math.min(2 * delay, POLL_MAX_MS)) {
    const left = remaining(deadline);
    if (left === 0) return false;
    await sleep(left === undefined ? delay : Math.min(delay, left), signal);
    if (tryAgain()) return true;
  }
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
