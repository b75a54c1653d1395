/**
 * Length-prefixed message framing over a stream (CPython's connection.py): each frame is a 4-byte big-endian
 * length and a payload. Used for the spawn payload and the parent/child control channel.
 */
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { Socket } from 'node:net';
import { ValueError } from './errors';
import { native } from './native';
import { takeBuffer } from './buffer_pool';

export const HEADER_BYTES = 4;
export const MAX_FRAME_BYTES = 0xffffffff;
/** Frames up to this size get their memory when their header arrives (see FramedSocket). */
const ASSEMBLE_MAX_BYTES = 64 << 20;

export function frame(payload: Uint8Array): Buffer {
  if (payload.length > MAX_FRAME_BYTES) throw new ValueError(`message of ${payload.length} bytes is too large to send`);
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, HEADER_BYTES);
  return out;
}

/** Reads exactly `length` bytes from a descriptor, waiting (blocking this thread) when it has none yet. */
export function readExactSync(fd: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    let n: number;
    try {
      n = fs.readSync(fd, out, got, length - got, null);
    } catch (err) {
      // Only a non-blocking POSIX descriptor says EAGAIN; Windows has no poll(2) to wait on, so it reports the error.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || native.platform === 'win32') throw err;
      native.poll(fd, false, -1);
      continue;
    }
    if (n === 0) throw new ValueError(`descriptor ${fd} closed after ${got} of ${length} bytes`, 'ERR_MP_EOF');
    got += n;
  }
  return out;
}

/** Reads one whole frame synchronously; nothing beyond it is consumed. */
export function readFrameSync(fd: number): Buffer {
  const length = readExactSync(fd, HEADER_BYTES).readUInt32BE(0);
  return readExactSync(fd, length);
}

/**
 * The memory every descriptor socket of this thread reads into (descriptorSocket): a socket's reads otherwise each
 * take 64 KiB of fresh memory that only a garbage collection frees, so a Pool worker receiving chunks took a page
 * fault per 4 KiB received (about 90 a 100k map per worker on this VM, 10-17 µs each). Reads are handled one at a
 * time on the thread's event loop, and a FramedSocket copies out what it keeps before the next.
 */
const READ_BUFFER_BYTES = 256 * 1024;
let readBuffer: Buffer | undefined;

/** Where a descriptor socket's reads go: its FramedSocket once it listens, copies of them until then. */
const readSinks = new WeakMap<Socket, { deliver?: (chunk: Buffer) => void; early: Buffer[] }>();

/**
 * A stream socket over descriptor `fd` (a child's channel) that reads into the thread's one read buffer, for a
 * FramedSocket: it emits no 'data' events.
 */
export function descriptorSocket(fd: number): Socket {
  readBuffer ??= Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  const sink: { deliver?: (chunk: Buffer) => void; early: Buffer[] } = { early: [] };
  const onread: net.OnReadOpts = { buffer: readBuffer, callback: (n: number, buf: Uint8Array) => {
    const chunk = Buffer.from(buf.buffer, buf.byteOffset, n);
    if (sink.deliver) sink.deliver(chunk);
    else sink.early.push(Buffer.from(chunk));
    return true;
  } };
  // Node reads `onread` from the options of new net.Socket() too (its types list it for connect() only).
  const socket = new net.Socket({ fd, readable: true, writable: true, onread } as net.SocketConstructorOpts);
  readSinks.set(socket, sink);
  return socket;
}

/** The memory of a frame of `length` payload bytes, the payload at offset HEADER_BYTES (a sender's alignment). */
function frameMemory(length: number): Buffer {
  return HEADER_BYTES + length <= SMALL_FRAME_BYTES ? Buffer.allocUnsafe(HEADER_BYTES + length)
    : takeBuffer(HEADER_BYTES + length); // a consumer done with it may giveBuffer() it
}
/** Frames up to this size come from Node's shared allocation pool (no system call). */
const SMALL_FRAME_BYTES = 4096;

/**
 * Frames over a stream socket, both ways. Emits 'frame' (Buffer) and 'close'.
 * Every frame is copied, once, into memory of its own at offset HEADER_BYTES (as a sender's buffer has it, so
 * numbers aligned there stay aligned, see pool_numbers.ts): what the socket read is never kept, so its reads may
 * reuse one buffer (descriptorSocket). A frame above ASSEMBLE_MAX_BYTES is kept in parts until whole, so a hostile
 * peer announcing a huge frame makes memory grow only as its bytes arrive; with `maxFrameBytes`, a header announcing
 * more closes the socket at once (emitting 'oversize' first).
 */
export class FramedSocket extends EventEmitter {
  readonly socket: Socket;
  /** Mutable: a server accepts only tiny frames until a connection has authenticated. */
  maxFrameBytes: number;
  /** A header that spans reads, and its bytes so far. */
  readonly #header = Buffer.alloc(HEADER_BYTES);
  #headerFilled = 0;
  #need = -1; // payload length of the frame being read; -1 while its header is incomplete
  /** The frame being read (payload from HEADER_BYTES), or the parts of one too large to assemble before it is whole. */
  #assembling: Buffer | undefined;
  #parts: Buffer[] | undefined;
  /** Payload bytes of the frame being read received so far. */
  #got = 0;

  constructor(socket: Socket, options: { maxFrameBytes?: number } = {}) {
    super();
    this.socket = socket;
    this.maxFrameBytes = options.maxFrameBytes ?? MAX_FRAME_BYTES;
    const sink = readSinks.get(socket);
    if (sink) {
      process.nextTick(() => { // once the caller has listened for frames
        for (const chunk of sink.early.splice(0)) this.#onData(chunk);
        sink.deliver = (chunk) => this.#onData(chunk);
      });
    } else {
      socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    }
    socket.on('close', () => this.emit('close'));
    socket.on('error', () => undefined); // a peer that vanished shows up as 'close'
  }

  /** `onWritten` runs once the frame has left this process, or with the error when the write failed (the peer is gone). */
  send(payload: Uint8Array, onWritten?: (err?: Error | null) => void): boolean {
    return this.socket.write(frame(payload), onWritten && ((err) => onWritten(err)));
  }

  /** Reads `chunk`, which is valid only during this call (it may be the thread's read buffer). */
  #onData(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.#need < 0) {
        at = this.#readHeader(chunk, at);
        continue; // the header may go on in the next read, or have been an empty frame's
      }
      if (!this.#assembling && !this.#parts) {
        if (this.#need > ASSEMBLE_MAX_BYTES && chunk.length - at < this.#need) this.#parts = [];
        else this.#assembling = frameMemory(this.#need);
      }
      const n = Math.min(chunk.length - at, this.#need - this.#got);
      if (this.#parts) this.#parts.push(Buffer.from(chunk.subarray(at, at + n)));
      else chunk.copy(this.#assembling!, HEADER_BYTES + this.#got, at, at + n);
      this.#got += n;
      at += n;
      if (this.#got === this.#need) this.#emitFrame();
    }
  }

  /** Reads the frame header from `chunk` at `at`; returns where the payload starts. */
  #readHeader(chunk: Buffer, at: number): number {
    const n = Math.min(HEADER_BYTES - this.#headerFilled, chunk.length - at);
    chunk.copy(this.#header, this.#headerFilled, at, at + n);
    this.#headerFilled += n;
    if (this.#headerFilled < HEADER_BYTES) return at + n;
    this.#headerFilled = 0;
    const need = this.#header.readUInt32BE(0);
    if (need > this.maxFrameBytes) {
      this.emit('oversize', need);
      this.socket.destroy();
      return chunk.length;
    }
    this.#need = need;
    if (need === 0) this.#emitFrame();
    return at + n;
  }

  #emitFrame(): void {
    let payload: Buffer;
    if (this.#parts) {
      payload = Buffer.concat(this.#parts, this.#got);
      this.#parts = undefined;
    } else {
      payload = (this.#assembling ?? frameMemory(0)).subarray(HEADER_BYTES);
      this.#assembling = undefined;
    }
    this.#got = 0;
    this.#need = -1;
    this.emit('frame', payload);
  }

  close(): void {
    this.socket.destroy();
  }
}
