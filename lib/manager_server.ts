/**
 * The Manager server (CPython's managers.Server), run as a child process: `node manager_server.js` with its payload
 * on descriptor 3, like every child of ours, so it exits when its parent dies and removes its socket directory.
 *
 * Reference counting: each connection counts the references its process holds to each object; a reference that
 * travels (a reduced proxy) is "lent" by the sender until the receiver "adopts" it; proxies stored inside server
 * objects are held by the server itself until garbage-collected. An object is dropped when none of these remain.
 * A closed connection drops all of its references, aborts its pending calls and releases the locks it held.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { isPromise } from 'node:util/types';
import * as v8 from 'node:v8';
import type { ChildPayload } from './child';
import { FramedSocket } from './framing';
import { deserialize } from './deserialize';
import { errorInfo, ManagerError } from './errors';
import { timeoutSignal } from './timeouts';
import {
  KernelBoundedSemaphoreObject, kernelDescriptorOf, KernelJoinableQueueObject, KernelLockObject, KernelQueue,
  KernelQueueObject, KernelRLockObject, KernelSemaphoreObject, setFifoDirectory,
} from './manager_kernel';
import { BUILTIN_TYPES, LOCK_METHODS, publicMethods, QUEUE_METHODS, SEMAPHORE_METHODS, ServerType } from './server_types';
import { Caller, Session, takesCaller } from './server_waiters';
import {
  Address, authenticateClient, HANDSHAKE_MAX_FRAME_BYTES, mayHoldProxy, Op, privateSocketName, ServerInfo, Token,
} from './manager_protocol';
import { PROXY_REBUILDER } from './rebuilder_ids';
import { decodeCompact, encodeCompact, isCompact } from './manager_codec';
import { DescriptorChannel, FrameChannel, rawDescriptors, SocketChannel, takeDescriptor } from './manager_channel';
import { SpinPolicy } from './spin';
import { native } from './native';
import { isWholeFrame } from './pipe';
import { isMarker, makeMarker, MARK, Marker, reduceValue } from './reduction';

/** A user type as registered with BaseManager.register, as the server receives it. */
export interface RegisteredType {
  typeid: string;
  factory: ((...args: unknown[]) => unknown) | null;
  exposed: string[] | null;
  methodToTypeid: Record<string, string> | null;
}

export interface ServerOptions {
  authkey: Buffer;
  /** null: a private Unix socket (Windows: a named pipe). */
  address: Address | null;
  types: RegisteredType[];
  maxFrameBytes: number;
  handshakeTimeoutMs: number;
  /** Locks, semaphores and queues in the kernel, where clients share this host and can read semaphore values. */
  kernelObjects: boolean;
}

/** The kernel variants of the built-in lock and queue types (manager_kernel.ts). */
const KERNEL_TYPES: Record<string, ServerType> = {
  Lock: { create: KernelLockObject, exposed: LOCK_METHODS },
  RLock: { create: KernelRLockObject, exposed: LOCK_METHODS },
  Semaphore: { create: KernelSemaphoreObject, exposed: SEMAPHORE_METHODS },
  BoundedSemaphore: { create: KernelBoundedSemaphoreObject, exposed: SEMAPHORE_METHODS },
  Queue: { create: KernelQueueObject, exposed: [...QUEUE_METHODS, 'awaitWritten'] },
  JoinableQueue: { create: KernelJoinableQueueObject, exposed: [...QUEUE_METHODS, 'awaitWritten', 'taskDone', 'join'] },
};

/**
 * How long the server, having answered a client, reads for that client's next request on its own thread before it
 * leaves the wait to the event loop (50 µs; only while such spins catch requests: manager_channel.ts).
 */
const REQUEST_SPIN_MS = 0.05;

interface Entry {
  obj: object;
  typeid: string;
  exposed: Set<string>;
  methodToTypeid: Record<string, string>;
  /** References held by connections and by proxies stored in server objects. */
  refs: number;
  /** References in flight: lent by a sender, not yet adopted by the receiver (may dip below 0 while racing). */
  lent: number;
  /**
   * A registered user type: what its methods return goes through the reduce pass, which refuses what cannot travel
   * (the built-in types return only what clients sent, which their own reduce pass checked).
   */
  userType: boolean;
}

interface ServerTypeInfo extends Partial<ServerType> {
  factory?: (...args: unknown[]) => unknown;
  methodToTypeid: Record<string, string>;
}

/**
 * Calls `visit` on every object reachable from `value`; a non-undefined return replaces that object and is not
 * walked into.
 */
function visitObjects(value: unknown, visit: (obj: object) => object | undefined, seen = new Set<object>()): unknown {
  if (value === null || typeof value !== 'object' || seen.has(value)) return value;
  const replaced = visit(value);
  if (replaced !== undefined) return replaced;
  seen.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = visitObjects(value[i], visit, seen);
    if (isMarker(value)) visitObjects(value[MARK], visit, seen); // the arguments of a reduced object of a client's
  } else if (value instanceof Map) {
    for (const [k, v] of [...value]) value.set(k, visitObjects(v, visit, seen));
  } else if (value instanceof Set) {
    for (const v of [...value]) {
      const r = visitObjects(v, visit, seen);
      if (r !== v) { value.delete(v); value.add(r); }
    }
  } else if (!ArrayBuffer.isView(value)) {
    const rec = value as Record<string, unknown>;
    for (const key of Object.keys(rec)) rec[key] = visitObjects(rec[key], visit, seen);
  }
  return value;
}

/** A proxy marker (an array, reduction.ts), as a client sends it. */
function isProxyMarker(obj: object): obj is Marker {
  if (!isMarker(obj)) return false;
  const mark = obj[MARK];
  return Array.isArray(mark) && mark[0] === PROXY_REBUILDER && Array.isArray(mark[1]);
}

/** A call in progress. Its AbortSignal is made only if the method waits: most calls never look at it. */
class PendingCall implements Caller {
  #controller: AbortController | undefined;
  #aborted = false;

  constructor(readonly session: Session) {}

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort();
    }
    return this.#controller.signal;
  }

  abort(): void {
    this.#aborted = true;
    this.#controller?.abort();
  }
}

class Client {
  readonly session: Session;
  /** object id → references this connection's process holds */
  readonly refs = new Map<number, number>();
  /** request id → the call, aborted on client cancel or disconnect */
  readonly pending = new Map<number, PendingCall>();

  constructor(readonly conn: FrameChannel, id: number) {
    this.session = { id, holding: new Set(), closed: false };
  }
}

export class ManagerServer {
  readonly #options: ServerOptions;
  readonly #types = new Map<string, ServerTypeInfo>();
  readonly #objects = new Map<number, Entry>();
  readonly #clients = new Set<Client>();
  /**
   * Proxy markers kept inside server objects, each holding a reference to its object while it is reachable. They
   * serialize exactly as the markers they were.
   */
  readonly #heldIds = new WeakMap<Marker, number>();
  readonly #held = new FinalizationRegistry<number>((id) => this.#decref(id));
  #nextSessionId = 1;
  #server: net.Server | undefined;
  #address: Address | undefined;

  constructor(options: ServerOptions) {
    this.#options = options;
    // Clients on a Unix socket are on this host: they can open the server's semaphores by name.
    const kernel = options.kernelObjects && native.platform === 'posix' && native.features.semGetValue &&
      !Array.isArray(options.address);
    const builtins = kernel ? { ...BUILTIN_TYPES, ...KERNEL_TYPES } : BUILTIN_TYPES;
    for (const [typeid, type] of Object.entries(builtins)) this.#types.set(typeid, { ...type, methodToTypeid: {} });
    for (const t of options.types) {
      if (t.factory === null) continue; // declared for clients only (Python: register(typeid) without a callable)
      this.#types.set(t.typeid, { factory: t.factory, exposed: t.exposed ?? undefined, methodToTypeid: t.methodToTypeid ?? {} });
    }
  }

  /** Starts listening; resolves with the address clients use. */
  listen(dir: string | null): Promise<Address> {
    const server = net.createServer((socket) => this.#accept(socket));
    this.#server = server;
    server.on('error', (err) => process.stderr.write(`manager server: ${err.stack}\n`));
    const address = this.#options.address;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      const onListening = () => {
        server.off('error', reject);
        const bound = server.address();
        this.#address = Array.isArray(address) && bound && typeof bound === 'object' ? [address[0], bound.port] : address ?? (bound as string);
        resolve(this.#address!);
      };
      if (Array.isArray(address)) server.listen({ host: address[0], port: address[1] }, onListening);
      else server.listen(address ?? privateSocketName(dir), onListening);
    });
  }

  close(): void {
    this.#server?.close();
    for (const client of this.#clients) client.conn.close();
  }

  #accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    let conn: FrameChannel;
    try {
      conn = rawDescriptors ? new DescriptorChannel(takeDescriptor(socket), { maxFrameBytes: HANDSHAKE_MAX_FRAME_BYTES })
        : new SocketChannel(socket, { maxFrameBytes: HANDSHAKE_MAX_FRAME_BYTES });
    } catch {
      socket.destroy(); // out of descriptors, say: that connection only
      return;
    }
    const client = new Client(conn, this.#nextSessionId++);
    // Replies just written: a busy client's next request may be read here sooner than the event loop would wake.
    if (conn instanceof DescriptorChannel) conn.spinAfterFlush(new SpinPolicy(REQUEST_SPIN_MS), () => true);
    conn.once('close', () => this.#disconnect(client));
    const deadline = timeoutSignal(this.#options.handshakeTimeoutMs);
    authenticateClient(conn, this.#options.authkey, deadline.signal).then((inbox) => {
      // A peer may send its last handshake frame and hang up in one go: the handshake then ends after the close.
      if (client.session.closed) return;
      conn.maxFrameBytes = this.#options.maxFrameBytes;
      // A client on this machine (a Unix socket) is offered a shared-memory ring (manager_channel.ts).
      if (conn instanceof DescriptorChannel && typeof this.#address === 'string') conn.offerRing();
      this.#clients.add(client);
      inbox.deliverTo((frame) => this.#receive(client, frame));
    }, () => conn.close()).finally(deadline.clear); // wrong key, garbage, or too slow: that connection only
  }

  #disconnect(client: Client): void {
    if (client.session.closed) return;
    client.session.closed = true;
    this.#clients.delete(client);
    for (const call of client.pending.values()) call.abort();
    for (const lock of [...client.session.holding]) lock.abandon(client.session);
    for (const [id, count] of client.refs) this.#decref(id, count);
    client.refs.clear();
  }

  /** One request. A frame that is not a well-formed request closes its connection: nothing else is affected. */
  #receive(client: Client, frame: Buffer): void {
    let msg: unknown;
    const compact = isCompact(frame);
    try {
      msg = compact ? decodeCompact(frame) : deserialize(frame);
    } catch {
      return client.conn.close();
    }
    if (!Array.isArray(msg) || msg.length < 2 || !Number.isSafeInteger(msg[0]) || !Number.isSafeInteger(msg[1])) {
      return client.conn.close();
    }
    if (!compact && mayHoldProxy(frame)) msg = visitObjects(msg, (obj) => this.#holdMarker(obj));
    const m = msg as unknown[];
    switch (m[0]) {
      case Op.Create:
        if (m.length !== 4 || typeof m[2] !== 'string' || !Array.isArray(m[3])) return client.conn.close();
        return void this.#answer(client, m[1] as number, () => this.#create(client, m[2] as string, m[3] as unknown[]));
      case Op.Call:
        if (m.length !== 5 || !Number.isSafeInteger(m[2]) || typeof m[3] !== 'string' || !Array.isArray(m[4])) {
          return client.conn.close();
        }
        return void this.#answer(client, m[1] as number, (caller) => this.#call(caller, m[2] as number, m[3] as string, m[4] as unknown[]));
      case Op.Cancel:
        return client.pending.get(m[1] as number)?.abort();
      case Op.Decref:
        return this.#release(client, m[1] as number);
      case Op.Lend:
        return this.#lend(m[1] as number, 1);
      case Op.Adopt:
        this.#addRef(client, m[1] as number); // first: taking the lent reference must not drop the object
        return this.#lend(m[1] as number, -1);
      case Op.Info:
        return void this.#answer(client, m[1] as number, () => this.info());
      case Op.PutFrame: {
        if (m.length !== 3 || !(m[2] instanceof Uint8Array) || !isWholeFrame(m[2])) return client.conn.close();
        const obj = this.#objects.get(m[1] as number)?.obj;
        if (obj instanceof KernelQueue) obj.enqueue(client.session, m[2]);
        return;
      }
      case Op.Held:
      case Op.Released: {
        const obj = this.#objects.get(m[1] as number)?.obj;
        if (obj instanceof KernelLockObject || obj instanceof KernelRLockObject) obj.note(client.session, m[0] === Op.Held ? 1 : -1);
        return;
      }
      default:
        return client.conn.close();
    }
  }

  info(): ServerInfo {
    const mem = process.memoryUsage();
    return { objects: this.#objects.size, connections: this.#clients.size, rss: mem.rss, heapUsed: mem.heapUsed };
  }

  /**
   * Runs a request and sends its reply; calls of one connection run concurrently, replies go out as they finish. A
   * call that returns at once (most do: d.get, ev.set) is answered in the same turn, without a promise hop.
   */
  #answer(client: Client, requestId: number, run: (caller: Caller) => unknown): void {
    const call = new PendingCall(client.session);
    let value: unknown;
    try {
      value = run(call);
    } catch (err) {
      return this.#reply(client, v8.serialize([requestId, false, errorInfo(err)]));
    }
    if (!isPromise(value)) return this.#reply(client, this.#replyTo(client, requestId, value));
    client.pending.set(requestId, call);
    value.then((result) => this.#replyTo(client, requestId, result), (err) => v8.serialize([requestId, false, errorInfo(err)]))
      .then((reply) => {
        client.pending.delete(requestId);
        this.#reply(client, reply);
      });
  }

  /** The reply carrying `value`, or the error saying why it cannot travel. */
  #replyTo(client: Client, requestId: number, value: unknown): Buffer {
    try {
      return this.#serializeReply(client, requestId, value);
    } catch (err) {
      return v8.serialize([requestId, false, errorInfo(err)]);
    }
  }

  #reply(client: Client, reply: Buffer): void {
    if (!client.session.closed) client.conn.sendBatched(reply);
  }

  #serializeReply(client: Client, requestId: number, value: unknown): Buffer {
    const message = [requestId, true, value];
    const compact = encodeCompact(message);
    const reply = compact ?? v8.serialize(message);
    if (reply.length > this.#options.maxFrameBytes) {
      throw new ManagerError('ERR_MP_MANAGER_FRAME_TOO_LARGE',
        `the result is ${reply.length} bytes, more than the manager's maxFrameBytes (${this.#options.maxFrameBytes})`);
    }
    // Every proxy in a reply arrives with a reference already held for the receiving connection.
    if (!compact && mayHoldProxy(reply)) {
      visitObjects(value, (obj) => {
        const id = isMarker(obj) ? this.#heldIds.get(obj) : undefined;
        if (id === undefined) return undefined;
        this.#addRef(client, id);
        return obj;
      });
    }
    return reply;
  }

  async #create(client: Client, typeid: string, args: unknown[]): Promise<Token> {
    const type = this.#types.get(typeid);
    if (!type) throw new ManagerError('ERR_MP_MANAGER_UNKNOWN_TYPEID', `unknown typeid '${typeid}'`);
    // A proxy of ours passed to a factory stands for its object (e.g. the Lock given to Condition()).
    const resolved = args.map((a) => {
      const id = isMarker(a) ? this.#heldIds.get(a) : undefined;
      return id === undefined ? a : this.#objects.get(id)?.obj ?? a;
    });
    // An async factory's Promise is awaited; the object itself is stored as it is, even if it has a then().
    const made = type.create ? new type.create(...(resolved as never[])) : type.factory!(...resolved);
    const obj = isPromise(made) ? await made : made;
    if (obj === null || (typeof obj !== 'object' && typeof obj !== 'function')) {
      throw new ManagerError('ERR_MP_MANAGER_UNKNOWN_TYPEID', `the factory of '${typeid}' returned ${String(obj)}, not an object`);
    }
    return this.#register(client, typeid, obj as object, type);
  }

  #register(client: Client, typeid: string, obj: object, type: ServerTypeInfo): Token {
    const id = this.#newObjectId();
    const exposed = type.exposed ?? publicMethods(obj);
    const entry = {
      obj, typeid, exposed: new Set(exposed), methodToTypeid: type.methodToTypeid, refs: 0, lent: 0, userType: !type.create,
    };
    this.#objects.set(id, entry);
    this.#addRef(client, id);
    return this.#tokenOf(id, entry);
  }

  /**
   * A fresh object id of 53 random bits: no client finds an object by counting, so what reaches an object is a
   * token for it (and a token outliving its server never reaches another object at the same address).
   */
  #newObjectId(): number {
    for (;;) {
      const id = Number(randomBytes(8).readBigUInt64BE() >> 11n);
      if (id !== 0 && !this.#objects.has(id)) return id;
    }
  }

  #tokenOf(id: number, entry: Entry): Token {
    const token: Token = { typeid: entry.typeid, id, address: this.#address!, exposed: [...entry.exposed] };
    const kernel = kernelDescriptorOf(entry.obj);
    if (kernel) token.kernel = kernel;
    return token;
  }

  /** The method's result: at once when it returns a plain value, else a promise of it. */
  #call(caller: Caller, id: number, method: string, args: unknown[]): unknown {
    const entry = this.#objects.get(id);
    if (!entry) throw new ManagerError('ERR_MP_MANAGER_UNKNOWN_OBJECT', `no object with id ${id} (released, or never created)`);
    if (!entry.exposed.has(method)) {
      throw new ManagerError('ERR_MP_MANAGER_UNKNOWN_METHOD', `method '${method}' of ${entry.typeid} object is not exposed`);
    }
    const fn = (entry.obj as Record<string, unknown>)[method];
    if (typeof fn !== 'function') throw new ManagerError('ERR_MP_MANAGER_UNKNOWN_METHOD', `${entry.typeid}.${method} is not a method`);
    const returned = takesCaller(entry.obj) ? fn.call(entry.obj, caller, ...args) : fn.apply(entry.obj, args);
    // An async method's result is awaited, not any thenable.
    return isPromise(returned) ? returned.then((result) => this.#wrapResult(caller, entry, method, result))
      : this.#wrapResult(caller, entry, method, returned);
  }

  /** What a method returned, as it travels: reduced (a user type's), or a proxy for a method that makes objects. */
  #wrapResult(caller: Caller, entry: Entry, method: string, result: unknown): unknown {
    const typeid = entry.methodToTypeid[method];
    if (typeid === undefined) return entry.userType ? reduceValue(result, `${entry.typeid}.${method}() result`, true) : result;
    const client = [...this.#clients].find((c) => c.session === caller.session);
    if (!client) throw new ManagerError('ERR_MP_MANAGER_CONNECTION', 'the caller disconnected');
    const token = this.#register(client, typeid, result as object, this.#types.get(typeid) ?? { methodToTypeid: {} });
    return makeMarker(PROXY_REBUILDER, [token, null]);
  }

  /** A proxy marker of ours arriving inside a request is held: the lent reference is now the server's. */
  #holdMarker(obj: object): object | undefined {
    if (!isProxyMarker(obj)) return undefined;
    if (this.#heldIds.has(obj)) return obj;
    const token = obj[MARK][1][0] as Token;
    if (!token || typeof token !== 'object' || !Number.isSafeInteger(token.id)) return undefined;
    const entry = this.#objects.get(token.id);
    if (!entry || JSON.stringify(token.address) !== JSON.stringify(this.#address)) return undefined;
    const held = makeMarker(PROXY_REBUILDER, [this.#tokenOf(token.id, entry), null]);
    this.#heldIds.set(held, token.id);
    entry.refs++;
    entry.lent--;
    this.#held.register(held, token.id);
    return held;
  }

  #addRef(client: Client, id: number): void {
    const entry = this.#objects.get(id);
    if (!entry || client.session.closed) return;
    entry.refs++;
    client.refs.set(id, (client.refs.get(id) ?? 0) + 1);
  }

  #release(client: Client, id: number): void {
    const count = client.refs.get(id);
    if (!count) return; // not ours to drop
    if (count === 1) client.refs.delete(id);
    else client.refs.set(id, count - 1);
    this.#decref(id);
  }

  #lend(id: number, delta: number): void {
    const entry = this.#objects.get(id);
    if (!entry) return;
    entry.lent += delta;
    this.#dropIfUnreferenced(id, entry);
  }

  #decref(id: number, count = 1): void {
    const entry = this.#objects.get(id);
    if (!entry) return;
    entry.refs -= count;
    this.#dropIfUnreferenced(id, entry);
  }

  #dropIfUnreferenced(id: number, entry: Entry): void {
    if (entry.refs > 0 || entry.lent > 0) return;
    this.#objects.delete(id);
    if (kernelDescriptorOf(entry.obj)) (entry.obj as Disposable)[Symbol.dispose](); // its semaphore's name goes
  }
}

/** The server child's main: listen, report the address to the parent, serve until told to stop or orphaned. */
/** The main of a manager server process (bootstrap.ts starts it for a payload of kind 'manager-server'). @internal */
export async function serve(payload: ChildPayload, channel: FramedSocket): Promise<void> {
  let dir: string | null = null;
  process.on('exit', () => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); }); // also when orphaned
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => process.exit(0));
  try {
    const options = payload.server as ServerOptions;
    // A private directory (mode 0700) holds the default socket, so only this user can even reach the handshake,
    // and the named pipes of kernel queues.
    if (process.platform !== 'win32') {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), `mp-${randomBytes(3).toString('hex')}-`));
      setFifoDirectory(dir);
    }
    const server = new ManagerServer({ ...options, authkey: Buffer.from(options.authkey) });
    channel.send(v8.serialize({ address: await server.listen(dir), dir }));
    channel.on('frame', () => {
      // The only message the parent sends is "shut down".
      server.close();
      process.exit(0);
    });
  } catch (err) {
    channel.send(v8.serialize({ error: errorInfo(err) }));
    process.exitCode = 1;
    channel.close();
  }
}
