/**
 * A compact encoding for the commonest Manager messages: a request or reply whose values are numbers, strings,
 * booleans, null, undefined, or arrays of those (d.get('key'), d.set('key', 1), its reply 1). v8.serialize and
 * deserialize cost 8 to 11 µs of CPU per round trip on the bench VM, more than the rest of a call's own work
 * (docs/manager-calls.md); this encoding costs about one. Everything else stays v8-serialized.
 *
 * A compact frame starts with COMPACT (a v8-serialized one starts with its version tag, 0xFF), then the message's
 * values, each a tag byte and its bytes. Decoding checks every length against the frame: bytes that lie are an
 * UnpicklingError, like any undecodable frame. Nothing in a frame names code.
 */
import { UnpicklingError } from './errors';

const COMPACT = 0x01;
const UNDEFINED = 0;
const NULL = 1;
const FALSE = 2;
const TRUE = 3;
const NUMBER = 4;
const STRING = 5;
const ARRAY = 6;

/** Longer strings, and larger arrays, go through v8.serialize (they are not the common small call). */
const MAX_STRING_LENGTH = 1024;
const MAX_ARRAY_LENGTH = 64;
const MAX_VALUES = 16;
/** A message that may not fit in this many bytes goes through v8.serialize too. */
const SCRATCH_BYTES = 8 << 10;
let scratch: Buffer | undefined;
/** A surrogate that is not half of a pair: it has no UTF-8 form (v8.serialize keeps it, so its string goes that way). */
const LONE_SURROGATE = /\p{Cs}/u;

/** `message` in the compact encoding, or null when it holds anything else (then v8.serialize it). */
export function encodeCompact(message: readonly unknown[]): Buffer | null {
  if (message.length > MAX_VALUES) return null;
  const out = (scratch ??= Buffer.allocUnsafeSlow(SCRATCH_BYTES));
  out[0] = COMPACT;
  let at = 1;
  for (let i = 0; i < message.length; i++) {
    const value = message[i];
    if (Array.isArray(value)) {
      // Only plain dense arrays: holes and extra properties are what v8.serialize keeps and this would not.
      if (value.length > MAX_ARRAY_LENGTH || Object.getPrototypeOf(value) !== Array.prototype ||
          Object.keys(value).length !== value.length) return null;
      out[at++] = ARRAY;
      out.writeUInt32LE(value.length, at);
      at += 4;
      for (let j = 0; j < value.length; j++) {
        at = writePrimitive(out, at, value[j]);
        if (at < 0) return null;
      }
    } else {
      at = writePrimitive(out, at, value);
      if (at < 0) return null;
    }
  }
  return Buffer.from(out.subarray(0, at));
}

/** Writes one primitive at `at`; returns where the next starts, or -1 for a value this encoding does not hold. */
function writePrimitive(out: Buffer, at: number, value: unknown): number {
  if (at + 5 + 3 * MAX_STRING_LENGTH > SCRATCH_BYTES) return -1; // room for the largest primitive (3 bytes a unit)
  switch (typeof value) {
    case 'number':
      out[at] = NUMBER;
      out.writeDoubleLE(value, at + 1);
      return at + 9;
    case 'string': {
      if (value.length > MAX_STRING_LENGTH || LONE_SURROGATE.test(value)) return -1;
      out[at] = STRING;
      const bytes = out.write(value, at + 5, 'utf8');
      out.writeUInt32LE(bytes, at + 1);
      return at + 5 + bytes;
    }
    case 'boolean':
      out[at] = value ? TRUE : FALSE;
      return at + 1;
    case 'undefined':
      out[at] = UNDEFINED;
      return at + 1;
    default:
      if (value !== null) return -1;
      out[at] = NULL;
      return at + 1;
  }
}

/** Whether `frame` is in the compact encoding. */
export function isCompact(frame: Uint8Array): boolean {
  return frame.length > 0 && frame[0] === COMPACT;
}

/** The message of a compact frame; an UnpicklingError if its bytes do not hold one. */
export function decodeCompact(frame: Buffer): unknown[] {
  const message: unknown[] = [];
  const reader = { at: 1 };
  while (reader.at < frame.length) {
    if (message.length === MAX_VALUES) throw malformed(frame);
    if (frame[reader.at] === ARRAY) {
      const length = readLength(frame, reader.at + 1);
      if (length > MAX_ARRAY_LENGTH) throw malformed(frame);
      reader.at += 5;
      const array = new Array(length);
      for (let j = 0; j < length; j++) array[j] = readPrimitive(frame, reader);
      message.push(array);
    } else {
      message.push(readPrimitive(frame, reader));
    }
  }
  return message;
}

function readPrimitive(frame: Buffer, reader: { at: number }): unknown {
  const at = reader.at;
  if (at >= frame.length) throw malformed(frame);
  switch (frame[at]) {
    case NUMBER:
      if (at + 9 > frame.length) throw malformed(frame);
      reader.at = at + 9;
      return frame.readDoubleLE(at + 1);
    case STRING: {
      const bytes = readLength(frame, at + 1);
      if (at + 5 + bytes > frame.length) throw malformed(frame);
      reader.at = at + 5 + bytes;
      return frame.toString('utf8', at + 5, at + 5 + bytes);
    }
    case TRUE:
    case FALSE:
      reader.at = at + 1;
      return frame[at] === TRUE;
    case UNDEFINED:
      reader.at = at + 1;
      return undefined;
    case NULL:
      reader.at = at + 1;
      return null;
    default:
      throw malformed(frame);
  }
}

function readLength(frame: Buffer, at: number): number {
  if (at + 4 > frame.length) throw malformed(frame);
  return frame.readUInt32LE(at);
}

function malformed(frame: Buffer): UnpicklingError {
  return new UnpicklingError(`a compact Manager frame of ${frame.length} bytes does not decode`);
}
