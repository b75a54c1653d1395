/**
 * A single-producer/single-consumer ring buffer in shared memory between two processes, built on wait/notify.
 *
 * Layout: two Int32 counters — head (items written) and tail (items read), each only ever increased by its one
 * writer — then CAPACITY Float64 slots. The producer waits while the ring is full (head - tail === CAPACITY) on
 * `tail`, the consumer while it is empty (head === tail) on `head`; each notifies the other after it moves its
 * counter. No lock: one writer per counter, and Atomics order the slot writes before the counter that publishes
 * them.
 *
 * Run: npm run build:examples && node dist-examples/examples/ring_buffer.js
 */
import { notify, Process, SharedMemory, wait } from 'multiproc';

export const CAPACITY = 64;
const HEAD = 0;
const TAIL = 1;

export class Ring {
  readonly counters: Int32Array;
  readonly slots: Float64Array;

  constructor(readonly shm: SharedMemory) {
    this.counters = shm.view(Int32Array, 0, 2);
    this.slots = shm.view(Float64Array, 8, CAPACITY);
  }

  static create(): Ring {
    return new Ring(new SharedMemory({ size: 8 + 8 * CAPACITY }));
  }

  async push(value: number): Promise<void> {
    const head = Atomics.load(this.counters, HEAD);
    for (;;) {
      const tail = Atomics.load(this.counters, TAIL);
      if (head - tail < CAPACITY) break;
      await wait(this.counters, TAIL, tail); // full: until the consumer moves tail
    }
    this.slots[head % CAPACITY] = value;
    Atomics.store(this.counters, HEAD, head + 1); // publishes the slot
    notify(this.counters, HEAD, 1);
  }

  async shift(): Promise<number> {
    const tail = Atomics.load(this.counters, TAIL);
    for (;;) {
      const head = Atomics.load(this.counters, HEAD);
      if (head !== tail) break;
      await wait(this.counters, HEAD, head); // empty: until the producer moves head
    }
    const value = this.slots[tail % CAPACITY];
    Atomics.store(this.counters, TAIL, tail + 1); // frees the slot
    notify(this.counters, TAIL, 1);
    return value;
  }
}

/** The producer process: pushes 1..count, then NaN as the end. */
export async function produce(shm: SharedMemory, count: number): Promise<void> {
  const ring = new Ring(shm);
  for (let i = 1; i <= count; i++) await ring.push(i);
  await ring.push(NaN);
}

/** Starts a producer of `count` items and sums what arrives, in order; returns [items, sum, in order]. */
export async function consume(count: number): Promise<{ items: number; sum: number; ordered: boolean }> {
  const ring = Ring.create();
  const producer = new Process({ target: produce, args: [ring.shm, count] });
  await producer.start();
  let items = 0;
  let sum = 0;
  let ordered = true;
  for (let value = await ring.shift(); !Number.isNaN(value); value = await ring.shift()) {
    items++;
    ordered &&= value === items;
    sum += value;
  }
  await producer.join();
  ring.shm.close();
  ring.shm.unlink();
  return { items, sum, ordered };
}

if (require.main === module) {
  const count = 100_000;
  const started = performance.now();
  consume(count).then(({ items, sum, ordered }) => {
    const ms = performance.now() - started;
    console.log(`${items} items through a ${CAPACITY}-slot ring in shared memory, sum ${sum}, in order: ${ordered}, ` +
      `${Math.round(ms)} ms`);
  });
}
