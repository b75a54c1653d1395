/**
 * Events that unrelated processes of one user open by a name they choose (Event.open): the flag is one word of a
 * small shared-memory segment, set and cleared with atomic stores, and waiters sleep on it with the cross-process
 * word wait of atomics_wait.ts (Linux: a futex; macOS and Windows: polled). No lock is ever held, so a process
 * killed in any method leaves nothing for the others to recover.
 */
import { createHash } from 'node:crypto';
import { userInfo } from 'node:os';
import { notify, SharedWaitOptions, SharedWaitSyncOptions, wait, waitSync } from './atomics_wait';
import { ValueError } from './errors';
import { checkName, OpenOptions } from './lock_file';
import { native } from './native';
import { osName, SharedMemory } from './shared_memory';
import { deadlineOf, remaining } from './timeouts';
import { checkBoolean, checkOptions, checkSignal, checkTimeout } from './validate';

const FLAG = 0;
const isWindows = native.platform === 'win32';

/**
 * The segment behind an event name: "mpe-" and a hash of the user and the name, so that names of any length fit
 * macOS's 31 characters and two users' events of one name stay apart (segments are 0600 besides).
 */
function segmentOf(name: string): string {
  const user = isWindows ? userInfo().username : String(process.getuid!());
  return `mpe-${createHash('sha256').update(`${user}\0${name}`).digest('base64url').slice(0, 24)}`;
}

function openSegment(segment: string, create: boolean, exclusive: boolean): SharedMemory {
  for (;;) {
    if (!exclusive) {
      try {
        return SharedMemory.attach(segment);
      } catch (err) {
        if (!create || (err as { code?: string }).code !== 'ENOENT') throw err;
      }
    }
    try {
      return new SharedMemory({ name: segment, size: 4 });
    } catch (err) {
      if (exclusive || (err as { code?: string }).code !== 'EEXIST') throw err;
      // made by another process between our attach and create: attach it
    }
  }
}

/**
 * An event that unrelated processes open by name: `Event.open(name, options)`. The same calls as Event (set, clear,
 * isSet, wait, waitSync); the flag lives until Event.unlink(name) (POSIX) or the last handle to it (Windows).
 */
export class NamedEvent {
  readonly name: string;
  readonly #shm: SharedMemory;
  readonly #word: Int32Array;

  /** @internal use Event.open */
  constructor(name: unknown, options: unknown) {
    this.name = checkName(name, 'event');
    const opts = checkOptions<OpenOptions>(options ?? {}, 'open options');
    const create = checkBoolean(opts.create, 'create', false);
    const exclusive = checkBoolean(opts.exclusive, 'exclusive', false);
    this.#shm = openSegment(segmentOf(this.name), create, exclusive);
    this.#word = this.#shm.view(Int32Array, 0, 1);
  }

  /** Removes the name: who opens it from now on gets a new, cleared event; whoever has it open keeps it. */
  static unlink(name: string): void {
    const segment = segmentOf(checkName(name, 'event'));
    native.shmUnlink(osName(segment));
  }

  #checkOpen(): void {
    if (this.#shm.closed) throw new ValueError(`Event ${JSON.stringify(this.name)} is closed`, 'ERR_MP_CLOSED');
  }

  isSet(): boolean {
    this.#checkOpen();
    return Atomics.load(this.#word, FLAG) !== 0;
  }

  /** Sets the flag and wakes every waiter, in every process. */
  set(): void {
    this.#checkOpen();
    Atomics.store(this.#word, FLAG, 1);
    notify(this.#word, FLAG);
  }

  clear(): void {
    this.#checkOpen();
    Atomics.store(this.#word, FLAG, 0);
  }

  /** Resolves true once the flag is set, false if the timeout passes first; rejects with AbortError on `signal`. */
  async wait(options?: SharedWaitOptions): Promise<boolean> {
    this.#checkOpen();
    const opts = checkOptions<SharedWaitOptions>(options, 'wait options');
    const deadline = deadlineOf(checkTimeout(opts.timeout));
    const signal = checkSignal(opts.signal);
    while (Atomics.load(this.#word, FLAG) === 0) {
      const left = remaining(deadline);
      if (left === 0) return false;
      await wait(this.#word, FLAG, 0, { timeout: left, signal });
    }
    return true;
  }

  /** wait() blocking this thread (no signal). */
  waitSync(options?: SharedWaitSyncOptions): boolean {
    this.#checkOpen();
    const deadline = deadlineOf(checkTimeout(checkOptions<SharedWaitSyncOptions>(options, 'wait options').timeout));
    while (Atomics.load(this.#word, FLAG) === 0) {
      const left = remaining(deadline);
      if (left === 0) return false;
      waitSync(this.#word, FLAG, 0, { timeout: left });
    }
    return true;
  }

  /** Unmaps it in this process: pending waits reject with ValueError (ERR_MP_CLOSED). Idempotent. */
  close(): void {
    this.#shm.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  toString(): string {
    return `<Event ${JSON.stringify(this.name)} ${this.#shm.closed ? 'closed' : this.isSet() ? 'set' : 'unset'}>`;
  }
}
