/**
 * What may cross a process boundary as data, and where a value holds something that may not (CPython's "cannot
 * pickle 'X' object", with the path to it). Structured clone refuses some objects and silently flattens others into
 * a plain copy that has lost what made them what they were — a WeakMap's entries, a Promise's eventual value, a
 * class instance's class — so the reduce pass refuses them all, by type, before anything is written.
 */
import * as types from 'node:util/types';
import { PicklingError } from './errors';

/** Objects that v8.serialize copies faithfully by itself: sent as they are, never walked. */
export function travelsAsIs(obj: object): boolean {
  if (ArrayBuffer.isView(obj)) return !types.isSharedArrayBuffer(obj.buffer);
  return types.isArrayBuffer(obj) || types.isDate(obj) || types.isRegExp(obj) || types.isNativeError(obj) ||
    (types.isBoxedPrimitive(obj) && !types.isSymbolObject(obj));
}

/** The name of an object's class, for messages; never throws. */
export function className(obj: object): string {
  try {
    const name = (obj as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name === 'string' && name) return name;
  } catch {
    // a getter that throws: fall back to the tag
  }
  return tagOf(obj);
}

/** Object.prototype.toString's tag (WeakRef, FinalizationRegistry: the same in every realm); never throws. */
function tagOf(obj: object): string {
  try {
    return Object.prototype.toString.call(obj).slice(8, -1);
  } catch {
    return 'Object';
  }
}

const WEAK = 'it holds its contents weakly, by their identity in this process, which cannot be copied';

/** Why `value` (not a plain object, array, Map, Set, or an object that travels as is) cannot travel. */
export function cannotTravel(value: unknown): Untravellable {
  if (typeof value === 'function') {
    return new Untravellable(`function ${value.name || '<anonymous>'}`, 'functions are not serializable ' +
      '(send data; functions travel only as a Process target or a Pool task)');
  }
  if (typeof value === 'symbol' || types.isSymbolObject(value)) return new Untravellable('a symbol', 'symbols are not serializable');
  const obj = value as object;
  if (types.isProxy(obj)) return new Untravellable('a Proxy', 'its traps cannot be copied; send the plain data it stands for');
  const tag = tagOf(obj);
  if (types.isWeakMap(obj) || types.isWeakSet(obj) || tag === 'WeakRef' || tag === 'FinalizationRegistry') {
    return new Untravellable(`a ${tag}`, WEAK);
  }
  if (types.isPromise(obj)) return new Untravellable('a Promise', 'await it and send its value');
  const sharedView = ArrayBuffer.isView(obj) && types.isSharedArrayBuffer(obj.buffer);
  if (types.isSharedArrayBuffer(obj) || sharedView) {
    return new Untravellable(sharedView ? `a ${className(obj)} over a SharedArrayBuffer` : 'a SharedArrayBuffer',
      'its memory is shared only among the threads of this process; send a copy (e.g. `new Uint8Array(shared).slice()`)');
  }
  return new Untravellable(`an instance of ${className(obj)}`, 'structured clone would keep only its own fields ' +
    'and lose its class; implement [reduce]() (multiproc.reduce) to make the class travel, or send a plain object');
}

/**
 * Thrown through the reduce pass: each container on the way out adds where the offender sat in it, and the
 * entry point turns it into a PicklingError naming the path.
 */
export class Untravellable extends Error {
  /** From the root down: an array index, or a step already written out (`.key`, `.get("k")`, ...). */
  readonly path: (number | string)[] = [];

  constructor(readonly what: string, readonly why: string) {
    super(`cannot send ${what} to another process: ${why}`);
  }
}

/** Adds `step` to the path of an Untravellable passing through; other errors pass unchanged. */
export function within(err: unknown, step: number | string): unknown {
  if (err instanceof Untravellable) err.path.unshift(step);
  return err;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

export function keyStep(key: string): string {
  return IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

export function mapValueStep(key: unknown): string {
  const shown = typeof key === 'string' ? JSON.stringify(key) : typeof key === 'object' && key !== null ? `<${className(key)}>`
    : typeof key === 'bigint' ? `${key}n` : String(key);
  return `.get(${shown})`;
}

/** How a value is named in messages: a name for the whole, or a name for each element of a top-level array. */
export type Root = string | ((index: number) => string);

/** The PicklingError an Untravellable stands for, with its path written from `root`. */
export function picklingError(err: Untravellable, root: Root): PicklingError {
  const steps = [...err.path];
  let where = typeof root === 'string' ? root : '';
  if (typeof root === 'function' && typeof steps[0] === 'number') where = root(steps.shift() as number);
  for (const step of steps) where += typeof step === 'number' ? `[${step}]` : step;
  if (where.startsWith('.')) where = where.slice(1);
  return new PicklingError(`cannot send ${err.what}${where ? ` (at ${where})` : ''} to another process: ${err.why}`);
}
