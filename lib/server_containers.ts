/** The containers a Manager server holds: dict, list, Value, Array and Namespace. Their calls never wait. */
import { InvalidArgumentError, ValueError } from './errors';
import { checkInteger, describe } from './validate';

type Key = string | number | boolean | bigint | null | undefined;


/** dict, with Map's method names plus Python's pop/setdefault/popitem/update. */
export class DictObject {
  readonly #map: Map<Key, unknown>;

  constructor(init?: unknown) {
    this.#map = new Map();
    if (init !== undefined && init !== null) this.update(init);
  }

  /** Keys are compared by value, so they must be primitives. */
  protected checkKey(key: unknown): Key {
    if (key !== null && typeof key === 'object') {
      throw new InvalidArgumentError(`manager dict keys must be primitives (compared by value), got ${describe(key)}`);
    }
    return key as Key;
  }

  get(key: unknown, fallback?: unknown): unknown {
    const k = this.checkKey(key);
    return this.#map.has(k) ? this.#map.get(k) : fallback;
  }

  set(key: unknown, value: unknown): void {
    this.#map.set(this.checkKey(key), value);
  }

  has(key: unknown): boolean {
    return this.#map.has(this.checkKey(key));
  }

  delete(key: unknown): boolean {
    return this.#map.delete(this.checkKey(key));
  }

  clear(): void {
    this.#map.clear();
  }

  size(): number {
    return this.#map.size;
  }

  keys(): Key[] {
    return [...this.#map.keys()];
  }

  values(): unknown[] {
    return [...this.#map.values()];
  }

  entries(): [Key, unknown][] {
    return [...this.#map.entries()];
  }

  /** Adds the entries of a Map, an array of pairs, or a plain object. */
  update(other: unknown): void {
    const entries = other instanceof Map ? [...other] : Array.isArray(other) ? other
      : typeof other === 'object' && other !== null ? Object.entries(other) : undefined;
    if (!entries) throw new InvalidArgumentError(`update() takes a Map, pairs or an object, got ${describe(other)}`);
    for (const pair of entries) {
      if (!Array.isArray(pair) || pair.length !== 2) throw new InvalidArgumentError('update() pairs must be [key, value]');
      this.set(pair[0], pair[1]);
    }
  }

  pop(key: unknown, ...fallback: unknown[]): unknown {
    const k = this.checkKey(key);
    if (this.#map.has(k)) {
      const value = this.#map.get(k);
      this.#map.delete(k);
      return value;
    }
    if (fallback.length) return fallback[0];
    throw new ValueError(`key ${describe(key)} is not in the dict`, 'ERR_MP_KEY');
  }

  setdefault(key: unknown, value?: unknown): unknown {
    const k = this.checkKey(key);
    if (!this.#map.has(k)) this.#map.set(k, value);
    return this.#map.get(k);
  }

  popitem(): [Key, unknown] {
    const last = [...this.#map.keys()].pop();
    if (!this.#map.size) throw new ValueError('popitem(): dict is empty', 'ERR_MP_KEY');
    const value = this.#map.get(last);
    this.#map.delete(last);
    return [last, value];
  }

  copy(): Map<Key, unknown> {
    return new Map(this.#map);
  }
}

/** Python-style index: negative counts from the end; out of range is an error, not undefined. */
function indexIn(length: number, index: unknown): number {
  const i = checkInteger(index, 'index', -Number.MAX_SAFE_INTEGER);
  const at = i < 0 ? length + i : i;
  if (at < 0 || at >= length) throw new ValueError(`list index ${i} out of range (length ${length})`, 'ERR_MP_INDEX');
  return at;
}

/** list, with Array's method names plus Python's append/extend/insert/remove/count/index. */
export class ListObject {
  readonly #items: unknown[];

  constructor(init?: unknown) {
    if (init !== undefined && init !== null && !Array.isArray(init)) {
      throw new InvalidArgumentError(`list() takes an array, got ${describe(init)}`);
    }
    this.#items = init ? [...(init as unknown[])] : [];
  }

  get(index: unknown): unknown {
    return this.#items[indexIn(this.#items.length, index)];
  }

  set(index: unknown, value: unknown): void {
    this.#items[indexIn(this.#items.length, index)] = value;
  }

  length(): number {
    return this.#items.length;
  }

  push(...items: unknown[]): number {
    return this.#items.push(...items);
  }

  append(item: unknown): void {
    this.#items.push(item);
  }

  extend(items: unknown): void {
    if (!Array.isArray(items)) throw new InvalidArgumentError(`extend() takes an array, got ${describe(items)}`);
    this.#items.push(...items);
  }

  insert(index: unknown, item: unknown): void {
    const i = checkInteger(index, 'index', -Number.MAX_SAFE_INTEGER);
    this.#items.splice(i < 0 ? Math.max(0, this.#items.length + i) : i, 0, item);
  }

  /** Python's pop: removes and returns the last item, or the one at `index`. */
  pop(index: unknown = -1): unknown {
    return this.#items.splice(indexIn(this.#items.length, index), 1)[0];
  }

  shift(): unknown {
    return this.#items.shift();
  }

  unshift(...items: unknown[]): number {
    return this.#items.unshift(...items);
  }

  splice(start: unknown, deleteCount?: unknown, ...items: unknown[]): unknown[] {
    const s = checkInteger(start, 'start', -Number.MAX_SAFE_INTEGER);
    const n = deleteCount === undefined ? this.#items.length : checkInteger(deleteCount, 'deleteCount', 0);
    return this.#items.splice(s, n, ...items);
  }

  slice(start?: unknown, end?: unknown): unknown[] {
    return this.#items.slice(start === undefined ? undefined : checkInteger(start, 'start', -Number.MAX_SAFE_INTEGER),
      end === undefined ? undefined : checkInteger(end, 'end', -Number.MAX_SAFE_INTEGER));
  }

  indexOf(item: unknown): number {
    return this.#items.indexOf(item);
  }

  includes(item: unknown): boolean {
    return this.#items.includes(item);
  }

  count(item: unknown): number {
    return this.#items.filter((x) => x === item).length;
  }

  remove(item: unknown): void {
    const i = this.#items.indexOf(item);
    if (i < 0) throw new ValueError(`list.remove(x): ${describe(item)} not in list`);
    this.#items.splice(i, 1);
  }

  reverse(): void {
    this.#items.reverse();
  }

  /** Sorts numbers numerically and anything else as Array.prototype.sort does (a comparator cannot travel). */
  sort(): void {
    if (this.#items.every((x) => typeof x === 'number')) (this.#items as number[]).sort((a, b) => a - b);
    else this.#items.sort();
  }

  clear(): void {
    this.#items.length = 0;
  }

  toArray(): unknown[] {
    return [...this.#items];
  }
}

/** Python's typecodes (array module / ctypes), mapped to the typed array that stores them. */
const TYPECODES: Record<string, new (n: number) => ArrayLike<number | bigint> & { [i: number]: number | bigint }> = {
  b: Int8Array, B: Uint8Array, h: Int16Array, H: Uint16Array, i: Int32Array, I: Uint32Array,
  l: BigInt64Array, L: BigUint64Array, q: BigInt64Array, Q: BigUint64Array, f: Float32Array, d: Float64Array,
};

function checkTypecode(typecode: unknown): string {
  if (typeof typecode !== 'string' || !Object.prototype.hasOwnProperty.call(TYPECODES, typecode)) {
    throw new InvalidArgumentError(`typecode must be one of ${Object.keys(TYPECODES).join(' ')}, got ${describe(typecode)}`);
  }
  return typecode;
}

/** managers.Value: a typecode and a value, read and written whole. */
export class ValueObject {
  readonly #typecode: string;
  #value: unknown;

  /** Any typecode, as CPython's managers.Value (it only keeps it): 'c', 'u', a ctypes name. */
  constructor(typecode: unknown, value: unknown) {
    if (typeof typecode !== 'string') throw new InvalidArgumentError(`typecode must be a string, got ${describe(typecode)}`);
    this.#typecode = typecode;
    this.#value = value;
  }

  get(): unknown {
    return this.#value;
  }

  set(value: unknown): void {
    this.#value = value;
  }

  typecode(): string {
    return this.#typecode;
  }
}

/** managers.Array: a typed array of fixed length (Python's array.array behind an ArrayProxy). */
export class ArrayObject {
  readonly #typecode: string;
  readonly #items: ArrayLike<number | bigint> & { [i: number]: number | bigint };

  constructor(typecode: unknown, sequence: unknown) {
    this.#typecode = checkTypecode(typecode);
    const Typed = TYPECODES[this.#typecode];
    if (typeof sequence === 'number') {
      this.#items = new Typed(checkInteger(sequence, 'Array length', 0, 1 << 30));
    } else if (Array.isArray(sequence) || ArrayBuffer.isView(sequence)) {
      const values = [...(sequence as ArrayLike<number | bigint> & Iterable<number | bigint>)];
      this.#items = new Typed(values.length);
      values.forEach((v, i) => { this.#items[i] = v; });
    } else {
      throw new InvalidArgumentError(`Array needs a length or a sequence, got ${describe(sequence)}`);
    }
  }

  get(index: unknown): number | bigint {
    return this.#items[indexIn(this.#items.length, index)];
  }

  set(index: unknown, value: unknown): void {
    const bigint = this.#items instanceof BigInt64Array || this.#items instanceof BigUint64Array;
    if (typeof value !== (bigint ? 'bigint' : 'number')) {
      throw new InvalidArgumentError(`Array('${this.#typecode}') items must be ${bigint ? 'bigints' : 'numbers'}, got ${describe(value)}`);
    }
    this.#items[indexIn(this.#items.length, index)] = value as number | bigint;
  }

  length(): number {
    return this.#items.length;
  }

  toArray(): (number | bigint)[] {
    return Array.from(this.#items);
  }

  typecode(): string {
    return this.#typecode;
  }
}

/** Namespace: named attributes, i.e. a dict whose keys are strings. */
export class NamespaceObject extends DictObject {
  constructor(init?: unknown) {
    if (init !== undefined && init !== null && typeof init !== 'object') {
      throw new InvalidArgumentError(`Namespace takes an object, got ${describe(init)}`);
    }
    super(init);
  }

  protected override checkKey(name: unknown): string {
    if (typeof name !== 'string') throw new InvalidArgumentError(`attribute names are strings, got ${describe(name)}`);
    return name;
  }

  toObject(): Record<string, unknown> {
    return Object.fromEntries(this.entries());
  }
}
