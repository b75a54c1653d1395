/**
 * The native addon, loaded with node-gyp-build: a local build (build/Release) when there is one, else the prebuild
 * matching this platform. MULTIPROC_NATIVE_BINARY names one .node file to load instead, so the same code and tests
 * can be run against another build of the same sources (cmake-js, AddressSanitizer).
 */
import * as path from 'node:path';

export interface NativeWaiter {
  /** true: the wait is abandoned and its callback will not run; false: it finished and the callback is coming. */
  cancel(): boolean;
}

export type WaitCallback = (err: Error | null, ready: boolean) => void;

export interface NativeSemaphore {
  /** Blocks this thread; timeoutMs < 0 waits forever. */
  wait(timeoutMs: number): boolean;
  tryWait(): boolean;
  /**
   * Waits on a thread of the addon's own; `then`, when given, is posted by that thread as soon as the wait ends
   * (acquired or timed out), so a notifier blocked in this very process can see it.
   */
  waitAsync(timeoutMs: number, callback: WaitCallback, then?: NativeSemaphore): NativeWaiter;
  /** Posts one unit; with maxValue, posts nothing and returns false when the value is already there. */
  post(maxValue?: number): boolean;
  value(): number;
  /** Windows: the handle's value in process `pid` after DuplicateHandle. */
  duplicateInto(pid: number): string;
  /** Linux/glibc: [value, waiters] in the semaphore's shared memory, for atomics in JS; else undefined. */
  sharedWords(): ArrayBuffer | undefined;
  /** Wakes one sleeper after the value was raised through sharedWords(). */
  wakeWaiter(): void;
  close(): void;
}

export interface NativeSemaphoreClass {
  create(name: string, value: number, maxValue: number): NativeSemaphore;
  open(nameOrHandle: string): NativeSemaphore;
  unlink(name: string): void;
}

/** Event-loop readiness of a descriptor (uv_poll), no thread involved. POSIX only. */
export interface NativeFdWatcher {
  /** Calls `callback` on the JS thread each time the descriptor is ready, until stop(). */
  start(callback: (err: Error | null) => void): void;
  stop(): void;
  close(): void;
}

export interface NativeAddon {
  platform: 'posix' | 'win32';
  features: { semGetValue: boolean; semTimedWait: boolean };
  Semaphore: NativeSemaphoreClass;
  // POSIX descriptors (queues, resource tracker)
  pipe(): [number, number];
  /** Creates a named pipe, mode 0600. */
  mkfifo(path: string): void;
  /**
   * A connected pair of AF_UNIX stream sockets, both close-on-exec, as [receiving end, sending end]; the sending
   * end's send buffer and the receiving end's receive buffer asked to hold `capacity` bytes.
   */
  socketPair(capacity: number): [number, number];
  setNonBlocking(fd: number, on: boolean): void;
  setCloseOnExec(fd: number, on: boolean): void;
  closeFd(fd: number): void;
  poll(fd: number, forWrite: boolean, timeoutMs: number): boolean;
  pollAsync(fd: number, forWrite: boolean, timeoutMs: number, callback: WaitCallback): NativeWaiter;
  /** Calls back when `fd` reaches end-of-file; exits with exitCode if the process still lives graceMs later. */
  watchHangup(fd: number, graceMs: number, exitCode: number, callback: () => void): void;
  /** One read(): bytes read (0 at end of file), or -1 when the non-blocking descriptor has none. */
  read(fd: number, buffer: Uint8Array, offset: number, length: number): number;
  /** One write(): bytes written, or -1 when the non-blocking descriptor has no room. */
  write(fd: number, buffer: Uint8Array, offset: number, length: number): number;
  /**
   * One writev() of `chunks` taken end to end, from byte `offset` on (at most 64 chunks at a time): bytes
   * written, or -1 when the non-blocking descriptor has no room. POSIX only.
   */
  writev(fd: number, chunks: Uint8Array[], offset: number): number;
  /** Linux: resizes a pipe's buffer; returns the capacity in effect, or -1 where the platform cannot tell. */
  setPipeCapacity(fd: number, bytes: number): number;
  FdWatcher: new (fd: number, forWrite: boolean) => NativeFdWatcher;
  // Windows queue pipes (pipe_win.ts): handles as their integer values
  /** Creates the named byte pipe `name` and connects its client end: [read handle, write handle (PIPE_NOWAIT)]. */
  pipeCreate(name: string, capacity: number): [number, number];
  /** Reads what is there, up to `length`: bytes read, 0 at end of file, -1 when the pipe is empty. */
  pipeRead(handle: number, buffer: Uint8Array, offset: number, length: number): number;
  /** One non-blocking write: bytes written, or -1 when none fit now. */
  pipeWrite(handle: number, buffer: Uint8Array, offset: number, length: number): number;
  /** Bytes waiting in the pipe, or -1 once every writer is gone and it is empty. */
  pipeAvailable(handle: number): number;
  /** The inbound buffer size the system granted the pipe (GetNamedPipeInfo on the read end). */
  pipeBufferSize(readHandle: number): number;
  /** Blocks this thread until the read end has bytes (PeekNamedPipe, polled); timeoutMs < 0 waits forever. */
  pipePoll(handle: number, timeoutMs: number): boolean;
  /** pipePoll on a waiter thread of the addon's own. */
  pipePollAsync(handle: number, timeoutMs: number, callback: WaitCallback): NativeWaiter;
  closeHandle(handle: number): void;
  /** DuplicateHandle into process `pid`; returns the handle's value there. */
  duplicateHandle(handle: number, pid: number): string;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = require('node-gyp-build') as (dir: string) => unknown;

const chosenBinary = process.env.MULTIPROC_NATIVE_BINARY;

export const native = (chosenBinary ? require(path.resolve(chosenBinary)) : load(path.join(__dirname, '..'))) as NativeAddon;
