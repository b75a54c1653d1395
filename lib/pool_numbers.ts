/**
 * Chunks of numbers between a Pool and its workers, without v8.serialize: the doubles are written straight into the
 * outgoing frame (no serializer buffer to grow, no copy into it) and read where they arrived (a view of the received
 * frame, no copy out). The common case of many small tasks; everything else travels as pool_protocol.ts says.
 * Run messages of strings are written the same way, into memory reused from buffer_pool.ts: a v8.Serializer takes
 * fresh memory for each message, 0.1–0.5 ms of page faults for a 64 KiB string on this VM.
 *
 * Layout of the payload: byte 0 NUMBERS_TAG (v8.serialize's output starts with 0xff, so never with it), byte 1 the
 * kind (a run message of one argument per task, a run message of one task's arguments — apply's —, or results),
 * bytes 4–7 the task function's number (little-endian), the doubles from byte DATA_OFFSET. With the 4-byte frame
 * header in front, the doubles start at byte 16 of the sender's buffer, and FramedSocket assembles a large frame at
 * the same offset, so both sides see them 8-byte aligned. In a run message of strings each string is its encoding
 * (byte), its length in bytes (uint32 LE) and its bytes: ASCII as such, anything else as UTF-16LE, which carries
 * every string exactly (UTF-8 would change a lone surrogate).
 *
 * A single task's frame is a few dozen bytes: a v8.Serializer for it cost about 18 µs a message (on this VM), more
 * than the rest of the task's trip in the parent.
 */
import { UnpicklingError, ValueError } from './errors';
import { HEADER_BYTES, MAX_FRAME_BYTES } from './framing';
import { deserialize } from './deserialize';
import { giveBuffer, takeBuffer } from './buffer_pool';

const NUMBERS_TAG = 1;
const KIND_RUN = 0;
const KIND_RESULT = 1;
const KIND_RUN_ARGS = 2;
const KIND_RUN_STRINGS = 3;
const KIND_RUN_ARGS_STRINGS = 4;
const DATA_OFFSET = 12;
const STRING_HEAD_BYTES = 5;
const ASCII = 0;
const UTF16 = 1;
/**
 * Frames up to this size come from Node's shared allocation pool (8-byte aligned, no system call): a pool call's
 * frames are all made when it is submitted, and twenty thousand pending apply() calls must not hold 64 KiB each.
 */
const SMALL_FRAME_BYTES = 2048;

type FrameKind = typeof KIND_RUN | typeof KIND_RESULT | typeof KIND_RUN_ARGS | typeof KIND_RUN_STRINGS
  | typeof KIND_RUN_ARGS_STRINGS;

/** Writes the payload's head (after the frame header) for a frame of `kind` and payload `length`. */
function writeHead(frame: Buffer, length: number, kind: FrameKind, fn: number): void {
  frame.writeUInt32BE(length, 0);
  frame.writeUInt32LE(0, HEADER_BYTES);
  frame[HEADER_BYTES] = NUMBERS_TAG;
  frame[HEADER_BYTES + 1] = kind;
  frame.writeUInt32LE(fn, HEADER_BYTES + 4);
}

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
  writeHead(frame, length, fn === null ? KIND_RESULT : oneTask ? KIND_RUN_ARGS : KIND_RUN, fn ?? 0);
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

/**
 * The run message of `strings` for function `fn`: one task per string, or with `oneTask` the arguments of a single
 * task. Written into memory from buffer_pool.ts (the receiver gives it back).
 */
export function stringsRunFrame(fn: number, strings: readonly string[], oneTask: boolean): Buffer {
  // Plain indexed loops: a fresh process runs this interpreted, where an iterator or a callback allocates per string.
  const count = strings.length;
  const ascii = new Uint8Array(count); // every character ASCII: its UTF-8 form is one byte a character
  let length = DATA_OFFSET;
  for (let i = 0; i < count; i++) {
    const s = strings[i];
    ascii[i] = Buffer.byteLength(s, 'utf8') === s.length ? 1 : 0;
    length += STRING_HEAD_BYTES + (ascii[i] ? s.length : 2 * s.length);
  }
  if (length > MAX_FRAME_BYTES) throw new ValueError(`message of ${length} bytes is too large to send`);
  const frame = takeBuffer(HEADER_BYTES + length);
  writeHead(frame, length, oneTask ? KIND_RUN_ARGS_STRINGS : KIND_RUN_STRINGS, fn);
  let at = HEADER_BYTES + DATA_OFFSET;
  for (let i = 0; i < count; i++) {
    const s = strings[i];
    const n = ascii[i] ? s.length : 2 * s.length;
    frame[at] = ascii[i] ? ASCII : UTF16;
    frame.writeUInt32LE(n, at + 1);
    frame.write(s, at + STRING_HEAD_BYTES, n, ascii[i] ? 'latin1' : 'utf16le');
    at += STRING_HEAD_BYTES + n;
  }
  return frame;
}

/** The strings of a received run message of strings; its memory is given back once they are read. */
function stringsOf(payload: Buffer): string[] {
  const strings: string[] = [];
  let at = DATA_OFFSET;
  while (at < payload.length) {
    const encoding = payload[at];
    const n = at + STRING_HEAD_BYTES <= payload.length ? payload.readUInt32LE(at + 1) : -1;
    at += STRING_HEAD_BYTES;
    if (n < 0 || n > payload.length - at || (encoding !== ASCII && encoding !== UTF16) || (encoding === UTF16 && n % 2 !== 0)) {
      throw new UnpicklingError('a run message of strings is damaged');
    }
    strings.push(payload.toString(encoding === ASCII ? 'latin1' : 'utf16le', at, at + n));
    at += n;
  }
  giveBuffer(payload);
  return strings;
}

/** A received pool message: a numbers or strings frame as the message it stands for, anything else deserialized. */
export function decodeMessage(payload: Buffer): unknown {
  if (payload.length < DATA_OFFSET || payload[0] !== NUMBERS_TAG) return deserialize(payload);
  const kind = payload[1];
  const fn = payload.readUInt32LE(4);
  if (kind === KIND_RUN_STRINGS || kind === KIND_RUN_ARGS_STRINGS) {
    const strings = stringsOf(payload);
    return { op: 'run', fn, star: kind === KIND_RUN_ARGS_STRINGS, plain: true,
      values: kind === KIND_RUN_ARGS_STRINGS ? [strings] : strings };
  }
  const values = numbersOf(payload);
  if (kind === KIND_RESULT) return { ok: true, plain: true, values };
  return kind === KIND_RUN_ARGS ? { op: 'run', fn, star: true, plain: true, values: [values] }
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
