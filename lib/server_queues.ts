/** The queues a Manager server holds in its memory (queue.Queue semantics); kernel queues are in manager_kernel.ts. */
import { Empty, Full, ShutDown, ValueError } from './errors';
import { blockingOf, Caller, CallerAware, Waiters } from './server_waiters';
import { checkBoolean, checkInteger } from './validate';

/** What a parked getter or putter is woken with when the queue shuts down. */
const SHUT = Symbol('shut down');

/** queue.Queue: items in a FIFO; a full queue parks putters, an empty one parks getters, hand-off both ways. */
class BoundedQueue extends CallerAware {
  readonly #maxsize: number;
  #items: unknown[] = [];
  #head = 0;
  readonly #getters = new Waiters<undefined, { item: unknown } | typeof SHUT>();
  readonly #putters = new Waiters<unknown, true | typeof SHUT>();
  #shut = false;

  constructor(maxsize: unknown = 0) {
    super();
    this.#maxsize = checkInteger(maxsize, 'maxsize', 0, Number.MAX_SAFE_INTEGER) || Infinity;
  }

  async put(caller: Caller, item: unknown, options?: unknown): Promise<void> {
    const { block, timeout } = blockingOf(options, 'block');
    if (this.#shut) throw new ShutDown();
    if (this.qsize() < this.#maxsize) return this.#accept(item);
    if (!block) throw new Full();
    const put = await this.#putters.wait(caller, timeout, item);
    if (put === SHUT) throw new ShutDown();
    if (put === null) throw new Full();
  }

  putNowait(caller: Caller, item: unknown): Promise<void> {
    return this.put(caller, item, { block: false });
  }

  async get(caller: Caller, options?: unknown): Promise<unknown> {
    const { block, timeout } = blockingOf(options, 'block');
    if (this.qsize() > 0) return this.#take();
    if (this.#shut) throw new ShutDown();
    if (!block) throw new Empty();
    const got = await this.#getters.wait(caller, timeout, undefined);
    if (got === SHUT) throw new ShutDown();
    if (got === null) throw new Empty();
    return got.item;
  }

  getNowait(caller: Caller): Promise<unknown> {
    return this.get(caller, { block: false });
  }

  #accept(item: unknown): void {
    this.onPut();
    const getter = this.#getters.first();
    if (getter) getter.wake({ item });
    else this.#items.push(item);
  }

  #take(): unknown {
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    const putter = this.#putters.first(); // room was made: the oldest parked item goes in now
    if (putter) {
      this.#accept(putter.data);
      putter.wake(true);
    }
    return item;
  }

  /** Python 3.13's Queue.shutdown(): see Queue.shutdown() (queues.ts). */
  shutdown(_caller: Caller, immediate?: unknown): void {
    const now = checkBoolean(immediate ?? false, 'immediate', false);
    this.#shut = true;
    if (now) {
      const removed = this.qsize();
      this.#items = [];
      this.#head = 0;
      for (let i = 0; i < removed; i++) this.onRemoved();
    }
    this.#getters.wakeAll(SHUT);
    this.#putters.wakeAll(SHUT);
  }

  protected onRemoved(): void {
    // JoinableQueue counts the item done
  }

  protected onPut(): void {
    // JoinableQueue counts unfinished tasks here
  }

  qsize(): number {
    return this.#items.length - this.#head;
  }

  empty(): boolean {
    return this.qsize() === 0;
  }

  full(): boolean {
    return this.qsize() >= this.#maxsize;
  }
}

export class QueueObject extends BoundedQueue {}

export class JoinableQueueObject extends BoundedQueue {
  #unfinished = 0;
  readonly #joiners = new Waiters();

  protected override onPut(): void {
    this.#unfinished++;
  }

  protected override onRemoved(): void {
    this.taskDone();
  }

  taskDone(): void {
    if (this.#unfinished <= 0) throw new ValueError('task_done() called too many times');
    if (--this.#unfinished === 0) this.#joiners.wakeAll(true);
  }

  async join(caller: Caller): Promise<void> {
    if (this.#unfinished > 0) await this.#joiners.wait(caller, undefined, undefined);
  }
}
