/**
 * ShareableList (CPython's multiprocessing.shared_memory.ShareableList): a fixed-length list of numbers, strings,
 * bytes, booleans and null in one SharedMemory segment, readable and writable by every process that attaches it.
 *
 * Layout (little-endian): "MPSL", count, then per item its slot's offset and capacity (8 bytes), then the slots:
 * [tag u32, length u32, payload of `capacity` bytes]. Every length is stored, so nothing is ever inferred from
 * padding: CPython stripped trailing NUL bytes from strings and bytes (python/cpython#106939). A segment attached by
 * name is data from another process: its header is checked before any item is read. There is no lock, as in Python:
 * a reader may see an item half-written by another process (guard it with a Lock of your own).
 */
import { InvalidArgumentError, OutOfRangeError, ValueError } from './errors';
import { reduce, Reduced, registerRebuilder } from './reduction';
import { SharedMemory } from './shared_memory';
import { REBUILD_SHAREABLE_LIST } from './rebuilder_ids';
import { describe } from './validate';

export type ShareableItem = number | string | Buffer | boolean | null;

const MAGIC = 0x4c53504d; // "MPSL"
const HEADER = 8;
const ENTRY = 8;
const SLOT_HEADER = 8;
const enum Tag { Null = 0, False = 1, True = 2, Number = 3, String = 4, Bytes = 5 }

function encodeItem(item: unknown): { tag: Tag; payload: Buffer } {
  if (item === null) return { tag: Tag.Null, payload: Buffer.alloc(0) };
  if (item === true || item === false) return { tag: item ? Tag.True : Tag.False, payload: Buffer.alloc(0) };
  if (typeof item === 'number') {
    const payload = Buffer.alloc(8);
    payload.writeDoubleLE(item);
    return { tag: Tag.Number, payload };
  }
  if (typeof item === 'string') return { tag: Tag.String, payload: Buffer.from(item, 'utf8') };
  if (item instanceof Uint8Array) return { tag: Tag.Bytes, payload: Buffer.from(item) };
  throw new InvalidArgumentError(`a ShareableList holds numbers, strings, Buffers, booleans and null, got ${describe(item)}`);
}

/** Room for a payload: whole 8-byte words, at least one. */
function capacityFor(payload: Buffer): number {
  return Math.max(8, Math.ceil(payload.length / 8) * 8);
}

function corrupt(why: string): ValueError {
  return new ValueError(`not a ShareableList segment, or a damaged one: ${why}`, 'ERR_MP_BAD_SHAREABLE_LIST');
}

export class ShareableList implements Iterable<ShareableItem> {
  /** The segment that holds the list. */
  readonly shm: SharedMemory;
  readonly #bytes: Buffer;
  readonly #slots: { offset: number; capacity: number }[] = [];

  /** A new list in a new segment (`name`: a name of your own, as SharedMemory takes it). */
  constructor(sequence: Iterable<ShareableItem>, options?: { name?: string }) {
    if (attaching !== undefined) { // attach(): the segment exists; its header is checked, not written
      this.shm = attaching;
      this.#bytes = this.shm.buf;
      this.#readHeader();
      return;
    }
    if (sequence === null || typeof (sequence as Iterable<unknown>)?.[Symbol.iterator] !== 'function') {
      throw new InvalidArgumentError(`ShareableList needs an iterable of items, got ${describe(sequence)}`);
    }
    const encoded = Array.from(sequence, encodeItem);
    let size = HEADER + ENTRY * encoded.length;
    const capacities = encoded.map(({ payload }) => capacityFor(payload));
    for (const capacity of capacities) size += SLOT_HEADER + capacity;
    this.shm = new SharedMemory({ size, name: options?.name });
    this.#bytes = this.shm.buf;
    this.#bytes.writeUInt32LE(MAGIC, 0);
    this.#bytes.writeUInt32LE(encoded.length, 4);
    let offset = HEADER + ENTRY * encoded.length;
    encoded.forEach((item, i) => {
      this.#bytes.writeUInt32LE(offset, HEADER + ENTRY * i);
      this.#bytes.writeUInt32LE(capacities[i], HEADER + ENTRY * i + 4);
      this.#slots.push({ offset, capacity: capacities[i] });
      this.#write(i, item);
      offset += SLOT_HEADER + capacities[i];
    });
  }

  /** The list in the existing segment `name`; ValueError (ERR_MP_BAD_SHAREABLE_LIST) if it does not hold one. */
  static attach(name: string): ShareableList {
    const shm = SharedMemory.attach(name);
    try {
      attaching = shm;
      return new ShareableList([]);
    } catch (err) {
      shm.close();
      throw err;
    } finally {
      attaching = undefined;
    }
  }

  get length(): number {
    return this.#slots.length;
  }

  get(index: number): ShareableItem {
    const { offset } = this.#slot(index);
    const bytes = this.#bytes;
    const tag = bytes.readUInt32LE(offset);
    const length = bytes.readUInt32LE(offset + 4);
    const { capacity } = this.#slots[index];
    if (length > capacity) throw corrupt(`item ${index} claims ${length} bytes in a slot of ${capacity}`);
    const payload = offset + SLOT_HEADER;
    switch (tag) {
      case Tag.Null: return null;
      case Tag.False: return false;
      case Tag.True: return true;
      case Tag.Number: return bytes.readDoubleLE(payload);
      case Tag.String: return bytes.toString('utf8', payload, payload + length);
      case Tag.Bytes: return Buffer.from(bytes.subarray(payload, payload + length));
      default: throw corrupt(`item ${index} has an unknown type tag ${tag}`);
    }
  }

  /** Replaces item `index`; a string or bytes must fit the room the item was created with (ValueError). */
  set(index: number, value: ShareableItem): void {
    this.#slot(index);
    this.#write(index, encodeItem(value));
  }

  toArray(): ShareableItem[] {
    return Array.from({ length: this.length }, (_, i) => this.get(i));
  }

  [Symbol.iterator](): Iterator<ShareableItem> {
    return this.toArray()[Symbol.iterator]();
  }

  /** How many items equal `value` (bytes compared by content). */
  count(value: ShareableItem): number {
    return this.toArray().filter((item) => same(item, value)).length;
  }

  /** The first index of `value`; ValueError when it is not there. */
  index(value: ShareableItem): number {
    const found = this.toArray().findIndex((item) => same(item, value));
    if (found < 0) throw new ValueError(`${describe(value)} not in ShareableList`);
    return found;
  }

  /** Travels anywhere as its segment's name. */
  [reduce](): Reduced {
    return [REBUILD_SHAREABLE_LIST, [this.shm.name]];
  }

  toString(): string {
    return `ShareableList(${JSON.stringify(this.toArray())}, name=${JSON.stringify(this.shm.name)})`;
  }

  #slot(index: number): { offset: number; capacity: number } {
    if (typeof index !== 'number' || !Number.isInteger(index)) {
      throw new InvalidArgumentError(`index must be an integer, got ${describe(index)}`);
    }
    if (index < 0 || index >= this.#slots.length) throw new OutOfRangeError(`index ${index} out of range 0..${this.#slots.length - 1}`);
    if (this.shm.closed) throw new ValueError('ShareableList is closed', 'ERR_MP_CLOSED');
    return this.#slots[index];
  }

  #write(index: number, { tag, payload }: { tag: Tag; payload: Buffer }): void {
    const { offset, capacity } = this.#slots[index];
    if (payload.length > capacity) {
      throw new ValueError(`the new item needs ${payload.length} bytes; item ${index} has room for ${capacity}`);
    }
    payload.copy(this.#bytes, offset + SLOT_HEADER);
    this.#bytes.writeUInt32LE(payload.length, offset + 4);
    this.#bytes.writeUInt32LE(tag, offset);
  }

  /** Reads the slots of an attached segment, checking that every one lies inside it. */
  #readHeader(): void {
    const bytes = this.#bytes;
    if (bytes.length < HEADER || bytes.readUInt32LE(0) !== MAGIC) throw corrupt('no ShareableList header');
    const count = bytes.readUInt32LE(4);
    const first = HEADER + ENTRY * count;
    if (first > bytes.length) throw corrupt(`${count} items do not fit in ${bytes.length} bytes`);
    for (let i = 0; i < count; i++) {
      const offset = bytes.readUInt32LE(HEADER + ENTRY * i);
      const capacity = bytes.readUInt32LE(HEADER + ENTRY * i + 4);
      if (offset < first || capacity < 8 || offset + SLOT_HEADER + capacity > bytes.length) {
        throw corrupt(`item ${i}'s slot (${offset}, ${capacity} bytes) lies outside the segment`);
      }
      this.#slots.push({ offset, capacity });
    }
  }
}

function same(a: ShareableItem, b: ShareableItem): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.compare(a, b) === 0;
  return Object.is(a, b) || a === b;
}

let attaching: SharedMemory | undefined;

registerRebuilder(REBUILD_SHAREABLE_LIST, (name: string) => ShareableList.attach(name));
