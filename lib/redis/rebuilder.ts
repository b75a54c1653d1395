/**
 * The id Redis proxies travel under. proxy.ts registers their rebuilder; a child's bootstrap registers a stand-in
 * under the same id that loads lib/redis/ (and so ioredis) only in a child that is given a Redis proxy.
 */
export const REDIS_PROXY_REBUILDER = 'multiproc.redis-proxy';
