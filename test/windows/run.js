// The Windows test subset, run by scripts/test-win.sh with the Windows node.exe under Wine (jest is too slow to start
// there): real Windows processes and kernel objects, semaphores handed to children with DuplicateHandle while they
// are spawned. Plain node; prints one line per test and "N passed, N failed"; exits 1 on any failure.
'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const v8 = require('node:v8');
const mp = require('../../dist');
const { native } = require('../../dist/native');
const t = require('../fixtures/targets');
const s = require('../fixtures/sync_targets');
const tasks = require('../fixtures/pool_tasks');
const q = require('../fixtures/queue_targets');
const shmTargets = require('../fixtures/shm_targets');
const scenarios = require('../../dist-examples/examples/scenarios');
const named = require('../fixtures/named_lock_scenarios');
const conn = require('../fixtures/connection_targets');

const PER_TEST_MS = 180000; // an upper bound only: Wine on 2 busy cores ran seed scenario 3 past 60 s
const ZERO_TO_NINE = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
const tests = [];
const test = (name, fn) => tests.push({ name, fn });

const tmpFile = (name, content) => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mp-win-')), name);
  fs.writeFileSync(file, content);
  return file;
};

/** Starts a Process on `target(...args)`, waits until it runs it and returns it. */
async function started(target, args) {
  const p = new mp.Process({ target, args });
  await p.start();
  return p;
}

/** One process per `targets` entry bumps a counter file `n` times under `lock`; returns the final count. */
async function countTogether(lock, targets, n) {
  const file = tmpFile('counter', '0');
  const procs = await Promise.all(targets.map((target) => started(target, [lock, file, n])));
  await Promise.all(procs.map((p) => p.join()));
  assert.deepEqual(procs.map((p) => p.exitCode), targets.map(() => 0));
  return Number(fs.readFileSync(file, 'utf8'));
}

async function exitCodeOf(target, args) {
  const p = await started(target, args);
  await p.join();
  return p.exitCode;
}

test('the addon is the Windows build: kernel semaphores with a readable value', () => {
  assert.equal(process.platform, 'win32');
  assert.equal(native.platform, 'win32');
  assert.deepEqual(native.features, { semGetValue: true, semTimedWait: true });
});

test('semaphore: create, tryWait, timed wait, post up to the maximum, value', async () => {
  const sem = native.Semaphore.create('', 1, 2);
  assert.equal(sem.value(), 1);
  assert.equal(sem.tryWait(), true);
  assert.equal(sem.tryWait(), false);
  const before = performance.now();
  assert.equal(sem.wait(150), false);
  // GetTickCount64 ticks in 10-16 ms steps on Windows: allow one tick below the requested time
  assert.ok(performance.now() - before >= 150 - 16, `timed out after ${performance.now() - before} ms`);
  assert.equal(sem.post(), true);
  assert.equal(sem.post(), true);
  assert.equal(sem.post(), false); // ReleaseSemaphore refuses to pass the maximum given at creation
  assert.equal(sem.value(), 2);
  assert.equal(await new Promise((resolve, reject) => sem.waitAsync(1000, (err, ok) => (err ? reject(err) : resolve(ok)))), true);
  sem.close();
});

test('semaphore: a handle value that means nothing here is a typed error', () => {
  assert.throws(() => native.Semaphore.open('not a handle'), { code: 'EBADF', syscall: 'OpenSemaphoreHandle' });
  assert.throws(() => native.Semaphore.open(42), { code: 'ERR_INVALID_ARG_TYPE' });
});

test('Lock and BoundedSemaphore refuse over-release (the maximum lives in the kernel object)', () => {
  const lock = new mp.Lock();
  assert.throws(() => lock.release(), { name: 'ValueError', message: 'semaphore or lock released too many times' });
  const bounded = new mp.BoundedSemaphore(2);
  bounded.acquireSync();
  bounded.release();
  assert.throws(() => bounded.release(), { name: 'ValueError' });
  assert.equal(bounded.getValue(), 2);
});

test('exact counter: 2 processes x 200 locked read-modify-writes of a file (sync and async acquire)', async () => {
  assert.equal(await countTogether(new mp.Lock(), [t.incrementFile, t.incrementFileAsync], 200), 400);
});

test('a Lock held by a child (DuplicateHandle into it) blocks the parent until the child is killed', async () => {
  const lock = new mp.Lock();
  const held = new mp.Event();
  const never = new mp.Event();
  const child = await started(s.holdLockForever, [lock, held, never]);
  assert.equal(await held.wait({ timeout: 20000 }), true);
  assert.equal(lock.acquireSync({ blocking: false }), false);
  assert.equal(await lock.acquire({ timeout: 100 }), false);
  child.kill();
  await child.join();
  assert.equal(child.exitCode, -9); // Node reports the signal it emulated with TerminateProcess
});

test('RLock: recursion in a child, release by a non-owner process throws AssertionError', async () => {
  const rlock = new mp.RLock();
  assert.equal(await exitCodeOf(s.rlockRecursion, [rlock]), 0);
  rlock.acquireSync();
  assert.equal(await exitCodeOf(s.releaseForeignRLock, [rlock]), 0);
  rlock.release();
});

test('Event: set by the parent wakes a child; a child times out on an unset one', async () => {
  const event = new mp.Event();
  const childStarted = new mp.Event();
  const waiter = await started(s.waitForEvent, [event, 30000, childStarted]);
  assert.equal(await childStarted.wait({ timeout: 20000 }), true);
  event.set();
  await waiter.join();
  assert.equal(waiter.exitCode, 0);
  assert.equal(await exitCodeOf(s.waitForEvent, [new mp.Event(), 200]), 2);
});

test('Condition: producer and consumer in two children', async () => {
  const cond = new mp.Condition();
  const file = tmpFile('items', '');
  const consumer = await started(s.conditionConsumer, [cond, file, 20, true]);
  const producer = await started(s.conditionProducer, [cond, file, 20]);
  await Promise.all([consumer.join(), producer.join()]);
  assert.deepEqual([consumer.exitCode, producer.exitCode], [0, 0]);
});

test('RuntimeError outside spawning: a Lock in a message is refused', async () => {
  const lock = new mp.Lock();
  const message = 'Lock objects should only be shared between processes through inheritance';
  assert.throws(() => v8.serialize({ lock }), { name: 'RuntimeError', message });
  assert.throws(() => structuredClone(lock), { name: 'RuntimeError' });
  assert.throws(() => JSON.stringify([lock]), { name: 'RuntimeError' });
});

test('exit codes follow Python: the code given, 1 on an uncaught error', async () => {
  assert.equal(await exitCodeOf(t.exitWith, [3]), 3);
  assert.equal(await exitCodeOf(t.throwError, ['on purpose']), 1);
});

test('Pool: a Lock and a Queue through initargs reach every worker; in task arguments both are refused', async () => {
  const inited = new mp.Semaphore(0);
  const queue = new mp.Queue();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mp-win-'));
  const pool = new mp.Pool({ processes: 2, initializer: tasks.init, initargs: [{ inited, dir, lock: new mp.Lock(), queue }] });
  try {
    assert.deepEqual(await pool.map(tasks.square, [1, 2, 3, 4]), [1, 4, 9, 16]);
    for (let worker = 0; worker < 2; worker++) assert.equal(await inited.acquire({ timeout: 20000 }), true);
    assert.deepEqual(await pool.map(tasks.printBlockAndPut, ZERO_TO_NINE), ZERO_TO_NINE);
    const got = [];
    for (let i = 0; i < 10; i++) got.push(await queue.get({ timeout: 20000 }));
    assert.deepEqual(got.sort((a, b) => a - b), ZERO_TO_NINE);
    assert.equal(queue.empty(), true);
    await assert.rejects(pool.apply(tasks.useLock, [new mp.Lock()]), {
      name: 'RuntimeError', message: 'Lock objects should only be shared between processes through inheritance' });
    await assert.rejects(pool.apply(tasks.printBlockAndPutOn, [0, queue]), {
      name: 'RuntimeError', message: 'Queue objects should only be shared between processes through inheritance' });
  } finally {
    await pool[Symbol.asyncDispose]();
    queue.close();
  }
});

test('Manager over a named pipe: a dict, and a Lock proxy used by a child Process', async () => {
  const manager = new mp.Manager();
  await manager.start();
  try {
    assert.match(String(manager.address), /^\\\\[?.]\\pipe\\/);
    const dict = await manager.dict();
    await dict.set('answer', 42);
    assert.equal(await dict.get('answer'), 42);
    assert.equal(await countTogether(await manager.Lock(), [t.incrementFileAsync, t.incrementFileAsync], 50), 100);
  } finally {
    await manager.shutdown();
  }
});

/** Whether `pid` still runs (OpenProcess, for a process that is not our child). */
function isRunning(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// On Windows no watcher of ours is involved: libuv puts every child it spawns (not detached) in a job object with
// JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, so the kernel terminates the children of a process as it dies.
test('a child blocked in a synchronous wait ends when its parent is killed', async () => {
  const file = tmpFile('pid', '');
  const childStarted = new mp.Event();
  const parent = await started(t.startBlockedChild, [file, childStarted, new mp.Event()]);
  assert.equal(await childStarted.wait({ timeout: 20000 }), true);
  const orphan = Number(fs.readFileSync(file, 'utf8'));
  assert.equal(isRunning(orphan), true);
  parent.kill();
  await parent.join();
  const killedAt = performance.now();
  // Not our child, so nothing to wait on: its existence is polled, as the POSIX suites do for orphans.
  while (isRunning(orphan) && performance.now() - killedAt < 10000) await new Promise((resolve) => setTimeout(resolve, 20));
  const gone = performance.now() - killedAt;
  assert.equal(isRunning(orphan), false, 'the orphan still runs 10 s after its parent was killed');
  assert.ok(gone < 3000, `the orphan took ${Math.round(gone)} ms to end`);
});

test('seed scenario 2: a Pool with a Manager Lock and Queue reads 0..9', async () => {
  assert.deepEqual(await scenarios.poolWithManagerObjects(), ZERO_TO_NINE);
});

test('seed scenario 4: ten Processes with Manager objects read 0..9', async () => {
  assert.deepEqual(await scenarios.processesWithManagerObjects(), ZERO_TO_NINE);
});

test('seed scenario 1: a Lock in Pool task arguments is refused with the RuntimeError', async () => {
  await assert.rejects(scenarios.poolWithLockInArgs(), {
    name: 'RuntimeError', message: 'Lock objects should only be shared between processes through inheritance' });
});

test('seed scenario 3: a Lock and a Queue handed to ten Processes (three alive at a time) read 0..9', async () => {
  assert.deepEqual(await scenarios.processesWithLock(), ZERO_TO_NINE);
});

test('the fix: Lock and Queue through initializer/initargs read 0..9; a Queue in task arguments is refused', async () => {
  assert.deepEqual(await scenarios.poolWithInitargs(), ZERO_TO_NINE);
  await assert.rejects(scenarios.poolWithInitargsQueueInArgs(), {
    name: 'RuntimeError', message: 'Queue objects should only be shared between processes through inheritance' });
});

test('SharedMemory: a named file mapping a child attaches by name; its store ends a parent wait (polled)', async () => {
  const shm = new mp.SharedMemory({ size: 64 });
  const other = mp.SharedMemory.attach(shm.name);
  assert.ok(other.size >= 64); // whole pages on Windows
  const words = shm.view(Int32Array);
  const woken = mp.wait(words, 0, 0, { timeout: 30000 });
  const p = await started(shmTargets.storeWord, [shm, 0, 5]);
  assert.equal(await woken, 'ok');
  await p.join();
  assert.equal(other.view(Int32Array)[0], 5);
  assert.equal(mp.waitSync(words, 0, 5, { timeout: 1 }), 'timed-out');
  other.close();
  shm.close();
  assert.equal(words.length, 0);
  assert.throws(() => shm.buffer, { code: 'ERR_MP_CLOSED' });
  shm.unlink();
});

test('Value under its lock: 2 processes x 200 increments, the count is exact', async () => {
  const counter = mp.Value('i', 0);
  const procs = await Promise.all([0, 1].map(() => started(shmTargets.increment, [counter, 200])));
  await Promise.all(procs.map((p) => p.join()));
  assert.equal(counter.value, 400);
  counter.close();
});

test('pipe handles: create, non-blocking read and write, end of file, errors name their Win32 call', () => {
  const [r, w] = native.pipeCreate(`\\\\.\\pipe\\multiproc-test-${process.pid}-${Date.now()}`, 1 << 16);
  assert.equal(native.pipeBufferSize(r), 1 << 16);
  const buf = Buffer.alloc(16);
  assert.equal(native.pipeRead(r, buf, 0, 16), -1); // empty: would block
  assert.equal(native.pipePoll(r, 30), false);
  assert.equal(native.pipeWrite(w, Buffer.from('hello'), 0, 5), 5);
  assert.equal(native.pipePoll(r, -1), true);
  assert.equal(native.pipeAvailable(r), 5);
  assert.equal(native.pipeRead(r, buf, 0, 16), 5); // never more than is there
  assert.equal(buf.toString('utf8', 0, 5), 'hello');
  const chunk = Buffer.alloc(4096);
  let room = 0;
  for (let n; (n = native.pipeWrite(w, chunk, 0, chunk.length)) > 0;) room += n; // PIPE_NOWAIT: a full pipe takes nothing
  assert.equal(room, 1 << 16); // what GetNamedPipeInfo said, to the byte: writers count on it
  assert.equal(native.pipeAvailable(r), 1 << 16);
  native.closeHandle(w);
  let drained = 0;
  for (let n; (n = native.pipeRead(r, chunk, 0, chunk.length)) > 0;) drained += n;
  assert.equal(drained, room);
  assert.equal(native.pipeRead(r, buf, 0, 16), 0); // every writer gone and nothing left: end of file
  assert.equal(native.pipeAvailable(r), -1);
  native.closeHandle(r);
  const bogus = 0x7ffffffc; // never a handle of this process (closing `r` twice could hit a reused value)
  assert.throws(() => native.closeHandle(bogus), { syscall: 'CloseHandle' });
  assert.throws(() => native.duplicateHandle(bogus, process.pid), { syscall: 'DuplicateHandle' });
  assert.throws(() => native.pipeCreate('not a pipe name', 4096), { syscall: 'CreateNamedPipeW' });
});

// GetProcessHandleCount cannot count leaks here: under Wine 8 it succeeds and reports 0 handles whatever the process
// holds (checked with a MinGW test program that created 10 semaphores). So a copy of one end is the witness: once
// close() has closed the pipe's own two handles, a copy of the read end sees end-of-file (no writer left) and a copy
// of the write end fails with ERROR_NO_DATA (no reader left).
test('a queue pipe closes both its handles: copies of its ends see the other end gone', () => {
  const { WinFramePipe } = require('../../dist/pipe_win');
  const pipe = WinFramePipe.create();
  const readCopy = Number(native.duplicateHandle(pipe.readHandle, process.pid));
  const writeCopy = Number(native.duplicateHandle(pipe.writeHandle, process.pid));
  native.closeHandle(writeCopy);
  pipe.close();
  assert.equal(native.pipeRead(readCopy, Buffer.alloc(1), 0, 1), 0);
  native.closeHandle(readCopy);
  const other = WinFramePipe.create();
  const writeCopy2 = Number(native.duplicateHandle(other.writeHandle, process.pid));
  other.close();
  assert.throws(() => native.pipeWrite(writeCopy2, Buffer.alloc(1), 0, 1), { syscall: 'WriteFile', errno: 232 });
  native.closeHandle(writeCopy2);
});

test('Queue: exactly once, 2 producers (putSync, put) -> 2 consumers (getSync, get) in four Processes, bounded', async () => {
  const work = new mp.Queue(8); // bounded: producers wait for room (slots) across processes
  const results = new mp.Queue();
  const N = 300;
  try {
    const consumers = await Promise.all([started(q.forward, [work, results, true]), started(q.forward, [work, results, false])]);
    const producers = await Promise.all([started(q.produce, [work, 'a', N, true]), started(q.produce, [work, 'b', N, false])]);
    const got = new Map();
    for (let i = 0; i < 2 * N; i++) {
      const item = await results.get({ timeout: 30000 });
      const key = `${item.producer}:${item.i}`;
      assert.equal(got.has(key), false, `${key} arrived twice`);
      assert.equal(item.body, key.concat(':').padEnd(40 + (item.i % 200), '*'));
      got.set(key, item);
    }
    await Promise.all(producers.map((p) => p.join()));
    await work.put(q.STOP);
    work.putSync(q.STOP);
    await Promise.all(consumers.map((p) => p.join()));
    assert.deepEqual([...producers, ...consumers].map((p) => p.exitCode), [0, 0, 0, 0]);
    assert.equal(got.size, 2 * N);
    assert.throws(() => results.getNowait(), { name: 'Empty' });
  } finally {
    work.close();
    results.close();
  }
});

test('Queue: an item put by a child that exits as soon as put resolves is not lost', async () => {
  const queue = new mp.Queue();
  try {
    const children = await Promise.all([started(q.putThenExit, [queue, 'exit', 'exit']), started(q.putThenExit, [queue, 'return', 'return'])]);
    await Promise.all(children.map((p) => p.join()));
    const got = [await queue.get({ timeout: 20000 }), queue.getSync({ timeout: 20000 })];
    assert.deepEqual(got.sort(), ['exit', 'return']);
  } finally {
    queue.close();
  }
});

test('Queue: timeout and signal on an empty queue, Full on a full one; the event loop runs meanwhile', async () => {
  const queue = new mp.Queue(1);
  try {
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    let began = performance.now();
    await assert.rejects(queue.get({ timeout: 300 }), { name: 'Empty' });
    const waited = performance.now() - began;
    clearInterval(ticker);
    assert.ok(waited >= 300 - 16 && waited < 3000, `get timed out after ${waited} ms`); // GetTickCount64: 16 ms steps
    assert.ok(ticks >= 5, `only ${ticks} timer ticks while get waited`);
    began = performance.now();
    assert.throws(() => queue.getSync({ timeout: 150 }), { name: 'Empty' });
    assert.ok(performance.now() - began >= 150 - 16);
    assert.throws(() => queue.getNowait(), { name: 'Empty' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(queue.get({ signal: controller.signal }), { name: 'AbortError' });
    await queue.put('one');
    await assert.rejects(queue.put('two', { timeout: 100 }), { name: 'Full' });
    assert.throws(() => queue.putNowait('two'), { name: 'Full' });
    assert.equal(queue.qsize(), 1);
    assert.equal(await queue.get(), 'one'); // nothing was lost or added by the calls that gave up
    assert.equal(queue.empty(), true);
    queue.close();
    await assert.rejects(queue.get(), { name: 'ValueError', code: 'ERR_MP_QUEUE_CLOSED' });
    const before = mp.activeChildren().length;
    assert.throws(() => new mp.Process({ target: q.fill, args: [queue, 1] }).start(), { code: 'ERR_MP_QUEUE_CLOSED' });
    assert.equal(mp.activeChildren().length, before);
  } finally {
    queue.close();
  }
});

test('Queue: an unbounded queue whose pipe is full: putNowait Full, put gives up on timeout and signal, nothing lost', async () => {
  const queue = new mp.Queue();
  const item = 'x'.repeat(3000); // frames under 4 KiB go in whole or not at all, as POSIX writes of PIPE_BUF
  let count = 0;
  try {
    for (;;) {
      try {
        queue.putNowait(item);
        count++;
      } catch (err) {
        assert.equal(err.name, 'Full');
        break;
      }
      assert.ok(count < 5000, 'the pipe never filled');
    }
    assert.ok(count >= 300, `only ${count} frames of 3 KB fit`); // the pipe was asked for 1 MiB
    const began = performance.now();
    await assert.rejects(queue.put(item, { timeout: 200 }), { name: 'Full' });
    assert.ok(performance.now() - began >= 200 - 16);
    assert.throws(() => queue.putSync(item, { timeout: 100 }), { name: 'Full' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(queue.put(item, { signal: controller.signal }), { name: 'AbortError' });
    const late = queue.put(Buffer.alloc(1 << 20, 2)); // waits for room, then goes in as readers make room
    for (let i = 0; i < count; i++) assert.equal(await queue.get(), item);
    assert.equal(Buffer.compare(await queue.get({ timeout: 5000 }), Buffer.alloc(1 << 20, 2)), 0);
    await late;
    assert.equal(queue.empty(), true);
  } finally {
    queue.close();
  }
});

test('Queue: 8 MiB, 1 MiB + 1 and small items from a child arrive whole (sha256), larger than the pipe', async () => {
  const queue = new mp.Queue();
  const sizes = [8 << 20, (1 << 20) + 1, 100, 70000];
  try {
    const child = await started(q.putSizes, [queue, sizes]);
    for (const size of sizes) {
      const item = await queue.get({ timeout: 60000 });
      assert.equal(item.size, size);
      assert.equal(item.data.length, size);
      assert.equal(q.sha256(item.data), item.hash);
    }
    await child.join();
    assert.equal(child.exitCode, 0);
    // and the other way: a child takes 3 MiB with getSync and puts it back with putSync
    const work = new mp.Queue();
    try {
      const forwarder = await started(q.forward, [work, queue, true]);
      const data = Buffer.alloc(3 << 20, 7);
      await work.put(data);
      await work.put(q.STOP);
      assert.equal(Buffer.compare(await queue.get({ timeout: 60000 }), data), 0);
      await forwarder.join();
      assert.equal(forwarder.exitCode, 0);
    } finally {
      work.close();
    }
  } finally {
    queue.close();
  }
});

test('SimpleQueue across Processes: a child waiting in get, items forwarded', async () => {
  const queue = new mp.SimpleQueue();
  const results = new mp.SimpleQueue();
  const ready = new mp.Semaphore(0);
  try {
    const children = await Promise.all([started(q.waitInGet, [queue, ready, results, true]),
      started(q.waitInGet, [queue, ready, results, false])]);
    for (let i = 0; i < 2; i++) assert.equal(await ready.acquire({ timeout: 20000 }), true);
    queue.putSync('x');
    await queue.put({ y: [1, 2, 3] });
    const got = [await results.get({ timeout: 20000 }), await results.get({ timeout: 20000 })];
    assert.deepEqual(got.find((item) => typeof item === 'string'), 'x');
    assert.deepEqual(got.find((item) => typeof item === 'object'), { y: [1, 2, 3] });
    await Promise.all(children.map((p) => p.join()));
    assert.deepEqual(children.map((p) => p.exitCode), [0, 0]);
  } finally {
    queue.close();
    results.close();
  }
});

test('JoinableQueue: join() waits until a child called taskDone() for every item', async () => {
  const queue = new mp.JoinableQueue();
  const seen = new mp.Queue();
  try {
    for (let i = 0; i < 20; i++) queue.putSync(i);
    queue.putSync(q.STOP);
    const child = await started(q.takeAndMarkDone, [queue, seen]);
    await queue.join();
    const got = [];
    for (let i = 0; i < 20; i++) got.push(seen.getNowait()); // every taskDone came after its item was forwarded
    assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => i));
    queue.joinSync();
    await child.join();
    assert.equal(child.exitCode, 0);
    assert.throws(() => queue.taskDone(), { name: 'ValueError' });
  } finally {
    queue.close();
    seen.close();
  }
});

test('wait hub: 300 pending async waits on 100 semaphores share WaitForMultipleObjects threads; cancel and close end them', async () => {
  const sems = Array.from({ length: 100 }, () => native.Semaphore.create('', 0, 10));
  const results = [];
  const ids = [];
  for (let i = 0; i < 300; i++) {
    ids.push(sems[i % 100].waitAsync(-1, (err, ok) => results.push(err ? err.code : ok)));
  }
  assert.ok(native.hubThreads() <= Math.ceil(100 / 63) + 1, `${native.hubThreads()} hub threads`);
  for (let i = 0; i < 100; i++) assert.equal(native.cancelWait(ids[i]), true);
  const settled = async (n) => {
    while (results.length < n) await new Promise((resolve) => setTimeout(resolve, 10));
  };
  for (let i = 100; i < 200; i++) sems[i % 100].post();
  await settled(100);
  for (let i = 0; i < 50; i++) sems[i].close(); // their third waits fail with ERR_MP_CLOSED
  for (let i = 50; i < 100; i++) sems[i].post();
  await settled(200);
  assert.equal(results.filter((r) => r === true).length, 150);
  assert.equal(results.filter((r) => r === 'ERR_MP_CLOSED').length, 50);
  for (let i = 50; i < 100; i++) {
    assert.equal(sems[i].value(), 0); // cancelled waits took nothing
    sems[i].close();
  }
});

test('a timeout too large for a deadline waits forever (it timed out at once before)', async () => {
  const lock = new mp.Lock();
  lock.acquireSync();
  const pending = [1e13, 1e300].map((timeout) => lock.acquire({ timeout }));
  const settled = await Promise.race([...pending, new Promise((resolve) => setTimeout(resolve, 300, 'pending'))]);
  assert.equal(settled, 'pending');
  lock.release();
  lock.release();
  assert.deepEqual(await Promise.all(pending), [true, true]);
  lock.close();
});

test('worker threads: forThread objects work in a worker; a worker terminated while it waits is harmless', async () => {
  const { Worker } = require('node:worker_threads');
  const lock = new mp.Lock();
  const queue = new mp.Queue();
  const event = new mp.Event();
  lock.acquireSync();
  const body = `
    const { fromThread } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'dist'))});
    const { workerData, parentPort } = require('node:worker_threads');
    const { lock, queue, event } = fromThread(workerData);
    (async () => {
      await queue.put('ready');
      event.wait();
      await lock.acquire();
      lock.release();
      await queue.put('done');
    })();
  `;
  const worker = new Worker(body, { eval: true, workerData: mp.forThread({ lock, queue, event }) });
  assert.equal(await queue.get({ timeout: 20000 }), 'ready');
  lock.release();
  assert.equal(await queue.get({ timeout: 20000 }), 'done');
  lock.acquireSync();
  const waiting = new Worker(body, { eval: true, workerData: mp.forThread({ lock, queue, event }) });
  assert.equal(await queue.get({ timeout: 20000 }), 'ready');
  await waiting.terminate(); // with an Event wait and (soon) an acquire pending
  lock.release();
  assert.equal(lock.acquireSync({ timeout: 5000 }), true);
  await worker.terminate();
  for (const object of [lock, queue, event]) object.close();
  assert.throws(() => lock.acquireSync(), { code: 'ERR_MP_CLOSED' });
});

test('named lock: a waiter in acquireSync (LockFileEx) takes over from a TerminateProcess-ed holder, told ownerDied', async () => {
  await named.killedHolderHandsOver('sync');
});

test('named lock: an async waiter takes over from a killed holder, told ownerDied', async () => {
  await named.killedHolderHandsOver('async');
});

test('named lock: kill storm of 4 unrelated processes, never two inside, every death told', async () => {
  const { kills } = await named.killStorm(8000); // a Node start takes seconds under Wine
  assert.ok(kills >= 1, `only ${kills} kills`);
});

test('named lock: two opens exclude each other; ENOENT, EEXIST, a name in use cannot be removed, bad names', () => {
  const name = named.uniqueName();
  assert.throws(() => mp.Lock.open(name), { code: 'ENOENT' });
  const a = mp.Lock.open(name, { create: true, exclusive: true });
  assert.throws(() => mp.Lock.open(name, { create: true, exclusive: true }), { code: 'EEXIST' });
  const b = mp.RLock.open(name);
  assert.equal(a.acquireSync(), true);
  assert.equal(b.acquireSync({ timeout: 20 }), false);
  assert.throws(() => mp.NamedLock.unlink(name), (err) => ['EBUSY', 'EPERM'].includes(err.code));
  a.close(); // abandoned while held
  assert.equal(b.acquireSync({ timeout: 1000 }), true);
  assert.equal(b.ownerDied, true);
  b.release();
  b.close();
  mp.NamedLock.unlink(name);
  assert.throws(() => mp.Lock.open('Upper'), { code: 'ERR_MP_LOCK_NAME' });
});

test('named semaphore: 2 units; the unit of a killed holder comes back to a waiter, told ownerDied', async () => {
  const name = named.uniqueName();
  const holders = [await named.startChild(['semhold', name], 'held'), await named.startChild(['semhold', name], 'held')];
  const sem = mp.Semaphore.open(name);
  assert.equal(sem.value, 2);
  assert.equal(sem.acquireSync({ blocking: false }), false);
  const acquired = sem.acquire({ timeout: 30000 });
  holders[1].kill('SIGKILL');
  assert.equal(await acquired, true);
  assert.equal(sem.ownerDied, true);
  sem.release();
  sem.close();
  holders[0].kill('SIGKILL');
  await Promise.all(holders.map((h) => h.exited));
  mp.NamedSemaphore.unlink(name);
  assert.throws(() => mp.Semaphore.open(name), { code: 'ENOENT' });
});

test('named event: a set() in an unrelated process wakes a waiter; ENOENT, EEXIST', async () => {
  const name = named.uniqueName();
  const child = path.join(__dirname, '..', 'fixtures', 'named_event_child.js');
  assert.throws(() => mp.Event.open(name), { code: 'ENOENT' });
  const event = mp.Event.open(name, { create: true, exclusive: true });
  assert.throws(() => mp.Event.open(name, { create: true, exclusive: true }), { code: 'EEXIST' });
  const woken = event.wait({ timeout: 60000 });
  const setter = await named.startChild(['set', name], 'set', child);
  assert.equal(await woken, true);
  await setter.exited;
  event.close();
});

test('Pipe: a child echoes values over a duplex Pipe (handles duplicated into it), async and Sync; EOF after it closes', async () => {
  for (const sync of [false, true]) {
    const [a, b] = mp.Pipe();
    try {
      const child = await started(conn.echo, [b, sync]);
      b.close();
      for (const value of [1, 'two', { three: [3] }, Buffer.alloc(300000, 7)]) {
        await a.send(value);
        assert.deepEqual(await a.recv(), value);
      }
      a.sendSync('sync');
      assert.equal(a.recvSync(), 'sync');
      await a.send(null);
      await assert.rejects(a.recv(), { code: 'ERR_MP_EOF' });
      await child.join();
      assert.equal(child.exitCode, 0);
    } finally {
      a.close();
      b.close();
    }
  }
});

test('Pipe: 3 MiB messages larger than the pipe cross whole (sha256); connection.wait on a Process and on Connections', async () => {
  const [a, b] = mp.Pipe();
  const child = await started(conn.hashBytes, [b]);
  b.close();
  const data = require('node:crypto').randomBytes(3 << 20);
  await a.sendBytes(data);
  assert.ok((await a.recvBytes()).equals(require('node:crypto').createHash('sha256').update(data).digest()));
  a.sendBytesSync(Buffer.alloc(0)); // the child returns
  assert.deepEqual(await mp.connection.wait([child], 60000), [child]);
  assert.deepEqual(await mp.connection.wait([a], 60000), [a]); // end of file
  a.close();
  const [r, w] = mp.Pipe(false);
  assert.deepEqual(await mp.connection.wait([r], 20), []);
  w.sendSync('one way');
  assert.deepEqual(await mp.connection.wait([r], 20000), [r]);
  assert.equal(r.recvSync(), 'one way');
  w.close();
  assert.throws(() => r.recvSync(), { code: 'ERR_MP_EOF' });
  r.close();
});

test('Listener/Client over a named pipe with the HMAC challenge; a wrong key is AuthenticationError', async () => {
  const listener = new mp.Listener({ authkey: 'key' });
  try {
    await listener.ready;
    assert.match(listener.address, /^\\\\\.\\pipe\\/);
    const [s, c] = await Promise.all([listener.accept(), mp.Client(listener.address, { authkey: 'key' })]);
    await c.send({ hello: 1 });
    assert.deepEqual(await s.recv(), { hello: 1 });
    await s.send('back');
    assert.equal(await c.recv(), 'back');
    s.close();
    c.close();
    const results = await Promise.allSettled([listener.accept(), mp.Client(listener.address, { authkey: 'wrong' })]);
    assert.deepEqual(results.map((r) => r.reason?.name), ['AuthenticationError', 'AuthenticationError']);
  } finally {
    listener.close();
  }
});

async function main() {
  let passed = 0;
  let failed = 0;
  const only = process.argv[2]; // `run.js <substring>`: only the tests whose name contains it
  for (const { name, fn } of tests.filter((t) => !only || t.name.includes(only))) {
    const began = performance.now();
    let timer;
    try {
      await Promise.race([fn(), new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no result after ${PER_TEST_MS} ms`)), PER_TEST_MS);
      })]);
      passed++;
      console.log(`ok   ${name} (${Math.round(performance.now() - began)} ms)`);
    } catch (err) {
      failed++;
      console.log(`FAIL ${name}\n${err?.stack ?? err}`);
    } finally {
      clearTimeout(timer);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
  for (const child of mp.activeChildren()) child.kill(); // a failed test must not leave its children behind
}

void main();
