/** multiproc: Python's multiprocessing model for Node.js, on real OS primitives. */
export {
  AbortError, AssertionError, AuthenticationError, BrokenBarrierError, BufferTooShort, Empty, EOFError, Full, InvalidArgumentError,
  MultiprocError, NotImplementedError, OutOfRangeError, PicklingError, RemoteError, RuntimeError, ShutDown, TimeoutError, UnpicklingError, ValueError,
  WorkerLostError,
} from './errors';
export type { SystemCallError } from './errors';
export { Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore, SemLock } from './synchronize';
export type { AcquireOptions, AcquireSyncOptions, Guard, WaitOptions, WaitSyncOptions } from './synchronize';
export { NamedLock } from './named_lock';
export type { OpenOptions } from './named_lock';
export { NamedSemaphore } from './named_semaphore';
export { NamedEvent } from './named_event';
export type { SemaphoreOpenOptions } from './named_semaphore';
export { assertSpawning, reduce } from './reduction';
export type { Reducible, Reduced } from './reduction';
export type { FunctionRef } from './reference';
export { activeChildren, cpuCount, currentProcess, fork, parentProcess, Process } from './process';
export type { ForkOptions, ParentProcess, ProcessIdentity, ProcessOptions, Target } from './process';
export { inherited } from './child';
export { forThread, fromThread } from './threads';
export type { ThreadHandover } from './threads';
export { JoinableQueue, Queue, SimpleQueue } from './queues';
export { Connection, Pipe } from './connection';
export { Client, Listener } from './connection_listener';
export type { ClientOptions, ListenerOptions } from './connection_listener';
export * as connection from './connection_namespace';
export type { GetOptions, GetSyncOptions, PutOptions, PutSyncOptions } from './queues';
export { BaseManager, Manager, SyncManager } from './managers';
export type { Address, ManagerOptions, RegisterOptions, ServerInfo, Token } from './managers';
export { AutoProxy, BaseProxy } from './manager_proxy';
export {
  BarrierProxy, BoundedSemaphoreProxy, ConditionProxy, EventProxy, LockProxy, RLockProxy, SemaphoreProxy,
} from './manager_sync_proxies';
export type { AsyncGuard } from './manager_sync_proxies';
export { JoinableQueueProxy, QueueProxy } from './manager_queue_proxies';
export { ArrayProxy, DictProxy, ListProxy, NamespaceProxy, ValueProxy } from './manager_container_proxies';
export { ManagerError } from './errors';
export { AsyncResult, currentTask, MAX_INITIALIZER_ATTEMPTS, Pool } from './pool';
export { TIMEOUT_MAX } from './timeouts';
export type { AsyncResultOptions, CallOptions, IMapOptions, MapOptions, PoolOptions, Progress, TaskContext } from './pool';
export {
  RedisBoundedSemaphoreProxy, RedisDictProxy, RedisEventProxy, RedisJoinableQueueProxy, RedisListProxy, RedisLockProxy,
  RedisManager, RedisNamespaceProxy, RedisQueueProxy, RedisRLockProxy, RedisSemaphoreProxy, RedisValueProxy,
} from './redis';
export type { AcquireInfo, Delivery, RedisAddress, RedisGuard, RedisManagerOptions, RedisShutdownOptions, RedisToken } from './redis';
export { SharedMemory } from './shared_memory';
export type { SharedMemoryOptions } from './shared_memory';
export { notify, wait, waitSync } from './atomics_wait';
export type { SharedWaitOptions, SharedWaitSyncOptions, WaitResult } from './atomics_wait';
export { RawArray, RawValue, SharedArray as Array, SynchronizedArray, SynchronizedValue, Value } from './sharedctypes';
export type { SynchronizedOptions, TypeCode } from './sharedctypes';
export { ShareableList } from './shareable_list';
export type { ShareableItem } from './shareable_list';
export { SharedMemoryManager } from './shared_memory_manager';
