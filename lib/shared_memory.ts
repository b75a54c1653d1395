/**
 * Shared memory segments (CPython's multiprocessing.shared_memory.SharedMemory): POSIX shm_open + mmap, Windows a
 * named file mapping. A segment travels anywhere as its name — in queue items, Pool task arguments, Manager calls —
 * and the receiver maps it again.
 *
 * Lifetime. The name lives until unlink(), or — for a name the library made — until every process tree that
 * created or attached it is gone: the resource tracker of each such tree holds the segment with a shared lock while
 * the tree lives, and at its end removes the name only if no process maps it any more (python/cpython#82300 unlinked
 * segments other processes still used). A name the user chose is never removed behind their back. The memory stays
 * mapped while any ArrayBuffer over it lives; close() detaches this object's buffer (its views then see no memory),
 * so nothing ever reads an unmapped page.
 */
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError, OutOfRangeError, ValueError } from './errors';
import { closeMapping, registerMapping } from './atomics_wait';
import { native } from './native';
import { reduce, Reduced, registerRebuilder } from './reduction';
import { REBUILD_SHARED_MEMORY } from './rebuilder_ids';
import * as tracker from './resource_tracker';
import { describe } from './validate';

const isWindows = native.platform === 'win32';
/** Names the library makes: "mps-" and 8 random characters (within macOS's 30 characters for shm names). */
const LIBRARY_NAME = /^mps-[A-Za-z0-9_-]{8}$/;

export interface SharedMemoryOptions {
  /** Bytes, at least 1. */
  size: number;
  /** A name of your own (then never removed but by unlink()); default: a fresh name the library tracks. */
  name?: string;
}

type TypedArrayConstructor<T> = {
  new (buffer: ArrayBuffer, byteOffset?: number, length?: number): T;
  readonly BYTES_PER_ELEMENT: number;
};

/** What the OS calls the segment: POSIX names start with a slash. */
export function osName(name: string): string {
  return isWindows ? name : `/${name}`;
}

function checkName(name: unknown): string {
  if (typeof name !== 'string') throw new InvalidArgumentError(`name must be a string, got ${describe(name)}`);
  if (name.length === 0 || name.length > 200 || /[/\\\0]/.test(name)) {
    throw new ValueError(`invalid shared memory name ${JSON.stringify(name)}: 1 to 200 characters, no slash, ` +
      'backslash or NUL', 'ERR_MP_INVALID_NAME');
  }
  return name;
}

/** Names this process registered with its tracker (each once). */
const tracked = new Set<string>();

function track(name: string): void {
  if (isWindows || tracked.has(name)) return;
  tracker.registerSegment(osName(name));
  tracked.add(name);
}

function untrack(name: string): void {
  if (isWindows || !tracked.delete(name)) return;
  tracker.unregisterSegment(osName(name));
}

export class SharedMemory {
  readonly #name: string;
  readonly #size: number;
  #buffer: ArrayBuffer | undefined;

  /** Creates a segment of `size` bytes, zero-filled. */
  constructor(options: SharedMemoryOptions) {
    if (attaching !== undefined) { // attach(): the mapping is made already
      const { name, buffer } = attaching;
      attaching = undefined;
      this.#name = name;
      this.#size = buffer.byteLength;
      this.#buffer = buffer;
      registerMapping(buffer);
      return;
    }
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError(`SharedMemory needs { size }, got ${describe(options)}`);
    }
    const { size, name } = options;
    if (typeof size !== 'number') throw new InvalidArgumentError(`size must be a number of bytes, got ${describe(size)}`);
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new OutOfRangeError(`size must be a positive integer number of bytes, got ${size}`);
    }
    if (name !== undefined) {
      if (LIBRARY_NAME.test(checkName(name))) {
        throw new ValueError(`shared memory names like ${JSON.stringify(name)} are reserved for the library`, 'ERR_MP_INVALID_NAME');
      }
      this.#buffer = native.shmCreate(osName(name), size);
      this.#name = name;
    } else {
      for (;;) {
        const candidate = `mps-${randomBytes(6).toString('base64url')}`;
        track(candidate); // before it exists: no death can leak it
        try {
          this.#buffer = native.shmCreate(osName(candidate), size);
        } catch (err) {
          untrack(candidate);
          if ((err as { code?: string }).code === 'EEXIST') continue;
          throw err;
        }
        this.#name = candidate;
        if (!isWindows) tracker.registerSegment(osName(candidate)); // again, now that the tracker can hold it
        break;
      }
    }
    this.#size = size;
    registerMapping(this.#buffer);
  }

  /**
   * Maps the existing segment `name` (created by any process of this user). A name the library made is then held
   * by this process tree's tracker too: it is removed only once no process uses it.
   */
  static attach(name: string): SharedMemory {
    checkName(name);
    const buffer = native.shmOpen(osName(name));
    attaching = { name, buffer };
    const shm = new SharedMemory(undefined as never);
    if (LIBRARY_NAME.test(name)) track(name);
    return shm;
  }

  /** The segment's name, as attach() takes it. */
  get name(): string {
    return this.#name;
  }

  /** Bytes (after attach: the whole segment as the system made it, a multiple of the page size on Windows). */
  get size(): number {
    return this.#size;
  }

  /**
   * The mapping as an ArrayBuffer (not a SharedArrayBuffer: Node-API cannot make one over memory of its own,
   * nodejs/node#62259). Every process that maps the segment sees the same bytes. ValueError (ERR_MP_CLOSED) once
   * closed.
   */
  get buffer(): ArrayBuffer {
    if (this.#buffer === undefined) throw closedError();
    return this.#buffer;
  }

  /** A Buffer over the whole segment (Python's .buf). */
  get buf(): Buffer {
    return Buffer.from(this.buffer);
  }

  /**
   * A typed array over the segment, from `byteOffset` (aligned to the element size), `length` elements (default:
   * as many as fit). OutOfRangeError when it would not fit.
   */
  view<T>(type: TypedArrayConstructor<T>, byteOffset = 0, length?: number): T {
    const buffer = this.buffer;
    const bytes = type?.BYTES_PER_ELEMENT;
    if (typeof type !== 'function' || typeof bytes !== 'number') {
      throw new InvalidArgumentError(`view needs a typed array class (Int32Array, Float64Array, ...), got ${describe(type)}`);
    }
    if (!Number.isSafeInteger(byteOffset) || byteOffset < 0 || byteOffset > buffer.byteLength || byteOffset % bytes !== 0) {
      throw new OutOfRangeError(`byteOffset must be a multiple of ${bytes} within 0..${buffer.byteLength}, got ${byteOffset}`);
    }
    const room = Math.floor((buffer.byteLength - byteOffset) / bytes);
    const count = length ?? room;
    if (!Number.isSafeInteger(count) || count < 0 || count > room) {
      throw new OutOfRangeError(`length must be an integer within 0..${room}, got ${describe(length)}`);
    }
    return new type(buffer, byteOffset, count);
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.#buffer === undefined;
  }

  /**
   * Unmaps the segment in this thread: its buffer and every view over it are detached (they read as empty from
   * then on), pending wait()s on it reject with ValueError (ERR_MP_CLOSED). Other processes, and the name, are not
   * affected. Idempotent.
   */
  close(): void {
    const buffer = this.#buffer;
    if (buffer === undefined) return;
    this.#buffer = undefined;
    closeMapping(buffer, closedError());
    native.shmDetach(buffer);
  }

  /**
   * Removes the name (POSIX): nobody can attach it any more; whoever has it mapped keeps it. Windows removes the
   * segment with its last handle, so this does nothing there. ENOENT when it was removed already.
   */
  unlink(): void {
    native.shmUnlink(osName(this.#name));
    untrack(this.#name);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Travels anywhere as its name: the receiver attaches it. */
  [reduce](): Reduced {
    if (this.#buffer === undefined) throw closedError();
    return [REBUILD_SHARED_MEMORY, [this.#name]];
  }

  toString(): string {
    return `SharedMemory(name=${JSON.stringify(this.#name)}, size=${this.#size})`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

}

/** The mapping attach() made, for the constructor it calls next. */
let attaching: { name: string; buffer: ArrayBuffer } | undefined;

function closedError(): ValueError {
  return new ValueError('SharedMemory is closed', 'ERR_MP_CLOSED');
}

/** Whether `name` is one the library made (the resource tracker may remove it once nobody uses it). */
export function isLibraryName(name: string): boolean {
  return LIBRARY_NAME.test(name);
}

registerRebuilder(REBUILD_SHARED_MEMORY, (name: string) => SharedMemory.attach(name));
