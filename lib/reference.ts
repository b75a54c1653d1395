/**
 * Functions cross process boundaries by reference, never as source text (Python pickles functions by qualified
 * name). A reference names the module that exports the function and the export; the other process loads it.
 */
import * as inspector from 'node:inspector';
import * as path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { InvalidArgumentError, PicklingError } from './errors';
import { describe } from './validate';

/** An explicit reference: a module (absolute path, file URL, or package specifier) and the name it exports. */
export interface FunctionRef {
  module: string;
  export: string;
}

export type AnyFunction = (...args: any[]) => unknown; // eslint-disable-line @typescript-eslint/no-explicit-any

/** How another process finds a function: `require` (CommonJS, exact export) or `import` (ES module, checked). */
export interface ResolvedRef {
  kind: 'require' | 'import';
  specifier: string;
  /** null: the module's exports object is the function itself. */
  exportName: string | null;
  /** For ES modules, found by location: the source text the loaded export must have. */
  source?: string;
  label: string;
}

const resolved = new WeakMap<AnyFunction, ResolvedRef>();

export function isFunctionRef(value: unknown): value is FunctionRef {
  return typeof value === 'object' && value !== null && typeof (value as FunctionRef).module === 'string' &&
    typeof (value as FunctionRef).export === 'string';
}

/** Whether a value received from another process has the shape of a ResolvedRef (what loadReference takes). */
export function isResolvedRef(value: unknown): value is ResolvedRef {
  const ref = value as ResolvedRef;
  return typeof ref === 'object' && ref !== null && (ref.kind === 'require' || ref.kind === 'import') &&
    typeof ref.specifier === 'string' && (ref.exportName === null || typeof ref.exportName === 'string') &&
    (ref.source === undefined || typeof ref.source === 'string') && typeof ref.label === 'string';
}

/** Resolves a function (or an explicit FunctionRef) to something another process can load. Throws PicklingError. */
export function referenceOf(target: unknown, role: string): ResolvedRef {
  if (isFunctionRef(target)) {
    const specifier = target.module.startsWith('.') ? path.resolve(target.module) : target.module;
    return { kind: 'import', specifier, exportName: target.export, label: `${target.export} from ${target.module}` };
  }
  if (typeof target !== 'function') {
    throw new InvalidArgumentError(`${role} must be a function or { module, export }, got ${describe(target)}`);
  }
  const fn = target as AnyFunction;
  let ref = resolved.get(fn);
  if (!ref) {
    ref = findInRequireCache(fn) ?? findByLocation(fn, role);
    resolved.set(fn, ref);
  }
  return ref;
}

function findInRequireCache(fn: AnyFunction): ResolvedRef | undefined {
  for (const mod of Object.values(require.cache)) {
    if (!mod) continue;
    const exported: unknown = mod.exports;
    if (exported === fn) return { kind: 'require', specifier: mod.filename, exportName: null, label: label(fn, mod.filename) };
    if ((typeof exported !== 'object' && typeof exported !== 'function') || exported === null) continue;
    for (const key of Object.keys(exported)) {
      const desc = Object.getOwnPropertyDescriptor(exported, key);
      if (desc && 'value' in desc && desc.value === fn) {
        return { kind: 'require', specifier: mod.filename, exportName: key, label: label(fn, mod.filename) };
      }
    }
  }
  return undefined;
}

/** ES modules have no registry to search: ask V8 (through the inspector) where the function's source lives. */
function findByLocation(fn: AnyFunction, role: string): ResolvedRef {
  const url = scriptUrlOf(fn);
  const name = fn.name;
  if (!url || !name || name.startsWith('bound ')) {
    throw new PicklingError(`Can't pickle ${role} ${label(fn)}: it is not exported from any module ` +
      `(pass a function exported from a module, or { module, export })`);
  }
  const file = url.startsWith('file:') ? fileURLToPath(url) : url;
  if (require.cache[file]) {
    throw new PicklingError(`Can't pickle local object ${label(fn, file)}: ${role} must be exported by its module`);
  }
  return {
    kind: 'import',
    specifier: url.startsWith('file:') || !path.isAbsolute(url) ? url : pathToFileURL(url).href,
    exportName: name,
    source: Function.prototype.toString.call(fn),
    label: label(fn, file),
  };
}

let session: inspector.Session | undefined;

function scriptUrlOf(fn: AnyFunction): string | undefined {
  if (!session) {
    session = new inspector.Session();
    session.connect();
  }
  const s = session;
  const key = `__multiproc_locate_${process.pid}`;
  (globalThis as Record<string, unknown>)[key] = fn;
  let url: string | undefined;
  try {
    // An in-process session answers synchronously: each callback has run when post() returns.
    let objectId: string | undefined;
    s.post('Runtime.evaluate', { expression: `globalThis.${key}` }, (err, res) => {
      if (!err) objectId = res.result.objectId;
    });
    let scriptId: string | undefined;
    s.post('Runtime.getProperties', { objectId: objectId! }, (err, res) => {
      const location = err ? undefined : res.internalProperties?.find((p) => p.name === '[[FunctionLocation]]');
      scriptId = (location?.value?.value as { scriptId?: string } | undefined)?.scriptId;
    });
    if (objectId) s.post('Runtime.releaseObject', { objectId });
    if (scriptId === undefined) return undefined;
    const onScript = (msg: inspector.InspectorNotification<inspector.Debugger.ScriptParsedEventDataType>) => {
      if (msg.params.scriptId === scriptId) url = msg.params.url;
    };
    s.on('Debugger.scriptParsed', onScript);
    s.post('Debugger.enable');
    s.post('Debugger.disable');
    s.off('Debugger.scriptParsed', onScript);
  } finally {
    delete (globalThis as Record<string, unknown>)[key];
  }
  return url || undefined;
}

function label(fn: AnyFunction, file?: string): string {
  const name = fn.name ? `'${fn.name}'` : '<anonymous function>';
  return file ? `${name} (${file})` : name;
}

const loadedModules = new Map<string, unknown>();

/** Loads a reference in this process (the receiving side). */
export async function loadReference(ref: ResolvedRef): Promise<AnyFunction> {
  if (ref.kind === 'import' && !loadedModules.has(ref.specifier)) {
    loadedModules.set(ref.specifier, await import(importable(ref.specifier)));
  }
  return loadReferenceSync(ref);
}

/** Loads a reference synchronously: CommonJS always, ES modules once loadReference() has loaded them. */
export function loadReferenceSync(ref: ResolvedRef): AnyFunction {
  let mod: unknown;
  if (ref.kind === 'require') {
    mod = require(ref.specifier); // eslint-disable-line @typescript-eslint/no-require-imports
  } else {
    if (!loadedModules.has(ref.specifier)) {
      throw new PicklingError(`module ${ref.specifier} is not loaded yet: use the asynchronous form of this call`);
    }
    mod = loadedModules.get(ref.specifier);
  }
  const fn = pick(mod, ref);
  if (typeof fn !== 'function') {
    throw new PicklingError(`Can't get ${ref.label}: the module does not export it as a function` +
      (ref.source ? ' (a function defined inside another function cannot be reached from a child process)' : ''));
  }
  return fn as AnyFunction;
}

function pick(mod: unknown, ref: ResolvedRef): unknown {
  if (ref.exportName === null) return mod;
  const ns = mod as Record<string, unknown>;
  const fallback = ns?.default as Record<string, unknown> | undefined; // a CommonJS module seen through import()
  const candidates = [ns?.[ref.exportName], typeof fallback === 'object' || typeof fallback === 'function' ? fallback?.[ref.exportName] : undefined];
  if (!ref.source) return candidates.find((c) => c !== undefined);
  // Found by location: accept only the function with the very same source (a same-named closure is not it).
  const all = [...candidates, ...Object.values(ns ?? {}), ...(fallback && typeof fallback === 'object' ? Object.values(fallback) : [])];
  return all.find((c) => typeof c === 'function' && Function.prototype.toString.call(c) === ref.source);
}

function importable(specifier: string): string {
  return path.isAbsolute(specifier) ? pathToFileURL(specifier).href : specifier;
}
