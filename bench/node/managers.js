// multiproc's Manager on the workloads of bench/managers.bench.js. Prints one JSON number (the last stdout line).
'use strict';
const { Manager } = require('../..');

/**
 * Calls before the timed ones (third argument; Python's side makes as many). Both processes are fresh, and V8 takes
 * a few thousand round trips to compile the hot path of both: the first 1,000 calls of a connection cost 5-20 times
 * a steady call (the cold rows of bench/managers.bench.js measure them).
 */
const WARMUP = Number(process.argv[4] ?? 10000);

const WORKLOADS = {
  /** Microseconds per acquire + release of a manager Lock. */
  async lock(manager, n) {
    const lock = await manager.Lock();
    for (let i = 0; i < WARMUP; i++) { await lock.acquire(); await lock.release(); }
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      await lock.acquire();
      await lock.release();
    }
    return ((performance.now() - start) / n) * 1000;
  },

  /** The same with the Lock kept in the server (Manager created with kernelObjects: false). */
  async 'lock-in-server'(manager, n) {
    return WORKLOADS.lock(manager, n);
  },

  /** Small messages per second through a manager Queue: n puts, then n gets, each awaited in turn. */
  async queue(manager, n) {
    const q = await manager.Queue();
    const item = { i: 0, payload: 'x'.repeat(32) };
    for (let i = 0; i < WARMUP; i++) { await q.put(item); await q.get(); }
    const start = performance.now();
    for (let i = 0; i < n; i++) await q.put(item);
    for (let i = 0; i < n; i++) await q.get();
    return n / ((performance.now() - start) / 1000);
  },

  /** The same, with puts and gets issued without waiting for each reply (one connection carries them all). */
  async 'queue-pipelined'(manager, n) {
    const q = await manager.Queue();
    const item = { i: 0, payload: 'x'.repeat(32) };
    for (let i = 0; i < WARMUP; i++) { await q.put(item); await q.get(); }
    const start = performance.now();
    await Promise.all(Array.from({ length: n }, () => q.put(item)));
    await Promise.all(Array.from({ length: n }, () => q.get()));
    return n / ((performance.now() - start) / 1000);
  },

  /** Microseconds per single-round-trip call: `setup` makes the object, `call(obj, i)` makes one call. */
  ...Object.fromEntries(Object.entries({
    'dict-get': [(m) => m.dict(new Map([['key', 1]])), (d) => d.get('key')],
    'dict-set': [(m) => m.dict(), (d, i) => d.set('key', i)],
    'list-append': [(m) => m.list(), (l, i) => (i % 1000 === 0 ? l.clear() : l.append(i))],
    'value-get': [(m) => m.Value('i', 0), (v) => v.get()],
    'value-set': [(m) => m.Value('i', 0), (v, i) => v.set(i)],
    'namespace-get': [(m) => m.Namespace({ x: 1 }), (ns) => ns.get('x')],
    'event-set': [(m) => m.Event(), (e) => e.set()],
    'event-isset': [(m) => m.Event(), (e) => e.isSet()],
    'condition-notify': [async (m) => { const c = await m.Condition(); await c.acquire(); return c; }, (c) => c.notify()],
  }).map(([name, [setup, call]]) => [name, async (manager, n) => {
    const obj = await setup(manager);
    for (let i = 0; i < WARMUP; i++) await call(obj, i);
    const start = performance.now();
    for (let i = 0; i < n; i++) await call(obj, i);
    return ((performance.now() - start) / n) * 1000;
  }])),

  /** Microseconds per d.get(k) with all n calls in flight at once (Python's proxies block: it makes them in turn). */
  async 'dict-get-pipelined'(manager, n) {
    const d = await manager.dict(new Map([['key', 1]]));
    await Promise.all(Array.from({ length: WARMUP }, () => d.get('key')));
    const start = performance.now();
    await Promise.all(Array.from({ length: n }, () => d.get('key')));
    return ((performance.now() - start) / n) * 1000;
  },

  /** Microseconds per d.set(k, v) plus d.get(k) on a manager dict. */
  async dict(manager, n) {
    const d = await manager.dict();
    for (let i = 0; i < WARMUP; i++) { await d.set('key', i); await d.get('key'); }
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      await d.set('key', i);
      await d.get('key');
    }
    return ((performance.now() - start) / n) * 1000;
  },
};

async function main() {
  const [workload, n] = process.argv.slice(2);
  const manager = new Manager({ kernelObjects: workload !== 'lock-in-server' });
  await manager.start();
  try {
    console.log(JSON.stringify(await WORKLOADS[workload](manager, Number(n))));
  } finally {
    await manager.shutdown();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
