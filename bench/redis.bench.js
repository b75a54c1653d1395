// The Redis backend against what Node users pick today, on one throwaway redis-server (append-only file fsynced
// every second, Redis's usual setting), each side in a fresh process, in the same run: Lock vs redlock (one
// instance), redis-semaphore and its own commands sent with raw ioredis, JoinableQueue vs BullMQ (put → get →
// acknowledge), dict vs raw ioredis HSET/HGET.
'use strict';
const { node } = require('./harness');
const { RedisServer } = require('../dist-examples/examples/redis_server');

let server;
async function url() {
  // Stopped, and its directory removed, by its watcher when this process exits (examples/redis_server.ts).
  server ??= await RedisServer.start({ fsync: 'everysec' });
  return server.url;
}

/** Our workload and a rival's, same arguments, same server. */
function against(ours, theirs, args) {
  return async () => {
    const at = await url();
    return { ours: await node('redis.js', ours, at, ...args), python: await node('redis.js', theirs, at, ...args) };
  };
}

const N = 5000;
/** Pairs before the timed ones: what a new process sees (a client is ~3× slower on its first 500), and steady. */
const COLD = 500;
const WARM = 5000;
const JOBS = 20000;

module.exports = {
  title: 'Redis',
  workloads: [
    {
      name: 'Lock acquire+release, uncontended, a new process', rival: 'redlock 4 (one instance)', unit: 'µs', better: 'lower',
      goal: 'report', run: against('lock-ours', 'lock-redlock', [N, COLD]),
    },
    {
      name: 'Lock acquire+release, uncontended, a new process', rival: "redis-semaphore 5's Mutex", unit: 'µs', better: 'lower',
      goal: 'report', run: against('lock-ours', 'lock-redis-semaphore', [N, COLD]),
    },
    {
      name: 'Lock acquire+release, uncontended, steady', rival: 'redlock 4 (one instance)', unit: 'µs', better: 'lower',
      goal: '≥ 1× (ours also renews leases and issues fencing tokens)', run: against('lock-ours', 'lock-redlock', [N, WARM]),
    },
    {
      name: 'Lock acquire+release, uncontended, steady', rival: "redis-semaphore 5's Mutex", unit: 'µs', better: 'lower',
      goal: 'report (its acquire is a bare SET NX PX: no fencing token, no dead-holder report)',
      run: against('lock-ours', 'lock-redis-semaphore', [N, WARM]),
    },
    {
      name: 'Lock acquire+release, uncontended, steady', rival: 'raw ioredis: the same script + HDEL', unit: 'µs',
      better: 'lower', goal: '≥ 0.83× (within 1.2×)', run: against('lock-ours', 'lock-raw', [N, WARM]),
    },
    {
      name: 'Lock hand-off: release → acquire of a blocked waiter (median)', rival: 'redlock 4 (retryDelay 10 ms)', unit: 'µs',
      better: 'lower', goal: '≥ 1× (ours wakes on the release; theirs retry on a timer)', run: against('handoff-ours', 'handoff-redlock', [100]),
    },
    {
      name: 'Lock hand-off: release → acquire of a blocked waiter (median)', rival: "redis-semaphore's Mutex (retryInterval 10 ms)",
      unit: 'µs', better: 'lower', goal: '≥ 1×', run: against('handoff-ours', 'handoff-redis-semaphore', [100]),
    },
    {
      name: 'small jobs put → get → ack, 1 producer → 1 consumer', rival: 'BullMQ 6 (concurrency 1)', unit: 'jobs/s',
      better: 'higher', goal: '≥ 1×', run: against('queue-ours', 'queue-bullmq', [JOBS, 1, 1]),
    },
    {
      name: 'small jobs put → get → ack, 4 producers → 4 consumers', rival: 'BullMQ 6 (concurrency 1)', unit: 'jobs/s',
      better: 'higher', goal: '≥ 1×', run: against('queue-ours', 'queue-bullmq', [JOBS, 4, 4]),
    },
    {
      name: 'dict set+get of a small value, a new process', rival: 'raw ioredis HSET+HGET (v8.serialize)', unit: 'µs',
      better: 'lower', goal: 'report', run: against('dict-ours', 'dict-raw', [N, COLD]),
    },
    {
      name: 'dict set+get of a small value, steady', rival: 'raw ioredis HSET+HGET (v8.serialize)', unit: 'µs',
      better: 'lower', goal: '≥ 0.83× (within 1.2×)', run: against('dict-ours', 'dict-raw', [N, WARM]),
    },
  ],
};
