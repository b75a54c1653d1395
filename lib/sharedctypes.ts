/**
 * Value, Array, RawValue and RawArray (CPython's multiprocessing.sharedctypes): numbers in shared memory, each
 * object over a segment of its own (shared_memory.ts). Types are Python's typecodes or Node's names.
 *
 * Raw objects are plain shared memory and travel anywhere as their segment's name. Value and Array carry a lock (an
 * RLock by default, built on the public Lock/RLock) and follow the inheritance rule like every kernel object: they
 * reach a child only while it is spawned (Python's assert_spawning).
 *
 * The segment's name goes when the object that created it is closed or collected in the creating process; a child
 * spawned with it keeps the creator's object alive until it exits. A raw object sent elsewhere must be attached
 * (received) while its creator still holds it.
 */
import { InvalidArgumentError, OutOfRangeError, ValueError } from './errors';
import { assertSpawning, isSpawning, reduce, Reduced, registerRebuilder, spawningContext } from './reduction';
import { SharedMemory } from './shared_memory';
import { REBUILD_RAW, REBUILD_SYNCHRONIZED } from './rebuilder_ids';
import { Lock, RLock } from './synchronize';
import { describe } from './validate';

type Element = number | bigint | Buffer | string;
type View = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array |
  BigUint64Array | Float32Array | Float64Array;
type ViewClass = { new (buffer: ArrayBuffer, byteOffset: number, length: number): View; BYTES_PER_ELEMENT: number };

/** Python's typecodes, and Node's names for the same element types. */
export type TypeCode = 'b' | 'B' | 'h' | 'H' | 'i' | 'I' | 'l' | 'L' | 'q' | 'Q' | 'f' | 'd' | 'c' | 'u' |
  'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'bigint64' | 'biguint64' | 'float32' | 'float64';

interface ElementType {
  code: string;
  view: ViewClass;
  kind: 'number' | 'bigint' | 'char' | 'wchar';
}

const TYPES = new Map<string, ElementType>();
function define(code: string, alias: string | undefined, view: ViewClass, kind: ElementType['kind']): void {
  const type = { code, view, kind };
  TYPES.set(code, type);
  if (alias) TYPES.set(alias, type);
}
define('b', 'int8', Int8Array, 'number');
define('B', 'uint8', Uint8Array, 'number');
define('h', 'int16', Int16Array, 'number');
define('H', 'uint16', Uint16Array, 'number');
define('i', 'int32', Int32Array, 'number');
define('I', 'uint32', Uint32Array, 'number');
define('q', 'bigint64', BigInt64Array, 'bigint');
define('Q', 'biguint64', BigUint64Array, 'bigint');
define('l', undefined, BigInt64Array, 'bigint'); // C long: 64 bits on every platform here, as on 64-bit Linux
define('L', undefined, BigUint64Array, 'bigint');
define('f', 'float32', Float32Array, 'number');
define('d', 'float64', Float64Array, 'number');
define('c', undefined, Uint8Array, 'char'); // one byte, read as a 1-byte Buffer (Python: bytes of length 1)
define('u', undefined, Uint32Array, 'wchar'); // one code point, read as a 1-character string

function typeOf(type: unknown): ElementType {
  const found = typeof type === 'string' ? TYPES.get(type) : undefined;
  if (!found) {
    throw new InvalidArgumentError(`unknown type ${describe(type)}: use a typecode (${[...TYPES.keys()].filter((k) => k.length === 1).join(' ')}) ` +
      'or int8, uint8, int16, uint16, int32, uint32, bigint64, biguint64, float32, float64');
  }
  return found;
}

function zero(type: ElementType): Element {
  return type.kind === 'bigint' ? 0n : type.kind === 'char' ? Buffer.alloc(1) : type.kind === 'wchar' ? '\0' : 0;
}

/** What is stored for `value`, or a typed error naming what was expected. */
function encode(type: ElementType, value: unknown): number | bigint {
  switch (type.kind) {
    case 'number':
      if (typeof value !== 'number') throw new InvalidArgumentError(`a '${type.code}' element must be a number, got ${describe(value)}`);
      return value;
    case 'bigint':
      if (typeof value !== 'bigint') throw new InvalidArgumentError(`a '${type.code}' element must be a bigint, got ${describe(value)}`);
      return value;
    case 'char':
      if (!(value instanceof Uint8Array) || value.length !== 1) {
        throw new InvalidArgumentError(`a 'c' element must be a Buffer of length 1, got ${describe(value)}`);
      }
      return value[0];
    case 'wchar': {
      const point = typeof value === 'string' ? value.codePointAt(0) : undefined;
      if (point === undefined || String.fromCodePoint(point) !== value) {
        throw new InvalidArgumentError(`a 'u' element must be a string of one character, got ${describe(value)}`);
      }
      return point;
    }
  }
}

function decode(type: ElementType, stored: number | bigint): Element {
  if (type.kind === 'char') return Buffer.from([stored as number]);
  if (type.kind === 'wchar') return String.fromCodePoint(stored as number);
  return stored;
}

/** Names of segments this thread created, removed when their creating object is collected, or at exit. */
const creations = new FinalizationRegistry<SharedMemory>((shm) => removeName(shm));
const created = new Set<SharedMemory>();
process.on('exit', () => { for (const shm of created) removeName(shm); });

function removeName(shm: SharedMemory): void {
  created.delete(shm);
  try {
    shm.unlink();
  } catch {
    // removed already (unlinked by hand, or the process is exiting)
  }
}

/** The memory of a RawValue or RawArray: one segment, and a typed view over all of its elements. */
abstract class SharedCType {
  readonly #type: ElementType;
  readonly #shm: SharedMemory;
  readonly #view: View;
  readonly #created: boolean;

  /** @internal */
  constructor(type: ElementType, length: number, attached?: SharedMemory) {
    this.#type = type;
    const bytes = Math.max(1, length * type.view.BYTES_PER_ELEMENT);
    this.#created = attached === undefined;
    this.#shm = attached ?? new SharedMemory({ size: bytes });
    if (this.#shm.size < length * type.view.BYTES_PER_ELEMENT) {
      this.#shm.close();
      throw new ValueError(`shared memory ${this.#shm.name} is too small for ${length} '${type.code}' elements`);
    }
    this.#view = new type.view(this.#shm.buffer, 0, length);
    if (this.#created) {
      creations.register(this, this.#shm, this);
      created.add(this.#shm);
    }
  }

  /** The typecode (Python's letter) of its elements. */
  get typecode(): string {
    return this.#type.code;
  }

  /** @internal the segment's name */
  get _segment(): string {
    return this.#shm.name;
  }

  /** @internal */
  get _type(): ElementType {
    return this.#type;
  }

  /** The elements as a typed array over the shared memory (no lock taken): Python's get_obj(). */
  getObj(): View {
    if (this.#shm.closed) throw closedError(this.constructor.name);
    return this.#view;
  }

  /** @internal */
  _read(index: number): Element {
    return decode(this.#type, this.getObj()[index]);
  }

  /** @internal */
  _write(index: number, value: unknown): void {
    const stored = encode(this.#type, value);
    (this.getObj() as { [i: number]: number | bigint })[index] = stored;
  }

  /**
   * Unmaps it in this thread (its views read as empty from then on) and, in the process that created it, removes
   * the segment's name: children already started keep theirs. Idempotent.
   */
  close(): void {
    if (this.#shm.closed) return;
    this.#shm.close();
    if (this.#created) {
      creations.unregister(this);
      removeName(this.#shm);
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal what a receiver attaches. */
  _describe(): [name: string, typecode: string, length: number] {
    if (this.#shm.closed) throw closedError(this.constructor.name);
    if (isSpawning()) spawningContext().retain({ close: () => void this }); // the name stays until the child exits
    return [this.#shm.name, this.#type.code, this.#view.length];
  }
}

function closedError(what: string): ValueError {
  return new ValueError(`${what} is closed`, 'ERR_MP_CLOSED');
}

function checkIndex(index: unknown, length: number): number {
  if (typeof index !== 'number' || !Number.isInteger(index)) {
    throw new InvalidArgumentError(`index must be an integer, got ${describe(index)}`);
  }
  if (index < 0 || index >= length) throw new OutOfRangeError(`index ${index} out of range 0..${length - 1}`);
  return index;
}

/** One element in shared memory, without a lock: Python's RawValue. */
export class RawValue extends SharedCType {
  constructor(type: TypeCode, initial?: Element, /** @internal */ attached?: SharedMemory) {
    const t = typeOf(type);
    super(t, 1, attached);
    if (attached === undefined) this._write(0, initial ?? zero(t));
  }

  get value(): Element {
    return this._read(0);
  }

  set value(value: Element) {
    this._write(0, value);
  }

  [reduce](): Reduced {
    return [REBUILD_RAW, ['value', ...this._describe()]];
  }
}

/** A fixed-length array in shared memory, without a lock: Python's RawArray. */
export class RawArray extends SharedCType implements Iterable<Element> {
  constructor(type: TypeCode, sizeOrValues: number | ArrayLike<Element> | Iterable<Element>, /** @internal */ attached?: SharedMemory) {
    const t = typeOf(type);
    let values: Element[] | undefined;
    let length: number;
    if (typeof sizeOrValues === 'number') {
      if (!Number.isSafeInteger(sizeOrValues) || sizeOrValues < 0) {
        throw new OutOfRangeError(`size must be an integer >= 0, got ${sizeOrValues}`);
      }
      length = sizeOrValues;
    } else if (typeof sizeOrValues === 'string' && (t.kind === 'wchar')) {
      values = [...sizeOrValues];
      length = values.length;
    } else if (sizeOrValues instanceof Uint8Array && t.kind === 'char') {
      values = [...sizeOrValues].map((b) => Buffer.from([b]));
      length = values.length;
    } else if (sizeOrValues !== null && typeof sizeOrValues === 'object') {
      values = Array.from(sizeOrValues as ArrayLike<Element>);
      length = values.length;
    } else {
      throw new InvalidArgumentError(`Array needs a size or the initial values, got ${describe(sizeOrValues)}`);
    }
    super(t, length, attached);
    values?.forEach((v, i) => this._write(i, v));
  }

  get length(): number {
    return this.getObj().length;
  }

  get(index: number): Element {
    return this._read(checkIndex(index, this.length));
  }

  set(index: number, value: Element): void {
    this._write(checkIndex(index, this.length), value);
  }

  /** A copy of the elements. */
  toArray(): Element[] {
    return Array.from({ length: this.length }, (_, i) => this._read(i));
  }

  [Symbol.iterator](): Iterator<Element> {
    return this.toArray()[Symbol.iterator]();
  }

  /** 'c': the bytes up to the first NUL; 'u': the string up to the first NUL (ctypes' .value of a char array). */
  get value(): Buffer | string {
    const kind = this._type.kind;
    const view = this.getObj();
    let end = view.indexOf(0 as never);
    if (end < 0) end = view.length;
    if (kind === 'char') return Buffer.from(view.subarray(0, end) as Uint8Array);
    if (kind === 'wchar') return String.fromCodePoint(...(view.subarray(0, end) as Uint32Array));
    throw new ValueError(`only 'c' and 'u' arrays have a value; use get(), toArray() or getObj()`);
  }

  set value(value: Buffer | string) {
    const kind = this._type.kind;
    const view = this.getObj();
    let points: ArrayLike<number>;
    if (kind === 'char' && value instanceof Uint8Array) points = value;
    else if (kind === 'wchar' && typeof value === 'string') points = [...value].map((c) => c.codePointAt(0)!);
    else throw new InvalidArgumentError(`a '${this.typecode}' array's value is ${kind === 'char' ? 'a Buffer' : kind === 'wchar' ? 'a string' : 'not settable'}, got ${describe(value)}`);
    if (points.length > view.length) throw new ValueError('value too long');
    (view as Uint8Array | Uint32Array).set(points, 0);
    if (points.length < view.length) view[points.length] = 0;
  }

  /** 'c' arrays: every byte, NULs included. */
  get raw(): Buffer {
    if (this._type.kind !== 'char') throw new ValueError(`only 'c' arrays have raw bytes`);
    return Buffer.from(this.getObj() as Uint8Array);
  }

  [reduce](): Reduced {
    return [REBUILD_RAW, ['array', ...this._describe()]];
  }
}

export interface SynchronizedOptions {
  /** true (default): a new RLock; false: no lock (a raw object); or the Lock/RLock to use. */
  lock?: boolean | Lock | RLock;
}

function lockOf(options: SynchronizedOptions | undefined): Lock | RLock | undefined {
  const lock = options?.lock ?? true;
  if (lock === true) return new RLock();
  if (lock === false) return undefined;
  if (lock instanceof Lock || lock instanceof RLock) return lock;
  throw new InvalidArgumentError(`lock must be true, false, a Lock or an RLock, got ${describe(lock)}`);
}

/** What Value and Array with a lock share: Python's SynchronizedBase. */
abstract class Synchronized<T extends SharedCType> {
  readonly #obj: T;
  readonly #lock: Lock | RLock;

  /** @internal */
  constructor(obj: T, lock: Lock | RLock) {
    this.#obj = obj;
    this.#lock = lock;
    Object.defineProperty(this, 'sharedThroughInheritanceOnly', {
      enumerable: true,
      get(this: object) {
        assertSpawning(this, true);
        return true;
      },
    });
  }

  getLock(): Lock | RLock {
    return this.#lock;
  }

  /** The typed array over the elements (no lock taken). */
  getObj(): View {
    return this.#obj.getObj();
  }

  /** @internal */
  get _raw(): T {
    return this.#obj;
  }

  /** Runs `fn` holding the lock (acquireSync/release). */
  protected locked<R>(fn: () => R): R {
    this.#lock.acquireSync();
    try {
      return fn();
    } finally {
      this.#lock.release();
    }
  }

  acquireSync(...args: Parameters<RLock['acquireSync']>): boolean {
    return this.#lock.acquireSync(...args);
  }

  acquire(...args: Parameters<RLock['acquire']>): Promise<boolean> {
    return this.#lock.acquire(...args);
  }

  release(): void {
    this.#lock.release();
  }

  get typecode(): string {
    return this.#obj.typecode;
  }

  /** Closes the memory (see RawValue.close) and the lock. */
  close(): void {
    this.#obj.close();
    this.#lock.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  [reduce](): Reduced {
    assertSpawning(this);
    return [REBUILD_SYNCHRONIZED, [this.#obj, this.#lock]];
  }
}

/** Value(type, initial) with a lock. */
export class SynchronizedValue extends Synchronized<RawValue> {
  /** Reads under the lock. */
  get value(): Element {
    return this.locked(() => this._raw.value);
  }

  /** Writes under the lock. */
  set value(value: Element) {
    this.locked(() => { this._raw.value = value; });
  }
}

/** Array(type, sizeOrValues) with a lock. */
export class SynchronizedArray extends Synchronized<RawArray> implements Iterable<Element> {
  get length(): number {
    return this._raw.length;
  }

  get(index: number): Element {
    return this.locked(() => this._raw.get(index));
  }

  set(index: number, value: Element): void {
    this.locked(() => this._raw.set(index, value));
  }

  toArray(): Element[] {
    return this.locked(() => this._raw.toArray());
  }

  [Symbol.iterator](): Iterator<Element> {
    return this.toArray()[Symbol.iterator]();
  }

  get value(): Buffer | string {
    return this.locked(() => this._raw.value);
  }

  set value(value: Buffer | string) {
    this.locked(() => { this._raw.value = value; });
  }

  get raw(): Buffer {
    return this.locked(() => this._raw.raw);
  }
}

/** Python's multiprocessing.Value: one element in shared memory, with a lock unless `lock` is false. */
export function Value(type: TypeCode, initial?: Element, options?: SynchronizedOptions): SynchronizedValue | RawValue {
  const lock = lockOf(options);
  const raw = new RawValue(type, initial);
  return lock ? new SynchronizedValue(raw, lock) : raw;
}

/** Python's multiprocessing.Array: a fixed-length array in shared memory, with a lock unless `lock` is false. */
export function SharedArray(type: TypeCode, sizeOrValues: number | ArrayLike<Element> | Iterable<Element>,
                            options?: SynchronizedOptions): SynchronizedArray | RawArray {
  const lock = lockOf(options);
  const raw = new RawArray(type, sizeOrValues);
  return lock ? new SynchronizedArray(raw, lock) : raw;
}

registerRebuilder(REBUILD_RAW, (kind: string, name: string, typecode: TypeCode, length: number) => {
  const shm = SharedMemory.attach(name);
  return kind === 'value' ? new RawValue(typecode, undefined, shm) : new RawArray(typecode, length, shm);
});
registerRebuilder(REBUILD_SYNCHRONIZED, (obj: RawValue | RawArray, lock: Lock | RLock) =>
  obj instanceof RawValue ? new SynchronizedValue(obj, lock) : new SynchronizedArray(obj, lock));

