/**
 * RedisManager: the Manager's factories, with the objects kept in Redis instead of a server process. What it
 * creates is a set of keys under its prefix; the proxies are tokens naming them (proxy.ts), and travel like a
 * Manager's. shutdown() removes what this manager created, unless told to keep it.
 */
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError, ManagerError, ValueError } from '../errors';
import { semaphoreValue } from '../server_synchronize';
import { checkInteger, checkOptions, describe } from '../validate';
import { addressOf, RedisAddress, RedisConnection } from './client';
import type { RedisSettings } from './credentials';
import { encodeValue } from './codec';
import { RedisDictProxy, RedisListProxy, RedisNamespaceProxy, RedisValueProxy } from './containers';
import { RedisEventProxy } from './event';
import { RedisBoundedSemaphoreProxy, RedisLockProxy, RedisRLockProxy, RedisSemaphoreProxy } from './locks';
import { isToken, makeProxy, RedisProxy, RedisToken } from './proxy';
import { RedisJoinableQueueProxy, RedisQueueProxy } from './queues';

export interface RedisManagerOptions {
  /** redis://[user:password@]host:port/db, or rediss:// for TLS. Default redis://127.0.0.1:6379/0. */
  url?: string;
  /** ioredis options (password, username, tls, db, ...), passed through over what `url` says. */
  redis?: Record<string, unknown>;
  /** Every key this manager creates starts with it. Default 'multiproc:'. */
  prefix?: string;
  /** How long a lock's or a queue consumer's lease lasts without renewal (renewed every third of it). Default 10000 ms. */
  leaseMs?: number;
  /** How long a command may wait for Redis before it rejects with ERR_MP_MANAGER_CONNECTION. Default 5000 ms. */
  commandTimeout?: number;
}

export interface RedisShutdownOptions {
  /** Leave the objects in Redis (default false: remove them). */
  keep?: boolean;
}

/** The Redis keys of each type's parts (a queue's in-flight lists are found from its consumers). */
const PARTS: Record<string, string[]> = {
  Lock: ['sem', 'wake'], RLock: ['sem', 'wake'], Semaphore: ['sem', 'wake'], BoundedSemaphore: ['sem', 'wake'],
  Event: ['flag', 'wake'],
  Queue: ['meta', 'items', 'consumers', 'room', 'joined'], JoinableQueue: ['meta', 'items', 'consumers', 'room', 'joined'],
  dict: ['meta', 'data', 'order'], Namespace: ['meta', 'data', 'order'], list: ['meta', 'items'], Value: ['meta'],
};

const MIN_REDIS = [6, 2]; // LMOVE and BLMOVE

export class RedisManager {
  readonly #address: RedisAddress;
  readonly #settings: RedisSettings;
  readonly #prefix: string;
  readonly #leaseMs: number;
  readonly #created: RedisToken[] = [];
  #state: 'initial' | 'started' | 'shutdown' = 'initial';

  constructor(options: RedisManagerOptions = {}) {
    const opts = checkOptions<RedisManagerOptions>(options, 'RedisManager options');
    const fromUrl = opts.url === undefined ? {} : parseUrl(opts.url);
    const redis = checkOptions<Record<string, unknown>>(opts.redis, 'redis options');
    const connectOptions = { ...fromUrl, ...redis };
    this.#address = addressOf(connectOptions);
    if (opts.prefix !== undefined && typeof opts.prefix !== 'string') {
      throw new InvalidArgumentError(`prefix must be a string, got ${describe(opts.prefix)}`);
    }
    this.#prefix = opts.prefix ?? 'multiproc:';
    this.#leaseMs = opts.leaseMs === undefined ? 10_000 : checkInteger(opts.leaseMs, 'leaseMs', 30, 2 ** 31 - 1);
    // ioredis arms a plain timer with it: at most setTimeout's longest delay.
    const commandTimeoutMs = opts.commandTimeout === undefined ? 5000
      : checkInteger(opts.commandTimeout, 'commandTimeout', 1, 2 ** 31 - 1);
    this.#settings = { options: connectOptions, commandTimeoutMs };
  }

  /** The server: host, port, db and whether TLS is used (never its credentials). */
  get address(): RedisAddress {
    return { ...this.#address };
  }

  get prefix(): string {
    return this.#prefix;
  }

  /** Connects and checks the server (Redis 6.2 or later); proxies of this server in this process use these settings. */
  async start(): Promise<void> {
    if (this.#state !== 'initial') throw new ValueError(`cannot start a manager that is ${this.#state}`, 'ERR_MP_MANAGER_STATE');
    RedisConnection.useSettings(this.#address, this.#settings);
    try {
      const info = await RedisConnection.to(this.#address).run((c) => c.call('INFO', 'server')) as string;
      const version = (/redis_version:(\d+)\.(\d+)/.exec(info) ?? []).slice(1).map(Number);
      if (!(version[0] > MIN_REDIS[0] || (version[0] === MIN_REDIS[0] && version[1] >= MIN_REDIS[1]))) {
        throw new ManagerError('ERR_MP_REDIS_VERSION', `the Redis backend needs Redis ${MIN_REDIS.join('.')} or later, ` +
          `the server runs ${version.join('.') || 'an unknown version'}`);
      }
    } catch (err) {
      // ioredis would otherwise go on reconnecting to a server we gave up on, for the life of the process.
      RedisConnection.close(this.#address);
      throw err;
    }
    this.#state = 'started';
  }

  /** The same as start(): there is no server process to start. */
  connect(): Promise<void> {
    return this.start();
  }

  async #create<P extends RedisProxy>(typeid: string, init: (keys: (part: string) => string) => (string | number | Buffer)[][]): Promise<P> {
    if (this.#state !== 'started') {
      throw new ValueError(`the manager is ${this.#state === 'initial' ? 'not started' : 'shut down'}`, 'ERR_MP_MANAGER_STATE');
    }
    const token: RedisToken = {
      typeid, address: this.#address, key: `${this.#prefix}{${randomBytes(8).toString('hex')}}`, leaseMs: this.#leaseMs,
    };
    const commands = init((part) => `${token.key}:${part}`);
    await RedisConnection.to(this.#address).run(async (c) => {
      const replies = await (c as unknown as { multi(cmds: unknown[]): { exec(): Promise<[Error | null, unknown][]> } })
        .multi(commands).exec();
      const failed = replies.find(([err]) => err);
      if (failed) throw failed[0];
    });
    this.#created.push(token);
    return makeProxy<P>(token);
  }

  #semaphore<P extends RedisProxy>(typeid: string, value: number, bound: number): Promise<P> {
    // The own fields of scripts.ts's SEMAPHORE: nothing held yet, nobody waiting.
    return this.#create<P>(typeid, (key) => [['hset', key('sem'), 'total', value, 'bound', bound, 'fence', 0, 'died', 0,
      'first', 0, 'wait', 0]]);
  }

  Lock(): Promise<RedisLockProxy> {
    return this.#semaphore('Lock', 1, 1);
  }

  RLock(): Promise<RedisRLockProxy> {
    return this.#semaphore('RLock', 1, 1);
  }

  async Semaphore(value = 1): Promise<RedisSemaphoreProxy> {
    return this.#semaphore('Semaphore', semaphoreValue(value), -1);
  }

  /** Releasing above the initial value is a ValueError. */
  async BoundedSemaphore(value = 1): Promise<RedisBoundedSemaphoreProxy> {
    const v = semaphoreValue(value);
    return this.#semaphore('BoundedSemaphore', v, v);
  }

  Event(): Promise<RedisEventProxy> {
    return this.#create('Event', (key) => [['set', key('flag'), '0']]);
  }

  Queue<T = unknown>(maxsize = 0): Promise<RedisQueueProxy<T>> {
    return this.#queue('Queue', maxsize, false);
  }

  JoinableQueue<T = unknown>(maxsize = 0): Promise<RedisJoinableQueueProxy<T>> {
    return this.#queue('JoinableQueue', maxsize, true);
  }

  async #queue<P extends RedisProxy>(typeid: string, maxsize: number, joinable: boolean): Promise<P> {
    const size = checkInteger(maxsize, 'maxsize', 0, Number.MAX_SAFE_INTEGER);
    return this.#create<P>(typeid, (key) => [
      ['hset', key('meta'), 'maxsize', size, 'joinable', joinable ? 1 : 0, 'unfinished', 0],
      ...(joinable ? [['rpush', key('joined'), '1']] : []),
    ]);
  }

  /** From a Map, pairs, or a plain object. */
  async dict<K = unknown, V = unknown>(init?: Map<K, V> | [K, V][] | Record<string, V>): Promise<RedisDictProxy<K, V>> {
    const proxy = await this.#create<RedisDictProxy<K, V>>('dict', (key) => [['hset', key('meta'), 'seq', 0]]);
    if (init !== undefined && init !== null) await proxy.update(init);
    return proxy;
  }

  async list<T = unknown>(init?: T[]): Promise<RedisListProxy<T>> {
    if (init !== undefined && init !== null && !Array.isArray(init)) {
      throw new InvalidArgumentError(`list() takes an array, got ${describe(init)}`);
    }
    const items = (init ?? []).map((item, i) => encodeValue(item, `list() arguments[0][${i}]`));
    return this.#create('list', (key) => [['hset', key('meta'), 'type', 'list'], ...(items.length ? [['rpush', key('items'), ...items]] : [])]);
  }

  /** typecode: any string, kept as CPython's managers.Value keeps it ('c', 'u', 'i', …); the value is stored as given. */
  async Value<T = unknown>(typecode: string, value: T): Promise<RedisValueProxy<T>> {
    if (typeof typecode !== 'string') throw new InvalidArgumentError(`typecode must be a string, got ${describe(typecode)}`);
    const encoded = encodeValue(value, 'Value() arguments[1]');
    return this.#create('Value', (key) => [['hset', key('meta'), 'typecode', typecode, 'value', encoded]]);
  }

  async Namespace(init?: Record<string, unknown>): Promise<RedisNamespaceProxy> {
    if (init !== undefined && init !== null && typeof init !== 'object') {
      throw new InvalidArgumentError(`Namespace takes an object, got ${describe(init)}`);
    }
    const proxy = await this.#create<RedisNamespaceProxy>('Namespace', (key) => [['hset', key('meta'), 'seq', 0]]);
    for (const [name, value] of Object.entries(init ?? {})) await proxy.set(name, value);
    return proxy;
  }

  /**
   * A proxy from a token (`proxy.token`, plain data: print it, send it as JSON) of an object on this manager's
   * server: how a process that is not in the creator's process tree, or runs on another machine, reaches it.
   */
  fromToken<P extends RedisProxy = RedisProxy>(token: RedisToken): P {
    if (!isToken(token)) throw new InvalidArgumentError(`not a Redis proxy token: ${describe(token)}`);
    const a = token.address;
    if (a.host !== this.#address.host || a.port !== this.#address.port || a.db !== this.#address.db || a.tls !== this.#address.tls) {
      throw new InvalidArgumentError(`the token names another server (${a.host}:${a.port}/${a.db}) than this manager's`);
    }
    return makeProxy<P>(token);
  }

  /**
   * Removes every object this manager created (unless `keep`) and closes this process's connection to the server.
   * Proxies of removed objects then reject with ManagerError ERR_MP_MANAGER_UNKNOWN_OBJECT.
   */
  async shutdown(options: RedisShutdownOptions = {}): Promise<void> {
    const keep = checkOptions<RedisShutdownOptions>(options, 'shutdown options').keep === true;
    if (this.#state !== 'started') {
      this.#state = 'shutdown';
      return;
    }
    this.#state = 'shutdown';
    const connection = RedisConnection.to(this.#address);
    try {
      if (!keep && this.#created.length) {
        await connection.run(async (c) => {
          const keys: string[] = [];
          for (const token of this.#created) {
            keys.push(...PARTS[token.typeid].map((part) => `${token.key}:${part}`));
            if (token.typeid === 'Queue' || token.typeid === 'JoinableQueue') {
              const consumers = await c.call('ZRANGE', `${token.key}:consumers`, 0, -1) as string[];
              keys.push(...consumers.map((consumer) => `${token.key}:inflight:${consumer}`));
            }
          }
          for (let i = 0; i < keys.length; i += 1000) await c.call('UNLINK', ...keys.slice(i, i + 1000));
        });
      }
    } finally {
      this.#created.length = 0;
      RedisConnection.close(this.#address);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }
}

/** ioredis options from a redis:// or rediss:// URL. */
function parseUrl(url: unknown): Record<string, unknown> {
  if (typeof url !== 'string') throw new InvalidArgumentError(`url must be a string, got ${describe(url)}`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidArgumentError(`url must be redis://host:port/db or rediss://..., got ${describe(url)}`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new InvalidArgumentError(`url must start with redis:// or rediss://, got ${describe(url)}`);
  }
  const options: Record<string, unknown> = { host: parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1' };
  if (parsed.port) options.port = Number(parsed.port);
  const db = parsed.pathname.replace(/^\//, '');
  if (db) options.db = checkInteger(Number(db), 'the database in url', 0, 1 << 16);
  if (parsed.username) options.username = decodeURIComponent(parsed.username);
  if (parsed.password) options.password = decodeURIComponent(parsed.password);
  if (parsed.protocol === 'rediss:') options.tls = {};
  return options;
}
