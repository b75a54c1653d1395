/**
 * The native addon, loaded with node-gyp-build: a local build (build/Release) when there is one, else the prebuild
 * matching this platform. MULTIPROC_NATIVE_BINARY names one .node file to load instead, so the same code and tests
 * can be run against another build of the same sources (cmake-js, AddressSanitizer).
 */
import * as path from 'node:path';

/** A pending async wait, as native.cancelWait() names it. */
export type WaitId = number;

export type WaitCallback = (err: Error | null, ready: boolean) => void;

export interface NativeSemaphore {
  /** Blocks this thread; timeoutMs < 0 (or 4.5e12 and more, beyond what a deadline holds) waits forever. */
  wait(timeoutMs: number): boolean;
  tryWait(): boolean;
  /**
   * Waits through the addon's wait hub; `callback` runs on this thread unless native.cancelWait(id) wins first.
   * A callback that does not return normally (it throws, or cannot run because its worker is being terminated)
   * has not taken the unit: it is given back. `then`, when given, is posted by the hub as soon as the wait ends
   * (acquired or timed out), so a notifier blocked in this very process can see it. The wait fails with code
   * ERR_MP_CLOSED if this reference is closed first.
   */
  waitAsync(timeoutMs: number, callback: WaitCallback, then?: NativeSemaphore): WaitId;
  /** Posts one unit; with maxValue, posts nothing and returns false when the value is already there. */
  post(maxValue?: number): boolean;
  value(): number;
  /** Windows: the handle's value in process `pid` after DuplicateHandle. */
  duplicateInto(pid: number): string;
  /** Linux/glibc: [value, waiters] in the semaphore's shared memory, for atomics in JS; else undefined. */
  sharedWords(): ArrayBuffer | undefined;
  /** Wakes one sleeper after the value was raised through sharedWords(). */
  wakeWaiter(): void;
  /** Another reference to the same OS semaphore, closed independently. */
  share(): NativeSemaphore;
  /** A ticket another thread of this process adopts the semaphore by (Semaphore.adopt) while anyone here holds it. */
  lend(): string;
  /** Removes the name now if this process created it (POSIX); whoever opened it keeps using it. */
  unlink(): void;
  /**
   * This reference goes now (the buffer of sharedWords() is detached). The OS semaphore closes with its last
   * reference in the process, and a name the process created is removed then.
   */
  close(): void;
}

export interface NativeSemaphoreClass {
  /** A new semaphore; POSIX: its name belongs to this process and is removed when its last reference closes. */
  create(name: string, value: number, maxValue: number): NativeSemaphore;
  open(nameOrHandle: string): NativeSemaphore;
  /** The semaphore another thread of this process lent under `ticket`; ERR_MP_CLOSED once nobody holds it. */
  adopt(ticket: string): NativeSemaphore;
  unlink(name: string): void;
}

/** Event-loop readiness of a descriptor (uv_poll), no thread involved. POSIX only. */
export interface NativeFdWatcher {
  /**
   * Calls `callback` on the JS thread each time the descriptor is ready, until stop(); `events` (READABLE 1 |
   * WRITABLE 2, the constructor's choice by default) says for what, and the callback hears which.
   */
  start(callback: (err: Error | null, events: number) => void, events?: number): void;
  stop(): void;
  /** false: a started watcher no longer keeps the event loop alive by itself (uv_unref); true undoes that. */
  setRef(on: boolean): void;
  close(): void;
}

export interface NativeAddon {
  platform: 'posix' | 'win32';
  features: { semGetValue: boolean; semTimedWait: boolean };
  Semaphore: NativeSemaphoreClass;
  /** true: the wait is dropped and its callback will not run; false: it ended and its callback is coming. */
  cancelWait(id: WaitId): boolean;
  /** The threads the wait hub runs now. */
  hubThreads(): number;
  /**
   * The references every thread of this process holds to a kill-safe segment's name, after adding `delta`; -1 when
   * they reached 0 and the name was created in this process (`created` marks it so): the caller removes it then.
   */
  nameReference(name: string, delta: number, created: boolean): number;
  /** Main thread, at exit: names this process created go now; later closes skip sem_close. */
  processExiting(): void;
  /** Sets the resource tracker's pipe for the whole process unless one is set; returns the one in effect. */
  setTrackerFd(fd: number): number;
  /** The resource tracker's pipe of this process, or -1. */
  trackerFd(): number;
  /**
   * Closes `value` (a descriptor, or a Windows handle) when this thread's environment goes, unless closeFd or
   * closeHandle closed it first: a terminated worker runs no more JS to close its queues.
   */
  ownDescriptor(value: number): void;
  /** A ticket for a descriptor (POSIX) or handle (Windows) another thread of this process may duplicate. */
  lendDescriptor(value: number): string;
  /** Withdraws the ticket of `value`, before it is closed. */
  revokeDescriptor(value: number): void;
  /** A duplicate, owned by the caller, of what was lent under `ticket`; ERR_MP_CLOSED once it was revoked. */
  adoptDescriptor(ticket: string): number;
  // Lock files (named_lock.ts): descriptors (POSIX) or handles (Windows), owned as by ownDescriptor
  /** Opens a lock file for reading and writing, mode 0600 (create: if missing; exclusive: EEXIST if present). */
  lockFileOpen(path: string, create: boolean, exclusive: boolean): number;
  /** Takes the file's lock (flock / LockFileEx): wait blocks this thread until it is free; else false when held. */
  lockFile(file: number, wait: boolean): boolean;
  unlockFile(file: number): void;
  /** The byte at offset 0 of a lock file (0 when empty): only its holder reads or writes it. */
  lockMark(file: number): number;
  setLockMark(file: number, mark: number): void;
  // POSIX descriptors (queues, resource tracker)
  pipe(): [number, number];
  /** Creates a named pipe, mode 0600. */
  mkfifo(path: string): void;
  /**
   * A connected pair of AF_UNIX stream sockets (`packets`: SOCK_SEQPACKET, whose messages arrive whole or not at
   * all), both close-on-exec, as [receiving end, sending end]; the sending end's send buffer and the receiving end's
   * receive buffer asked to hold `capacity` bytes (0: the system's default).
   */
  socketPair(capacity: number, packets?: boolean): [number, number];
  /** The read end of this process's alive pipe, made on first use, shared by its threads (nobody writes to it). */
  alivePipe(): number;
  setNonBlocking(fd: number, on: boolean): void;
  setCloseOnExec(fd: number, on: boolean): void;
  closeFd(fd: number): void;
  poll(fd: number, forWrite: boolean, timeoutMs: number): boolean;
  /** Calls back when `fd` reaches end-of-file; exits with exitCode if the process still lives graceMs later. */
  watchHangup(fd: number, graceMs: number, exitCode: number, callback: () => void): void;
  /** One read(): bytes read (0 at end of file), or -1 when the non-blocking descriptor has none. */
  read(fd: number, buffer: Uint8Array, offset: number, length: number): number;
  /**
   * The next message of a packet socket (socketPair(n, true)), left in place: copies what fits of it into the range
   * and returns its whole length, or -1 when none waits.
   */
  peek(fd: number, buffer: Uint8Array, offset: number, length: number): number;
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
  /** Whether spawnChild works here (Linux 5.3+, not the macOS emulation); false on Windows. */
  canSpawnChild: boolean;
  /**
   * Starts `file` with `args` (argv[0] included) and `env` ('NAME=value' strings) without fork(): the child's
   * descriptor i is `fds[i]`; with `newSession` it leads a session of its own (setsid). Returns [pid, pidfd]: the
   * pidfd becomes readable once the child has exited. POSIX only.
   */
  spawnChild(file: string, args: string[], env: string[], fds: number[], newSession?: boolean): [number, number];
  /** [exit code or -1, ending signal or 0] once `pid` (a spawnChild child) has exited and is reaped; else null. */
  reapChild(pid: number): [number, number] | null;
  /** Sends signal number `signal` through a spawnChild pidfd. */
  signalChild(pidfd: number, signal: number): void;
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
  /** pipePoll through the wait hub (its polling thread); cancelled with cancelWait. */
  pipePollAsync(handle: number, timeoutMs: number, callback: WaitCallback): WaitId;
  closeHandle(handle: number): void;
  // Shared memory (shared_memory.ts, atomics_wait.ts). A buffer stays mapped until it is collected or detached.
  /**
   * Creates the segment `name` (it must not exist) of `size` bytes, mode 0600: an ArrayBuffer over all of it.
   * keepDescriptor false (POSIX): no descriptor stays open (nor the tracker's in-use lock with it): kill-safe locks.
   */
  shmCreate(name: string, size: number, keepDescriptor?: boolean): ArrayBuffer;
  /** Maps the existing segment `name`: an ArrayBuffer over all of it. keepDescriptor: as for shmCreate. */
  shmOpen(name: string, keepDescriptor?: boolean): ArrayBuffer;
  /** Removes the name (POSIX); whoever has it mapped keeps it. */
  shmUnlink(name: string): void;
  /** The tracker's removal: true when removed, false when a process still holds it (ENOENT when gone already). */
  shmUnlinkUnused(name: string): boolean;
  /** POSIX: a descriptor holding a shared lock on the segment, which keeps shmUnlinkUnused away while open. */
  shmHold(name: string): number;
  /** Detaches a buffer of shmCreate/shmOpen: its views see no memory from then on. */
  shmDetach(buffer: ArrayBuffer): void;
  /** Blocks this thread while view[index] holds `expected`: 0 woken ("ok"), 1 "not-equal", 2 "timed-out". */
  wordWait(view: Int32Array, index: number, expected: number, timeoutMs: number): 0 | 1 | 2;
  /** wordWait through the wait hub: callback(err, woken) unless cancelWait(id) wins first. */
  wordWaitAsync(view: Int32Array, index: number, expected: number, timeoutMs: number, callback: WaitCallback): WaitId;
  /** Wakes up to `count` waiters of view[index] in any process: how many woke (0 where the platform cannot tell). */
  wordNotify(view: Int32Array, index: number, count: number): number;
  /** Whether wordNotify wakes waits (Linux futexes), or waits only see the value change (polled). */
  sharedWordWakes: boolean;
  /** DuplicateHandle into process `pid`; returns the handle's value there. */
  duplicateHandle(handle: number, pid: number): string;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = require('node-gyp-build') as (dir: string) => unknown;

const chosenBinary = process.env.MULTIPROC_NATIVE_BINARY;

export const native = (chosenBinary ? require(path.resolve(chosenBinary)) : load(path.join(__dirname, '..'))) as NativeAddon;
