/**
 * What a Connection (connection.ts) moves its bytes through: non-blocking reads and writes that say "not now"
 * instead of waiting, and separate waits for readiness, in a Sync form (blocks this thread) and an async one (the
 * event loop, or the wait hub on Windows: never a libuv pool thread). Three kinds:
 *
 * - FdTransport (POSIX): a socket pair's end (duplex Pipe), a pipe's end (one-way Pipe), or a connected Unix or
 *   TCP socket (Listener/Client), on its raw descriptor, as pipe.ts does for queues.
 * - WinPipeTransport (Windows): the ends of one or two byte-mode named pipes made by the addon (Pipe).
 * - SocketTransport (Windows Listener/Client): a net.Socket on a named pipe or TCP. Node reads it for us, so it has
 *   only the async waits.
 */
import type { Socket } from 'node:net';
import { NotImplementedError } from './errors';
import { native, NativeFdWatcher } from './native';
import { PipeReadable, PipeWritable } from './pipe_win';
import { whenReady } from './readiness';
import { Lent, SpawningContext } from './reduction';
import { abortReason } from './validate';

export interface Transport {
  readonly readable: boolean;
  readonly writable: boolean;
  /** One read: bytes read, 0 at end of file, -1 when there are none now. */
  read(buf: Buffer, offset: number, length: number): number;
  /** One write: bytes written, -1 when there is no room now. Throws (EPIPE, ECONNRESET) when the peer is gone. */
  write(chunk: Uint8Array, offset: number, length: number): number;
  /** Writes `chunks` taken end to end from byte `from` on, as far as there is room now: bytes written, or -1. */
  writeChunks(chunks: Uint8Array[], from: number): number;
  /** Blocks this thread until readable (or end of file); timeoutMs < 0 waits forever. */
  waitReadableSync(timeoutMs: number): boolean;
  /** Resolves true when readable, false when `timeout` passes; rejects with AbortError on `signal`. */
  waitReadable(timeout: number | undefined, signal: AbortSignal | undefined): Promise<boolean>;
  waitWritableSync(timeoutMs: number): boolean;
  waitWritable(timeout: number | undefined, signal: AbortSignal | undefined): Promise<boolean>;
  /** What a child being spawned (a thread) needs to rebuild this transport. */
  pass(ctx: SpawningContext): (number | string | Lent)[];
  close(): void;
}

/** writeChunks for transports without a gathering write: chunk after chunk, until one finds no room. */
function writeEach(transport: Transport, chunks: Uint8Array[], from: number): number {
  let start = 0;
  let written = 0;
  for (const chunk of chunks) {
    const end = start + chunk.length;
    if (from + written < end) {
      const offset = from + written - start;
      const n = transport.write(chunk, offset, chunk.length - offset);
      if (n < 0) return written === 0 ? -1 : written;
      written += n;
      if (from + written < end) return written;
    }
    start = end;
  }
  return written;
}

const READABLE = 1;
const WRITABLE = 2;

/** One event-loop watcher per descriptor (libuv allows no more), serving waits for reading and for writing. */
class FdEvents {
  readonly fd: number;
  #watcher: NativeFdWatcher | undefined;
  readonly #waiters = new Map<(err: Error | null) => void, number>();
  #watching = 0;

  constructor(fd: number) {
    this.fd = fd;
  }

  readonly #onReady = (err: Error | null, events: number): void => {
    for (const [waiter, wanted] of [...this.#waiters]) if (err || events & wanted) waiter(err);
  };

  wait(events: number, timeout: number | undefined, signal: AbortSignal | undefined): Promise<boolean> {
    return whenReady((ready) => {
      // An error from the watcher (the descriptor hung up) is for the read or write that follows to report.
      const waiter = (): void => ready(null);
      this.#waiters.set(waiter, events);
      this.#update();
      return () => {
        this.#waiters.delete(waiter);
        this.#update();
      };
    }, timeout, signal);
  }

  /** Watches for what the waiters want, and only while someone waits (an idle watcher keeps no event loop alive). */
  #update(): void {
    let wanted = 0;
    for (const events of this.#waiters.values()) wanted |= events;
    if (wanted === this.#watching) return;
    this.#watching = wanted;
    if (wanted === 0) {
      this.#watcher?.stop();
      return;
    }
    this.#watcher ??= new native.FdWatcher(this.fd, false);
    this.#watcher.start(this.#onReady, wanted);
  }

  close(): void {
    this.#watcher?.close(); // stops the event loop's watch first: the number may be reused once closed
    this.#watcher = undefined;
  }
}

/** POSIX: one descriptor both ways (a socket), or a pipe's read end or write end. */
export class FdTransport implements Transport {
  readonly readable: boolean;
  readonly writable: boolean;
  readonly #events: FdEvents;
  #closed = false;

  constructor(fd: number, readable: boolean, writable: boolean) {
    native.ownDescriptor(fd); // closed with this thread if nothing closes it first
    native.setNonBlocking(fd, true);
    this.#events = new FdEvents(fd);
    this.readable = readable;
    this.writable = writable;
  }

  get fd(): number {
    return this.#events.fd;
  }

  read(buf: Buffer, offset: number, length: number): number {
    return native.read(this.fd, buf, offset, length);
  }

  write(chunk: Uint8Array, offset: number, length: number): number {
    return native.write(this.fd, chunk, offset, length);
  }

  writeChunks(chunks: Uint8Array[], from: number): number {
    // One writev(): a message's header and body leave together, and the reader wakes once for both.
    return chunks.length === 1 ? native.write(this.fd, chunks[0], from, chunks[0].length - from) : native.writev(this.fd, chunks, from);
  }

  waitReadableSync(timeoutMs: number): boolean {
    return native.poll(this.fd, false, timeoutMs);
  }

  waitReadable(timeout: number | undefined, signal: AbortSignal | undefined): Promise<boolean> {
    return this.#events.wait(READABLE, timeout, signal);
  }

  waitWritableSync(timeoutMs: number): boolean {
    return native.poll(this.fd, true, timeoutMs);
  }

  waitWritable(timeout: number | undefined, signal: AbortSignal | undefined): Promise<boolean> {
    return this.#events.wait(WRITABLE, timeout, signal);
  }

  pass(ctx: SpawningContext): (number | Lent)[] {
    return [ctx.passFd(this.fd)];
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#events.close();
    native.revokeDescriptor(this.fd); // no thread can adopt it from now on
    native.closeFd(this.fd);
  }
}

/** The longest single WriteFile, as pipe_win.ts. */
const WIN_WRITE_CHUNK_BYTES = 64 << 10;

/**
 * Windows: the read end of one named pipe and the write end of another (a duplex Pipe), or just one of them. The
 * write end is PIPE_NOWAIT: a write that does not fit writes nothing, and the writer pauses before it tries again
 * (pipe_win.ts); chunks of at most 64 KiB leave room to fit once the reader has drained some.
 */
export class WinPipeTransport implements Transport {
  readonly readable: boolean;
  readonly writable: boolean;
  readonly #reader: PipeReadable | null;
  readonly #writeHandle: number;
  readonly #writer = new PipeWritable();
  #closed = false;

  /** `readHandle`, `writeHandle`: 0 for none. */
  constructor(readHandle: number, writeHandle: number) {
    for (const handle of [readHandle, writeHandle]) if (handle) native.ownDescriptor(handle);
    this.#reader = readHandle ? new PipeReadable(readHandle) : null;
    this.#writeHandle = writeHandle;
    this.readable = readHandle !== 0;
    this.writable = writeHandle !== 0;
  }

  read(buf: Buffer, offset: number, length: number): number {
    return native.pipeRead(this.#reader!.handle, buf, offset, length);
  }

  write(chunk: Uint8Array, offset: number, length: number): number {
    return native.pipeWrite(this.#writeHandle, chunk, offset, Math.min(length, WIN_WRITE_CHUNK_BYTES));
  }

  writeChunks(chunks: Uint8Array[], from: number): number {
    return writeEach(this, chunks, from);
  }

  waitReadableSync(timeoutMs: number): boolean {
    return this.#reader!.waitSync(timeoutMs);
  }

  waitReadable(timeout: number | undefined, signal: AbortSignal | undefined): Promise<boolean> {
    return this.#reader!.wait(timeout, signal);
  }

  waitWritableSync(timeoutMs: number): boolean {
    return this.#writer.waitSync(timeoutMs);
  }

  waitWritable(timeout: number | undefined, signal: AbortSignal | undefined): Promise<boolean> {
    return this.#writer.wait(timeout, signal);
  }

  pass(ctx: SpawningContext): (string | Lent)[] {
    return [this.#reader?.handle ?? 0, this.#writeHandle].map((handle) => (handle ? ctx.passHandle(handle) : '0'));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const handle of [this.#reader?.handle ?? 0, this.#writeHandle]) {
      if (!handle) continue;
      native.revokeDescriptor(handle);
      native.closeHandle(handle);
    }
  }
}

/**
 * Windows Listener/Client connections: a net.Socket, whose bytes Node reads for us into a list taken from by read().
 * Writes always "fit" (the socket buffers them). No Sync waits: the bytes only arrive through the event loop.
 */
export class SocketTransport implements Transport {
  readonly readable = true;
  readonly writable = true;
  readonly #socket: Socket;
  readonly #chunks: Buffer[] = [];
  #ended = false;
  #error: Error | null = null;
  readonly #waiters = new Set<() => void>();

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.unref(); // like a descriptor's watcher: only a pending wait keeps the event loop alive
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#wake();
    });
    socket.on('end', () => this.#onEnd());
    socket.on('close', () => this.#onEnd());
    socket.on('error', (err) => {
      this.#error = err;
      this.#onEnd();
    });
  }

  #onEnd(): void {
    this.#ended = true;
    this.#wake();
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  read(buf: Buffer, offset: number, length: number): number {
    if (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      return this.#ended ? 0 : -1;
    }
    const chunk = this.#chunks[0];
    const n = chunk.copy(buf, offset, 0, Math.min(length, chunk.length));
    if (n === chunk.length) this.#chunks.shift();
    else this.#chunks[0] = chunk.subarray(n);
    return n;
  }

  write(chunk: Uint8Array, offset: number, length: number): number {
    if (this.#ended || this.#socket.destroyed) {
      throw Object.assign(new Error('write EPIPE: the connection is closed'), { code: 'EPIPE', syscall: 'write' });
    }
    this.#socket.write(Buffer.from(chunk.buffer, chunk.byteOffset + offset, length));
    return length;
  }

  writeChunks(chunks: Uint8Array[], from: number): number {
    return writeEach(this, chunks, from);
  }

  waitReadableSync(timeoutMs: number): boolean {
    if (this.#chunks.length || this.#ended) return true;
    if (timeoutMs === 0) return false;
    throw new NotImplementedError('a Listener/Client connection on Windows has no Sync waits: use the async form');
  }

  waitReadable(timeout: number | undefined, signal: AbortSignal | undefined): Promise<boolean> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (this.#chunks.length || this.#ended) return Promise.resolve(true);
    return whenReady((ready) => {
      const waiter = (): void => ready(null);
      this.#waiters.add(waiter);
      this.#socket.ref();
      return () => {
        this.#waiters.delete(waiter);
        if (this.#waiters.size === 0) this.#socket.unref();
      };
    }, timeout, signal);
  }

  waitWritableSync(): boolean {
    return true;
  }

  waitWritable(): Promise<boolean> {
    return Promise.resolve(true);
  }

  pass(): never {
    throw new NotImplementedError('a Listener/Client connection cannot be handed to a child');
  }

  close(): void {
    this.#socket.destroy();
    this.#onEnd();
  }
}
