/**
 * The ids library objects travel under: a reduced object names its rebuilder by id (reduction.ts), and the module
 * defining the object registers the rebuilder. Kept apart from those modules so that the entry points can name
 * them without loading them: a module loads when a value first names one of its ids (rebuilder_modules.ts).
 */
export const REBUILD_SEMLOCK = 'multiproc.SemLock';
export const REBUILD_CONDITION = 'multiproc.Condition';
export const REBUILD_EVENT = 'multiproc.Event';
export const REBUILD_BARRIER = 'multiproc.Barrier';
export const REBUILD_QUEUE = 'multiproc.Queue';
export const REBUILD_KILL_SAFE_QUEUE = 'multiproc.KillSafeQueue';
export const REBUILD_CONNECTION = 'multiproc.Connection';
export const REBUILD_SHARED_MEMORY = 'multiproc.SharedMemory';
export const REBUILD_SHAREABLE_LIST = 'multiproc.ShareableList';
export const REBUILD_RAW = 'multiproc.sharedctypes.raw';
export const REBUILD_SYNCHRONIZED = 'multiproc.sharedctypes.synchronized';
export const PROXY_REBUILDER = 'multiproc.proxy';
export const REDIS_PROXY_REBUILDER = 'multiproc.redis-proxy';
