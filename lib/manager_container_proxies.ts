/** Proxies of a manager's dict, list, Value, Array and Namespace: every method is one round trip to the server. */
import { BaseProxy, forward } from './manager_proxy';

/** A manager dict with Map's methods (all returning Promises; `size` is a Promise-valued getter). */
export interface DictProxy<K = unknown, V = unknown> {
  get(key: K, fallback?: V): Promise<V | undefined>;
  set(key: K, value: V): Promise<void>;
  has(key: K): Promise<boolean>;
  delete(key: K): Promise<boolean>;
  clear(): Promise<void>;
  keys(): Promise<K[]>;
  values(): Promise<V[]>;
  entries(): Promise<[K, V][]>;
  /** Adds the entries of a Map, an array of pairs, or a plain object. */
  update(other: Map<K, V> | [K, V][] | Record<string, V>): Promise<void>;
  /** Python's pop: the value, else `fallback` if given, else ValueError (code ERR_MP_KEY). */
  pop(key: K, fallback?: V): Promise<V>;
  setdefault(key: K, value?: V): Promise<V>;
  popitem(): Promise<[K, V]>;
  copy(): Promise<Map<K, V>>;
}
export class DictProxy<K = unknown, V = unknown> extends BaseProxy {
  get size(): Promise<number> {
    return this._callMethod('size') as Promise<number>;
  }

  /**
   * `for await (const [key, value] of dict)`: the entries, as a Map iterates, from one snapshot taken in one round
   * trip (a synchronous for…of cannot wait for the server).
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<[K, V], void, undefined> {
    yield* (await this.entries());
  }
}
forward(DictProxy, ['get', 'set', 'has', 'delete', 'clear', 'keys', 'values', 'entries', 'update', 'pop', 'setdefault',
  'popitem', 'copy']);

/** A manager list with Array's methods and Python's (indices may be negative; out of range is ValueError ERR_MP_INDEX). */
export interface ListProxy<T = unknown> {
  get(index: number): Promise<T>;
  set(index: number, value: T): Promise<void>;
  push(...items: T[]): Promise<number>;
  append(item: T): Promise<void>;
  extend(items: T[]): Promise<void>;
  insert(index: number, item: T): Promise<void>;
  pop(index?: number): Promise<T>;
  shift(): Promise<T | undefined>;
  unshift(...items: T[]): Promise<number>;
  splice(start: number, deleteCount?: number, ...items: T[]): Promise<T[]>;
  slice(start?: number, end?: number): Promise<T[]>;
  indexOf(item: T): Promise<number>;
  includes(item: T): Promise<boolean>;
  count(item: T): Promise<number>;
  remove(item: T): Promise<void>;
  reverse(): Promise<void>;
  /** Numbers numerically, anything else as Array.prototype.sort (a comparator cannot travel). */
  sort(): Promise<void>;
  clear(): Promise<void>;
  toArray(): Promise<T[]>;
}
export class ListProxy<T = unknown> extends BaseProxy {
  get length(): Promise<number> {
    return this._callMethod('length') as Promise<number>;
  }

  /** `for await (const item of list)`: the items of one snapshot taken in one round trip. */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    yield* (await this.toArray());
  }
}
forward(ListProxy, ['get', 'set', 'push', 'append', 'extend', 'insert', 'pop', 'shift', 'unshift', 'splice', 'slice',
  'indexOf', 'includes', 'count', 'remove', 'reverse', 'sort', 'clear', 'toArray']);

/** A manager Value: read with get(), write with set() (there is no `value` accessor: a setter cannot be awaited). */
export interface ValueProxy<T = unknown> {
  get(): Promise<T>;
  set(value: T): Promise<void>;
  typecode(): Promise<string>;
}
export class ValueProxy<T = unknown> extends BaseProxy {}
forward(ValueProxy, ['get', 'set', 'typecode']);

/** A manager Array of numbers (bigints for 'l', 'L', 'q', 'Q'); `length` is a Promise-valued getter. */
export interface ArrayProxy<T extends number | bigint = number> {
  get(index: number): Promise<T>;
  set(index: number, value: T): Promise<void>;
  toArray(): Promise<T[]>;
  typecode(): Promise<string>;
}
export class ArrayProxy<T extends number | bigint = number> extends BaseProxy {
  get length(): Promise<number> {
    return this._callMethod('length') as Promise<number>;
  }
}
forward(ArrayProxy, ['get', 'set', 'toArray', 'typecode']);

export interface NamespaceProxy {
  get<T = unknown>(name: string): Promise<T | undefined>;
  set(name: string, value: unknown): Promise<void>;
  has(name: string): Promise<boolean>;
  delete(name: string): Promise<boolean>;
  toObject(): Promise<Record<string, unknown>>;
}
export class NamespaceProxy extends BaseProxy {}
forward(NamespaceProxy, ['get', 'set', 'has', 'delete', 'toObject']);
