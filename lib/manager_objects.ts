/**
 * The objects a Manager server holds for its clients (CPython's SyncManager registers threading objects, dict,
 * list, Namespace, Value and array). They live in the server's one event loop, so none of them may block it:
 * every wait is a promise in a FIFO of waiters, woken by hand-off, ended by a timeout or by its caller's signal
 * (the client cancelled, or its connection closed).
 *
 * Methods of built-in objects receive the caller (its session and signal) as their first argument; the server
 * passes it because the class extends CallerAware.
 */
import { AbortError, AssertionError, BrokenBarrierError, Empty, Full, InvalidArgumentError, ValueError } from './errors';
import { setLongTimeout, whenAborted } from './timeouts';
import { checkInteger, checkOptions, checkTimeout, describe } from './validate';

/** One client connection, as objects see it: what it holds, so a vanished client's locks can be released. */
export interface Session {
  readonly id: number;
  readonly holding: Set<Abandonable>;
  closed: boolean;
}

/** A lock that can take back what a closed session held. */
export interface Abandonable {
  abandon(session: Session): void;
}

export interface Caller {
  session: Session;
  signal: AbortSignal;
}

/** Built-in objects whose exposed methods take the Caller as first argument (user types never do). */
export abstract class CallerAware {}

export function takesCaller(obj: object): boolean {
  return obj instanceof CallerAware;
}

// --- waiting ----------------------------------------------------------------------------------------------------

interface Waiter<D, V> {
  data: D;
  wake(value: V): void;
}

/** A FIFO of pending calls. A waiter leaves it when woken, when its timeout passes, or when its signal aborts. */
class Waiters<D = undefined, V = true> {
  #queue: Waiter<D, V>[] = [];

  /** Resolves with the value it was woken with, or `null` on timeout; rejects with AbortError on abort. */
  wait(caller: Caller, timeout: number | undefined, data: D): Promise<V | null> {
    return new Promise<V | null>((resolve, reject) => {
      const { signal } = caller;
      if (signal.aborted) return reject(new AbortError());
      let stopTimer: (() => void) | undefined;
      const leave = () => {
        const i = this.#queue.indexOf(waiter);
        if (i >= 0) this.#queue.splice(i, 1);
        stopTimer?.();
        stopListening();
      };
      const waiter: Waiter<D, V> = {
        data,
        wake: (value) => {
          leave();
          resolve(value);
        },
      };
      this.#queue.push(waiter);
      const stopListening = whenAborted(signal, () => {
        leave();
        reject(new AbortError());
      });
      if (timeout !== undefined) stopTimer = setLongTimeout(() => { leave(); resolve(null); }, timeout);
    });
  }

  /** The first waiter, or undefined; the caller wakes it after deciding what to hand over. */
  first(): Waiter<D, V> | undefined {
    return this.#queue[0];
  }

  wakeAll(value: V): number {
    const all = [...this.#queue];
    for (const w of all) w.wake(value);
    return all.length;
  }

  get size(): number {
    return this.#queue.length;
  }
}

interface BlockingOptions {
  block?: boolean;
  blocking?: boolean;
  timeout?: number;
}

/** Python's (block, timeout) pair from an options object; timeout 0 means "try once". */
export function blockingOf(options: unknown, key: 'block' | 'blocking'): { block: boolean; timeout: number | undefined } {
  const opts = checkOptions<BlockingOptions>(options, 'options');
  const flag = opts[key];
  if (flag !== undefined && typeof flag !== 'boolean') throw new InvalidArgumentError(`${key} must be a boolean`);
  const timeout = checkTimeout(opts.timeout);
  return { block: flag !== false && timeout !== 0, timeout };
}

// --- locks ------------------------------------------------------------------------------------------------------

/** What a Condition needs of its lock: a server Lock or RLock, kept in the server or in the kernel. */
export abstract class ServerLock extends CallerAware implements Abandonable {
  abstract acquire(caller: Caller, options?: unknown): Promise<boolean>;
  abstract release(caller: Caller): void;
  abstract abandon(session: Session): void;
  /** For Condition.wait: gives the lock up entirely, returning the recursion count to restore. */
  abstract releaseAll(caller: Caller): number;
  abstract reacquire(caller: Caller, count: number): Promise<void>;
  abstract isMine(caller: Caller): boolean;
  abstract locked(): boolean;
}

/** Lock and RLock kept in the server: an owner session, a recursion count, a FIFO of sessions waiting for it. */
abstract class OwnedLock extends ServerLock {
  protected owner: Session | null = null;
  protected count = 0;
  readonly #waiters = new Waiters<Session>();
  protected abstract readonly recursive: boolean;

  async acquire(caller: Caller, options?: unknown): Promise<boolean> {
    const { block, timeout } = blockingOf(options, 'blocking');
    if (this.owner === null) {
      this.#take(caller.session, 1);
      return true;
    }
    if (this.recursive && this.owner === caller.session) {
      this.count++;
      return true;
    }
    if (!block) return false;
    return (await this.#waiters.wait(caller, timeout, caller.session)) !== null;
  }

  release(caller: Caller): void {
    if (this.owner === null) throw new ValueError('semaphore or lock released too many times');
    if (this.recursive) {
      if (this.owner !== caller.session) throw new AssertionError('attempt to release recursive lock not owned by process');
      if (--this.count > 0) return;
    }
    this.#handOver();
  }

  /** Hands the lock to the first waiter (FIFO, no barging) or leaves it free. */
  #handOver(): void {
    this.owner!.holding.delete(this);
    this.owner = null;
    this.count = 0;
    const next = this.#waiters.first();
    if (next) {
      this.#take(next.data, 1);
      next.wake(true);
    }
  }

  #take(session: Session, count: number): void {
    this.owner = session;
    this.count = count;
    session.holding.add(this);
  }

  /** A lock held by a client that disconnected is released, so the others do not wait forever. */
  abandon(session: Session): void {
    if (this.owner === session) this.#handOver();
  }

  releaseAll(caller: Caller): number {
    if (this.owner !== caller.session) throw new AssertionError(NOT_ACQUIRED_FOR_WAIT);
    const count = this.count;
    this.#handOver();
    return count;
  }

  async reacquire(caller: Caller, count: number): Promise<void> {
    await this.acquire(caller);
    this.count = count;
  }

  isMine(caller: Caller): boolean {
    return this.owner === caller.session;
  }

  locked(): boolean {
    return this.owner !== null;
  }
}

export class LockObject extends OwnedLock {
  protected readonly recursive = false;
}

export class RLockObject extends OwnedLock {
  protected readonly recursive = true;
}

export const NOT_ACQUIRED_FOR_WAIT = 'must acquire() condition before using wait()';

export function semaphoreValue(value: unknown): number {
  if (value === undefined) return 1;
  return checkInteger(value, 'semaphore initial value', 0, 0x7fffffff);
}

/** A counting semaphore; with `bound`, releasing above the initial value is an error (BoundedSemaphore). */
class CountingSemaphore extends CallerAware {
  #value: number;
  readonly #bound: number | undefined;
  readonly #waiters = new Waiters();

  constructor(value: unknown, bounded: boolean) {
    super();
    this.#value = semaphoreValue(value);
    this.#bound = bounded ? this.#value : undefined;
  }

  async acquire(caller: Caller, options?: unknown): Promise<boolean> {
    const { block, timeout } = blockingOf(options, 'blocking');
    if (this.#value > 0) {
      this.#value--;
      return true;
    }
    if (!block) return false;
    return (await this.#waiters.wait(caller, timeout, undefined)) !== null;
  }

  release(_caller: Caller, n: unknown = 1): void {
    let units = checkInteger(n, 'n', 1);
    if (this.#bound !== undefined && this.#value + units > this.#bound) {
      throw new ValueError('semaphore or lock released too many times');
    }
    for (; units > 0; units--) {
      const next = this.#waiters.first(); // a unit goes straight to the oldest waiter
      if (next) next.wake(true);
      else this.#value++;
    }
  }

  getValue(): number {
    return this.#value;
  }
}

export class SemaphoreObject extends CountingSemaphore {
  constructor(value?: unknown) {
    super(value, false);
  }
}

export class BoundedSemaphoreObject extends CountingSemaphore {
  constructor(value?: unknown) {
    super(value, true);
  }
}

/** A condition variable over a server Lock/RLock (its own RLock by default). */
export class ConditionObject extends CallerAware {
  readonly #lock: ServerLock;
  readonly #waiters = new Waiters();

  constructor(lock?: unknown) {
    super();
    if (lock !== undefined && lock !== null && !(lock instanceof ServerLock)) {
      throw new InvalidArgumentError(`Condition lock must be a manager Lock or RLock proxy, got ${describe(lock)}`);
    }
    this.#lock = lock ?? new RLockObject();
  }

  acquire(caller: Caller, options?: unknown): Promise<boolean> {
    return this.#lock.acquire(caller, options);
  }

  release(caller: Caller): void {
    this.#lock.release(caller);
  }

  async wait(caller: Caller, options?: unknown): Promise<boolean> {
    const timeout = checkTimeout(checkOptions<{ timeout: number }>(options, 'wait options').timeout);
    const count = this.#lock.releaseAll(caller);
    let woken = false;
    try {
      woken = (await this.#waiters.wait(caller, timeout, undefined)) !== null;
    } finally {
      // Python re-acquires even when the wait failed; a caller whose connection closed will not be back for it.
      if (!caller.session.closed) await this.#lock.reacquire({ session: caller.session, signal: NEVER }, count);
    }
    return woken;
  }

  notify(caller: Caller, n: unknown = 1): void {
    const count = checkInteger(n, 'n', 0);
    if (!this.#lock.isMine(caller)) throw new AssertionError('lock is not owned');
    for (let i = 0; i < count; i++) {
      const next = this.#waiters.first();
      if (!next) break;
      next.wake(true);
    }
  }

  notifyAll(caller: Caller): void {
    if (!this.#lock.isMine(caller)) throw new AssertionError('lock is not owned');
    this.#waiters.wakeAll(true);
  }
}

/** A signal that never aborts: re-acquiring after a Condition wait is not cancellable (Python does the same). */
const NEVER = new AbortController().signal;

export class EventObject extends CallerAware {
  #flag = false;
  readonly #waiters = new Waiters();

  isSet(): boolean {
    return this.#flag;
  }

  set(): void {
    this.#flag = true;
    this.#waiters.wakeAll(true);
  }

  clear(): void {
    this.#flag = false;
  }

  async wait(caller: Caller, options?: unknown): Promise<boolean> {
    const timeout = checkTimeout(checkOptions<{ timeout: number }>(options, 'wait options').timeout);
    if (this.#flag) return true;
    await this.#waiters.wait(caller, timeout, undefined);
    return this.#flag;
  }
}

/** threading.Barrier's contract: parties arrive, the last releases them all; a timeout or abort breaks it. */
export class BarrierObject extends CallerAware {
  readonly #parties: number;
  readonly #timeout: number | undefined;
  #broken = false;
  #waiters = new Waiters<undefined, boolean>(); // woken with true (released) or false (broken)

  constructor(parties: unknown, action?: unknown, timeout?: unknown) {
    super();
    this.#parties = checkInteger(parties, 'parties', 1, 0x7fffffff);
    // A client cannot make the server load and run code: the action runs nowhere else than in a local Barrier.
    if (action !== undefined && action !== null) {
      throw new InvalidArgumentError('a manager Barrier takes no action (it would have to run inside the server)');
    }
    this.#timeout = checkTimeout(timeout);
  }

  async wait(caller: Caller, options?: unknown): Promise<number> {
    const timeout = checkTimeout(checkOptions<{ timeout: number }>(options, 'wait options').timeout) ?? this.#timeout;
    if (this.#broken) throw new BrokenBarrierError();
    const index = this.#waiters.size;
    if (index + 1 === this.#parties) {
      this.#waiters.wakeAll(true);
      return index;
    }
    let released: boolean | null;
    try {
      released = await this.#waiters.wait(caller, timeout, undefined);
    } catch (err) {
      this.#break(); // a party that gave up will not arrive: nobody else may wait for it
      throw err;
    }
    if (released === null) {
      this.#break();
      throw new BrokenBarrierError('the barrier timed out and is now broken');
    }
    if (!released) throw new BrokenBarrierError();
    return index;
  }

  #break(): void {
    this.#broken = true;
    this.#waiters.wakeAll(false);
  }

  reset(): void {
    this.#waiters.wakeAll(false);
    this.#broken = false;
  }

  abort(): void {
    this.#break();
  }

  parties(): number {
    return this.#parties;
  }

  nWaiting(): number {
    return this.#waiters.size;
  }

  broken(): boolean {
    return this.#broken;
  }
}

// --- queues -----------------------------------------------------------------------------------------------------

/** queue.Queue: items in a FIFO; a full queue parks putters, an empty one parks getters, hand-off both ways. */
class BoundedQueue extends CallerAware {
  readonly #maxsize: number;
  #items: unknown[] = [];
  #head = 0;
  readonly #getters = new Waiters<undefined, { item: unknown }>();
  readonly #putters = new Waiters<unknown>();

  constructor(maxsize: unknown = 0) {
    super();
    this.#maxsize = checkInteger(maxsize, 'maxsize', 0, Number.MAX_SAFE_INTEGER) || Infinity;
  }

  async put(caller: Caller, item: unknown, options?: unknown): Promise<void> {
    const { block, timeout } = blockingOf(options, 'block');
    if (this.qsize() < this.#maxsize) return this.#accept(item);
    if (!block) throw new Full();
    if ((await this.#putters.wait(caller, timeout, item)) === null) throw new Full();
  }

  putNowait(caller: Caller, item: unknown): Promise<void> {
    return this.put(caller, item, { block: false });
  }

  async get(caller: Caller, options?: unknown): Promise<unknown> {
    const { block, timeout } = blockingOf(options, 'block');
    if (this.qsize() > 0) return this.#take();
    if (!block) throw new Empty();
    const got = await this.#getters.wait(caller, timeout, undefined);
    if (got === null) throw new Empty();
    return got.item;
  }

  getNowait(caller: Caller): Promise<unknown> {
    return this.get(caller, { block: false });
  }

  #accept(item: unknown): void {
    this.onPut();
    const getter = this.#getters.first();
    if (getter) getter.wake({ item });
    else this.#items.push(item);
  }

  #take(): unknown {
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    const putter = this.#putters.first(); // room was made: the oldest parked item goes in now
    if (putter) {
      this.#accept(putter.data);
      putter.wake(true);
    }
    return item;
  }

  protected onPut(): void {
    // JoinableQueue counts unfinished tasks here
  }

  qsize(): number {
    return this.#items.length - this.#head;
  }

  empty(): boolean {
    return this.qsize() === 0;
  }

  full(): boolean {
    return this.qsize() >= this.#maxsize;
  }
}

export class QueueObject extends BoundedQueue {}

export class JoinableQueueObject extends BoundedQueue {
  #unfinished = 0;
  readonly #joiners = new Waiters();

  protected override onPut(): void {
    this.#unfinished++;
  }

  taskDone(): void {
    if (this.#unfinished <= 0) throw new ValueError('task_done() called too many times');
    if (--this.#unfinished === 0) this.#joiners.wakeAll(true);
  }

  async join(caller: Caller): Promise<void> {
    if (this.#unfinished > 0) await this.#joiners.wait(caller, undefined, undefined);
  }
}

// --- containers -------------------------------------------------------------------------------------------------

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

  constructor(typecode: unknown, value: unknown) {
    this.#typecode = checkTypecode(typecode);
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

export interface ServerType {
  create: new (...args: never[]) => object;
  /** The methods a proxy may call; nothing else on the object is reachable from a client. */
  exposed: string[];
}

export const LOCK_METHODS = ['acquire', 'release', 'locked'];
export const SEMAPHORE_METHODS = ['acquire', 'release', 'getValue'];
export const QUEUE_METHODS = ['put', 'putNowait', 'get', 'getNowait', 'qsize', 'empty', 'full'];
const publicMethodsOf = (cls: new (...args: never[]) => object) => publicMethods(Object.create(cls.prototype));

/** Every built-in typeid, what the server creates for it, and what a client may call. */
export const BUILTIN_TYPES: Record<string, ServerType> = {
  Lock: { create: LockObject, exposed: LOCK_METHODS },
  RLock: { create: RLockObject, exposed: LOCK_METHODS },
  Semaphore: { create: SemaphoreObject, exposed: SEMAPHORE_METHODS },
  BoundedSemaphore: { create: BoundedSemaphoreObject, exposed: SEMAPHORE_METHODS },
  Condition: { create: ConditionObject, exposed: ['acquire', 'release', 'wait', 'notify', 'notifyAll'] },
  Event: { create: EventObject, exposed: ['isSet', 'set', 'clear', 'wait'] },
  Barrier: { create: BarrierObject, exposed: ['wait', 'reset', 'abort', 'parties', 'nWaiting', 'broken'] },
  Queue: { create: QueueObject, exposed: QUEUE_METHODS },
  JoinableQueue: { create: JoinableQueueObject, exposed: [...QUEUE_METHODS, 'taskDone', 'join'] },
  dict: { create: DictObject, exposed: publicMethodsOf(DictObject) },
  list: { create: ListObject, exposed: publicMethodsOf(ListObject) },
  Value: { create: ValueObject, exposed: publicMethodsOf(ValueObject) },
  Array: { create: ArrayObject, exposed: publicMethodsOf(ArrayObject) },
  Namespace: { create: NamespaceObject, exposed: ['get', 'set', 'has', 'delete', 'toObject'] },
};

/** Python's public_methods(): callable, not starting with '_', found on the object's own class chain. */
export function publicMethods(obj: object): string[] {
  const names = new Set<string>();
  for (let proto = Object.getPrototypeOf(obj); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const desc = Object.getOwnPropertyDescriptor(proto, name);
      if (name !== 'constructor' && !name.startsWith('_') && desc && typeof desc.value === 'function') names.add(name);
    }
  }
  for (const name of Object.keys(obj)) {
    if (!name.startsWith('_') && typeof (obj as Record<string, unknown>)[name] === 'function') names.add(name);
  }
  return [...names].sort();
}
