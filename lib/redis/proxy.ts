/**
 * What every Redis proxy shares: a token (the server's address, the object's key, its fixed settings) and the
 * way it travels. A proxy holds no connection and no reference count: whichever process rebuilds it talks to
 * Redis itself (one connection per server and process, client.ts), and the object lives until its manager's
 * shutdown() removes it.
 */
import { inspect } from 'node:util';
import { InvalidArgumentError, ManagerError } from '../errors';
import { reduce, Reduced, registerRebuilder } from '../reduction';
import { addressKey, isRedisAddress, RedisAddress, RedisConnection } from './client';
import { REDIS_PROXY_REBUILDER } from '../rebuilder_ids';

export interface RedisToken {
  typeid: string;
  address: RedisAddress;
  /** The prefix of every Redis key of the object: `<manager prefix>{<random id>}`. */
  key: string;
  /** Lease length of locks and queue consumers, in ms. */
  leaseMs: number;
}

type ProxyType = new (token: RedisToken) => RedisProxy;
const proxyTypes = new Map<string, ProxyType>();

/** Each proxy class registers the typeid it stands for. */
export function registerProxyType(typeid: string, type: ProxyType): void {
  proxyTypes.set(typeid, type);
}

export function makeProxy<P extends RedisProxy>(token: RedisToken): P {
  const Type = proxyTypes.get(token.typeid);
  if (!Type) throw new ManagerError('ERR_MP_MANAGER_UNKNOWN_TYPEID', `no Redis proxy type '${String(token.typeid)}'`);
  return new Type(token) as P;
}

export class RedisProxy {
  readonly #token: RedisToken;
  #connection: RedisConnection | undefined;
  #identity: string | undefined;

  constructor(token: RedisToken) {
    this.#token = token;
  }

  /** The typeid, server address, key and lease (a copy). */
  get token(): RedisToken {
    return { ...this.#token, address: { ...this.#token.address } };
  }

  protected get _token(): RedisToken {
    return this.#token;
  }

  /** This process's connection to the object's server (looked up again only once the one kept was closed). */
  protected get _connection(): RedisConnection {
    if (!this.#connection || this.#connection.closed) this.#connection = RedisConnection.to(this.#token.address);
    return this.#connection;
  }

  /** The Redis keys of the object's parts, e.g. _keys('meta', 'items'). */
  protected _keys(...parts: string[]): string[] {
    return parts.map((part) => `${this.#token.key}:${part}`);
  }

  /** Where the object is remembered in this process (leases, items in flight), whichever proxy of it is used. */
  protected get _identity(): string {
    return this.#identity ??= `${addressKey(this.#token.address)} ${this.#token.key}`;
  }

  /** Only the token travels: the receiving process connects with its own settings (credentials.ts). */
  [reduce](): Reduced {
    return [REDIS_PROXY_REBUILDER, [this.#token]];
  }

  [inspect.custom](): string {
    return `<${this.constructor.name} ${this.#token.key} at ${addressKey(this.#token.address)}>`;
  }
}

export function isToken(token: RedisToken): boolean {
  return typeof token === 'object' && token !== null && typeof token.typeid === 'string' &&
    isRedisAddress(token.address) && typeof token.key === 'string' && Number.isSafeInteger(token.leaseMs) && token.leaseMs > 0;
}

/** A proxy from the token it travelled as (its class registered by its module: load './index' first). */
function rebuildProxy(token: RedisToken): RedisProxy {
  if (!isToken(token)) throw new InvalidArgumentError('malformed Redis proxy token');
  return makeProxy(token);
}
registerRebuilder(REDIS_PROXY_REBUILDER, rebuildProxy);
