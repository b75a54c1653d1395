/**
 * The leases this process holds on Redis locks and semaphores, and their renewal. A unit acquired is a field of the
 * object's hash with its end time (server clock); a timer renews every lease this process holds on an object a
 * third of the lease length before it would end, for as long as the process lives and holds it. A
 * lease that ends anyway (the process was paused, or cut off from Redis, longer than the lease) is lost: the
 * units go back to the others, the next acquirer is told, and this process's release of it rejects with
 * ManagerError ERR_MP_REDIS_LEASE_LOST instead of releasing someone else's unit.
 */
import type { RedisConnection } from './client';

export class Holding {
  /** The fields (scripts.ts, SEMAPHORE: member or ~member) of the units this process holds, oldest first. */
  readonly members: string[] = [];
  /** Fields found lost (renewal saw their lease had ended); a release of them is refused. */
  readonly lost: string[] = [];
  /** RLock: how many times this process holds it. */
  count = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly connection: () => RedisConnection, private readonly keys: string[],
              private readonly leaseMs: number, private readonly forget: () => void) {}

  add(member: string): void {
    this.members.push(member);
    this.#timer ??= setInterval(() => void this.#renew(), Math.max(1, Math.floor(this.leaseMs / 3))).unref();
  }

  /** Takes up to `n` members out for a release: lost ones first (their release must be refused), then held ones. */
  take(n: number): string[] {
    const taken = this.lost.splice(0, n);
    taken.push(...this.members.splice(0, n - taken.length));
    this.#forgetIfIdle();
    return taken;
  }

  /** Puts members back after a release that did not reach Redis. */
  putBack(members: string[]): void {
    for (const m of members) this.add(m);
  }

  /**
   * Forgets the object when nothing of it is left here. While the renewal timer runs this waits for its next tick,
   * which stops it: a lock taken and released in a loop then keeps one holding and one timer instead of making
   * and clearing them on every acquire.
   */
  #forgetIfIdle(): void {
    if (this.members.length > 0 || this.lost.length > 0 || this.count > 0 || this.#timer) return;
    this.forget();
  }

  #stopTimer(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** After a release: nothing may be left to remember. */
  settle(): void {
    this.#forgetIfIdle();
  }

  async #renew(): Promise<void> {
    const members = [...this.members];
    if (!members.length) {
      this.#stopTimer();
      this.#forgetIfIdle();
      return;
    }
    let lost: string[];
    try {
      lost = await this.connection().script<string[]>('sem_renew', this.keys, [this.leaseMs, ...members]);
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_MP_MANAGER_UNKNOWN_OBJECT') {
        this.members.length = 0; // the object was removed: nothing left to hold
        this.lost.length = 0;
        this.count = 0;
        this.#forgetIfIdle();
      }
      return; // Redis unreachable: the next tick tries again, and the lease ends if it stays so
    }
    for (const member of lost) {
      const at = this.members.indexOf(member);
      if (at < 0) continue; // released meanwhile
      this.members.splice(at, 1);
      this.lost.push(member);
      process.emitWarning(`a lease on Redis object ${this.keys[0]} ended while this process held it (paused or cut off ` +
        'longer than the lease): another process may hold it now', { code: 'MP_REDIS_LEASE_LOST' });
    }
    this.#forgetIfIdle();
  }
}

const holdings = new Map<string, Holding>();

/**
 * The holding of this process on the object known as `identity`, made by `make(forget)` when there is none; it is
 * forgotten again once it holds nothing (a process that runs for months uses many objects).
 */
export function holdingOf(identity: string, make: (forget: () => void) => Holding): Holding {
  let holding = holdings.get(identity);
  if (!holding) {
    const made = make(() => { if (holdings.get(identity) === made) holdings.delete(identity); });
    holdings.set(identity, holding = made);
  }
  return holding;
}
