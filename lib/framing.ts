/**
 * Length-prefixed message framing over a stream (CPython's connection.py): each frame is a 4-byte big-endian
 * length and a payload. Used for the spawn payload and the parent/child control channel.
 */
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import type { Socket } from 'node:net';
import { ValueError } from './errors';
import { native } from './native';

export const HEADER_BYTES = 4;
export const MAX_FRAME_BYTES = 0xffffffff;

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
 * Bytes are appended to a list and joined only when a whole frame is present.
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
      if (this.#buffered < this.#need) return;
      const payload = this.#take(this.#need);
      this.#need = -1;
      this.emit('frame', payload);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
