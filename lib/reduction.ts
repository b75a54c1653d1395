/**
 * How values cross a process boundary (CPython's reduction.py and the spawning half of context.py).
 *
 * A reduce pass replaces library objects, and user objects implementing `[reduce]`, with descriptors; the result
 * goes through v8.serialize (structured clone: nothing runs on the receiving side but our rebuilders). Objects that
 * live in the kernel (semaphores, pipes) reduce only inside a spawning context, i.e. while a child is being
 * spawned and can still be handed descriptors and handles: anywhere else `assertSpawning` throws Python's error.
 */
import { isMap, isProxy, isSet } from 'node:util/types';
import * as v8 from 'node:v8';
import { deserialize } from './deserialize';
import { PicklingError, RuntimeError, UnpicklingError } from './errors';
import { native, NativeSemaphore } from './native';
import { isFunctionRef, isResolvedRef, loadReference, loadReferenceSync, referenceOf, ResolvedRef } from './reference';
import {
  cannotTravel, className, keyStep, mapValueStep, picklingError, Root, travelsAsIs, Untravellable, within,
} from './travel';
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

/** The descriptors a rebuilt object (a queue, a connection) was passed (or lent); nothing leaks if one of them cannot be adopted. */
export function adoptFds(ends: (number | Lent)[]): number[] {
  const fds: number[] = [];
  try {
    for (const end of ends) fds.push(passedDescriptor(end) as number);
  } catch (err) {
    fds.forEach((fd, i) => isLent(ends[i]) && native.closeFd(fd)); // the duplicates made here
    throw err;
  }
  return fds;
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
/** Modules a process loads when a value first names one of their rebuilders (registered by rebuilder_modules.ts). */
const rebuilderModules = new Map<string, () => unknown>();

/** Library classes register their rebuild function under a stable id. */
export function registerRebuilder(id: string, rebuild: Rebuilder): void {
  rebuilders.set(id, rebuild);
}

/** `load()` loads the module `id`'s rebuilder needs: called the first time a value names it. */
export function registerRebuilderModule(id: string, load: () => unknown): void {
  rebuilderModules.set(id, load);
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

/**
 * A reduced object travels as a marker: an empty array whose one named property, MARK, holds [rebuild, args].
 * Plain data cannot take that form: the reduce pass copies every array it is given element by element, so an array
 * with a named property of its own never leaves a process, and a plain object is never read as a marker whatever
 * its keys (a JSON request body with a "$multiproc.reduced" key arrives as that same body). So only what this
 * library reduced is rebuilt by reference on the other side. Exported for the Manager server, which keeps markers
 * as data.
 */
export const MARK = '$multiproc.reduced';
export type Marker = unknown[] & { [MARK]: [rebuild: string | ResolvedRef, args: unknown[]] };

export function makeMarker(rebuild: string | ResolvedRef, args: unknown[]): Marker {
  const marker = [] as unknown as Marker;
  marker[MARK] = [rebuild, args];
  return marker;
}

export function isMarker(value: unknown): value is Marker {
  return Array.isArray(value) && Object.prototype.hasOwnProperty.call(value, MARK);
}

// --- the passes -------------------------------------------------------------------------------------------------

/**
 * Replaces reducible objects with markers; everything else is copied as structured clone would see it. Throws
 * PicklingError, naming the type and its path from `root`, for what cannot travel (travel.ts). `keepMarkers`: the
 * value holds markers received as data, sent on as they are (the Manager server, which rebuilds nothing).
 */
export function reduceValue(value: unknown, root: Root = '', keepMarkers = false): unknown {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol')) {
    return value;
  }
  try {
    return reduceWalk(value, { memo: new Map(), keepMarkers });
  } catch (err) {
    throw err instanceof Untravellable ? picklingError(err, root) : err;
  }
}

interface Pass {
  /** What each object reduced to, so shared and cyclic references stay so. */
  memo: Map<object, unknown>;
  keepMarkers: boolean;
}

function reduceWalk(value: unknown, pass: Pass): unknown {
  if (value === null || value === undefined) return value;
  const type = typeof value;
  if (type === 'symbol' || type === 'function') throw cannotTravel(value);
  if (type !== 'object') return value;
  const obj = value as object;
  const seen = pass.memo.get(obj);
  if (seen !== undefined) return seen;
  if (isProxy(obj)) throw cannotTravel(obj); // before anything reads it: reading runs its traps
  const reducer = (obj as Partial<Reducible>)[reduce];
  if (typeof reducer === 'function') return reduceObject(obj, reducer, pass);
  if (Array.isArray(obj)) {
    if (pass.keepMarkers && isMarker(obj)) return obj; // made by a client's reduce pass, arguments included
    const out: unknown[] = new Array(obj.length);
    pass.memo.set(obj, out);
    let i = 0;
    try {
      for (; i < obj.length; i++) out[i] = reduceWalk(obj[i], pass);
    } catch (err) {
      throw within(err, i);
    }
    return out;
  }
  if (isPlainObject(obj)) {
    const out: Record<string, unknown> = {};
    pass.memo.set(obj, out);
    let key = '';
    try {
      for (key of Object.keys(obj)) out[key] = reduceWalk((obj as Record<string, unknown>)[key], pass);
    } catch (err) {
      throw within(err, keyStep(key));
    }
    return out;
  }
  if (isMap(obj)) {
    const out = new Map();
    pass.memo.set(obj, out);
    for (const [k, v] of obj) {
      let rk: unknown;
      try {
        rk = reduceWalk(k, pass);
      } catch (err) {
        throw within(err, '<a Map key>');
      }
      try {
        out.set(rk, reduceWalk(v, pass));
      } catch (err) {
        throw within(err, mapValueStep(k));
      }
    }
    return out;
  }
  if (isSet(obj)) {
    const out = new Set();
    pass.memo.set(obj, out);
    try {
      for (const v of obj) out.add(reduceWalk(v, pass));
    } catch (err) {
      throw within(err, '<a Set item>');
    }
    return out;
  }
  if (travelsAsIs(obj)) return obj; // v8.serialize copies these itself
  throw cannotTravel(obj);
}

/** An object with `[reduce]`: checks what it returned and makes its marker. */
function reduceObject(obj: object, reducer: () => unknown, pass: Pass): Marker {
  const reduced = reducer.call(obj);
  const [rebuild, args] = Array.isArray(reduced) ? reduced : [];
  const rebuildOk = typeof rebuild === 'function' || isFunctionRef(rebuild) || (typeof rebuild === 'string' && rebuilders.has(rebuild));
  if (!Array.isArray(reduced) || reduced.length !== 2 || !rebuildOk || !Array.isArray(args)) {
    throw new Untravellable(`an instance of ${className(obj)}`, `its [reduce]() must return [rebuild, args]: an ` +
      `exported function (or { module, export }) and the array of its arguments; it returned ${describeReduced(reduced)}`);
  }
  const ref = typeof rebuild === 'string' ? rebuild : referenceOf(rebuild, `the rebuild function of ${className(obj)}`);
  const marker = makeMarker(ref, []);
  pass.memo.set(obj, marker);
  try {
    marker[MARK][1] = reduceWalk(args, pass) as unknown[];
  } catch (err) {
    throw within(err, `<${className(obj)}[reduce]() arguments>`);
  }
  return marker;
}

function describeReduced(reduced: unknown): string {
  if (!Array.isArray(reduced)) return describe(reduced);
  if (reduced.length !== 2) return `an array of ${reduced.length} items`;
  const [rebuild, args] = reduced;
  if (typeof rebuild === 'string') return `[string ${JSON.stringify(rebuild)}, …], which names no rebuilder`;
  return `[${describe(rebuild)}, ${describe(args)}]`;
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
  if (Array.isArray(obj)) {
    if (Object.prototype.hasOwnProperty.call(obj, MARK)) return rebuildMarker(obj as Marker, memo);
    memo.set(obj, obj);
    for (let i = 0; i < obj.length; i++) obj[i] = rebuildWalk(obj[i], memo);
    return obj;
  }
  memo.set(obj, obj);
  if (isMap(obj)) {
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

function rebuildMarker(marker: Marker, memo: Map<object, unknown>): unknown {
  const [rebuild, rawArgs] = markerParts(marker);
  memo.set(marker, undefined); // a marker reachable from its own arguments would be a cycle through a constructor
  const args = rebuildWalk(rawArgs, memo) as unknown[];
  const fn = typeof rebuild === 'string' ? libraryRebuilder(rebuild) : loadReferenceSync(rebuild);
  if (!fn) throw new PicklingError(`no rebuilder registered for ${String(rebuild)}`);
  const result = fn(...args);
  memo.set(marker, result);
  return result;
}

/**
 * The rebuilder registered under `id`, the module it needs loaded first: even when another module registered the
 * rebuilder itself (semlock.ts registers SemLock's, whose classes register in synchronize.ts).
 */
function libraryRebuilder(id: string): Rebuilder | undefined {
  const load = rebuilderModules.get(id);
  if (load) {
    rebuilderModules.delete(id);
    load();
  }
  return rebuilders.get(id);
}

/** A marker's rebuild reference and arguments, checked for shape. */
function markerParts(marker: Marker): [string | ResolvedRef, unknown[]] {
  const mark = marker[MARK];
  if (!Array.isArray(mark) || !Array.isArray(mark[1]) || (typeof mark[0] !== 'string' && !isResolvedRef(mark[0]))) {
    throw new UnpicklingError('a reduce marker that is not [rebuild, args]');
  }
  return mark;
}

/** Whether a deserialized value holds a marker anywhere: what a peer not trusted to name code may not send. */
export function holdsMarker(value: unknown, seen = new Set<object>()): boolean {
  if (value === null || typeof value !== 'object' || seen.has(value)) return false;
  seen.add(value);
  if (isMarker(value)) return true;
  const children = isMap(value) ? [...value.keys(), ...value.values()] : isSet(value) ? [...value]
    : Array.isArray(value) ? value : isPlainObject(value) ? Object.values(value) : [];
  return children.some((child) => holdsMarker(child, seen));
}

/** Loads (imports) every user rebuild function a deserialized value refers to, so rebuildValue can run. */
export async function preloadRebuilders(value: unknown, seen = new Set<object>()): Promise<void> {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (isMarker(value)) {
    const [rebuild, args] = markerParts(value);
    if (typeof rebuild !== 'string') await loadReference(rebuild);
    else if (rebuild === REBUILD_FUNCTION && isResolvedRef(args[0])) await loadReference(args[0]);
  }
  const children = isMap(value) ? [...value.keys(), ...value.values()] : isSet(value) ? [...value]
    : Array.isArray(value) ? [...value, ...(isMarker(value) ? [value[MARK][1]] : [])]
      : isPlainObject(value) ? Object.values(value) : [];
  for (const child of children) await preloadRebuilders(child, seen);
}

/** reduce + v8.serialize. */
export function dumps(value: unknown, root: Root = ''): Buffer {
  return v8.serialize(reduceValue(value, root));
}

/** v8.deserialize + rebuild. */
export function loads(data: Uint8Array): unknown {
  return rebuildValue(deserialize(data));
}
