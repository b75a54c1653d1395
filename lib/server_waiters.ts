/**
 * How the objects a Manager server holds wait (see server_synchronize.ts, server_queues.ts): they live in the
 * server's one event loop, so none of them may block it. Every wait is a promise in a FIFO of waiters, woken by
 * hand-off, ended by a timeout or by its caller's signal (the client cancelled, or its connection closed).
 *
 * Methods of built-in objects receive the caller (its session and signal) as their first argument; the server
 * passes it because the class extends CallerAware.
 */
import { AbortError, InvalidArgumentError } from './errors';
import { setLongTimeout, whenAborted } from './timeouts';
import { checkOptions, checkTimeout } from './validate';
/** One client connection, as objects see it: what it holds, so a vanished client's locks can be released. */
export interface Session {
  readonly id: number;
  readonly holding: Set<Abandonable>;
  closed: boolean;
}

/** A lock that can take back what a closed session held. */
export interface Abandonable {
  abandon(session: Session): void;
}

export interface Caller {
  session: Session;
  signal: AbortSignal;
}

/** Built-in objects whose exposed methods take the Caller as first argument (user types never do). */
export abstract class CallerAware {}

export function takesCaller(obj: object): boolean {
  return obj instanceof CallerAware;
}


interface Waiter<D, V> {
  data: D;
  wake(value: V): void;
}

/** A FIFO of pending calls. A waiter leaves it when woken, when its timeout passes, or when its signal aborts. */
export class Waiters<D = undefined, V = true> {
  #queue: Waiter<D, V>[] = [];

  /** Resolves with the value it was woken with, or `null` on timeout; rejects with AbortError on abort. */
  wait(caller: Caller, timeout: number | undefined, data: D): Promise<V | null> {
    return new Promise<V | null>((resolve, reject) => {
      const { signal } = caller;
      if (signal.aborted) return reject(new AbortError());
      let stopTimer: (() => void) | undefined;
      const leave = () => {
        const i = this.#queue.indexOf(waiter);
        if (i >= 0) this.#queue.splice(i, 1);
        stopTimer?.();
        stopListening();
      };
      const waiter: Waiter<D, V> = {
        data,
        wake: (value) => {
          leave();
          resolve(value);
        },
      };
      this.#queue.push(waiter);
      const stopListening = whenAborted(signal, () => {
        leave();
        reject(new AbortError());
      });
      if (timeout !== undefined) stopTimer = setLongTimeout(() => { leave(); resolve(null); }, timeout);
    });
  }

  /** The first waiter, or undefined; the caller wakes it after deciding what to hand over. */
  first(): Waiter<D, V> | undefined {
    return this.#queue[0];
  }

  wakeAll(value: V): number {
    const all = [...this.#queue];
    for (const w of all) w.wake(value);
    return all.length;
  }

  get size(): number {
    return this.#queue.length;
  }
}

interface BlockingOptions {
  block?: boolean;
  blocking?: boolean;
  timeout?: number;
}

/** Python's (block, timeout) pair from an options object; timeout 0 means "try once". */
export function blockingOf(options: unknown, key: 'block' | 'blocking'): { block: boolean; timeout: number | undefined } {
  const opts = checkOptions<BlockingOptions>(options, 'options');
  const flag = opts[key];
  if (flag !== undefined && typeof flag !== 'boolean') throw new InvalidArgumentError(`${key} must be a boolean`);
  const timeout = checkTimeout(opts.timeout);
  return { block: flag !== false && timeout !== 0, timeout };
}
