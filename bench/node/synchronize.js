// multiproc side of bench/synchronize.bench.js: one workload per run, one JSON number on the last line.
'use strict';
const { Lock, Semaphore, Barrier, Event, Process, SharedMemory } = require('../..');

/**
 * Steady state: the last of three timed loops (both sides do the same). 'plain': recovery off (an OS semaphore);
 * 'semaphore' / 'semaphore-plain': a Semaphore(2) with recovery on / off.
 */
function uncontended(n, kind = '') {
  const options = { recovery: !kind.endsWith('plain') };
  const lock = kind.startsWith('semaphore') ? new Semaphore(2, options) : new Lock(options);
  let perPair = 0;
  for (let round = 0; round < 3; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      lock.acquireSync();
      lock.release();
    }
    perPair = Number(process.hrtime.bigint() - start) / n; // ns per pair
  }
  return perPair;
}

async function uncontendedAsync(n) {
  const lock = new Lock();
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    await lock.acquire();
    lock.release();
  }
  return Number(process.hrtime.bigint() - start) / n;
}

function hammer(lock, n, barrier) {
  barrier.waitSync();
  for (let i = 0; i < n; i++) {
    lock.acquireSync();
    lock.release();
  }
}

async function contended(procs, n) {
  const lock = new Lock();
  const barrier = new Barrier(procs + 1);
  const workers = Array.from({ length: procs }, () => new Process({ target: hammer, args: [lock, n, barrier] }));
  await Promise.all(workers.map((w) => w.start()));
  await barrier.wait();
  const start = performance.now();
  await Promise.all(workers.map((w) => w.join()));
  return (procs * n) / ((performance.now() - start) / 1000); // ops/s
}

/** The other side of the ping-pong: each wake is an async acquire. */
async function pong(ping, pongSem, n) {
  for (let i = 0; i < n; i++) {
    await ping.acquire();
    pongSem.release();
  }
}

async function wake(n, which) {
  const ping = new Semaphore(0);
  const pongSem = new Semaphore(0);
  const p = new Process({ target: pong, args: [ping, pongSem, n + 50] });
  await p.start();
  const samples = [];
  for (let i = 0; i < n + 50; i++) {
    const t0 = process.hrtime.bigint();
    ping.release();
    await pongSem.acquire();
    if (i >= 50) samples.push(Number(process.hrtime.bigint() - t0) / 2 / 1000); // one wake, microseconds
  }
  await p.join();
  samples.sort((a, b) => a - b);
  return which === 'median' ? samples[samples.length >> 1] : samples[Math.floor(samples.length * 0.99)];
}

/**
 * Creates, uses and drops `n` Locks (yielding to the event loop every 1,000, where finalizers run), or with
 * `closed` closes each one; `which`: 'seconds' it took, or the 'mappings' (/proc/self/maps lines) the process has
 * right after.
 */
async function createDrop(n, which, closed) {
  const fs = require('node:fs');
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const lock = new Lock();
    lock.acquireSync();
    lock.release();
    if (closed === 'closed') lock.close();
    if (i % 1000 === 999) await new Promise((resolve) => setImmediate(resolve));
  }
  const seconds = (performance.now() - start) / 1000;
  return which === 'seconds' ? seconds : fs.readFileSync('/proc/self/maps', 'utf8').split('\n').length - 1;
}

/**
 * A process that creates and holds `n` Locks, then exits: how long its exit takes (its whole run, less the creation
 * it reports), in seconds.
 */
function exitAfter(n) {
  const { execFileSync } = require('node:child_process');
  const script = `const { Lock } = require(${JSON.stringify(require.resolve('../..'))});
    const start = performance.now();
    globalThis.held = Array.from({ length: ${n} }, () => new Lock());
    process.stdout.write(String(performance.now() - start));`;
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const start = performance.now();
  const created = Number(execFileSync(process.execPath, ['-e', script], { env, encoding: 'utf8' }));
  return (performance.now() - start - created) / 1000;
}

function noop() {}

async function startJoin(n) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const p = new Process({ target: noop });
    p.start();
    await p.join();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1]; // ms
}

/** Takes the lock, says so, and stays until SIGKILLed. */
function holdUntilKilled(lock, held) {
  lock.acquireSync();
  held.set();
  setInterval(() => {}, 1 << 30);
}

/** Waits for the lock in acquireSync (a blocked thread), then writes the wall-clock time it got it into `shm`. */
function waitAndStamp(lock, waiting, shm) {
  waiting.set();
  lock.acquireSync();
  shm.view(Float64Array)[0] = performance.timeOrigin + performance.now();
  lock.release();
}

/**
 * ms from a holder's SIGKILL to the acquire of a waiter blocked in acquireSync (another process), median of
 * `rounds`. Python's multiprocessing.Lock is never recovered (python/cpython#88304): no Python figure.
 */
async function takeover(rounds, kind) {
  const times = [];
  for (let r = 0; r < rounds; r++) {
    const lock = kind === 'semaphore' ? new Semaphore(1) : new Lock();
    const held = new Event();
    const waiting = new Event();
    const holder = new Process({ target: holdUntilKilled, args: [lock, held] });
    await holder.start();
    await held.wait();
    const shm = new SharedMemory({ size: 8 });
    const waiter = new Process({ target: waitAndStamp, args: [lock, waiting, shm] });
    await waiter.start();
    await waiting.wait();
    await new Promise((resolve) => setTimeout(resolve, 100)); // into its acquireSync, asleep
    const killedAt = performance.timeOrigin + performance.now();
    holder.kill();
    await waiter.join();
    await holder.join();
    times.push(shm.view(Float64Array)[0] - killedAt);
    shm.close();
    shm.unlink();
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

module.exports = { barrierParty, hammer, pong, noop, holdUntilKilled, waitAndStamp };

function barrierParty(barrier, n) {
  for (let i = 0; i < n; i++) barrier.waitSync();
}

/** µs per round of a Barrier(parties) whose parties are processes, each calling waitSync() n times. */
async function barrier(parties, n) {
  const b = new Barrier(parties);
  const others = [];
  for (let k = 1; k < parties; k++) others.push(new Process({ target: barrierParty, args: [b, n] }));
  await Promise.all(others.map((p) => p.start()));
  const warmup = Math.floor(n / 10);
  for (let i = 0; i < warmup; i++) b.waitSync();
  const t0 = performance.now();
  for (let i = warmup; i < n; i++) b.waitSync();
  const us = ((performance.now() - t0) / (n - warmup)) * 1000;
  await Promise.all(others.map((p) => p.join()));
  return us;
}

if (require.main === module) {
  const [workload, ...args] = process.argv.slice(2);
  const fns = { uncontended, uncontendedAsync, contended, wake, startJoin, createDrop, exitAfter, takeover, barrier };
  Promise.resolve(fns[workload](...args.map((a) => (/^\d+$/.test(a) ? Number(a) : a))))
    .then((result) => console.log(JSON.stringify(result)));
}
