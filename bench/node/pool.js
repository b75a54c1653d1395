// multiproc Pool workloads for bench/pool.bench.js: `node bench/node/pool.js <workload> <processes>`.
// Prints one JSON number as the last line, measured as bench/py/pool.py measures Python's Pool.
'use strict';
const { Pool, Semaphore } = require('../../dist');
const { abs, busy, signalReady, upper } = require('./pool_tasks');

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

const workloads = {
  /**
   * tasks/s of map(abs, 100k items), default chunksize, median of 5 maps on a warm pool; `settle`: maps run untimed
   * before them (the first maps of a pool also pay its processes' JIT and first-touched memory)
   */
  async map(processes, settle = 0) {
    const pool = new Pool({ processes });
    const items = Array.from({ length: 100000 }, (_, i) => i - 50000);
    await pool.map(abs, items.slice(0, 1000));
    for (let i = 0; i < settle; i++) await pool.map(abs, items);
    const rates = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await pool.map(abs, items);
      rates.push(items.length / ((performance.now() - t0) / 1000));
    }
    await pool[Symbol.asyncDispose]();
    return median(rates);
  },

  /** tasks/s of the first map(abs, 100k items) of a fresh pool, after one warm-up map of 1,000 items */
  async mapCold(processes) {
    const pool = new Pool({ processes });
    const items = Array.from({ length: 100000 }, (_, i) => i - 50000);
    await pool.map(abs, items.slice(0, 1000));
    const t0 = performance.now();
    await pool.map(abs, items);
    const rate = items.length / ((performance.now() - t0) / 1000);
    await pool[Symbol.asyncDispose]();
    return rate;
  },

  /**
   * tasks/s of map(upper, 100k short strings): with `cold`, the first map of a fresh pool after a 1,000-item
   * warm-up map; else the median of 5 maps after it
   */
  async strings(processes, cold) {
    const pool = new Pool({ processes });
    const items = Array.from({ length: 100000 }, (_, i) => `item-${i}-abc`);
    await pool.map(upper, items.slice(0, 1000));
    const rates = [];
    for (let i = 0; i < (cold === 'cold' ? 1 : 5); i++) {
      const t0 = performance.now();
      const out = await pool.map(upper, items);
      rates.push(items.length / ((performance.now() - t0) / 1000));
      if (out[7] !== 'ITEM-7-ABC') throw new Error(`wrong result ${out[7]}`);
    }
    await pool[Symbol.asyncDispose]();
    return median(rates);
  },

  /** efficiency (%) of imapUnordered over 10k tasks of 1 ms: ideal time (tasks × 1 ms / processes) / actual */
  async imap(processes) {
    const pool = new Pool({ processes });
    await pool.map(abs, [1, 2, 3, 4]);
    const n = 10000;
    const t0 = performance.now();
    let count = 0;
    const results = pool.imapUnordered(busy, Array.from({ length: n }, (_, i) => i));
    for await (const _ of results) count++; // eslint-disable-line no-unused-vars
    const elapsed = performance.now() - t0;
    await pool[Symbol.asyncDispose]();
    if (count !== n) throw new Error(`got ${count} results`);
    return (100 * n * 1) / processes / elapsed;
  },

  /** ms from new Pool() until every worker has run its initializer */
  async start(processes) {
    const t0 = performance.now();
    const ready = new Semaphore(0);
    const pool = new Pool({ processes, initializer: signalReady, initargs: [ready] });
    for (let i = 0; i < processes; i++) await ready.acquire({ timeout: 60000 });
    const elapsed = performance.now() - t0;
    await pool[Symbol.asyncDispose]();
    return elapsed;
  },
};

workloads[process.argv[2]](...process.argv.slice(3).map((a) => (/^\d+$/.test(a) ? Number(a) : a)))
  .then((value) => console.log(JSON.stringify(value)));
