/**
 * The Windows storage of a Queue: what FramePipe (pipe.ts) is on POSIX, on the two handles of a byte-mode named pipe
 * with a unique random name. Same contract: fill() and push() move what they can now and never block; the readiness
 * objects wait. Policy stays in queues.ts.
 *
 * The handles reach a child as CPython's popen_spawn_win32 hands them over (reduction.DupHandle): the parent
 * DuplicateHandle()s each end into the child while it is being spawned, and the handle values travel in the payload.
 * The name is only how the two ends were made; nobody opens the pipe by it afterwards.
 *
 * Windows reports no readiness for a synchronous pipe. Readers look with PeekNamedPipe: a sync wait polls it on the
 * calling thread, an async one on the wait hub's polling thread (never the event loop's, never libuv's pool). Room to write cannot be asked for at all: the write end is in PIPE_NOWAIT mode, a
 * write that finds no room writes nothing, and the writer tries again after a short pause. Both waits matter only
 * for frames larger than the pipe or a pipe left full: a get waits for its item on the `items` semaphore.
 */
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError, ValueError } from './errors';
import { native } from './native';
import type { Frame } from './pipe';
import { Lent, passedDescriptor, SpawningContext } from './reduction';
import { whenAborted } from './timeouts';
import { abortReason } from './validate';

/** The inbound buffer asked of the pipe, as the 1 MiB POSIX pipes get on Linux. */
const PIPE_CAPACITY = 1 << 20;

/** At most this many bytes move per call of fill()/push(), as in pipe.ts: the event loop is never held for long. */
const BURST_BYTES = 1 << 20;

/**
 * A frame this short goes into the pipe whole or not at all, as a POSIX write of up to PIPE_BUF bytes: a put that
 * finds too little room gives up (Full) or waits before anything of its frame is in the pipe.
 */
const ATOMIC_BYTES = 4096;

/** The longest single WriteFile. */
const WRITE_CHUNK_BYTES = 64 << 10;

/** How long a writer that found the pipe full pauses before it tries again. */
const WRITE_RETRY_MS = 1;

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Readiness of the read end: bytes are there (or every writer is gone). */
export class PipeReadable {
  readonly handle: number;

  constructor(handle: number) {
    this.handle = handle;
  }

  /** Blocks this thread; timeoutMs < 0 waits forever. True when readable. */
  waitSync(timeoutMs: number): boolean {
    return native.pipePoll(this.handle, timeoutMs);
  }

  /** Resolves true when readable, false when `timeout` passes first; rejects with AbortError on `signal`. */
  wait(timeout: number | undefined, signal: AbortSignal | undefined): Promise<boolean> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<boolean>((resolve, reject) => {
      let stopListening: (() => void) | undefined;
      const id = native.pipePollAsync(this.handle, timeout === undefined ? -1 : timeout, (err, ready) => {
        stopListening?.();
        if (err) reject(err);
        else resolve(ready);
      });
      if (signal) {
        stopListening = whenAborted(signal, () => {
          if (native.cancelWait(id)) reject(abortReason(signal));
        });
      }
    });
  }

  close(): void {}
}

/** "Readiness" of the write end: there is no such signal, so a wait is a pause before the next try. */
export class PipeWritable {

  /** Pauses this thread; false at once when no time is left (the caller gives up with Full). */
  waitSync(timeoutMs: number): boolean {
    if (timeoutMs === 0) return false;
    Atomics.wait(sleeper, 0, 0, timeoutMs < 0 ? WRITE_RETRY_MS : Math.min(timeoutMs, WRITE_RETRY_MS));
    return true;
  }

  wait(timeout: number | undefined, signal: AbortSignal | undefined): Promise<boolean> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (timeout === 0) return Promise.resolve(false);
    return new Promise<boolean>((resolve, reject) => {
      let stopListening: (() => void) | undefined;
      const timer = setTimeout(() => {
        stopListening?.();
        resolve(true);
      }, timeout === undefined ? WRITE_RETRY_MS : Math.min(timeout, WRITE_RETRY_MS));
      if (signal) {
        stopListening = whenAborted(signal, () => {
          clearTimeout(timer);
          reject(abortReason(signal));
        });
      }
    });
  }

  close(): void {}
}

/** The handle a child was passed (or a thread lent) for a pipe end. */
export function handleValue(value: unknown): number {
  const passed = passedDescriptor(value as string | Lent);
  const handle = typeof passed === 'string' ? Number(passed) : typeof passed === 'number' ? passed : NaN;
  if (!Number.isSafeInteger(handle) || handle <= 0) {
    throw new InvalidArgumentError(`not a pipe handle: ${String(value)}`);
  }
  return handle;
}

/** The two ends of a queue's pipe, as this process holds them (Windows). */
export class WinFramePipe {
  readonly readable: PipeReadable;
  readonly writable = new PipeWritable();
  readonly writeHandle: number;
  /** The pipe's buffer: what it holds at most. */
  readonly #capacity: number;
  #closed = false;

  constructor(readHandle: number, writeHandle: number) {
    for (const handle of [readHandle, writeHandle]) native.ownDescriptor(handle); // closed with this thread at last
    this.readable = new PipeReadable(readHandle);
    this.writeHandle = writeHandle;
    this.#capacity = native.pipeBufferSize(readHandle);
  }

  /**
   * A new pipe under a random name (96 bits: it never exists already). The pipe takes one client, connected at once:
   * a process that connected first anyway would make this fail (ERROR_PIPE_BUSY), never share the queue.
   */
  static create(): WinFramePipe {
    const [readHandle, writeHandle] = native.pipeCreate(
      `\\\\.\\pipe\\multiproc-q-${process.pid}-${randomBytes(12).toString('hex')}`, PIPE_CAPACITY);
    return new WinFramePipe(readHandle, writeHandle);
  }

  /** Takes over the handles a parent duplicated into this process (or another thread lent). */
  static adopt(readHandle: unknown, writeHandle: unknown): WinFramePipe {
    return new WinFramePipe(handleValue(readHandle), handleValue(writeHandle));
  }

  get readHandle(): number {
    return this.readable.handle;
  }

  /** Duplicates both ends into the child being spawned (lends them to a thread); returns what it needs. */
  duplicateInto(ctx: SpawningContext): (string | Lent)[] {
    return [this.readHandle, this.writeHandle].map((handle) => ctx.passHandle(handle));
  }

  /** Reads into `buf` from `got` on, as far as the pipe has bytes now (one burst); returns how much is filled. */
  fill(buf: Buffer, got: number): number {
    const stop = Math.min(buf.length, got + BURST_BYTES);
    while (got < stop) {
      const n = native.pipeRead(this.readHandle, buf, got, stop - got);
      if (n < 0) break;
      if (n === 0) throw new ValueError(`queue pipe closed after ${got} of ${buf.length} bytes`, 'ERR_MP_EOF');
      got += n;
    }
    return got;
  }

  /**
   * Bytes the pipe takes now: its buffer less what waits in it. Windows says how much room a pipe has nowhere
   * (FilePipeLocalInformation's WriteQuotaAvailable is not it, and Wine 8 leaves it 0), and a non-blocking write that
   * does not fit is not the same everywhere: under Wine 8 it writes nothing at all (seen on this machine: 100000
   * bytes into a 1 MiB pipe with 48576 free wrote 0, 3000000 bytes into the empty pipe wrote 0), where Windows
   * writes what fits. So writers ask first and write no more than this: with the write lock held, nobody else adds
   * bytes meanwhile, and readers only make more room.
   */
  #room(): number {
    return Math.max(0, this.#capacity - Math.max(0, native.pipeAvailable(this.readHandle)));
  }

  /** Writes `frame` from byte `from` on, as far as the pipe has room now (one burst); returns the offset reached. */
  push(frame: Frame, from: number): number {
    const room = this.#room();
    if (from === 0 && frame.length <= ATOMIC_BYTES && room < frame.length) return 0;
    const stop = from + Math.min(BURST_BYTES, room);
    let start = 0; // offset of the current chunk in the frame
    for (const chunk of frame.chunks) {
      const end = start + chunk.length;
      while (from < end) {
        if (from >= stop) return from;
        const length = Math.min(end, stop, from + WRITE_CHUNK_BYTES) - from;
        const n = native.pipeWrite(this.writeHandle, chunk, from - start, length);
        if (n < 0) return from;
        from += n;
      }
      start = end;
    }
    return from;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const handle of [this.readHandle, this.writeHandle]) native.revokeDescriptor(handle); // no thread adopts them now
    try {
      native.closeHandle(this.readHandle);
    } finally {
      native.closeHandle(this.writeHandle);
    }
  }
}
