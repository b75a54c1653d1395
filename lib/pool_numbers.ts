/**
 * Chunks of numbers between a Pool and its workers, without v8.serialize: the doubles are written straight into the
 * outgoing frame (no serializer buffer to grow, no copy into it) and read where they arrived (a view of the received
 * frame, no copy out). The common case of many small tasks; everything else travels as pool_protocol.ts says.
 *
 * Layout of the payload: byte 0 NUMBERS_TAG (v8.serialize's output starts with 0xff, so never with it), byte 1 the
 * kind (a run message or a result), bytes 4–7 the task function's number (little-endian), the doubles from byte
 * DATA_OFFSET. With the 4-byte frame header in front, the doubles start at byte 16 of the sender's buffer, and
 * FramedSocket assembles a large frame at the same offset, so both sides see them 8-byte aligned.
 */
import { ValueError } from './errors';
import { HEADER_BYTES, MAX_FRAME_BYTES } from './framing';
import { deserialize } from './deserialize';
import { giveBuffer, takeBuffer } from './buffer_pool';

const NUMBERS_TAG = 1;
const KIND_RUN = 0;
const KIND_RESULT = 1;
const DATA_OFFSET = 12;

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
  frame.writeUInt32LE(fn ?? 0, HEADER_BYTES + 4);
  return { frame, values: new Float64Array(frame.buffer, frame.byteOffset + HEADER_BYTES + DATA_OFFSET, count) };
}

/** The numbers of a received frame: a view when they are aligned (FramedSocket's large frames), else a copy. */
function numbersOf(payload: Buffer): Float64Array {
  const count = (payload.length - DATA_OFFSET) / 8;
  const start = payload.byteOffset + DATA_OFFSET;
  if (start % 8 === 0) return new Float64Array(payload.buffer, start, count);
  const copy = new Float64Array(count);
  new Uint8Array(copy.buffer).set(payload.subarray(DATA_OFFSET));
  return copy;
}

/** A received pool message: a numbers frame as the run or result message it stands for, anything else deserialized. */
export function decodeMessage(payload: Buffer): unknown {
  if (payload.length < DATA_OFFSET || payload[0] !== NUMBERS_TAG) return deserialize(payload);
  const values = numbersOf(payload);
  return payload[1] === KIND_RESULT ? { ok: true, plain: true, values }
    : { op: 'run', fn: payload.readUInt32LE(4), star: false, plain: true, values };
}

/**
 * The run message for `items[start..end)` when they are all numbers, written straight into its frame as they are
 * checked (one pass: on a fresh pool every loop over the items is slow); undefined at the first that is not.
 */
export function numbersRunFrame(fn: number, items: ArrayLike<unknown>, start: number, end: number): Buffer | undefined {
  const { frame, values } = numbersFrame(fn, end - start);
  for (let i = start; i < end; i++) {
    const item = items[i];
    if (typeof item !== 'number') {
      giveBuffer(frame);
      return undefined;
    }
    values[i - start] = item;
  }
  return frame;
}
