/**
 * Connections (CPython's multiprocessing.connection): two ends that carry whole messages, made by Pipe() or by a
 * Listener and a Client (connection_listener.ts), and wait() on several connections and processes at once.
 *
 * A message is a 4-byte big-endian length and that many bytes. sendBytes() sends the caller's bytes as they are;
 * send() sends a value as a queue does (pipe.ts's frame: reduced, then v8-serialized, large binary views out of
 * band), so the same trust rules hold: only a peer trusted to name code (a Pipe's, handed over at spawn time, or an
 * authenticated Listener/Client peer) has its library objects rebuilt; from any other, recv() takes plain data only.
 *
 * Like a Lock or a Queue, a Pipe's Connection reaches a child only while it is spawned (its descriptor goes into
 * the child's stdio array; on Windows its handles are duplicated into the child); anywhere else it refuses to
 * travel with Python's RuntimeError.
 *
 * Every call has an async form (waits through the event loop) and a Sync twin (blocks this thread, as in Python);
 * they may be mixed on one connection: a sendSync() writes after the async sends queued before it, and a Sync
 * receive while an async one is pending is refused (ERR_MP_CONNECTION_BUSY) instead of splitting a message.
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { FdTransport, Transport, WinPipeTransport } from './connection_transport';
import { BufferTooShort, EOFError, InvalidArgumentError, OutOfRangeError, UnpicklingError, ValueError } from './errors';
import { MAX_FRAME_BYTES } from './framing';
import { native } from './native';
import { decodePayload, encodeFrame, FRAME_HEADER_BYTES } from './pipe';
import { handleValue } from './pipe_win';
import { Process } from './process';
import {
  adoptFds, assertSpawning, holdsMarker, Lent, reduce, Reduced, registerRebuilder, spawningContext,
} from './reduction';
import { defineInheritanceGuard } from './semlock';
import { REBUILD_CONNECTION } from './rebuilder_ids';
import { setLongTimeout } from './timeouts';
import { checkBoolean, checkInteger, checkTimeout, describe } from './validate';

const HEADER_BYTES = 4;
/** A message up to this long is written as one buffer with its header (one system call). */
const JOIN_BYTES = 64 << 10;
/** At most this many bytes are read per step of an async receive: the event loop is never held for long. */
const BURST_BYTES = 1 << 20;
/** What a Pipe's pipe or socket pair is asked to hold (Linux grants it; elsewhere the system's default stays). */
const PIPE_CAPACITY = 1 << 20;

export interface ConnectionSettings {
  /** Whether the peer may name code: its library objects (and `[reduce]` classes) are rebuilt by recv(). */
  trusted: boolean;
  /** The longest message accepted; a longer one closes the connection (ERR_MP_BAD_MESSAGE_LENGTH). */
  maxMessageBytes: number;
}

interface Outgoing {
  chunks: Uint8Array[];
  /** Bytes in all, and written so far. */
  length: number;
  sent: number;
  done?: (err?: Error) => void;
}

/** A connection collected without close(): its descriptors (handles) close then. */
const collected = new FinalizationRegistry<Transport>((transport) => transport.close());

function closedError(): ValueError {
  return new ValueError('handle is closed', 'ERR_MP_CLOSED');
}

/** Python's multiprocessing.connection.Connection. */
export class Connection {
  readonly readable: boolean;
  readonly writable: boolean;
  #transport: Transport | null;
  readonly #settings: ConnectionSettings;
  readonly #closing = new AbortController();
  // reading: the message being assembled, kept across calls (an async receive reads a burst at a time)
  readonly #header = Buffer.alloc(HEADER_BYTES);
  #headerGot = 0;
  #body: Buffer | null = null;
  #bodyGot = 0;
  /** Async receives pending: they take turns through #readTurn. */
  #readers = 0;
  #readTurn: Promise<unknown> = Promise.resolve();
  // writing
  readonly #out: Outgoing[] = [];
  #draining = false;

  /** @internal Pipe(), Listener.accept() and Client() make connections. */
  constructor(transport: Transport, settings: Partial<ConnectionSettings> = {}) {
    this.#transport = transport;
    this.readable = transport.readable;
    this.writable = transport.writable;
    this.#settings = { trusted: true, maxMessageBytes: MAX_FRAME_BYTES, ...settings };
    collected.register(this, transport, this);
    defineInheritanceGuard(this);
  }

  get closed(): boolean {
    return this.#transport === null;
  }

  // --- sending ----------------------------------------------------------------------------------------------------

  /** Sends `value` (as a Queue item travels); resolves once all of it is written. */
  send(value: unknown): Promise<void> {
    return this.#sendAsync(this.#valueMessage(value));
  }

  sendSync(value: unknown): void {
    this.#sendSync(this.#valueMessage(value));
  }

  /**
   * Sends `size` bytes of `data` from byte `offset` on, as one message. The bytes are read, not copied: they are
   * the caller's until the promise resolves, as with stream.write().
   */
  sendBytes(data: ArrayBufferView | ArrayBuffer, offset?: number, size?: number): Promise<void> {
    return this.#sendAsync(this.#bytesMessage(data, offset, size));
  }

  sendBytesSync(data: ArrayBufferView | ArrayBuffer, offset?: number, size?: number): void {
    this.#sendSync(this.#bytesMessage(data, offset, size));
  }

  #valueMessage(value: unknown): Outgoing {
    this.#checkWritable();
    const frame = encodeFrame(value);
    return this.#message(frame.chunks, frame.length);
  }

  #bytesMessage(data: ArrayBufferView | ArrayBuffer, offset?: number, size?: number): Outgoing {
    this.#checkWritable();
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data)
      : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : null;
    if (!bytes) throw new InvalidArgumentError(`sendBytes needs a Buffer, a typed array or an ArrayBuffer, got ${describe(data)}`);
    const from = offset === undefined ? 0 : checkInteger(offset, 'offset', 0);
    if (from > bytes.length) throw new ValueError(`buffer length < offset (${bytes.length} < ${from})`);
    const length = size === undefined ? bytes.length - from : checkInteger(size, 'size', 0);
    if (from + length > bytes.length) throw new ValueError(`buffer length < offset + size (${bytes.length} < ${from + length})`);
    return this.#message([bytes.subarray(from, from + length)], length);
  }

  #message(chunks: Uint8Array[], length: number): Outgoing {
    if (length > MAX_FRAME_BYTES) throw new ValueError(`message of ${length} bytes is too large to send`);
    const header = Buffer.allocUnsafe(HEADER_BYTES);
    header.writeUInt32BE(length, 0);
    const total = HEADER_BYTES + length;
    if (length <= JOIN_BYTES) return { chunks: [Buffer.concat([header, ...chunks], total)], length: total, sent: 0 };
    return { chunks: [header, ...chunks], length: total, sent: 0 };
  }

  #sendAsync(out: Outgoing): Promise<void> {
    this.#out.push(out);
    try {
      if (this.#pump()) return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
    const sent = new Promise<void>((resolve, reject) => {
      out.done = (err) => (err ? reject(err) : resolve());
    });
    this.#drain();
    return sent;
  }

  #sendSync(out: Outgoing): void {
    this.#out.push(out);
    while (!this.#pump()) this.#transport!.waitWritableSync(-1);
  }

  /** Writes what is queued, as far as there is room now; true when all of it is written. A failure fails them all. */
  #pump(): boolean {
    const transport = this.#transport;
    if (!transport) {
      this.#failOutgoing(closedError());
      throw closedError();
    }
    try {
      while (this.#out.length) {
        const out = this.#out[0];
        while (out.sent < out.length) {
          const n = transport.writeChunks(out.chunks, out.sent);
          if (n < 0) return false;
          out.sent += n;
        }
        this.#out.shift();
        out.done?.();
      }
      return true;
    } catch (err) {
      this.#failOutgoing(err as Error); // the peer is gone (EPIPE): nothing queued can be delivered
      throw err;
    }
  }

  #failOutgoing(err: Error): void {
    for (const out of this.#out.splice(0)) out.done?.(err);
  }

  /** Waits for room and writes, until the queue is empty (one loop, whoever queued). */
  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    (async () => {
      try {
        while (this.#out.length && this.#transport) {
          await this.#transport.waitWritable(undefined, this.#closing.signal);
          this.#pump();
        }
      } catch (err) {
        this.#failOutgoing(this.#transport ? err as Error : closedError());
      } finally {
        this.#draining = false;
      }
    })();
  }

  // --- receiving --------------------------------------------------------------------------------------------------

  /** The next value sent with send(). EOFError once the peer has closed and everything it sent was received. */
  async recv(): Promise<unknown> {
    return this.#decode(await this.#receive(undefined));
  }

  recvSync(): unknown {
    return this.#decode(this.#receiveSync(undefined));
  }

  /**
   * The next message's bytes. With `maxLength`, a longer message closes the connection and throws
   * (ERR_MP_BAD_MESSAGE_LENGTH), as in Python.
   */
  recvBytes(maxLength?: number): Promise<Buffer> {
    return this.#receive(this.#checkMaxLength(maxLength));
  }

  recvBytesSync(maxLength?: number): Buffer {
    return this.#receiveSync(this.#checkMaxLength(maxLength));
  }

  /**
   * Reads the next message into `buffer` from byte `offset` on; resolves with its length. A message that does not
   * fit throws BufferTooShort, which holds it (err.data).
   */
  async recvBytesInto(buffer: ArrayBufferView | ArrayBuffer, offset = 0): Promise<number> {
    const target = this.#intoTarget(buffer, offset);
    return this.#copyInto(await this.#receive(undefined, target.subarray(offset)), target, offset);
  }

  recvBytesIntoSync(buffer: ArrayBufferView | ArrayBuffer, offset = 0): number {
    const target = this.#intoTarget(buffer, offset);
    return this.#copyInto(this.#receiveSync(undefined, target.subarray(offset)), target, offset);
  }

  #intoTarget(buffer: ArrayBufferView | ArrayBuffer, offset: number): Uint8Array {
    this.#checkReadable();
    const target = buffer instanceof ArrayBuffer ? new Uint8Array(buffer)
      : ArrayBuffer.isView(buffer) ? new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength) : null;
    if (!target) throw new InvalidArgumentError(`recvBytesInto needs a Buffer, a typed array or an ArrayBuffer, got ${describe(buffer)}`);
    checkInteger(offset, 'offset', 0);
    if (offset > target.length) throw new ValueError(`offset out of bounds (${offset} > ${target.length})`);
    return target;
  }

  #copyInto(message: Buffer, target: Uint8Array, offset: number): number {
    if (message.length > target.length - offset) throw new BufferTooShort(message, target.length - offset);
    if (message.buffer !== target.buffer) target.set(message, offset); // else it was read in place
    return message.length;
  }

  #checkMaxLength(maxLength: number | undefined): number | undefined {
    if (maxLength === undefined) return undefined;
    if (typeof maxLength !== 'number' || Number.isNaN(maxLength)) throw new InvalidArgumentError(`maxLength must be a number, got ${describe(maxLength)}`);
    if (maxLength < 0) throw new OutOfRangeError(`negative maxLength: ${maxLength}`);
    return maxLength;
  }

  /**
   * Whether a message (or end of file) is there to receive, waiting up to `timeout` ms for one: 0 by default (as
   * Python's poll()), null or Infinity for as long as it takes.
   */
  async poll(timeout?: number | null): Promise<boolean> {
    const t = this.#pollTimeout(timeout);
    // Asked first without waiting: a 0 ms timer can fire before the event loop's watch reports what is already there.
    if (this._readyNow()) return true;
    if (t === 0) return false;
    try {
      return await this.#transport!.waitReadable(t, this.#closing.signal);
    } catch (err) {
      throw this.#transport ? err : closedError();
    }
  }

  pollSync(timeout?: number | null): boolean {
    const t = this.#pollTimeout(timeout);
    return this.#hasPartial() || this.#transport!.waitReadableSync(t ?? -1);
  }

  /** As CPython: no timeout means 0, and a negative one is 0 too. */
  #pollTimeout(timeout: number | null | undefined): number | undefined {
    this.#checkReadable();
    if (timeout === undefined || (typeof timeout === 'number' && timeout < 0)) return 0;
    return checkTimeout(timeout, 'poll timeout');
  }

  #hasPartial(): boolean {
    return this.#headerGot > 0 || this.#body !== null;
  }

  /** @internal wait(): whether receiving would not block now. */
  _readyNow(): boolean {
    return !this.#transport || this.#hasPartial() || this.#transport.waitReadableSync(0);
  }

  /** @internal wait(): resolves when readable; `signal` ends the wait. */
  _whenReadable(signal: AbortSignal): Promise<unknown> {
    if (!this.#transport) return Promise.resolve();
    return this.#transport.waitReadable(undefined, signal).catch(() => undefined);
  }

  /** `into`: where a message that fits is read in place (recvBytesInto), instead of into memory of its own. */
  #receive(maxLength: number | undefined, into?: Uint8Array): Promise<Buffer> {
    try {
      this.#checkReadable();
    } catch (err) {
      return Promise.reject(err);
    }
    this.#readers++;
    const turn = this.#readTurn.then(async () => {
      for (;;) {
        const message = this.#step(maxLength, BURST_BYTES, into);
        if (message) return message;
        try {
          await this.#transport!.waitReadable(undefined, this.#closing.signal);
        } catch (err) {
          throw this.#transport ? err : closedError();
        }
      }
    }).finally(() => this.#readers--);
    this.#readTurn = turn.catch(() => undefined);
    return turn;
  }

  #receiveSync(maxLength: number | undefined, into?: Uint8Array): Buffer {
    this.#checkReadable();
    if (this.#readers > 0) {
      throw new ValueError('an async receive of this connection is pending: a Sync one would take its message', 'ERR_MP_CONNECTION_BUSY');
    }
    for (;;) {
      const message = this.#step(maxLength, Infinity, into);
      if (message) return message;
      this.#transport!.waitReadableSync(-1);
    }
  }

  /** Reads what is there now (up to `burst` bytes): the whole next message, or null when more must come first. */
  #step(maxLength: number | undefined, burst: number, into?: Uint8Array): Buffer | null {
    const transport = this.#transport;
    if (!transport) throw closedError();
    let read = 0;
    while (read < burst) {
      if (this.#body === null) {
        const n = this.#read(transport, this.#header, this.#headerGot, HEADER_BYTES - this.#headerGot);
        if (n < 0) return null;
        this.#headerGot += n;
        if (this.#headerGot < HEADER_BYTES) continue;
        this.#headerGot = 0;
        const size = this.#header.readUInt32BE(0);
        if (size > Math.min(maxLength ?? Infinity, this.#settings.maxMessageBytes)) {
          this.close();
          throw new ValueError(`bad message length: ${size} bytes, more than the ${Math.min(maxLength ?? Infinity,
            this.#settings.maxMessageBytes)} accepted`, 'ERR_MP_BAD_MESSAGE_LENGTH');
        }
        // The caller's buffer if it fits (recvBytesInto), else memory of its own (never Node's shared pool, which
        // .buffer would show), filled whole before anyone sees it.
        this.#body = into && size <= into.length ? Buffer.from(into.buffer, into.byteOffset, size) : Buffer.allocUnsafeSlow(size);
        this.#bodyGot = 0;
      }
      const body = this.#body;
      if (this.#bodyGot < body.length) {
        const n = this.#read(transport, body, this.#bodyGot, Math.min(body.length - this.#bodyGot, burst - read));
        if (n < 0) return null;
        this.#bodyGot += n;
        read += n;
      }
      if (this.#bodyGot === body.length) {
        this.#body = null;
        return body;
      }
    }
    return null;
  }

  /** One read: bytes read, or -1 when none are there now. End of file is EOFError (mid-message too). */
  #read(transport: Transport, buf: Buffer, offset: number, length: number): number {
    const n = transport.read(buf, offset, length);
    if (n === 0) {
      const midMessage = this.#hasPartial() || offset > 0;
      throw new EOFError(midMessage ? 'the other end closed in the middle of a message' : undefined);
    }
    return n;
  }

  #decode(message: Buffer): unknown {
    if (message.length < FRAME_HEADER_BYTES || FRAME_HEADER_BYTES + message.readUInt32BE(0) > message.length) {
      throw new UnpicklingError(`a message of ${message.length} bytes that is not a value sent with send()`);
    }
    const payload = message.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + message.readUInt32BE(0));
    const trusted = this.#settings.trusted;
    const value = decodePayload(payload, message.readUInt32BE(4), trusted);
    if (!trusted && holdsMarker(value)) {
      throw new UnpicklingError('a peer that did not authenticate sent library objects: only plain data is accepted from it');
    }
    return value;
  }

  // --- state ------------------------------------------------------------------------------------------------------

  #checkOpen(): Transport {
    if (!this.#transport) throw closedError();
    return this.#transport;
  }

  #checkReadable(): void {
    this.#checkOpen();
    if (!this.readable) throw new ValueError('connection is write-only', 'ERR_MP_CONNECTION_WRITE_ONLY');
  }

  #checkWritable(): void {
    this.#checkOpen();
    if (!this.writable) throw new ValueError('connection is read-only', 'ERR_MP_CONNECTION_READ_ONLY');
  }

  /** Closes this end (idempotent): the peer's receives end with EOFError once they have what was sent. */
  close(): void {
    const transport = this.#transport;
    if (!transport) return;
    this.#transport = null;
    collected.unregister(this);
    this.#closing.abort();
    this.#failOutgoing(closedError());
    transport.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  [reduce](): Reduced {
    assertSpawning(this);
    const transport = this.#checkOpen();
    return [REBUILD_CONNECTION, [this.readable, this.writable, transport.pass(spawningContext())]];
  }

  [inspect.custom](): string {
    const mode = this.readable && this.writable ? 'duplex' : this.readable ? 'read-only' : 'write-only';
    return `<Connection ${mode}${this.closed ? ' closed' : ''}>`;
  }
}

registerRebuilder(REBUILD_CONNECTION, (readable: boolean, writable: boolean, ends: (number | string | Lent)[]) => {
  if (native.platform === 'win32') {
    const [readHandle, writeHandle] = ends.map((end) => (end === '0' ? 0 : handleValue(end)));
    return new Connection(new WinPipeTransport(readHandle, writeHandle));
  }
  const [fd] = adoptFds(ends as (number | Lent)[]);
  return new Connection(new FdTransport(fd, readable === true, writable === true));
});

/**
 * Python's multiprocessing.Pipe(): two connected Connections. Duplex (the default): both send and receive. Else
 * the first only receives and the second only sends.
 */
export function Pipe(duplex = true): [Connection, Connection] {
  const both = checkBoolean(duplex, 'duplex', true);
  if (native.platform === 'win32') return winPipe(both);
  if (both) {
    const [a, b] = native.socketPair(PIPE_CAPACITY);
    return [new Connection(new FdTransport(a, true, true)), new Connection(new FdTransport(b, true, true))];
  }
  const [r, w] = native.pipe();
  try {
    native.setPipeCapacity(w, PIPE_CAPACITY);
  } catch (err) {
    native.closeFd(r);
    native.closeFd(w);
    throw err;
  }
  return [new Connection(new FdTransport(r, true, false)), new Connection(new FdTransport(w, false, true))];
}

/** Windows: one byte-mode named pipe each way (one for a one-way Pipe), under random names nobody opens again. */
function winPipe(duplex: boolean): [Connection, Connection] {
  const make = () => native.pipeCreate(`\\\\.\\pipe\\multiproc-c-${process.pid}-${randomBytes(12).toString('hex')}`, PIPE_CAPACITY);
  const [r1, w1] = make();
  if (!duplex) return [new Connection(new WinPipeTransport(r1, 0)), new Connection(new WinPipeTransport(0, w1))];
  let second: [number, number];
  try {
    second = make();
  } catch (err) {
    native.closeHandle(r1);
    native.closeHandle(w1);
    throw err;
  }
  const [r2, w2] = second;
  return [new Connection(new WinPipeTransport(r1, w2)), new Connection(new WinPipeTransport(r2, w1))];
}

export type Waitable = Connection | Process;

/**
 * Python's multiprocessing.connection.wait(): resolves with those of `objects` that are ready — a Connection with
 * a message (or end of file) to receive, a Process that has exited — waiting up to `timeout` ms for the first
 * (none: as long as it takes). Resolves with [] when the timeout passes first.
 */
export async function wait<T extends Waitable>(objects: Iterable<T>, timeout?: number | null): Promise<T[]> {
  const list = [...objects];
  for (const o of list) {
    if (!(o instanceof Connection) && !(o instanceof Process)) {
      throw new InvalidArgumentError(`wait() takes Connections and Processes, got ${describe(o)}`);
    }
  }
  const t = checkTimeout(timeout, 'wait timeout');
  const ready = () => list.filter((o) => (o instanceof Connection ? o._readyNow() : (o as Process).exitCode !== null));
  const now = ready();
  if (now.length || t === 0) return now;
  const stop = new AbortController();
  let stopTimer: (() => void) | undefined;
  try {
    await Promise.race([
      ...list.map((o) => (o instanceof Connection ? o._whenReadable(stop.signal) : (o as Process).sentinel)),
      ...(t === undefined ? [] : [new Promise<void>((resolve) => { stopTimer = setLongTimeout(resolve, t); })]),
    ]);
  } finally {
    stop.abort();
    stopTimer?.();
  }
  return ready();
}
