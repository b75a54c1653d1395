// The event loop never blocks; timeouts and signals always work (issue #14, section 4). Each test is named after
// the failure it prevents.
'use strict';
const { spawn } = require('node:child_process');
const { getEventListeners } = require('node:events');
const {
  Barrier, BrokenBarrierError, Condition, Event, Full, JoinableQueue, Lock, Manager, Pool, Process, Queue, Semaphore,
  TIMEOUT_MAX,
} = require('../dist');
const v8 = require('node:v8');
const { FramePipe } = require('../dist/pipe');
const { rebuildValue } = require('../dist/reduction');
const { isAlive } = require('./fixtures/alive');
const t = require('./fixtures/liveness_targets');
const { canReadValue, expectSemaphoreValue } = require('./semaphore_value');

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));


/** Settles to 'pending' if `promise` has not settled within `ms`; else to its value or its error's name. */
function outcomeWithin(promise, ms) {
  let timer;
  return Promise.race([
    promise.then((value) => value, (err) => err.name),
    new Promise((resolve) => { timer = setTimeout(() => resolve('pending'), ms); }),
  ]).finally(() => clearTimeout(timer));
}

async function eventually(check, ms, what) {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

/** Warnings this process emits while `body` runs. */
async function warningsDuring(body) {
  const warnings = [];
  const onWarning = (warning) => warnings.push(warning);
  process.on('warning', onWarning);
  try {
    await body();
    await delay(10); // warnings are emitted on the next tick
  } finally {
    process.off('warning', onWarning);
  }
  return warnings;
}

/**
 * Runs `body` while another process holds `lock`. That process lets go when this one tells it to, which it can only
 * do if its event loop runs: it lets go by itself after 5 s otherwise, and the test fails.
 */
async function whileHeldElsewhere(lock, body) {
  const held = new Event();
  const letGo = new Semaphore(0);
  const holder = new Process({ target: t.holdUntilTold, args: [lock, held, letGo, 5000] });
  await holder.start();
  expect(await held.wait({ timeout: 30000 })).toBe(true);
  try {
    await body();
  } finally {
    letGo.release();
    await holder.join();
  }
  expect(holder.exitCode).toBe(0);
}

describe('internal locks held by another process never block this event loop', () => {
  test('Event.wait waits for the Event\'s lock without blocking, and honours its timeout and signal meanwhile', async () => {
    const lock = new Lock();
    const event = new Event([new Condition(lock), new Semaphore(0, { recovery: false })]);
    let untimed;
    await whileHeldElsewhere(lock, async () => {
      untimed = event.wait();
      expect(await event.wait({ timeout: 200 })).toBe(false);
      await expect(event.wait({ signal: AbortSignal.timeout(100) })).rejects.toMatchObject({ code: 'ABORT_ERR' });
      expect(await outcomeWithin(untimed, 50)).toBe('pending');
    });
    event.set();
    expect(await untimed).toBe(true);
    expect(await event.wait({ timeout: 0 })).toBe(true);
  });

  test('Barrier.wait waits for the Barrier\'s lock without blocking, and honours its timeout and signal meanwhile', async () => {
    const lock = new Lock();
    const barrier = new Barrier(2, undefined, undefined, [new Condition(lock), new Semaphore(2, { recovery: false }), new Semaphore(0, { recovery: false })]);
    let first;
    await whileHeldElsewhere(lock, async () => {
      first = barrier.wait({ timeout: 30000 });
      await expect(barrier.wait({ timeout: 200 })).rejects.toThrow(BrokenBarrierError);
      await expect(barrier.wait({ signal: AbortSignal.timeout(100) })).rejects.toMatchObject({ code: 'ABORT_ERR' });
      expect(await outcomeWithin(first, 50)).toBe('pending');
    });
    // The parties that gave up while waiting for the lock never arrived: the barrier is whole, and two parties pass.
    const second = barrier.wait({ timeout: 30000 });
    expect((await Promise.all([first, second])).sort()).toEqual([0, 1]);
    expect(barrier.broken).toBe(false);
  });

  test('JoinableQueue.put does not wait for the queue\'s task lock, which another process holds', async () => {
    const lock = new Lock();
    const queue = new JoinableQueue(0, {
      pipe: FramePipe.create(), rlock: new Lock({ recovery: false }), wlock: new Lock({ recovery: false }), items: new Semaphore(0, { recovery: false }), slots: null,
      unfinished: new Semaphore(0, { recovery: false }), cond: new Condition(lock),
    });
    await whileHeldElsewhere(lock, async () => {
      await queue.put('a');
      await queue.put('b', { timeout: 200 });
      expect(await queue.get()).toBe('a');
    });
    expect(await queue.get()).toBe('b');
    queue.taskDone();
    queue.taskDone();
    expect(await outcomeWithin(queue.join(), 5000)).toBeUndefined();
    queue.close();
  });

  test('an async Barrier.wait that must wake a stopped sleeper keeps the event loop running, and a synchronous call on the same Barrier meanwhile waits for it instead of deadlocking', async () => {
    const barrier = new Barrier(3);
    const sleeper = new Process({ target: t.waitAtBarrierSync, args: [barrier] });
    await sleeper.start();
    await eventually(() => barrier.nWaiting === 1, 30000, 'the sleeper to wait at the barrier');
    process.kill(sleeper.pid, 'SIGSTOP');
    // If this event loop blocks, nothing below runs to resume the sleeper: this does, after 5 s, and the test fails.
    const fallback = spawn('sh', ['-c', `sleep 5; kill -CONT ${sleeper.pid}`], { stdio: 'ignore' });
    try {
      // Times out, breaks the barrier, and must then wait for the stopped sleeper to acknowledge its wake-up.
      const waiting = barrier.wait({ timeout: 100 });
      expect(await outcomeWithin(waiting, 600)).toBe('pending');
      // A synchronous call from this thread needs the Barrier's lock, which that wait holds: it finishes the wait
      // for the acknowledgement itself (blocking, as synchronous calls do) instead of waiting for a callback that
      // cannot run while it blocks.
      spawn('sh', ['-c', `sleep 0.3; kill -CONT ${sleeper.pid}`], { stdio: 'ignore' });
      expect(barrier.broken).toBe(true);
      expect(await outcomeWithin(waiting, 5000)).toBe('BrokenBarrierError');
    } finally {
      fallback.kill();
      if (sleeper.isAlive()) process.kill(sleeper.pid, 'SIGCONT');
    }
    await sleeper.join();
    expect(sleeper.exitCode).toBe(0);
    barrier.reset();
    expect(barrier.broken).toBe(false);
  });
});

describe('an async wait taking its lock back', () => {
  // It must see the pending wait sleep in the semaphore: Linux shows its sleepers in the semaphore's shared memory.
  const whereSleepersShow = new Lock({ recovery: false })._os.sem.words ? test : test.skip;
  whereSleepersShow('never holds it for this thread while other callbacks run: a synchronous acquire in one does not deadlock', async () => {
    const lock = new Lock({ recovery: false }); // an OS semaphore: a kill-safe lock is never taken by the hub
    const cond = new Condition(lock);
    const held = new Event();
    const letGo = new Semaphore(0);
    cond.acquireSync();
    const waiting = cond.wait({ timeout: 30000 });
    // Another process takes the lock, wakes the wait, and holds the lock while the wait wants it back.
    const holder = new Process({ target: t.notifyAndHold, args: [cond, held, letGo] });
    await holder.start();
    expect(await held.wait({ timeout: 30000 })).toBe(true);
    // The wait was woken and now waits for the lock on a waiter thread (a sleeper in the semaphore's shared memory).
    const { words } = lock._os.sem;
    await eventually(() => Atomics.load(words, 1) > 0, 30000, 'the woken wait to wait for the lock');
    letGo.release();
    // Without yielding to the event loop: the holder lets go and exits; a waiter thread of the pending wait must not
    // have taken the lock for it meanwhile, or this would wait for a callback that cannot run while it blocks.
    const until = Date.now() + 5000;
    while (holder.pid && isAlive(holder.pid) && Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    expect(cond.acquireSync({ timeout: 2000 })).toBe(true);
    cond.release();
    expect(await waiting).toBe(true);
    cond.release();
    await holder.join();
  });
});

// Kernel objects are opened by proxies where the platform reads semaphore values (not macOS, nor its emulation).
(canReadValue ? describe : describe.skip)('a Manager queue proxy on the server\'s host (kernel objects)', () => {
  test('taskDone() waits for the queue\'s task lock, which another process holds, without blocking', async () => {
    const manager = new Manager();
    await manager.start();
    try {
      const queue = await manager.JoinableQueue();
      await queue.put('a');
      expect(await queue.get()).toBe('a');
      const [, , , , , cond] = rebuildValue(v8.deserialize(queue.token.kernel.parts));
      let done;
      await whileHeldElsewhere(cond._lock, async () => {
        done = queue.taskDone();
        expect(await outcomeWithin(done, 100)).toBe('pending');
      });
      await done;
      expect(await outcomeWithin(queue.join(), 5000)).toBeUndefined();
    } finally {
      await manager.shutdown();
    }
  });

  test('getNowait() of an item the stopped server is still writing waits for the rest without blocking', async () => {
    const manager = new Manager();
    await manager.start();
    const fallback = [];
    try {
      const queue = await manager.Queue();
      const [, , items] = rebuildValue(v8.deserialize(queue.token.kernel.parts));
      await queue.put(Buffer.alloc(8 << 20, 7)); // too large for the pipe: the server writes it as it drains
      await eventually(() => items.getValue() === 1, 30000, 'the server to begin writing the item');
      process.kill(manager.pid, 'SIGSTOP');
      fallback.push(spawn('sh', ['-c', `sleep 5; kill -CONT ${manager.pid}`], { stdio: 'ignore' }));
      const got = queue.getNowait();
      expect(await outcomeWithin(got, 300)).toBe('pending');
      process.kill(manager.pid, 'SIGCONT');
      const item = await got;
      expect(item.length).toBe(8 << 20);
      expect(item.every((b) => b === 7)).toBe(true);
    } finally {
      for (const child of fallback) child.kill();
      process.kill(manager.pid, 'SIGCONT');
      await manager.shutdown();
    }
  });
});

describe('a put whose write lock another process holds', () => {
  test('honours its timeout, its signal, putNowait, putSync\'s timeout and close(), and leaves nothing half-written and no slot taken', async () => {
    const bytes = 8 << 20;
    const queue = new Queue(2);
    const started = new Event();
    const drain = new Semaphore(0);
    // Holds the write lock while its 8 MiB item goes in, which takes until someone reads it.
    const writer = new Process({ target: t.putLargeItem, args: [queue, bytes, started] });
    // Reads that item when told (or after 6 s, and then the test fails), then checks what is left in the queue.
    const drainer = new Process({ target: t.drainThenCheck, args: [queue, drain, 6000, bytes] });
    await writer.start();
    await drainer.start();
    expect(await started.wait({ timeout: 30000 })).toBe(true);
    await eventually(() => !queue.empty(), 30000, 'the large item to be counted');
    const began = performance.now();
    await expect(queue.put('x', { timeout: 300 })).rejects.toThrow(Full);
    await expect(queue.put('x', { signal: AbortSignal.timeout(100) })).rejects.toMatchObject({ code: 'ABORT_ERR' });
    expect(() => queue.putNowait('x')).toThrow(Full);
    expect(() => queue.putSync('x', { timeout: 300 })).toThrow(Full);
    const pending = queue.put('x');
    expect(await outcomeWithin(pending, 50)).toBe('pending');
    queue.close();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_MP_QUEUE_CLOSED' });
    expect(performance.now() - began).toBeLessThan(3000);
    drain.release();
    await drainer.join();
    await writer.join();
    expect([writer.exitCode, drainer.exitCode]).toEqual([0, 0]);
  });
});

describe('timeouts beyond what a timer or a deadline can hold', () => {
  test('lock, event, condition, barrier and queue waits wait as long as asked, or forever, never "time out now"', async () => {
    const warnings = await warningsDuring(async () => {
      const sem = new Semaphore(0);
      const timeouts = [2 ** 31, 1e13, 1e300, Number.MAX_VALUE, Infinity];
      const acquires = timeouts.map((timeout) => sem.acquire({ timeout }));
      const event = new Event();
      const eventWait = event.wait({ timeout: 1e13 });
      const cond = new Condition();
      cond.acquireSync();
      const condWait = cond.wait({ timeout: 1e13 });
      const barrier = new Barrier(2);
      const barrierWait = barrier.wait({ timeout: 1e13 });
      const queue = new Queue();
      const get = queue.get({ timeout: 2 ** 31 });
      const all = [...acquires, eventWait, condWait, barrierWait, get];
      expect(await outcomeWithin(Promise.race(all), 300)).toBe('pending');
      for (let i = 0; i < timeouts.length; i++) sem.release();
      expect(await Promise.all(acquires)).toEqual(timeouts.map(() => true));
      event.set();
      expect(await eventWait).toBe(true);
      cond.acquireSync();
      cond.notify();
      cond.release();
      expect(await condWait).toBe(true);
      cond.release();
      expect(await barrier.wait({ timeout: 30000 }) + await barrierWait).toBe(1);
      await queue.put('item');
      expect(await get).toBe('item');
      queue.close();
      // The blocking forms wait too: another process releases after 300 ms.
      const releaser = new Process({ target: t.releaseAfter, args: [sem, 300, 2] });
      await releaser.start();
      expect(sem.acquireSync({ timeout: 1e300 })).toBe(true);
      expect(sem.acquireSync({ timeout: 1e13 })).toBe(true);
      await releaser.join();
    });
    expect(warnings.filter((w) => w.name === 'TimeoutOverflowWarning')).toEqual([]);
    expect(TIMEOUT_MAX).toBe(2 ** 42); // the documented bound: longer timeouts wait forever
  });

  test('Process.join, AsyncResult.get, a Manager\'s handshakeTimeout and its Event\'s wait given 2^31 ms wait for the outcome', async () => {
    const warnings = await warningsDuring(async () => {
      const child = new Process({ target: t.after, args: [300] });
      await child.start();
      await child.join(2 ** 31);
      expect(child.exitCode).toBe(0);
      const pool = new Pool({ processes: 1 });
      try {
        expect(await pool.applyAsync(t.after, [300, 'done']).get(2 ** 31)).toBe('done');
        expect(await pool.applyAsync(t.after, [300, 'ready']).wait(1e13)).toBe(true);
      } finally {
        pool.terminate();
      }
      // The server times each connection's handshake with it: a timeout that overflowed would refuse every client.
      const manager = new Manager({ handshakeTimeout: 2 ** 31 });
      await manager.start();
      try {
        const event = await manager.Event();
        const waiting = event.wait({ timeout: 2 ** 31 });
        expect(await outcomeWithin(waiting, 300)).toBe('pending');
        await event.set();
        expect(await waiting).toBe(true);
      } finally {
        await manager.shutdown();
      }
    });
    expect(warnings.filter((w) => w.name === 'TimeoutOverflowWarning')).toEqual([]);
  });
});

describe('many waits sharing one AbortSignal', () => {
  test('add one listener to it between them and none once settled: no MaxListenersExceededWarning', async () => {
    const controller = new AbortController();
    const { signal } = controller;
    const warnings = await warningsDuring(async () => {
      const sem = new Semaphore(0);
      const acquires = Array.from({ length: 100 }, () => sem.acquire({ signal }));
      const queue = new Queue();
      const gets = Array.from({ length: 100 }, () => queue.get({ signal }));
      const event = new Event();
      const waits = Array.from({ length: 20 }, () => event.wait({ signal }));
      const manager = new Manager({ kernelObjects: false });
      await manager.start();
      try {
        const remote = await manager.Semaphore(0);
        const remoteAcquires = Array.from({ length: 20 }, () => remote.acquire({ signal }));
        expect(getEventListeners(signal, 'abort').length).toBeLessThanOrEqual(2);
        for (let i = 0; i < 100; i++) sem.release();
        for (let i = 0; i < 100; i++) await queue.put(i);
        event.set();
        await remote.release(20);
        expect((await Promise.all(acquires)).every(Boolean)).toBe(true);
        expect((await Promise.all(gets)).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
        expect((await Promise.all(waits)).every(Boolean)).toBe(true);
        expect((await Promise.all(remoteAcquires)).every(Boolean)).toBe(true);
      } finally {
        await manager.shutdown();
      }
      expect(getEventListeners(signal, 'abort')).toHaveLength(0);
      // Aborting 50 pending waits at once rejects each of them and takes nothing.
      const more = Array.from({ length: 50 }, () => sem.acquire({ signal }));
      controller.abort();
      const outcomes = await Promise.allSettled(more);
      expect(outcomes.every((o) => o.status === 'rejected' && o.reason.code === 'ABORT_ERR')).toBe(true);
      expectSemaphoreValue(sem, 0);
      queue.close();
    });
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });
});
