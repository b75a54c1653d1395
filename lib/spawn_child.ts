/**
 * Children started without fork(), where the OS allows it (Linux 5.3+): posix_spawn through the addon, and a pidfd
 * that says when the child has exited. child_process.spawn forks, which costs the parent twice: the fork itself
 * (4–9 ms here for a parent of 100 MB: it copies the page tables) and then one page fault for every page the parent
 * writes afterwards (its memory was made copy-on-write: 16,385 faults to rewrite 64 MiB after one Process start,
 * 10–17 µs each on this VM). Python's multiprocessing spawns with vfork for the same reason. A SpawnedChild is the
 * part of a ChildProcess the library uses; fork() keeps child_process, whose IPC channel it hands to the caller.
 */
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import * as os from 'node:os';
import { MultiprocError } from './errors';
import { native, type NativeFdWatcher } from './native';
import { descriptorSocket } from './framing';

/** What the library uses of a child process: a ChildProcess, or a SpawnedChild. */
export interface Child {
  readonly pid?: number | undefined;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  readonly stdio: readonly ({ destroy(): void } | null | undefined)[];
  kill(signal?: NodeJS.Signals | number): boolean;
  ref(): void;
  unref(): void;
  on(event: 'error', listener: (err: Error) => void): this;
  once(event: 'exit' | 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  once(event: 'error', listener: (err: Error) => void): this;
  removeAllListeners(): this;
}

/** Signal names by number; the first of two names for one number (SIGABRT, not SIGIOT), as Node reports them. */
const SIGNAL_NAMES = new Map<number, NodeJS.Signals>();
for (const [name, n] of Object.entries(os.constants.signals)) if (!SIGNAL_NAMES.has(n)) SIGNAL_NAMES.set(n, name as NodeJS.Signals);

/** Whether spawnChild can start children here (the addon says false on Windows); elsewhere callers use child_process. */
export function canSpawnChild(): boolean {
  return native.canSpawnChild;
}

/**
 * A child started by spawnChild. Like a ChildProcess: 'exit' (code, signal) once it has ended, 'close' once it has
 * and its channel has closed too, so after every byte it sent has been read; 'error' for a spawn that
 * failed (then pid is undefined) or a signal that could not be sent.
 */
export class SpawnedChild extends EventEmitter {
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  killed = false;
  /** The channel where the layout had one (spawnChild), null for inherited descriptors. */
  readonly stdio: (net.Socket | null)[] = [];
  /** Why the spawn failed, known at once (the 'error' event says it on the next tick, as child_process does). */
  readonly spawnError: Error | undefined;
  #pidfd = -1;
  #watcher: NativeFdWatcher | undefined;
  #exited = false;
  #channelOpen = false;

  /** @internal */
  constructor(started: { pid: number; pidfd: number; stdio: (net.Socket | null)[] } | { error: Error }) {
    super();
    if ('error' in started) {
      this.spawnError = started.error;
      process.nextTick(() => this.emit('error', started.error)); // as child_process reports a failed spawn
      return;
    }
    this.pid = started.pid;
    this.#pidfd = started.pidfd;
    this.stdio = started.stdio;
    const channel = started.stdio.find((stream) => stream !== null);
    this.#channelOpen = channel !== undefined;
    channel?.once('close', () => {
      this.#channelOpen = false;
      this.#closeIfDone();
    });
    this.#watcher = new native.FdWatcher(started.pidfd, false);
    this.#watcher.start(() => this.#onExit());
  }

  /** Sends `signal` (SIGTERM by default); false once the child has exited, or when the signal could not be sent. */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    const number = typeof signal === 'number' ? signal : os.constants.signals[signal];
    if (number === undefined) throw new MultiprocError('ERR_UNKNOWN_SIGNAL', `unknown signal: ${String(signal)}`);
    if (this.#exited || this.pid === undefined) return false;
    try {
      native.signalChild(this.#pidfd, number);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') this.emit('error', err);
      return false;
    }
    this.killed = true;
    return true;
  }

  /** The child keeps this process's event loop alive until it exits (the default). */
  ref(): void {
    this.#watcher?.setRef(true);
  }

  unref(): void {
    this.#watcher?.setRef(false);
  }

  #onExit(): void {
    let ended: [number, number] | null;
    try {
      ended = native.reapChild(this.pid!);
    } catch {
      ended = [-1, 0]; // reaped by someone else (a waitpid(-1) elsewhere in this process): how it ended is lost
    }
    if (!ended) return; // not yet: the pidfd said so too early (it does not)
    this.#watcher!.close();
    this.#watcher = undefined;
    native.closeFd(this.#pidfd);
    const [code, signal] = ended;
    this.#exited = true;
    this.exitCode = signal === 0 && code >= 0 ? code : null;
    this.signalCode = signal === 0 ? null : SIGNAL_NAMES.get(signal) ?? null;
    this.emit('exit', this.exitCode, this.signalCode);
    this.#closeIfDone();
  }

  #closeIfDone(): void {
    if (this.#exited && !this.#channelOpen) this.emit('close', this.exitCode, this.signalCode);
  }
}

/** Where the child's channel goes in a descriptor layout (see spawnChild). */
export const CHANNEL = 'channel';

/**
 * Starts `file` with `args` (after argv[0], which is `file`) and environment `env`; `descriptors[i]` becomes the
 * child's descriptor i, CHANNEL a new socket pair whose other end is stdio[i] of the result. `newSession`: the
 * child leads a session of its own (child_process's `detached`). A child that could not be started reports why as
 * child_process does: 'error' on the next tick, with code (EMFILE, EAGAIN, …) and syscall 'spawn …'.
 */
export function spawnChild(file: string, args: string[], env: NodeJS.ProcessEnv, descriptors: (number | typeof CHANNEL)[],
                           newSession = false): SpawnedChild {
  let ours = -1;
  let theirs = -1;
  try {
    if (descriptors.includes(CHANNEL)) [ours, theirs] = native.socketPair(0);
    const vars = Object.entries(env).filter(([, value]) => value !== undefined).map(([name, value]) => `${name}=${value}`);
    const fds = descriptors.map((fd) => (fd === CHANNEL ? theirs : fd));
    const [pid, pidfd] = native.spawnChild(file, [file, ...args], vars, fds, newSession);
    if (theirs >= 0) native.closeFd(theirs);
    theirs = -1;
    const stdio = descriptors.map((fd) => (fd === CHANNEL ? descriptorSocket(ours) : null));
    return new SpawnedChild({ pid, pidfd, stdio });
  } catch (err) {
    for (const fd of [ours, theirs]) if (fd >= 0) native.closeFd(fd);
    const { code, errno } = err as NodeJS.ErrnoException;
    return new SpawnedChild({ error: Object.assign(new Error(`spawn ${file} ${code}`), {
      code, errno: errno === undefined ? undefined : -Math.abs(errno), syscall: `spawn ${file}`, path: file,
      spawnargs: args }) });
  }
}
