/**
 * Lock, RLock, Semaphore and BoundedSemaphore on Redis, with the methods of the Manager's proxies. Every unit
 * acquired is a lease (leases.ts); each successful acquire gets the next fencing token of the object, a number
 * that only grows, which callers pass to the storage they protect so it can refuse a holder whose lease ended
 * (Kleppmann's point against Redlock). A waiting acquire blocks in BLPOP on the object's wake-up list, which a
 * release (or an acquire that leaves units free) fills while someone may be waiting; it also wakes when the
 * earliest lease is due to end. Waiters are not served in FIFO order, as with a local lock.
 */
import { TimeoutError } from '../errors';
import { checkInteger } from '../validate';
import { Holding, holdingOf } from './leases';
import { RedisProxy, registerProxyType } from './proxy';
import { checkAborted, mayWaitMs, sliceOf, waitingOf } from './wait';

export interface AcquireOptions {
  blocking?: boolean;
  timeout?: number;
  signal?: AbortSignal;
}

/** What an acquire learned: the holder's fencing token, and whether a holder's lease had ended (it died). */
export interface AcquireInfo {
  /** Grows with every successful acquire of this object (across all processes). */
  fencingToken: number;
  /** A unit this acquire could take had been held by a process whose lease ended without a release. */
  ownerDied: boolean;
}

/** Held until disposed: `await using held = await lock.guard()`; carries its own acquire's fencing token. */
export interface RedisGuard extends AsyncDisposable, AcquireInfo {
  release(): Promise<void>;
}

let sequence = 0;

abstract class RedisAcquirer extends RedisProxy {
  #lastAcquire: AcquireInfo | null = null;
  #semKeys: string[] | undefined;
  protected readonly recursive: boolean = false;

  /** sem (hash: the state and the holders), wake (list). */
  protected get _semKeys(): string[] {
    return this.#semKeys ??= this._keys('sem', 'wake');
  }

  /** This process's leases on the object, shared by every proxy of it here. */
  protected get _holding(): Holding {
    return holdingOf(this._identity,
      (forget) => new Holding(() => this._connection, this._semKeys, this._token.leaseMs, forget));
  }

  /**
   * The fencing token of this proxy's latest successful acquire and whether the previous holder had died — read it
   * right after `await acquire()` (exact for a Lock; with concurrent acquires through one proxy use guard()).
   */
  get lastAcquire(): AcquireInfo | null {
    return this.#lastAcquire;
  }

  /** As a kill-safe local lock's (`Lock.open`): whether this proxy's latest successful acquire found a dead holder's unit. */
  get ownerDied(): boolean {
    return this.#lastAcquire?.ownerDied ?? false;
  }

  async acquire(options?: AcquireOptions): Promise<boolean> {
    const waiting = waitingOf(options, 'blocking', 'acquire options');
    return (await this._acquire(waiting)) !== null;
  }

  protected async _acquire(waiting: ReturnType<typeof waitingOf>): Promise<AcquireInfo | null> {
    const holding = this._holding;
    if (this.recursive && holding.count > 0) {
      holding.count++;
      return this.#lastAcquire;
    }
    holding.settle(); // looked up again once acquired: an idle holding may be forgotten meanwhile
    const connection = this._connection;
    const member = this.recursive ? connection.processId : `${connection.processId}:${++sequence}`;
    const keys = this._semKeys;
    for (;;) {
      checkAborted(waiting.signal);
      let reply: number | [number, number, number, string];
      try {
        reply = await connection.script<typeof reply>('sem_acquire', keys,
          [member, this._token.leaseMs, mayWaitMs(waiting, this._token.leaseMs, connection.commandTimeoutMs)]);
      } catch (err) {
        // Redis may have run it (a paused server answers late): give back what nobody here knows it holds.
        if ((err as { code?: string }).code === 'ERR_MP_MANAGER_CONNECTION') {
          void connection.script('sem_release', keys, [1, member, 0, 0]).catch(() => undefined);
        }
        throw err;
      }
      // The fast path's reply is the token alone, its unit's field the member.
      const [ok, a, b, field] = typeof reply === 'number' ? [1, reply, 0, member] : reply;
      if (ok === 1) {
        const held = this._holding;
        held.add(field);
        if (this.recursive) held.count = 1;
        return this.#lastAcquire = { fencingToken: a, ownerDied: b === 1 };
      }
      if (!waiting.block) return null;
      const slice = sliceOf(waiting, a, this._token.leaseMs);
      if (slice === 0) return null;
      const token = await connection.block('BLPOP', [keys[1]], slice, waiting.signal);
      if (waiting.signal?.aborted) {
        // The wake-up this wait consumed belongs to another waiter: the next script run puts it back.
        if (token) void connection.script('sem_value', keys, []).catch(() => undefined);
        checkAborted(waiting.signal);
      }
    }
  }

  /** Gives back `n` units: this process's own leases first, then (a release by another process) any holder's. */
  protected async _release(n: number): Promise<void> {
    const holding = this._holding;
    if (this.recursive && holding.count > 1) {
      holding.count--;
      return;
    }
    const own = this.recursive && holding.count === 0 ? [] : holding.take(n);
    const connection = this._connection;
    const keys = this._semKeys;
    try {
      // This process's one unit while nobody waits is one plain HDEL of its field (scripts.ts, SEMAPHORE); anything
      // else (a ~member field: someone may be waiting; the lease was lost; units of others) is the script's.
      if (own.length !== 1 || n !== 1 || own[0].startsWith('~') ||
          await connection.run((c) => c.call('HDEL', keys[0], own[0])) !== 1) {
        await connection.script('sem_release', keys, [own.length, ...own, n - own.length, this.recursive ? 1 : 0]);
      }
    } catch (err) {
      const code = (err as { code?: string }).code;
      const after = this._holding; // the one before may have been forgotten while the release was under way
      if (code === 'ERR_MP_MANAGER_CONNECTION') after.putBack(own);
      else if (code === 'ERR_MP_REDIS_LEASE_LOST' && this.recursive) after.count = 0;
      after.settle();
      throw err;
    }
    const after = this._holding;
    if (this.recursive && own.length) after.count = 0;
    after.settle();
  }

  /** Acquires and returns a guard whose disposal releases; TimeoutError if not acquired in time. */
  async guard(options?: AcquireOptions): Promise<RedisGuard> {
    const info = await this._acquire(waitingOf(options, 'blocking', 'acquire options'));
    if (!info) throw new TimeoutError(`could not acquire the Redis ${this._token.typeid} in time`);
    let held = true;
    const release = async () => {
      if (!held) return;
      held = false;
      await this._release(1);
    };
    return { ...info, release, [Symbol.asyncDispose]: release };
  }
}

export class RedisLockProxy extends RedisAcquirer {
  /**
   * Releases this process's hold; a process that does not hold the Lock releases whoever does (as Python allows).
   * ValueError if it is not held; ERR_MP_REDIS_LEASE_LOST if this process's lease had ended.
   */
  release(): Promise<void> {
    return this._release(1);
  }

  async locked(): Promise<boolean> {
    return (await this._connection.script<number>('sem_value', this._semKeys, [])) === 0;
  }
}

/** Recursive: the process that holds it may acquire it again; only that process may release it. */
export class RedisRLockProxy extends RedisLockProxy {
  protected override readonly recursive: boolean = true;
}

export class RedisSemaphoreProxy extends RedisAcquirer {
  /** Gives back n units (BoundedSemaphore: all or none, ValueError above the initial value). */
  release(n = 1): Promise<void> {
    try {
      return this._release(checkInteger(n, 'n', 1));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  getValue(): Promise<number> {
    return this._connection.script<number>('sem_value', this._semKeys, []);
  }
}

export class RedisBoundedSemaphoreProxy extends RedisSemaphoreProxy {}

registerProxyType('Lock', RedisLockProxy);
registerProxyType('RLock', RedisRLockProxy);
registerProxyType('Semaphore', RedisSemaphoreProxy);
registerProxyType('BoundedSemaphore', RedisBoundedSemaphoreProxy);
