/**
 * A pipe shared by many processes and read and written in whole frames: the storage of a Queue (the half of
 * CPython's connection.py that queues.py uses). Policy — who may read or write when, counting, bounds — lives in
 * queues.ts; this module only moves bytes and waits for descriptors.
 *
 * A frame longer than BULK_FRAME_BYTES puts only its first FRAME_HEAD_BYTES into the pipe and the rest into a
 * socket pair beside it (the bulk socket), so that a consumer copying one large frame out and a producer copying
 * the next one in do not take turns on the pipe's single lock. Readers and writers hold the queue's locks across
 * both parts, so bodies come out of the socket in the order their heads come out of the pipe.
 *
 * Every descriptor is non-blocking for every process that holds it (the flag belongs to the shared open file), so a
 * read or write never parks a thread: when the pipe has no bytes (or no room), the async forms wait for readiness
 * through the event loop (uv_poll, no thread at all) and the Sync forms with poll(2).
 */
import * as fs from 'node:fs';
import * as v8 from 'node:v8';
import { MAX_FRAME_BYTES } from './framing';
import { HostObjectHooks, OwnedDeserializer, readValue } from './deserialize';
import { MultiprocError, PicklingError, UnpicklingError, ValueError } from './errors';
import { native, NativeFdWatcher } from './native';
import { whenReady } from './readiness';
import { rebuildValue, reduceValue } from './reduction';

/**
 * Linux lets a pipe hold up to /proc/sys/fs/pipe-max-size (1 MiB by default) instead of 64 KiB: more items fit
 * before a put has to wait for a consumer, and large items move in fewer wake-ups.
 */
const PIPE_CAPACITY = 1 << 20;

/**
 * At most this many bytes move per call of fill()/push(): against a peer as fast as we are, the pipe would never
 * say "no more", and a 64 MiB frame would hold the event loop for the whole copy. Past it, the caller waits for
 * readiness, which the event loop reports at once, after its timers.
 */
const BURST_BYTES = 1 << 20;

/**
 * A frame up to this long goes into the pipe with one write or not at all (POSIX's PIPE_BUF is at least this; Linux's
 * is 4096), so no other writer's bytes can come between its own, and a nonblocking write never stops half-way.
 */
export const PIPE_ATOMIC_BYTES = 512;

/** Frame header: payload length, then the length of its v8 part (the rest is out-of-band binary data). */
export const FRAME_HEADER_BYTES = 8;

/**
 * Every frame is at least this long: a smaller one is padded. A reader can then always take this many bytes in one
 * read(2) without touching the next frame, and a small item (most are) costs one read instead of two.
 */
export const FRAME_HEAD_BYTES = 64;

/**
 * Typed arrays and Buffers at least this large travel out of band: written to the pipe straight from the caller's
 * memory and received as views of the frame, instead of being copied into (and out of) the v8 stream. This keeps
 * a 64 MiB Buffer from holding the event loop for a whole serializer copy.
 */
const OUT_OF_BAND_BYTES = 64 << 10;
const VIEW_TYPES: (Function & { BYTES_PER_ELEMENT?: number })[] = [ // eslint-disable-line @typescript-eslint/ban-types
  Buffer, Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array,
  Float64Array, BigInt64Array, BigUint64Array, DataView,
];
const IN_BAND = 0;
const ALIGN = 8; // out-of-band data starts 8-aligned in the frame, so views of any element size need no copy
const padding = Buffer.alloc(ALIGN);
const aligned = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

/** v8.serialize, except that large binary views are left out of the stream and listed in `chunks`. */
class FrameSerializer extends v8.DefaultSerializer {
  /** The frame as written: header and v8 part, then each out-of-band view after its padding. */
  readonly chunks: Uint8Array[] = [];
  #outOfBand = 0;

  _writeHostObject(view: ArrayBufferView): void {
    const type = VIEW_TYPES.indexOf(view.constructor);
    if (view.byteLength < OUT_OF_BAND_BYTES || type < 0) {
      this.writeUint32(IN_BAND);
      (v8.DefaultSerializer.prototype as unknown as HostObjectHooks)._writeHostObject.call(this, view);
      return;
    }
    this.writeUint32(type + 1);
    this.writeUint32(this.#outOfBand);
    this.writeUint32(view.byteLength);
    this.chunks.push(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    this.#outOfBand += aligned(view.byteLength);
  }

  /** Serializes `value` into frame chunks; returns their total length. */
  frame(value: unknown): number {
    this.writeRawBytes(padding); // room for the header, filled in below
    this.writeHeader();
    this.writeValue(value);
    const released = this.releaseBuffer();
    const inBand = released.length - FRAME_HEADER_BYTES;
    const views = this.chunks.splice(0);
    // With views to follow, the head is padded in place (one write less per frame than a separate padding chunk).
    const head = views.length ? Buffer.concat([released], FRAME_HEADER_BYTES + aligned(inBand)) : released;
    this.chunks.push(head);
    for (const [i, view] of views.entries()) {
      this.chunks.push(view);
      const pad = aligned(view.byteLength) - view.byteLength;
      if (pad && i < views.length - 1) this.chunks.push(padding.subarray(0, pad));
    }
    const length = this.chunks.reduce((sum, chunk) => sum + chunk.length, 0) - FRAME_HEADER_BYTES;
    if (length > MAX_FRAME_BYTES) throw new ValueError(`message of ${length} bytes is too large to send`);
    head.writeUInt32BE(length, 0);
    head.writeUInt32BE(inBand, 4);
    return length + FRAME_HEADER_BYTES;
  }
}

/**
 * Reads a frame's payload: the v8 part, with the out-of-band views after it. Each view's kind, offset and length
 * come from the peer and are checked against the frame (views come in the order they were written, each 8-aligned
 * right after the previous one, inside the payload): a frame that lies is an UnpicklingError, never a view of other
 * memory. A view is of the payload itself only when the payload owns its whole buffer (a large frame's); else it
 * is copied, as in-band views are (deserialize.ts).
 */
class FrameDeserializer extends OwnedDeserializer {
  readonly #payload: Buffer;
  readonly #outOfBandStart: number;
  /** Where the next out-of-band view must start, from #outOfBandStart. */
  #outOfBandNext = 0;

  constructor(payload: Buffer, inBand: number) {
    super(payload.subarray(0, inBand));
    this.#payload = payload;
    this.#outOfBandStart = aligned(inBand);
  }

  override _readHostObject(): unknown {
    const kind = this.readUint32();
    if (kind === IN_BAND) return super._readHostObject();
    const ctor = VIEW_TYPES[kind - 1] as (new (buffer: ArrayBufferLike, offset: number, length: number) => ArrayBufferView) | undefined;
    const offset = this.readUint32();
    const byteLength = this.readUint32();
    const size = (ctor as { BYTES_PER_ELEMENT?: number } | undefined)?.BYTES_PER_ELEMENT ?? 1;
    const start = this.#outOfBandStart + offset;
    if (!ctor || offset !== this.#outOfBandNext || byteLength % size !== 0 || start + byteLength > this.#payload.length) {
      throw new UnpicklingError(`a frame of ${this.#payload.length} bytes lists ${byteLength} bytes of kind ${kind} ` +
        `at offset ${offset} out of band, which it does not hold`);
    }
    this.#outOfBandNext = offset + aligned(byteLength);
    const payload = this.#payload;
    const whole = payload.byteOffset === 0 && payload.buffer.byteLength === payload.length;
    if (whole && start % size === 0) {
      return ctor === Buffer ? Buffer.from(payload.buffer, start, byteLength) : new ctor(payload.buffer, start, byteLength / size);
    }
    const copy = Buffer.allocUnsafeSlow(byteLength); // its own memory, never Node's pool
    payload.copy(copy, 0, start, start + byteLength);
    return ctor === Buffer ? copy : new ctor(copy.buffer, copy.byteOffset, byteLength / size);
  }
}

/** A frame ready to be written: its chunks in order and their total length. */
export interface Frame {
  chunks: Uint8Array[];
  length: number;
}

/**
 * Reduces and serializes `value` into one frame. Throws (PicklingError, RuntimeError) before anything is written
 * anywhere. Out-of-band views are the caller's memory until the put resolves, as with stream.write().
 */
export function encodeFrame(value: unknown): Frame {
  if (typeof value === 'number') return numberFrame(value);
  const reduced = reduceValue(value, 'item');
  const serializer = new FrameSerializer();
  try {
    const length = serializer.frame(reduced);
    if (length >= FRAME_HEAD_BYTES) return { length, chunks: serializer.chunks };
    const head = paddedHead();
    head.set(serializer.chunks[0]);
    return { length: FRAME_HEAD_BYTES, chunks: [head] };
  } catch (err) {
    if (err instanceof MultiprocError) throw err;
    throw new PicklingError(`cannot send this value to another process: ${(err as Error).message}`);
  }
}

/**
 * A number, the commonest small message, skips v8's serializer (most of the cost of a small put and get): its
 * frame says NUMBER_FRAME where the v8 length would be (no real one is that long) and carries a float64.
 */
export const NUMBER_FRAME = 0xffffffff;

/** A buffer of FRAME_HEAD_BYTES from Node's pool, zeroed: no stale memory of this process crosses to another. */
function paddedHead(): Buffer {
  return Buffer.allocUnsafe(FRAME_HEAD_BYTES).fill(0);
}

function numberFrame(value: number): Frame {
  const frame = paddedHead();
  writeNumber(frame, value);
  return { chunks: [frame], length: frame.length };
}

function writeNumber(frame: Buffer, value: number): void {
  frame.writeUInt32BE(8, 0);
  frame.writeUInt32BE(NUMBER_FRAME, 4);
  frame.writeDoubleLE(value, FRAME_HEADER_BYTES);
}

const scratchNumber = numberFrame(0);

/**
 * The frame of a number, in one buffer shared by every call: valid until the next call, so only for a put that
 * writes it at once or not at all.
 */
export function encodeNumberNow(value: number): Frame {
  writeNumber(scratchNumber.chunks[0] as Buffer, value);
  return scratchNumber;
}

/**
 * Rebuilds the value of a frame whose payload lies within its FRAME_HEAD_BYTES `head`. Keeps no reference to
 * `head`, which the caller may reuse at once.
 */
export function decodeSmallFrame(head: Buffer): unknown {
  // Decoding copies out everything it makes (strings, views), so the payload can stay in `head`.
  return decodePayload(head.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + head.readUInt32BE(0)), head.readUInt32BE(4));
}

/** A frame as one buffer (a Manager client sends its kernel queue's frames to the server as bytes). */
export function frameBytes(frame: Frame): Uint8Array {
  return frame.chunks.length === 1 ? frame.chunks[0] : Buffer.concat(frame.chunks, frame.length);
}

/** Whether `bytes` are exactly one frame as encodeFrame makes it: what a Manager server checks before writing them. */
export function isWholeFrame(bytes: Uint8Array): boolean {
  if (bytes.length < FRAME_HEAD_BYTES) return false;
  const length = new DataView(bytes.buffer, bytes.byteOffset, FRAME_HEADER_BYTES).getUint32(0) + FRAME_HEADER_BYTES;
  return bytes.length === Math.max(length, FRAME_HEAD_BYTES);
}

/**
 * Rebuilds a value from a frame's payload and the length of its v8 part (the header's second field). A payload
 * that does not decode is an UnpicklingError. `rebuild` false: markers are left as they arrived, for a caller that
 * does not trust the peer to name code (connection.ts refuses them).
 */
export function decodePayload(payload: Buffer, inBand: number, rebuild = true): unknown {
  if (inBand === NUMBER_FRAME) {
    if (payload.length !== 8) throw new UnpicklingError(`a number frame of ${payload.length} bytes instead of 8`);
    return payload.readDoubleLE(0);
  }
  if (inBand > payload.length) {
    throw new UnpicklingError(`a frame of ${payload.length} bytes says its v8 part is ${inBand} bytes long`);
  }
  const value = readValue(new FrameDeserializer(payload, inBand));
  return rebuild ? rebuildValue(value) : value;
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
    return whenReady((ready) => {
      this.#watcher ??= new native.FdWatcher(this.fd, this.forWrite);
      if (this.#waiters.size === 0) this.#watcher.start(this.#onReady);
      this.#waiters.add(ready);
      return () => {
        this.#waiters.delete(ready);
        if (this.#waiters.size === 0) this.#watcher!.stop(); // a stopped watcher keeps no event loop alive
      };
    }, timeout, signal);
  }

  close(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}

/**
 * A frame longer than this sends what follows its FRAME_HEAD_BYTES through the queue's bulk socket instead of the
 * pipe. A pipe has one lock for its reader and its writer, held for a whole copy, so a consumer copying a large
 * frame out and a producer copying the next one in take turns; a socket's sender and receiver copy at the same
 * time. Small frames stay in the pipe, which moves them faster.
 */
export const BULK_FRAME_BYTES = 16 << 10;

/** The descriptors of a queue's pipe and bulk socket, as this process holds them. */
export class FramePipe {
  readonly readable: Readiness;
  readonly writable: Readiness;
  /** Where the bytes of large frames past their head go; null without a bulk socket (a Manager's named pipe). */
  readonly bulkReadable: Readiness | null;
  readonly bulkWritable: Readiness | null;
  #closed = false;

  /** `fds`: the pipe's read and write ends, then (optionally) the bulk socket's receiving and sending ends. */
  constructor(fds: readonly number[]) {
    for (const fd of fds) native.ownDescriptor(fd); // closed with this thread if nothing closes them first
    this.readable = new Readiness(fds[0], false);
    this.writable = new Readiness(fds[1], true);
    const bulk = fds.length >= 4;
    this.bulkReadable = bulk ? new Readiness(fds[2], false) : null;
    this.bulkWritable = bulk ? new Readiness(fds[3], true) : null;
  }

  static create(): FramePipe {
    return new FramePipe(pipeAndSocket(false));
  }

  /**
   * Opens both ends of a named pipe made with native.mkfifo (a Manager's kernel queue): non-blocking, so opening
   * the write end needs a reader, which the creator keeps. Throws unless `path` is a named pipe.
   */
  static openFifo(path: string): FramePipe {
    const flags = fs.constants.O_NONBLOCK | fs.constants.O_NOFOLLOW;
    const readFd = fs.openSync(path, fs.constants.O_RDONLY | flags);
    let writeFd: number | undefined;
    try {
      if (!fs.fstatSync(readFd).isFIFO()) throw new ValueError(`${path} is not a named pipe`, 'ERR_MP_NOT_A_PIPE');
      writeFd = fs.openSync(path, fs.constants.O_WRONLY | flags);
      native.setPipeCapacity(writeFd, PIPE_CAPACITY);
    } catch (err) {
      fs.closeSync(readFd);
      if (writeFd !== undefined) fs.closeSync(writeFd);
      throw err;
    }
    return new FramePipe([readFd, writeFd]); // no bulk socket: every party opens the pipe by its name alone
  }

  /** The descriptors, in the order the constructor takes them. */
  get fds(): number[] {
    const all = [this.readable, this.writable, this.bulkReadable, this.bulkWritable];
    return all.flatMap((ready) => (ready ? [ready.fd] : []));
  }

  /** Whether the bytes of a frame of `frameBytes` bytes past its head come through the bulk socket. */
  isBulk(frameBytes: number): boolean {
    return this.bulkWritable !== null && frameBytes > BULK_FRAME_BYTES;
  }

  /**
   * Reads into `buf` from `got` on, as far as the pipe (`bulk`: the bulk socket) has bytes now (one burst);
   * returns how much is filled.
   */
  fill(buf: Buffer, got: number, bulk = false): number {
    const fd = bulk ? this.bulkReadable!.fd : this.readable.fd;
    const stop = Math.min(buf.length, got + BURST_BYTES);
    while (got < stop) {
      const n = native.read(fd, buf, got, stop - got);
      if (n < 0) break;
      if (n === 0) throw new ValueError(`queue pipe closed after ${got} of ${buf.length} bytes`, 'ERR_MP_EOF');
      got += n;
    }
    return got;
  }

  /** What a writer of `frame` that reached byte `at` waits for. */
  writableAt(frame: Frame, at: number): Readiness {
    return this.isBulk(frame.length) && at >= FRAME_HEAD_BYTES ? this.bulkWritable! : this.writable;
  }

  /** Writes `frame` from byte `from` on, as far as there is room now (one burst); returns the offset reached. */
  push(frame: Frame, from: number): number {
    const stop = from + BURST_BYTES;
    let fd = this.writable.fd;
    if (this.isBulk(frame.length)) {
      if (from < FRAME_HEAD_BYTES) {
        // The head alone into the pipe: one atomic write, so it is there whole or not at all.
        const head = frameHead(frame);
        if (native.write(fd, head, 0, head.length) < 0) return from;
        from = head.length;
      }
      fd = this.bulkWritable!.fd;
    }
    if (frame.chunks.length > 1) {
      // All the chunks in one writev(): one system call instead of one a chunk.
      while (from < frame.length && from < stop) {
        const n = native.writev(fd, frame.chunks, from);
        if (n < 0) break;
        from += n;
      }
      return from;
    }
    const chunk = frame.chunks[0];
    while (from < frame.length && from < stop) {
      const n = native.write(fd, chunk, from, Math.min(frame.length, stop) - from);
      if (n < 0) break;
      from += n;
    }
    return from;
  }

  /** Closes the descriptors, once (a closed queue's and a collected one's paths may both come here). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeWatched([this.readable, this.writable, this.bulkReadable, this.bulkWritable]);
  }
}

/** Bytes the bulk socket may hold (the system may grant less: net.core.wmem_max). */
const BULK_CAPACITY = 1 << 20;

/** Closes the descriptors behind `watched` (none: skipped), each after its event-loop watch. */
export function closeWatched(watched: (Readiness | null)[]): void {
  for (const ready of watched) {
    if (!ready) continue;
    ready.close(); // stops the event loop's watch first: the number may be reused once closed
    native.revokeDescriptor(ready.fd); // no thread can adopt it from now on
    native.closeFd(ready.fd);
  }
}

/**
 * A queue's descriptors, all non-blocking: a pipe of PIPE_CAPACITY (read end, write end), then a socket pair of
 * BULK_CAPACITY (receiving end, sending end; `packets`: SOCK_SEQPACKET). None is left open if one fails.
 */
export function pipeAndSocket(packets: boolean): number[] {
  const fds = native.pipe();
  try {
    fds.push(...native.socketPair(BULK_CAPACITY, packets));
    for (const fd of fds) native.setNonBlocking(fd, true);
    native.setPipeCapacity(fds[1], PIPE_CAPACITY);
  } catch (err) {
    for (const fd of fds) native.closeFd(fd);
    throw err;
  }
  return fds;
}

/** The first FRAME_HEAD_BYTES of a frame of several chunks, in one buffer. */
function frameHead(frame: Frame): Buffer {
  const head = Buffer.allocUnsafe(FRAME_HEAD_BYTES);
  let at = 0;
  for (const chunk of frame.chunks) {
    const part = chunk.subarray(0, FRAME_HEAD_BYTES - at);
    head.set(part, at);
    at += part.length;
    if (at === FRAME_HEAD_BYTES) break;
  }
  return head;
}
