/** The Redis backend: the Manager's objects kept in Redis (docs/redis.md). */
export { RedisManager } from './manager';
export type { RedisManagerOptions, RedisShutdownOptions } from './manager';
export { RedisBoundedSemaphoreProxy, RedisLockProxy, RedisRLockProxy, RedisSemaphoreProxy } from './locks';
export type { AcquireInfo, RedisGuard } from './locks';
export { RedisEventProxy } from './event';
export { RedisJoinableQueueProxy, RedisQueueProxy } from './queues';
export type { Delivery } from './queues';
export { RedisDictProxy, RedisListProxy, RedisNamespaceProxy, RedisValueProxy } from './containers';
export type { RedisToken } from './proxy';
export type { RedisAddress } from './client';
