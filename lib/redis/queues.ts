/**
 * Queue and JoinableQueue on Redis, with the methods of the Manager's proxies.
 *
 * An item is RPUSHed by its producer (so one producer's items stay in order) with an id: the producer (random per
 * process) and its sequence number. A consumer takes it by moving it, atomically, into its own in-flight list
 * (LMOVE, or BLMOVE when it must wait). A Queue's item is acknowledged — removed from the in-flight list — as
 * part of the get; a JoinableQueue's stays in flight until the consumer's taskDone(). Each consumer process keeps
 * a lease while it waits or has items in flight; when the lease ends (it died, or was cut off longer than the
 * lease) the next get by anyone moves its in-flight items back to the head of the queue, marked redelivered.
 * So a JoinableQueue delivers each item at least once — a duplicate carries the same `lastDelivery.id` — and a
 * Queue delivers an item to at most one get() that resolves (only a consumer that dies with the item can lose it).
 */
import { randomBytes } from 'node:crypto';
import { Empty, Full, ManagerError, ValueError } from '../errors';
import type { RedisConnection } from './client';
import { decodeValue, encodeValue } from './codec';
import { RedisProxy, registerProxyType } from './proxy';
import { checkAborted, sliceOf, waitingOf } from './wait';

export interface QueueOptions {
  block?: boolean;
  timeout?: number;
  signal?: AbortSignal;
}

/** Which item a get returned: its id (producer and sequence) and whether it had been delivered before. */
export interface Delivery {
  id: string;
  redelivered: boolean;
}

const HEADER_BYTES = 31; // 2 hex redeliveries + 28 hex id + '|'
/** This process as a producer: ids are unique across processes, and ordered within one. */
const producer = randomBytes(8).toString('hex');
let produced = 0;

/** What this process has to do with one queue: its consumer lease, and the items it holds in flight. */
class Consuming {
  /** Ids of items taken and not yet done (JoinableQueue), oldest first. */
  readonly inFlight: string[] = [];
  /** Gets under way. */
  waiting = 0;
  /** A take whose reply was lost may have moved an item to our in-flight list: the next take puts it back. */
  suspect = false;
  /** Ids of items a Queue's get returned whose acknowledgement did not reach Redis: the next take sends them. */
  readonly toAck: string[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly renew: () => Promise<unknown>, private readonly leaseMs: number,
              private readonly forget: () => void) {}

  /**
   * Keeps the consumer lease alive while a get waits or an item is in flight; forgets the queue when nothing of
   * it is left here (a process that runs for months uses many queues).
   */
  update(): void {
    const active = this.waiting > 0 || this.inFlight.length > 0;
    if (active && !this.#timer) {
      this.#timer = setInterval(() => void this.renew().catch(() => undefined), Math.max(1, Math.floor(this.leaseMs / 3))).unref();
    } else if (!active && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
    if (!active && !this.suspect && !this.toAck.length) this.forget();
  }
}

const consuming = new Map<string, Consuming>();

export class RedisQueueProxy<T = unknown> extends RedisProxy {
  #lastDelivery: Delivery | null = null;
  protected readonly hold: boolean = false;

  /** meta, items, this process's in-flight list, consumers, room, joined. */
  protected get _queueKeys(): string[] {
    return [...this._keys('meta', 'items'), this.#inflightPrefix + this._connection.processId,
      ...this._keys('consumers', 'room', 'joined')];
  }

  get #inflightPrefix(): string {
    return `${this._token.key}:inflight:`;
  }

  protected get _consuming(): Consuming {
    const identity = `${this._identity} ${this._connection.processId}`;
    let state = consuming.get(identity);
    if (!state) {
      const connection = this._connection;
      const keys = this._queueKeys;
      const made: Consuming = new Consuming(
        () => connection.script('q_renew', keys, [connection.processId, this._token.leaseMs]), this._token.leaseMs,
        () => { if (consuming.get(identity) === made) consuming.delete(identity); });
      consuming.set(identity, state = made);
    }
    return state;
  }

  /** The id of the item this proxy's latest get returned, and whether it was a redelivery (see the class). */
  get lastDelivery(): Delivery | null {
    return this.#lastDelivery;
  }

  /** Resolves once the item is in Redis. A full bounded queue waits for room (Full on timeout or block: false). */
  async put(item: T, options?: QueueOptions): Promise<void> {
    const waiting = waitingOf(options, 'block', 'put options');
    const id = producer + (++produced).toString(16).padStart(12, '0');
    const encoded = Buffer.concat([Buffer.from(`00${id}|`, 'latin1'), encodeValue(item, `${this._token.typeid}.put() arguments[0]`)]);
    const connection = this._connection;
    const keys = this._queueKeys;
    for (;;) {
      checkAborted(waiting.signal);
      if ((await connection.script<number>('q_put', keys, [encoded])) === 1) return;
      if (!waiting.block) throw new Full();
      const slice = sliceOf(waiting, -1, this._token.leaseMs);
      if (slice === 0) throw new Full();
      await connection.block('BLPOP', [keys[4]], slice, waiting.signal);
    }
  }

  putNowait(item: T): Promise<void> {
    return this.put(item, { block: false });
  }

  /** The next item; Empty on timeout or block: false. */
  async get(options?: QueueOptions): Promise<T> {
    const waiting = waitingOf(options, 'block', 'get options');
    const connection = this._connection;
    const keys = this._queueKeys;
    const state = this._consuming;
    state.waiting++;
    state.update();
    try {
      for (;;) {
        checkAborted(waiting.signal);
        const taken = await this.#take(connection, keys, state);
        if (taken[0]) return await this.#deliver(taken[0], state);
        if (!waiting.block) throw new Empty();
        const slice = sliceOf(waiting, taken[1], this._token.leaseMs);
        if (slice === 0) throw new Empty();
        const moved = await this.#blockingTake(connection, keys, slice, waiting.signal, state);
        if (moved) {
          const still = await connection.script<number>('q_took', keys, [moved, connection.processId, this._token.leaseMs]);
          if (still === 1) return await this.#deliver(moved, state);
          // Our lease had ended and the item went back to the queue for someone else: take another.
        }
        checkAborted(waiting.signal);
      }
    } finally {
      state.waiting--;
      state.update();
    }
  }

  /** Moves the next item, if any, to this process's in-flight list; acknowledges and recovers on the way. */
  async #take(connection: RedisConnection, keys: string[], state: Consuming): Promise<[Buffer | null, number]> {
    const recover = state.suspect ? '1' : '0';
    const acks = state.toAck.splice(0);
    state.suspect = false;
    try {
      return await connection.script<[Buffer | null, number]>('q_take', keys, [connection.processId,
        this._token.leaseMs, this.#inflightPrefix, recover, acks.length, ...acks, ...state.inFlight], true);
    } catch (err) {
      state.toAck.push(...acks);
      if ((err as { code?: string }).code === 'ERR_MP_MANAGER_CONNECTION') state.suspect = true; // it may have run
      else if (recover === '1') state.suspect = true;
      throw err;
    }
  }

  async #blockingTake(connection: RedisConnection, keys: string[], slice: number, signal: AbortSignal | undefined,
                      state: Consuming): Promise<Buffer | null> {
    try {
      return await connection.block<Buffer>('BLMOVE', [keys[1], keys[2], 'LEFT', 'RIGHT'], slice, signal);
    } catch (err) {
      if ((err as { suspect?: boolean }).suspect) state.suspect = true;
      throw err;
    }
  }

  async #deliver(raw: Buffer, state: Consuming): Promise<T> {
    const id = raw.toString('latin1', 2, HEADER_BYTES - 1);
    if (this.hold) {
      state.inFlight.push(id);
      state.update();
    } else {
      // Sent before get resolves, without waiting for the answer: it reaches Redis before this process's next
      // command, and is sent again with the next take if it fails.
      this._connection.script('q_ack', this._queueKeys, [id]).catch(() => this._consuming.toAck.push(id));
    }
    this.#lastDelivery = { id, redelivered: raw.toString('latin1', 0, 2) !== '00' };
    return await decodeValue(raw.subarray(HEADER_BYTES)) as T;
  }

  getNowait(): Promise<T> {
    return this.get({ block: false });
  }

  /** Items waiting in the queue (not those in flight). */
  async qsize(): Promise<number> {
    return (await this.#state())[0];
  }

  async empty(): Promise<boolean> {
    return (await this.qsize()) === 0;
  }

  async full(): Promise<boolean> {
    const [size, maxsize] = await this.#state();
    return maxsize > 0 && size >= maxsize;
  }

  /** [items waiting, maxsize, unfinished tasks]. */
  #state(): Promise<[number, number, number]> {
    return this._connection.script('q_state', this._queueKeys, []);
  }

  protected _unfinished(): Promise<number> {
    return this.#state().then((s) => s[2]);
  }
}

export class RedisJoinableQueueProxy<T = unknown> extends RedisQueueProxy<T> {
  protected override readonly hold: boolean = true;

  /**
   * The oldest item this process took is done: it leaves the in-flight list. ValueError when this process holds
   * none; ERR_MP_REDIS_LEASE_LOST when it was redelivered meanwhile (this process's lease had ended).
   */
  async taskDone(): Promise<void> {
    const state = this._consuming;
    if (!state.inFlight.length) throw new ValueError('task_done() called too many times');
    const done = await this._connection.script<number>('q_done', this._queueKeys, []);
    state.inFlight.shift();
    state.update();
    if (done === 0) {
      throw new ManagerError('ERR_MP_REDIS_LEASE_LOST', 'this item was redelivered to another consumer: this ' +
        "process's lease ended while it held it (paused or cut off longer than the lease)");
    }
  }

  /** Resolves once every item put has been taken and marked done. */
  async join(): Promise<void> {
    const connection = this._connection;
    const joined = this._queueKeys[5];
    const waiting = waitingOf(undefined, null, 'join options');
    while ((await this._unfinished()) > 0) {
      await connection.block('BLMOVE', [joined, joined, 'LEFT', 'LEFT'], sliceOf(waiting, -1, this._token.leaseMs));
    }
  }
}

registerProxyType('Queue', RedisQueueProxy);
registerProxyType('JoinableQueue', RedisJoinableQueueProxy);
