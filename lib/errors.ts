/**
 * Every error multiproc throws. Names follow Python's where Python has one; each carries a stable `code`.
 */
import { isNativeError } from 'node:util/types';

export class MultiprocError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
  override get name(): string {
    return this.constructor.name;
  }
}

/** Python's RuntimeError: e.g. a Lock reduced outside a spawning context. */
export class RuntimeError extends MultiprocError {
  constructor(message: string, code = 'ERR_MP_RUNTIME') {
    super(code, message);
  }
}

/** Python's ValueError: e.g. a lock released too many times, an operation on a closed object. */
export class ValueError extends MultiprocError {
  constructor(message: string, code = 'ERR_MP_VALUE') {
    super(code, message);
  }
}

/** Python's AssertionError: e.g. an RLock released by a process that does not own it. */
export class AssertionError extends MultiprocError {
  constructor(message: string) {
    super('ERR_MP_ASSERTION', message);
  }
}

/** A Barrier was broken (reset or aborted) while this call waited in it, or before. */
export class BrokenBarrierError extends MultiprocError {
  constructor(message = 'the barrier is broken') {
    super('ERR_MP_BROKEN_BARRIER', message);
  }
}

/** A waiting call was aborted through its AbortSignal. Same name and code as Node's own AbortError. */
export class AbortError extends MultiprocError {
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super('ABORT_ERR', message, options);
  }
}

/** A guard could not acquire its lock in time. */
export class TimeoutError extends MultiprocError {
  constructor(message = 'timed out') {
    super('ERR_MP_TIMEOUT', message);
  }
}

/**
 * Python's NotImplementedError: the platform cannot do it. E.g. reading a semaphore's value (getValue(), qsize())
 * on macOS, which has no sem_getvalue.
 */
export class NotImplementedError extends MultiprocError {
  constructor(message: string) {
    super('ERR_MP_NOT_IMPLEMENTED', message);
  }
}

/** A value of the wrong type reached the public API. */
export class InvalidArgumentError extends MultiprocError {
  constructor(message: string) {
    super('ERR_INVALID_ARG_TYPE', message);
  }
}

/**
 * A number outside its allowed range (negative or NaN timeouts, semaphore values, ...). A ValueError, as CPython
 * raises for these: ported code that catches ValueError catches it.
 */
export class OutOfRangeError extends ValueError {
  constructor(message: string) {
    super(message, 'ERR_OUT_OF_RANGE');
  }
}

/** A function that cannot be reached by reference from another process (Python: "Can't pickle local object"). */
export class PicklingError extends MultiprocError {
  constructor(message: string) {
    super('ERR_MP_PICKLING', message);
  }
}

/**
 * Python's UnpicklingError: bytes from another process that do not decode to a value (a frame whose parts lie about
 * their lengths or offsets, a malformed marker). Only that item is lost.
 */
export class UnpicklingError extends MultiprocError {
  constructor(message: string) {
    super('ERR_MP_UNPICKLING', message);
  }
}

/** Queue.get* found nothing in time. */
export class Empty extends MultiprocError {
  constructor(message = 'queue is empty') {
    super('ERR_MP_QUEUE_EMPTY', message);
  }
}

/** Queue.put* found no room in time. */
export class Full extends MultiprocError {
  constructor(message = 'queue is full') {
    super('ERR_MP_QUEUE_FULL', message);
  }
}

/** Queue.shutdown() was called: no put is accepted, and a get finds no more items (Python 3.13's queue.ShutDown). */
export class ShutDown extends MultiprocError {
  constructor(message = 'queue is shut down') {
    super('ERR_MP_QUEUE_SHUT_DOWN', message);
  }
}

/** A Manager connection presented the wrong authkey. */
export class AuthenticationError extends MultiprocError {
  constructor(message = 'digest received was wrong') {
    super('ERR_MP_AUTHENTICATION', message);
  }
}

/** Python's EOFError: a Connection's peer closed its end, and every message it sent has been received. */
export class EOFError extends MultiprocError {
  constructor(message = 'the other end of the connection is closed') {
    super('ERR_MP_EOF', message);
  }
}

/** Python's BufferTooShort: recvBytesInto's buffer cannot hold the message, which is in `data` (not lost). */
export class BufferTooShort extends MultiprocError {
  readonly data: Buffer;
  constructor(data: Buffer, room: number) {
    super('ERR_MP_BUFFER_TOO_SHORT', `a message of ${data.length} bytes does not fit in the ${room} bytes given`);
    this.data = data;
  }
}

/** A pool worker died while it ran a task. */
export class WorkerLostError extends MultiprocError {
  readonly pid: number | undefined;
  readonly exitCode: number | null;
  constructor(message: string, pid: number | undefined, exitCode: number | null) {
    super('ERR_MP_WORKER_LOST', message);
    this.pid = pid;
    this.exitCode = exitCode;
  }
}

/** An error raised in another process, carrying that process's stack (Python's RemoteTraceback). */
export class RemoteError extends MultiprocError {
  readonly remoteStack: string;
  constructor(message: string, remoteStack: string, remoteName: string, code?: string) {
    super(code ?? 'ERR_MP_REMOTE', message);
    this.remoteStack = remoteStack;
    Object.defineProperty(this, 'remoteName', { value: remoteName, enumerable: false });
    this.stack = `${remoteName}: ${message}\n    [remote stack]\n${remoteStack}\n    [local stack]\n${
      (this.stack ?? '').split('\n').slice(1).join('\n')}`;
  }
}

/** What of an error crosses a process boundary. */
export interface ErrorInfo {
  name: string;
  message: string;
  stack: string;
  code?: string;
}

/**
 * What of a thrown value crosses a process boundary. Never throws, whatever was thrown: a getter, a toString or a
 * Proxy trap that throws only makes the description less complete.
 */
export function errorInfo(err: unknown): ErrorInfo {
  if (attempt(() => err instanceof Error || isNativeError(err), false)) {
    const e = err as Error & { code?: unknown };
    const code = attempt(() => e.code, undefined);
    return {
      name: text(attempt(() => e.name, undefined), 'Error'),
      message: text(attempt(() => e.message, undefined), '(its message could not be read)'),
      stack: text(attempt(() => e.stack, undefined), ''),
      code: typeof code === 'string' ? code : undefined,
    };
  }
  return { name: 'Error', message: attempt(() => String(err), `a thrown ${typeof err} that cannot be described`), stack: '' };
}

function attempt<T, F>(read: () => T, fallback: F): T | F {
  try {
    return read();
  } catch {
    return fallback;
  }
}

function text(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

/** The error another process reported, with its name, code and stack. */
export function remoteError(info: ErrorInfo): RemoteError {
  return new RemoteError(info.message, info.stack, info.name, info.code);
}

/**
 * The error a Manager server reported: a library error comes back as its own class (so `instanceof Empty` works
 * across a proxy), with the remote stack; any other as a RemoteError.
 */
export function decodeError(info: ErrorInfo): Error {
  const Class = Object.prototype.hasOwnProperty.call(TYPED, info.name) ? TYPED[info.name] : undefined;
  if (!Class) return remoteError(info);
  const err = Object.create(Class.prototype) as MultiprocError & { remoteStack: string };
  Object.assign(err, { message: info.message, code: info.code ?? 'ERR_MP_REMOTE', remoteStack: info.stack });
  Error.captureStackTrace(err, decodeError);
  err.stack = `${info.name}: ${info.message}\n    [remote stack]\n${info.stack}\n    [local stack]\n` +
    (err.stack ?? '').split('\n').slice(1).join('\n');
  return err;
}

/** An operating-system call failed; `syscall` and `code` (errno name) say which and why. */
export interface SystemCallError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

/**
 * A Manager connection or protocol failure: the server is gone or refused the connection
 * (ERR_MP_MANAGER_CONNECTION), a message is too large (ERR_MP_MANAGER_FRAME_TOO_LARGE), or names an unknown
 * typeid, object or method (ERR_MP_MANAGER_UNKNOWN_TYPEID / _OBJECT / _METHOD), or a proxy was released
 * (ERR_MP_MANAGER_RELEASED), or a kernel queue cannot be opened here (ERR_MP_MANAGER_KERNEL_OBJECT).
 */
export class ManagerError extends MultiprocError {}

/** The library errors decodeError gives back as their own class. */
const TYPED: Record<string, new (...args: never[]) => MultiprocError> = {
  AbortError, AssertionError, BrokenBarrierError, Empty, Full, InvalidArgumentError, ManagerError, OutOfRangeError,
  PicklingError, RuntimeError, ShutDown, TimeoutError, UnpicklingError, ValueError,
};
