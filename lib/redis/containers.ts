/**
 * dict, Namespace, list and Value on Redis, with the methods, results and errors of the Manager's proxies. A dict
 * is a hash of encoded keys to encoded values plus a sorted set that keeps insertion order (Map's, and Python's);
 * a list is a Redis list; each step that reads then writes is one script. The list methods that compare or order
 * values (indexOf, sort, splice...) read the list, run the Manager's own list code on it, and write it back in a
 * WATCH/MULTI transaction, retried if another client changed the list meanwhile.
 */
import { InvalidArgumentError, ValueError } from '../errors';
import { ListObject } from '../server_containers';
import { checkInteger, describe } from '../validate';
import { decodeValue, encodeValue } from './codec';
import { RedisProxy, registerProxyType } from './proxy';

type Key = string | number | boolean | bigint | null | undefined;

/** A primitive key as a hash field: its type and its value, so 1, '1' and 1n stay three keys (as in a Map). */
function fieldOf(key: unknown): string {
  switch (typeof key) {
    case 'string': return `s${key}`;
    case 'number': return `n${Object.is(key, -0) ? 0 : key}`;
    case 'boolean': return key ? 'b1' : 'b0';
    case 'bigint': return `i${key}`;
    case 'undefined': return 'u';
  }
  if (key === null) return 'z';
  throw new InvalidArgumentError(`manager dict keys must be primitives (compared by value), got ${describe(key)}`);
}

function keyOf(field: string): Key {
  const body = field.slice(1);
  switch (field[0]) {
    case 's': return body;
    case 'n': return Number(body);
    case 'b': return body === '1';
    case 'i': return BigInt(body);
    case 'u': return undefined;
    default: return null;
  }
}

/** The entries of a Map, pairs or a plain object, checked as the Manager's update() checks them. */
function entriesOf(other: unknown): [unknown, unknown][] {
  const entries = other instanceof Map ? [...other] : Array.isArray(other) ? other
    : typeof other === 'object' && other !== null ? Object.entries(other) : undefined;
  if (!entries) throw new InvalidArgumentError(`update() takes a Map, pairs or an object, got ${describe(other)}`);
  for (const pair of entries) {
    if (!Array.isArray(pair) || pair.length !== 2) throw new InvalidArgumentError('update() pairs must be [key, value]');
  }
  return entries as [unknown, unknown][];
}

/** Methods of dict and Namespace; `field` checks and encodes a key. */
abstract class RedisMapping extends RedisProxy {
  #dictKeys: string[] | undefined;
  protected abstract field(key: unknown): string;

  protected get _dictKeys(): string[] {
    return this.#dictKeys ??= this._keys('meta', 'data', 'order');
  }

  protected _call<R>(script: Parameters<RedisProxy['_connection']['script']>[0], args: (string | Buffer)[], buffers = false): Promise<R> {
    return this._connection.script<R>(script, this._dictKeys, args, buffers);
  }

  /**
   * Reads with HGET itself (the common path costs what the command costs); only a miss asks whether the dict
   * still exists, so a removed one is an error rather than an empty dict.
   */
  protected async _read<R>(command: 'HGET' | 'HEXISTS' | 'HLEN', args: string[], missing: unknown): Promise<R> {
    const connection = this._connection;
    const reply = await connection.run((c) => c.callBuffer(command, this._dictKeys[1], ...args)) as R;
    if (reply === missing) await connection.script('d_has', this._dictKeys, ['']); // MPGONE if removed
    return reply;
  }

  async get(key: unknown, fallback?: unknown): Promise<unknown> {
    const value = await this._read<Buffer | null>('HGET', [this.field(key)], null);
    return value === null ? fallback : decodeValue(value);
  }

  async set(key: unknown, value: unknown): Promise<void> {
    const field = this.field(key);
    await this._call('d_set', [field, encodeValue(value, `${this._token.typeid}.set() arguments[1]`)]);
  }

  async has(key: unknown): Promise<boolean> {
    return (await this._read<number>('HEXISTS', [this.field(key)], 0)) === 1;
  }

  async delete(key: unknown): Promise<boolean> {
    return (await this._call<Buffer | null>('d_pop', [this.field(key)], true)) !== null;
  }

  /** [key, value] pairs in insertion order. */
  protected async _entries(): Promise<[Key, unknown][]> {
    const flat = await this._call<Buffer[]>('d_entries', ['1'], true);
    const out: [Key, unknown][] = [];
    for (let i = 0; i < flat.length; i += 2) out.push([keyOf(flat[i].toString()), await decodeValue(flat[i + 1])]);
    return out;
  }
}

export class RedisDictProxy<K = unknown, V = unknown> extends RedisMapping {
  protected field(key: unknown): string {
    return fieldOf(key);
  }

  get size(): Promise<number> {
    return this._read<number>('HLEN', [], 0);
  }

  override get(key: K, fallback?: V): Promise<V | undefined> {
    return super.get(key, fallback) as Promise<V | undefined>;
  }

  async clear(): Promise<void> {
    await this._call('d_clear', []);
  }

  async keys(): Promise<K[]> {
    return (await this._call<string[]>('d_entries', ['0'])).map(keyOf) as K[];
  }

  async values(): Promise<V[]> {
    return (await this._entries()).map(([, v]) => v) as V[];
  }

  async entries(): Promise<[K, V][]> {
    return await this._entries() as [K, V][];
  }

  /** Adds the entries of a Map, an array of pairs, or a plain object (in one step). */
  async update(other: Map<K, V> | [K, V][] | Record<string, V>): Promise<void> {
    const args: (string | Buffer)[] = [];
    for (const [k, v] of entriesOf(other)) args.push(this.field(k), encodeValue(v, 'dict.update() arguments[0]'));
    if (args.length) await this._call('d_set', args);
  }

  /** Python's pop: the value, else `fallback` if given, else ValueError (code ERR_MP_KEY). */
  async pop(key: K, ...fallback: [V?]): Promise<V> {
    const value = await this._call<Buffer | null>('d_pop', [this.field(key)], true);
    if (value !== null) return await decodeValue(value) as V;
    if (fallback.length) return fallback[0] as V;
    throw new ValueError(`key ${describe(key)} is not in the dict`, 'ERR_MP_KEY');
  }

  async setdefault(key: K, value?: V): Promise<V> {
    const field = this.field(key);
    return await decodeValue(await this._call<Buffer>('d_setdefault',
      [field, encodeValue(value, 'dict.setdefault() arguments[1]')], true)) as V;
  }

  async popitem(): Promise<[K, V]> {
    const [field, value] = await this._call<[Buffer, Buffer]>('d_popitem', [], true);
    return [keyOf(field.toString()) as K, await decodeValue(value) as V];
  }

  async copy(): Promise<Map<K, V>> {
    return new Map(await this.entries());
  }
}

export class RedisNamespaceProxy extends RedisMapping {
  protected field(name: unknown): string {
    if (typeof name !== 'string') throw new InvalidArgumentError(`attribute names are strings, got ${describe(name)}`);
    return fieldOf(name);
  }

  override get<T = unknown>(name: string): Promise<T | undefined> {
    return super.get(name) as Promise<T | undefined>;
  }

  async toObject(): Promise<Record<string, unknown>> {
    return Object.fromEntries(await this._entries());
  }
}

/** Python's list with Array's method names; indices may be negative, out of range is ValueError ERR_MP_INDEX. */
export class RedisListProxy<T = unknown> extends RedisProxy {
  protected get _listKeys(): string[] {
    return this._keys('meta', 'items');
  }

  #call<R>(script: Parameters<RedisProxy['_connection']['script']>[0], args: (string | number | Buffer)[], buffers = false): Promise<R> {
    return this._connection.script<R>(script, this._listKeys, args, buffers);
  }

  #encode(items: unknown[], method: string, first = 0): Buffer[] {
    return items.map((item, i) => encodeValue(item, `list.${method}() arguments[${first + i}]`));
  }

  async #decodeAll(raw: Buffer[]): Promise<T[]> {
    const out: T[] = [];
    for (const item of raw) out.push(await decodeValue(item) as T);
    return out;
  }

  get length(): Promise<number> {
    return this.#call<number>('l_len', []);
  }

  async get(index: number): Promise<T> {
    return await decodeValue(await this.#call<Buffer>('l_get', [checkIndex(index)], true)) as T;
  }

  async set(index: number, value: T): Promise<void> {
    await this.#call('l_set', [checkIndex(index), encodeValue(value, 'list.set() arguments[1]')]);
  }

  async push(...items: T[]): Promise<number> {
    return this.#call<number>('l_push', ['R', ...this.#encode(items, 'push')]);
  }

  async append(item: T): Promise<void> {
    await this.push(item);
  }

  async extend(items: T[]): Promise<void> {
    if (!Array.isArray(items)) throw new InvalidArgumentError(`extend() takes an array, got ${describe(items)}`);
    await this.push(...items);
  }

  async insert(index: number, item: T): Promise<void> {
    await this.#call('l_insert', [checkIndex(index), encodeValue(item, 'list.insert() arguments[1]')]);
  }

  async pop(index = -1): Promise<T> {
    return await decodeValue(await this.#call<Buffer>('l_pop', [checkIndex(index)], true)) as T;
  }

  async shift(): Promise<T | undefined> {
    const item = await this.#call<Buffer | null>('l_pop', ['first'], true);
    return item === null ? undefined : await decodeValue(item) as T;
  }

  async unshift(...items: T[]): Promise<number> {
    return this.#call<number>('l_push', ['L', ...this.#encode(items, 'unshift')]);
  }

  async slice(start?: number, end?: number): Promise<T[]> {
    const bound = (v: number | undefined, what: string) => v === undefined ? '' : checkInteger(v, what, -Number.MAX_SAFE_INTEGER);
    return this.#decodeAll(await this.#call<Buffer[]>('l_slice', [bound(start, 'start'), bound(end, 'end')], true));
  }

  async toArray(): Promise<T[]> {
    return this.slice();
  }

  async clear(): Promise<void> {
    await this.#call('l_clear', []);
  }

  async splice(start: number, deleteCount?: number, ...items: T[]): Promise<T[]> {
    this.#encode(items, 'splice', 2); // what cannot travel is refused before anything is read
    return await this.#rewrite((list) => list.splice(start, deleteCount, ...items)) as T[];
  }

  async indexOf(item: T): Promise<number> {
    return await this.#rewrite((list) => list.indexOf(item), false) as number;
  }

  async includes(item: T): Promise<boolean> {
    return await this.#rewrite((list) => list.includes(item), false) as boolean;
  }

  async count(item: T): Promise<number> {
    return await this.#rewrite((list) => list.count(item), false) as number;
  }

  async remove(item: T): Promise<void> {
    await this.#rewrite((list) => list.remove(item));
  }

  async reverse(): Promise<void> {
    await this.#rewrite((list) => list.reverse());
  }

  /** Numbers numerically, anything else as Array.prototype.sort does (a comparator cannot travel). */
  async sort(): Promise<void> {
    await this.#rewrite((list) => list.sort());
  }

  /**
   * Runs one of the Manager's list methods on the whole list, and (`write`) stores the result in one transaction
   * that fails, and is run again, if another client changed the list in between.
   */
  async #rewrite(method: (list: ListObject) => unknown, write = true): Promise<unknown> {
    const [meta, items] = this._listKeys;
    for (;;) {
      const outcome = await this._connection.exclusive(async (client) => {
        await client.call('WATCH', meta, items);
        try {
          if (Number(await client.call('EXISTS', meta)) === 0) {
            throw new Error('MPGONE this object no longer exists in Redis (its manager shut down, or it was removed)');
          }
          const list = new ListObject(await this.#decodeAll(await client.callBuffer('LRANGE', items, 0, -1) as Buffer[]));
          const result = method(list);
          if (!write) return { result };
          const encoded = this.#encode(list.toArray(), 'rewrite');
          await client.call('MULTI');
          await client.call('DEL', items);
          if (encoded.length) await client.call('RPUSH', items, ...encoded);
          return (await client.call('EXEC')) === null ? null : { result };
        } finally {
          await client.call('UNWATCH');
        }
      });
      if (outcome) return outcome.result;
    }
  }
}

function checkIndex(index: unknown): number {
  return checkInteger(index, 'index', -Number.MAX_SAFE_INTEGER);
}

/** A Value: read with get(), write with set() (no `value` accessor: a setter cannot be awaited). */
export class RedisValueProxy<T = unknown> extends RedisProxy {
  async get(): Promise<T> {
    return await decodeValue(await this._connection.script<Buffer>('v_get', this._keys('meta'), ['value'], true)) as T;
  }

  async set(value: T): Promise<void> {
    await this._connection.script('v_set', this._keys('meta'), [encodeValue(value, 'Value.set() arguments[0]')]);
  }

  typecode(): Promise<string> {
    return this._connection.script<string>('v_get', this._keys('meta'), ['typecode']);
  }
}

registerProxyType('dict', RedisDictProxy);
registerProxyType('Namespace', RedisNamespaceProxy);
registerProxyType('list', RedisListProxy);
registerProxyType('Value', RedisValueProxy);
