/**
 * Proxies of a manager's Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event and Barrier. On the server's
 * host a lock or semaphore is a kernel semaphore the proxy takes itself (manager_kernel_open.ts).
 */
import { TimeoutError } from './errors';
import type { ManagerConnection } from './manager_connection';
import { releaseUnits } from './manager_kernel';
import { openKernel } from './manager_kernel_open';
import { Op } from './manager_protocol';
import { AcquireOptions, BaseProxy, forward, travelling, WaitOptions } from './manager_proxy';
import type { Lock, Semaphore } from './synchronize';
import { waitUntil } from './timeouts';

/** Held until disposed: `await using held = await lock.guard()`. */
export interface AsyncGuard extends AsyncDisposable {
  release(): Promise<void>;
}

abstract class AcquirerProxy extends BaseProxy {
  #local: Lock | Semaphore | null | undefined;

  /** The object's kernel lock or semaphore, opened here on first use; null when every call goes through the server. */
  protected get _local(): Lock | Semaphore | null {
    if (this.#local === undefined) this.#local = openKernel(this._token, this._connection);
    return this.#local;
  }

  /**
   * Whether this process's last acquire took a lock or unit that a process had died holding (kill-safe kernel
   * objects, Linux); false when calls go through the server.
   */
  get ownerDied(): boolean {
    return this._local?.ownerDied ?? false;
  }

  async acquire(options?: AcquireOptions): Promise<boolean> {
    const local = this._local;
    if (!local) return this._callWaiting('acquire', [], options) as Promise<boolean>;
    const [opts, signal] = travelling(options, 'acquire options');
    // The manager must still be there, even if the call needs nothing of it, and stay there while it waits.
    return this._connection.untilClosed(signal, (until) => local.acquire({ ...opts, signal: until }));
  }

  release(): Promise<void> {
    return this._callMethod('release') as Promise<void>;
  }

  /** Acquires and returns a guard whose disposal releases; TimeoutError if not acquired in time. */
  async guard(options?: AcquireOptions): Promise<AsyncGuard> {
    if (!(await this.acquire(options))) {
      throw new TimeoutError(`could not acquire the manager ${this.token.typeid} in time`);
    }
    let held = true;
    const release = async () => {
      if (!held) return;
      held = false;
      await this.release();
    };
    return { release, [Symbol.asyncDispose]: release };
  }

  override [Symbol.dispose](): void {
    super[Symbol.dispose]();
    this.#local?.close(); // this process's reference to the kernel semaphore goes too
  }
}

/**
 * How many times this process (its connection: the server's notion of the owner) holds each lock. A release by
 * the holder cannot fail in the server, so it need not wait for the answer: one round trip per critical
 * section instead of two. With a kernel lock, the count is of the holds taken here directly.
 */
const holdings = new WeakMap<ManagerConnection, Map<number, number>>();

export class LockProxy extends AcquirerProxy {
  protected readonly recursive: boolean = false;

  /**
   * A kernel lock is taken here, then the server is told (so it can release the lock if this process dies holding
   * it); an RLock this process holds is only counted again. Otherwise the server takes it for this process.
   */
  override async acquire(options?: AcquireOptions): Promise<boolean> {
    const local = this._local;
    if (local && this.recursive && this.#holds() > 0) {
      travelling(options, 'acquire options');
      this.#addHold(1);
      return true;
    }
    if (!(await super.acquire(options))) return false;
    const holds = this.#addHold(1);
    // The server learns of a kernel lock taken here: every hold of a Lock, the first of an RLock.
    if (local && (holds === 1 || !this.recursive)) this._connection.notifyNow(Op.Held, this._token.id);
    return true;
  }

  /**
   * Resolves at once when this process holds the lock. A kernel lock is given back here, after telling the server.
   * Otherwise the request is on its way, ordered before any later call of this process; in the one case the server
   * can still refuse — another process released this Lock meanwhile (legal for a Lock) and nobody holds it now —
   * the ValueError is reported with process.emitWarning, as it has no caller left to reject.
   */
  override release(): Promise<void> {
    const local = this._local;
    const holds = this.#holds();
    if (local && holds > 0) {
      try {
        if (this.#addHold(-1) > 0 && this.recursive) return Promise.resolve();
        this._connection.notifyNow(Op.Released, this._token.id);
        local.release(); // a ValueError if another process released this Lock meanwhile
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(err);
      }
    }
    const call = super.release();
    if (holds === 0) return call;
    this.#addHold(-1);
    call.catch((err: Error & { code?: string }) => {
      // A closed connection needs no report: the server releases what a vanished connection held.
      if (err.code !== 'ERR_MP_MANAGER_CONNECTION') process.emitWarning(err.message, { type: err.name, code: err.code });
    });
    return Promise.resolve();
  }

  locked(): Promise<boolean> {
    const local = this._local;
    if (!local) return this._callMethod('locked') as Promise<boolean>;
    return this._connection.opened().then(() => local._isZero());
  }

  #holds(): number {
    return holdings.get(this._connection)?.get(this._token.id) ?? 0;
  }

  /** Adds `delta` to this process's hold count; returns the new count. */
  #addHold(delta: 1 | -1): number {
    const connection = this._connection;
    let counts = holdings.get(connection);
    if (!counts) holdings.set(connection, counts = new Map());
    const id = this._token.id;
    const count = (counts.get(id) ?? 0) + delta;
    if (count === 0) counts.delete(id);
    else counts.set(id, count);
    return count;
  }
}

export class RLockProxy extends LockProxy {
  protected override readonly recursive: boolean = true;
}

export class SemaphoreProxy extends AcquirerProxy {
  /** A Semaphore's kernel object is an OS semaphore (a kill-safe word is a Lock's). */
  protected override get _local(): Semaphore | null {
    return super._local as Semaphore | null;
  }

  override release(n = 1): Promise<void> {
    const local = this._local;
    if (!local) return this._callMethod('release', [n]) as Promise<void>;
    return this._connection.opened().then(() => releaseUnits(local, n));
  }

  getValue(): Promise<number> {
    const local = this._local;
    if (!local) return this._callMethod('getValue') as Promise<number>;
    return this._connection.opened().then(() => local.getValue());
  }
}

export class BoundedSemaphoreProxy extends SemaphoreProxy {}

export class ConditionProxy extends AcquirerProxy {
  wait(options?: WaitOptions): Promise<boolean> {
    return this._callWaiting('wait', [], options) as Promise<boolean>;
  }

  /** Waits until `predicate()` (run here, with the lock held) is truthy or the timeout passes; returns its value. */
  async waitFor<T>(predicate: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    const [opts, signal] = travelling(options, 'waitFor options');
    return waitUntil(predicate, opts.timeout as number | undefined, (left) => this.wait({ timeout: left, signal }));
  }

  notify(n = 1): Promise<void> {
    return this._callMethod('notify', [n]) as Promise<void>;
  }

  notifyAll(): Promise<void> {
    return this._callMethod('notifyAll') as Promise<void>;
  }
}

export interface EventProxy {
  isSet(): Promise<boolean>;
  set(): Promise<void>;
  clear(): Promise<void>;
}
export class EventProxy extends BaseProxy {
  wait(options?: WaitOptions): Promise<boolean> {
    return this._callWaiting('wait', [], options) as Promise<boolean>;
  }
}
forward(EventProxy, ['isSet', 'set', 'clear']);

export interface BarrierProxy {
  reset(): Promise<void>;
  abort(): Promise<void>;
}
/** A manager Barrier; `parties`, `nWaiting` and `broken` are Promise-valued getters. */
export class BarrierProxy extends BaseProxy {
  wait(options?: WaitOptions): Promise<number> {
    return this._callWaiting('wait', [], options) as Promise<number>;
  }

  get parties(): Promise<number> {
    return this._callMethod('parties') as Promise<number>;
  }

  get nWaiting(): Promise<number> {
    return this._callMethod('nWaiting') as Promise<number>;
  }

  get broken(): Promise<boolean> {
    return this._callMethod('broken') as Promise<boolean>;
  }
}
forward(BarrierProxy, ['reset', 'abort']);
