/**
 * The byte transport of a Manager connection, both sides: length-prefixed frames (4-byte big-endian length, then
 * the payload), batched per tick. On POSIX the connection runs on its raw descriptor (native read/write, readiness
 * from the event loop through uv_poll, as lib/pipe.ts does for queues) instead of a net.Socket, which lets a side
 * that expects a frame soon read for it on its own thread for a few microseconds (spin) instead of paying for an
 * event-loop wake-up: docs/manager-calls.md has the measurements. Windows named pipes keep the net.Socket path.
 *
 * A local connection (a Unix socket: both ends on this machine) moves its frames into shared memory right after the
 * handshake (lib/shm_ring.ts): the server offers a segment, the client maps it and says so, and from then on a
 * write is a copy into a ring and a read a copy out of one; the socket carries only bells (one byte for a peer that
 * is not spinning, or that waits for room) and the end of file that says the peer is gone.
 *
 * How long and how often a side spins is lib/spin.ts's rule.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { FramedSocket, HEADER_BYTES } from './framing';
import { native, NativeFdWatcher } from './native';
import { createRingSegment, openRingSegment, RingSegment } from './ring_segment';
import { RingCorrupt, ringEnds, RingReader, RingWriter, SEGMENT_BYTES } from './shm_ring';
import type { SpinPolicy } from './spin';

/** What the Manager's handshake, client and server need from a connection, whatever carries it. */
export interface FrameChannel extends EventEmitter {
  /** Mutable: a server accepts only tiny frames until a connection has authenticated. */
  maxFrameBytes: number;
  /** Writes `payload` now, after what this tick batched; `onWritten` runs once it is in the kernel (or failed). */
  send(payload: Uint8Array, onWritten?: (err?: Error | null) => void): void;
  /** Writes `payload` at the end of this tick, with every other frame batched in it: one write for them all. */
  sendBatched(payload: Uint8Array): void;
  /** Whether the connection keeps the event loop alive (a client's does while it waits for replies). */
  keepAlive(on: boolean): void;
  close(): void;
}

/** A net.Socket's frames as a FrameChannel (Windows named pipes): batches through cork/uncork. */
export class SocketChannel extends FramedSocket implements FrameChannel {
  override send(payload: Uint8Array, onWritten?: (err?: Error | null) => void): boolean {
    if (this.socket.writableCorked) this.socket.uncork();
    return super.send(payload, onWritten);
  }

  sendBatched(payload: Uint8Array): void {
    const socket = this.socket;
    if (!socket.writableCorked) {
      socket.cork();
      process.nextTick(() => socket.uncork());
    }
    super.send(payload);
  }

  keepAlive(on: boolean): void {
    if (on) this.socket.ref();
    else this.socket.unref();
  }
}

/** Whether connections on this platform run on raw descriptors. */
export const rawDescriptors = native.platform === 'posix';

/**
 * The descriptor of a connected socket, as a duplicate this thread owns; the socket itself is destroyed before it
 * ever reads (call this in the 'connect' or 'connection' handler, before the event loop runs again).
 */
export function takeDescriptor(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('multiproc: the socket has no descriptor');
  const ticket = native.lendDescriptor(fd);
  let own: number;
  try {
    own = native.adoptDescriptor(ticket);
  } finally {
    native.revokeDescriptor(fd);
  }
  native.ownDescriptor(own);
  socket.destroy(); // closes its own descriptor only: the connection lives on in ours
  return own;
}

/** Bytes one readiness callback reads at most before it lets the event loop run (as pipe.ts's BURST_BYTES). */
const BURST_BYTES = 1 << 20;
const READ_BYTES = 64 << 10;
/** Batched frames up to this many bytes in all are joined into one buffer (one write(2)); larger go by writev. */
const JOIN_BYTES = 64 << 10;
const READABLE = 1;
const WRITABLE = 2;
/** The ring handshake's frames: the offer (then the segment's name, or nothing: no ring) and the two answers. */
const RING_OFFER = Buffer.from('#MPRING#');
const RING_YES = Buffer.from('#MPRING#yes');
const RING_NO = Buffer.from('#MPRING#no');
const BELL = Buffer.from([0]);
/**
 * Servers offer rings unless MULTIPROC_MANAGER_RING=0 (for measuring the socket path, and for a platform whose
 * shared memory is unusable).
 */
const offerRings = process.env.MULTIPROC_MANAGER_RING !== '0';

interface Rings {
  reader: RingReader;
  writer: RingWriter;
  /** Unmaps the segment. */
  release(): void;
}

interface WriteWaiter {
  /** Total bytes written when this frame is all in the kernel. */
  end: number;
  done(err?: Error | null): void;
}

/**
 * Frames over a connected stream socket's raw descriptor (POSIX), owned by this object and closed with it. Emits
 * 'frame' (Buffer, its own memory), 'oversize' (bytes announced) before closing for a frame above maxFrameBytes, and
 * 'close' once, after the descriptor is closed (end of file, an error, or close()).
 */
export class DescriptorChannel extends EventEmitter implements FrameChannel {
  /** Test hook: the write system calls this channel made. @internal */
  _writes = 0;
  readonly fd: number;
  maxFrameBytes: number;
  /** Set by spinAfterFlush. */
  #spinPolicy: SpinPolicy | null = null;
  #expecting: () => boolean = () => false;
  /** One watcher for both directions (libuv allows one per descriptor): readable, and writable while #blocked. */
  readonly #watcher: NativeFdWatcher;
  #blocked = false;
  #closed = false;
  /** A write found the peer gone: nothing more is written; what it sent before it went is still read. */
  #peerGone = false;
  #keepAlive = true;
  // reading
  readonly #scratch = Buffer.allocUnsafe(READ_BYTES);
  readonly #header = Buffer.alloc(HEADER_BYTES);
  #headerGot = 0;
  #frame: Buffer | null = null;
  #frameGot = 0;
  // writing
  #out: Uint8Array[] = [];
  #outBytes = 0;
  /** Bytes of #out[0...] already written. */
  #outOffset = 0;
  #written = 0;
  #queued = 0;
  #waiters: WriteWaiter[] = [];
  #flushScheduled = false;
  /** Once the ring handshake accepted: frames go through shared memory. */
  #rings: Rings | null = null;
  /** Server: the segment offered, until the client's answer. */
  #offered: RingSegment | null = null;
  /** Ring mode: this side told producers it is awake; it says it sleeps when the event loop next gets a turn. */
  #sleepScheduled = false;
  readonly #sleep = (): void => {
    this.#sleepScheduled = false;
    if (this.#closed) return;
    this.#rings!.reader.asleep();
    if (this.#ringBytes() === 0) return;
    this.#awake(); // what came just before it slept: no bell will announce it
    this.#readRing();
  };
  readonly #flushTick = (): void => {
    this.#flushScheduled = false;
    if (this.#flush()) this.#afterFlush();
  };
  /**
   * A tick ends with its next-tick callbacks and then its promise reactions: a flush queued from a microtask runs after
   * all of them, so frames sent from either side of the tick (a reply made at once, and one whose promise settles in
   * the same tick) leave in the same write.
   */
  readonly #flushAfterMicrotasks = (): void => {
    process.nextTick(this.#flushTick);
  };

  constructor(fd: number, options: { maxFrameBytes: number }) {
    super();
    this.fd = fd;
    this.maxFrameBytes = options.maxFrameBytes;
    this.#watcher = new native.FdWatcher(fd, false);
    this.#watcher.start(this.#onReady, READABLE);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Test hook: whether frames go through a shared-memory ring. @internal */
  get _onRing(): boolean {
    return this.#rings !== null;
  }

  send(payload: Uint8Array, onWritten?: (err?: Error | null) => void): void {
    this.#queue(payload);
    if (onWritten) {
      if (this.#closed || this.#peerGone) onWritten(new Error('the connection is closed'));
      else this.#waiters.push({ end: this.#queued, done: onWritten });
    }
    this.#flush();
  }

  sendBatched(payload: Uint8Array): void {
    this.#queue(payload);
    if (!this.#flushScheduled && !this.#closed) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flushAfterMicrotasks);
    }
  }

  keepAlive(on: boolean): void {
    if (this.#closed || on === this.#keepAlive) return;
    this.#keepAlive = on;
    this.#watcher.setRef(on || this.#blocked);
  }

  /** Frames waiting for room keep the process alive, whatever keepAlive says: each is owed to the peer. */
  #setBlocked(on: boolean): void {
    this.#blocked = on;
    if (!this.#keepAlive) this.#watcher.setRef(on);
  }

  /**
   * After each batched flush has written everything, while `expecting()` (an answer is due soon), reads for it on
   * this thread when `policy` says a spin is worth it, instead of waiting for the event loop to wake.
   */
  spinAfterFlush(policy: SpinPolicy, expecting: () => boolean): void {
    this.#spinPolicy = policy;
    this.#expecting = expecting;
  }

  #afterFlush(): void {
    if (this.#spinPolicy && !this.#closed && this.#expecting()) {
      this.#spinPolicy.spinOn((ms) => (this.#rings ? this.#spinOnRing(ms) : this.#spin(ms)));
    }
  }

  /**
   * Server, right after the handshake: offers the client a ring for the rest of the connection (the client's answer
   * is taken in #parse, before any byte that follows it). Without shared memory (or with rings turned off) the
   * offer is empty and the connection stays on its socket.
   */
  offerRing(): void {
    let name = '';
    if (offerRings) {
      try {
        this.#offered = createRingSegment(SEGMENT_BYTES);
        name = this.#offered.name;
      } catch {
        // no room in /dev/shm, out of descriptors: this connection keeps its socket
      }
    }
    this.send(Buffer.concat([RING_OFFER, Buffer.from(name, 'latin1')]));
  }

  /**
   * Client, right after the handshake: takes the server's offer (the frame after the handshake). Maps a segment of
   * a ring's name and size only; answers on the socket, then sends through the ring. An offer that is not one closes
   * the connection (false).
   */
  acceptRing(offer: Buffer): boolean {
    if (!offer.subarray(0, RING_OFFER.length).equals(RING_OFFER)) {
      this.close();
      return false;
    }
    const name = offer.subarray(RING_OFFER.length).toString('latin1');
    if (name === '') return true;
    const buffer = openRingSegment(name);
    if (buffer === undefined || buffer.byteLength !== SEGMENT_BYTES) {
      if (buffer) native.shmDetach(buffer);
      this.send(RING_NO);
      return true;
    }
    this.send(RING_YES);
    const mapped = buffer;
    this.#useRings(ringEnds(mapped, false), () => native.shmDetach(mapped));
    return true;
  }

  /** Server: the client's answer to the offer (whatever it is not a yes to, the socket keeps). */
  #answered(frame: Buffer): void {
    const offered = this.#offered!;
    this.#offered = null;
    if (!frame.equals(RING_YES)) return offered.discard();
    const { buffer } = offered;
    offered.remove(); // the client removed the name already: this is in case it did not
    this.#useRings(ringEnds(buffer, true), () => native.shmDetach(buffer));
    // The bytes after the answer, already read with it, were bells: the ring may hold requests no bell will announce.
    process.nextTick(() => {
      if (!this.#closed) this.#onBells();
    });
  }

  #useRings(ends: { reader: RingReader; writer: RingWriter }, release: () => void): void {
    if (this.#closed || this.#out.length) { // nothing is queued during the handshake; if it were, it must go first
      release();
      this.close();
      return;
    }
    this.#rings = { ...ends, release };
  }

  /**
   * Ring mode: producers need not ring this side until the event loop has had a turn (the side looks at the ring
   * then, before it sleeps). Set on waking and while it spins, so that two sides answering each other within one
   * turn ring no bells: a side in the middle of its work is about to spin, not asleep.
   */
  #awake(): void {
    this.#rings!.reader.awake();
    if (this.#sleepScheduled) return;
    this.#sleepScheduled = true;
    setImmediate(this.#sleep);
  }

  /** Ring mode: spins for up to `ms` milliseconds reading memory until bytes arrive; true when some did. */
  #spinOnRing(ms: number): boolean {
    const until = performance.now() + ms;
    this.#awake();
    spin: do {
      for (let i = 0; i < 64; i++) if (this.#ringBytes() !== 0) break spin;
    } while (performance.now() < until);
    return this.#readRing() > 0; // nothing once closed
  }

  /** Ring mode: the bytes the peer's ring holds; 0 once closed, which impossible positions (a lying peer) make it. */
  #ringBytes(): number {
    if (this.#closed) return 0;
    try {
      return this.#rings!.reader.available();
    } catch {
      this.close();
      return 0;
    }
  }

  /** Ring mode: the socket is readable: bells, or the end of file. Reads the bells, then what the ring holds. */
  #onBells(): void {
    let gone = false;
    for (;;) {
      let n: number;
      try {
        n = native.read(this.fd, this.#scratch, 0, READ_BYTES);
      } catch {
        gone = true;
        break;
      }
      if (n === 0) gone = true;
      if (n < READ_BYTES) break;
    }
    this.#awake();
    this.#readRing(); // what the peer wrote before it went is read before the close
    if (!this.#closed && this.#blocked) {
      this.#setBlocked(false);
      if (this.#flush()) this.#afterFlush();
    }
    if (gone) this.close();
  }

  /**
   * Ring mode: reads what the ring holds (up to a burst; the rest after the event loop had a turn), emitting its
   * frames; rings the producer back if it waits for the room this made. The bytes read.
   */
  #readRing(): number {
    if (this.#closed) return 0;
    const { reader } = this.#rings!;
    let total = 0;
    while (!this.#closed) {
      if (total >= BURST_BYTES) {
        setImmediate(() => this.#readRing());
        break;
      }
      let n: number;
      try {
        n = reader.read(this.#scratch, 0, READ_BYTES);
      } catch {
        this.close(); // the peer wrote impossible positions
        break;
      }
      if (n === 0) break;
      total += n;
      this.#parse(n);
    }
    if (!this.#closed && reader.freed()) this.#bell();
    return total;
  }

  /** Wakes the peer: one byte on the socket. A full socket already holds bells, so EAGAIN needs nothing more. */
  #bell(): void {
    try {
      native.write(this.fd, BELL, 0, 1);
    } catch {
      this.#writeFailed(); // the peer is gone (EPIPE)
    }
  }

  /**
   * Reads for up to `ms` milliseconds on this thread, until bytes arrive (their frames are emitted as usual).
   * True when some did.
   */
  #spin(ms: number): boolean {
    const until = performance.now() + ms;
    do {
      for (let i = 0; i < 8; i++) {
        if (this.#closed) return false;
        const n = this.#readOnce();
        if (n !== 0) return n > 0;
      }
    } while (performance.now() < until);
    return false;
  }

  /**
   * A write found the peer gone (EPIPE, ECONNRESET). What it sent before it went may still be unread here, and may
   * matter (a producer's last puts, sent before its process exited): the connection stays open for reading until
   * its end of file, which closes it; nothing more is written.
   */
  #writeFailed(): void {
    this.#peerGone = true;
    this.#out = [];
    this.#setBlocked(false);
    this.#watcher.start(this.#onReady, READABLE);
  }

  /**
   * The connection is ending (its descriptor reports an error): what the peer sent before it went is still here, and
   * is read — its frames handled — before the close. A burst is more than a socket's buffer or a ring holds.
   */
  #readToEnd(): void {
    if (this.#rings) this.#readRing();
    else this.#readBurst();
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher.close(); // stops the event loop's watch first: the number may be reused once closed
    native.closeFd(this.fd);
    this.#rings?.release();
    this.#offered?.discard();
    this.#offered = null;
    this.#out = [];
    const waiters = this.#waiters.splice(0);
    const err = new Error('the connection is closed');
    for (const w of waiters) w.done(err);
    process.nextTick(() => this.emit('close'));
  }

  #queue(payload: Uint8Array): void {
    if (this.#closed || this.#peerGone) return; // nothing is kept for a peer that reads no more
    const header = Buffer.allocUnsafe(HEADER_BYTES);
    header.writeUInt32BE(payload.length, 0);
    this.#out.push(header, payload);
    this.#outBytes += HEADER_BYTES + payload.length;
    this.#queued += HEADER_BYTES + payload.length;
  }

  /** Writes what is queued, as far as the socket takes it now; true when all of it was written. */
  #flush(): boolean {
    if (this.#closed) return false;
    if (this.#blocked) return false; // waiting for room: the watcher (or a bell) says when
    if (this.#peerGone) return false;
    if (this.#rings) return this.#flushRing();
    try {
      while (this.#out.length) {
        if (this.#out.length > 1 && this.#outBytes - this.#outOffset <= JOIN_BYTES && this.#outOffset === 0) {
          this.#out = [Buffer.concat(this.#out, this.#outBytes)];
        }
        this._writes++;
        const n = this.#out.length === 1
          ? native.write(this.fd, this.#out[0], this.#outOffset, this.#out[0].length - this.#outOffset)
          : native.writev(this.fd, this.#out, this.#outOffset);
        if (n < 0) {
          this.#waitForRoom();
          return false;
        }
        this.#wrote(n);
      }
    } catch {
      this.#writeFailed(); // the peer is gone (EPIPE, ECONNRESET)
      return false;
    }
    return true;
  }

  /** Ring mode: copies what is queued into the ring as far as it has room; rings a sleeping peer. */
  #flushRing(): boolean {
    const { writer } = this.#rings!;
    this._writes++;
    try {
      for (;;) {
        let wrote = false;
        while (this.#out.length && !this.#closed) {
          const chunk = this.#out[0];
          const n = writer.write(chunk, this.#outOffset, chunk.length - this.#outOffset);
          if (n === 0) break;
          wrote = true;
          this.#wrote(n);
        }
        if (this.#closed) return false; // closed by a write's callback
        if (wrote && writer.ring()) this.#bell();
        if (this.#closed || this.#peerGone) return false; // the bell found the peer gone (EPIPE): nothing more to do here
        if (!this.#out.length) return true;
        if (writer.waitForRoom()) {
          this.#setBlocked(true); // the peer rings back once it has read
          return false;
        }
      }
    } catch (err) {
      if (!(err instanceof RingCorrupt)) throw err;
      this.close(); // the peer wrote impossible positions
      return false;
    }
  }

  #wrote(n: number): void {
    this.#written += n;
    let at = this.#outOffset + n;
    let drop = 0;
    while (drop < this.#out.length && at >= this.#out[drop].length) {
      at -= this.#out[drop].length;
      this.#outBytes -= this.#out[drop].length;
      drop++;
    }
    if (drop) this.#out.splice(0, drop);
    this.#outOffset = at;
    while (this.#waiters.length && this.#waiters[0].end <= this.#written) this.#waiters.shift()!.done(null);
  }

  #waitForRoom(): void {
    this.#setBlocked(true);
    this.#watcher.start(this.#onReady, READABLE | WRITABLE);
  }

  readonly #onReady = (err: Error | null, events: number): void => {
    if (err) return this.#readToEnd(); // POLLERR: the peer reset the connection (it went with our bytes unread)
    if (events & READABLE) {
      this.#spinPolicy?.arrived();
      if (this.#rings) this.#onBells();
      else this.#readBurst();
    }
    if (this.#blocked && !this.#closed && events & WRITABLE) {
      this.#setBlocked(false);
      if (!this.#flush()) return; // still no room: watching for it again
      this.#watcher.start(this.#onReady, READABLE);
      this.#afterFlush();
    }
  };

  /**
   * One readiness: reads a burst of bytes, emitting their frames. A read that did not fill the scratch buffer took
   * all there was: asking again would cost a system call that almost always finds nothing (bytes that arrive later
   * make the descriptor readable again).
   */
  #readBurst(): void {
    let total = 0;
    while (total < BURST_BYTES && !this.#closed) {
      const n = this.#readOnce();
      if (this.#rings) return; // the ring's answer was in it: what follows is bells (#answered reads the ring)
      if (n < READ_BYTES) return;
      total += n;
    }
  }

  /** One read(2): bytes read (frames emitted), 0 when there are none now, -1 at end of file or on error (closed). */
  #readOnce(): number {
    let n: number;
    try {
      n = native.read(this.fd, this.#scratch, 0, READ_BYTES);
    } catch {
      this.close(); // ECONNRESET: the peer is gone
      return -1;
    }
    if (n < 0) return 0;
    if (n === 0) {
      this.close();
      return -1;
    }
    this.#parse(n);
    return n;
  }

  #parse(length: number): void {
    const chunk = this.#scratch;
    let at = 0;
    while (at < length && !this.#closed) {
      if (this.#frame === null) {
        const take = Math.min(HEADER_BYTES - this.#headerGot, length - at);
        chunk.copy(this.#header, this.#headerGot, at, at + take);
        this.#headerGot += take;
        at += take;
        if (this.#headerGot < HEADER_BYTES) return;
        this.#headerGot = 0;
        const need = this.#header.readUInt32BE(0);
        if (need > this.maxFrameBytes) {
          this.emit('oversize', need);
          this.close();
          return;
        }
        // Filled whole before anyone sees it: no stale memory of this process reaches a handler.
        this.#frame = need < 4096 ? Buffer.allocUnsafe(need) : Buffer.allocUnsafeSlow(need);
        this.#frameGot = 0;
      }
      const frame = this.#frame;
      const take = Math.min(frame.length - this.#frameGot, length - at);
      chunk.copy(frame, this.#frameGot, at, at + take);
      this.#frameGot += take;
      at += take;
      if (this.#frameGot < frame.length) return;
      this.#frame = null;
      if (this.#offered) {
        this.#answered(frame);
        if (this.#rings) return; // what follows on the socket is bells
        continue;
      }
      this.emit('frame', frame);
    }
  }
}
