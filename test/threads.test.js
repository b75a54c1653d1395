'use strict';
// Worker threads: a process's objects in its threads (forThread/fromThread), and threads terminated at any moment
// with waits pending — the process never aborts, and nothing a gone thread was given is lost.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const mp = require('../dist');
const { tmpDir } = require('./fixtures/tmp');
const targets = require('./fixtures/thread_targets');
const { canReadValue, expectSemaphoreValue } = require('./semaphore_value');

const TARGETS = path.join(__dirname, 'fixtures', 'thread_targets.js');

/** A worker running `role` of thread_targets.js on the objects of `handover`; `done` settles with its report. */
function runWorker(role, handover, data = {}) {
  const worker = new Worker(TARGETS, { workerData: { role, handover, ...data } });
  const messages = [];
  const done = new Promise((resolve, reject) => {
    worker.on('message', (message) => {
      messages.push(message);
      if ('done' in message) resolve(message.done);
      if ('error' in message) reject(new Error(message.error));
    });
    worker.once('error', reject);
  });
  const next = (key) => new Promise((resolve) => {
    const found = messages.find((m) => key in m);
    if (found) return resolve(found);
    const listener = (message) => {
      if (!(key in message)) return;
      worker.off('message', listener);
      resolve(message);
    };
    worker.on('message', listener);
  });
  return { worker, done, next };
}

/** Runs a fixture script in a process of its own (an abort there must not take jest down). */
function runFixture(name, args) {
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', name), ...args.map(String)],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr, pid: child.pid })));
}

describe('handing objects to worker threads', () => {
  test('a raw Lock still throws the inheritance RuntimeError through postMessage and workerData', async () => {
    const lock = new mp.Lock();
    expect(() => new Worker('0', { eval: true, workerData: lock })).toThrow(
      expect.objectContaining({ name: 'RuntimeError', message: 'Lock objects should only be shared between processes through inheritance' }));
    const worker = new Worker('require("node:worker_threads").parentPort.once("message", () => {})', { eval: true });
    expect(() => worker.postMessage({ queue: new mp.Queue() })).toThrow(/Queue objects should only be shared/);
    await worker.terminate();
    lock.close();
  });

  test('forThread/fromThread: every kind of object works in a worker, over the same OS objects', async () => {
    const o = {
      lock: new mp.Lock(), rlock: new mp.RLock(), bounded: new mp.BoundedSemaphore(2), cond: new mp.Condition(),
      event: new mp.Event(), barrier: new mp.Barrier(2), queue: new mp.Queue(), queue2: new mp.Queue(),
      simple: new mp.SimpleQueue(), joinable: new mp.JoinableQueue(),
    };
    o.bounded.acquireSync();
    const { done } = runWorker('everything', mp.forThread(o));
    const index = await o.barrier.wait({ timeout: 10000 });
    expect(await o.queue.get({ timeout: 10000 })).toBe('from the worker');
    await o.queue2.put('from the main thread');
    const report = await done;
    expect([index, report.index].sort()).toEqual([0, 1]);
    expect(report.got).toBe('from the main thread');
    expect(o.event.isSet()).toBe(true);
    expectSemaphoreValue(o.bounded, 2); // the worker's release reached this semaphore
    if (canReadValue) expect(() => o.bounded.release()).toThrow(mp.ValueError); // macOS checks bounds of 1 only
    expect(await o.simple.get()).toBe(42);
    expect(o.joinable.getSync()).toBe('task');
    o.joinable.taskDone();
    await o.joinable.join();
    for (const object of Object.values(o)) object.close();
  });

  test('a handover is refused in another process and once its sender closed the object', async () => {
    const lock = new mp.Lock();
    const handover = mp.forThread({ lock });
    const copy = mp.fromThread(handover).lock; // the same thread may adopt too: a second object, one semaphore
    copy.acquireSync();
    expect(lock.acquireSync({ blocking: false })).toBe(false);
    copy.release();
    copy.close();
    lock.close();
    expect(() => mp.fromThread(handover)).toThrow(expect.objectContaining({ name: 'ValueError', code: 'ERR_MP_CLOSED' }));
    expect(() => mp.fromThread({ '$multiproc.forThread': { pid: process.pid + 1, data: new Uint8Array(8) } }))
      .toThrow(expect.objectContaining({ code: 'ERR_MP_NOT_A_THREAD_HANDOVER' }));
    expect(() => mp.fromThread({})).toThrow(mp.InvalidArgumentError);
    expect(() => mp.forThread({ lock })).toThrow(expect.objectContaining({ code: 'ERR_MP_CLOSED' }));
  });

  test("a worker's Lock reaches a child of its own after the main thread closed its copy", async () => {
    const lock = new mp.Lock();
    const relay = runWorker('relay', mp.forThread({ lock }));
    await relay.next('adopted');
    lock.close(); // the worker's copy still holds the semaphore, and with it the name its child opens
    relay.worker.postMessage('go');
    expect(await relay.done).toEqual({ exitCode: 0 });
    await relay.worker.terminate();
  });
});

describe('worker threads terminated with waits pending', () => {
  // Before the wait hub, a waiter thread called into the gone worker (SIGABRT in napi_call_threadsafe_function) and
  // the unit it took was neither delivered nor given back.
  test('abort-on-terminated-worker: each unit released is counted by a worker or given back, never lost', async () => {
    const { code, signal, stdout, stderr, pid } = await runFixture('worker_give_back.js', [40]);
    try {
      require('../dist/native').native.Semaphore.unlink(`/mp-give-back-${pid}`); // if it died first
    } catch {
      // removed by the fixture itself
    }
    expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    const { released, counted, left } = JSON.parse(stdout);
    expect(counted + left).toBe(released);
  });

  // The addon, loaded by workers alone, was unloaded with the last of them while hub threads ran its code (SIGSEGV).
  test('addon-unloaded-under-hub-threads: workers alone load the addon and are terminated with waits pending', async () => {
    const { code, signal, stdout } = await runFixture('worker_only.js', [12]);
    expect({ code, signal, stdout: stdout.trim() }).toEqual({ code: 0, signal: null, stdout: 'done' });
  });

  // Node-API calls fail in a worker being torn down; node-addon-api then made a fatal error of it (Error::New), or
  // half-made objects were used (SIGSEGV).
  test('busy-workers-fatal: workers creating and using objects as fast as they can, terminated at random', async () => {
    const { code, signal, stdout } = await runFixture('worker_busy.js', [30]);
    expect({ code, signal, stdout: stdout.trim() }).toEqual({ code: 0, signal: null, stdout: 'done' });
  });

  test('event-lock-lost-with-terminated-worker: a worker terminated just after its Event.wait and Barrier.wait began leaves both usable', async () => {
    // The async wait took the inner lock and ran its section only in a later continuation: a worker terminated in
    // between kept the lock, and the next event.set() of this thread blocked it for good. The inner locks are made
    // here so that they are checked without waiting.
    const eventLock = new mp.Lock();
    const barrierLock = new mp.Lock();
    const o = {
      event: new mp.Event([new mp.Condition(eventLock), new mp.Semaphore(0, { recovery: false })]),
      barrier: new mp.Barrier(64, undefined, undefined, [new mp.Condition(barrierLock), new mp.Semaphore(2, { recovery: false }), new mp.Semaphore(0, { recovery: false })]),
    };
    for (let i = 0; i < 8; i++) {
      const w = runWorker('sectionWaiter', mp.forThread(o));
      await w.next('waiting');
      await w.worker.terminate();
      // Nobody else uses them: free at once, or never.
      expect(eventLock.acquireSync({ blocking: false })).toBe(true);
      eventLock.release();
      expect(barrierLock.acquireSync({ blocking: false })).toBe(true);
      barrierLock.release();
    }
    o.event.set();
    expect(await o.event.wait({ timeout: 30000 })).toBe(true);
    for (const object of [...Object.values(o), eventLock, barrierLock]) object.close();
  }, 60000);

  test('workers waiting on shared objects are terminated at random moments while threads and a process use them: counts exact', async () => {
    const file = path.join(tmpDir('mp-threads-'), 'counter');
    fs.writeFileSync(file, '0');
    const eventLock = new mp.Lock(); // the Event's inner lock, made here so that this thread waits for it bounded
    const o = {
      lock: new mp.Lock(), queue: new mp.Queue(), event: new mp.Event([new mp.Condition(eventLock), new mp.Semaphore(0, { recovery: false })]),
      gate: new mp.Semaphore(0, { recovery: false }), late: new mp.Queue(), cond: new mp.Condition(),
    };
    const n = 60;
    const items = 20;
    const survivorWorker = runWorker('survivor', mp.forThread(o), { file, n, items });
    const child = new mp.Process({ target: targets.childSurvivor, args: [o, file, n, items] });
    await child.start();
    const disposables = (async () => {
      for (let i = 0; i < 16; i++) {
        const d = runWorker('disposable', mp.forThread(o));
        await d.next('waiting');
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 15));
        await d.worker.terminate(); // its waits are pending: the hub drops them (a thread holding a lock would keep it)
      }
    })();
    for (let i = 0; i < n; i++) {
      await o.lock.acquire();
      try {
        targets.bump(file);
      } finally {
        o.lock.release();
      }
    }
    const received = [];
    for (let i = 0; i < 2 * items; i++) received.push(await o.queue.get({ timeout: 30000 }));
    await disposables;
    // Every disposable waiter is gone: what the survivors wait for now goes to them, exactly once each, and a
    // notify does not wait for sleepers whose threads are gone. This thread's waits are bounded (a lost unit fails
    // the test instead of blocking the run): the locks are checked by async acquires first, and notifyAll waits only
    // for acknowledgements the wait hub already gave for each gone sleeper.
    expect(await o.cond.acquire({ timeout: 30000 })).toBe(true);
    const [, sleeping, woken] = o.cond._semaphores();
    expectSemaphoreValue(sleeping, 16);
    expectSemaphoreValue(woken, 16);
    o.cond.notifyAll();
    o.cond.release();
    expect(await eventLock.acquire({ timeout: 30000 })).toBe(true); // no gone thread keeps the Event's inner lock
    eventLock.release();
    o.event.set();
    for (let i = 0; i < 2; i++) o.gate.release();
    for (let i = 0; i < 2; i++) await o.late.put(`late-${i}`);
    const finale = await survivorWorker.done;
    await child.join();
    expect(child.exitCode).toBe(0);
    expect(finale.gated).toBe(true);
    expect(Number(fs.readFileSync(file, 'utf8'))).toBe(3 * n);
    expect(received.sort()).toEqual([...Array.from({ length: items }, (_, i) => `child-${i}`),
      ...Array.from({ length: items }, (_, i) => `worker-${i}`)].sort());
    expect(o.gate.acquireSync({ blocking: false })).toBe(false); // nobody gone took a unit
    expect(o.late.empty()).toBe(true);
    await survivorWorker.worker.terminate();
    for (const object of [...Object.values(o), eventLock]) object.close();
  }, 60000);
});
