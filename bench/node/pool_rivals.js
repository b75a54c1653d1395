// multiproc's Pool against the pools Node users pick today, one task per call (their API has no map):
// `node bench/node/pool_rivals.js <workload> <ours|workerpool|piscina> <workers>`. Prints tasks/s (or MB/s) as
// its last line.
// workerpool runs in its process mode (like multiproc), piscina uses worker threads.
'use strict';
const path = require('node:path');
const tasks = require('./pool_rival_tasks');

const TASKS = path.join(__dirname, 'pool_rival_tasks.js');

/** A common face: run(name, arg) → Promise, close(). */
async function open(kind, workers) {
  if (kind === 'ours') {
    const { Pool } = require('../../dist');
    const pool = new Pool({ processes: workers });
    return { run: (name, arg) => pool.apply(tasks[name], [arg]), close: () => pool[Symbol.asyncDispose]() };
  }
  if (kind === 'workerpool') {
    const workerpool = require('workerpool');
    const pool = workerpool.pool(TASKS, { workerType: 'process', minWorkers: workers, maxWorkers: workers,
      forkArgs: ['--workerpool-worker'] });
    return { run: (name, arg) => pool.exec(name, [arg]), close: () => pool.terminate() };
  }
  if (kind === 'piscina') {
    const { Piscina } = require('piscina');
    const pool = new Piscina({ filename: TASKS, minThreads: workers, maxThreads: workers });
    return { run: (name, arg) => pool.run(arg, { name }), close: () => pool.destroy() };
  }
  throw new Error(`unknown pool ${kind}`);
}

/** Every task submitted at once, as users of these pools write it; returns the elapsed seconds. */
async function timeAll(pool, name, args) {
  await Promise.all(Array.from({ length: 8 }, (_, i) => pool.run(name, args[i % args.length]))); // workers up, code warm
  const t0 = performance.now();
  await Promise.all(args.map((arg) => pool.run(name, arg)));
  return (performance.now() - t0) / 1000;
}

const workloads = {
  /** tasks/s of 20,000 trivial tasks (abs) */
  async trivial(pool) {
    const args = Array.from({ length: 20000 }, (_, i) => i - 10000);
    return args.length / await timeAll(pool, 'abs', args);
  },
  /** tasks/s of 2,000 tasks of 1 ms of CPU each (ideal: 1,000 per worker) */
  async cpu(pool) {
    const args = Array.from({ length: 2000 }, (_, i) => i);
    return args.length / await timeAll(pool, 'busy', args);
  },
  /**
   * MB/s of 2,000 tasks whose argument is a 64 KiB string (a string: workerpool's process mode sends JSON, in which
   * a Uint8Array becomes an object of 65,536 keys)
   */
  async payload(pool) {
    const args = Array.from({ length: 2000 }, (_, i) => String.fromCharCode(97 + (i % 26)).repeat(64 * 1024));
    const seconds = await timeAll(pool, 'size', args);
    return (args.length * 64 * 1024) / 1e6 / seconds;
  },
};

(async () => {
  const [workload, kind, workers] = process.argv.slice(2);
  const pool = await open(kind, Number(workers));
  try {
    console.log(JSON.stringify(await workloads[workload](pool)));
  } finally {
    await pool.close();
  }
})();
