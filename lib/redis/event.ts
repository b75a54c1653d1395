/**
 * Event on Redis, with the methods of the Manager's EventProxy. set() puts one token in the object's wake-up
 * list; a waiter blocks in BLMOVE from that list to itself, which hands the token on to the next blocked waiter at
 * once, so every waiter wakes without a round trip of its own; clear() removes the token.
 */
import { RedisProxy, registerProxyType } from './proxy';
import { checkAborted, sliceOf, waitingOf } from './wait';

export interface WaitOptions {
  timeout?: number;
  signal?: AbortSignal;
}

export class RedisEventProxy extends RedisProxy {
  async isSet(): Promise<boolean> {
    return (await this._connection.script<number>('ev_isset', this._keys('flag', 'wake'), [])) === 1;
  }

  async set(): Promise<void> {
    await this._connection.script('ev_set', this._keys('flag', 'wake'), []);
  }

  async clear(): Promise<void> {
    await this._connection.script('ev_clear', this._keys('flag', 'wake'), []);
  }

  /** Resolves true once the flag is set, false if the timeout passes first. */
  async wait(options?: WaitOptions): Promise<boolean> {
    const waiting = waitingOf(options, null, 'wait options');
    const connection = this._connection;
    const [, wake] = this._keys('flag', 'wake');
    for (;;) {
      checkAborted(waiting.signal);
      if (await this.isSet()) return true;
      const slice = sliceOf(waiting, -1, this._token.leaseMs);
      if (slice === 0) return false;
      const token = await connection.block('BLMOVE', [wake, wake, 'LEFT', 'LEFT'], slice, waiting.signal);
      checkAborted(waiting.signal);
      if (token) return true;
    }
  }
}

registerProxyType('Event', RedisEventProxy);
