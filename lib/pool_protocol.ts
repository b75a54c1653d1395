/**
 * What a Pool and its workers say to each other (one channel per worker): task functions by reference, chunks of
 * arguments, results. Plain values skip the reduce pass; all-number values travel as one Float64Array.
 */
import * as v8 from 'node:v8';
import { ValueError, type ErrorInfo } from './errors';
import { type FramedSocket, HEADER_BYTES, MAX_FRAME_BYTES } from './framing';
import { reduceValue } from './reduction';
import type { ResolvedRef } from './reference';
import type { Root } from './travel';
import type { CancelReason } from './pool_task';
import { numbersArgsFrame, numbersRunFrame, stringsRunFrame } from './pool_numbers';

/** Task arguments or results: `plain` when they skipped the reduce pass (see encode), so need no rebuild. */
export interface Values { plain: boolean; values: ArrayLike<unknown> }
/** `cancel` names a run message by its number on the channel (the first is 0). */
export type ToWorker = { op: 'def'; fn: number; ref: ResolvedRef } | ({ op: 'run'; fn: number; star: boolean } & Values) |
  { op: 'cancel'; seq: number; reason: CancelReason } | { op: 'stop' };
/** `overMemory`: the worker's RSS, sent before a chunk's reply when above maxMemoryPerChild. */
export type FromWorker = { ready: true } | { initError: ErrorInfo } | ({ ok: true } & Values) |
  { ok: false; error: ErrorInfo } | { overMemory: number } |
  { error: ErrorInfo }; // the last: the bootstrap could not start the worker at all

function isPrimitive(value: unknown): boolean {
  return value === null || (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol');
}

/**
 * Whether values need no reduce pass: true for primitives and arrays of primitives, the common case of
 * many small tasks, whose per-message cost then is v8.serialize alone. Anything else takes the general path.
 */
function isPlain(values: unknown[]): boolean {
  for (const value of values) {
    if (isPrimitive(value)) continue;
    if (!Array.isArray(value)) return false;
    for (const inner of value) if (!isPrimitive(inner)) return false;
  }
  return true;
}

/**
 * Serializes a message whose `values` may need the reduce pass (which refuses Locks and the like). Run messages of
 * all numbers do not come here: they travel as numbers frames (pool_numbers.ts, see runFrame).
 */
export function encode<M extends Values>(message: M, root: Root): Buffer {
  const values = message.values as unknown[];
  message.plain = isPlain(values);
  if (!message.plain) message.values = reduceValue(values, root) as unknown[];
  return serializeFrame(message);
}

/** A run message made when its chunk is sent (see runFrame). */
export type LazyFrame = () => Buffer;

/**
 * The run message for `items[start..end)`: all numbers go as one numbers frame, the doubles written straight into
 * it, and so do the arguments of a single task when they are all numbers (apply's). Items (or, with `star`,
 * argument lists) of other primitives — strings above all — cannot fail to serialize: their message is made when the
 * chunk is sent, from a copy taken now. Made at submission, the frames of thousands of calls queued at once each took
 * fresh memory (0.5 ms for a 64 KiB string on this VM). Anything else goes through encode now, so that a value that
 * cannot travel fails the call before anything runs. `root(i)` names the chunk's item i in errors.
 */
export function runFrame(fn: number, star: boolean, items: unknown[], start: number, end: number,
                         root: Root): Buffer | LazyFrame {
  const numbers = !star ? numbersRunFrame(fn, items, start, end)
    : end - start === 1 ? numbersArgsFrame(fn, items[start]) : undefined;
  if (numbers) return numbers;
  const values = items.slice(start, end);
  const primitives = primitivesOnly(values, star);
  if (!primitives) return encode({ op: 'run', fn, star, plain: false, values } satisfies ToWorker, root);
  const { copies, strings } = primitives;
  if (strings && !star) return () => stringsRunFrame(fn, copies as string[], false);
  if (strings && copies.length === 1) return () => stringsRunFrame(fn, copies[0] as string[], true);
  return () => serializeFrame({ op: 'run', fn, star, plain: true, values: copies } satisfies ToWorker);
}

/**
 * `values` (with `star`, a copy of each argument list) when they are all primitives other than symbols and their
 * message is sure to fit in a frame (a string takes at most 2 bytes a character), and whether they are all strings;
 * else undefined.
 */
function primitivesOnly(values: unknown[], star: boolean): { copies: unknown[]; strings: boolean } | undefined {
  let bytes = 0;
  let strings = true;
  const fits = (value: unknown): boolean => {
    if (!isPrimitive(value)) return false;
    strings &&= typeof value === 'string';
    bytes += typeof value === 'string' ? 16 + 2 * value.length : 16;
    return bytes <= MAX_FRAME_BYTES;
  };
  if (!star) return values.every(fits) ? { copies: values, strings } : undefined;
  const copies: unknown[] = [];
  for (const args of values) {
    if (!Array.isArray(args) || !args.every(fits)) return undefined;
    copies.push(args.slice());
  }
  return { copies, strings };
}

const HEADER_PLACEHOLDER = Buffer.alloc(HEADER_BYTES);

/**
 * v8.serialize with the frame header (framing.ts) written in front, so the message goes out as it is: framing it
 * afterwards would copy it into fresh memory, and large fresh allocations cost page faults (on a VM, more than the
 * copy itself).
 */
export function serializeFrame(message: unknown): Buffer {
  const serializer = new v8.DefaultSerializer();
  serializer.writeRawBytes(HEADER_PLACEHOLDER);
  serializer.writeHeader();
  serializer.writeValue(message);
  const frame = serializer.releaseBuffer();
  const length = frame.length - HEADER_BYTES;
  if (length > MAX_FRAME_BYTES) throw new ValueError(`message of ${length} bytes is too large to send`);
  frame.writeUInt32BE(length, 0);
  return frame;
}

/** Sends what serializeFrame made; the peer's FramedSocket reads it as any frame. */
export function sendFrame(channel: FramedSocket, frame: Buffer): void {
  channel.socket.write(frame);
}
