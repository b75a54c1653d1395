/**
 * Length-prefixed message framing over a stream (CPython's connection.py): each frame is a 4-byte big-endian
 * length and a payload. Used for the spawn payload and the parent/child control channel.
 */
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import type { Socket } from 'node:net';
import { ValueError } from './errors';
import { native } from './native';
import { takeBuffer } from './buffer_pool';

export const HEADER_BYTES = 4;
export const MAX_FRAME_BYTES = 0xffffffff;
/** Frames up to this size that span reads get their memory when their header arrives (see FramedSocket). */
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
 * Frames over a stream socket, both ways. Emits 'frame' (Buffer) and 'close'.
 * A frame that arrives whole in one read is a view of it; a frame that spans reads is copied, as the reads come, into
 * memory of its own at offset HEADER_BYTES (as a sender's buffer has it, so numbers aligned there stay aligned,
 * see pool_numbers.ts): one copy, never a join of everything buffered.
 * With `maxFrameBytes`, a header announcing more closes the socket at once (emitting 'oversize' first), so a
 * hostile peer cannot make us buffer more than that.
 */
export class FramedSocket extends EventEmitter {
  readonly socket: Socket;
  /** Mutable: a server accepts only tiny frames until a connection has authenticated. */
  maxFrameBytes: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #need = -1; // payload length of the frame being assembled; -1 while its header is incomplete
  /** A frame that spans reads, copied in as they come (payload from HEADER_BYTES), and the bytes filled so far. */
  #assembling: Buffer | undefined;
  #filled = 0;

  constructor(socket: Socket, options: { maxFrameBytes?: number } = {}) {
    super();
    this.socket = socket;
    this.maxFrameBytes = options.maxFrameBytes ?? MAX_FRAME_BYTES;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('close', () => this.emit('close'));
    socket.on('error', () => undefined); // a peer that vanished shows up as 'close'
  }

  /** `onWritten` runs once the frame has left this process, or with the error when the write failed (the peer is gone). */
  send(payload: Uint8Array, onWritten?: (err?: Error | null) => void): boolean {
    return this.socket.write(frame(payload), onWritten && ((err) => onWritten(err)));
  }

  #take(n: number): Buffer {
    const all = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks, this.#buffered);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.#chunks = rest.length ? [rest] : [];
    this.#buffered = rest.length;
    return out;
  }

  #onData(chunk: Buffer): void {
    if (this.#assembling) {
      const frame = this.#assembling;
      const n = Math.min(chunk.length, frame.length - this.#filled);
      chunk.copy(frame, this.#filled, 0, n);
      this.#filled += n;
      if (this.#filled < frame.length) return;
      this.#assembling = undefined;
      this.#need = -1;
      this.emit('frame', frame.subarray(HEADER_BYTES));
      if (n === chunk.length) return;
      chunk = chunk.subarray(n);
    }
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    for (;;) {
      if (this.#need < 0) {
        if (this.#buffered < HEADER_BYTES) return;
        this.#need = this.#take(HEADER_BYTES).readUInt32BE(0);
        if (this.#need > this.maxFrameBytes) {
          this.emit('oversize', this.#need);
          this.#chunks = [];
          this.#buffered = 0;
          this.socket.destroy();
          return;
        }
      }
      if (this.#buffered < this.#need) {
        if (this.#need > ASSEMBLE_MAX_BYTES) return; // joined once whole: memory grows only as bytes arrive
        const frame = takeBuffer(HEADER_BYTES + this.#need); // a consumer done with it may giveBuffer() it
        this.#filled = HEADER_BYTES;
        for (const part of this.#chunks) this.#filled += part.copy(frame, this.#filled);
        this.#chunks = [];
        this.#buffered = 0;
        this.#assembling = frame;
        return;
      }
      const payload = this.#take(this.#need);
      this.#need = -1;
      this.emit('frame', payload);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
