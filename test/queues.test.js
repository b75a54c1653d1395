'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const {
  Empty, Full, InvalidArgumentError, JoinableQueue, Lock, OutOfRangeError, PicklingError,
  Process, Queue, RuntimeError, Semaphore, SimpleQueue, ValueError,
} = require('../dist');
const t = require('./fixtures/queue_targets');
const { expectQueueSize } = require('./semaphore_value');

const { STOP } = t;

function start(target, ...args) {
  const p = new Process({ target, args });
  p.start();
  return p;
}

async function joinAll(procs) {
  await Promise.all(procs.map((p) => p.join()));
  return procs.map((p) => p.exitCode);
}

/** Largest delay of a 5 ms interval timer while `work` runs. */
/** How many turns the event loop made while `work` was pending. */
async function loopTurnsDuring(work) {
  let turns = 0;
  let running = true;
  const turn = () => {
    if (!running) return;
    turns++;
    setImmediate(turn);
  };
  setImmediate(turn);
  try {
    await work();
  } finally {
    running = false;
  }
  return turns;
}

function openFds() {
  return fs.readdirSync('/proc/self/fd').length;
}

describe('Queue across processes', () => {
  test('3 producers x 5000 items through a bounded work queue (maxsize 64) and 2 forwarding consumers: each item once, whole', async () => {
    const work = new Queue(64);
    const results = new Queue();
    const producers = [0, 1, 2].map((p) => start(t.produce, work, p, 5000, p === 0));
    const consumers = [start(t.forward, work, results, true), start(t.forwardIterating, work, results)];
    const seen = new Set();
    for (let n = 0; n < 15000; n++) {
      const item = await results.get({ timeout: 30000 });
      const key = `${item.producer}:${item.i}`;
      expect(seen.has(key)).toBe(false);
      expect(item.body).toBe(`${item.producer}:${item.i}:`.padEnd(40 + (item.i % 200), '*'));
      seen.add(key);
    }
    expect(await joinAll(producers)).toEqual([0, 0, 0]);
    await work.put(STOP);
    await work.put(STOP);
    expect(await joinAll(consumers)).toEqual([0, 0]);
    expect(seen.size).toBe(15000);
    expectQueueSize(results, 0);
    expectQueueSize(work, 0);
    expect(() => results.getNowait()).toThrow(Empty);
  });

  test('items from 1 byte to 64 MiB arrive intact, interleaved with small items of other producers', async () => {
    const queue = new Queue();
    const sizes = [1, 100, 4091, 4092, 4093, 65536, 1 << 20, 3 << 20, 16 << 20, 64 << 20];
    const big = start(t.putSizes, queue, sizes);
    const small = [start(t.produce, queue, 1, 300, true), start(t.produce, queue, 2, 300, false)];
    const bigSeen = [];
    let smallSeen = 0;
    while (bigSeen.length < sizes.length || smallSeen < 600) {
      const item = await queue.get({ timeout: 30000 });
      if (item.kind === 'big') {
        expect(item.data.length).toBe(item.size);
        expect(t.sha256(item.data)).toBe(item.hash);
        bigSeen.push(item.size);
      } else {
        expect(item.body.startsWith(`${item.producer}:${item.i}:`)).toBe(true);
        smallSeen++;
      }
    }
    expect(bigSeen).toEqual(sizes); // one producer's items keep their order
    expect(await joinAll([big, ...small])).toEqual([0, 0, 0]);
  });

  test('an item whose put resolved is delivered even if its producer exits right after', async () => {
    const queue = new Queue();
    const medium = crypto.randomBytes(100 << 10);
    const exiting = [
      start(t.putThenExit, queue, { n: 1 }, 'exit'),
      start(t.putThenExit, queue, { n: 2, medium }, 'exit'),
      start(t.putThenExit, queue, { n: 3 }, 'return'),
    ];
    expect(await joinAll(exiting)).toEqual([0, 0, 0]); // all gone before anything is read
    const got = [queue.getSync({ timeout: 5000 }), queue.getSync({ timeout: 5000 }), queue.getSync({ timeout: 5000 })];
    expect(got.map((x) => x.n).sort()).toEqual([1, 2, 3]);
    expect(got.find((x) => x.n === 2).medium.equals(medium)).toBe(true);
    // An item larger than the pipe: its put resolves once the last byte is in, then the producer exits at once.
    const large = crypto.randomBytes(3 << 20);
    const producer = start(t.putThenExit, queue, large, 'exit');
    const item = await queue.get({ timeout: 10000 });
    await producer.join();
    expect(producer.exitCode).toBe(0);
    expect(Buffer.compare(item, large)).toBe(0);
  });

  test('a consumer SIGKILLed while waiting in get (async or sync) does not wedge the queue or lose an item', async () => {
    const queue = new Queue(8);
    const results = new Queue();
    const ready = new Semaphore(0);
    const doomed = [start(t.waitInGet, queue, ready, results, false), start(t.waitInGet, queue, ready, results, true)];
    await ready.acquire({ timeout: 10000 });
    await ready.acquire({ timeout: 10000 });
    for (const p of doomed) p.kill();
    expect(await joinAll(doomed)).toEqual([-9, -9]);
    for (let i = 0; i < 8; i++) await queue.put(i, { timeout: 5000 });
    expect(queue.full()).toBe(true);
    const survivor = start(t.forward, queue, results, false);
    const got = [];
    for (let i = 0; i < 8; i++) got.push(await results.get({ timeout: 10000 }));
    await queue.put(STOP);
    expect(await joinAll([survivor])).toEqual([0]);
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expectQueueSize(queue, 0);
  });

  test('seed scenario 3: a Lock and a Queue for ten processes, three alive at a time; the parent reads 0..9', async () => {
    const lock = new Lock();
    const queue = new Queue();
    const alive = new Set();
    let most = 0;
    for (let i = 0; i < 10; i++) {
      if (alive.size === 3) await Promise.race([...alive].map((p) => p.join().then(() => alive.delete(p))));
      const p = start(t.printAndPut, lock, queue, i);
      alive.add(p);
      most = Math.max(most, [...alive].filter((q) => q.isAlive()).length);
    }
    const got = [];
    for (let i = 0; i < 10; i++) got.push(await queue.get({ timeout: 10000 }));
    await Promise.all([...alive].map((p) => p.join()));
    expect(got.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(most).toBeLessThanOrEqual(3);
  });

  test('JoinableQueue: join() resolves once consumers in other processes marked every item done', async () => {
    const queue = new JoinableQueue(5);
    const seen = new Queue();
    const consumers = [start(t.takeAndMarkDone, queue, seen), start(t.takeAndMarkDone, queue, seen)];
    for (let i = 0; i < 30; i++) await queue.put(i);
    await queue.join();
    expectQueueSize(seen, 30);
    await queue.put(STOP);
    await queue.put(STOP);
    queue.joinSync();
    expect(await joinAll(consumers)).toEqual([0, 0]);
    expect(() => queue.taskDone()).toThrow(ValueError);
  });

  test('values keep their kind through another process: numbers, typed arrays and views at odd offsets, in and out of band', async () => {
    const queue = new SimpleQueue();
    const results = new Queue();
    const forwarder = start(t.forward, queue, results, false);
    const bytes = crypto.randomBytes(300000);
    const values = [
      0, -0, NaN, -Infinity, 2 ** 53 + 2, 1.5e-300, 'text', 12n, true, undefined, [1, 'two', { three: 3 }],
      new Map([[1, new Set(['a'])]]), new Date(0), /re/g,
      new Float64Array(bytes.buffer, bytes.byteOffset + 8, 20000), // out of band, 8-aligned
      bytes.subarray(3, 200003), // out of band Buffer at an odd offset
      new Int16Array(100), new DataView(bytes.buffer, bytes.byteOffset + 1, 70000),
      { small: Buffer.from('x'), large: new Uint32Array(40000).fill(7), again: new Uint8Array(65536) },
    ];
    for (const v of values) await queue.put(v);
    for (const v of values) expect(await results.get({ timeout: 10000 })).toEqual(v);
    await queue.put(STOP);
    expect(await joinAll([forwarder])).toEqual([0]);
  });

  test('qsize() and empty() count items put by another process exactly', async () => {
    const queue = new Queue();
    expect(queue.empty()).toBe(true);
    expect(await joinAll([start(t.fill, queue, 100)])).toEqual([0]);
    expectQueueSize(queue, 100);
    expect(queue.empty()).toBe(false);
    for (let i = 0; i < 100; i++) expect(queue.getNowait()).toBe(i);
    expect(queue.empty()).toBe(true);
  });
});

describe('Queue waits never block the event loop', () => {
  // Counted, not timed (other test files load the same 2 cores): a call that blocked the event loop would let no
  // turn of it run until it returned.
  test('the event loop keeps turning while get waits, and while a 64 MiB item is written', async () => {
    const queue = new Queue();
    expect(await loopTurnsDuring(() => expect(queue.get({ timeout: 300 })).rejects.toThrow(Empty)))
      .toBeGreaterThanOrEqual(10);
    const payload = crypto.randomBytes(64 << 20);
    const results = new Queue();
    const consumer = start(t.forward, queue, results, false);
    // 64 times what the pipe holds at once: the put moves in bursts and returns to the loop between them.
    expect(await loopTurnsDuring(() => queue.put(payload))).toBeGreaterThanOrEqual(16);
    expect((await results.get({ timeout: 20000 })).equals(payload)).toBe(true);
    await queue.put(STOP);
    await consumer.join();
  });

  test('signal aborts a pending get and put; close() rejects pending waits of this process', async () => {
    const queue = new Queue(1);
    const controller = new AbortController();
    const pending = queue.get({ signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    await queue.put('a');
    const blocked = queue.put('b', { signal: AbortSignal.timeout(50) });
    await expect(blocked).rejects.toMatchObject({ code: 'ABORT_ERR' });
    expectQueueSize(queue, 1);
    expect(await queue.get()).toBe('a');
    const waiting = queue.get();
    queue.close();
    await expect(waiting).rejects.toMatchObject({ name: 'ValueError', code: 'ERR_MP_QUEUE_CLOSED' });
  });
});

describe('Queue bad input', () => {
  test('unserializable values are rejected at put, before anything is written', async () => {
    const queue = new Queue();
    await expect(queue.put(() => 1)).rejects.toThrow(PicklingError);
    await expect(queue.put({ nested: [Symbol('s')] })).rejects.toMatchObject({ code: 'ERR_MP_PICKLING' });
    expect(() => queue.putSync({ f() {} })).toThrow(PicklingError);
    expect(() => queue.putNowait(new Lock())).toThrow(RuntimeError);
    await expect(queue.put({ q: queue })).rejects.toThrow('Queue objects should only be shared between processes through inheritance');
    expectQueueSize(queue, 0);
    expect(() => queue.getNowait()).toThrow(Empty);
  });

  test('queues travel only through inheritance', () => {
    for (const q of [new Queue(), new SimpleQueue(), new JoinableQueue()]) {
      expect(() => JSON.stringify({ q })).toThrow(`${q.constructor.name} objects should only be shared between processes through inheritance`);
      expect(() => structuredClone(q)).toThrow(RuntimeError);
      q.close();
    }
  });

  test('timeouts, options and maxsize of the wrong kind are typed errors; a closed queue refuses work', async () => {
    const queue = new Queue(2);
    await expect(queue.get({ timeout: -1 })).rejects.toThrow(OutOfRangeError);
    await expect(queue.get({ timeout: NaN })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    await expect(queue.put(1, { timeout: 'soon' })).rejects.toThrow(InvalidArgumentError);
    await expect(queue.get({ signal: 'stop' })).rejects.toThrow(InvalidArgumentError);
    expect(() => queue.getSync({ block: 'no' })).toThrow(InvalidArgumentError);
    expect(() => queue.putSync(1, { timeout: -5 })).toThrow(OutOfRangeError);
    expect(() => new Queue('10')).toThrow(InvalidArgumentError);
    expect(() => new Queue(1.5)).toThrow(OutOfRangeError);
    expect(() => new JoinableQueue(null)).toThrow(InvalidArgumentError);
    queue.putNowait(1);
    queue.putNowait(2);
    expect(() => queue.putNowait(3)).toThrow(Full);
    await expect(queue.put(3, { timeout: 30 })).rejects.toMatchObject({ name: 'Full', code: 'ERR_MP_QUEUE_FULL' });
    expect(() => queue.getSync({ timeout: 10 })).not.toThrow();
    queue.close();
    await expect(queue.get()).rejects.toMatchObject({ name: 'ValueError', code: 'ERR_MP_QUEUE_CLOSED' });
    expect(() => queue.putNowait(1)).toThrow(ValueError);
    // closed, the queue holds nothing in this process any more: not even its semaphores
    for (const call of [() => queue.qsize(), () => queue.empty(), () => queue.full()]) {
      expect(call).toThrow(expect.objectContaining({ name: 'ValueError', code: 'ERR_MP_QUEUE_CLOSED' }));
    }
  });
});

describe('Queue resources', () => {
  test('closing queues returns every descriptor, also after children used them', async () => {
    const before = openFds();
    const queues = Array.from({ length: 10 }, (_, i) => (i % 2 ? new Queue(3) : new JoinableQueue()));
    const results = new Queue();
    expect(await joinAll([start(t.fill, queues[1], 3)])).toEqual([0]);
    expect(queues[1].getSync()).toBe(0);
    for (const q of [...queues, results]) q.close();
    // At most: queues other tests dropped may be collected meanwhile, and their descriptors close with them.
    expect(openFds()).toBeLessThanOrEqual(before);
  });
});
