/**
 * v8.deserialize for bytes from another process. Two differences, both about trust:
 *
 * - Every Buffer, typed array and DataView it makes owns its memory. Node's deserializer makes them views of the
 *   bytes it reads, and those bytes usually sit in a larger buffer: Node's shared 8 KiB Buffer pool for a small
 *   message, the socket chunk it arrived in for others. A received Buffer's `.buffer` would then expose whatever
 *   else of the reader lives there.
 * - Bytes that do not decode are an UnpicklingError (typed, with a stable code), whatever v8 or Node threw.
 */
import * as v8 from 'node:v8';
import { MultiprocError, UnpicklingError } from './errors';

/** Node's serializer hooks (absent from its type declarations). */
export interface HostObjectHooks {
  _writeHostObject(view: ArrayBufferView): void;
  _readHostObject(): unknown;
}

const nodeReadHostObject = (v8.DefaultDeserializer.prototype as unknown as HostObjectHooks)._readHostObject;

/** Node's default deserializer, except that views it reads own their memory. */
export class OwnedDeserializer extends v8.DefaultDeserializer {
  _readHostObject(): unknown {
    return ownView(nodeReadHostObject.call(this) as ArrayBufferView);
  }
}

/** `view` if it is alone in its buffer, else a copy of it that is (same type, same contents). */
export function ownView(view: ArrayBufferView): ArrayBufferView {
  if (view.byteOffset === 0 && view.buffer.byteLength === view.byteLength) return view;
  // Never from Node's pool; uninitialized, then overwritten whole (and kept on V8's heap while it is tiny).
  const copy = Buffer.allocUnsafeSlow(view.byteLength);
  copy.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  if (Buffer.isBuffer(view)) return copy;
  const Type = view.constructor as new (buffer: ArrayBufferLike, offset: number, length: number) => ArrayBufferView;
  return new Type(copy.buffer, copy.byteOffset, view.byteLength / ((view as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1));
}

/** Runs a deserializer over bytes from another process: what fails to decode is an UnpicklingError. */
export function readValue(deserializer: v8.Deserializer): unknown {
  try {
    deserializer.readHeader();
    return deserializer.readValue();
  } catch (err) {
    if (err instanceof MultiprocError) throw err;
    throw new UnpicklingError(`cannot decode a value received from another process: ${(err as Error)?.message ?? err}`);
  }
}

/** v8.deserialize, with views that own their memory and an UnpicklingError for bytes that do not decode. */
export function deserialize(bytes: Uint8Array): unknown {
  return readValue(new OwnedDeserializer(bytes as Buffer));
}
