/**
 * This process's connections to one Redis server. ioredis is an optional peer dependency, loaded on first use, so
 * the rest of the package works without it. Each server gets one client for ordinary commands (pipelined by
 * ioredis) and a pool of connections for blocking commands (BLPOP and BLMOVE park the connection they run on).
 *
 * Failure policy: no command waits for a server that is down or paused. Commands are not queued while the client
 * is disconnected, nor resent after a reconnection (a resent take could hand out an item twice); they reject with
 * ManagerError ERR_MP_MANAGER_CONNECTION, after at most `commandTimeout`, while ioredis keeps reconnecting in the
 * background. The process is kept alive only while a reply is awaited: by one timer of this connection that is
 * ref'd then, while the sockets and reconnection timers stay unref'd (toggling each of them per call cost CPU).
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { AssertionError, ManagerError, MultiprocError, ValueError } from '../errors';
import { setLongTimeout } from '../timeouts';
import { RedisSettings, settingsFor, useSettings } from './credentials';
import { SCRIPTS } from './scripts';

/** What names a server in a token: never a credential (credentials.ts). */
export interface RedisAddress {
  host: string;
  port: number;
  db: number;
  tls: boolean;
}

export function addressKey(address: RedisAddress): string {
  return `${address.tls ? 'rediss' : 'redis'}://${address.host}:${address.port}/${address.db}`;
}

export function addressOf(options: Record<string, unknown>): RedisAddress {
  return {
    host: typeof options.host === 'string' ? options.host : '127.0.0.1',
    port: typeof options.port === 'number' ? options.port : 6379,
    db: typeof options.db === 'number' ? options.db : 0,
    tls: Boolean(options.tls),
  };
}

export function isRedisAddress(value: unknown): value is RedisAddress {
  const a = value as RedisAddress;
  return typeof a === 'object' && a !== null && typeof a.host === 'string' && Number.isInteger(a.port) &&
    Number.isInteger(a.db) && typeof a.tls === 'boolean';
}

// The parts of ioredis this module uses, typed here so that no declaration of ours refers to the optional package.
export interface Client {
  status: string;
  stream?: Socket;
  reconnectTimeout?: NodeJS.Timeout | null;
  options: Record<string, unknown>;
  connect(): Promise<void>;
  disconnect(): void;
  quit(): Promise<unknown>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  once(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  defineCommand(name: string, spec: { numberOfKeys: number; lua: string }): void;
  call(command: string, ...args: (string | number | Buffer)[]): Promise<unknown>;
  callBuffer(command: string, ...args: (string | number | Buffer)[]): Promise<unknown>;
  [script: string]: unknown;
}
type ClientConstructor = new (options: Record<string, unknown>) => Client;

let Redis: ClientConstructor | undefined;

/** ioredis, required on first use; a clear error when it is not installed. */
function loadClient(): ClientConstructor {
  if (Redis) return Redis;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require('ioredis') as { default?: ClientConstructor } & ClientConstructor;
    Redis = mod.default ?? mod;
  } catch (err) {
    throw new ManagerError('ERR_MP_REDIS_CLIENT_MISSING',
      'the Redis backend needs the ioredis package: npm install ioredis', { cause: err });
  }
  return Redis;
}

/** A blocking connection and the id Redis knows it by (for CLIENT UNBLOCK). */
interface Blocking {
  client: Client;
  id: number | null;
}

const connections = new Map<string, RedisConnection>();

/** How long an idle blocking connection is kept for the next wait. */
const IDLE_BLOCKING_MAX = 4;

export class RedisConnection {
  readonly address: RedisAddress;
  /** Names this process in leases and in-flight lists: random, so a restarted process is someone else. */
  readonly processId = randomBytes(8).toString('hex');
  readonly #settings: RedisSettings;
  readonly #main: Client;
  readonly #idle: Blocking[] = [];
  readonly #all = new Set<Client>();
  #pending = 0;
  /**
   * Ref'd while calls are in flight (#hold); it does nothing when it fires. Its period is the command timeout:
   * Node keeps one list of timers per duration, and this one keeps the list of ioredis's per-command timeout timers
   * from emptying after each reply, which would cost a priority-queue removal and insertion per command.
   */
  readonly #awaiting: NodeJS.Timeout;
  #closed = false;
  lastError: Error | null = null;

  /** The connection to `address` (made on first use, with the settings a manager of this process registered). */
  static to(address: RedisAddress): RedisConnection {
    const key = addressKey(address);
    let connection = connections.get(key);
    if (!connection || connection.#closed) {
      connection = new RedisConnection(address, settingsFor(key));
      connections.set(key, connection);
    }
    return connection;
  }

  /** Settings used by connections to `address` made from now on (a manager registers its own). */
  static useSettings(address: RedisAddress, settings: RedisSettings): void {
    const key = addressKey(address);
    useSettings(key, settings);
    const existing = connections.get(key);
    if (existing && existing.#settings !== settings) RedisConnection.close(address); // made with other settings
  }

  /** Closes this process's connection to `address` (proxies reconnect on their next call). */
  static close(address: RedisAddress): void {
    const key = addressKey(address);
    connections.get(key)?.close();
    connections.delete(key);
  }

  private constructor(address: RedisAddress, settings: RedisSettings) {
    this.address = address;
    this.#settings = settings;
    this.#awaiting = setInterval(() => undefined, settings.commandTimeoutMs).unref();
    this.#main = this.#newClient(true);
  }

  /** Closed connections are not used again: RedisConnection.to() makes a new one. */
  get closed(): boolean {
    return this.#closed;
  }

  get commandTimeoutMs(): number {
    return this.#settings.commandTimeoutMs;
  }

  #newClient(main: boolean): Client {
    const Client = loadClient();
    const client = new Client({
      host: this.address.host, port: this.address.port, db: this.address.db,
      ...this.#settings.options,
      lazyConnect: true,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt: number) => Math.min(attempt * 50, 1000),
      // Blocking commands run for their own timeout; their deadline is kept by block() instead.
      commandTimeout: main ? this.#settings.commandTimeoutMs : undefined,
    });
    client.on('error', (err) => { this.lastError = err as Error; });
    client.on('connect', () => client.stream?.unref());
    client.on('reconnecting', () => client.reconnectTimeout?.unref());
    if (main) for (const [name, spec] of Object.entries(SCRIPTS)) client.defineCommand(name, spec);
    this.#all.add(client);
    return client;
  }

  #hold(delta: 1 | -1): void {
    this.#pending += delta;
    if (delta === 1 && this.#pending === 1) this.#awaiting.ref();
    else if (this.#pending === 0) this.#awaiting.unref();
  }

  /** Resolves once `client` is ready; rejects after commandTimeout (the server is down) or at once if closed. */
  async #ready(client: Client): Promise<void> {
    if (this.#closed) throw new ManagerError('ERR_MP_MANAGER_STATE', 'this Redis connection was closed');
    if (client.status === 'ready') return;
    if (client.status === 'wait') client.connect().catch(() => undefined);
    let cancel = (): void => undefined;
    let onReady: () => void = () => undefined;
    let onError: (err: unknown) => void = () => undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        onReady = resolve;
        // The server answered but refuses us (a wrong password, say): no use waiting for another attempt.
        onError = (err) => { if ((err as Error)?.name === 'ReplyError') reject(this.mapError(err)); };
        client.once('ready', onReady);
        client.on('error', onError);
        cancel = setLongTimeout(() => reject(this.#unreachable()), this.#settings.commandTimeoutMs);
      });
    } finally {
      cancel();
      client.off('ready', onReady);
      client.off('error', onError);
    }
  }

  #unreachable(cause: unknown = this.lastError): ManagerError {
    const why = cause instanceof Error ? `: ${cause.message}` : '';
    return new ManagerError('ERR_MP_MANAGER_CONNECTION', `cannot reach Redis at ${addressKey(this.address)}${why}`,
      { cause });
  }

  /** Runs commands on the main client; their failures become our errors. */
  run<T>(commands: (client: Client) => Promise<T>): Promise<T> {
    this.#hold(1);
    let reply: Promise<T>;
    try {
      // A ready client (the common case) runs them at once: an await of its readiness costs microseconds a call.
      reply = this.#main.status === 'ready' && !this.#closed ? commands(this.#main)
        : this.#ready(this.#main).then(() => commands(this.#main));
    } catch (err) {
      reply = Promise.reject(err);
    }
    return reply.then((value) => {
      this.#hold(-1);
      return value;
    }, (err: unknown) => {
      this.#hold(-1);
      throw this.mapError(err);
    });
  }

  /** Runs a script of scripts.ts (with Buffer replies when `buffers`). */
  script<T = unknown>(name: keyof typeof SCRIPTS, keys: string[], args: (string | number | Buffer)[], buffers = false): Promise<T> {
    return this.run((client) => (client[buffers ? `${name}Buffer` : name] as (...a: unknown[]) => Promise<T>)
      .call(client, ...keys, ...args));
  }

  /**
   * Runs one blocking command (its own timeout `blockMs`; 0 is not allowed) on a pooled connection. A `signal`
   * unblocks it (CLIENT UNBLOCK, so a reply already on its way is still received and returned). If no reply comes
   * within blockMs + commandTimeout the server is taken for gone: the connection is dropped and the call rejects
   * with `suspect` set, since the command may have taken effect.
   */
  async block<T>(command: string, args: (string | number)[], blockMs: number, signal?: AbortSignal): Promise<T | null> {
    this.#hold(1);
    let blocking: Blocking | undefined;
    let cancel = (): void => undefined;
    let onAbort: (() => void) | undefined;
    let healthy = false;
    try {
      blocking = this.#idle.pop() ?? await this.#newBlocking();
      const b = blocking;
      const reply = b.client.callBuffer(command, ...args, blockMs / 1000) as Promise<T | null>;
      const deadline = new Promise<never>((_, reject) => {
        cancel = setLongTimeout(() => reject(Object.assign(this.#unreachable(new Error('no reply to a blocking command')),
          { suspect: true })), blockMs + this.#settings.commandTimeoutMs);
      });
      if (signal) {
        onAbort = () => void this.run((c) => c.call('CLIENT', 'UNBLOCK', b.id!)).catch(() => b.client.disconnect());
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      }
      const result = await Promise.race([reply, deadline]);
      healthy = true;
      return result;
    } catch (err) {
      const mapped = this.mapError(err);
      if (!(mapped instanceof ManagerError && mapped.code === 'ERR_MP_MANAGER_CONNECTION')) healthy = true;
      else if (blocking) (mapped as ManagerError & { suspect?: boolean }).suspect = true;
      throw mapped;
    } finally {
      cancel();
      if (onAbort) signal!.removeEventListener('abort', onAbort);
      if (blocking) this.#recycle(blocking, healthy);
      this.#hold(-1);
    }
  }

  /** Runs `work` on a connection of its own (a WATCH/MULTI transaction must not share one), then pools it again. */
  async exclusive<T>(work: (client: Client) => Promise<T>): Promise<T> {
    this.#hold(1);
    let blocking: Blocking | undefined;
    let healthy = false;
    try {
      blocking = this.#idle.pop() ?? await this.#newBlocking();
      const result = await work(blocking.client);
      healthy = true;
      return result;
    } catch (err) {
      const mapped = this.mapError(err);
      healthy = !(mapped instanceof ManagerError && mapped.code === 'ERR_MP_MANAGER_CONNECTION');
      throw mapped;
    } finally {
      if (blocking) this.#recycle(blocking, healthy);
      this.#hold(-1);
    }
  }

  #recycle(blocking: Blocking, healthy: boolean): void {
    if (healthy && !this.#closed && this.#idle.length < IDLE_BLOCKING_MAX) this.#idle.push(blocking);
    else this.#drop(blocking.client);
  }

  async #newBlocking(): Promise<Blocking> {
    const client = this.#newClient(false);
    try {
      await this.#ready(client);
      return { client, id: Number(await client.call('CLIENT', 'ID')) };
    } catch (err) {
      this.#drop(client);
      throw err;
    }
  }

  #drop(client: Client): void {
    this.#all.delete(client);
    client.disconnect();
  }

  /** Our errors from a failed command: scripts' MP* replies name their class; anything else is the connection's. */
  mapError(err: unknown): Error {
    if (err instanceof MultiprocError) return err;
    const message = err instanceof Error ? err.message : String(err);
    const [tag, ...rest] = message.split(' ');
    const text = rest.join(' ');
    switch (tag) {
      case 'MPGONE': return new ManagerError('ERR_MP_MANAGER_UNKNOWN_OBJECT', text);
      case 'MPLOST': return new ManagerError('ERR_MP_REDIS_LEASE_LOST', text);
      case 'MPVALUE': return new ValueError(text.slice(text.indexOf(' ') + 1), text.slice(0, text.indexOf(' ')));
      case 'MPASSERT': return new AssertionError(text);
    }
    if ((err as Error)?.name === 'ReplyError' && !/^(LOADING|MASTERDOWN|READONLY|BUSY)\b/.test(message)) {
      return new ManagerError('ERR_MP_REDIS_REPLY', `Redis at ${addressKey(this.address)} refused: ${message}`, { cause: err });
    }
    return this.#unreachable(err);
  }

  /** Disconnects every client; later calls through this object reject (proxies get a fresh connection). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#awaiting);
    for (const client of this.#all) client.disconnect();
    this.#all.clear();
    this.#idle.length = 0;
  }
}
