/**
 * The kill-safe queue (issue #16 §2), where the OS offers what it needs (Linux: futexes across processes for the
 * kill-safe locks): a producer or consumer killed at any instruction never wedges it, never tears an item and never
 * makes one arrive twice. Only the item the dead process itself held may be lost.
 *
 * - Transport (QueueChannel): a pipe of 64-byte records, each [sequence number, kind, 56 bytes of the item's frame].
 *   An item of up to INLINE_FRAME_BYTES goes in as its records with one write(2) of at most PIPE_BUF bytes, which
 *   the kernel makes whole or nothing; and since every write is whole records, a read of whole records never cuts
 *   one. A larger item writes one record (its frame header, kind BULK) and its bytes as messages of a SOCK_SEQPACKET
 *   socket beside the pipe, each [sequence number, kind] and up to BODY_DATA_BYTES: a send is all or nothing too.
 *   Small items cost what they cost in a plain pipe (a packet socket's message costs a kernel allocation each).
 * - Locks: kill-safe Locks (robust_lock.ts) for writers and for readers, each held for one item; a dead holder's is
 *   taken over by the next taker.
 * - State: one shared page (QueueWords). `written` is the sequence number of the last item a writer began (stored
 *   before its first record goes out); `read` the last one readers are done with — delivered, or found lost. The
 *   number of items is `written - read`: nothing counts items apart from the records, so nothing can disagree with
 *   them for long. A bounded put waits on the `read` word for room.
 *
 * What a death leaves, and who repairs it (the rules are in #take, #takeBulk and #resolveLost):
 * - A writer killed inside a large item: the rest of its body never comes. A reader waiting for it while nobody
 *   holds the write lock (or its holder is dead) knows none will come; one that finds a later item's body first
 *   knows it too.
 * - A reader killed inside an item: the rest of it is left. A reader meets records or body messages of an item whose
 *   first record it never saw: lost (counted done), and dropped.
 * - Sequence numbers that never reach a reader (a writer killed before its first record, a reader killed right after
 *   taking a whole item): `read` moves past them when a reader meets a later item, or, when no record is left, by
 *   whoever holds both locks and finds the pipe empty (#resolveLost): every item begun is then written and taken,
 *   so `read` is `written`. A get that finds the pipe empty, a blocked putter and join() try that every RECHECK_MS
 *   while the counts say there are items the pipe does not hold.
 *
 * A JoinableQueue's unfinished tasks are `written - read + taken - tasksDone`: `taken` (items handed to a caller)
 * moves with `read` in one 64-bit store, so an item a reader took but never handed over counts as done, and nothing
 * else has to be kept in step.
 */
import { Empty, Full, ShutDown, UnpicklingError, ValueError } from './errors';
import { native } from './native';
import { closeWatched, decodePayload, Frame, FRAME_HEADER_BYTES, NUMBER_FRAME, pipeAndSocket, Readiness } from './pipe';
import { ITEM_SPIN_MS, Steps, spinForLock } from './queue_steps';
import { KillSafeDescriptor, KillSafeSegment, RECHECK_MS, RobustLockHandle } from './robust_lock';
import { spinFor } from './spin';
import type { Lock } from './synchronize';

/** A record: its header (sequence number, int32 LE; kind; padding), then data. */
const RECORD_BYTES = 64;
const RECORD_HEADER_BYTES = 8;
const RECORD_DATA_BYTES = RECORD_BYTES - RECORD_HEADER_BYTES;
/** What one write(2) into a pipe moves whole (POSIX's PIPE_BUF: 4096 on Linux). */
const ATOMIC_WRITE_BYTES = 4096;
const MAX_INLINE_RECORDS = ATOMIC_WRITE_BYTES / RECORD_BYTES;
/** An item's frame up to this long travels as records only. */
export const INLINE_FRAME_BYTES = MAX_INLINE_RECORDS * RECORD_DATA_BYTES;
/** A body message: [sequence number, kind, padding], then up to BODY_DATA_BYTES of the item's payload. */
const BODY_HEADER_BYTES = 8;
export const BODY_DATA_BYTES = 128 << 10;
const FIRST = 1;
const LAST = 2;
/** An item whose payload comes as body messages. */
const BULK = 4;
/** Sent once by shutdown(): it wakes the getters that wait on an empty pipe. */
const BATON = 8;

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
/** How long an immediate shutdown blocks for the read lock before it leaves the items to the lock's holder. */
const IMMEDIATE_SHUTDOWN_WAIT_MS = 50;
const ALL = 0x7fffffff;

/** Whether sequence number `a` comes after `b` (they wrap around). */
const after = (a: number, b: number): boolean => ((a - b) | 0) > 0;

// This thread's buffers: what a reader receives is copied out or decoded before anything else runs; what a writer
// builds is written at once. Zeroed where padding is sent, so no stale memory of this process crosses to another.
const recordsOut = Buffer.alloc(ATOMIC_WRITE_BYTES);
const recordsIn = Buffer.allocUnsafeSlow(ATOMIC_WRITE_BYTES);
const bodyIn = Buffer.allocUnsafeSlow(BODY_HEADER_BYTES + BODY_DATA_BYTES + 1);
const bodyHead = Buffer.alloc(BODY_HEADER_BYTES);
/** A number's record: its frame header (as pipe.ts writes it) is fixed, its padding zero; seq and value vary. */
const numberRecord = Buffer.alloc(RECORD_BYTES);
numberRecord[4] = FIRST | LAST;
numberRecord.writeUInt32BE(8, RECORD_HEADER_BYTES);
numberRecord.writeUInt32BE(NUMBER_FRAME, RECORD_HEADER_BYTES + 4);
const NUMBER_USED = FRAME_HEADER_BYTES + 8;

/** Copies bytes [from, to) of `frame` to `dest` at `at`. */
function copyFrame(frame: Frame, from: number, to: number, dest: Buffer, at: number): void {
  let start = 0;
  for (const chunk of frame.chunks) {
    const end = start + chunk.length;
    if (end > from && start < to) {
      const lo = Math.max(from, start);
      (chunk as Buffer).copy(dest, at + lo - from, lo - start, Math.min(to, end) - start);
    }
    start = end;
    if (start >= to) return;
  }
}

/** The bytes of `frame` that matter: a small frame's padding stays home. */
function usedBytes(frame: Frame): number {
  const head = frame.chunks[0];
  if (frame.length < FRAME_HEADER_BYTES || head.length < FRAME_HEADER_BYTES) return frame.length;
  const payload = (head[0] << 24 | head[1] << 16 | head[2] << 8 | head[3]) >>> 0;
  return Math.min(frame.length, FRAME_HEADER_BYTES + payload);
}

/** The queue's pipe of records and its socket of body messages, as this process holds them. */
export class QueueChannel {
  readonly readable: Readiness;
  readonly writable: Readiness;
  readonly bodyReadable: Readiness;
  readonly bodyWritable: Readiness;
  #closed = false;

  /** `fds`: the pipe's read and write ends, then the socket's receiving and sending ends. */
  constructor(fds: readonly number[]) {
    for (const fd of fds) native.ownDescriptor(fd); // closed with this thread if nothing closes them first
    this.readable = new Readiness(fds[0], false);
    this.writable = new Readiness(fds[1], true);
    this.bodyReadable = new Readiness(fds[2], false);
    this.bodyWritable = new Readiness(fds[3], true);
  }

  static create(): QueueChannel {
    return new QueueChannel(pipeAndSocket(true));
  }

  get fds(): number[] {
    return [this.readable, this.writable, this.bodyReadable, this.bodyWritable].map((ready) => ready.fd);
  }

  /**
   * Writes item `seq` of INLINE_FRAME_BYTES at most (`used` bytes of its frame, or a number) as its records, with
   * one write: false, with nothing written, when the pipe has no room for all of them.
   */
  writeInline(seq: number, frame: Frame | number, used: number): boolean {
    if (typeof frame === 'number') { // the commonest item: its record is made in place
      numberRecord.writeInt32LE(seq, 0);
      numberRecord.writeDoubleLE(frame, RECORD_HEADER_BYTES + FRAME_HEADER_BYTES);
      return native.write(this.writable.fd, numberRecord, 0, RECORD_BYTES) >= 0;
    }
    const out = recordsOut;
    if (used <= RECORD_DATA_BYTES) { // most items: one record
      out.writeInt32LE(seq, 0);
      out[4] = FIRST | LAST;
      copyFrame(frame, 0, used, out, RECORD_HEADER_BYTES);
      out.fill(0, RECORD_HEADER_BYTES + used, RECORD_BYTES);
      return native.write(this.writable.fd, out, 0, RECORD_BYTES) >= 0;
    }
    const count = Math.ceil(used / RECORD_DATA_BYTES);
    for (let i = 0; i < count; i++) {
      const at = i * RECORD_BYTES;
      out.writeInt32LE(seq, at);
      out[at + 4] = (i === 0 ? FIRST : 0) | (i === count - 1 ? LAST : 0);
    }
    for (let i = 0; i < count; i++) {
      const from = i * RECORD_DATA_BYTES;
      const to = Math.min(used, from + RECORD_DATA_BYTES);
      copyFrame(frame, from, to, out, i * RECORD_BYTES + RECORD_HEADER_BYTES);
      if (to - from < RECORD_DATA_BYTES) out.fill(0, i * RECORD_BYTES + RECORD_HEADER_BYTES + to - from, (i + 1) * RECORD_BYTES);
    }
    return native.write(this.writable.fd, out, 0, count * RECORD_BYTES) >= 0;
  }

  /** Writes one record of `kind` whose data starts with `head` (a bulk item's frame header, or nothing). */
  writeRecord(seq: number, kind: number, head?: Uint8Array): boolean {
    const out = recordsOut;
    out.fill(0, 0, RECORD_BYTES);
    out.writeInt32LE(seq, 0);
    out[4] = kind;
    if (head) out.set(head, RECORD_HEADER_BYTES);
    return native.write(this.writable.fd, out, 0, RECORD_BYTES) >= 0;
  }

  /** Sends bytes [from, to) of `frame` as one body message of item `seq`: false, with nothing sent, without room. */
  sendBody(seq: number, frame: Frame, from: number, to: number): boolean {
    const head = Buffer.alloc(BODY_HEADER_BYTES);
    head.writeInt32LE(seq, 0);
    head[4] = to === frame.length ? LAST : 0;
    const parts: Uint8Array[] = [head];
    let start = 0;
    for (const chunk of frame.chunks) {
      const end = start + chunk.length;
      if (end > from && start < to) parts.push(chunk.subarray(Math.max(0, from - start), Math.min(chunk.length, to - start)));
      start = end;
      if (start >= to) break;
    }
    // writev takes at most 64 buffers, and a message must be one call.
    const message = parts.length > 64 ? [Buffer.concat(parts)] : parts;
    const n = native.writev(this.bodyWritable.fd, message, 0);
    if (n < 0) return false;
    if (n !== BODY_HEADER_BYTES + to - from) throw new ValueError(`queue socket took ${n} bytes of a message`, 'ERR_MP_EOF');
    return true;
  }

  /** Reads `count` records into `buf` at `at`: the bytes read (whole records), or -1 when the pipe has none. */
  readRecords(buf: Buffer, at: number, count: number): number {
    const n = native.read(this.readable.fd, buf, at, count * RECORD_BYTES);
    if (n === 0) throw new ValueError('queue pipe closed', 'ERR_MP_EOF');
    if (n > 0 && n % RECORD_BYTES !== 0) throw new UnpicklingError(`a queue pipe cut a record: ${n} bytes read`);
    return n;
  }

  /** The next body message's length (its header copied into `head`), or -1 when none waits. */
  peekBody(head: Buffer): number {
    return native.peek(this.bodyReadable.fd, head, 0, head.length);
  }

  receiveBody(buf: Buffer): number {
    const n = native.read(this.bodyReadable.fd, buf, 0, buf.length);
    if (n === 0) throw new ValueError('queue socket closed', 'ERR_MP_EOF');
    return n;
  }

  /** Drops every body message waiting now. */
  dropBodies(): void {
    while (this.receiveBody(bodyIn) >= 0);
  }

  hasRecord(): boolean {
    return native.poll(this.readable.fd, false, 0);
  }

  hasBody(): boolean {
    return native.poll(this.bodyReadable.fd, false, 0);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeWatched([this.readable, this.writable, this.bodyReadable, this.bodyWritable]);
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

export function openQueueWords(descriptor: KillSafeDescriptor): QueueWordsSegment {
  return KillSafeSegment.open(descriptor, (buffer) => new QueueWords(buffer));
}

/** The parts of a kill-safe queue, as a process holds them. */
export interface KillSafeQueueParts {
  channel: QueueChannel;
  rlock: Lock;
  wlock: Lock;
  words: QueueWordsSegment;
}

export function createKillSafeQueueParts(makeLock: () => Lock): KillSafeQueueParts {
  const rlock = makeLock();
  const wlock = makeLock();
  const words = KillSafeSegment.create(WORDS_BYTES, (buffer) => new QueueWords(buffer));
  return { rlock, wlock, words, channel: QueueChannel.create() }; // the descriptors last: nothing after can fail
}

/** A bulk item read in part: the rest of its body is still to come. */
interface Body {
  /** Its payload, made as large as announced when that is at most PREALLOCATED_BYTES; else null, and `parts`. */
  payload: Buffer | null;
  /** Its messages' bytes so far, each copied out, when `payload` is null. */
  parts: Buffer[];
  got: number;
}

/**
 * A bulk item announced up to this long gets its memory at once, and each message is copied straight into it. A
 * longer one is kept in pieces and joined at its last message: what a record announces is never trusted to size an
 * allocation the messages themselves have not paid for.
 */
const PREALLOCATED_BYTES = 64 << 20;

/** #take found no record. */
const NOTHING = Symbol('nothing');
/** A fast get found no item (and took nothing). */
export const NOT_NOW = Symbol('not now');
/** A fast get took something that needs more steps to finish: the rest of the get. */
export class Claimed {
  constructor(readonly steps: Steps<unknown>) {}
}
/**
 * A getter waiting on an empty pipe looks at the shutdown flag at least this often: the baton that wakes it could
 * have gone with a getter killed before it passed it on.
 */
const SHUT_RECHECK_MS = 1000;


/** The operations of a kill-safe queue, run by SimpleQueue (queues.ts) as it runs a pipe queue's. */
export class KillSafeQueue {
  readonly parts: KillSafeQueueParts;
  readonly #channel: QueueChannel;
  readonly #ints: Int32Array;
  readonly #pair: BigUint64Array;
  readonly #rl: RobustLockHandle;
  readonly #wl: RobustLockHandle;
  /** Items it holds at most; 0: no bound. */
  readonly maxsize: number;
  /** A JoinableQueue: its readers count items taken, and joiners may wait for unfinished tasks to reach zero. */
  readonly #joinable: boolean;

  constructor(parts: KillSafeQueueParts, maxsize: number, joinable: boolean) {
    this.parts = parts;
    this.#channel = parts.channel;
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
    return this.size() === 0 || !this.#channel.hasRecord();
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
   * Holding the lock `held`, takes the other one (or finds its holder dead) and, if no record is left in the pipe,
   * sets `read` to `written`: every item begun was written (no writer is inside one) and taken (no reader is inside
   * one), so the rest were lost. Nothing when the other lock is busy.
   */
  #resolveLost(held: RobustLockHandle): void {
    const other = held === this.#rl ? this.#wl : this.#rl;
    if (!other.tryWait() && !other.takeOverIfDead()) return;
    try {
      if (!this.#channel.hasRecord()) this.#advance(Atomics.load(this.#ints, WRITTEN), false);
    } finally {
      other.post();
    }
  }

  // --- put -----------------------------------------------------------------------------------------------------

  /**
   * Puts a small item (a frame, or a number as it is), if that can happen now without waiting for anything: the
   * write lock, room in a bounded queue, room in the pipe. False (nothing done) otherwise; putSteps then waits.
   */
  putNow(frame: Frame | number): boolean {
    const used = typeof frame === 'number' ? NUMBER_USED : usedBytes(frame);
    if (used > INLINE_FRAME_BYTES || this.isShut()) return false;
    const wl = this.#wl;
    if (!wl.tryWait()) return false;
    try {
      return !this.full() && this.#beginInline(frame, used);
    } finally {
      wl.post();
    }
  }

  /**
   * Begins the next item (the write lock held): its sequence number, counted from now on. If its first write then
   * finds no room, #unbegin(seq).
   */
  #nextSeq(): number {
    const seq = (Atomics.load(this.#ints, WRITTEN) + 1) | 0;
    Atomics.store(this.#ints, WRITTEN, seq); // the item exists from now on
    return seq;
  }

  /** Begins an item written whole by writeInline: false, with nothing begun, when the pipe has no room. */
  #beginInline(frame: Frame | number, used: number): boolean {
    const seq = this.#nextSeq();
    if (this.#channel.writeInline(seq, frame, used)) return true;
    this.#unbegin(seq);
    return false;
  }

  /** Item `seq` found no room for its first write: as if never begun. */
  #unbegin(seq: number): void {
    Atomics.store(this.#ints, WRITTEN, (seq - 1) | 0);
    this.#wakeJoinersIfDone();
  }

  *putSteps(frame: Frame, block: boolean): Steps<void> {
    const wl = this.#wl;
    const ints = this.#ints;
    const used = usedBytes(frame);
    const inline = used <= INLINE_FRAME_BYTES;
    for (;;) {
      this.#refuseIfShut();
      if (!wl.tryWait() && !(block ? (yield { lock: wl, bounded: true }) : spinForLock(wl))) throw new Full();
      let wait: 'room' | 'pipe';
      let read = 0;
      try {
        this.#refuseIfShut();
        if (this.full()) this.#resolveLost(wl);
        if (this.full()) {
          read = this.#read();
          Atomics.store(ints, ROOM_WAIT, 1);
          wait = 'room';
        } else if (inline) {
          if (this.#beginInline(frame, used)) return;
          wait = 'pipe';
        } else {
          const seq = this.#nextSeq();
          if (!this.#channel.writeRecord(seq, FIRST | BULK, frame.chunks[0].subarray(0, FRAME_HEADER_BYTES))) {
            this.#unbegin(seq);
            wait = 'pipe';
          } else {
            // The body, past the frame's header: the record carried that.
            for (let at = FRAME_HEADER_BYTES; at < frame.length;) {
              const to = Math.min(frame.length, at + BODY_DATA_BYTES);
              if (this.#channel.sendBody(seq, frame, at, to)) {
                at = to;
              } else if (this.#readerGone()) {
                this.#advance(seq, false); // its reader died inside it: lost, as the item it was taking
                return;
              } else {
                yield { ready: this.#channel.bodyWritable, bounded: false, nap: RECHECK_MS };
              }
            }
            return;
          }
        }
      } finally {
        wl.post();
      }
      // Without the lock, so that a producer killed while it waits holds nothing; every RECHECK_MS it looks again.
      const waited = wait === 'room'
        ? (block && (yield { word: ints, index: READ, expected: read, bounded: true, nap: RECHECK_MS }))
        : (block && (yield { ready: this.#channel.writable, bounded: true, nap: RECHECK_MS }));
      if (!waited) throw new Full();
    }
  }

  #refuseIfShut(): void {
    if (this.isShut()) throw new ShutDown();
  }

  // --- get -----------------------------------------------------------------------------------------------------

  /**
   * Takes an item that is there now, whole in one record, without any wait: the item, or NOT_NOW when there is none
   * or the read lock is busy (nothing done; getSteps then waits), or the steps that finish what it began (a record
   * that is not a whole item of its own).
   */
  getNow(): unknown {
    const rl = this.#rl;
    if (this.#noneBegun() || !rl.tryWait()) return NOT_NOW;
    let n: number;
    try {
      n = (Atomics.load(this.#ints, SHUT) & IMMEDIATE) !== 0 ? -1 : this.#channel.readRecords(recordsIn, 0, 1);
    } catch (err) {
      rl.post();
      throw err;
    }
    if (n < 0) {
      rl.post();
      return NOT_NOW;
    }
    const seq = recordsIn.readInt32LE(0);
    const length = recordsIn.readUInt32BE(RECORD_HEADER_BYTES);
    if (recordsIn[4] === (FIRST | LAST) && this.#expected(seq) && length <= RECORD_DATA_BYTES - FRAME_HEADER_BYTES) {
      try {
        const start = RECORD_HEADER_BYTES + FRAME_HEADER_BYTES;
        const inBand = recordsIn.readUInt32BE(RECORD_HEADER_BYTES + 4);
        if (inBand === NUMBER_FRAME && length === 8) { // the commonest item, read in place
          this.#advance(seq, true);
          return recordsIn.readDoubleLE(start);
        }
        return this.#deliver(seq, recordsIn.subarray(start, start + length), inBand);
      } finally {
        this.#postRead();
      }
    }
    return new Claimed(this.#finishTake());
  }

  /** getNow() read a record into recordsIn and holds the read lock: the rest of the get. */
  *#finishTake(): Steps<unknown> {
    try {
      const item = yield* this.#take(true);
      if (item !== NOTHING) return item;
    } finally {
      this.#postRead();
    }
    return yield* this.getSteps(true);
  }

  /**
   * Waits for a record without the read lock, then takes the lock to read it: a worker thread terminated while it
   * waits (or a process killed there) holds nothing. The lock is held across waits only for a large item's body.
   */
  *getSteps(block: boolean): Steps<unknown> {
    const rl = this.#rl;
    const ints = this.#ints;
    // Until the pipe said it is readable, a get reads it only when the counts say an item was begun: a consumer
    // faster than its producer would otherwise pay a failing read(2) per look.
    let readable = false;
    for (;;) {
      let missing = false;
      if (readable || !this.#noneBegun() || this.isShut()) {
        if (!rl.tryWait() && !(block ? (yield { lock: rl, bounded: true }) : spinForLock(rl))) {
          if (this.isShut() && this.size() === 0) throw new ShutDown();
          throw new Empty();
        }
        try {
          const item = yield* this.#take(false);
          if (item !== NOTHING) return item;
          if (this.isShut()) throw new ShutDown();
          missing = this.size() > 0;
          if (missing) this.#resolveLost(rl);
        } finally {
          this.#postRead();
        }
      }
      // A producer that keeps up begins its next item within microseconds: worth watching for that long before a
      // wait through the event loop (or poll(2)).
      const written = Atomics.load(ints, WRITTEN);
      if (block && !missing && spinFor(ITEM_SPIN_MS, () => Atomics.load(ints, WRITTEN) !== written)) continue;
      if (!block || !(yield { ready: this.#channel.readable, bounded: true, nap: missing ? RECHECK_MS : SHUT_RECHECK_MS })) {
        throw new Empty();
      }
      readable = true;
    }
  }

  /**
   * Takes the next item, or NOTHING when no record waits; the caller holds the read lock. `received`: a record is in
   * recordsIn already.
   */
  *#take(received: boolean): Steps<unknown> {
    const channel = this.#channel;
    for (;;) {
      if ((Atomics.load(this.#ints, SHUT) & IMMEDIATE) !== 0) {
        this.#removeAll();
        throw new ShutDown();
      }
      if (!received && channel.readRecords(recordsIn, 0, 1) < 0) return NOTHING;
      received = false;
      const seq = recordsIn.readInt32LE(0);
      const kind = recordsIn[4];
      if (kind & BATON) {
        if (!this.isShut()) continue; // not from shutdown(): dropped
        channel.writeRecord(0, BATON); // passed on: every getter waiting in poll wakes in turn
        throw new ShutDown();
      }
      if (!this.#expected(seq)) continue; // done with already, or never begun by a writer: dropped
      if (!(kind & FIRST)) {
        // The rest of an item whose first record went with a reader that died: lost, and its records dropped.
        this.#advance(seq, false);
        continue;
      }
      const length = recordsIn.readUInt32BE(RECORD_HEADER_BYTES);
      const inBand = recordsIn.readUInt32BE(RECORD_HEADER_BYTES + 4);
      if (kind & BULK) {
        const item = yield* this.#takeBulk(seq, length, inBand);
        if (item !== NOTHING) return item;
        continue;
      }
      return this.#takeInline(seq, kind, length, inBand);
    }
  }

  /** The rest of inline item `seq`, whose first record is in recordsIn: its records came in the same write. */
  #takeInline(seq: number, kind: number, length: number, inBand: number): unknown {
    const used = FRAME_HEADER_BYTES + length;
    const count = Math.ceil(used / RECORD_DATA_BYTES);
    if (count > MAX_INLINE_RECORDS || (count === 1) !== ((kind & LAST) !== 0)) {
      this.#advance(seq, false);
      throw new UnpicklingError(`a queue record announces an item of ${length} bytes, which no writer of this library sends inline`);
    }
    const start = RECORD_HEADER_BYTES + FRAME_HEADER_BYTES;
    if (count === 1) return this.#deliver(seq, recordsIn.subarray(start, start + length), inBand);
    const rest = (count - 1) * RECORD_BYTES;
    const n = this.#channel.readRecords(recordsIn, RECORD_BYTES, count - 1);
    for (let i = 1; i <= n / RECORD_BYTES; i++) {
      const at = i * RECORD_BYTES;
      const last = i === count - 1;
      if (recordsIn.readInt32LE(at) !== seq || recordsIn[at + 4] !== (last ? LAST : 0)) {
        this.#advance(seq, false);
        throw new UnpicklingError('a queue item\'s records do not follow each other');
      }
    }
    if (n !== rest) {
      this.#advance(seq, false);
      throw new UnpicklingError(`a queue item of ${count} records came with ${n < 0 ? 1 : 1 + n / RECORD_BYTES}`);
    }
    const payload = Buffer.allocUnsafe(length);
    for (let i = 0; i < count; i++) {
      const from = Math.max(FRAME_HEADER_BYTES, i * RECORD_DATA_BYTES); // frame bytes this record holds, [from, to)
      const to = Math.min(used, (i + 1) * RECORD_DATA_BYTES);
      const at = i * RECORD_BYTES + RECORD_HEADER_BYTES - i * RECORD_DATA_BYTES;
      recordsIn.copy(payload, from - FRAME_HEADER_BYTES, at + from, at + to);
    }
    return this.#deliver(seq, payload, inBand);
  }

  /**
   * The body of bulk item `seq`: its messages from the socket, or NOTHING when it will never come whole (its writer
   * died) and was counted lost.
   */
  *#takeBulk(seq: number, length: number, inBand: number): Steps<unknown> {
    const channel = this.#channel;
    const body: Body = { payload: length <= PREALLOCATED_BYTES ? Buffer.allocUnsafeSlow(length) : null, parts: [], got: 0 };
    for (;;) {
      const n = channel.peekBody(bodyHead);
      if (n < 0) {
        // The rest of an item is late: if no live writer holds the write lock, none of it will come.
        if (this.#writerGone()) {
          this.#advance(seq, false);
          return NOTHING;
        }
        yield { ready: channel.bodyReadable, bounded: false, nap: RECHECK_MS };
        continue;
      }
      const of = bodyHead.readInt32LE(0);
      if (of !== seq) {
        if (after(of, seq)) { // a later item's: this one's writer died before its body went out
          this.#advance(seq, false);
          return NOTHING;
        }
        channel.receiveBody(bodyIn); // the rest of an item whose reader died
        continue;
      }
      if (n < BODY_HEADER_BYTES || n >= bodyIn.length || body.got + n - BODY_HEADER_BYTES > length) {
        channel.receiveBody(bodyIn);
        this.#advance(seq, false);
        throw new UnpicklingError(`a queue body message of ${n} bytes, which no writer of this library sends`);
      }
      channel.receiveBody(bodyIn);
      if (body.payload) bodyIn.copy(body.payload, body.got, BODY_HEADER_BYTES, n);
      else body.parts.push(Buffer.from(bodyIn.subarray(BODY_HEADER_BYTES, n)));
      body.got += n - BODY_HEADER_BYTES;
      if (!(bodyIn[4] & LAST)) continue;
      if (body.got !== length) {
        this.#advance(seq, false);
        throw new UnpicklingError(`a queue item of ${body.got} bytes announced ${length}`);
      }
      // Memory of its own: views of it need no copy.
      return this.#deliver(seq, body.payload ?? Buffer.concat(body.parts, length), inBand);
    }
  }

  /** Whether every item begun is done with (none is under way, or waiting in the pipe). */
  #noneBegun(): boolean {
    return Atomics.load(this.#ints, WRITTEN) === Atomics.load(this.#ints, READ);
  }

  /** Whether `seq` is an item readers are not done with, and that a writer began (no peer can move `read` past that). */
  #expected(seq: number): boolean {
    return after(seq, this.#read()) && !after(seq, Atomics.load(this.#ints, WRITTEN));
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
   * A reader waits for the rest of a body and the socket is empty: true when no writer is sending anything (the
   * write lock was free, or its holder dead) and the socket is still empty, so the rest will never come.
   */
  #writerGone(): boolean {
    const wl = this.#wl;
    if (!wl.tryWait() && !wl.takeOverIfDead()) return false;
    try {
      return !this.#channel.hasBody();
    } finally {
      wl.post();
    }
  }

  /**
   * A writer of a large item finds no room for its body (the write lock held): true when no live reader is inside an
   * item (the read lock was free, or its holder dead) and no record is left in the pipe, so the item's first record
   * went with a reader that died and what fills the socket will never be read; it is dropped.
   */
  #readerGone(): boolean {
    const rl = this.#rl;
    if (!rl.tryWait() && !rl.takeOverIfDead()) return false;
    try {
      if (this.#channel.hasRecord()) return false;
      this.#channel.dropBodies();
      return true;
    } finally {
      this.#postRead();
    }
  }

  // --- shutdown ------------------------------------------------------------------------------------------------

  /** Queue.shutdown(); returns the steps that write the getters' baton, or null if it was shut down already. */
  shutDown(immediate: boolean): Steps<void> | null {
    const before = Atomics.or(this.#ints, SHUT, SHUT_BIT | (immediate ? IMMEDIATE : 0));
    Atomics.store(this.#ints, ROOM_WAIT, 0);
    native.wordNotify(this.#ints, READ, ALL); // blocked putters look again, and throw ShutDown
    // A holder of the read lock (a get, a joiner's look for lost items) lets go within microseconds unless it is
    // preempted: waiting for it, briefly, makes the items gone when this returns. One that holds it longer (a get
    // inside a large item) removes them as it lets go (#postRead).
    if (immediate && (this.#rl.wait(IMMEDIATE_SHUTDOWN_WAIT_MS) || this.#rl.takeOverIfDead())) {
      try {
        this.#removeAll();
      } finally {
        this.#rl.post();
      }
    }
    return (before & SHUT_BIT) === 0 ? this.#batonSteps() : null;
  }

  /** Wakes the getters waiting on an empty pipe; later ones see the flag before they wait. */
  *#batonSteps(): Steps<void> {
    const wl = this.#wl;
    if (!wl.tryWait()) yield { lock: wl, bounded: false };
    try {
      this.#channel.writeRecord(0, BATON); // a full pipe needs no baton: no getter waits on it
    } finally {
      wl.post();
    }
  }

  /**
   * Releases the read lock, then does what an immediate shutdown could not do while the lock was held here (it
   * removes the items only if it can take the lock at once): it set its flag before trying, so either it took the
   * lock after this release, or the flag is seen below. A joiner checking for lost items holds the lock briefly every
   * RECHECK_MS; without this, an immediate shutdown at that moment left the items, and the joiner waited forever.
   */
  #postRead(): void {
    const rl = this.#rl;
    rl.post();
    if ((Atomics.load(this.#ints, SHUT) & IMMEDIATE) === 0 || this.size() === 0 || !rl.tryWait()) return;
    try {
      this.#removeAll();
    } finally {
      rl.post();
    }
  }

  /** Drops every item waiting now (an immediate shutdown); the caller holds the read lock. */
  #removeAll(): void {
    const channel = this.#channel;
    while (channel.readRecords(recordsIn, 0, 1) >= 0) {
      if (!(recordsIn[4] & BATON)) this.#advance(recordsIn.readInt32LE(0), false);
    }
    channel.dropBodies();
    this.#resolveLost(this.#rl);
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
          this.#postRead();
        }
        if (this.unfinished() === 0) return;
      }
      yield { word: ints, index: JOIN_EPOCH, expected: epoch, bounded: true, nap: RECHECK_MS };
    }
  }

  close(owner: string): void {
    this.#channel.close();
    this.parts.rlock._close(owner);
    this.parts.wlock._close(owner);
    this.parts.words.close(owner);
  }
}
