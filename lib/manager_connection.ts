/**
 * The client side of a Manager connection (CPython's managers.py keeps one connection per thread; we keep one per
 * process and server): requests carry ids, replies may come back in any order. Opened lazily by the first proxy
 * that needs it and authenticated with the process's authkey (or the settings its manager was given).
 */
import * as net from 'node:net';
import * as v8 from 'node:v8';
import { DescriptorChannel, FrameChannel, rawDescriptors, SocketChannel, takeDescriptor } from './manager_channel';
import { SpinPolicy } from './spin';
import { deserialize } from './deserialize';
import { AbortError, decodeError, ErrorInfo, ManagerError } from './errors';
import {
  Address, addressKey, authenticateServer, Inbox, DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_MAX_FRAME_BYTES,
  HANDSHAKE_MAX_FRAME_BYTES, mayHoldProxy, Op,
} from './manager_protocol';
import { decodeCompact, encodeCompact, isCompact } from './manager_codec';
import { currentProcess } from './process';
import { MARK, preloadRebuilders, reduceValue, rebuildValue } from './reduction';
import { timeoutSignal, whenAborted } from './timeouts';
import type { Root } from './travel';

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  /** Whether the process stays alive for the reply (request's holdsLoop). */
  holdsLoop: boolean;
}

export interface ConnectionSettings {
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
/**
 * How long a client that sent requests reads for their replies on its own thread before it leaves the wait to the
 * event loop (50 µs): a server that answers within that spares it a wake-up (manager_channel.ts).
 */
const REPLY_SPIN_MS = 0.05;

/** How this process connects to the manager at `address`: as its manager said, else with its own authkey. */
export function settingsFor(address: Address): ConnectionSettings {
  return settingsByAddress.get(addressKey(address)) ?? {
    authkey: currentProcess().authkey, maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, handshakeTimeoutMs: DEFAULT_HANDSHAKE_TIMEOUT_MS,
  };
}

/** Proxies of the server at `address` rebuilt in this process connect with these settings (its manager's). */
export function useSettings(address: Address, settings: ConnectionSettings): void {
  settingsByAddress.set(addressKey(address), settings);
}

/** The authkey a proxy brought along (to a child being spawned), unless this process already knows the server. */
export function knowAuthkey(address: Address, authkey: Buffer): void {
  const key = addressKey(address);
  if (!settingsByAddress.has(key)) {
    settingsByAddress.set(key, { authkey, maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, handshakeTimeoutMs: DEFAULT_HANDSHAKE_TIMEOUT_MS });
  }
}

/** The connection whose reply is being rebuilt, if any: proxies in it arrive with a reference already held for us. */
export function replyBeingRebuilt(): ManagerConnection | null {
  return rebuildingReplyOf;
}

interface Closable {
  close(): void;
}

/** One authenticated, multiplexed connection from this process to one manager server. @internal */
export class ManagerConnection {
  readonly address: Address;
  readonly #settings: ConnectionSettings;
  readonly #pending = new Map<number, Pending>();
  /** Pending requests that keep the process alive. */
  #holding = 0;
  readonly ready: Promise<FrameChannel>;
  #conn: FrameChannel | undefined;
  readonly #spin = new SpinPolicy(REPLY_SPIN_MS);
  #nextRequestId = 1;
  #closed: ManagerError | null = null;
  readonly #closing = new AbortController();
  /** Kernel objects proxies opened through this connection (manager_kernel.ts), weakly: they close with it. */
  readonly #opened = new Set<WeakRef<Closable>>();
  static readonly #collected = new FinalizationRegistry<[Set<WeakRef<Closable>>, WeakRef<Closable>]>(
    ([opened, ref]) => opened.delete(ref));

  /** Test hook: the channel once open. @internal */
  get _channel(): FrameChannel | undefined {
    return this.#conn;
  }

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
  async #open(): Promise<FrameChannel> {
    const where = addressKey(this.address);
    const socket = Array.isArray(this.address) ? net.connect({ host: this.address[0], port: this.address[1] })
      : net.connect(this.address);
    socket.setNoDelay(true);
    let conn: FrameChannel | undefined;
    let failure: ManagerError | undefined;
    const fail = (message: string) => {
      failure ??= new ManagerError('ERR_MP_MANAGER_CONNECTION', message);
      if (conn) conn.close();
      else socket.destroy();
    };
    const timeout = this.#settings.handshakeTimeoutMs;
    const { signal: deadline, clear: clearDeadline } = timeoutSignal(timeout);
    const onDeadline = () => fail(`the manager at ${where} did not complete the handshake within ${timeout} ms`);
    const onOversize = (bytes: number) => fail(`the peer at ${where} sent a frame of ${bytes} bytes before authenticating`);
    deadline.addEventListener('abort', onDeadline, { once: true });
    let inbox: Inbox;
    try {
      conn = await new Promise<FrameChannel>((resolve, reject) => {
        socket.once('connect', () => {
          try {
            resolve(rawDescriptors
              ? new DescriptorChannel(takeDescriptor(socket), { maxFrameBytes: HANDSHAKE_MAX_FRAME_BYTES })
              : new SocketChannel(socket, { maxFrameBytes: HANDSHAKE_MAX_FRAME_BYTES }));
          } catch (err) {
            socket.destroy();
            reject(err);
          }
        });
        socket.once('error', (err) => reject(new ManagerError('ERR_MP_MANAGER_CONNECTION',
          `cannot connect to the manager at ${where}: ${err.message}`)));
        socket.once('close', () => reject(new ManagerError('ERR_MP_MANAGER_CONNECTION', `the connection to ${where} closed`)));
      });
      conn.once('close', () => this.#onClose());
      conn.once('oversize', onOversize);
      inbox = await authenticateServer(conn, this.#settings.authkey, deadline);
      // A server on this machine (a Unix socket) offers a shared-memory ring next (manager_channel.ts).
      if (conn instanceof DescriptorChannel && typeof this.address === 'string' && !conn.acceptRing(await inbox.next(deadline))) {
        fail(`the manager at ${where} answered the handshake with a frame that is not a ring offer`);
        throw failure;
      }
    } catch (err) {
      conn?.close();
      throw failure ?? err;
    } finally {
      clearDeadline();
      deadline.removeEventListener('abort', onDeadline);
      conn?.off('oversize', onOversize);
    }
    conn.maxFrameBytes = this.#settings.maxFrameBytes;
    // Requests just written: their replies may be read here sooner than the event loop would wake for them.
    if (conn instanceof DescriptorChannel) conn.spinAfterFlush(this.#spin, () => this.#pending.size > 0);
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
    this.#holding = 0;
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
   * `args` (the caller's arguments) in errors. `holdsLoop: false` for bookkeeping nobody awaits on the user's behalf:
   * the process may exit before its reply.
   */
  request(op: Op, args: unknown[], signal?: AbortSignal, what = 'arguments', holdsLoop = true): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (signal?.aborted) return Promise.reject(new AbortError(undefined, { cause: signal.reason }));
    const id = this.#nextRequestId++;
    const message = [op, id, ...args];
    const frame = this.#encode(message, (i) => (i === message.length - 1 ? what : `[${i}]`));
    const call = new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, holdsLoop });
      if (holdsLoop) this.#holding++;
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
    this.#conn!.send(frame, onWritten);
  }

  #encode(message: unknown[], root: Root = ''): Buffer {
    const data = encodeCompact(message) ?? v8.serialize(reduceValue(message, root));
    if (data.length > this.#settings.maxFrameBytes) {
      throw new ManagerError('ERR_MP_MANAGER_FRAME_TOO_LARGE',
        `a message of ${data.length} bytes exceeds the manager's maxFrameBytes (${this.#settings.maxFrameBytes})`);
    }
    return data;
  }

  #send(frame: Buffer): void {
    if (this.#conn) {
      this.#conn.sendBatched(frame);
      return;
    }
    this.ready.then((conn) => conn.sendBatched(frame), (err: Error) => this.#failAll(err));
  }

  #failAll(err: Error): void {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    this.#holding = 0;
  }

  #onReply(frame: Buffer): void {
    let message: [number, boolean, unknown];
    const compact = isCompact(frame);
    try {
      message = (compact ? decodeCompact(frame) : deserialize(frame)) as [number, boolean, unknown];
    } catch {
      return this.#conn!.close();
    }
    const [id, ok, value] = message;
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    if (pending.holdsLoop) this.#holding--;
    this.#updateRef();
    if (!ok) return pending.reject(decodeError(value as ErrorInfo));
    if (compact || frame.indexOf(MARK_BYTES) < 0) return pending.resolve(value);
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

  /** Keeps the process alive while it waits for a reply that holds it, and only then. */
  #updateRef(): void {
    this.#conn?.keepAlive(this.#holding > 0);
  }

  close(): void {
    this.#conn?.close();
  }
}
