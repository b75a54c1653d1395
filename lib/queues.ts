/**
 * SimpleQueue, Queue and JoinableQueue across processes (CPython's queues.py). Where the OS offers what it needs
 * (Linux), a new queue is kill-safe: its rules are in kill_safe_queue.ts, and this class only validates, runs their
 * steps and hands the queue to children. Elsewhere, and for a Manager's kernel queues, it is the pipe queue below,
 * on one OS pipe per queue (POSIX: pipe.ts; Windows: a named pipe's handles, pipe_win.ts).
 *
 * A put writes one whole frame into the pipe and then counts it in the `items` semaphore; a get first claims one
 * counted frame (that is all it waits for), then takes the read lock just long enough to read exactly that frame.
 * Writers hold the write lock while they write, so frames never interleave. `slots`, a BoundedSemaphore, bounds a
 * queue with a maxsize. There is no feeder thread: a put resolves once its frame is in the pipe, so an item whose
 * put resolved survives its producer's exit.
 *
 * Frames up to PIPE_BUF bytes go in with one atomic write and are counted after it. A larger frame cannot go in at
 * once (the pipe holds less than the frame, or a reader must drain while it is written), so its writer counts it as
 * soon as its first bytes are in, then writes it to the end, while a reader reads it as it comes.
 *
 * Each operation is written once, as a generator of the waits it needs (`Wait`); `runSync` performs those waits
 * by blocking the thread, `runAsync` through the event loop or the addon's wait hub. A put or get without
 * options that can finish at once (the common case) takes a fast path that does the same steps without a
 * generator (#putNow, #getNow).
 */
import { inspect } from 'node:util';
import { Empty, Full, InvalidArgumentError, ShutDown, ValueError } from './errors';
import { native } from './native';
import { isShut, isShutBaton, markShut, noItems, openState, queuedItems, SHUT_BATON } from './queue_shutdown';
import { decodePayload, decodeSmallFrame, encodeFrame, encodeNumberNow, Frame, FRAME_HEAD_BYTES, FRAME_HEADER_BYTES, FramePipe,
  PIPE_ATOMIC_BYTES } from './pipe';
import { WinFramePipe } from './pipe_win';
import {
  adoptFds, assertSpawning, Lent, reduce, Reduced, registerRebuilder, SpawningContext, spawningContext,
} from './reduction';
import { Claimed, createKillSafeQueueParts, KillSafeQueue, KillSafeQueueParts, NOT_NOW, openQueueWords, QueueChannel } from './kill_safe_queue';
import { runAsync, runSync, spinForLock, Steps, Wait } from './queue_steps';
import { isKillSafeDescriptor, recoveryAvailable } from './robust_lock';
import { defineInheritanceGuard, NO_RECOVERY, SEM_VALUE_MAX, SemaphoreHandle, SemLock } from './semlock';
import { BoundedSemaphore, Condition, Lock, Section, Semaphore } from './synchronize';
import { REBUILD_KILL_SAFE_QUEUE, REBUILD_QUEUE } from './rebuilder_ids';
import { deadlineOf } from './timeouts';
import { abortReason, checkBoolean, checkInteger, checkOptions, checkSignal, checkTimeout } from './validate';

export interface GetOptions {
  /** Milliseconds to wait at most for an item; undefined waits forever. Empty when it passes. */
  timeout?: number;
  /** Rejects the pending call with an AbortError (nothing is taken from or added to the queue). */
  signal?: AbortSignal;
}
export type PutOptions = GetOptions;

export interface GetSyncOptions {
  /** false: take an item only if one is there now (getNowait). Default true. */
  block?: boolean;
  timeout?: number;
}
export type PutSyncOptions = GetSyncOptions;

const QUEUE_CLOSED = 'ERR_MP_QUEUE_CLOSED';

const RESOLVED: Promise<void> = Promise.resolve();
/** Where a fast get reads a frame head: decoded before anything else runs, so one serves every queue. */
const scratchHead = Buffer.alloc(FRAME_HEAD_BYTES);

/** Releases a queue's read or write lock, which this process holds. */
function unlock(lock: SemaphoreHandle): void {
  if (!lock.post(1)) throw new ValueError('semaphore or lock released too many times');
}


/** A queue's storage: a POSIX pipe's descriptors (pipe.ts) or a Windows named pipe's handles (pipe_win.ts). */
type QueuePipe = FramePipe | WinFramePipe;

/**
 * What a child needs to use `pipe`: descriptors in its stdio array (POSIX: the pipe's, then the bulk socket's),
 * handles duplicated into it (Windows); for another thread, tickets for duplicates of them.
 */
function passPipe(pipe: QueuePipe, ctx: SpawningContext): (number | string | Lent)[] {
  if (pipe instanceof WinFramePipe) return pipe.duplicateInto(ctx);
  return pipe.fds.map((fd) => ctx.passFd(fd));
}

/** A queue collected without close(): its descriptors close then (its semaphores close as they are collected). */
const collected = new FinalizationRegistry<QueuePipe | QueueChannel>((pipe) => pipe.close());

interface QueueParts {
  pipe: QueuePipe;
  rlock: Lock;
  wlock: Lock;
  items: Semaphore;
  slots: BoundedSemaphore | null;
  /** shutdown()'s state (queue_shutdown.ts); a new one when not given */
  shut?: Semaphore;
}

/** Closes what a queue holds in this process (its pipe is closed apart). */
function closeParts(parts: SemLock[]): void {
  for (const part of parts) part._close('Queue');
}

/** Where the OS offers kill-safe locks and message sockets (Linux), a new queue is kill-safe (kill_safe_queue.ts). */
export const killSafeQueues = recoveryAvailable && native.platform !== 'win32';

/** A kill-safe queue's parts, with what its rules need. */
type KillSafeParts = KillSafeQueueParts & { maxsize: number };

function isKillSafe(parts: QueueParts | KillSafeParts): parts is KillSafeParts {
  return 'channel' in parts;
}

function createParts(maxsize: number): QueueParts | KillSafeParts {
  if (killSafeQueues) return { ...createKillSafeQueueParts(() => new Lock()), maxsize };
  return createPipeParts(maxsize);
}

function createPipeParts(maxsize: number): QueueParts {
  // OS semaphores (recovery: false): a queue is made kill-safe as a whole or not at all (issue #16 §2)
  const locks = { rlock: new Lock(NO_RECOVERY), wlock: new Lock(NO_RECOVERY), items: new Semaphore(0, NO_RECOVERY),
    slots: maxsize > 0 ? new BoundedSemaphore(maxsize, NO_RECOVERY) : null, shut: openState() };
  // the pipe last: nothing after it can fail and leak its descriptors (handles)
  return { ...locks, pipe: native.platform === 'win32' ? WinFramePipe.create() : FramePipe.create() };
}

/**
 * An unbounded queue: put, get and nothing else in CPython; here it shares Queue's machinery, so it waits with
 * timeouts and signals too.
 */
export class SimpleQueue<T = unknown> {
  readonly #pipe: QueuePipe;
  readonly #rlock: Lock;
  readonly #wlock: Lock;
  /** Frames in the pipe that no reader has claimed yet. */
  readonly #items: Semaphore;
  /** Room left in a bounded queue; null when unbounded. */
  readonly #slots: BoundedSemaphore | null;
  readonly #shut: Semaphore;
  readonly #shutSem: SemaphoreHandle;
  // The semaphores themselves, for the hot paths: one class, so every call site stays monomorphic.
  readonly #itemsSem: SemaphoreHandle;
  readonly #rlockSem: SemaphoreHandle;
  readonly #wlockSem: SemaphoreHandle;
  readonly #slotsSem: SemaphoreHandle | null;
  readonly #slotsMax: number | undefined;
  /** A kill-safe queue's rules (kill_safe_queue.ts); then none of the pipe queue's fields above is used. */
  readonly #killSafe: KillSafeQueue | undefined;
  /** Aborts this process's pending waits when close() is called. */
  readonly #closing = new AbortController();
  #closed = false;
  /** Whether this process ever put or got through it (empty() on a queue closed unused is true, as in Python). */
  #used = false;
  #running = 0;
  #released = false;

  constructor(/** @internal */ parts?: QueueParts | KillSafeParts) {
    const given = parts ?? createParts(0);
    if (isKillSafe(given)) {
      this.#killSafe = new KillSafeQueue(given, given.maxsize, this instanceof JoinableQueue);
      this.#pipe = this.#rlock = this.#wlock = this.#items = this.#shut = undefined as never;
      this.#shutSem = this.#itemsSem = this.#rlockSem = this.#wlockSem = undefined as never;
      this.#slots = this.#slotsSem = this.#slotsMax = undefined as never;
      collected.register(this, given.channel, this);
      defineInheritanceGuard(this);
      return;
    }
    const own = given;
    this.#pipe = own.pipe;
    this.#rlock = own.rlock;
    this.#wlock = own.wlock;
    this.#items = own.items;
    this.#slots = own.slots;
    this.#shut = own.shut ?? openState();
    this.#shutSem = this.#shut._os.sem;
    this.#itemsSem = own.items._os.sem;
    this.#rlockSem = own.rlock._os.sem;
    this.#wlockSem = own.wlock._os.sem;
    this.#slotsSem = own.slots?._os.sem ?? null;
    this.#slotsMax = own.slots?._maxvalue;
    collected.register(this, this.#pipe, this);
    defineInheritanceGuard(this);
  }

  /** Resolves once the item is in the pipe; Full if a bounded queue has no room before `timeout`. */
  put(item: T, options?: PutOptions): Promise<void> {
    const killSafe = this.#killSafe;
    if (killSafe) return this.#putKillSafe(killSafe, item, options);
    if (options !== undefined || this.#closed) return this.#async(options, (block) => this.#putSteps(encodeFrame(item), block));
    // The common call: no options, and room at once. It needs no generator, no promise of its own.
    let frame: Frame;
    try {
      if (typeof item === 'number' && this.#putNow(encodeNumberNow(item))) return RESOLVED;
      frame = encodeFrame(item);
      if (typeof item !== 'number' && this.#putNow(frame)) return RESOLVED;
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#async(undefined, (block) => this.#putSteps(frame, block));
  }

  /** put() of a kill-safe queue: without options, and with room now, no generator and no promise of its own. */
  #putKillSafe(killSafe: KillSafeQueue, item: T, options: PutOptions | undefined): Promise<void> {
    if (options !== undefined || this.#closed) return this.#async(options, (block) => killSafe.putSteps(encodeFrame(item), block));
    let frame: Frame;
    try {
      this.#used = true;
      if (typeof item === 'number' && killSafe.putNow(item)) return RESOLVED;
      frame = encodeFrame(item);
      if (typeof item !== 'number' && killSafe.putNow(frame)) return RESOLVED;
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#async(undefined, (block) => killSafe.putSteps(frame, block));
  }

  /**
   * @internal Puts a frame encoded in another process, as its bytes: a Manager's kernel queue writes the frames its
   * clients send it (manager_kernel.ts).
   */
  _putFrame(bytes: Uint8Array): Promise<void> {
    const killSafe = this.#killSafe;
    if (killSafe) return this.#async(undefined, (block) => killSafe.putSteps({ chunks: [bytes], length: bytes.length }, block));
    return this.#async(undefined, (block) => this.#putSteps({ chunks: [bytes], length: bytes.length }, block));
  }

  /**
   * @internal Writes a small frame now if the pipe has room and no other writer holds it, taking no slot (the
   * caller took one); false, with nothing done, otherwise. A Manager kernel queue's proxy puts this way.
   */
  _putFrameNow(frame: Frame): boolean {
    if (this.#killSafe || frame.length > PIPE_ATOMIC_BYTES) return false; // (a Manager's kernel queues are pipe queues)
    const wlock = this.#wlockSem;
    if (!wlock.tryWait()) return false;
    let written: boolean;
    try {
      written = this.#pipe.push(frame, 0) !== 0; // all or nothing: within the pipe's atomic size
    } finally {
      unlock(wlock); // before the count: see #putSteps
    }
    if (written) this._commit();
    return written;
  }

  /** Blocks this thread until the item is in the pipe; with `block: false` or a timeout, Full when there is no room. */
  putSync(item: T, options?: PutSyncOptions): void {
    const killSafe = this.#killSafe;
    if (killSafe) {
      if (options === undefined && !this.#closed) {
        this.#used = true;
        if (typeof item === 'number' && killSafe.putNow(item)) return;
        const frame = encodeFrame(item);
        if (typeof item === 'number' || !killSafe.putNow(frame)) this.#sync(undefined, (block) => killSafe.putSteps(frame, block));
        return;
      }
      return this.#sync(options, (block) => killSafe.putSteps(encodeFrame(item), block));
    }
    if (options === undefined && !this.#closed) {
      if (typeof item === 'number' && this.#putNow(encodeNumberNow(item))) return;
      const frame = encodeFrame(item);
      if (typeof item === 'number' || !this.#putNow(frame)) this.#sync(undefined, (block) => this.#putSteps(frame, block));
      return;
    }
    this.#sync(options, (block) => this.#putSteps(encodeFrame(item), block));
  }

  /** Resolves with the next item; Empty if none comes before `timeout`. */
  get(options?: GetOptions): Promise<T> {
    const killSafe = this.#killSafe;
    if (killSafe) {
      if (options !== undefined || this.#closed) return this.#async(options, (block) => killSafe.getSteps(block)) as Promise<T>;
      try {
        this.#used = true;
        const item = killSafe.getNow();
        if (item instanceof Claimed) return this.#finish(item.steps) as Promise<T>;
        if (item !== NOT_NOW) return Promise.resolve(item as T);
      } catch (err) {
        return Promise.reject(err);
      }
      return this.#async(undefined, (block) => killSafe.getSteps(block)) as Promise<T>;
    }
    return options === undefined ? this._get(undefined) : this.#async(options, (block) => this.#getSteps(block)) as Promise<T>;
  }

  /** @internal get() whose wait, if it has to wait, `signal` ends (a Manager proxy's, bound to its connection). */
  _get(signal: AbortSignal | undefined): Promise<T> {
    if (!this.#closed) {
      try {
        const item = this.#getNow();
        if (item instanceof Claimed) return this.#finish(item.steps) as Promise<T>;
        if (item !== NOT_NOW) return Promise.resolve(item as T);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.#async(signal && { signal }, (block) => this.#getSteps(block)) as Promise<T>;
  }

  /** Blocks this thread until an item comes; with `block: false` or a timeout, Empty when there is none. */
  getSync(options?: GetSyncOptions): T {
    const killSafe = this.#killSafe;
    if (killSafe) {
      if (options === undefined && !this.#closed) {
        this.#used = true;
        const item = killSafe.getNow();
        if (item instanceof Claimed) return this.#sync(undefined, () => item.steps) as T;
        if (item !== NOT_NOW) return item as T;
      }
      return this.#sync(options, (block) => killSafe.getSteps(block)) as T;
    }
    if (options === undefined && !this.#closed) {
      const item = this.#getNow();
      if (item instanceof Claimed) return this.#sync(undefined, () => item.steps) as T;
      if (item !== NOT_NOW) return item as T;
    }
    return this.#sync(options, (block) => this.#getSteps(block)) as T;
  }

  /** True when no item is waiting to be claimed. As in Python, another process may change that at once. */
  empty(): boolean {
    if (this.#closed && !this.#used) return true; // as in Python: a queue closed unused has nothing to report
    this.#checkOpen();
    if (this.#killSafe) return this.#killSafe.empty();
    return noItems(this.#itemsSem, isShut(this.#shutSem));
  }

  /**
   * This process will use the queue no more: new calls throw, pending waits reject (with the same ValueError),
   * and its descriptors and semaphores close once operations already moving a frame finish (the names it created
   * go once no child started with it lives). Other processes are not affected. Also `using queue = new Queue()`.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort(this.#closedError());
    this.#releaseIfIdle();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Yields items as they come, until the queue is closed in this process. */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (;;) {
      try {
        yield await this.get();
      } catch (err) {
        if ((err as { code?: string }).code === QUEUE_CLOSED) return;
        throw err;
      }
    }
  }

  // --- the fast paths -------------------------------------------------------------------------------------------

  /**
   * Puts a frame that goes in with one atomic write, if that can happen now without waiting for anything: room in
   * a bounded queue, the write lock, room in the pipe. False (nothing done) otherwise; #putSteps then waits.
   */
  #putNow(frame: Frame): boolean {
    this.#used = true;
    this.#refuseIfShut();
    if (frame.length > PIPE_ATOMIC_BYTES) return false;
    const slots = this.#slotsSem;
    if (slots && !slots.tryWait()) return false;
    // A shutdown since the check above may have posted this slot as its putters' baton: keep it, and a putter
    // blocked in another process is never woken.
    if (slots) this._refuseIfShut(true);
    if (this._putFrameNow(frame)) return true;
    this.#releaseSlot();
    return false;
  }

  /**
   * Takes an item that is there now and is small enough to be in one frame head: claimed, read and decoded without
   * any wait. NOT_NOW when there is none (nothing done), and then #getSteps waits; a claimed frame that is not
   * whole in the pipe yet is finished by #readClaimed.
   */
  #getNow(): unknown {
    this.#used = true;
    if (!this.#itemsSem.tryWait()) return NOT_NOW;
    // From here this process owns the next frame in the pipe and reads it whatever happens.
    if (!this.#rlockSem.tryWait()) return new Claimed(this.#readClaimed(false));
    let got: number;
    const head = scratchHead;
    try {
      got = this.#pipe.fill(head, 0);
    } catch (err) {
      unlock(this.#rlockSem);
      throw err;
    }
    if (got === FRAME_HEAD_BYTES && head.readUInt32BE(0) <= FRAME_HEAD_BYTES - FRAME_HEADER_BYTES) {
      unlock(this.#rlockSem);
      this.#releaseSlot();
      // Nothing else has run since the read, so `head` is still this frame's; decoding keeps nothing of it.
      const item = decodeSmallFrame(head);
      if (isShutBaton(item) && isShut(this.#shutSem)) this.#passBaton();
      return item;
    }
    // The rest of this frame is yet to come, or it is a large one: finished with a head of its own.
    return new Claimed(this.#readClaimed(true, head.subarray(0, got)));
  }

  /** A get took an item: gives back its room in a bounded queue. */
  #releaseSlot(): void {
    const slots = this.#slotsSem;
    // A shut-down queue's putters passed a baton count around (queue_shutdown.ts): one more than the room it has.
    if (slots && !slots.post(this.#slotsMax) && !isShut(this.#shutSem)) {
      throw new ValueError('semaphore or lock released too many times');
    }
  }

  // --- the two operations -------------------------------------------------------------------------------------

  /** `baton`: the baton frame of a shut-down queue (queue_shutdown.ts), which takes no slot and is not refused. */
  *#putSteps(frame: Frame, block: boolean, baton = false): Steps<void> {
    const slots = baton ? null : this.#slotsSem;
    if (!baton) this.#refuseIfShut();
    const hasSlot = !slots || slots.tryWait();
    if (!hasSlot) this.#refuseIfShut(); // a full queue shut down: ShutDown rather than a wait for room
    if (!hasSlot && !(block && (yield { sem: slots, bounded: true }))) throw new Full();
    let committed = baton; // (no slot to give back)
    try {
      if (!baton) this.#refuseIfShut(); // it may have shut down while this put waited for room
      // Another writer holds the write lock while its frame goes in: microseconds for a small frame, as long as
      // readers take to make room for a large one. Waiting for it is waiting for room: a put that gives up meanwhile
      // has written nothing. One that must not wait tries for about as long as a small write takes (CPython's
      // put_nowait never waits for it: its feeder thread does).
      const wlock = this.#wlockSem;
      const pipe = this.#pipe;
      let locked = false;
      try {
        let at: number;
        for (;;) {
          if (!wlock.tryWait() && !(block ? (yield { sem: wlock, bounded: true, lock: true }) : spinForLock(wlock))) {
            throw new Full();
          }
          locked = true;
          if (!baton) this.#refuseIfShut();
          if ((at = pipe.push(frame, 0)) !== 0) break;
          // No room, and nothing of this frame written: wait for room without the lock, so that a producer killed
          // while it waits holds nothing the others need (issue #16 §2).
          locked = false;
          unlock(wlock);
          yield* this.#waitForRoom(block);
        }
        // A small frame is whole now (one atomic write): other writers may go on before it is counted, so that a
        // death between the two steps costs a late count (a frame delivered one get late) rather than a write lock
        // held forever. A large one has begun, and is counted at once: the reader it wakes drains the pipe while
        // the rest is written.
        if (at === frame.length) {
          locked = false;
          unlock(wlock);
        }
        committed = true;
        if (baton) this.#itemsSem.post(); // not a task of a JoinableQueue
        else this._commit();
        while (at < frame.length) {
          yield { ready: pipe instanceof FramePipe ? pipe.writableAt(frame, at) : pipe.writable, bounded: false };
          at = pipe.push(frame, at);
        }
      } finally {
        if (locked) unlock(wlock);
      }
    } finally {
      if (!committed) this.#releaseSlot();
    }
  }

  /** Before a frame is committed, a put may wait for room in the pipe, or give up with Full. */
  *#waitForRoom(block: boolean): Steps<void> {
    if (!block || !(yield { ready: this.#pipe.writable, bounded: true })) throw new Full();
  }

  *#getSteps(block: boolean): Steps<unknown> {
    if (!this.#itemsSem.tryWait()) {
      if (isShut(this.#shutSem)) throw new ShutDown(); // nothing left, and nothing will come
      if (!(block && (yield { sem: this.#itemsSem, ready: this.#pipe.readable, bounded: true }))) throw new Empty();
    }
    // From here this process owns the next frame in the pipe and reads it whatever happens.
    return yield* this.#readClaimed(false);
  }

  /** Reads the frame this process claimed; `locked`: it holds the read lock already, and read `start` of the frame. */
  *#readClaimed(locked: boolean, start?: Buffer): Steps<unknown> {
    const rlock = this.#rlockSem;
    if (!locked && !rlock.tryWait()) yield { sem: rlock, bounded: false, lock: true };
    const pipe = this.#pipe;
    let payload: Buffer;
    let inBand: number;
    try {
      const head = Buffer.allocUnsafe(FRAME_HEAD_BYTES); // every frame has at least these bytes; most, no more
      yield* this.#readRest(head, pipe.fill(head, start ? start.copy(head) : 0));
      inBand = head.readUInt32BE(4);
      const length = head.readUInt32BE(0);
      const inHead = FRAME_HEAD_BYTES - FRAME_HEADER_BYTES;
      if (length <= inHead) {
        payload = head.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length);
      } else {
        payload = Buffer.allocUnsafe(length);
        head.copy(payload, 0, FRAME_HEADER_BYTES);
        const bulk = pipe instanceof FramePipe && pipe.isBulk(FRAME_HEADER_BYTES + length);
        yield* this.#readRest(payload, this.#fill(payload, inHead, bulk), bulk);
      }
    } finally {
      unlock(rlock);
    }
    this.#releaseSlot();
    const item = decodePayload(payload, inBand);
    if (isShutBaton(item) && isShut(this.#shutSem)) this.#passBaton();
    return item;
  }

  /**
   * Fills `buf` past `got` from the pipe (`bulk`: the bulk socket) whatever it takes: a frame this process claimed
   * comes whole, however slowly.
   */
  *#readRest(buf: Buffer, got: number, bulk = false): Steps<void> {
    const ready = bulk ? (this.#pipe as FramePipe).bulkReadable! : this.#pipe.readable;
    while (got < buf.length) {
      yield { ready, bounded: false };
      got = this.#fill(buf, got, bulk);
    }
  }

  /** pipe.fill(), from the bulk socket when `bulk` (POSIX pipes only have one). */
  #fill(buf: Buffer, got: number, bulk: boolean): number {
    return bulk ? (this.#pipe as FramePipe).fill(buf, got, true) : this.#pipe.fill(buf, got);
  }

  /** Makes a written frame visible to readers. JoinableQueue counts the task first. @internal */
  protected _commit(): void {
    this.#itemsSem.post();
  }

  // --- shutdown (queue_shutdown.ts) ------------------------------------------------------------------------------

  /** @internal Queue.shutdown(); the number of items an immediate one removed. */
  _shutDown(immediate: boolean): number {
    this.#checkOpen();
    if (this.#killSafe) {
      const baton = this.#killSafe.shutDown(immediate);
      if (baton) this.#async(undefined, () => baton).catch(() => undefined);
      return 0; // removed items count as done by themselves
    }
    const first = markShut(this.#shutSem);
    const removed = immediate ? this.#removeAll() : 0;
    if (first) {
      this.#putBaton(); // the getters' baton: after the items left
      this.#slotsSem?.post(this.#slotsMax); // the putters' (no room to give when none waits)
    }
    return removed;
  }

  /** @internal Whether the queue was shut down (by any process). */
  _isShut(): boolean {
    return this.#killSafe ? this.#killSafe.isShut() : isShut(this.#shutSem);
  }

  /** Reads and drops every item claimable now (immediate shutdown). */
  #removeAll(): number {
    let removed = 0;
    while (this.#itemsSem.tryWait()) {
      try {
        runSync(this.#readClaimed(false), undefined);
      } catch (err) {
        if (err instanceof ShutDown) break; // the baton: nothing is left
        throw err;
      }
      removed++;
    }
    return removed;
  }

  /**
   * Writes the getters' baton frame: at once unless the pipe is full or a writer holds it (then this process's event
   * loop finishes it, as with any put).
   */
  #putBaton(): void {
    this.#async(undefined, (block) => this.#putSteps(encodeFrame(SHUT_BATON), block, true)).catch(() => undefined);
  }

  /** A getter read the baton of a shut-down queue: it passes it on to the next one and gives up. */
  #passBaton(): never {
    this.#putBaton();
    throw new ShutDown();
  }

  #refuseIfShut(): void {
    if (isShut(this.#shutSem)) throw new ShutDown();
  }

  /**
   * @internal ShutDown if the queue was shut down, giving back the slot the caller took (a Manager kernel queue's
   * proxy puts past this queue, in manager_queue_proxies.ts).
   */
  _refuseIfShut(slotTaken: boolean): void {
    if (!isShut(this.#shutSem)) return;
    if (slotTaken) this.#releaseSlot();
    throw new ShutDown();
  }

  // --- running them -------------------------------------------------------------------------------------------

  #sync<R>(options: GetSyncOptions | undefined, steps: (block: boolean) => Steps<R>): R {
    const opts = checkOptions<GetSyncOptions>(options, 'options');
    const block = checkBoolean(opts.block, 'block', true);
    const timeout = checkTimeout(opts.timeout);
    this.#checkOpen();
    this.#used = true;
    const run = steps(block && timeout !== 0);
    this.#running++;
    try {
      return runSync(run, deadlineOf(timeout));
    } finally {
      this.#settled();
    }
  }

  /** Validates, then runs `steps` synchronously as far as they go without waiting: most calls end there. */
  #async<R>(options: GetOptions | undefined, steps: (block: boolean) => Steps<R>): Promise<R> {
    let run: Steps<R>;
    let step: IteratorResult<Wait, R>;
    let timeout: number | undefined;
    let userSignal: AbortSignal | undefined;
    try {
      const opts = checkOptions<GetOptions>(options, 'options');
      timeout = checkTimeout(opts.timeout);
      userSignal = checkSignal(opts.signal);
      if (userSignal?.aborted) throw abortReason(userSignal);
      this.#checkOpen();
      this.#used = true;
      run = steps(timeout !== 0);
      this.#running++;
      try {
        step = run.next();
      } catch (err) {
        this.#settled();
        throw err;
      }
    } catch (err) {
      return Promise.reject(err);
    }
    if (step.done) {
      this.#settled();
      return Promise.resolve(step.value);
    }
    return this.#wait(run, step, deadlineOf(timeout), userSignal);
  }

  /** Runs what is left of an operation the fast path began (no timeout, no signal: it is committed). */
  #finish<R>(run: Steps<R>): Promise<R> {
    this.#running++;
    let step: IteratorResult<Wait, R>;
    try {
      step = run.next();
    } catch (err) {
      this.#settled();
      return Promise.reject(err);
    }
    if (step.done) {
      this.#settled();
      return Promise.resolve(step.value);
    }
    return this.#wait(run, step, undefined, undefined);
  }

  async #wait<R>(run: Steps<R>, step: IteratorResult<Wait, R>, deadline: number | undefined,
                 userSignal: AbortSignal | undefined): Promise<R> {
    const closing = this.#closing.signal;
    try {
      return await runAsync(run, step, deadline, userSignal ? AbortSignal.any([userSignal, closing]) : closing);
    } catch (err) {
      if (closing.aborted && (err as { code?: string }).code === 'ABORT_ERR') throw this.#closedError();
      throw err;
    } finally {
      this.#settled();
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw this.#closedError();
  }

  /** @internal */
  protected _checkOpen(): void {
    this.#checkOpen();
  }

  #closedError(): ValueError {
    return new ValueError(`${this.constructor.name} is closed`, QUEUE_CLOSED);
  }

  /** An operation ended. */
  #settled(): void {
    this.#running--;
    this.#releaseIfIdle();
  }

  #releaseIfIdle(): void {
    if (this.#released || this.#running > 0 || !this.#closed) return;
    this.#released = true;
    collected.unregister(this);
    if (this.#killSafe) return this.#killSafe.close('Queue');
    this.#pipe.close();
    this._releaseParts();
  }

  /** @internal the names of the OS objects (semaphores, shared-memory segments) behind the queue */
  _names(): string[] {
    const killSafe = this.#killSafe;
    if (killSafe) return [killSafe.parts.rlock, killSafe.parts.wlock].map((lock) => (lock._backing as { name: string }).name)
      .concat(killSafe.parts.words.name);
    return this._semaphores().map((sem) => sem._os.name);
  }

  /** @internal the queue's semaphores; JoinableQueue adds its own. */
  _semaphores(): SemLock[] {
    if (this.#killSafe) return [this.#killSafe.parts.rlock, this.#killSafe.parts.wlock];
    return [this.#rlock, this.#wlock, this.#items, ...(this.#slots ? [this.#slots] : []), this.#shut];
  }

  /** @internal closes them. */
  protected _releaseParts(): void {
    closeParts(this._semaphores());
  }

  // --- inheritance --------------------------------------------------------------------------------------------

  /** @internal what Queue and JoinableQueue add to the reduced form */
  protected _reduceExtra(): unknown[] {
    return [];
  }

  [reduce](): Reduced {
    assertSpawning(this);
    this.#checkOpen();
    const ctx = spawningContext();
    const killSafe = this.#killSafe;
    if (killSafe) {
      const { channel, rlock, wlock, words } = killSafe.parts;
      return [REBUILD_KILL_SAFE_QUEUE, [this.constructor.name, channel.fds.map((fd) => ctx.passFd(fd)), rlock, wlock,
        words.descriptor(), killSafe.maxsize]];
    }
    return [REBUILD_QUEUE, [this.constructor.name, passPipe(this.#pipe, ctx),
      this.#rlock, this.#wlock, this.#items, this.#slots, this.#shut, ...this._reduceExtra()]];
  }

  /** @internal a kill-safe queue's rules, if it is one */
  protected _killSafe(): KillSafeQueue | undefined {
    return this.#killSafe;
  }

  /** @internal runs steps of a subclass's operation as this queue runs its own */
  protected _runAsync<R>(steps: () => Steps<R>, signal?: AbortSignal): Promise<R> {
    return this.#async(signal && { signal }, steps);
  }

  /** @internal */
  protected _runSync<R>(steps: () => Steps<R>): R {
    return this.#sync(undefined, steps);
  }

  /** @internal */
  protected _slots(): BoundedSemaphore | null {
    return this.#slots;
  }

  /** @internal */
  protected _items(): Semaphore {
    return this.#items;
  }

  [inspect.custom](): string {
    return `<${this.constructor.name}${this.#closing.signal.aborted ? ' closed' : ''}>`;
  }
}

/** Python's multiprocessing.Queue: maxsize bounds it (0 or less: unbounded). */
export class Queue<T = unknown> extends SimpleQueue<T> {
  readonly maxsize: number;

  constructor(maxsize = 0, /** @internal */ parts?: QueueParts | KillSafeParts) {
    const size = parts ? maxsize : checkInteger(maxsize, 'maxsize', Number.MIN_SAFE_INTEGER, SEM_VALUE_MAX);
    super(parts ?? createParts(size));
    this.maxsize = size > 0 ? size : 0;
  }

  /** putSync(item, { block: false }): Full at once when there is no room. */
  putNowait(item: T): void {
    this.putSync(item, { block: false });
  }

  /** getSync({ block: false }): Empty at once when there is no item. */
  getNowait(): T {
    return this.getSync({ block: false });
  }

  /**
   * Items put and not yet claimed by a get: exact at the moment it is read (a semaphore's value). Like Python,
   * not available on macOS, which cannot read a semaphore's value (throws NotImplementedError).
   */
  qsize(): number {
    this._checkOpen();
    const killSafe = this._killSafe();
    if (killSafe) return killSafe.size();
    return queuedItems(this._items(), this._isShut());
  }

  /**
   * Python 3.13's Queue.shutdown(), for every process that has the queue: put throws ShutDown from now on, get
   * takes the items left, then throws ShutDown; `immediate` removes those items first (a JoinableQueue counts each
   * as done). Blocked puts and gets throw ShutDown.
   */
  shutdown(immediate = false): void {
    this._shutDown(checkBoolean(immediate, 'immediate', false));
  }

  /** True when a bounded queue has no room left; always false for an unbounded one. */
  full(): boolean {
    this._checkOpen();
    const killSafe = this._killSafe();
    if (killSafe) return killSafe.full();
    const slots = this._slots();
    return slots !== null && slots._isZero();
  }

  protected override _reduceExtra(): unknown[] {
    return [this.maxsize];
  }
}

/** A Queue whose consumers call taskDone() for each item, so that join() can wait until all were processed. */
export class JoinableQueue<T = unknown> extends Queue<T> {
  readonly #unfinished: Semaphore;
  readonly #cond: Condition;

  constructor(maxsize = 0, /** @internal */ parts?: (QueueParts & { unfinished: Semaphore; cond: Condition }) | KillSafeParts) {
    super(maxsize, parts);
    if (this._killSafe()) { // its counts are in the queue's shared page
      this.#unfinished = this.#cond = undefined as never;
      return;
    }
    const pipeParts = parts as (QueueParts & { unfinished: Semaphore; cond: Condition }) | undefined;
    this.#unfinished = pipeParts?.unfinished ?? new Semaphore(0, NO_RECOVERY);
    // CPython's condition, without a sleeper table: a queue is made kill-safe as a whole (issue #16 §2)
    this.#cond = pipeParts?.cond ?? new Condition(new Lock(NO_RECOVERY), [new Semaphore(0, NO_RECOVERY), new Semaphore(0, NO_RECOVERY), new Semaphore(0, NO_RECOVERY)]);
  }

  /** @internal an immediate shutdown counts each item it removed as done, so that join() returns. */
  override _shutDown(immediate: boolean): number {
    const removed = super._shutDown(immediate); // 0 for a kill-safe queue, whose removed items count as done
    for (let i = 0; i < removed; i++) this.taskDone();
    return removed;
  }

  protected override _commit(): void {
    // Counted before the item is visible, so a consumer's taskDone() can never come first. Without the condition's
    // lock (CPython takes it): a put only ever raises the count, which cannot disturb taskDone()'s decrement or
    // join()'s check, both made under the lock; and a put must not wait for a lock another process may hold.
    this.#unfinished.release();
    super._commit();
  }

  /** Marks one item taken from the queue as processed; ValueError when called more times than items were put. */
  taskDone(): void {
    const killSafe = this._killSafe();
    if (killSafe) {
      this._checkOpen();
      return killSafe.taskDone();
    }
    this.#cond._runSectionSync(this.#taskDoneSection());
  }

  /** @internal taskDone() without blocking the event loop (a Manager proxy's); `signal` abandons it. */
  _taskDone(signal: AbortSignal | undefined): Promise<void> {
    if (this._killSafe()) {
      try {
        return Promise.resolve(this.taskDone());
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.#cond._runSection(this.#taskDoneSection(), signal, undefined, () => undefined);
  }

  *#taskDoneSection(): Section<void> {
    if (!this.#unfinished._os.sem.tryWait()) {
      throw new ValueError('task_done() called too many times', 'ERR_MP_TASK_DONE');
    }
    if (this.#unfinishedIsZero()) this.#cond._wakeAllOnRelease();
  }

  /** Resolves once every item put so far has been marked done by taskDone(). */
  join(): Promise<void> {
    return this._join(undefined);
  }

  /** @internal join() that `signal` abandons: a Manager proxy's, when its connection closes. */
  _join(signal: AbortSignal | undefined): Promise<void> {
    const killSafe = this._killSafe();
    if (killSafe) return this._runAsync(() => killSafe.joinSteps(), signal);
    return this.#cond._runSection(this.#joinSection(), signal, undefined, () => undefined);
  }

  /** Blocks this thread until every item put so far has been marked done. */
  joinSync(): void {
    const killSafe = this._killSafe();
    if (killSafe) return this._runSync(() => killSafe.joinSteps());
    this.#cond._runSectionSync(this.#joinSection());
  }

  *#joinSection(): Section<void> {
    while (!this.#unfinishedIsZero()) yield undefined;
  }

  #unfinishedIsZero(): boolean {
    const sem = this.#unfinished._os.sem;
    if (!sem.tryWait()) return true;
    sem.post();
    return false;
  }

  protected override _reduceExtra(): unknown[] {
    return [...super._reduceExtra(), this.#unfinished, this.#cond];
  }

  override _semaphores(): SemLock[] {
    if (this._killSafe()) return super._semaphores();
    return [...super._semaphores(), this.#unfinished, ...this.#cond._semaphores()];
  }

  protected override _releaseParts(): void {
    super._releaseParts();
    this.#cond._close('Queue');
  }
}

registerRebuilder(REBUILD_QUEUE, (className: string, ends: (number | string | Lent)[], rlock: Lock, wlock: Lock,
                                  items: Semaphore, slots: BoundedSemaphore | null, shut: Semaphore, maxsize?: number,
                                  unfinished?: Semaphore, cond?: Condition) => {
  const pipe = native.platform === 'win32' ? WinFramePipe.adopt(ends[0], ends[1])
    : new FramePipe(adoptFds(ends as (number | Lent)[]));
  const parts = { pipe, rlock, wlock, items, slots, shut };
  switch (className) {
    case 'SimpleQueue': return new SimpleQueue(parts);
    case 'Queue': return new Queue(maxsize, parts);
    case 'JoinableQueue': return new JoinableQueue(maxsize, { ...parts, unfinished: unfinished!, cond: cond! });
    default: throw new InvalidArgumentError(`unknown queue class ${className}`);
  }
});

registerRebuilder(REBUILD_KILL_SAFE_QUEUE, (className: string, ends: (number | Lent)[], rlock: Lock, wlock: Lock,
                                           words: unknown, maxsize: number) => {
  if (!isKillSafeDescriptor(words)) throw new InvalidArgumentError('not a kill-safe queue\'s state');
  const parts: KillSafeParts = { channel: new QueueChannel(adoptFds(ends)), rlock, wlock, words: openQueueWords(words), maxsize };
  switch (className) {
    case 'SimpleQueue': return new SimpleQueue(parts);
    case 'Queue': return new Queue(maxsize, parts);
    case 'JoinableQueue': return new JoinableQueue(maxsize, parts);
    default: throw new InvalidArgumentError(`unknown queue class ${className}`);
  }
});
