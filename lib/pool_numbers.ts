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
 * the same offset, so both sides see them 8-byte aligned. A run message of strings has from DATA_OFFSET its encoding
 * (uint32 LE: ASCII when every character is, else UTF-16LE, which carries every string exactly — UTF-8 would change
 * a lone surrogate), the count of strings (uint32 LE), each one's length in characters (uint32 LE), then the
 * characters of all of them, one after the other.
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

/** Where a strings frame's table of string lengths starts (after its encoding byte, 3 zero bytes and its count). */
const STRINGS_TABLE_OFFSET = DATA_OFFSET + 8;
/**
 * Strings are written (and read) JOIN_BATCH at a time: joined into one string, written in one call (read in one, then
 * cut apart with String.prototype.slice). A call into Node per string cost ~0.1 µs, and one join of a whole chunk
 * made a string of hundreds of KiB, fresh memory each time (page faults): 100k short strings took 9 ms either way,
 * 2.5 ms in batches. A batch of more than JOIN_MAX_CHARS characters (V8's longest string is 2^29 - 24) goes one string
 * at a time.
 */
const JOIN_BATCH = 2048;
const JOIN_MAX_CHARS = 1 << 28;

const isAscii = (s: string): boolean => Buffer.byteLength(s, 'utf8') === s.length;

/**
 * The run message of `strings` for function `fn`: one task per string, or with `oneTask` the arguments of a single
 * task. Written into memory from buffer_pool.ts (the receiver gives it back).
 */
export function stringsRunFrame(fn: number, strings: readonly string[], oneTask: boolean): Buffer {
  // Plain indexed loops: a fresh process runs this interpreted, where an iterator or a callback allocates per string.
  const count = strings.length;
  /** Each batch joined, or undefined for a batch too long to join. */
  const texts: (string | undefined)[] = [];
  let chars = 0;
  let ascii = true;
  for (let start = 0; start < count; start += JOIN_BATCH) {
    const batch = strings.slice(start, start + JOIN_BATCH);
    let batchChars = 0;
    for (let i = 0; i < batch.length; i++) batchChars += batch[i].length;
    chars += batchChars;
    const text = batchChars <= JOIN_MAX_CHARS ? batch.join('') : undefined;
    texts.push(text);
    if (ascii) ascii = text !== undefined ? isAscii(text) : batch.every(isAscii);
  }
  const textAt = STRINGS_TABLE_OFFSET + 4 * count;
  const length = textAt + (ascii ? chars : 2 * chars);
  if (length > MAX_FRAME_BYTES) throw new ValueError(`message of ${length} bytes is too large to send`);
  const frame = takeBuffer(HEADER_BYTES + length); // at offset 0: the table is 4-byte aligned
  writeHead(frame, length, oneTask ? KIND_RUN_ARGS_STRINGS : KIND_RUN_STRINGS, fn);
  frame.writeUInt32LE(ascii ? ASCII : UTF16, HEADER_BYTES + DATA_OFFSET);
  frame.writeUInt32LE(count, HEADER_BYTES + DATA_OFFSET + 4);
  const lengths = new Uint32Array(frame.buffer, frame.byteOffset + HEADER_BYTES + STRINGS_TABLE_OFFSET, count);
  for (let i = 0; i < count; i++) lengths[i] = strings[i].length;
  const encoding = ascii ? 'latin1' : 'utf16le';
  let at = HEADER_BYTES + textAt;
  for (let b = 0; b < texts.length; b++) {
    const text = texts[b];
    if (text !== undefined) at += frame.write(text, at, encoding);
    else for (let i = b * JOIN_BATCH; i < Math.min(count, (b + 1) * JOIN_BATCH); i++) at += frame.write(strings[i], at, encoding);
  }
  return frame;
}

/** The strings of a received run message of strings; its memory is given back once they are read. */
function stringsOf(payload: Buffer): string[] {
  const encoding = payload.length >= STRINGS_TABLE_OFFSET ? payload.readUInt32LE(DATA_OFFSET) : -1;
  const count = encoding < 0 ? 0 : payload.readUInt32LE(DATA_OFFSET + 4);
  if ((encoding !== ASCII && encoding !== UTF16) || count > (payload.length - STRINGS_TABLE_OFFSET) / 4) {
    throw new UnpicklingError('a run message of strings is damaged');
  }
  const textAt = STRINGS_TABLE_OFFSET + 4 * count;
  const tableStart = payload.byteOffset + STRINGS_TABLE_OFFSET;
  const lengths = tableStart % 4 === 0 ? new Uint32Array(payload.buffer, tableStart, count)
    : new Uint32Array(new Uint8Array(payload.subarray(STRINGS_TABLE_OFFSET, textAt)).buffer);
  const unit = encoding === UTF16 ? 2 : 1;
  let chars = 0;
  for (let i = 0; i < count; i++) chars += lengths[i];
  if (textAt + unit * chars !== payload.length) throw new UnpicklingError('a run message of strings is damaged');
  const decoding = encoding === ASCII ? 'latin1' : 'utf16le';
  const strings: string[] = [];
  let at = textAt;
  for (let start = 0; start < count; start += JOIN_BATCH) {
    const end = Math.min(count, start + JOIN_BATCH);
    let batchChars = 0;
    for (let i = start; i < end; i++) batchChars += lengths[i];
    if (batchChars <= JOIN_MAX_CHARS) {
      const text = payload.toString(decoding, at, at += unit * batchChars);
      for (let i = start, from = 0; i < end; i++) strings.push(text.slice(from, from += lengths[i]));
    } else {
      for (let i = start; i < end; i++) strings.push(payload.toString(decoding, at, at += unit * lengths[i]));
    }
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
