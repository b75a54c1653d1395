/** Proxies of a manager's Queue and JoinableQueue. */
import { Full } from './errors';
import { OpenedQueue, openKernelQueue } from './manager_kernel_open';
import { Op } from './manager_protocol';
import { BaseProxy, QueueOptions, travelling } from './manager_proxy';
import { encodeFrame, frameBytes } from './pipe';
import type { JoinableQueue, Queue } from './queues';

/** Closes the local queue a proxy opened (a kernel queue), once that proxy is collected. */
const openedQueues = new FinalizationRegistry<Queue>((queue) => queue.close());

/**
 * A manager Queue. On the server's host it is a queue in the kernel (manager_kernel.ts): `get` reads the next item
 * from its pipe here; `put` takes a slot of a bounded queue here and writes a small item into the pipe while it
 * has room, else sends the item to the server, which writes it there — no round trip either way. Elsewhere put and
 * get wait in the server (never blocking it). Empty and Full as with a local Queue.
 */
export class QueueProxy<T = unknown> extends BaseProxy {
  #local: OpenedQueue | null | undefined;
  /** Items this proxy sent through the server (kernel queue). */
  #sentToServer = 0;
  /** Set while items this proxy sent through the server may not be in the pipe yet: the next ones follow them. */
  #draining: Promise<void> | null = null;

  /** The kernel queue, opened here on first use; null when every call goes through the server. */
  protected get _local(): OpenedQueue | null {
    if (this.#local === undefined) {
      this.#local = openKernelQueue(this._token, this._connection);
      if (this.#local) openedQueues.register(this, this.#local.queue, this);
    }
    return this.#local;
  }

  /**
   * Resolves once the item is in the pipe, or on its way to the server, which writes it there (it survives this
   * process's exit from then on).
   */
  put(item: T, options?: QueueOptions): Promise<void> {
    if (!this._local) return this._callWaiting('put', [item], options) as Promise<void>;
    let opts: Record<string, unknown> = {};
    let signal: AbortSignal | undefined;
    try {
      if (options !== undefined) [opts, signal] = travelling(options, 'put options');
    } catch (err) {
      return Promise.reject(err);
    }
    return this._here(signal, async ({ queue, slots }, until) => {
      const frame = encodeFrame(item);
      if (slots) {
        const taken = opts.block === false || opts.timeout === 0 ? slots.acquire({ blocking: false })
          : slots.acquire({ timeout: opts.timeout as number | undefined, signal: until });
        if (!(await taken)) throw new Full();
      }
      queue._refuseIfShut(slots !== null); // checked after the wait: a shutdown wakes it
      if (!this.#draining && queue._putFrameNow(frame)) return;
      try {
        const delivered = this._connection.deliver([Op.PutFrame, this._token.id, frameBytes(frame)]);
        // Counted before it is written: a drain that ended while this frame waits for room in the connection would
        // let the next put into the pipe ahead of it.
        this.#sentToServer++;
        this.#draining ??= this.#drain();
        await delivered;
      } catch (err) {
        slots?.release();
        throw err;
      }
    });
  }

  /** Waits until the server wrote every item this proxy sent it, then lets puts go straight to the pipe again. */
  async #drain(): Promise<void> {
    for (;;) {
      const sent = this.#sentToServer;
      try {
        // Not holding the process: its puts resolved, the server has the items; only later puts need the answer.
        await this._callMethod('awaitWritten', [], undefined, false);
      } catch {
        return; // the connection is gone: so are the puts that would follow
      }
      if (sent === this.#sentToServer) break;
    }
    this.#draining = null;
  }

  get(options?: QueueOptions): Promise<T> {
    if (!this._local) return this._callWaiting('get', [], options) as Promise<T>;
    if (options === undefined) return this._here(undefined, ({ queue }, until) => queue._get(until) as Promise<T>);
    let opts: Record<string, unknown>;
    let signal: AbortSignal | undefined;
    try {
      [opts, signal] = travelling(options, 'get options');
    } catch (err) {
      return Promise.reject(err);
    }
    // Never getNowait() here: a frame another process is still writing would block this event loop.
    const timeout = opts.block === false ? 0 : opts.timeout as number | undefined;
    return this._here(signal, ({ queue }, until) => queue.get({ timeout, signal: until }) as Promise<T>);
  }

  putNowait(item: T): Promise<void> {
    return this._local ? this.put(item, { block: false }) : this._callMethod('putNowait', [item]) as Promise<void>;
  }

  getNowait(): Promise<T> {
    return this._local ? this.get({ block: false }) : this._callMethod('getNowait') as Promise<T>;
  }

  /** Queue.shutdown(immediate) in the manager: every process using the queue sees it (see Queue.shutdown()). */
  shutdown(immediate = false): Promise<void> {
    return this._callMethod('shutdown', [immediate]) as Promise<void>;
  }

  /** Exact: the server counts the items in the pipe and those waiting to go in. */
  qsize(): Promise<number> {
    return this._callMethod('qsize') as Promise<number>;
  }

  empty(): Promise<boolean> {
    return this._callMethod('empty') as Promise<boolean>;
  }

  full(): Promise<boolean> {
    return this._callMethod('full') as Promise<boolean>;
  }

  /**
   * Runs `here` on the opened kernel queue once the manager is known to be up; `until` ends its waits like `signal`
   * and when the connection to the manager closes.
   */
  protected _here<R>(signal: AbortSignal | undefined,
                     here: (opened: OpenedQueue, until: AbortSignal) => R | Promise<R>): Promise<R> {
    const opened = this._local!;
    return this._connection.untilClosed(signal, (until) => here(opened, until));
  }

  /** Runs `here` on the kernel queue, or calls `method` in the server when this process has none. */
  protected _either<R>(method: string, here: (opened: OpenedQueue, until: AbortSignal) => R | Promise<R>): Promise<R> {
    return this._local ? this._here(undefined, here) : this._callMethod(method) as Promise<R>;
  }

  override [Symbol.dispose](): void {
    super[Symbol.dispose]();
    if (!this.#local) return;
    openedQueues.unregister(this);
    this.#local.queue.close();
  }
}

export class JoinableQueueProxy<T = unknown> extends QueueProxy<T> {
  taskDone(): Promise<void> {
    return this._either('taskDone', ({ queue }, until) => (queue as JoinableQueue)._taskDone(until));
  }

  join(): Promise<void> {
    return this._either('join', ({ queue }, until) => (queue as JoinableQueue)._join(until));
  }
}
