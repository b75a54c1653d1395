/**
 * Managers (CPython's managers.py): a server process holds objects; proxies call their methods over an
 * authenticated connection. A proxy is only an address and a token, so it reduces anywhere — Pool task
 * arguments, Queue items, other Manager calls — and reconnects in whichever process rebuilds it.
 *
 * Each process keeps one multiplexed connection per manager address (requests carry ids, replies may come back in
 * any order), opened lazily by the first proxy that needs it and authenticated with the process's authkey.
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { inspect } from 'node:util';
import * as v8 from 'node:v8';
import { FramedSocket } from './connection';
import { deserialize } from './deserialize';
import { AbortError, Full, InvalidArgumentError, ManagerError, TimeoutError, ValueError } from './errors';
import {
  Address, addressKey, authenticateServer, decodeError, Inbox, DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_MAX_FRAME_BYTES,
  ErrorInfo, HANDSHAKE_MAX_FRAME_BYTES, isAddress, mayHoldProxy, Op, PROXY_REBUILDER, sendBatched, ServerInfo, Token,
} from './manager_protocol';
import { KernelDescriptor, KernelQueueDescriptor, releaseUnits } from './manager_kernel';
import type { RegisteredType, ServerOptions } from './manager_server';
import { native } from './native';
import { currentProcess, SpawnFailed, spawnWithInheritance } from './process';
import { OsSemaphore, SEM_VALUE_MAX } from './semlock';
import { encodeFrame, frameBytes, FramePipe } from './pipe';
import { JoinableQueue, Queue } from './queues';
import { BoundedSemaphore, Condition, Lock, Semaphore } from './synchronize';
import {
  functionReference, isSpawning, MARK, preloadRebuilders, reduce, Reduced, reduceValue, rebuildValue, registerRebuilder,
} from './reduction';
import { timeoutSignal, whenAborted } from './timeouts';
import type { Root } from './travel';
import { checkBoolean, checkInteger, checkOptions, checkTimeout, describe } from './validate';

export type { Address, ServerInfo, Token } from './manager_protocol';

// --- connections ------------------------------------------------------------------------------------------------

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

interface ConnectionSettings {
  authkey: Buffer;
  maxFrameBytes: number;
  /** How long connecting and the handshake may take, as the server allows its clients. */
  handshakeTimeoutMs: number;
}

/** What a process knows about managers it reaches with something other than its own authkey and default limits. */
const settingsByAddress = new Map<string, ConnectionSettings>();
const connections = new Map<string, ManagerConnection>();
/** The connection whose reply is being rebuilt: proxies in it arrive with a reference already held for us. */
let rebuildingReplyOf: ManagerConnection | null = null;
const MARK_BYTES = Buffer.from(MARK, 'latin1');

function settingsFor(address: Address): ConnectionSettings {
  return settingsByAddress.get(addressKey(address)) ?? {
    authkey: currentProcess().authkey, maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, handshakeTimeoutMs: DEFAULT_HANDSHAKE_TIMEOUT_MS,
  };
}

interface Closable {
  close(): void;
}

/** One authenticated, multiplexed connection from this process to one manager server. @internal */
export class ManagerConnection {
  readonly address: Address;
  readonly #settings: ConnectionSettings;
  readonly #pending = new Map<number, Pending>();
  readonly ready: Promise<FramedSocket>;
  #conn: FramedSocket | undefined;
  #nextRequestId = 1;
  #closed: ManagerError | null = null;
  readonly #closing = new AbortController();
  /** Kernel objects proxies opened through this connection (manager_kernel.ts), weakly: they close with it. */
  readonly #opened = new Set<WeakRef<Closable>>();
  static readonly #collected = new FinalizationRegistry<[Set<WeakRef<Closable>>, WeakRef<Closable>]>(
    ([opened, ref]) => opened.delete(ref));

  /** The connection of this process to `address` with these settings, opened on first use. */
  static to(address: Address, settings = settingsFor(address)): ManagerConnection {
    const key = ManagerConnection.#key(address, settings);
    let c = connections.get(key);
    if (!c) {
      c = new ManagerConnection(address, settings);
      connections.set(key, c);
    }
    return c;
  }

  /** Closes this process's connection to `address` with these settings, if it has one. */
  static close(address: Address, settings: ConnectionSettings): void {
    connections.get(ManagerConnection.#key(address, settings))?.close();
  }

  static #key(address: Address, settings: ConnectionSettings): string {
    return `${addressKey(address)} ${settings.authkey.toString('hex')}`;
  }

  private constructor(address: Address, settings: ConnectionSettings) {
    this.address = address;
    this.#settings = settings;
    this.ready = this.#open();
    this.ready.catch(() => undefined); // reported to each request instead
  }

  /**
   * Connects and authenticates within the handshake timeout; until the server has proved it knows the authkey,
   * frames above HANDSHAKE_MAX_FRAME_BYTES hang up at once, as the server does with its clients.
   */
  async #open(): Promise<FramedSocket> {
    const where = addressKey(this.address);
    const socket = Array.isArray(this.address) ? net.connect({ host: this.address[0], port: this.address[1] })
      : net.connect(this.address);
    socket.setNoDelay(true);
    const conn = new FramedSocket(socket, { maxFrameBytes: HANDSHAKE_MAX_FRAME_BYTES });
    conn.once('close', () => this.#onClose());
    let failure: ManagerError | undefined;
    const fail = (message: string) => {
      failure ??= new ManagerError('ERR_MP_MANAGER_CONNECTION', message);
      conn.close();
    };
    const timeout = this.#settings.handshakeTimeoutMs;
    const { signal: deadline, clear: clearDeadline } = timeoutSignal(timeout);
    const onDeadline = () => fail(`the manager at ${where} did not complete the handshake within ${timeout} ms`);
    const onOversize = (bytes: number) => fail(`the peer at ${where} sent a frame of ${bytes} bytes before authenticating`);
    deadline.addEventListener('abort', onDeadline, { once: true });
    conn.once('oversize', onOversize);
    let inbox: Inbox;
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', (err) => reject(new ManagerError('ERR_MP_MANAGER_CONNECTION',
          `cannot connect to the manager at ${where}: ${err.message}`)));
        socket.once('close', () => reject(new ManagerError('ERR_MP_MANAGER_CONNECTION', `the connection to ${where} closed`)));
      });
      inbox = await authenticateServer(conn, this.#settings.authkey, deadline);
    } catch (err) {
      conn.close();
      throw failure ?? err;
    } finally {
      clearDeadline();
      deadline.removeEventListener('abort', onDeadline);
      conn.off('oversize', onOversize);
    }
    conn.maxFrameBytes = this.#settings.maxFrameBytes;
    inbox.deliverTo((frame) => this.#onReply(frame));
    this.#conn = conn;
    this.#updateRef();
    return conn;
  }

  #onClose(): void {
    this.#closed = new ManagerError('ERR_MP_MANAGER_CONNECTION', `the connection to the manager at ${addressKey(this.address)} closed`);
    const key = ManagerConnection.#key(this.address, this.#settings);
    if (connections.get(key) === this) connections.delete(key);
    for (const p of this.#pending.values()) p.reject(this.#closed);
    this.#pending.clear();
    this.#closing.abort(this.#closed);
    // The manager is gone: its names and pipes are no use to this process any more (calls reject with #closed).
    // After this turn: the waits on them settle first, with the connection's error.
    const opened = [...this.#opened];
    this.#opened.clear();
    setImmediate(() => {
      for (const ref of opened) ref.deref()?.close();
    });
  }

  /** Closes `local`, a kernel object a proxy opened, when this connection closes (unless it was collected first). */
  hold<T extends Closable>(local: T): T {
    if (this.#closed) {
      local.close();
      return local;
    }
    const ref = new WeakRef(local);
    this.#opened.add(ref);
    ManagerConnection.#collected.register(local, [this.#opened, ref]);
    return local;
  }

  /**
   * Runs `wait`, a wait on this manager's kernel objects in this process, with a signal that also aborts when the
   * connection closes (the server died, or shut down): the wait then rejects with ERR_MP_MANAGER_CONNECTION, as the
   * calls waiting in the server do.
   */
  async untilClosed<R>(signal: AbortSignal | undefined, wait: (signal: AbortSignal) => R | Promise<R>): Promise<R> {
    await this.opened();
    const closing = this.#closing.signal;
    try {
      return await wait(signal ? AbortSignal.any([signal, closing]) : closing);
    } catch (err) {
      if (closing.aborted && !signal?.aborted && (err as { code?: string }).code === 'ABORT_ERR') throw this.#closed;
      throw err;
    }
  }

  /**
   * Sends a request and resolves with its result; `signal` asks the server to abandon it. `what` names the last of
   * `args` (the caller's arguments) in errors.
   */
  request(op: Op, args: unknown[], signal?: AbortSignal, what = 'arguments'): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (signal?.aborted) return Promise.reject(new AbortError(undefined, { cause: signal.reason }));
    const id = this.#nextRequestId++;
    const message = [op, id, ...args];
    const frame = this.#encode(message, (i) => (i === message.length - 1 ? what : `[${i}]`));
    const call = new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#updateRef();
      this.#send(frame);
    });
    if (!signal) return call;
    // The server's answer decides: an abort that arrives after the lock was granted still resolves true.
    const forget = whenAborted(signal, () => this.#send(this.#encode([Op.Cancel, id])));
    call.then(forget, forget);
    return call;
  }

  /** A message without a reply (reference counting, cancellation). Lost, harmlessly, if the connection is gone. */
  notify(op: Op, objectId: number): void {
    if (!this.#closed) this.#send(this.#encode([op, objectId]));
  }

  /**
   * Writes a message without a reply now (after whatever this tick batched before it) and resolves once it is in
   * the kernel's socket buffer: it reaches the server from then on, even if this process exits at once.
   */
  deliver(message: unknown[]): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closed);
    const data = this.#encode(message);
    return new Promise((resolve, reject) => this.#sendNow(data, (err) => (err ? reject(this.#closed ?? err) : resolve())));
  }

  /** Resolves once the connection is open; rejects if it cannot open or has closed. */
  opened(): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closed);
    return this.ready;
  }

  /**
   * A notification written now, after whatever this tick batched before it, not at the end of the tick: the server
   * must have it even if this process dies right after (Op.Held / Op.Released). The connection must be open.
   */
  notifyNow(op: Op, objectId: number): void {
    if (!this.#closed && this.#conn) this.#sendNow(this.#encode([op, objectId]));
  }

  /** Writes a frame at once: what this tick batched goes first, so the order of this process's messages holds. */
  #sendNow(frame: Buffer, onWritten?: (err?: Error | null) => void): void {
    const conn = this.#conn!;
    if (conn.socket.writableCorked) conn.socket.uncork();
    conn.send(frame, onWritten);
  }

  #encode(message: unknown[], root: Root = ''): Buffer {
    const data = v8.serialize(reduceValue(message, root));
    if (data.length > this.#settings.maxFrameBytes) {
      throw new ManagerError('ERR_MP_MANAGER_FRAME_TOO_LARGE',
        `a message of ${data.length} bytes exceeds the manager's maxFrameBytes (${this.#settings.maxFrameBytes})`);
    }
    return data;
  }

  #send(frame: Buffer): void {
    if (this.#conn) {
      sendBatched(this.#conn, frame);
      return;
    }
    this.ready.then((conn) => sendBatched(conn, frame), (err: Error) => this.#failAll(err));
  }

  #failAll(err: Error): void {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }

  #onReply(frame: Buffer): void {
    let message: [number, boolean, unknown];
    try {
      message = deserialize(frame) as [number, boolean, unknown];
    } catch {
      return this.#conn!.close();
    }
    const [id, ok, value] = message;
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    this.#updateRef();
    if (!ok) return pending.reject(decodeError(value as ErrorInfo));
    if (frame.indexOf(MARK_BYTES) < 0) return pending.resolve(value);
    // Proxies in the reply must be rebuilt before anything else of ours runs, or their references could be lost.
    const rebuild = () => {
      rebuildingReplyOf = this;
      try {
        pending.resolve(rebuildValue(value));
      } catch (err) {
        pending.reject(err as Error);
      } finally {
        rebuildingReplyOf = null;
      }
    };
    if (mayHoldProxy(frame)) rebuild();
    else preloadRebuilders(value).then(rebuild, pending.reject);
  }

  /** Keeps the process alive while it waits for a reply, and only then. */
  #updateRef(): void {
    const socket = this.#conn?.socket;
    if (!socket) return;
    if (this.#pending.size) socket.ref();
    else socket.unref();
  }

  close(): void {
    this.#conn?.close();
  }
}

// --- proxies ----------------------------------------------------------------------------------------------------

/** Drops a proxy's server reference once the proxy is garbage-collected. */
const finalizer = new FinalizationRegistry<{ connection: ManagerConnection; id: number }>(({ connection, id }) => {
  connection.notify(Op.Decref, id);
});

/**
 * A proxy for an object in a manager server (Python's BaseProxy). It holds one reference to that object until it
 * is garbage-collected or disposed (`proxy[Symbol.dispose]()`, or `using`).
 */
export class BaseProxy {
  readonly #token: Token;
  readonly #connection: ManagerConnection;
  #released = false;

  /** @internal `adopt`: the reference was lent by another process and is taken over now. */
  constructor(token: Token, connection: ManagerConnection, adopt: boolean) {
    this.#token = token;
    this.#connection = connection;
    if (adopt) connection.notify(Op.Adopt, token.id);
    finalizer.register(this, { connection, id: token.id }, this);
  }

  /** This process's connection to the server (the owner of locks acquired through it). */
  protected get _connection(): ManagerConnection {
    return this.#connection;
  }

  /** The token itself (`token` returns a copy). */
  protected get _token(): Token {
    return this.#token;
  }

  /** The typeid, object id, server address and exposed methods. */
  get token(): Token {
    return { ...this.#token, exposed: [...this.#token.exposed] };
  }

  /** Calls an exposed method of the referent (Python's _callmethod). */
  protected _callMethod(method: string, args: unknown[] = [], signal?: AbortSignal): Promise<unknown> {
    if (this.#released) {
      return Promise.reject(new ManagerError('ERR_MP_MANAGER_RELEASED', `this ${this.#token.typeid} proxy was released`));
    }
    try {
      return this.#connection.request(Op.Call, [this.#token.id, method, args], signal, `${this.#token.typeid}.${method}() arguments`);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Calls a method that may wait in the server: the options travel, their AbortSignal stays here to cancel it. */
  protected _callWaiting(method: string, args: unknown[], options: unknown): Promise<unknown> {
    try {
      const [opts, signal] = travelling(options, `${method} options`);
      return this._callMethod(method, [...args, opts], signal);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Drops this proxy's reference now; the object goes when no proxy anywhere refers to it. */
  [Symbol.dispose](): void {
    if (this.#released) return;
    this.#released = true;
    finalizer.unregister(this);
    this.#connection.notify(Op.Decref, this.#token.id);
  }

  [reduce](): Reduced {
    if (this.#released) throw new ManagerError('ERR_MP_MANAGER_RELEASED', `this ${this.#token.typeid} proxy was released`);
    // The object must outlive the trip even if this proxy is collected meanwhile: lend a reference to the receiver.
    this.#connection.notify(Op.Lend, this.#token.id);
    // As in Python, the authkey travels only to a child being spawned (never in Pool task arguments or queues).
    const authkey = isSpawning() ? settingsFor(this.#token.address).authkey : null;
    return [PROXY_REBUILDER, [this.#token, authkey]];
  }

  [inspect.custom](): string {
    return `<${this.constructor.name} typeid='${this.#token.typeid}' id=${this.#token.id} at ${addressKey(this.#token.address)}>`;
  }
}

const proxyTypes = new Map<string, new (token: Token, connection: ManagerConnection, adopt: boolean) => BaseProxy>();

function makeProxy(token: Token, connection: ManagerConnection, adopt: boolean): BaseProxy {
  const Type = proxyTypes.get(token.typeid) ?? AutoProxy;
  return new Type(token, connection, adopt);
}

registerRebuilder(PROXY_REBUILDER, (token: Token, authkey: Uint8Array | null) => {
  if (!token || !isAddress(token.address) || !Number.isSafeInteger(token.id) || !Array.isArray(token.exposed) ||
      !(token.kernel === undefined || isKernelDescriptor(token.kernel))) {
    throw new ManagerError('ERR_MP_MANAGER_UNKNOWN_OBJECT', 'malformed proxy token');
  }
  const key = addressKey(token.address);
  if (authkey && !settingsByAddress.has(key)) {
    settingsByAddress.set(key, {
      authkey: Buffer.from(authkey), maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, handshakeTimeoutMs: DEFAULT_HANDSHAKE_TIMEOUT_MS,
    });
  }
  const connection = ManagerConnection.to(token.address);
  return makeProxy(token, connection, rebuildingReplyOf !== connection);
});

/** The names our semaphores get (semlock.ts), and nothing else: a token cannot make a proxy open any other. */
const KERNEL_NAME = /^\/mp-[\w-]{8}$/;

const KERNEL_FIFO = /^q-[\w-]{12}$/;

function isKernelDescriptor(kernel: KernelDescriptor | KernelQueueDescriptor): boolean {
  if (typeof kernel !== 'object' || kernel === null) return false;
  if ('fifo' in kernel) {
    return typeof kernel.fifo === 'string' && KERNEL_FIFO.test(path.basename(kernel.fifo)) &&
      Number.isSafeInteger(kernel.maxsize) && kernel.maxsize >= 0 && kernel.parts instanceof Uint8Array;
  }
  return typeof kernel.name === 'string' && KERNEL_NAME.test(kernel.name) &&
    Number.isSafeInteger(kernel.maxvalue) && kernel.maxvalue >= 1 && kernel.maxvalue <= SEM_VALUE_MAX;
}

/** A token's kernel object, if this process may open it: POSIX, and a server on a Unix socket (so on this host). */
function kernelOf(token: Token): KernelDescriptor | KernelQueueDescriptor | null {
  if (!token.kernel || native.platform !== 'posix' || Array.isArray(token.address)) return null;
  return token.kernel;
}

/** Opens the kernel semaphore of a manager Lock or Semaphore (manager_kernel.ts); null when calls must go to the server. */
function openKernel(token: Token, connection: ManagerConnection): Semaphore | null {
  const kernel = kernelOf(token);
  if (!kernel || !('name' in kernel)) return null;
  try {
    return connection.hold(new Semaphore(0, OsSemaphore.open(kernel.name), kernel.maxvalue));
  } catch {
    return null; // not on the server's host after all (e.g. another mount namespace)
  }
}

/** Opens a manager Queue's named pipe and semaphores (manager_kernel.ts); null when calls must go to the server. */
function openKernelQueue(token: Token, connection: ManagerConnection): OpenedQueue | null {
  const kernel = kernelOf(token);
  if (!kernel || !('fifo' in kernel)) return null;
  let pipe: FramePipe;
  try {
    pipe = FramePipe.openFifo(kernel.fifo);
  } catch {
    return null;
  }
  try {
    const [rlock, wlock, items, slots, unfinished, cond] = rebuildValue(deserialize(kernel.parts)) as
      [Lock, Lock, Semaphore, BoundedSemaphore | null, Semaphore | undefined, Condition | undefined];
    const parts = { pipe, rlock, wlock, items, slots };
    const queue = token.typeid === 'JoinableQueue'
      ? new JoinableQueue(kernel.maxsize, { ...parts, unfinished: unfinished!, cond: cond! })
      : new Queue(kernel.maxsize, parts);
    return { queue: connection.hold(queue), slots };
  } catch {
    pipe.close();
    return null;
  }
}

/** A proxy whose methods are whatever the server exposes (Python's AutoProxy): used for registered user types. */
export class AutoProxy extends BaseProxy {
  [method: string]: unknown;

  constructor(token: Token, connection: ManagerConnection, adopt: boolean) {
    super(token, connection, adopt);
    for (const name of token.exposed) {
      if (name === 'then') continue; // a proxy with then() would be a thenable: `await` would call it
      Object.defineProperty(this, name, { value: (...args: unknown[]) => this._callMethod(name, args), enumerable: false });
    }
  }
}

/** Defines methods that pass their arguments straight to the referent's method of the same name. */
function forward(cls: { prototype: BaseProxy }, methods: string[]): void {
  for (const name of methods) {
    Object.defineProperty(cls.prototype, name, {
      value: function (this: BaseProxy, ...args: unknown[]) {
        return (this as unknown as { _callMethod: BaseProxy['_callMethod'] })._callMethod(name, args);
      },
      writable: true,
      configurable: true,
    });
  }
}

export interface AcquireOptions {
  blocking?: boolean;
  timeout?: number;
  /** Asks the server to give up waiting (the call then rejects with AbortError, unless it had already succeeded). */
  signal?: AbortSignal;
}

export interface WaitOptions {
  timeout?: number;
  signal?: AbortSignal;
}

export interface QueueOptions {
  block?: boolean;
  timeout?: number;
  signal?: AbortSignal;
}

/** Splits the AbortSignal (which stays here) from the options that travel, and checks them before they do. */
function travelling(options: unknown, what: string): [Record<string, unknown>, AbortSignal | undefined] {
  const { signal, ...rest } = checkOptions<{ signal: AbortSignal; timeout: number }>(options, what) as Record<string, unknown>;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidArgumentError('signal must be an AbortSignal');
  checkTimeout(rest.timeout);
  return [rest, signal];
}

/** Held until disposed: `await using held = await lock.guard()`. */
export interface AsyncGuard extends AsyncDisposable {
  release(): Promise<void>;
}

abstract class AcquirerProxy extends BaseProxy {
  #local: Semaphore | null | undefined;

  /** The object's kernel semaphore, opened here on first use; null when every call goes through the server. */
  protected get _local(): Semaphore | null {
    if (this.#local === undefined) this.#local = openKernel(this._token, this._connection);
    return this.#local;
  }

  async acquire(options?: AcquireOptions): Promise<boolean> {
    const local = this._local;
    if (!local) return this._callWaiting('acquire', [], options) as Promise<boolean>;
    const [opts, signal] = travelling(options, 'acquire options');
    // The manager must still be there, even if the call needs nothing of it, and stay there while it waits.
    return this._connection.untilClosed(signal, (until) => local.acquire({ ...opts, signal: until }));
  }

  release(): Promise<void> {
    return this._callMethod('release') as Promise<void>;
  }

  /** Acquires and returns a guard whose disposal releases; TimeoutError if not acquired in time. */
  async guard(options?: AcquireOptions): Promise<AsyncGuard> {
    if (!(await this.acquire(options))) {
      throw new TimeoutError(`could not acquire the manager ${this.token.typeid} in time`);
    }
    let held = true;
    const release = async () => {
      if (!held) return;
      held = false;
      await this.release();
    };
    return { release, [Symbol.asyncDispose]: release };
  }

  override [Symbol.dispose](): void {
    super[Symbol.dispose]();
    this.#local?.close(); // this process's reference to the kernel semaphore goes too
  }
}

/**
 * How many times this process (its connection: the server's notion of the owner) holds each lock. A release by
 * the holder cannot fail in the server, so it need not wait for the answer: one round trip per critical
 * section instead of two. With a kernel lock, the count is of the holds taken here directly.
 */
const holdings = new WeakMap<ManagerConnection, Map<number, number>>();

export class LockProxy extends AcquirerProxy {
  protected readonly recursive: boolean = false;

  /**
   * A kernel lock is taken here, then the server is told (so it can release the lock if this process dies holding
   * it); an RLock this process holds is only counted again. Otherwise the server takes it for this process.
   */
  override async acquire(options?: AcquireOptions): Promise<boolean> {
    const local = this._local;
    if (local && this.recursive && this.#holds() > 0) {
      travelling(options, 'acquire options');
      this.#addHold(1);
      return true;
    }
    if (!(await super.acquire(options))) return false;
    const holds = this.#addHold(1);
    // The server learns of a kernel lock taken here: every hold of a Lock, the first of an RLock.
    if (local && (holds === 1 || !this.recursive)) this._connection.notifyNow(Op.Held, this._token.id);
    return true;
  }

  /**
   * Resolves at once when this process holds the lock. A kernel lock is given back here, after telling the server.
   * Otherwise the request is on its way, ordered before any later call of this process; in the one case the server
   * can still refuse — another process released this Lock meanwhile (legal for a Lock) and nobody holds it now —
   * the ValueError is reported with process.emitWarning, as it has no caller left to reject.
   */
  override release(): Promise<void> {
    const local = this._local;
    const holds = this.#holds();
    if (local && holds > 0) {
      try {
        if (this.#addHold(-1) > 0 && this.recursive) return Promise.resolve();
        this._connection.notifyNow(Op.Released, this._token.id);
        local.release(); // a ValueError if another process released this Lock meanwhile
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(err);
      }
    }
    const call = super.release();
    if (holds === 0) return call;
    this.#addHold(-1);
    call.catch((err: Error & { code?: string }) => {
      // A closed connection needs no report: the server releases what a vanished connection held.
      if (err.code !== 'ERR_MP_MANAGER_CONNECTION') process.emitWarning(err.message, { type: err.name, code: err.code });
    });
    return Promise.resolve();
  }

  locked(): Promise<boolean> {
    const local = this._local;
    if (!local) return this._callMethod('locked') as Promise<boolean>;
    return this._connection.opened().then(() => local._isZero());
  }

  #holds(): number {
    return holdings.get(this._connection)?.get(this._token.id) ?? 0;
  }

  /** Adds `delta` to this process's hold count; returns the new count. */
  #addHold(delta: 1 | -1): number {
    const connection = this._connection;
    let counts = holdings.get(connection);
    if (!counts) holdings.set(connection, counts = new Map());
    const id = this._token.id;
    const count = (counts.get(id) ?? 0) + delta;
    if (count === 0) counts.delete(id);
    else counts.set(id, count);
    return count;
  }
}

export class RLockProxy extends LockProxy {
  protected override readonly recursive: boolean = true;
}

export class SemaphoreProxy extends AcquirerProxy {
  override release(n = 1): Promise<void> {
    const local = this._local;
    if (!local) return this._callMethod('release', [n]) as Promise<void>;
    return this._connection.opened().then(() => releaseUnits(local, n));
  }

  getValue(): Promise<number> {
    const local = this._local;
    if (!local) return this._callMethod('getValue') as Promise<number>;
    return this._connection.opened().then(() => local.getValue());
  }
}

export class BoundedSemaphoreProxy extends SemaphoreProxy {}

export class ConditionProxy extends AcquirerProxy {
  wait(options?: WaitOptions): Promise<boolean> {
    return this._callWaiting('wait', [], options) as Promise<boolean>;
  }

  /** Waits until `predicate()` (run here, with the lock held) is truthy or the timeout passes; returns its value. */
  async waitFor<T>(predicate: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    const [opts, signal] = travelling(options, 'waitFor options');
    const timeout = opts.timeout as number | undefined;
    const end = timeout === undefined ? undefined : performance.now() + timeout;
    let result = await predicate();
    while (!result) {
      const left = end === undefined ? undefined : end - performance.now();
      if (left !== undefined && left <= 0) break;
      await this.wait({ timeout: left, signal });
      result = await predicate();
    }
    return result;
  }

  notify(n = 1): Promise<void> {
    return this._callMethod('notify', [n]) as Promise<void>;
  }

  notifyAll(): Promise<void> {
    return this._callMethod('notifyAll') as Promise<void>;
  }
}

export interface EventProxy {
  isSet(): Promise<boolean>;
  set(): Promise<void>;
  clear(): Promise<void>;
}
export class EventProxy extends BaseProxy {
  wait(options?: WaitOptions): Promise<boolean> {
    return this._callWaiting('wait', [], options) as Promise<boolean>;
  }
}
forward(EventProxy, ['isSet', 'set', 'clear']);

export interface BarrierProxy {
  reset(): Promise<void>;
  abort(): Promise<void>;
}
/** A manager Barrier; `parties`, `nWaiting` and `broken` are Promise-valued getters. */
export class BarrierProxy extends BaseProxy {
  wait(options?: WaitOptions): Promise<number> {
    return this._callWaiting('wait', [], options) as Promise<number>;
  }

  get parties(): Promise<number> {
    return this._callMethod('parties') as Promise<number>;
  }

  get nWaiting(): Promise<number> {
    return this._callMethod('nWaiting') as Promise<number>;
  }

  get broken(): Promise<boolean> {
    return this._callMethod('broken') as Promise<boolean>;
  }
}
forward(BarrierProxy, ['reset', 'abort']);

/** A kernel queue as a proxy's process opened it: a local Queue to read items from, and the slots of a bounded one. */
interface OpenedQueue {
  queue: Queue;
  slots: BoundedSemaphore | null;
}

/** Closes the local queue a proxy opened (a kernel queue), once that proxy is collected. */
const openedQueues = new FinalizationRegistry<Queue>((queue) => queue.close());

/**
 * A manager Queue. On the server's host it is a queue in the kernel (manager_kernel.ts): `get` reads the next item
 * from its pipe here; `put` takes a slot of a bounded queue here and writes a small item into the pipe while it
 * has room, else sends the item to the server, which writes it there — no round trip either way. Elsewhere put and
 * get wait in the server (never blocking it). Empty and Full as with a local Queue.
 */
export class QueueProxy<T = unknown> extends BaseProxy {
  #local: OpenedQueue | null | undefined;
  /** Items this proxy sent through the server (kernel queue). */
  #sentToServer = 0;
  /** Set while items this proxy sent through the server may not be in the pipe yet: the next ones follow them. */
  #draining: Promise<void> | null = null;

  /** The kernel queue, opened here on first use; null when every call goes through the server. */
  protected get _local(): OpenedQueue | null {
    if (this.#local === undefined) {
      this.#local = openKernelQueue(this._token, this._connection);
      if (this.#local) openedQueues.register(this, this.#local.queue, this);
    }
    return this.#local;
  }

  /**
   * Resolves once the item is in the pipe, or on its way to the server, which writes it there (it survives this
   * process's exit from then on).
   */
  put(item: T, options?: QueueOptions): Promise<void> {
    if (!this._local) return this._callWaiting('put', [item], options) as Promise<void>;
    let opts: Record<string, unknown> = {};
    let signal: AbortSignal | undefined;
    try {
      if (options !== undefined) [opts, signal] = travelling(options, 'put options');
    } catch (err) {
      return Promise.reject(err);
    }
    return this._here(signal, async ({ queue, slots }, until) => {
      const frame = encodeFrame(item);
      if (slots) {
        const taken = opts.block === false || opts.timeout === 0 ? slots.acquire({ blocking: false })
          : slots.acquire({ timeout: opts.timeout as number | undefined, signal: until });
        if (!(await taken)) throw new Full();
      }
      if (!this.#draining && queue._putFrameNow(frame)) return;
      try {
        await this._connection.deliver([Op.PutFrame, this._token.id, frameBytes(frame)]);
      } catch (err) {
        slots?.release();
        throw err;
      }
      this.#sentToServer++;
      this.#draining ??= this.#drain();
    });
  }

  /** Waits until the server wrote every item this proxy sent it, then lets puts go straight to the pipe again. */
  async #drain(): Promise<void> {
    for (;;) {
      const sent = this.#sentToServer;
      try {
        await this._callMethod('awaitWritten');
      } catch {
        return; // the connection is gone: so are the puts that would follow
      }
      if (sent === this.#sentToServer) break;
    }
    this.#draining = null;
  }

  get(options?: QueueOptions): Promise<T> {
    if (!this._local) return this._callWaiting('get', [], options) as Promise<T>;
    if (options === undefined) return this._here(undefined, ({ queue }, until) => queue._get(until) as Promise<T>);
    let opts: Record<string, unknown>;
    let signal: AbortSignal | undefined;
    try {
      [opts, signal] = travelling(options, 'get options');
    } catch (err) {
      return Promise.reject(err);
    }
    // Never getNowait() here: a frame another process is still writing would block this event loop.
    const timeout = opts.block === false ? 0 : opts.timeout as number | undefined;
    return this._here(signal, ({ queue }, until) => queue.get({ timeout, signal: until }) as Promise<T>);
  }

  putNowait(item: T): Promise<void> {
    return this._local ? this.put(item, { block: false }) : this._callMethod('putNowait', [item]) as Promise<void>;
  }

  getNowait(): Promise<T> {
    return this._local ? this.get({ block: false }) : this._callMethod('getNowait') as Promise<T>;
  }

  /** Exact: the server counts the items in the pipe and those waiting to go in. */
  qsize(): Promise<number> {
    return this._callMethod('qsize') as Promise<number>;
  }

  empty(): Promise<boolean> {
    return this._callMethod('empty') as Promise<boolean>;
  }

  full(): Promise<boolean> {
    return this._callMethod('full') as Promise<boolean>;
  }

  /**
   * Runs `here` on the opened kernel queue once the manager is known to be up; `until` ends its waits like `signal`
   * and when the connection to the manager closes.
   */
  protected _here<R>(signal: AbortSignal | undefined,
                     here: (opened: OpenedQueue, until: AbortSignal) => R | Promise<R>): Promise<R> {
    const opened = this._local!;
    return this._connection.untilClosed(signal, (until) => here(opened, until));
  }

  /** Runs `here` on the kernel queue, or calls `method` in the server when this process has none. */
  protected _either<R>(method: string, here: (opened: OpenedQueue, until: AbortSignal) => R | Promise<R>): Promise<R> {
    return this._local ? this._here(undefined, here) : this._callMethod(method) as Promise<R>;
  }

  override [Symbol.dispose](): void {
    super[Symbol.dispose]();
    if (!this.#local) return;
    openedQueues.unregister(this);
    this.#local.queue.close();
  }
}

export class JoinableQueueProxy<T = unknown> extends QueueProxy<T> {
  taskDone(): Promise<void> {
    return this._either('taskDone', ({ queue }, until) => (queue as JoinableQueue)._taskDone(until));
  }

  join(): Promise<void> {
    return this._either('join', ({ queue }, until) => (queue as JoinableQueue)._join(until));
  }
}

/** A manager dict with Map's methods (all returning Promises; `size` is a Promise-valued getter). */
export interface DictProxy<K = unknown, V = unknown> {
  get(key: K, fallback?: V): Promise<V | undefined>;
  set(key: K, value: V): Promise<void>;
  has(key: K): Promise<boolean>;
  delete(key: K): Promise<boolean>;
  clear(): Promise<void>;
  keys(): Promise<K[]>;
  values(): Promise<V[]>;
  entries(): Promise<[K, V][]>;
  /** Adds the entries of a Map, an array of pairs, or a plain object. */
  update(other: Map<K, V> | [K, V][] | Record<string, V>): Promise<void>;
  /** Python's pop: the value, else `fallback` if given, else ValueError (code ERR_MP_KEY). */
  pop(key: K, fallback?: V): Promise<V>;
  setdefault(key: K, value?: V): Promise<V>;
  popitem(): Promise<[K, V]>;
  copy(): Promise<Map<K, V>>;
}
export class DictProxy<K = unknown, V = unknown> extends BaseProxy {
  get size(): Promise<number> {
    return this._callMethod('size') as Promise<number>;
  }
}
forward(DictProxy, ['get', 'set', 'has', 'delete', 'clear', 'keys', 'values', 'entries', 'update', 'pop', 'setdefault',
  'popitem', 'copy']);

/** A manager list with Array's methods and Python's (indices may be negative; out of range is ValueError ERR_MP_INDEX). */
export interface ListProxy<T = unknown> {
  get(index: number): Promise<T>;
  set(index: number, value: T): Promise<void>;
  push(...items: T[]): Promise<number>;
  append(item: T): Promise<void>;
  extend(items: T[]): Promise<void>;
  insert(index: number, item: T): Promise<void>;
  pop(index?: number): Promise<T>;
  shift(): Promise<T | undefined>;
  unshift(...items: T[]): Promise<number>;
  splice(start: number, deleteCount?: number, ...items: T[]): Promise<T[]>;
  slice(start?: number, end?: number): Promise<T[]>;
  indexOf(item: T): Promise<number>;
  includes(item: T): Promise<boolean>;
  count(item: T): Promise<number>;
  remove(item: T): Promise<void>;
  reverse(): Promise<void>;
  /** Numbers numerically, anything else as Array.prototype.sort (a comparator cannot travel). */
  sort(): Promise<void>;
  clear(): Promise<void>;
  toArray(): Promise<T[]>;
}
export class ListProxy<T = unknown> extends BaseProxy {
  get length(): Promise<number> {
    return this._callMethod('length') as Promise<number>;
  }
}
forward(ListProxy, ['get', 'set', 'push', 'append', 'extend', 'insert', 'pop', 'shift', 'unshift', 'splice', 'slice',
  'indexOf', 'includes', 'count', 'remove', 'reverse', 'sort', 'clear', 'toArray']);

/** A manager Value: read with get(), write with set() (there is no `value` accessor: a setter cannot be awaited). */
export interface ValueProxy<T = unknown> {
  get(): Promise<T>;
  set(value: T): Promise<void>;
  typecode(): Promise<string>;
}
export class ValueProxy<T = unknown> extends BaseProxy {}
forward(ValueProxy, ['get', 'set', 'typecode']);

/** A manager Array of numbers (bigints for 'l', 'L', 'q', 'Q'); `length` is a Promise-valued getter. */
export interface ArrayProxy<T extends number | bigint = number> {
  get(index: number): Promise<T>;
  set(index: number, value: T): Promise<void>;
  toArray(): Promise<T[]>;
  typecode(): Promise<string>;
}
export class ArrayProxy<T extends number | bigint = number> extends BaseProxy {
  get length(): Promise<number> {
    return this._callMethod('length') as Promise<number>;
  }
}
forward(ArrayProxy, ['get', 'set', 'toArray', 'typecode']);

export interface NamespaceProxy {
  get<T = unknown>(name: string): Promise<T | undefined>;
  set(name: string, value: unknown): Promise<void>;
  has(name: string): Promise<boolean>;
  delete(name: string): Promise<boolean>;
  toObject(): Promise<Record<string, unknown>>;
}
export class NamespaceProxy extends BaseProxy {}
forward(NamespaceProxy, ['get', 'set', 'has', 'delete', 'toObject']);

const BUILTIN_PROXIES = {
  Lock: LockProxy, RLock: RLockProxy, Semaphore: SemaphoreProxy, BoundedSemaphore: BoundedSemaphoreProxy,
  Condition: ConditionProxy, Event: EventProxy, Barrier: BarrierProxy, Queue: QueueProxy,
  JoinableQueue: JoinableQueueProxy, dict: DictProxy, list: ListProxy, Value: ValueProxy, Array: ArrayProxy,
  Namespace: NamespaceProxy,
};
for (const [typeid, Type] of Object.entries(BUILTIN_PROXIES)) proxyTypes.set(typeid, Type);

// --- managers ---------------------------------------------------------------------------------------------------

export interface ManagerOptions {
  /** A Unix socket path / Windows pipe name, or [host, port] for TCP (port 0: any). Default: a private socket. */
  address?: Address;
  /** The shared secret; default: this process's authkey (which children inherit). */
  authkey?: Buffer | Uint8Array;
  /** Largest message either side accepts; default 64 MiB. */
  maxFrameBytes?: number;
  /** How long an unauthenticated connection may take to authenticate; default 5000 ms. */
  handshakeTimeout?: number;
  /**
   * Locks and semaphores as kernel semaphores that proxies on this host take directly (default true; applies to
   * a server on a Unix socket, on platforms that read semaphore values). false keeps them in the server: every
   * call a round trip, waiters served in FIFO order.
   */
  kernelObjects?: boolean;
}

export interface RegisterOptions {
  /** Methods a proxy may call; default: the object's public methods (not starting with '_'). */
  exposed?: string[];
  /** Methods whose result stays in the server and comes back as a proxy of that typeid. */
  methodToTypeid?: Record<string, string>;
  /** The proxy class; default AutoProxy. */
  proxyType?: new (token: Token, connection: never, adopt: boolean) => BaseProxy;
  /** Add a `manager[typeid](...args)` method (default true). */
  createMethod?: boolean;
}

type Registration = Omit<RegisteredType, 'factory'> & { factory: ((...args: never[]) => unknown) | null };

const SERVER_SCRIPT = path.join(__dirname, 'manager_server.js');
const SHUTDOWN_GRACE_MS = 2000;
let managerCounter = 0;

/**
 * A manager of objects in a server process (Python's BaseManager). Subclass it and `register` types, then
 * `start()` a server, or `connect()` to one started elsewhere.
 */
export class BaseManager {
  static #registries = new WeakMap<object, Map<string, Registration>>();
  readonly #authkey: Buffer;
  readonly #maxFrameBytes: number;
  readonly #handshakeTimeout: number;
  readonly #kernelObjects: boolean;
  #address: Address | undefined;
  #state: 'initial' | 'started' | 'connected' | 'shutdown' = 'initial';
  #child: ChildProcess | undefined;
  #channel: FramedSocket | undefined;
  #exited: Promise<void> | undefined;
  #dir: string | null = null;

  /**
   * Registers a type (Python's BaseManager.register): `factory` runs in the server, which loads it by reference
   * (export it from a module). A client that only uses the type registers it without a factory.
   */
  static register(typeid: string, factory?: ((...args: never[]) => unknown) | null, options: RegisterOptions = {}): void {
    if (typeof typeid !== 'string' || !/^[A-Za-z_$][\w$]*$/.test(typeid)) {
      throw new InvalidArgumentError(`typeid must be an identifier, got ${describe(typeid)}`);
    }
    if (factory !== undefined && factory !== null && typeof factory !== 'function') {
      throw new InvalidArgumentError(`the factory of '${typeid}' must be a function, got ${describe(factory)}`);
    }
    const opts = checkOptions<RegisterOptions>(options, 'register options');
    if (opts.exposed !== undefined && (!Array.isArray(opts.exposed) || !opts.exposed.every((m) => typeof m === 'string'))) {
      throw new InvalidArgumentError('exposed must be an array of method names');
    }
    if (!BaseManager.#registries.has(this)) BaseManager.#registries.set(this, new Map(BaseManager.#registry(Object.getPrototypeOf(this))));
    BaseManager.#registries.get(this)!.set(typeid, {
      typeid, factory: factory ?? null, exposed: opts.exposed ?? null, methodToTypeid: opts.methodToTypeid ?? null,
    });
    if (opts.proxyType) proxyTypes.set(typeid, opts.proxyType as never);
    if (opts.createMethod !== false) {
      Object.defineProperty(this.prototype, typeid, {
        value: function (this: BaseManager, ...args: unknown[]) { return this.create(typeid, ...args); },
        writable: true,
        configurable: true,
      });
    }
  }

  static #registry(cls: object): Map<string, Registration> {
    for (let c: object | null = cls; c; c = Object.getPrototypeOf(c)) {
      const found = BaseManager.#registries.get(c);
      if (found) return found;
    }
    return new Map();
  }

  constructor(options: ManagerOptions = {}) {
    const opts = checkOptions<ManagerOptions>(options, 'Manager options');
    if (opts.address !== undefined && !isAddress(opts.address)) {
      throw new InvalidArgumentError(`address must be a socket path or [host, port], got ${describe(opts.address)}`);
    }
    if (opts.authkey !== undefined && !(opts.authkey instanceof Uint8Array)) {
      throw new InvalidArgumentError(`authkey must be a Buffer, got ${describe(opts.authkey)}`);
    }
    this.#address = opts.address;
    this.#authkey = Buffer.from(opts.authkey ?? currentProcess().authkey);
    this.#maxFrameBytes = opts.maxFrameBytes === undefined ? DEFAULT_MAX_FRAME_BYTES
      : checkInteger(opts.maxFrameBytes, 'maxFrameBytes', 1024, 0xffffffff);
    this.#handshakeTimeout = checkTimeout(opts.handshakeTimeout, 'handshakeTimeout') ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.#kernelObjects = checkBoolean(opts.kernelObjects, 'kernelObjects', true);
  }

  /** Where the server listens (known once started or given). */
  get address(): Address | undefined {
    return this.#address;
  }

  /** The server process's pid (a started manager only). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts the server process; resolves once it listens. */
  async start(): Promise<void> {
    if (this.#state !== 'initial') throw new ValueError(`cannot start a manager that is ${this.#state}`, 'ERR_MP_MANAGER_STATE');
    const types = [...BaseManager.#registry(this.constructor)].map(([, r]) => ({
      ...r, factory: r.factory ? functionReference(r.factory, `the factory of '${r.typeid}'`) : null,
    }));
    const server: Omit<ServerOptions, 'types'> & { types: unknown[] } = {
      authkey: this.#authkey, address: this.#address ?? null, types,
      maxFrameBytes: this.#maxFrameBytes, handshakeTimeoutMs: this.#handshakeTimeout, kernelObjects: this.#kernelObjects,
    };
    const name = `${this.constructor.name}-${++managerCounter}`;
    const spawned = spawnWithInheritance(SERVER_SCRIPT, [], { kind: 'manager-server', server, daemon: true },
      name, [...currentProcess().identity, 0]);
    if (spawned instanceof SpawnFailed) throw await spawned.error(); // still 'initial': it can be started again
    const { child, channel } = spawned;
    this.#child = child;
    this.#channel = channel;
    this.#state = 'started';
    this.#exited = new Promise((resolve) => child.once('exit', () => {
      this.#removeDir();
      resolve();
    }));
    type StartReply = { address?: Address; dir?: string | null; error?: ErrorInfo };
    const reply = await Promise.race<StartReply>([
      new Promise<StartReply>((resolve) =>
        channel.once('frame', (frame: Buffer) => resolve(deserialize(frame) as StartReply))),
      this.#exited.then(() => ({ error: { name: 'ManagerError', code: 'ERR_MP_MANAGER_CONNECTION',
        message: `the manager server exited with code ${child.exitCode} before it listened`, stack: '' } })),
    ]);
    // From now on the server must not keep this process alive: if it exits without shutdown(), the server follows.
    child.unref();
    channel.socket.unref();
    if (reply.error) {
      this.#state = 'shutdown';
      throw decodeError(reply.error);
    }
    this.#address = reply.address!;
    this.#dir = reply.dir ?? null;
    this.#useSettings();
  }

  /** Connects to a server started elsewhere (another process or machine); checks the authkey now. */
  async connect(): Promise<void> {
    if (this.#state !== 'initial') throw new ValueError(`cannot connect a manager that is ${this.#state}`, 'ERR_MP_MANAGER_STATE');
    if (this.#address === undefined) throw new InvalidArgumentError('connect() needs the address of the server');
    await ManagerConnection.to(this.#address, this.#settings()).ready;
    this.#state = 'connected';
    this.#useSettings();
  }

  #settings(): ConnectionSettings {
    return { authkey: this.#authkey, maxFrameBytes: this.#maxFrameBytes, handshakeTimeoutMs: this.#handshakeTimeout };
  }

  /** Proxies of this server rebuilt in this process connect with this manager's authkey and limits. */
  #useSettings(): void {
    settingsByAddress.set(addressKey(this.#address!), this.#settings());
  }

  #connection(): ManagerConnection {
    if (this.#state !== 'started' && this.#state !== 'connected') {
      throw new ValueError(`the manager is ${this.#state === 'initial' ? 'not started' : 'shut down'}`, 'ERR_MP_MANAGER_STATE');
    }
    return ManagerConnection.to(this.#address!, this.#settings());
  }

  /** Creates an object of a registered typeid in the server and returns a proxy for it. */
  async create<P extends BaseProxy = AutoProxy>(typeid: string, ...args: unknown[]): Promise<P> {
    if (typeof typeid !== 'string') throw new InvalidArgumentError(`typeid must be a string, got ${describe(typeid)}`);
    const connection = this.#connection();
    const token = await connection.request(Op.Create, [typeid, args], undefined, `${typeid}() arguments`) as Token;
    return makeProxy(token, connection, false) as P;
  }

  /** Object count, connection count and memory of the server (Python's _debug_info / _number_of_objects). */
  async debugInfo(): Promise<ServerInfo> {
    return await this.#connection().request(Op.Info, []) as ServerInfo;
  }

  /**
   * Stops the server (a started manager) or closes this process's connection (a connected one). Proxies then
   * reject with ManagerError ERR_MP_MANAGER_CONNECTION.
   */
  async shutdown(): Promise<void> {
    if (this.#state === 'connected') {
      ManagerConnection.close(this.#address!, this.#settings());
      this.#state = 'shutdown';
      return;
    }
    if (this.#state !== 'started') return;
    this.#state = 'shutdown';
    this.#channel!.send(v8.serialize({ shutdown: true }));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#exited, new Promise((resolve) => { timer = setTimeout(resolve, SHUTDOWN_GRACE_MS); })]);
    clearTimeout(timer);
    if (this.#child!.exitCode === null && this.#child!.signalCode === null) {
      this.#child!.kill('SIGKILL');
      await this.#exited;
    }
    ManagerConnection.close(this.#address!, this.#settings());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  /** The server removes its directory itself; this covers a server that was killed. */
  #removeDir(): void {
    if (this.#dir) fs.rmSync(this.#dir, { recursive: true, force: true });
  }
}

/**
 * The manager with the standard types (Python's SyncManager, what multiprocessing.Manager() starts). Every
 * factory returns a Promise of a proxy.
 */
export class SyncManager extends BaseManager {
  Lock(): Promise<LockProxy> {
    return this.create('Lock');
  }

  RLock(): Promise<RLockProxy> {
    return this.create('RLock');
  }

  Semaphore(value = 1): Promise<SemaphoreProxy> {
    return this.create('Semaphore', value);
  }

  BoundedSemaphore(value = 1): Promise<BoundedSemaphoreProxy> {
    return this.create('BoundedSemaphore', value);
  }

  /** With a Lock or RLock proxy of this manager, or a fresh RLock. */
  Condition(lock?: LockProxy): Promise<ConditionProxy> {
    return this.create('Condition', ...(lock === undefined ? [] : [lock]));
  }

  Event(): Promise<EventProxy> {
    return this.create('Event');
  }

  /** No action: it would have to run inside the server. */
  Barrier(parties: number, timeout?: number): Promise<BarrierProxy> {
    return this.create('Barrier', parties, null, timeout);
  }

  Queue<T = unknown>(maxsize = 0): Promise<QueueProxy<T>> {
    return this.create('Queue', maxsize);
  }

  JoinableQueue<T = unknown>(maxsize = 0): Promise<JoinableQueueProxy<T>> {
    return this.create('JoinableQueue', maxsize);
  }

  /** From a Map, pairs, or a plain object. */
  dict<K = unknown, V = unknown>(init?: Map<K, V> | [K, V][] | Record<string, V>): Promise<DictProxy<K, V>> {
    return this.create('dict', ...(init === undefined ? [] : [init]));
  }

  list<T = unknown>(init?: T[]): Promise<ListProxy<T>> {
    return this.create('list', ...(init === undefined ? [] : [init]));
  }

  /** typecode: one of b B h H i I l L q Q f d (kept for Python compatibility; the value is stored as given). */
  Value<T = unknown>(typecode: string, value: T): Promise<ValueProxy<T>> {
    return this.create('Value', typecode, value);
  }

  /** A fixed-length typed array from a length or a sequence. */
  Array<T extends number | bigint = number>(typecode: string, sequenceOrLength: ArrayLike<T> | number): Promise<ArrayProxy<T>> {
    return this.create('Array', typecode, typeof sequenceOrLength === 'number' ? sequenceOrLength : Array.from(sequenceOrLength));
  }

  Namespace(init?: Record<string, unknown>): Promise<NamespaceProxy> {
    return this.create('Namespace', ...(init === undefined ? [] : [init]));
  }
}

/** `new Manager()`: a SyncManager (Python's multiprocessing.Manager()). */
export const Manager = SyncManager;
export type Manager = SyncManager;
