'use strict';
// Queue.shutdown(immediate) across processes (Python 3.13's queue semantics); CPython's own test_shutdown_* are in
// test/cpython/queue.test.js.
const { InvalidArgumentError, JoinableQueue, Manager, Process, Queue, Semaphore, ShutDown } = require('../dist');
const t = require('./fixtures/shutdown_targets');
const { expectQueueSize } = require('./semaphore_value');

// Upper bounds only. Each wait gives up (and fails naming itself) well before the test's own timeout does.
const STEP = 20000;
const LONG = 60000;

/** Children of the running test: a failed test ends the ones it left blocked (else jest would wait for them). */
const children = [];

async function startAll(target, args, n) {
  const procs = Array.from({ length: n }, () => new Process({ target, args }));
  children.push(...procs);
  await Promise.all(procs.map((p) => p.start()));
  return procs;
}

afterEach(async () => {
  for (const p of children.splice(0)) {
    if (p.exitCode !== null) continue;
    p.kill();
    await p.join();
  }
});

async function joinAll(procs) {
  await Promise.all(procs.map((p) => p.join(STEP)));
  return procs.map((p) => p.exitCode);
}

/** Waits until `n` children said they are about to block (they may not be blocked yet: both ways must end in ShutDown). */
async function readyAll(ready, n) {
  for (let i = 0; i < n; i++) expect(await ready.acquire({ timeout: STEP })).toBe(true);
}

async function reports(results, n) {
  const got = [];
  for (let i = 0; i < n; i++) got.push(await results.get({ timeout: STEP }));
  return got.sort();
}

describe('Queue.shutdown across processes', () => {
  test.each([[false], [true]])('getters blocked in other processes throw ShutDown when it shuts down (sync: %s)', async (sync) => {
    const queue = new Queue();
    const ready = new Semaphore(0);
    const results = new Queue();
    const procs = await startAll(t.blockedGet, [queue, ready, results, sync], 3);
    await readyAll(ready, 3);
    queue.shutdown();
    expect(await reports(results, 3)).toEqual(['ERR_MP_QUEUE_SHUT_DOWN', 'ERR_MP_QUEUE_SHUT_DOWN', 'ERR_MP_QUEUE_SHUT_DOWN']);
    expect(await joinAll(procs)).toEqual([0, 0, 0]);
    expectQueueSize(queue, 0); // the frame that woke them is not an item
    await expect(queue.get()).rejects.toThrow(ShutDown);
  }, LONG);

  // The joiner holds the read lock for a moment as it starts (a look for items lost with a dead process): an
  // immediate shutdown at that moment removed nothing, and nobody else would, so the joiner waited forever.
  test.each([[false], [true]])('immediate-shutdown-while-a-joiner-looks: the items are gone at once and the joiner returns (sync: %s)', async (sync) => {
    for (let round = 0; round < 25; round++) {
      const queue = new JoinableQueue();
      await queue.put('data');
      const [joiner] = await startAll(t.join, [queue, sync], 1);
      queue.shutdown(true);
      expectQueueSize(queue, 0);
      expect([round, await joinAll([joiner])]).toEqual([round, [0]]);
      queue.close();
    }
  }, LONG);

  test.each([[false], [true]])('putters blocked on a full queue in other processes throw ShutDown (sync: %s)', async (sync) => {
    const queue = new Queue(1);
    await queue.put('first');
    const ready = new Semaphore(0);
    const results = new Queue();
    const procs = await startAll(t.blockedPut, [queue, ready, results, sync], 2);
    await readyAll(ready, 2);
    queue.shutdown();
    expect(await reports(results, 2)).toEqual(['ERR_MP_QUEUE_SHUT_DOWN', 'ERR_MP_QUEUE_SHUT_DOWN']);
    expect(await joinAll(procs)).toEqual([0, 0]);
    expectQueueSize(queue, 1);
    expect(await queue.get()).toBe('first'); // a get drains what is left, then...
    await expect(queue.get()).rejects.toThrow(ShutDown);
    await expect(queue.put('more')).rejects.toThrow(ShutDown);
  }, LONG);

  // The race is placed through the pipe queue's own check (queue_shutdown.ts), which a kill-safe queue does not use:
  // there a putter checks under its write lock and sleeps at most RECHECK_MS (kill_safe_queue.ts). The darwin-emulated
  // run covers the pipe queue.
  (require('../dist/queues').killSafeQueues ? test.skip : test)('put-after-shutdown-race: a shutdown between a put\'s check and its slot neither lets the put in nor strands a blocked putter', async () => {
    // The shutdown is placed at that instant by making the put's own "is it shut?" check run it (the check itself is
    // the real one); the putter blocked in another process then needs the slot the late put must not keep.
    const queue = new Queue(1);
    await queue.put('first');
    const ready = new Semaphore(0);
    const results = new Queue();
    const procs = await startAll(t.blockedPut, [queue, ready, results, false], 1);
    await readyAll(ready, 1);
    const shutdown = require('../dist/queue_shutdown');
    const realIsShut = shutdown.isShut;
    let raced = false;
    shutdown.isShut = (state) => {
      const shut = realIsShut(state);
      if (!raced) { // the first check from here on is the put's (put() runs synchronously up to its slot)
        raced = true;
        shutdown.isShut = realIsShut;
        queue.shutdown(); // after the check said "open", before the put takes a slot
      }
      return shut;
    };
    let late;
    try {
      late = await queue.put('late').then(() => 'put', (err) => err.code);
    } finally {
      shutdown.isShut = realIsShut;
    }
    expect(raced).toBe(true);
    expect(late).toBe('ERR_MP_QUEUE_SHUT_DOWN');
    expect(await reports(results, 1)).toEqual(['ERR_MP_QUEUE_SHUT_DOWN']); // woken, not stranded
    expect(await joinAll(procs)).toEqual([0]);
    expect(await queue.get()).toBe('first');
    await expect(queue.get()).rejects.toThrow(ShutDown);
  }, LONG);

  // shutdown(true) waits for the read lock only briefly: a get that holds it longer (inside an item) must remove the
  // items as it lets go, or they stay for the next get although the queue was shut down immediately.
  (require('../dist/queues').killSafeQueues ? test : test.skip)('immediate-shutdown-while-a-get-holds-the-read-lock: the holder removes the items as it lets go', async () => {
    const queue = new Queue();
    const inside = new Semaphore(0);
    const go = new Semaphore(0);
    const results = new Queue();
    await queue.put(new t.Held(1)); // its rebuild, in the getter, waits for go: the getter holds the read lock
    for (const item of ['a', 'b', 'c']) await queue.put(item);
    const [getter] = await startAll(t.getHeld, [queue, inside, go, results], 1);
    expect(await inside.acquire({ timeout: STEP })).toBe(true);
    queue.shutdown(true); // gives up on the read lock after its brief wait: the items are left to the holder
    expectQueueSize(queue, 4);
    go.release();
    expect(await results.get({ timeout: STEP })).toBe('held 1');
    expect(await joinAll([getter])).toEqual([0]);
    expectQueueSize(queue, 0); // nobody else would remove them: no get comes after the holder's
    await expect(queue.get()).rejects.toThrow(ShutDown);
  }, LONG);

  test('a shutdown in a child is seen by the parent; immediate removes the items and join() returns', async () => {
    const queue = new JoinableQueue();
    await queue.put(1);
    await queue.put(2);
    const child = new Process({ target: t.shutDown, args: [queue, true] });
    await child.start();
    await child.join();
    expect(child.exitCode).toBe(0);
    expectQueueSize(queue, 0);
    await queue.join(); // both items were counted done by the shutdown
    expect(() => queue.putSync(3)).toThrow(ShutDown);
    expect(() => queue.getSync({ block: false })).toThrow(ShutDown);
    expect(() => queue.taskDone()).toThrow(/too many times/);
  }, LONG);

  test('shutdown(immediate) must be a boolean', () => {
    expect(() => new Queue().shutdown('yes')).toThrow(InvalidArgumentError);
  });
});

describe.each([[true], [false]])('Manager Queue.shutdown (kernelObjects: %s)', (kernelObjects) => {
  let manager;
  beforeAll(async () => {
    manager = new Manager({ kernelObjects });
    await manager.start();
  });
  afterAll(() => manager.shutdown());

  test('a getter blocked through its proxy in another process throws ShutDown; puts are refused', async () => {
    const queue = await manager.Queue();
    const ready = new Semaphore(0);
    const results = new Queue();
    const procs = await startAll(t.proxyGet, [queue, ready, results], 2);
    await readyAll(ready, 2);
    await queue.shutdown();
    expect(await reports(results, 2)).toEqual(['ERR_MP_QUEUE_SHUT_DOWN', 'ERR_MP_QUEUE_SHUT_DOWN']);
    expect(await joinAll(procs)).toEqual([0, 0]);
    await expect(queue.put('x')).rejects.toThrow(ShutDown);
    await expect(queue.get()).rejects.toThrow(ShutDown);
    expect(await queue.qsize()).toBe(0);
  }, LONG);

  test('a putter blocked on a full queue through its proxy throws ShutDown; the item left is still got', async () => {
    const queue = await manager.Queue(1);
    await queue.put('first');
    const ready = new Semaphore(0);
    const results = new Queue();
    const [proc] = await startAll(t.proxyPut, [queue, ready, results], 1);
    await readyAll(ready, 1);
    await queue.shutdown(false);
    expect(await reports(results, 1)).toEqual(['ERR_MP_QUEUE_SHUT_DOWN']);
    expect(await joinAll([proc])).toEqual([0]);
    expect(await queue.qsize()).toBe(1);
    expect(await queue.get()).toBe('first');
    await expect(queue.get()).rejects.toThrow(ShutDown);
  }, LONG);

  test('immediate removes the items, counts them done, and join() returns', async () => {
    const queue = await manager.JoinableQueue();
    await queue.put(1);
    await queue.put(2);
    await queue.shutdown(true);
    expect(await queue.qsize()).toBe(0);
    await queue.join();
    await expect(queue.get()).rejects.toThrow(ShutDown);
    await expect(queue.taskDone()).rejects.toThrow(/too many times/);
  }, LONG);
});
