// npm run soak: nothing outlives its object. Creates, uses, hands to children and drops 1,000,000 Locks, 100,000
// Queues, 1,000 Processes, 100 Pools and 50 Managers while worker threads come and go (with waits pending when they
// are terminated), then compares what the process holds at the start and at the end: descriptors, threads, RSS,
// mappings (/proc/self/maps lines) and the /dev/shm names it created. Exits 1 unless all of them are flat.
//
// Not part of npm test (minutes, not seconds). SOAK_SCALE=0.01 runs a hundredth of it. Linux only (it reads /proc).
// Run with --expose-gc: the end is measured after a full collection, so that what is left is what leaked, not what
// the collector had not reached yet. Objects are dropped without close() most of the time: the collector and the
// addon's finalizers must release them; finalizers run between event-loop turns, so the loops yield now and then.
'use strict';
const fs = require('node:fs');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
const mp = require('..');
const { native } = require('../dist/native');

function childUses(lock, queue) {
  lock.acquireSync();
  lock.release();
  queue.putSync(process.pid);
}

function poolInit(lock, queue) {
  globalThis.soakPool = { lock, queue };
}

function poolTask(x) {
  const { lock } = globalThis.soakPool;
  lock.acquireSync();
  lock.release();
  return x * 2;
}

module.exports = { childUses, poolInit, poolTask };

// --- worker threads ---------------------------------------------------------------------------------------------

async function workerMain() {
  const { lock, queue, event } = mp.fromThread(workerData);
  for (let i = 0; i < 50; i++) {
    await lock.acquire();
    lock.release();
    await queue.put(i);
    await queue.get();
  }
  const local = new mp.Lock(); // objects of its own, dropped with the thread
  local.acquireSync();
  local.acquire(); // pending when it is terminated
  event.wait();
  parentPort.postMessage('waiting');
}

if (!isMainThread && workerData) void workerMain();

// --- the main thread --------------------------------------------------------------------------------------------

const SCALE = Number(process.env.SOAK_SCALE ?? 1);
const counts = {
  locks: Math.round(1e6 * SCALE), queues: Math.round(1e5 * SCALE), processes: Math.round(1000 * SCALE),
  pools: Math.max(1, Math.round(100 * SCALE)), managers: Math.max(1, Math.round(50 * SCALE)),
};

const turn = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const ourNames = new Set(); // a sample of the names this process created
// a semaphore's name, or a kill-safe lock's segment
const shmName = (name) => name.startsWith('/mpl-') ? `/dev/shm/${name.slice(1)}` : `/dev/shm/sem.${name.slice(1)}`;

function sample(object) {
  if (ourNames.size < 20000 && Math.random() < 0.02) ourNames.add(object._backing.name);
}

function snapshot() {
  return {
    fds: fs.readdirSync('/proc/self/fd').length,
    threads: fs.readdirSync('/proc/self/task').length,
    rssMiB: Math.round(process.memoryUsage().rss / (1 << 20)),
    mappings: fs.readFileSync('/proc/self/maps', 'utf8').split('\n').length - 1,
    ourNamesLeft: [...ourNames].filter((name) => fs.existsSync(shmName(name))).length,
    shmNamesAll: fs.readdirSync('/dev/shm').filter((name) => name.startsWith('sem.mp-')).length,
    hubThreads: native.hubThreads(),
  };
}

async function settle() {
  for (let i = 0; i < 6; i++) {
    global.gc?.();
    await turn();
  }
}

/** Worker threads come and go during the whole run, each terminated with waits pending. */
function churnWorkers(shared) {
  let stop = false;
  let spawned = 0;
  const running = (async () => {
    while (!stop) {
      const worker = new Worker(__filename, { workerData: mp.forThread(shared) });
      spawned++;
      await Promise.race([new Promise((resolve) => worker.once('message', resolve)), sleep(5000)]);
      await sleep(Math.random() * 20);
      await worker.terminate();
    }
  })();
  return { stop: async () => { stop = true; await running; return spawned; } };
}

async function locks(n) {
  for (let i = 0; i < n; i++) {
    const lock = i % 7 === 0 ? new mp.RLock() : new mp.Lock();
    sample(lock);
    if (i % 10 === 0) {
      await lock.acquire();
      lock.release();
    } else {
      lock.acquireSync();
      lock.release();
    }
    if (i % 5 === 0) lock.close(); // the others are dropped
    if (i % 1000 === 0) await turn();
  }
}

async function queues(n) {
  for (let i = 0; i < n; i++) {
    const queue = i % 3 === 0 ? new mp.JoinableQueue() : new mp.Queue(i % 2 ? 4 : 0);
    sample(queue._semaphores()[0]);
    await queue.put(i);
    await queue.get();
    if (queue instanceof mp.JoinableQueue) queue.taskDone();
    if (i % 2 === 0) queue.close();
    if (i % 100 === 0) await turn();
  }
}

async function processes(n) {
  const parallel = 4;
  let next = 0;
  const one = async () => {
    while (next < n) {
      next++;
      const lock = new mp.Lock();
      const queue = new mp.Queue();
      sample(lock);
      const p = new mp.Process({ target: childUses, args: [lock, queue] });
      await p.start();
      lock.close(); // the child still gets it: its start kept the name for it
      if (await queue.get({ timeout: 30000 }) !== p.pid) throw new Error('a child put something else');
      await p.join();
      if (p.exitCode !== 0) throw new Error(`a child exited with ${p.exitCode}`);
      queue.close();
    }
  };
  await Promise.all(Array.from({ length: parallel }, one));
}

async function pools(n) {
  for (let i = 0; i < n; i++) {
    const lock = new mp.Lock();
    const queue = new mp.Queue();
    const pool = new mp.Pool({ processes: 2, initializer: poolInit, initargs: [lock, queue] });
    const results = await pool.map(poolTask, [1, 2, 3, 4, 5, 6, 7, 8]);
    if (results.join() !== '2,4,6,8,10,12,14,16') throw new Error(`pool results ${results}`);
    pool.close();
    await pool.join();
    if (i % 2) lock.close();
  }
}

async function managers(n) {
  for (let i = 0; i < n; i++) {
    const manager = new mp.Manager();
    await manager.start();
    const lock = await manager.Lock();
    const queue = await manager.Queue();
    const dict = await manager.dict();
    await lock.acquire();
    await lock.release();
    await queue.put(i);
    await queue.get();
    await dict.set('i', i);
    await manager.shutdown();
  }
}

async function main() {
  if (process.platform !== 'linux') throw new Error('the soak reads /proc: Linux only');
  if (!global.gc) throw new Error('run with --expose-gc (npm run soak does)');
  // What a process holds once for good — the resource tracker's pipe, the pipe children watch their parent by,
  // Node's own first worker and child-process handles — comes before the start is measured.
  const warm = { lock: new mp.Lock(), queue: new mp.Queue(), event: new mp.Event() };
  const warmWorkers = churnWorkers(warm);
  for (const run of [locks, queues, processes, pools, managers]) await run(1);
  await warmWorkers.stop();
  for (const object of Object.values(warm)) object.close();
  await sleep(11000);
  await settle();
  ourNames.clear();
  const start = snapshot();
  console.log(`soak: ${JSON.stringify(counts)}`);
  console.log(`start: ${JSON.stringify(start)}`);
  const shared = { lock: new mp.Lock(), queue: new mp.Queue(), event: new mp.Event() };
  const workers = churnWorkers(shared);
  const phases = { locks, queues, processes, pools, managers };
  const timings = {};
  for (const [phase, run] of Object.entries(phases)) {
    const began = performance.now();
    await run(counts[phase]);
    timings[phase] = `${((performance.now() - began) / 1000).toFixed(1)} s`;
    console.log(`${phase}: ${counts[phase]} in ${timings[phase]}; now ${JSON.stringify(snapshot())}`);
  }
  const threadsSpawned = await workers.stop();
  for (const object of Object.values(shared)) object.close();
  // Hub threads without waits leave after 10 s idle; the collector finds what was dropped last.
  await sleep(11000);
  await settle();
  const end = snapshot();
  console.log(`worker threads started and terminated: ${threadsSpawned}`);
  console.log(`end:   ${JSON.stringify(end)}`);
  if (process.env.SOAK_SHOW_FDS) {
    console.log(fs.readdirSync('/proc/self/fd').map((fd) => {
      try { return `${fd}:${fs.readlinkSync(`/proc/self/fd/${fd}`)}`; } catch { return `${fd}:?`; }
    }).join(' '));
  }
  const grew = {
    fds: end.fds - start.fds > 2, threads: end.threads - start.threads > 1, rssMiB: end.rssMiB - start.rssMiB > 64,
    mappings: end.mappings - start.mappings > 64, ourNamesLeft: end.ourNamesLeft > 0,
  };
  const notFlat = Object.keys(grew).filter((key) => grew[key]);
  console.log(notFlat.length ? `NOT FLAT: ${notFlat.join(', ')}` : `flat (sampled ${ourNames.size} names)`);
  process.exitCode = notFlat.length ? 1 : 0;
}

if (require.main === module && isMainThread) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
