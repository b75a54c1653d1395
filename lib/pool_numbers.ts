/**
 * Chunks of numbers between a Pool and its workers, without v8.serialize: the doubles are written straight into the
 * outgoing frame (no serializer buffer to grow, no copy into it) and read where they arrived (a view of the received
 * frame, no copy out). The common case of many small tasks; everything else travels as pool_protocol.ts says.
 *
 * Layout of the payload: byte 0 NUMBERS_TAG (v8.serialize's output starts with 0xff, so never with it), byte 1 the
 * kind (a run message of one argument per task, a run message of one task's arguments — apply's —, or results),
 * bytes 4–7 the task function's number (little-endian), the doubles from byte DATA_OFFSET. With the 4-byte frame
 * header in front, the doubles start at byte 16 of the sender's buffer, and FramedSocket assembles a large frame at
 * the same offset, so both sides see them 8-byte aligned.
 *
 * A single task's frame is a few dozen bytes: a v8.Serializer for it cost about 18 µs a message (on this VM), more
 * than the rest of the task's trip in the parent.
 */
import { ValueError } from './errors';
import { HEADER_BYTES, MAX_FRAME_BYTES } from './framing';
import { deserialize } from './deserialize';
import { giveBuffer, takeBuffer } from './buffer_pool';

const NUMBERS_TAG = 1;
const KIND_RUN = 0;
const KIND_RESULT = 1;
const KIND_RUN_ARGS = 2;
const DATA_OFFSET = 12;
/**
 * Frames up to this size come from Node's shared allocation pool (8-byte aligned, no system call): a pool call's
 * frames are all made when it is submitted, and twenty thousand pending apply() calls must not hold 64 KiB each.
 */
const SMALL_FRAME_BYTES = 2048;

type FrameKind = typeof KIND_RUN | typeof KIND_RESULT | typeof KIND_RUN_ARGS;

/** A frame ready to send once `values` are written. */
export interface NumbersFrame {
  frame: Buffer;
  values: Float64Array;
}

/**
 * A frame for `count` numbers: task arguments for function `fn` (one per task, or with `oneTask` the arguments of a
 * single task), or (fn null) a chunk's results.
 */
export function numbersFrame(fn: number | null, count: number, oneTask = false): NumbersFrame {
  const length = DATA_OFFSET + 8 * count;
  if (length > MAX_FRAME_BYTES) throw new ValueError(`message of ${length} bytes is too large to send`);
  const small: Buffer | undefined = length <= SMALL_FRAME_BYTES ? Buffer.allocUnsafe(HEADER_BYTES + length) : undefined;
  // Large ones (and a small one Node did not align) are taken at offset 0 of their own memory: give them back
  // (giveBuffer) once written.
  const frame: Buffer = small !== undefined && small.byteOffset % 8 === 0 ? small : takeBuffer(HEADER_BYTES + length);
  frame.writeUInt32BE(length, 0);
  frame.writeUInt32LE(0, HEADER_BYTES);
  frame[HEADER_BYTES] = NUMBERS_TAG;
  const kind: FrameKind = fn === null ? KIND_RESULT : oneTask ? KIND_RUN_ARGS : KIND_RUN;
  frame[HEADER_BYTES + 1] = kind;
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
  if (payload[1] === KIND_RESULT) return { ok: true, plain: true, values };
  const fn = payload.readUInt32LE(4);
  return payload[1] === KIND_RUN_ARGS ? { op: 'run', fn, star: true, plain: true, values: [values] }
    : { op: 'run', fn, star: false, plain: true, values };
}

/**
 * The run message for `items[start..end)` when they are all numbers, written straight into its frame as they are
 * checked (one pass: on a fresh pool every loop over the items is slow); undefined at the first that is not. With
 * `oneTask` they are the arguments of a single task.
 */
export function numbersRunFrame(fn: number, items: ArrayLike<unknown>, start: number, end: number,
                                oneTask = false): Buffer | undefined {
  const { frame, values } = numbersFrame(fn, end - start, oneTask);
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

/** The run message of one task called with `args`, when they are all numbers (apply's); undefined otherwise. */
export function numbersArgsFrame(fn: number, args: unknown): Buffer | undefined {
  return Array.isArray(args) ? numbersRunFrame(fn, args, 0, args.length, true) : undefined;
}
