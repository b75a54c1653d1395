// The Redis backend and its rivals on the workloads of bench/redis.bench.js, each in a fresh process: our Lock vs
// redlock (one instance) and redis-semaphore's Mutex, our JoinableQueue vs BullMQ, our dict vs raw ioredis
// HSET/HGET. `node bench/node/redis.js <workload> <url> [...args]`; prints one JSON number (the last stdout line).
'use strict';
const { fork } = require('node:child_process');
const v8 = require('node:v8');
const Redis = require('ioredis');
const { RedisManager } = require('../..');

/** Pairs run before the timed ones: 500 for what a new process sees, 5,000 for the steady state. */
const WARMUP = 500;
const LEASE_MS = 10000; // the same lease (lock TTL) for every lock library

/**
 * Microseconds per acquire + release, uncontended, after `warmup` pairs. Every client here, raw ioredis too, takes
 * a few thousand pairs to reach its steady speed (the first 500 run ~3× slower).
 */
async function perPair(n, warmup, acquire, release) {
  for (let i = 0; i < warmup; i++) await release(await acquire());
  const start = performance.now();
  for (let i = 0; i < n; i++) await release(await acquire());
  return ((performance.now() - start) / n) * 1000;
}

const WORKLOADS = {
  async 'lock-ours'(url, n, warmup = WARMUP) {
    const manager = new RedisManager({ url, prefix: 'bench:', leaseMs: LEASE_MS });
    await manager.start();
    const lock = await manager.Lock();
    try {
      return await perPair(n, warmup, () => lock.acquire(), () => lock.release());
    } finally {
      await manager.shutdown();
    }
  },

  /**
   * Our Lock's commands sent with raw ioredis: the same acquire script (EVALSHA) on a hash set up as
   * `RedisManager.Lock()` sets it up, and the same plain HDEL release: what the proxy adds is the difference.
   */
  async 'lock-raw'(url, n, warmup = WARMUP) {
    const { SCRIPTS } = require('../../dist/redis/scripts');
    const client = new Redis(url);
    client.defineCommand('semAcquire', SCRIPTS.sem_acquire);
    const keys = ['bench:raw:sem', 'bench:raw:wake'];
    await client.hset(keys[0], 'total', 1, 'bound', 1, 'fence', 0, 'died', 0, 'first', 0, 'wait', 0);
    const member = `${process.pid}:raw`;
    try {
      return await perPair(n, warmup, () => client.semAcquire(...keys, member, LEASE_MS, LEASE_MS + 5000),
        () => client.hdel(keys[0], member));
    } finally {
      await client.del(...keys);
      client.disconnect();
    }
  },

  async 'lock-redlock'(url, n, warmup = WARMUP) {
    const Redlock = require('redlock');
    const client = new Redis(url);
    const redlock = new Redlock([client], { retryCount: -1, retryDelay: 10, retryJitter: 5 });
    try {
      return await perPair(n, warmup, () => redlock.lock('bench:redlock', LEASE_MS), (lock) => lock.unlock());
    } finally {
      client.disconnect();
    }
  },

  async 'lock-redis-semaphore'(url, n, warmup = WARMUP) {
    const { Mutex } = require('redis-semaphore');
    const client = new Redis(url);
    try {
      return await perPair(n, warmup, async () => {
        const mutex = new Mutex(client, 'bench:semaphore', { lockTimeout: LEASE_MS, refreshInterval: LEASE_MS * 0.8 });
        await mutex.acquire();
        return mutex;
      }, (mutex) => mutex.release());
    } finally {
      client.disconnect();
    }
  },

  /**
   * Hand-off: microseconds from a release to the acquire of a waiter that was blocked (median of n), the waiter
   * on a connection of its own. Ours wakes on the release; the others retry on a timer.
   */
  async 'handoff-ours'(url, n) {
    const manager = new RedisManager({ url, prefix: 'bench:', leaseMs: LEASE_MS });
    await manager.start();
    const lock = await manager.Lock();
    try {
      return await handoff(n, async () => { await lock.acquire(); return () => lock.release(); });
    } finally {
      await manager.shutdown();
    }
  },

  async 'handoff-redlock'(url, n) {
    const Redlock = require('redlock');
    const clients = [new Redis(url), new Redis(url)];
    const locks = clients.map((c) => new Redlock([c], { retryCount: -1, retryDelay: 10, retryJitter: 5 }));
    let turn = 0;
    try {
      return await handoff(n, async () => {
        const lock = await locks[turn++ % 2].lock(`bench:redlock${process.pid}`, LEASE_MS);
        return () => lock.unlock();
      });
    } finally {
      for (const c of clients) c.disconnect();
    }
  },

  async 'handoff-redis-semaphore'(url, n) {
    const { Mutex } = require('redis-semaphore');
    const clients = [new Redis(url), new Redis(url)];
    let turn = 0;
    try {
      return await handoff(n, async () => {
        const mutex = new Mutex(clients[turn++ % 2], `bench:semaphore${process.pid}`,
          { lockTimeout: LEASE_MS, acquireTimeout: 600000, retryInterval: 10 });
        await mutex.acquire();
        return () => mutex.release();
      });
    } finally {
      for (const c of clients) c.disconnect();
    }
  },

  /** Microseconds per set + get of a small value in a dict. */
  async 'dict-ours'(url, n, warmup = WARMUP) {
    const manager = new RedisManager({ url, prefix: 'bench:' });
    await manager.start();
    const d = await manager.dict();
    try {
      return await perPair(n, warmup, async () => { await d.set('key', { n, payload: 'x'.repeat(32) }); }, () => d.get('key'));
    } finally {
      await manager.shutdown();
    }
  },

  /** The same commands by hand: HSET and HGET of a v8-serialized value. */
  async 'dict-raw'(url, n, warmup = WARMUP) {
    const client = new Redis(url);
    try {
      return await perPair(n, warmup, async () => { await client.hset('bench:raw', 'skey', v8.serialize({ n, payload: 'x'.repeat(32) })); },
        async () => v8.deserialize(await client.hgetBuffer('bench:raw', 'skey')));
    } finally {
      await client.del('bench:raw');
      client.disconnect();
    }
  },

  /** Jobs per second: `producers` processes put n small jobs in all, `consumers` processes take and acknowledge them. */
  async 'queue-ours'(url, n, producers, consumers) {
    const manager = new RedisManager({ url, prefix: 'bench:' });
    await manager.start();
    const queue = await manager.JoinableQueue();
    try {
      return await throughput('queue-ours', [queue.token], n, producers, consumers);
    } finally {
      await manager.shutdown();
    }
  },

  async 'queue-bullmq'(url, n, producers, consumers) {
    const { Queue } = require('bullmq');
    const name = `bench${process.pid}`;
    const connection = connectionOf(url);
    const queue = new Queue(name, { connection });
    try {
      return await throughput('queue-bullmq', [name], n, producers, consumers);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  },
};

function connectionOf(url) {
  const { hostname, port } = new URL(url);
  return { host: hostname, port: Number(port), maxRetriesPerRequest: null };
}

/**
 * Starts the consumers, then the producers; counts what the consumers report until all n are acknowledged. The
 * clock runs from the producers' start to the last acknowledgement (reported within 10 ms).
 */
async function throughput(kind, args, n, producers, consumers) {
  const url = process.argv[3];
  const children = [];
  let done = 0;
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });
  try {
    const ready = [];
    for (let c = 0; c < consumers; c++) {
      const child = fork(__filename, ['consumer', url, kind, JSON.stringify(args)]);
      children.push(child);
      ready.push(new Promise((resolve) => child.once('message', resolve)));
      child.on('message', (m) => { if (typeof m === 'number' && (done += m) >= n) finish(); });
    }
    await Promise.all(ready);
    const start = performance.now();
    const share = Math.ceil(n / producers);
    const producing = [];
    for (let p = 0; p < producers; p++) {
      const child = fork(__filename, ['producer', url, kind, JSON.stringify(args), String(Math.min(share, n - p * share))]);
      children.push(child);
      producing.push(new Promise((resolve) => child.once('exit', resolve)));
    }
    await finished;
    const seconds = (performance.now() - start) / 1000;
    await Promise.all(producing);
    return n / seconds;
  } finally {
    for (const child of children) child.kill();
  }
}

/** Median microseconds from release to the blocked waiter's acquire; `take` acquires and returns the release. */
async function handoff(n, take) {
  const gaps = [];
  let release = await take();
  for (let i = 0; i < n; i++) {
    const waiter = take().then((r) => ({ release: r, at: performance.now() }));
    await new Promise((resolve) => setTimeout(resolve, 15)); // the waiter is blocked by now
    const released = performance.now();
    await release();
    const got = await waiter;
    gaps.push((got.at - released) * 1000);
    release = got.release;
  }
  await release();
  gaps.sort((a, b) => a - b);
  return gaps[gaps.length >> 1];
}

const JOB = { payload: 'x'.repeat(32) };

async function producer(kind, args, count) {
  if (kind === 'queue-ours') {
    const queue = new RedisManager({ url: process.argv[3] }).fromToken(args[0]);
    for (let i = 0; i < count; i++) await queue.put(JOB);
  } else {
    const { Queue } = require('bullmq');
    const queue = new Queue(args[0], { connection: connectionOf(process.argv[3]) });
    for (let i = 0; i < count; i++) await queue.add('job', JOB, { removeOnComplete: true, removeOnFail: true });
    await queue.close();
  }
  process.exit(0);
}

async function consumer(kind, args) {
  // Counts go to the parent in batches: every 100 jobs, and whatever is left every 10 ms.
  let count = 0;
  const flush = () => { if (count) process.send(count); count = 0; };
  setInterval(flush, 10);
  const report = () => { if (++count === 100) flush(); };
  if (kind === 'queue-ours') {
    const manager = new RedisManager({ url: process.argv[3] });
    await manager.start();
    const queue = manager.fromToken(args[0]);
    process.send('ready');
    for (;;) {
      await queue.get();
      await queue.taskDone();
      report();
    }
  } else {
    const { Worker } = require('bullmq');
    const worker = new Worker(args[0], async () => { report(); }, { connection: connectionOf(process.argv[3]), concurrency: 1 });
    await worker.waitUntilReady();
    process.send('ready');
  }
}

async function main() {
  const [workload, url, ...rest] = process.argv.slice(2);
  if (workload === 'producer') return producer(rest[0], JSON.parse(rest[1]), Number(rest[2]));
  if (workload === 'consumer') return consumer(rest[0], JSON.parse(rest[1]));
  const result = await WORKLOADS[workload](url, ...rest.map(Number));
  console.log(JSON.stringify(result));
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
