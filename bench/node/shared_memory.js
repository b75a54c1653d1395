// multiproc side of bench/shared_memory.bench.js: one workload per run, one JSON number on the last line.
'use strict';
const { Array: SharedArray, Barrier, Event, Process, Queue, SharedMemory, Value, notify, wait, waitSync } = require('../..');

function increment(value, n, barrier) {
  barrier.waitSync();
  const lock = value.getLock();
  for (let i = 0; i < n; i++) {
    lock.acquireSync();
    value.value += 1;
    lock.release();
  }
}

/** Value('i') incremented under its lock by `procs` processes, `n` times each: ops/s (the count is checked). */
async function valueIncrement(procs, n) {
  const value = Value('i', 0);
  const barrier = new Barrier(procs + 1);
  const workers = Array.from({ length: procs }, () => new Process({ target: increment, args: [value, n, barrier] }));
  await Promise.all(workers.map((w) => w.start()));
  await barrier.wait();
  const start = performance.now();
  await Promise.all(workers.map((w) => w.join()));
  const seconds = (performance.now() - start) / 1000;
  if (value.value !== procs * n) throw new Error(`count ${value.value}, expected ${procs * n}`);
  return (procs * n) / seconds;
}

function sumAndDouble(array, ready, go, done, rounds) {
  ready.set();
  const values = array.getObj();
  for (let r = 0; r < rounds; r++) {
    go.waitSync();
    go.clear();
    let sum = 0;
    for (let i = 0; i < values.length; i++) {
      sum += values[i];
      values[i] = sum; // writes back
    }
    done.set();
  }
}

/**
 * Array('d', n): the parent fills it, a child sums it and writes back, `rounds` times: GB/s of the array (8n bytes)
 * in the last round (the first touches fresh pages and runs code the JIT has not optimized yet).
 */
async function arrayRound(n, rounds) {
  const array = SharedArray('d', n, { lock: false });
  const ready = new Event();
  const go = new Event();
  const done = new Event();
  const child = new Process({ target: sumAndDouble, args: [array, ready, go, done, rounds] });
  await child.start();
  await ready.wait(); // timed from here: the child runs and waits for its go
  const values = array.getObj();
  let seconds = 0;
  for (let r = 0; r < rounds; r++) {
    const start = performance.now();
    for (let i = 0; i < n; i++) values[i] = i + r;
    go.set();
    await done.wait();
    done.clear();
    seconds = (performance.now() - start) / 1000;
  }
  await child.join();
  return (8 * n) / seconds / 1e9;
}

async function echoSums(inbox, outbox) {
  const values = await inbox.get();
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    values[i] = sum;
  }
  await outbox.put(values);
}

/** The same round through our Queue: the filled Float64Array goes to the child, the written-back one returns. */
async function arrayQueue(n) {
  const inbox = new Queue();
  const outbox = new Queue();
  const child = new Process({ target: echoSums, args: [inbox, outbox] });
  await child.start();
  const start = performance.now();
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = i;
  await inbox.put(values);
  await outbox.get();
  const seconds = (performance.now() - start) / 1000;
  await child.join();
  return (8 * n) / seconds / 1e9;
}

/** SharedMemory create + attach + close + unlink of a 4 KiB segment: median µs. */
function createAttach(n) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const shm = new SharedMemory({ size: 4096 });
    const other = SharedMemory.attach(shm.name);
    other.close();
    shm.close();
    shm.unlink();
    times.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

/**
 * The futex idiom both sides follow (a semaphore counts its sleepers the same way): word `at` is a counter, word
 * `at + 2` says its reader may be asleep. A writer calls notify() (a system call) only when the reader said so.
 */
function post(words, at, value) {
  Atomics.store(words, at, value);
  if (Atomics.load(words, at + 2) !== 0) notify(words, at);
}

async function until(words, at, value, sync) {
  while (Atomics.load(words, at) < value) {
    Atomics.store(words, at + 2, 1);
    if (Atomics.load(words, at) < value) {
      if (sync === 'sync') waitSync(words, at, value - 1);
      else await wait(words, at, value - 1);
    }
    Atomics.store(words, at + 2, 0);
  }
}

async function pong(shm, n, sync) {
  const words = shm.view(Int32Array);
  for (let i = 1; i <= n; i++) {
    await until(words, 0, i, sync);
    post(words, 1, i);
  }
}

/**
 * notify -> wake of a wait in another process, ping-pong: median or p99 µs of one wake over `n` round trips after
 * `warmup` ones. `sync`: both sides block in waitSync (as Python's semaphores do); else both wait asynchronously
 * (through the hub and the event loop).
 */
async function wake(n, warmup, which, sync) {
  const shm = new SharedMemory({ size: 16 });
  const words = shm.view(Int32Array);
  const p = new Process({ target: pong, args: [shm, n + warmup, sync] });
  await p.start();
  const samples = [];
  for (let i = 1; i <= n + warmup; i++) {
    const t0 = process.hrtime.bigint();
    post(words, 0, i);
    await until(words, 1, i, sync);
    if (i > warmup) samples.push(Number(process.hrtime.bigint() - t0) / 2 / 1000);
  }
  await p.join();
  shm.close();
  shm.unlink();
  samples.sort((a, b) => a - b);
  return which === 'median' ? samples[samples.length >> 1] : samples[Math.floor(samples.length * 0.99)];
}

module.exports = { increment, sumAndDouble, echoSums, pong };

if (require.main === module) {
  const [workload, ...args] = process.argv.slice(2);
  const fns = { valueIncrement, arrayRound, arrayQueue, createAttach, wake };
  Promise.resolve(fns[workload](...args.map((a) => (/^\d+$/.test(a) ? Number(a) : a))))
    .then((result) => console.log(JSON.stringify(result)));
}
