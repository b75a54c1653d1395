/**
 * The kill-safe queue (issue #16 §2), where the OS offers what it needs (Linux: futexes across processes for the
 * kill-safe locks, AF_UNIX SOCK_SEQPACKET sockets): a producer or consumer killed at any instruction never wedges
 * it, never tears an item and never makes one arrive twice. Only the item the dead process itself held may be lost.
 *
 * - Transport: a SOCK_SEQPACKET socket pair. The kernel keeps message boundaries: a send is all or nothing, a read
 *   takes exactly one message, so no death tears a message. An item is one message, or a run of messages of at most
 *   PACKET_DATA_BYTES each (FIRST ... LAST), all carrying the item's sequence number.
 * - Locks: kill-safe Locks (robust_lock.ts) for writers and for readers, held for one item; a dead holder's is taken
 *   over by the next taker.
 * - State: one shared page (QueueWords). `written` is the sequence number of the last item a writer began (stored
 *   before its first message goes out); `read` the last one readers are done with — delivered, or found lost. The
 *   number of items is `written - read`: nothing counts items apart from the messages, so nothing can disagree
 *   with them for long. A bounded put waits on the `read` word for room.
 *
 * What a death leaves, and who repairs it (every rule is in #take and #resolveLost):
 * - A writer killed before or during its item: the rest of its run never comes. A reader that meets the next item's
 *   first message drops the partial one; a reader waiting for the rest while nobody holds the write lock (or its
 *   holder is dead) knows none will come.
 * - A reader killed during an item: the rest of its run is left. A reader meets messages whose first one it never
 *   saw: the item is lost (counted done), its messages dropped.
 * - Sequence numbers that never reach a reader (a writer killed before its first message, a reader killed right
 *   after taking a whole item): `read` moves past them when a reader meets a later item, or, when no message is
 *   left, by whoever holds both locks and finds the socket empty (#resolveLost): every item begun is then sent and
 *   taken, so `read` is `written`. A reader waiting on an empty queue, a blocked putter and join() try that every
 *   RECHECK_MS while the counts say there are items the socket does not hold.
 *
 * A JoinableQueue's unfinished tasks are `written - read + taken - tasksDone`: `taken` (items handed to a caller)
 * moves with `read` in one 64-bit store, so an item a reader took but never handed over counts as done, and nothing
 * else has to be kept in step.
 */
import { Empty, Full, ShutDown, UnpicklingError, ValueError } from './errors';
import { native } from './native';
import { decodePayload, Frame, FRAME_HEADER_BYTES, Readiness } from './pipe';
import { Steps, spinForLock } from './queue_steps';
import { KillSafeDescriptor, KillSafeSegment, RECHECK_MS, RobustLockHandle } from './robust_lock';
import { SPIN_MS } from './semlock';
import { spinFor } from './spin';
import type { Lock } from './synchronize';

/** A message carries at most this many bytes of an item's frame: a larger item is a run of messages. */
export const PACKET_DATA_BYTES = 128 << 10;
/** Message header: the item's sequence number (int32 LE), then its kind (FIRST | LAST, or BATON), then padding. */
const PACKET_HEADER_BYTES = 8;
const FIRST = 1;
const LAST = 2;
/** Sent once by shutdown(): it wakes the reader that waits on an empty socket. */
const BATON = 4;
/** What the socket pair asks the kernel to buffer (granted up to net.core.wmem_max). */
const SOCKET_CAPACITY = 4 << 20;

// The shared page: int32 words.
const WRITTEN = 0;
const READ = 2; // low half of the 64-bit word at byte 8; `taken` is its high half
const SHUT = 4;
const TASKS_DONE = 5;
const ROOM_WAIT = 6; // set by a putter before it sleeps on READ
const JOIN_EPOCH = 7;
const JOIN_WAIT = 8; // set by join() before it sleeps on JOIN_EPOCH
const WORDS_BYTES = 64;
const SHUT_BIT = 1;
const IMMEDIATE = 2;
const ALL = 0x7fffffff;

/** Whether sequence number `a` comes after `b` (they wrap around). */
const after = (a: number, b: number): boolean => ((a - b) | 0) > 0;

/** Where every reader of this thread receives a message: copied out or decoded before anything else runs. */
const scratch = Buffer.allocUnsafeSlow(PACKET_HEADER_BYTES + PACKET_DATA_BYTES + 1);
const sendHeader = Buffer.alloc(PACKET_HEADER_BYTES);

/** The queue's socket pair as this process holds it: messages in at one end, out at the other. */
export class PacketSocket {
  readonly readable: Readiness;
  readonly writable: Readiness;
  #closed = false;

  /** `fds`: the receiving end, then the sending end. */
  constructor(fds: readonly number[]) {
    for (const fd of fds) native.ownDescriptor(fd); // closed with this thread if nothing closes them first
    this.readable = new Readiness(fds[0], false);
    this.writable = new Readiness(fds[1], true);
  }

  static create(): PacketSocket {
    const fds = native.socketPair(SOCKET_CAPACITY, true);
    try {
      for (const fd of fds) native.setNonBlocking(fd, true);
    } catch (err) {
      for (const fd of fds) native.closeFd(fd);
      throw err;
    }
    return new PacketSocket(fds);
  }

  get fds(): number[] {
    return [this.readable.fd, this.writable.fd];
  }

  /** Sends bytes [from, to) of `frame` as one message under `header`: false, with nothing sent, when there is no room. */
  send(header: Buffer, frame: Frame, from: number, to: number): boolean {
    const parts: Uint8Array[] = [header];
    if (from === 0 && to === frame.length) parts.push(...frame.chunks); // the whole frame: no slicing
    let at = parts.length > 1 ? to : 0;
    for (const chunk of at === to ? [] : frame.chunks) {
      const end = at + chunk.length;
      if (end > from && at < to) parts.push(chunk.subarray(Math.max(0, from - at), Math.min(chunk.length, to - at)));
      at = end;
      if (at >= to) break;
    }
    // writev takes at most 64 buffers, and a message must be one call.
    const message = parts.length > 64 ? [Buffer.concat(parts)] : parts;
    const n = native.writev(this.writable.fd, message, 0);
    if (n < 0) return false;
    if (n !== header.length + to - from) throw new ValueError(`queue socket took ${n} bytes of a message`, 'ERR_MP_EOF');
    return true;
  }

  /** Receives the next message into `buf`; its length (longer than `buf` when it was cut), or -1 when none waits. */
  receive(buf: Buffer): number {
    const n = native.read(this.readable.fd, buf, 0, buf.length);
    if (n === 0) throw new ValueError('queue socket closed', 'ERR_MP_EOF');
    return n;
  }

  /** Whether a message waits now. */
  hasMessage(): boolean {
    return native.poll(this.readable.fd, false, 0);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const ready of [this.readable, this.writable]) {
      ready.close(); // stops the event loop's watch first: the number may be reused once closed
      native.revokeDescriptor(ready.fd); // no thread can adopt it from now on
      native.closeFd(ready.fd);
    }
  }
}

/** The queue's shared page, as this process maps it. */
export class QueueWords {
  ints: Int32Array;
  /** [0]: `read` (low half) and `taken` (high half) together. */
  pair: BigUint64Array;

  constructor(buffer: ArrayBuffer) {
    this.ints = new Int32Array(buffer, 0, WORDS_BYTES / 4);
    this.pair = new BigUint64Array(buffer, 8, 1);
  }

  close(): void {
    native.shmDetach(this.ints.buffer as ArrayBuffer);
  }
}

export type QueueWordsSegment = KillSafeSegment<QueueWords>;

export function createQueueWords(): QueueWordsSegment {
  return KillSafeSegment.create(WORDS_BYTES, (buffer) => new QueueWords(buffer));
}

export function openQueueWords(descriptor: KillSafeDescriptor): QueueWordsSegment {
  return KillSafeSegment.open(descriptor, (buffer) => new QueueWords(buffer));
}

/** An item read in part: the rest of its run is still to come. */
interface Partial {
  seq: number;
  /** Its payload, made as large as announced when that is at most PREALLOCATED_BYTES; else null, and `parts`. */
  payload: Buffer | null;
  /** Its messages' bytes so far, each copied out of `scratch`, when `payload` is null. */
  parts: Buffer[];
  inBand: number;
  /** The frame's payload length, as its first message says. */
  length: number;
  got: number;
}

/**
 * A multi-message item announced up to this long gets its memory at once, and each message is copied straight into
 * it. A longer one is kept in pieces and joined at its last message: what a message announces is never trusted to
 * size an allocation the messages themselves have not paid for.
 */
const PREALLOCATED_BYTES = 64 << 20;

/** #take found no message. */
const NOTHING = Symbol('nothing');
/** A fast get found no item (and took nothing). */
export const NOT_NOW = Symbol('not now');
/** A fast get took something that needs more steps to finish: the rest of the get. */
export class Claimed {
  constructor(readonly steps: Steps<unknown>) {}
}
/** How long a get that found no item watches for a producer's next one before it waits (semlock.ts). */
const ITEM_SPIN_MS = SPIN_MS;

/** The parts of a kill-safe queue, as a process holds them. */
export interface PacketQueueParts {
  socket: PacketSocket;
  rlock: Lock;
  wlock: Lock;
  words: QueueWordsSegment;
}

export function createPacketQueueParts(makeLock: () => Lock): PacketQueueParts {
  const rlock = makeLock();
  const wlock = makeLock();
  const words = createQueueWords();
  return { rlock, wlock, words, socket: PacketSocket.create() }; // the socket last: nothing after it can fail
}

/** The operations of a kill-safe queue, run by SimpleQueue (queues.ts) as it runs its pipe's. */
export class PacketQueue {
  readonly parts: PacketQueueParts;
  readonly #socket: PacketSocket;
  readonly #ints: Int32Array;
  readonly #pair: BigUint64Array;
  readonly #rl: RobustLockHandle;
  readonly #wl: RobustLockHandle;
  /** Items it holds at most; 0: no bound. */
  readonly maxsize: number;
  /** A JoinableQueue: joiners may wait for the count of unfinished tasks to reach zero. */
  readonly #joinable: boolean;

  constructor(parts: PacketQueueParts, maxsize: number, joinable: boolean) {
    this.parts = parts;
    this.#socket = parts.socket;
    this.#ints = parts.words.sem.ints;
    this.#pair = parts.words.sem.pair;
    this.#rl = parts.rlock._backing.sem as RobustLockHandle;
    this.#wl = parts.wlock._backing.sem as RobustLockHandle;
    this.maxsize = maxsize > 0 ? maxsize : 0;
    this.#joinable = joinable;
  }

  // --- counts --------------------------------------------------------------------------------------------------

  #read(): number {
    return Atomics.load(this.#ints, READ);
  }

  /** Items begun and not yet done with: exact whenever no put or get is under way and nobody died. */
  size(): number {
    return Math.max(0, (Atomics.load(this.#ints, WRITTEN) - this.#read()) | 0);
  }

  empty(): boolean {
    return this.size() === 0 || !this.#socket.hasMessage();
  }

  full(): boolean {
    return this.maxsize > 0 && this.size() >= this.maxsize;
  }

  isShut(): boolean {
    return (Atomics.load(this.#ints, SHUT) & SHUT_BIT) !== 0;
  }

  /**
   * Readers are done with every item up to `seq`: `delivered` when the last of them goes to a caller (JoinableQueue
   * counts it as taken), else it was lost or removed (and counts as done). Never moves `read` back.
   */
  #advance(seq: number, delivered: boolean): void {
    if (this.#joinable) this.#advancePair(seq, delivered);
    else this.#advanceRead(seq);
    if (Atomics.load(this.#ints, ROOM_WAIT) !== 0) {
      Atomics.store(this.#ints, ROOM_WAIT, 0);
      native.wordNotify(this.#ints, READ, ALL);
    }
    if (!delivered) this.#wakeJoinersIfDone();
  }

  /** A Queue counts no tasks: `read` alone, without the 64-bit word's BigInts. */
  #advanceRead(seq: number): void {
    const ints = this.#ints;
    for (;;) {
      const read = Atomics.load(ints, READ);
      if (!after(seq, read) || Atomics.compareExchange(ints, READ, read, seq) === read) return;
    }
  }

  #advancePair(seq: number, delivered: boolean): void {
    const pair = this.#pair;
    for (;;) {
      const old = Atomics.load(pair, 0);
      if (!after(seq, Number(old & 0xffffffffn) | 0)) return;
      const taken = (Number(old >> 32n) + (delivered ? 1 : 0)) >>> 0;
      if (Atomics.compareExchange(pair, 0, old, BigInt(seq >>> 0) | (BigInt(taken) << 32n)) === old) return;
    }
  }

  /**
   * Holding the lock `held`, takes the other one (or finds its holder dead) and, if no message is left in the
   * socket, sets `read` to `written`: every item begun was sent (no writer is between two messages) and taken (no
   * reader is between two), so the rest were lost. False when the other lock is busy.
   */
  #resolveLost(held: RobustLockHandle): void {
    const other = held === this.#rl ? this.#wl : this.#rl;
    if (!other.tryWait() && !other.takeOverIfDead()) return;
    try {
      if (!this.#socket.hasMessage()) this.#advance(Atomics.load(this.#ints, WRITTEN), false);
    } finally {
      other.post();
    }
  }

  // --- put -----------------------------------------------------------------------------------------------------

  /**
   * Puts a frame that fits one message, if that can happen now without waiting for anything: the write lock, room
   * in a bounded queue, room in the socket. False (nothing done) otherwise; putSteps then waits.
   */
  putNow(frame: Frame): boolean {
    if (frame.length > PACKET_DATA_BYTES || this.isShut()) return false;
    const wl = this.#wl;
    if (!wl.tryWait()) return false;
    try {
      if (this.full()) return false;
      const ints = this.#ints;
      const seq = (Atomics.load(ints, WRITTEN) + 1) | 0;
      Atomics.store(ints, WRITTEN, seq);
      if (this.#socket.send(header(seq, FIRST | LAST), frame, 0, frame.length)) return true;
      Atomics.store(ints, WRITTEN, (seq - 1) | 0);
      this.#wakeJoinersIfDone();
      return false;
    } finally {
      wl.post();
    }
  }

  *putSteps(frame: Frame, block: boolean): Steps<void> {
    const wl = this.#wl;
    const ints = this.#ints;
    for (;;) {
      this.#refuseIfShut();
      if (!wl.tryWait() && !(block ? (yield { lock: wl, bounded: true }) : spinForLock(wl))) throw new Full();
      let wait: 'room' | 'socket';
      let read = 0;
      try {
        this.#refuseIfShut();
        if (this.full()) this.#resolveLost(wl);
        if (this.full()) {
          read = this.#read();
          Atomics.store(ints, ROOM_WAIT, 1);
          wait = 'room';
        } else {
          const seq = (Atomics.load(ints, WRITTEN) + 1) | 0;
          Atomics.store(ints, WRITTEN, seq); // the item exists from now on
          let at = Math.min(frame.length, PACKET_DATA_BYTES);
          if (this.#socket.send(header(seq, at === frame.length ? FIRST | LAST : FIRST), frame, 0, at)) {
            while (at < frame.length) {
              const to = Math.min(frame.length, at + PACKET_DATA_BYTES);
              if (this.#socket.send(header(seq, to === frame.length ? LAST : 0), frame, at, to)) at = to;
              else yield { ready: this.#socket.writable, bounded: false };
            }
            return;
          }
          Atomics.store(ints, WRITTEN, (seq - 1) | 0); // nothing of it went out: as if never begun
          this.#wakeJoinersIfDone();
          wait = 'socket';
        }
      } finally {
        wl.post();
      }
      // Without the lock, so that a producer killed while it waits holds nothing; every RECHECK_MS it looks again.
      const waited = wait === 'room'
        ? (block && (yield { word: ints, index: READ, expected: read, bounded: true, nap: RECHECK_MS }))
        : (block && (yield { ready: this.#socket.writable, bounded: true, nap: RECHECK_MS }));
      if (!waited) throw new Full();
    }
  }

  #refuseIfShut(): void {
    if (this.isShut()) throw new ShutDown();
  }

  // --- get -----------------------------------------------------------------------------------------------------

  /**
   * Takes an item that is there now, whole in one message, without any wait: the item, or NOT_NOW when there is
   * none or the read lock is busy (nothing done; getSteps then waits), or the steps that finish what it began (a
   * message that is not a whole item of its own).
   */
  getNow(): unknown {
    const rl = this.#rl;
    if (!rl.tryWait()) return NOT_NOW;
    let n: number;
    try {
      n = (Atomics.load(this.#ints, SHUT) & IMMEDIATE) !== 0 ? -1 : this.#socket.receive(scratch);
    } catch (err) {
      rl.post();
      throw err;
    }
    if (n >= PACKET_HEADER_BYTES + FRAME_HEADER_BYTES && n < scratch.length && scratch[4] === (FIRST | LAST)) {
      const seq = scratch.readInt32LE(0);
      const length = scratch.readUInt32BE(PACKET_HEADER_BYTES);
      const start = PACKET_HEADER_BYTES + FRAME_HEADER_BYTES;
      if (after(seq, this.#read()) && start + length <= n) {
        try {
          return this.#deliver(seq, scratch.subarray(start, start + length), scratch.readUInt32BE(PACKET_HEADER_BYTES + 4));
        } finally {
          rl.post();
        }
      }
    }
    if (n < 0) {
      rl.post();
      return NOT_NOW;
    }
    return new Claimed(this.#finishTake(n));
  }

  /** getNow() received message `n` and holds the read lock: the rest of the get. */
  *#finishTake(n: number): Steps<unknown> {
    try {
      const item = yield* this.#take(n);
      if (item !== NOTHING) return item;
    } finally {
      this.#rl.post();
    }
    return yield* this.getSteps(true);
  }

  /**
   * Waits for a message without the read lock, then takes the lock to receive it: a worker thread terminated while
   * it waits (or a process killed there) holds nothing. The lock is held across waits only for the rest of an item.
   */
  *getSteps(block: boolean): Steps<unknown> {
    const rl = this.#rl;
    const ints = this.#ints;
    for (;;) {
      if (!rl.tryWait() && !(block ? (yield { lock: rl, bounded: true }) : spinForLock(rl))) {
        if (this.isShut() && this.size() === 0) throw new ShutDown();
        throw new Empty();
      }
      let missing: boolean;
      try {
        const item = yield* this.#take();
        if (item !== NOTHING) return item;
        if (this.isShut()) throw new ShutDown();
        missing = this.size() > 0;
        if (missing) this.#resolveLost(rl);
      } finally {
        rl.post();
      }
      // A producer that keeps up begins its next item within microseconds: worth watching for that long before a
      // wait through the event loop (or poll(2)).
      const written = Atomics.load(ints, WRITTEN);
      if (block && !missing && spinFor(ITEM_SPIN_MS, () => Atomics.load(ints, WRITTEN) !== written)) continue;
      if (!block || !(yield { ready: this.#socket.readable, bounded: true, nap: missing ? RECHECK_MS : undefined })) {
        throw new Empty();
      }
    }
  }

  /**
   * Takes the next item, or NOTHING when no message waits; the caller holds the read lock. `received`: the length of
   * a message in `scratch` already.
   */
  *#take(received?: number): Steps<unknown> {
    const socket = this.#socket;
    let partial: Partial | null = null;
    for (;;) {
      if ((Atomics.load(this.#ints, SHUT) & IMMEDIATE) !== 0) {
        if (partial) this.#advance(partial.seq, false);
        this.#removeAll();
        throw new ShutDown();
      }
      const n = received ?? socket.receive(scratch);
      received = undefined;
      if (n < 0) {
        if (!partial) return NOTHING;
        // The rest of an item is late: if no live writer holds the write lock, none of it will come.
        if (this.#writerGone()) {
          this.#advance(partial.seq, false);
          partial = null;
        } else {
          yield { ready: socket.readable, bounded: false, nap: RECHECK_MS };
        }
        continue;
      }
      if (n < PACKET_HEADER_BYTES || n > scratch.length - 1) {
        if (partial) this.#advance(partial.seq, false);
        throw new UnpicklingError(`a queue message of ${n} bytes, which no writer of this library sends`);
      }
      const seq = scratch.readInt32LE(0);
      const kind = scratch[4];
      if (kind & BATON) {
        if (!this.isShut()) continue; // not from shutdown(): dropped
        if (partial) this.#advance(partial.seq, false);
        throw new ShutDown();
      }
      if (kind & FIRST) {
        if (partial) this.#advance(partial.seq, false); // its writer died before its last message
        partial = null;
        if (!after(seq, this.#read())) continue; // not one of ours: dropped
        if (n < PACKET_HEADER_BYTES + FRAME_HEADER_BYTES) {
          this.#advance(seq, false);
          throw new UnpicklingError(`a queue message of ${n} bytes is too short for an item`);
        }
        const length = scratch.readUInt32BE(PACKET_HEADER_BYTES);
        const inBand = scratch.readUInt32BE(PACKET_HEADER_BYTES + 4);
        const start = PACKET_HEADER_BYTES + FRAME_HEADER_BYTES;
        if (kind & LAST) {
          if (start + length > n) {
            this.#advance(seq, false);
            throw new UnpicklingError(`a queue message of ${n} bytes holds an item of ${length}`);
          }
          return this.#deliver(seq, scratch.subarray(start, start + length), inBand);
        }
        const payload = length <= PREALLOCATED_BYTES ? Buffer.allocUnsafeSlow(length) : null;
        partial = { seq, payload, parts: [], inBand, length, got: 0 };
      } else if (partial && seq === partial.seq) {
        if (partial.got + n - PACKET_HEADER_BYTES > partial.length) {
          this.#advance(seq, false);
          throw new UnpicklingError(`a queue item longer than the ${partial.length} bytes it announced`);
        }
      } else {
        if (partial) this.#advance(partial.seq, false);
        partial = null;
        // The rest of an item whose first message went with a reader that died: lost, and its messages dropped.
        if (after(seq, this.#read())) this.#advance(seq, false);
        continue;
      }
      const start = kind & FIRST ? PACKET_HEADER_BYTES + FRAME_HEADER_BYTES : PACKET_HEADER_BYTES;
      if (partial.payload) scratch.copy(partial.payload, partial.got, start, n);
      else partial.parts.push(Buffer.from(scratch.subarray(start, n)));
      partial.got += n - start;
      if (!(kind & LAST)) continue;
      if (partial.got !== partial.length) {
        this.#advance(seq, false);
        throw new UnpicklingError(`a queue item of ${partial.got} bytes announced ${partial.length}`);
      }
      // Memory of its own: views of it need no copy.
      const payload = partial.payload ?? Buffer.concat(partial.parts, partial.length);
      return this.#deliver(seq, payload, partial.inBand);
    }
  }

  /** Decodes item `seq` and counts it done; one that does not decode counts as lost. */
  #deliver(seq: number, payload: Buffer, inBand: number): unknown {
    let item: unknown;
    try {
      item = decodePayload(payload, inBand);
    } catch (err) {
      this.#advance(seq, false);
      throw err;
    }
    this.#advance(seq, true);
    return item;
  }

  /**
   * A reader waits for the rest of an item and the socket is empty: true when no writer is sending anything (the
   * write lock was free, or its holder dead) and the socket is still empty, so the rest will never come.
   */
  #writerGone(): boolean {
    const wl = this.#wl;
    if (!wl.tryWait() && !wl.takeOverIfDead()) return false;
    try {
      return !this.#socket.hasMessage();
    } finally {
      wl.post();
    }
  }

  // --- shutdown ------------------------------------------------------------------------------------------------

  /** Queue.shutdown(); returns the steps that send the getters' baton, or null if it was shut down already. */
  shutDown(immediate: boolean): Steps<void> | null {
    const before = Atomics.or(this.#ints, SHUT, SHUT_BIT | (immediate ? IMMEDIATE : 0));
    Atomics.store(this.#ints, ROOM_WAIT, 0);
    native.wordNotify(this.#ints, READ, ALL); // blocked putters look again, and throw ShutDown
    if (immediate && (this.#rl.tryWait() || this.#rl.takeOverIfDead())) {
      try {
        this.#removeAll();
      } finally {
        this.#rl.post();
      }
    }
    return (before & SHUT_BIT) === 0 ? this.#batonSteps() : null;
  }

  /** Wakes the reader waiting on an empty socket; the others see the flag before they wait. */
  *#batonSteps(): Steps<void> {
    const wl = this.#wl;
    if (!wl.tryWait()) yield { lock: wl, bounded: false };
    try {
      // A full socket needs no baton: its reader is not waiting.
      this.#socket.send(header(0, BATON), { chunks: [], length: 0 }, 0, 0);
    } finally {
      wl.post();
    }
  }

  /** Drops every message waiting now (an immediate shutdown); the caller holds the read lock. */
  #removeAll(): void {
    for (;;) {
      const n = this.#socket.receive(scratch);
      if (n < 0) break;
      if (n >= PACKET_HEADER_BYTES && !(scratch[4] & BATON)) this.#advance(scratch.readInt32LE(0), false);
    }
    if (!this.#socket.hasMessage()) this.#resolveLost(this.#rl);
  }

  // --- JoinableQueue -------------------------------------------------------------------------------------------

  /** Tasks put and not yet done: items not yet taken, and items taken whose taskDone() has not come. */
  unfinished(): number {
    const done = Atomics.load(this.#ints, TASKS_DONE); // first: see below
    const pair = Atomics.load(this.#pair, 0);
    const written = Atomics.load(this.#ints, WRITTEN);
    // Each count only grows, and `done` is read first: a zero here was true at the moment `pair` was read.
    return ((written - (Number(pair & 0xffffffffn) | 0)) | 0) + ((Number(pair >> 32n) - done) | 0);
  }

  taskDone(): void {
    const ints = this.#ints;
    for (;;) {
      const done = Atomics.load(ints, TASKS_DONE);
      const taken = Number(Atomics.load(this.#pair, 0) >> 32n) | 0;
      if (((taken - done) | 0) <= 0) throw new ValueError('task_done() called too many times', 'ERR_MP_TASK_DONE');
      if (Atomics.compareExchange(ints, TASKS_DONE, done, (done + 1) | 0) === done) break;
    }
    this.#wakeJoinersIfDone();
  }

  #wakeJoinersIfDone(): void {
    if (!this.#joinable || Atomics.load(this.#ints, JOIN_WAIT) === 0 || this.unfinished() !== 0) return;
    Atomics.store(this.#ints, JOIN_WAIT, 0);
    Atomics.add(this.#ints, JOIN_EPOCH, 1);
    native.wordNotify(this.#ints, JOIN_EPOCH, ALL);
  }

  *joinSteps(): Steps<void> {
    const ints = this.#ints;
    for (;;) {
      const epoch = Atomics.load(ints, JOIN_EPOCH);
      if (this.unfinished() === 0) return;
      Atomics.store(ints, JOIN_WAIT, 1);
      if (this.unfinished() === 0) return;
      // Items nobody will ever take (their writer or reader died) are found by whoever holds both locks.
      if (this.size() > 0 && (this.#rl.tryWait() || this.#rl.takeOverIfDead())) {
        try {
          this.#resolveLost(this.#rl);
        } finally {
          this.#rl.post();
        }
        if (this.unfinished() === 0) return;
      }
      yield { word: ints, index: JOIN_EPOCH, expected: epoch, bounded: true, nap: RECHECK_MS };
    }
  }

  close(owner: string): void {
    this.#socket.close();
    this.parts.rlock._close(owner);
    this.parts.wlock._close(owner);
    this.parts.words.close(owner);
  }
}

function header(seq: number, kind: number): Buffer {
  sendHeader.writeInt32LE(seq, 0);
  sendHeader[4] = kind;
  return sendHeader;
}
