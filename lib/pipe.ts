/**
 * A pipe shared by many processes and read and written in whole frames: the storage of a Queue (the half of
 * CPython's connection.py that queues.py uses). Policy — who may read or write when, counting, bounds — lives in
 * queues.ts; this module only moves bytes and waits for descriptors.
 *
 * Both ends are non-blocking for every process that holds them (the flag belongs to the shared open file), so a
 * read or write never parks a thread: when the pipe has no bytes (or no room), the async forms wait for readiness
 * through the event loop (uv_poll, no thread at all) and the Sync forms with poll(2).
 */
import * as v8 from 'node:v8';
import { HEADER_BYTES, MAX_FRAME_BYTES } from './connection';
import { MultiprocError, PicklingError, ValueError } from './errors';
import { native, NativeFdWatcher } from './native';
import { rebuildValue, reduceValue } from './reduction';
import { abortReason } from './validate';

/**
 * Linux lets a pipe hold up to /proc/sys/fs/pipe-max-size (1 MiB by default) instead of 64 KiB: more items fit
 * before a put has to wait for a consumer, and large items move in fewer wake-ups.
 */
const PIPE_CAPACITY = 1 << 20;

/** A frame no larger than this is written by one write(2), which the kernel never interleaves with others. */
export const ATOMIC_FRAME_BYTES = native.platform === 'posix' ? native.pipeAtomicBytes : 0;

const headerPlaceholder = Buffer.alloc(HEADER_BYTES);

/**
 * Reduces and serializes `value` into one frame: 4-byte big-endian length, then v8.serialize's bytes. The length
 * is reserved in the serializer's own buffer, so small and large items alike are framed without a copy.
 * Throws (PicklingError, RuntimeError) before anything is written anywhere.
 */
export function encodeFrame(value: unknown): Buffer {
  const reduced = reduceValue(value);
  const serializer = new v8.DefaultSerializer();
  serializer.writeRawBytes(headerPlaceholder);
  serializer.writeHeader();
  try {
    serializer.writeValue(reduced);
  } catch (err) {
    if (err instanceof MultiprocError) throw err;
    throw new PicklingError(`cannot send this value to another process: ${(err as Error).message}`);
  }
  const frame = serializer.releaseBuffer();
  const length = frame.length - HEADER_BYTES;
  if (length > MAX_FRAME_BYTES) throw new ValueError(`message of ${length} bytes is too large to send`);
  frame.writeUInt32BE(length, 0);
  return frame;
}

export function decodePayload(payload: Buffer): unknown {
  return rebuildValue(v8.deserialize(payload));
}

/** Waits for a descriptor to become readable (writable); one event-loop watcher serves every waiter in this process. */
export class Readiness {
  readonly fd: number;
  readonly forWrite: boolean;
  #watcher: NativeFdWatcher | undefined;
  readonly #waiters = new Set<(err: Error | null) => void>();
  readonly #onReady = (err: Error | null): void => {
    for (const waiter of [...this.#waiters]) waiter(err);
  };

  constructor(fd: number, forWrite: boolean) {
    this.fd = fd;
    this.forWrite = forWrite;
  }

  /** Blocks this thread; timeoutMs < 0 waits forever. True when ready. */
  waitSync(timeoutMs: number): boolean {
    return native.poll(this.fd, this.forWrite, timeoutMs);
  }

  /** Resolves true when ready, false when `timeout` passes first; rejects with AbortError on `signal`. */
  wait(timeout: number | undefined, signal: AbortSignal | undefined): Promise<boolean> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<boolean>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = (err: Error | null, ready: boolean): void => {
        this.#waiters.delete(waiter);
        if (this.#waiters.size === 0) this.#watcher!.stop(); // a stopped watcher keeps no event loop alive
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(ready);
      };
      const waiter = (err: Error | null): void => settle(err, true);
      const onAbort = (): void => settle(abortReason(signal!), false);
      if (timeout !== undefined) timer = setTimeout(() => settle(null, false), timeout);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#watcher ??= new native.FdWatcher(this.fd, this.forWrite);
      if (this.#waiters.size === 0) this.#watcher.start(this.#onReady);
      this.#waiters.add(waiter);
    });
  }

  close(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}

/** The two ends of a queue's pipe, as this process holds them. */
export class FramePipe {
  readonly readable: Readiness;
  readonly writable: Readiness;
  readonly #header = Buffer.allocUnsafe(HEADER_BYTES);

  constructor(readFd: number, writeFd: number) {
    this.readable = new Readiness(readFd, false);
    this.writable = new Readiness(writeFd, true);
  }

  static create(): FramePipe {
    const [readFd, writeFd] = native.pipe();
    try {
      native.setNonBlocking(readFd, true);
      native.setNonBlocking(writeFd, true);
      native.setPipeCapacity(writeFd, PIPE_CAPACITY);
    } catch (err) {
      native.closeFd(readFd);
      native.closeFd(writeFd);
      throw err;
    }
    return new FramePipe(readFd, writeFd);
  }

  get readFd(): number {
    return this.readable.fd;
  }

  get writeFd(): number {
    return this.writable.fd;
  }

  /** Reads into `buf` from `got` on, as far as the pipe has bytes now; returns how much of `buf` is filled. */
  fill(buf: Buffer, got: number): number {
    while (got < buf.length) {
      const n = native.read(this.readFd, buf, got, buf.length - got);
      if (n < 0) break;
      if (n === 0) throw new ValueError(`queue pipe closed after ${got} of ${buf.length} bytes`, 'ERR_MP_EOF');
      got += n;
    }
    return got;
  }

  /** The header buffer, reused by the one reader of this process that holds the read lock. */
  get header(): Buffer {
    return this.#header;
  }

  /** Writes `frame` from `from` on, as far as the pipe has room now; returns the offset reached. */
  push(frame: Buffer, from: number): number {
    while (from < frame.length) {
      const n = native.write(this.writeFd, frame, from, frame.length - from);
      if (n < 0) break;
      from += n;
    }
    return from;
  }

  /** True when the pipe has room for at least one atomic write now. */
  hasRoom(): boolean {
    return native.poll(this.writeFd, true, 0);
  }

  close(): void {
    this.readable.close();
    this.writable.close();
    native.closeFd(this.readFd);
    native.closeFd(this.writeFd);
  }
}
