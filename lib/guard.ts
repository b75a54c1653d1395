/**
 * Guards: a held lock released when its scope ends (`using`), for every lock class (synchronize.ts, named_lock.ts).
 */
import { TimeoutError } from './errors';
import type { AcquireOptions, AcquireSyncOptions } from './semlock';

/** Held while in scope: `using guard = lock.guardSync()` or `await using guard = await lock.guard()`. */
export interface Guard extends Disposable {
  release(): void;
}

export interface Acquirable {
  acquire(options?: AcquireOptions): Promise<boolean>;
  acquireSync(options?: AcquireSyncOptions): boolean;
  release(): void;
}

function makeGuard(lock: Acquirable): Guard {
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    lock.release();
  };
  return { release, [Symbol.dispose]: release };
}

export async function guardOf(lock: Acquirable, options?: AcquireOptions): Promise<Guard> {
  if (!(await lock.acquire(options))) throw new TimeoutError(`could not acquire ${lock.constructor.name} in time`);
  return makeGuard(lock);
}

export function guardSyncOf(lock: Acquirable, options?: AcquireSyncOptions): Guard {
  if (!lock.acquireSync(options)) throw new TimeoutError(`could not acquire ${lock.constructor.name} in time`);
  return makeGuard(lock);
}

