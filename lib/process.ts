/**
 * Processes (CPython's process.py, popen_spawn_posix.py and popen_spawn_win32.py): a child runs Node with the
 * parent's execArgv and our bootstrap, receives its payload on descriptor 3 and inherited descriptors after it.
 */
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { FramedSocket } from './framing';
import { deserialize } from './deserialize';
import { ErrorInfo, InvalidArgumentError, MultiprocError, remoteError, ValueError } from './errors';
import { native } from './native';
import { dumps, functionReference, SpawningContext, withSpawningContext } from './reduction';
import { runningTrackerDescriptor, trackerProcessId } from './resource_tracker';
import { canSpawnChild, CHANNEL, type Child, spawnChild } from './spawn_child';
import { setLongTimeout } from './timeouts';
import { checkOptions, checkTimeout, describe } from './validate';

export type Target = ((...args: any[]) => unknown) | { module: string; export: string }; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface ProcessOptions {
  /** An exported function (found by reference) or { module, export }. */
  target: Target;
  args?: unknown[];
  name?: string;
  /** Daemon children are ended when their parent exits. */
  daemon?: boolean;
}

/** What every process knows about itself; children receive theirs from the parent. */
export interface ProcessIdentity {
  name: string;
  pid: number;
  daemon: boolean;
  /** Shared secret for Manager connections; inherited by children. */
  authkey: Buffer;
  /** Position in the process tree: [] for the main process, [1] for its first child, [1, 2] for a grandchild. */
  identity: number[];
}

/** The parent as seen from a child. */
export interface ParentProcess {
  name: string;
  pid: number;
  isAlive(): boolean;
}

let authkey: Buffer | undefined;
const self: ProcessIdentity = {
  name: 'MainProcess',
  pid: process.pid,
  daemon: false,
  // Made when first needed: a child adopts its parent's, and node:crypto would cost every child's start 3-6 ms.
  get authkey(): Buffer {
    return (authkey ??= (require('node:crypto') as typeof import('node:crypto')).randomBytes(32));
  },
  set authkey(key: Buffer) {
    authkey = key;
  },
  identity: [],
};
let parent: ParentProcess | null = null;
let childCounter = 0;
const children = new Set<Process>();

export function currentProcess(): ProcessIdentity {
  return self;
}

export function parentProcess(): ParentProcess | null {
  return parent;
}

/** Children started by this process that have not exited yet. */
export function activeChildren(): Process[] {
  return [...children].filter((p) => p.isAlive());
}

/** The identity of this process's next child: its position in the process tree, which also numbers its name. */
export function nextChildIdentity(): number[] {
  return [...self.identity, ++childCounter];
}

export function cpuCount(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** @internal called by the bootstrap with what the parent sent. */
export function adoptIdentity(identity: ProcessIdentity, parentInfo: { name: string; pid: number },
                              parentAlive: () => boolean): void {
  Object.assign(self, identity, { pid: process.pid, authkey: Buffer.from(identity.authkey) });
  parent = { ...parentInfo, isAlive: parentAlive };
}

// Flags that must not reach a child: they would debug, evaluate or watch instead of running the bootstrap.
const UNINHERITABLE = /^--?(inspect|debug|eval|print|e$|p$|i$|interactive|check|c$|test|watch)/;

export function childExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    if (UNINHERITABLE.test(argv[i])) {
      if (/^-(e|p)$|^--(eval|print)$/.test(argv[i])) i++; // skip the flag's value too
      continue;
    }
    out.push(argv[i]);
  }
  return out;
}

export const BOOTSTRAP = path.join(__dirname, 'bootstrap.js');
/** Preloaded into every fork() child (node --require). */
export const FORK_PRELOAD = path.join(__dirname, 'fork_preload.js');

/** Exit code of a child that ends because its parent died: 128 + SIGHUP, as a terminal hang-up. */
export const PARENT_DIED_EXIT_CODE = 129;

export const CONTROL_FD = 3;

/** The spawned child and its control channel. @internal */
export interface Spawned {
  child: Child;
  channel: FramedSocket;
}

/** A child the OS refused to create (EMFILE, EAGAIN, ...). @internal */
export class SpawnFailed {
  constructor(readonly child: Child) {}

  /**
   * Node tells why on the next tick, as the ChildProcess's 'error' event (code, errno, syscall 'spawn …'): call this
   * before then. fork() does not: its caller listens to the ChildProcess it gets, as with child_process.fork.
   */
  error(): Promise<Error> {
    return new Promise((resolve) => this.child.once('error', resolve));
  }
}

/**
 * Spawns `script` with `payload` delivered on descriptor 3, reduced inside a spawning context so that Locks,
 * Queues and the like may travel. Shared by Process, Pool workers, Manager servers and fork(). A child of the
 * library (not `ipc`: fork() returns its ChildProcess to the caller) gets an 'error' listener: after the spawn,
 * Node reports a failed kill() there, which must not become an uncaught exception. @internal
 */
export function spawnWithInheritance(script: string, scriptArgs: string[], payload: Record<string, unknown>,
                                     childName: string, identity: number[],
                                     options: SpawnOptions & { ipc?: boolean; execArgv?: string[] } = {}): Spawned | SpawnFailed {
  const ctx = new SpawningContext();
  const trackerFd = runningTrackerDescriptor();
  const reduceAll = () => withSpawningContext(ctx, () => dumps({
    ...payload,
    self: { name: childName, pid: 0, daemon: Boolean(payload.daemon), authkey: self.authkey, identity },
    parent: { name: self.name, pid: process.pid },
    tracker: trackerFd === undefined ? null : ctx.passFd(trackerFd),
    // Children watch this process's alive pipe for end-of-file, which comes when it is gone, however it died.
    parentAlive: native.platform === 'win32' ? null : ctx.passFd(native.alivePipe()),
  }));
  const stdio: SpawnOptions['stdio'] = ['inherit', 'inherit', 'inherit', 'pipe'];
  const spawnOptions = (): SpawnOptions => ({
    ...options,
    stdio: [...stdio, ...ctx.fds, ...(options.ipc ? ['ipc' as const] : [])],
    env: { ...(options.env ?? process.env), MULTIPROC_CONTROL_FD: String(CONTROL_FD), MULTIPROC_PASSED_FDS: String(ctx.fds.length) },
    windowsHide: true,
  });
  let data: Buffer;
  let child: Child;
  const argv = [...(options.execArgv ?? childExecArgv()), script, ...scriptArgs];
  // Without fork() where possible (spawn_child.ts); child_process for fork()'s IPC channel and where it is not.
  const withoutFork = !options.ipc && Object.keys(options).every((key) => key === 'execArgv') && canSpawnChild();
  // Loaded by the first spawn that needs it: a child that never does starts without it.
  const spawn = (): ChildProcess =>
    (require('node:child_process') as typeof import('node:child_process')).spawn(process.execPath, argv, spawnOptions());
  try {
    if (native.platform === 'win32') {
      // Handles are duplicated into the child, so it must exist before its payload is reduced.
      child = spawn();
      if (child.pid === undefined) {
        ctx.release(); // it never started
        return new SpawnFailed(child);
      }
      ctx.pid = child.pid;
      try {
        data = reduceAll();
      } catch (err) {
        child.kill(); // it would wait for a payload that never comes, holding whatever was duplicated into it
        throw err;
      }
    } else {
      data = reduceAll(); // descriptors found while reducing go into the stdio array
      child = withoutFork ? spawnChild(process.execPath, argv, spawnOptions().env!, [0, 1, 2, CHANNEL, ...ctx.fds])
        : spawn();
      if (child.pid === undefined) {
        ctx.release(); // it never started
        return new SpawnFailed(child);
      }
    }
  } catch (err) {
    ctx.release();
    throw err;
  }
  // What the child may still open by name (the semaphores it was given) stays until it exits.
  child.once('exit', () => ctx.release());
  if (!options.ipc) child.on('error', () => undefined);
  const channel = new FramedSocket(child.stdio[CONTROL_FD] as import('node:net').Socket);
  channel.send(data);
  return { child, channel };
}

/** Python's exit code convention: the code, or minus the signal number. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return signal ? -(os.constants.signals[signal] ?? 1) : 1;
}

type State = 'initial' | 'started' | 'stopped' | 'closed';

/** A child process running `target(...args)`: Python's multiprocessing.Process. */
export class Process {
  name: string;
  daemon: boolean;
  readonly #target: Target;
  readonly #args: unknown[];
  readonly #identity: number[];
  #state: State = 'initial';
  #child: Child | undefined;
  #exitCode: number | null = null;
  #exited: Promise<void> | undefined;
  /** The child reported that it runs its target (or failed to): a daemon may stop keeping this process alive. */
  #reported = false;
  /** join() calls pending: each keeps this process alive until the child exits, daemon or not. */
  #joins = 0;

  constructor(options: ProcessOptions) {
    const opts = checkOptions<ProcessOptions>(options, 'Process options');
    if (opts.target === undefined) throw new InvalidArgumentError('Process needs a target');
    if (opts.args !== undefined && !Array.isArray(opts.args)) {
      throw new InvalidArgumentError(`Process args must be an array, got ${describe(opts.args)}`);
    }
    if (opts.name !== undefined && typeof opts.name !== 'string') throw new InvalidArgumentError('Process name must be a string');
    if (opts.daemon !== undefined && typeof opts.daemon !== 'boolean') throw new InvalidArgumentError('Process daemon must be a boolean');
    this.#target = opts.target;
    this.#args = opts.args ?? [];
    this.#identity = nextChildIdentity();
    this.name = opts.name ?? `Process-${this.#identity.join(':')}`;
    this.daemon = opts.daemon ?? false;
  }

  /**
   * Spawns the child. Errors found here (an unreachable target, a value that cannot travel) are thrown at once;
   * the returned promise resolves once the child runs the target, or rejects if it could not load it, or with the
   * OS's error (code EMFILE, EAGAIN, …) if no child could be created: then this Process can be started again.
   */
  start(): Promise<void> {
    this.#checkNotClosed();
    if (this.#state !== 'initial') throw new ValueError('cannot start a process twice', 'ERR_MP_PROCESS_STATE');
    if (self.daemon) throw new ValueError('daemonic processes are not allowed to have children', 'ERR_MP_PROCESS_STATE');
    const target = functionReference(this.#target, 'Process target');
    const spawned = spawnWithInheritance(BOOTSTRAP, [], { kind: 'process', target, args: this.#args,
      daemon: this.daemon }, this.name, this.#identity);
    if (spawned instanceof SpawnFailed) return spawned.error().then((err) => Promise.reject(err));
    const { child, channel } = spawned;
    this.#child = child;
    this.#state = 'started';
    children.add(this);
    this.#exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exitCode = exitCodeOf(code, signal);
        this.#state = 'stopped';
        children.delete(this);
        resolve();
      });
    });
    const started = new Promise<void>((resolve, reject) => {
      channel.once('frame', (frame: Buffer) => {
        const message = deserialize(frame) as { started?: boolean; error?: ErrorInfo };
        if (message.started) return resolve();
        reject(remoteError(message.error ?? { name: 'Error', message: 'child failed to start', stack: '' }));
      });
      // after every frame the child sent has been read: its own error report wins over this generic one
      channel.once('close', () => this.#exited!.then(() => reject(new MultiprocError('ERR_MP_CHILD_START',
        `${this.name} exited with code ${this.#exitCode} before running its target`))));
    });
    started.catch(() => undefined); // like Python, a child that fails is reported by its exit code; awaiting is optional
    // A daemon does not keep its parent alive, but only once it runs: until then start() is being awaited.
    if (this.daemon) {
      started.finally(() => {
        this.#reported = true;
        channel.socket.unref();
        this.#updateRef();
      }).catch(() => undefined);
    }
    return started;
  }

  /** Resolves when the child has exited, or after `timeoutMs` (then exitCode is still null). */
  async join(timeoutMs?: number): Promise<void> {
    this.#checkNotClosed();
    // As in Python, a negative timeout is none left: join returns at once.
    const timeout = checkTimeout(typeof timeoutMs === 'number' && timeoutMs < 0 ? 0 : timeoutMs, 'join timeout');
    if (this.#state === 'initial') throw new ValueError('can only join a started process', 'ERR_MP_PROCESS_STATE');
    this.#joins++; // whoever awaits join() waits for the child, daemon or not
    this.#updateRef();
    try {
      if (timeout === undefined) return await this.#exited;
      let stopTimer: (() => void) | undefined;
      await Promise.race([this.#exited, new Promise<void>((resolve) => { stopTimer = setLongTimeout(resolve, timeout); })]);
      stopTimer!();
    } finally {
      this.#joins--;
      this.#updateRef();
    }
  }

  /** A daemon keeps this process alive only until it reports its start, and while a join() waits for it. */
  #updateRef(): void {
    if (!this.#child) return; // closed
    if (this.#joins > 0 || !this.daemon || !this.#reported) this.#child!.ref();
    else this.#child!.unref();
  }

  isAlive(): boolean {
    this.#checkNotClosed();
    return this.#state === 'started';
  }

  /**
   * Python's Process.close(): lets go of the child's resources. A process still running cannot be closed
   * (ValueError: join or terminate it first); once closed, most calls throw ValueError. Idempotent.
   */
  close(): void {
    if (this.#state === 'closed') return;
    if (this.#state === 'started') {
      throw new ValueError('Cannot close a process while it is still running. You should first call join() or terminate().',
        'ERR_MP_PROCESS_STATE');
    }
    this.#child?.removeAllListeners();
    this.#child?.stdio.forEach((stream) => stream?.destroy());
    this.#child = undefined;
    this.#state = 'closed';
  }

  #checkNotClosed(): void {
    if (this.#state === 'closed') throw new ValueError('process object is closed', 'ERR_MP_PROCESS_STATE');
  }

  /**
   * Resolves when the child has exited (Python's sentinel, as a promise): what connection.wait() waits on. Unlike
   * join(), it keeps nothing alive.
   */
  get sentinel(): Promise<void> {
    this.#checkNotClosed();
    if (!this.#exited) throw new ValueError('process not started', 'ERR_MP_PROCESS_STATE');
    return this.#exited;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** null while running; the exit code, or minus the signal that ended it. */
  get exitCode(): number | null {
    this.#checkNotClosed();
    return this.#exitCode;
  }

  /** Sends SIGTERM (Windows: TerminateProcess). */
  terminate(): void {
    this.#signal('SIGTERM');
  }

  /** Sends SIGKILL. */
  kill(): void {
    this.#signal('SIGKILL');
  }

  /** Sends SIGINT, as Ctrl-C would (Python's Process.interrupt()): the child's handler runs, if it has one. */
  interrupt(): void {
    this.#signal('SIGINT');
  }

  #signal(signal: NodeJS.Signals): void {
    this.#checkNotClosed();
    if (this.#state === 'started') this.#child!.kill(signal);
  }

  toString(): string {
    const status = this.#state === 'initial' || this.#state === 'started' || this.#state === 'closed' ? this.#state
      : `stopped exitcode=${this.#exitCode}`;
    return `<Process name='${this.name}' ${this.pid ? `pid=${this.pid} ` : ''}${status}${this.daemon ? ' daemon' : ''}>`;
  }
}

// Daemon children go with their parent, as in Python; others are waited for by Node's own event loop.
process.on('exit', () => {
  for (const p of children) if (p.daemon) p.terminate();
});

export interface ForkOptions extends Omit<SpawnOptions, 'stdio'> {
  /** Objects handed to the child at spawn time (Locks, Queues, ...); the child reads them with inherited(). */
  inherit?: Record<string, unknown>;
  /** Replaces the parent's execArgv for the child, as child_process.fork's option of that name. */
  execArgv?: string[];
  serialization?: 'json' | 'advanced';
}

/**
 * child_process.fork() with inheritance: returns an ordinary ChildProcess (with its IPC channel) whose module
 * reads what it inherited with inherited(). Same rule as Process: only kernel objects given here travel.
 */
export function fork(modulePath: string, args: readonly string[] = [], options: ForkOptions = {}): ChildProcess {
  if (typeof modulePath !== 'string') throw new InvalidArgumentError(`fork modulePath must be a string, got ${describe(modulePath)}`);
  if (!Array.isArray(args)) throw new InvalidArgumentError(`fork args must be an array of strings, got ${describe(args)}`);
  const { inherit = {}, ...spawnOptions } = checkOptions<ForkOptions>(options, 'fork options');
  if (typeof inherit !== 'object' || inherit === null) throw new InvalidArgumentError('fork inherit must be an object');
  const identity = nextChildIdentity();
  // The preload reads the payload and watches this process before the module runs (see fork_preload.ts).
  const execArgv = [...(spawnOptions.execArgv ?? childExecArgv()), '--require', FORK_PRELOAD];
  const spawned = spawnWithInheritance(path.resolve(modulePath), args.map(String), { kind: 'fork', inherit },
    `Process-${identity.join(':')}`, identity, { ...spawnOptions, execArgv, ipc: true });
  // With `ipc` the child comes from child_process. A spawn the OS refused is its 'error' event, as with its fork.
  return spawned.child as ChildProcess;
}

/** For tests and diagnostics: the resource tracker started by this process, if any. */
export { trackerProcessId };
