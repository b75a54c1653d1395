/**
 * Managers (CPython's managers.py): a server process (manager_server.ts) holds objects; proxies
 * (manager_proxy.ts and the *_proxies.ts files) call their methods over an authenticated connection
 * (manager_connection.ts). This file is the manager itself: registering types, starting a server or connecting to
 * one, creating objects, shutting down.
 */
import type { Child } from './spawn_child';
import * as fs from 'node:fs';
import * as v8 from 'node:v8';
import { FramedSocket } from './framing';
import { deserialize } from './deserialize';
import { decodeError, ErrorInfo, InvalidArgumentError, ValueError } from './errors';
import { ConnectionSettings, ManagerConnection, useSettings } from './manager_connection';
import type { ArrayProxy, DictProxy, ListProxy, NamespaceProxy, ValueProxy } from './manager_container_proxies';
import {
  Address, DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_MAX_FRAME_BYTES, isAddress, Op, ServerInfo, Token,
} from './manager_protocol';
import type { AutoProxy, BaseProxy } from './manager_proxy';
import { makeProxy, setProxyType } from './manager_proxy_types';
import type { JoinableQueueProxy, QueueProxy } from './manager_queue_proxies';
import type { RegisteredType, ServerOptions } from './manager_server';
import type {
  BarrierProxy, BoundedSemaphoreProxy, ConditionProxy, EventProxy, LockProxy, RLockProxy, SemaphoreProxy,
} from './manager_sync_proxies';
import { BOOTSTRAP, currentProcess, SpawnFailed, spawnWithInheritance } from './process';
import { functionReference } from './reduction';
import { checkBoolean, checkInteger, checkOptions, checkTimeout, describe } from './validate';

export type { Address, ServerInfo, Token } from './manager_protocol';

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
  #child: Child | undefined;
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
    if (opts.proxyType) setProxyType(typeid, opts.proxyType as never);
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
    const spawned = spawnWithInheritance(BOOTSTRAP, [], { kind: 'manager-server', server, daemon: true },
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
    useSettings(this.#address!, this.#settings());
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

  /** No action: it would have to run inside the server, which runs no code a client names. */
  Barrier(parties: number, timeout?: number): Promise<BarrierProxy> {
    if (typeof timeout === 'function') {
      return Promise.reject(new InvalidArgumentError('a Manager Barrier takes no action (Barrier(parties, timeout)): ' +
        'the action would run in the server, which runs no code a client names; run it in the party that wait() returns 0 to'));
    }
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

  /** typecode: any string, kept as CPython's managers.Value keeps it ('c', 'u', 'i', …); the value is stored as given. */
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
