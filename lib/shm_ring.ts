/**
 * A byte stream in shared memory between two processes: one ring per direction, each with one producer and one
 * consumer. A local Manager connection carries its frames here instead of through its socket
 * (manager_channel.ts): a write is a copy and a store, and a peer that spins for the next frame sees it by reading
 * memory, with no system call on either side. The socket stays, as the doorbell (one byte wakes a peer that is not
 * spinning) and as the sign of the peer's death (end of file).
 *
 * A peer is not trusted: it can write any bytes anywhere in the segment. Every position read from shared memory is
 * checked against the ring's size (a peer that lies is a RingCorrupt, and the connection closes), bytes are copied
 * out before anyone parses them, and nothing in the segment names code or memory.
 *
 * Layout of one direction (32-bit words; the producer's and the consumer's words on separate cache lines):
 *   word 0  TAIL   bytes ever written, modulo 2^32 (the producer's)
 *   word 16 HEAD   bytes ever read, modulo 2^32 (the consumer's)
 *   word 17 STATE  the consumer's: ASLEEP (a producer must ring), AWAKE (it will look at the ring again before it
 *                  sleeps), RUNG (a bell is on its way); a producer moves ASLEEP to RUNG and rings once
 *   word 18 ROOM   the producer's flag "I wait for room"; the consumer that frees some clears it and rings back
 * then DATA_BYTES of data.
 */

const TAIL = 0;
const HEAD = 16;
const STATE = 17;
const ROOM = 18;
const HEADER_BYTES = 128;
/** Bytes of data per direction: frames above it stream through in pieces. */
const DATA_BYTES = 128 << 10;
const DIRECTION_BYTES = HEADER_BYTES + DATA_BYTES;
/** The segment: the client's direction, then the server's. */
const SEGMENT_BYTES = 2 * DIRECTION_BYTES;
export { SEGMENT_BYTES };

const ASLEEP = 0;
const AWAKE = 1;
const RUNG = 2;

/** The peer wrote positions that no honest peer can: the connection is closed. */
export class RingCorrupt extends Error {}

/** One direction of the segment, as seen by its producer or its consumer. */
class Ring {
  readonly #words: Int32Array;
  readonly #data: Buffer;
  /** This side's own position (it alone writes it, so it is never read back from shared memory). */
  #at = 0;

  constructor(buffer: ArrayBuffer, offset: number) {
    this.#words = new Int32Array(buffer, offset, HEADER_BYTES / 4);
    this.#data = Buffer.from(buffer, offset + HEADER_BYTES, DATA_BYTES);
  }

  protected get words(): Int32Array {
    return this.#words;
  }

  /** Bytes between the two positions, checked: the peer's position must lie within DATA_BYTES of ours. */
  protected span(from: number, to: number): number {
    const n = (to - from) >>> 0;
    if (n > DATA_BYTES) throw new RingCorrupt('a Manager connection\'s shared ring holds impossible positions');
    return n;
  }

  protected get at(): number {
    return this.#at;
  }

  /** Copies between `chunk` and the ring at this side's position, wrapping; then moves the position (published by the caller). */
  protected copy(chunk: Uint8Array, offset: number, length: number, into: boolean): number {
    const data = this.#data;
    const start = this.#at % DATA_BYTES;
    const first = Math.min(length, DATA_BYTES - start);
    if (into) {
      data.set(chunk.subarray(offset, offset + first), start);
      if (first < length) data.set(chunk.subarray(offset + first, offset + length), 0);
    } else {
      chunk.set(data.subarray(start, start + first), offset);
      if (first < length) chunk.set(data.subarray(0, length - first), offset + first);
    }
    this.#at = (this.#at + length) >>> 0;
    return this.#at;
  }
}

export class RingWriter extends Ring {
  /** Copies as much of `chunk[offset, offset + length)` as there is room for; the bytes copied. */
  write(chunk: Uint8Array, offset: number, length: number): number {
    const room = DATA_BYTES - this.span(Atomics.load(this.words, HEAD) >>> 0, this.at);
    const n = Math.min(room, length);
    if (n > 0) Atomics.store(this.words, TAIL, this.copy(chunk, offset, n, true) | 0);
    return n;
  }

  /** After writing: whether the consumer needs a bell (it was asleep, and no bell is on its way yet). */
  ring(): boolean {
    return Atomics.compareExchange(this.words, STATE, ASLEEP, RUNG) === ASLEEP;
  }

  /**
   * The ring is full: asks the consumer to ring back once it frees room. False when room appeared meanwhile (the
   * flag is withdrawn and the caller writes on): it is set before looking again, so no free is missed.
   */
  waitForRoom(): boolean {
    Atomics.store(this.words, ROOM, 1);
    if (this.span(Atomics.load(this.words, HEAD) >>> 0, this.at) < DATA_BYTES) {
      Atomics.store(this.words, ROOM, 0);
      return false;
    }
    return true;
  }
}

export class RingReader extends Ring {
  /** Bytes waiting. */
  available(): number {
    return this.span(this.at, Atomics.load(this.words, TAIL) >>> 0);
  }

  /** Copies up to `length` waiting bytes into `into` at `offset`; the bytes copied. */
  read(into: Uint8Array, offset: number, length: number): number {
    const n = Math.min(this.available(), length);
    if (n > 0) Atomics.store(this.words, HEAD, this.copy(into, offset, n, false) | 0);
    return n;
  }

  /** After reading: whether the producer waited for room and needs a bell. */
  freed(): boolean {
    return Atomics.compareExchange(this.words, ROOM, 1, 0) === 1;
  }

  /** This side will look at the ring again before it sleeps (producers need not ring). */
  awake(): void {
    Atomics.store(this.words, STATE, AWAKE);
  }

  /**
   * This side will next learn of bytes from a bell: set before it looks at the ring a last time, so a producer that
   * wrote after that look sees it asleep and rings.
   */
  asleep(): void {
    Atomics.store(this.words, STATE, ASLEEP);
  }
}

/** The two ends a side of a connection uses over the segment. */
export function ringEnds(buffer: ArrayBuffer, server: boolean): { reader: RingReader; writer: RingWriter } {
  if (buffer.byteLength < SEGMENT_BYTES) throw new RingCorrupt('a Manager connection\'s shared ring is too small');
  const mine = server ? DIRECTION_BYTES : 0;
  const theirs = server ? 0 : DIRECTION_BYTES;
  return { reader: new RingReader(buffer, theirs), writer: new RingWriter(buffer, mine) };
}
