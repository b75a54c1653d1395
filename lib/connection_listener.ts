/**
 * Listener and Client (CPython's multiprocessing.connection): Connections between processes that were not spawned
 * together, over a Unix socket, a Windows named pipe or TCP. With an authkey, both sides run the HMAC challenge of
 * connection_auth.ts (the Manager's own) before either sends a message, and an authenticated peer is trusted as a
 * child is: its library objects are rebuilt by recv(). Without one, anyone who can reach the address may connect,
 * and recv() accepts plain data only from it.
 *
 * A hostile peer cannot make either side hang or buffer much: until it has authenticated, messages longer than
 * HANDSHAKE_MAX_BYTES close the connection, and the handshake has a deadline (handshakeTimeout).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Connection } from './connection';
import {
  authenticateAsClient, authenticateAsServer, ChallengePeer, checkAuthkey, DEFAULT_HANDSHAKE_TIMEOUT_MS, HANDSHAKE_MAX_BYTES,
} from './connection_auth';
import { FdTransport, SocketTransport, Transport } from './connection_transport';
import { InvalidArgumentError, TimeoutError, ValueError } from './errors';
import { takeDescriptor } from './manager_channel';
import { Address, addressKey, DEFAULT_MAX_FRAME_BYTES, isAddress, privateSocketName } from './manager_protocol';
import { native } from './native';
import { timeoutSignal } from './timeouts';
import { checkInteger, checkOptions, checkTimeout, describe } from './validate';

export type { Address };

export interface ListenerOptions {
  /** A Unix socket path, a Windows pipe name (`\\.\pipe\…`), or [host, port] for TCP (port 0: any free one). Default: a fresh private socket. */
  address?: Address;
  /** Clients must prove they hold it (HMAC challenge); none: anyone may connect. */
  authkey?: Buffer | Uint8Array | string | null;
  /** Connections accepted by the system but not yet by accept(): more are hung up on. Default 128. */
  backlog?: number;
  /** How long a connecting client may take to authenticate; default 5000 ms. */
  handshakeTimeout?: number;
  /** The longest message a connection accepts; default 64 MiB. */
  maxMessageBytes?: number;
}

export interface ClientOptions {
  authkey?: Buffer | Uint8Array | string | null;
  /** How long connecting and authenticating may take; default 5000 ms. */
  handshakeTimeout?: number;
  maxMessageBytes?: number;
}

interface Settings {
  authkey: Buffer | null;
  handshakeTimeout: number;
  maxMessageBytes: number;
}

function checkSettings(options: Partial<ClientOptions>): Settings {
  const authkey = options.authkey === undefined || options.authkey === null ? null : checkAuthkey(options.authkey);
  return {
    authkey,
    handshakeTimeout: checkTimeout(options.handshakeTimeout, 'handshakeTimeout') ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
    maxMessageBytes: options.maxMessageBytes === undefined ? DEFAULT_MAX_FRAME_BYTES
      : checkInteger(options.maxMessageBytes, 'maxMessageBytes', HANDSHAKE_MAX_BYTES, 0xffffffff),
  };
}

/** A connected socket as a transport: its raw descriptor (POSIX), or the socket itself (Windows). */
function transportOf(socket: net.Socket): Transport {
  socket.setNoDelay?.(true);
  return native.platform === 'win32' ? new SocketTransport(socket) : new FdTransport(takeDescriptor(socket), true, true);
}

/** The handshake's messages over a Connection, each read with the handshake's bound. */
function peerOf(conn: Connection): ChallengePeer {
  return {
    send: (message) => conn.sendBytes(message).catch(() => undefined), // a failure shows in the next read
    next: (deadline) => new Promise<Buffer>((resolve, reject) => {
      const onAbort = () => conn.close(); // the pending read rejects: closed
      deadline?.addEventListener('abort', onAbort, { once: true });
      conn.recvBytes(HANDSHAKE_MAX_BYTES).then(resolve, reject).finally(() => deadline?.removeEventListener('abort', onAbort));
    }),
  };
}

/**
 * Runs `handshake` on `conn` within the settings' deadline. On any failure the connection is closed; a deadline
 * that passed is reported as such (TimeoutError).
 */
async function authenticate(conn: Connection, settings: Settings, where: string,
                            handshake: typeof authenticateAsServer): Promise<Connection> {
  if (!settings.authkey) return conn;
  const deadline = timeoutSignal(settings.handshakeTimeout);
  try {
    await handshake(peerOf(conn), settings.authkey, deadline.signal);
    return conn;
  } catch (err) {
    conn.close();
    if (deadline.signal.aborted) {
      throw new TimeoutError(`the peer at ${where} did not complete the handshake within ${settings.handshakeTimeout} ms`);
    }
    throw err;
  } finally {
    deadline.clear();
  }
}

/** Python's multiprocessing.connection.Listener: accepts Connections at an address. */
export class Listener {
  /** Resolves once the listener is bound (rejects with the system's error: EADDRINUSE, EACCES, …). */
  readonly ready: Promise<this>;
  readonly #server: net.Server;
  readonly #settings: Settings;
  readonly #backlog: number;
  readonly #requested: Address | undefined;
  #address: Address | undefined;
  /** Our private directory for the default address, removed on close. */
  #dir: string | null = null;
  readonly #arrived: Transport[] = [];
  readonly #accepting: { resolve(t: Transport): void; reject(err: Error): void }[] = [];
  #closed = false;

  constructor(options?: ListenerOptions) {
    const opts = checkOptions<ListenerOptions>(options, 'Listener options');
    if (opts.address !== undefined && !isAddress(opts.address)) {
      throw new InvalidArgumentError(`address must be a socket path, a pipe name or [host, port], got ${describe(opts.address)}`);
    }
    this.#settings = checkSettings(opts);
    this.#backlog = opts.backlog === undefined ? 128 : checkInteger(opts.backlog, 'backlog', 1);
    this.#requested = opts.address;
    let listenOn: string | net.ListenOptions;
    if (Array.isArray(opts.address)) listenOn = { host: opts.address[0], port: opts.address[1] };
    else if (opts.address !== undefined) listenOn = opts.address;
    else {
      if (native.platform !== 'win32') this.#dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mp-listener-'));
      listenOn = privateSocketName(this.#dir);
    }
    this.#server = net.createServer((socket) => this.#onConnection(socket));
    this.#server.unref(); // only a pending accept() keeps the process alive
    this.ready = new Promise<this>((resolve, reject) => {
      this.#server.once('error', (err) => {
        this.close();
        reject(err);
      });
      this.#server.listen(listenOn as net.ListenOptions, () => {
        const bound = this.#server.address();
        this.#address = Array.isArray(this.#requested) && bound && typeof bound === 'object'
          ? [this.#requested[0], bound.port] : (typeof bound === 'string' ? bound : listenOn as string);
        resolve(this);
      });
    });
    this.ready.catch(() => undefined); // reported by accept() too
  }

  /** The address clients connect to (TCP: with the port bound), once ready. */
  get address(): Address {
    if (this.#address === undefined) throw new ValueError('the listener is not bound yet: await listener.ready', 'ERR_MP_NOT_READY');
    return this.#address;
  }

  #onConnection(socket: net.Socket): void {
    if (this.#closed || this.#arrived.length >= this.#backlog) {
      socket.destroy();
      return;
    }
    let transport: Transport;
    try {
      transport = transportOf(socket); // now, before the event loop runs again (takeDescriptor)
    } catch {
      socket.destroy(); // out of descriptors, say: that connection only
      return;
    }
    const waiter = this.#accepting.shift();
    if (waiter) waiter.resolve(transport);
    else this.#arrived.push(transport);
    this.#updateRef();
  }

  /**
   * The next connection. With an authkey, it has authenticated: a client with another key makes this reject
   * with AuthenticationError (as in Python; accept again for the next one).
   */
  async accept(): Promise<Connection> {
    await this.ready;
    if (this.#closed) throw new ValueError('the listener is closed', 'ERR_MP_CLOSED');
    const transport = this.#arrived.shift() ?? await new Promise<Transport>((resolve, reject) => {
      this.#accepting.push({ resolve, reject });
      this.#updateRef();
    });
    this.#updateRef();
    const conn = new Connection(transport, { trusted: this.#settings.authkey !== null, maxMessageBytes: this.#settings.maxMessageBytes });
    return authenticate(conn, this.#settings, addressKey(this.address), authenticateAsServer);
  }

  #updateRef(): void {
    if (this.#accepting.length && !this.#closed) this.#server.ref();
    else this.#server.unref();
  }

  /** Stops listening (the socket file goes): pending accepts reject, connections already accepted stay open. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    for (const transport of this.#arrived.splice(0)) transport.close();
    for (const waiter of this.#accepting.splice(0)) waiter.reject(new ValueError('the listener is closed', 'ERR_MP_CLOSED'));
    if (this.#dir) fs.rmSync(this.#dir, { recursive: true, force: true });
    this.#dir = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Python's multiprocessing.connection.Client: a Connection to a Listener at `address`. */
export async function Client(address: Address, options?: ClientOptions): Promise<Connection> {
  if (!isAddress(address)) {
    throw new InvalidArgumentError(`address must be a socket path, a pipe name or [host, port], got ${describe(address)}`);
  }
  const settings = checkSettings(checkOptions<ClientOptions>(options, 'Client options'));
  const where = addressKey(address);
  const transport = await new Promise<Transport>((resolve, reject) => {
    const socket = Array.isArray(address) ? net.connect({ host: address[0], port: address[1] }) : net.connect(address);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TimeoutError(`cannot connect to ${where} within ${settings.handshakeTimeout} ms`));
    }, settings.handshakeTimeout);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      try {
        resolve(transportOf(socket));
      } catch (err) {
        socket.destroy();
        reject(err);
      }
    });
  });
  const conn = new Connection(transport, { trusted: settings.authkey !== null, maxMessageBytes: settings.maxMessageBytes });
  return authenticate(conn, settings, where, authenticateAsClient);
}
