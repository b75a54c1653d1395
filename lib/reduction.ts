/**
 * How values cross a process boundary (CPython's reduction.py and the spawning half of context.py).
 *
 * A reduce pass replaces library objects, and user objects implementing `[reduce]`, with descriptors; the result
 * goes through v8.serialize (structured clone: nothing runs on the receiving side but our rebuilders). Objects that
 * live in the kernel (semaphores, pipes) reduce only inside a spawning context, i.e. while a child is being
 * spawned and can still be handed descriptors and handles: anywhere else `assertSpawning` throws Python's error.
 */
import { isMap, isSet } from 'node:util/types';
import * as v8 from 'node:v8';
import { PicklingError, RuntimeError } from './errors';
import { native, NativeSemaphore } from './native';
import { loadReference, loadReferenceSync, referenceOf, ResolvedRef } from './reference';
import { describe } from './validate';

/** Implement `[reduce]()` to make a class travel: return [rebuild function (exported), constructor arguments]. */
export const reduce: unique symbol = Symbol.for('multiproc.reduce') as never;

export type Reduced = [rebuild: unknown, args: unknown[]];
export interface Reducible {
  [reduce](): Reduced;
}

/** The first descriptor a child receives beyond stdin/stdout/stderr and the control channel (fd 3). */
export const FIRST_PASSED_FD = 4;

/**
 * What a descriptor, handle or semaphore becomes when it is handed to another thread of this process: a ticket of
 * the addon's lending registry, redeemed by fromThread() in the receiving thread (and nowhere else).
 */
export interface Lent {
  lent: string;
}

export function isLent(value: unknown): value is Lent {
  return typeof value === 'object' && value !== null && typeof (value as Lent).lent === 'string';
}

/**
 * Collects what a child being spawned must receive besides the payload: descriptors (POSIX) and handles (Windows),
 * and keeps what it must still be able to open (semaphore names) until it exits. With `toThread`, the receiver is
 * another thread of this process instead (threads.ts): descriptors and semaphores are lent, not passed.
 */
export class SpawningContext {
  /** Parent-side descriptors, in the order they go into the spawn stdio array from FIRST_PASSED_FD on. */
  readonly fds: number[] = [];
  /** Windows: the child's pid, known before the payload is reduced (handles are duplicated into it). */
  pid: number | undefined;
  readonly toThread: boolean;
  readonly #retained: { close(): void }[] = [];

  constructor(toThread = false) {
    this.toThread = toThread;
  }

  /** Returns the descriptor number the child will see for `fd` (for a thread, a ticket for a duplicate of it). */
  passFd(fd: number): number | Lent {
    if (this.toThread) return { lent: native.lendDescriptor(fd) };
    let index = this.fds.indexOf(fd);
    if (index < 0) index = this.fds.push(fd) - 1;
    return FIRST_PASSED_FD + index;
  }

  /** Windows: duplicates a handle (a semaphore's, a pipe end's) into the child; returns its value there. */
  duplicateHandle(source: Pick<NativeSemaphore, 'duplicateInto'>): string {
    if (this.pid === undefined) throw new RuntimeError('handles can only be duplicated once the child exists');
    return source.duplicateInto(this.pid);
  }

  /** Windows pipe ends: a handle value for the child, or a ticket for a thread. */
  passHandle(handle: number): string | Lent {
    if (this.toThread) return { lent: native.lendDescriptor(handle) };
    return this.duplicateHandle({ duplicateInto: (pid) => native.duplicateHandle(handle, pid) });
  }

  /** Keeps `resource` until release(): what the child may still need to open while it starts. */
  retain(resource: { close(): void }): void {
    this.#retained.push(resource);
  }

  /** The child exited (or never started): what was kept for it goes. */
  release(): void {
    for (const resource of this.#retained.splice(0)) resource.close();
  }
}

let adopting = false;

/** Runs `fn` while tickets of other threads may be redeemed (fromThread). */
export function withAdoption<T>(fn: () => T): T {
  adopting = true;
  try {
    return fn();
  } finally {
    adopting = false;
  }
}

/** Tickets are redeemed only by fromThread: in a payload or a queue item they name nothing. */
export function requireAdoption(): void {
  if (!adopting) throw new RuntimeError('a ticket of another thread can only be adopted by fromThread()', 'ERR_MP_NOT_A_THREAD_HANDOVER');
}

/** A descriptor (or handle) a child was passed, or the duplicate of one another thread lent. */
export function passedDescriptor(passed: number | string | Lent): number | string {
  if (!isLent(passed)) return passed;
  requireAdoption();
  return native.adoptDescriptor(passed.lent);
}

let current: SpawningContext | null = null;

/** Runs `fn` with `ctx` as the open spawning context. */
export function withSpawningContext<T>(ctx: SpawningContext, fn: () => T): T {
  const previous = current;
  current = ctx;
  try {
    return fn();
  } finally {
    current = previous;
  }
}

export function spawningContext(): SpawningContext {
  if (!current) throw new RuntimeError('no spawning context is open');
  return current;
}

export function isSpawning(): boolean {
  return current !== null;
}

/**
 * Python's assert_spawning: kernel objects may only travel while a child is being spawned.
 * With `always`, throws even then (used by the guard that stops other serializers).
 */
export function assertSpawning(obj: object, always = false): void {
  if (current === null || always) {
    throw new RuntimeError(`${obj.constructor.name} objects should only be shared between processes through inheritance`);
  }
}

// --- rebuilders -----------------------------------------------------------------------------------------------

type Rebuilder = (...args: any[]) => unknown; // eslint-disable-line @typescript-eslint/no-explicit-any
const rebuilders = new Map<string, Rebuilder>();

/** Library classes register their rebuild function under a stable id. */
export function registerRebuilder(id: string, rebuild: Rebuilder): void {
  rebuilders.set(id, rebuild);
}

/**
 * A function travelling by reference (Process targets, Pool tasks and initializers, Barrier actions): it reduces to
 * the module and export that hold it, and rebuilds as the function loaded on the other side.
 */
export function functionReference(fn: unknown, role: string): Reducible {
  const ref = referenceOf(fn, role);
  return { [reduce]: () => [REBUILD_FUNCTION, [ref]] };
}

const REBUILD_FUNCTION = 'multiproc.function';
registerRebuilder(REBUILD_FUNCTION, (ref: ResolvedRef) => loadReferenceSync(ref));

/** The property that marks a reduced object; exported for the Manager server, which keeps markers as data. */
export const MARK = '$multiproc.reduced';
type Marker = { [MARK]: [rebuild: string | ResolvedRef, args: unknown[]] };

// --- the passes -------------------------------------------------------------------------------------------------

/** Replaces reducible objects with markers; everything else is copied as structured clone would see it. */
export function reduceValue(value: unknown): unknown {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol')) {
    return value;
  }
  return reduceWalk(value, new Map());
}

function reduceWalk(value: unknown, memo: Map<object, unknown>): unknown {
  if (value === null || value === undefined) return value;
  const type = typeof value;
  if (type === 'symbol' || type === 'function') {
    throw new PicklingError(`cannot send ${describe(value)} to another process: ${type}s are not serializable` +
      (type === 'function' ? ' (send data; functions travel only as a Process target or a Pool task)' : ''));
  }
  if (type !== 'object') return value;
  const obj = value as object;
  const seen = memo.get(obj);
  if (seen !== undefined) return seen;
  const reducer = (obj as Partial<Reducible>)[reduce];
  if (typeof reducer === 'function') {
    const [rebuild, args] = reducer.call(obj) as Reduced; // kernel objects: only inside a spawning context
    const marker: Marker = { [MARK]: [typeof rebuild === 'string' ? rebuild : referenceOf(rebuild, 'a reduce function'), []] };
    memo.set(obj, marker);
    marker[MARK][1] = reduceWalk(args, memo) as unknown[];
    return marker;
  }
  if (Array.isArray(obj)) {
    const out: unknown[] = new Array(obj.length);
    memo.set(obj, out);
    for (let i = 0; i < obj.length; i++) out[i] = reduceWalk(obj[i], memo);
    return out;
  }
  if (obj instanceof Map) {
    const out = new Map();
    memo.set(obj, out);
    for (const [k, v] of obj) out.set(reduceWalk(k, memo), reduceWalk(v, memo));
    return out;
  }
  if (obj instanceof Set) {
    const out = new Set();
    memo.set(obj, out);
    for (const v of obj) out.add(reduceWalk(v, memo));
    return out;
  }
  if (ArrayBuffer.isView(obj) || obj instanceof ArrayBuffer || obj instanceof Date || obj instanceof RegExp ||
      obj instanceof Error || obj instanceof Boolean || obj instanceof Number || obj instanceof String) {
    return obj; // v8.serialize handles these itself
  }
  const out: Record<string, unknown> = {};
  memo.set(obj, out);
  for (const key of Object.keys(obj)) out[key] = reduceWalk((obj as Record<string, unknown>)[key], memo);
  return out;
}

/** Replaces markers with rebuilt objects, in place (the value is a fresh deserialized copy). */
export function rebuildValue(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  return rebuildWalk(value, new Map());
}

/**
 * An object literal of any realm: v8.deserialize makes its objects in the main context, which is not the one code
 * runs in under `vm` (or jest), so `Object.prototype` cannot be compared directly.
 */
function isPlainObject(obj: object): boolean {
  const proto = Object.getPrototypeOf(obj);
  return proto === null || Object.getPrototypeOf(proto) === null;
}

function rebuildWalk(value: unknown, memo: Map<object, unknown>): unknown {
  if (value === null || typeof value !== 'object') return value;
  const obj = value as object;
  if (memo.has(obj)) return memo.get(obj);
  if (Object.prototype.hasOwnProperty.call(obj, MARK)) {
    const [rebuild, rawArgs] = (obj as Marker)[MARK];
    memo.set(obj, undefined); // a marker reachable from its own arguments would be a cycle through a constructor
    const args = rebuildWalk(rawArgs, memo) as unknown[];
    const fn = typeof rebuild === 'string' ? rebuilders.get(rebuild) : loadReferenceSync(rebuild);
    if (!fn) throw new PicklingError(`no rebuilder registered for ${String(rebuild)}`);
    const result = fn(...args);
    memo.set(obj, result);
    return result;
  }
  memo.set(obj, obj);
  if (Array.isArray(obj)) {
    for (let i = 0; i < obj.length; i++) obj[i] = rebuildWalk(obj[i], memo);
  } else if (isMap(obj)) {
    const entries = [...obj].map(([k, v]) => [rebuildWalk(k, memo), rebuildWalk(v, memo)] as const);
    obj.clear();
    for (const [k, v] of entries) obj.set(k, v);
  } else if (isSet(obj)) {
    const items = [...obj].map((v) => rebuildWalk(v, memo));
    obj.clear();
    for (const v of items) obj.add(v);
  } else if (isPlainObject(obj)) {
    const rec = obj as Record<string, unknown>;
    for (const key of Object.keys(rec)) rec[key] = rebuildWalk(rec[key], memo);
  }
  return obj;
}

/** Loads (imports) every user rebuild function a deserialized value refers to, so rebuildValue can run. */
export async function preloadRebuilders(value: unknown, seen = new Set<object>()): Promise<void> {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (Object.prototype.hasOwnProperty.call(value, MARK)) {
    const [rebuild, args] = (value as Marker)[MARK];
    if (typeof rebuild !== 'string') await loadReference(rebuild);
    else if (rebuild === REBUILD_FUNCTION) await loadReference(args[0] as ResolvedRef);
  }
  const children = isMap(value) ? [...value.keys(), ...value.values()] : isSet(value) ? [...value]
    : Array.isArray(value) || isPlainObject(value) ? Object.values(value) : [];
  for (const child of children) await preloadRebuilders(child, seen);
}

/** reduce + v8.serialize. */
export function dumps(value: unknown): Buffer {
  return v8.serialize(reduceValue(value));
}

/** v8.deserialize + rebuild. */
export function loads(data: Uint8Array): unknown {
  return rebuildValue(v8.deserialize(data));
}
