/**
 * Chunks of numbers between a Pool and its workers, without v8.serialize: the doubles are written straight into the
 * outgoing frame (no serializer buffer to grow, no copy into it) and read where they arrived (a view of the received
 * frame, no copy out). The common case of many small tasks; everything else travels as pool_protocol.ts says.
 *
 * Layout of the payload: byte 0 NUMBERS_TAG (v8.serialize's output starts with 0xff, so never with it), byte 1 the
 * kind (a run message or a result), byte 2 the width of a number (8: doubles, 4: 32-bit integers), bytes 4–7 the
 * task function's number (little-endian), the numbers from byte DATA_OFFSET. With the 4-byte frame header in front,
 * they start at byte 16 of the sender's buffer, and FramedSocket assembles a large frame at the same offset, so
 * both sides see them 8-byte aligned.
 *
 * Numbers that are all 32-bit integers (indices, counts: the common case) travel as such, in half the bytes: the
 * socket, not the work, is what a map of quick tasks waits for.
 */
import { ValueError } from './errors';
import { HEADER_BYTES, MAX_FRAME_BYTES } from './framing';
import { deserialize } from './deserialize';
import { takeBuffer } from './buffer_pool';

const NUMBERS_TAG = 1;
const KIND_RUN = 0;
const KIND_RESULT = 1;
const DATA_OFFSET = 12;
const WIDTH_OFFSET = 2;

/** A frame ready to send once `values` are written. */
export interface NumbersFrame {
  frame: Buffer;
  values: Float64Array;
}

/** A frame for `count` numbers: task arguments for function `fn`, or (fn null) a chunk's results. */
export function numbersFrame(fn: number | null, count: number): NumbersFrame {
  const length = DATA_OFFSET + 8 * count;
  if (length > MAX_FRAME_BYTES) throw new ValueError(`message of ${length} bytes is too large to send`);
  const frame = takeBuffer(HEADER_BYTES + length); // offset 0: aligned; give it back (giveBuffer) once written
  frame.writeUInt32BE(length, 0);
  frame.writeUInt32LE(0, HEADER_BYTES);
  frame[HEADER_BYTES] = NUMBERS_TAG;
  frame[HEADER_BYTES + 1] = fn === null ? KIND_RESULT : KIND_RUN;
  frame[HEADER_BYTES + WIDTH_OFFSET] = 8;
  frame.writeUInt32LE(fn ?? 0, HEADER_BYTES + 4);
  return { frame, values: new Float64Array(frame.buffer, frame.byteOffset + HEADER_BYTES + DATA_OFFSET, count) };
}

/** Whether `x` survives a trip through an Int32Array (-0 does not). */
function isInt32(x: number): boolean {
  return (x | 0) === x && (x !== 0 || 1 / x > 0);
}

/**
 * The frame to send for a NumbersFrame whose values are written: when they are all 32-bit integers, the same memory
 * rewritten in place as 32-bit integers (integer i's bytes lie before double i's, which is read first) and cut to
 * its new length; else the frame as it is.
 */
export function packedFrame({ frame, values }: NumbersFrame): Buffer {
  const count = values.length;
  for (let i = 0; i < count; i++) if (!isInt32(values[i])) return frame;
  const ints = new Int32Array(values.buffer, values.byteOffset, count);
  for (let i = 0; i < count; i++) ints[i] = values[i];
  const length = DATA_OFFSET + 4 * count;
  frame.writeUInt32BE(length, 0);
  frame[HEADER_BYTES + WIDTH_OFFSET] = 4;
  return frame.subarray(0, HEADER_BYTES + length);
}

/** The numbers of a received frame: a view when they are aligned (FramedSocket's large frames), else a copy. */
function numbersOf(payload: Buffer): Float64Array | Int32Array {
  const Type = payload[WIDTH_OFFSET] === 4 ? Int32Array : Float64Array;
  const count = (payload.length - DATA_OFFSET) / Type.BYTES_PER_ELEMENT;
  const start = payload.byteOffset + DATA_OFFSET;
  if (start % Type.BYTES_PER_ELEMENT === 0) return new Type(payload.buffer as ArrayBuffer, start, count);
  const copy = new Type(count);
  new Uint8Array(copy.buffer).set(payload.subarray(DATA_OFFSET));
  return copy;
}

/** Whether `values` are a numbers frame's (to be given back once read: see buffer_pool.ts). */
export function isNumbers(values: unknown): values is Float64Array | Int32Array {
  return values instanceof Float64Array || values instanceof Int32Array;
}

/** A received pool message: a numbers frame as the run or result message it stands for, anything else deserialized. */
export function decodeMessage(payload: Buffer): unknown {
  if (payload.length < DATA_OFFSET || payload[0] !== NUMBERS_TAG) return deserialize(payload);
  const values = numbersOf(payload);
  return payload[1] === KIND_RESULT ? { ok: true, plain: true, values }
    : { op: 'run', fn: payload.readUInt32LE(4), star: false, plain: true, values };
}

/** The run message for `items[start..end)`, all numbers: written straight into its frame. */
export function numbersRunFrame(fn: number, items: ArrayLike<unknown>, start: number, end: number): Buffer {
  const numbers = numbersFrame(fn, end - start);
  const { values } = numbers;
  for (let i = start; i < end; i++) values[i - start] = items[i] as number;
  return packedFrame(numbers);
}
