/**
 * The module that registers each library object's rebuilder, loaded the first time a value this process receives
 * names it (reduction.ts: registerRebuilderModule). Registered by the two entry points, the package's (dist/index.js,
 * whose public names load their modules on first use) and a child's bootstrap: a process given none of these
 * objects never loads their modules (a pool worker given plain data starts about 20 ms sooner), and one given a
 * Connection rebuilds it even if its own code never imports this library. Nothing else imports this module: its
 * loaders reach most of the library.
 */
import { registerRebuilderModule } from './reduction';
import * as ids from './rebuilder_ids';

/** SemLock's is synchronize.ts: the classes it is rebuilt as (Lock, Semaphore, ...) register there. */
const REBUILDER_MODULES: [string[], () => unknown][] = [
  [[ids.REBUILD_SEMLOCK, ids.REBUILD_CONDITION, ids.REBUILD_EVENT, ids.REBUILD_BARRIER], () => require('./synchronize')],
  [[ids.REBUILD_QUEUE, ids.REBUILD_KILL_SAFE_QUEUE], () => require('./queues')],
  [[ids.REBUILD_CONNECTION], () => require('./connection')],
  [[ids.REBUILD_SHARED_MEMORY], () => require('./shared_memory')],
  [[ids.REBUILD_SHAREABLE_LIST], () => require('./shareable_list')],
  [[ids.REBUILD_RAW, ids.REBUILD_SYNCHRONIZED], () => require('./sharedctypes')],
  [[ids.PROXY_REBUILDER], () => require('./manager_proxy_types')], // the Manager's client
  [[ids.REDIS_PROXY_REBUILDER], () => require('./redis')], // and with it ioredis
];

export function registerRebuilderModules(): void {
  for (const [names, load] of REBUILDER_MODULES) for (const id of names) registerRebuilderModule(id, load);
}
