'use strict';
// Worker limits (issue #19 §2): maxMemoryPerChild (RSS measured after each chunk) and maxOldGenerationSizeMb
// (the V8 heap limit of each worker).
const { spawn } = require('node:child_process');
const path = require('node:path');
const { OutOfRangeError, Pool, Semaphore, cpuCount } = require('../dist');
const tasks = require('./fixtures/pool_tasks');
const { lines } = require('./fixtures/pool_helpers');
const { tmpDir } = require('./fixtures/tmp');

test('a worker above maxMemoryPerChild after a task is replaced; that task\'s result is still delivered', async () => {
  const dir = tmpDir('mp-pool-memory-');
  const inited = new Semaphore(0);
  const pool = new Pool({ processes: 1, maxMemoryPerChild: 160 * 1024 * 1024, initializer: tasks.init,
    initargs: [{ dir, inited }] });
  try {
    const first = await pool.apply(tasks.pidOf, []);
    expect(await pool.apply(tasks.pidOf, [])).toBe(first); // under the limit: the same worker goes on
    const leaker = await pool.apply(tasks.leak, [200]); // now above it: its result still arrives
    expect(leaker).toBe(first);
    expect(await inited.acquire({ timeout: 30000 })).toBe(true);
    expect(await inited.acquire({ timeout: 30000 })).toBe(true); // the replacement ran the initializer
    const next = await pool.apply(tasks.pidOf, []);
    expect(next).not.toBe(first);
    expect(lines(path.join(dir, 'inits')).map(Number)).toEqual([first, next]);
  } finally {
    pool.close();
    await pool.join();
  }
});

test('a task that outgrows maxOldGenerationSizeMb: WorkerLostError saying so; the pool goes on', async () => {
  const parent = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'pool_oom_parent.js')],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  parent.stdout.on('data', (d) => { out += d; });
  parent.stderr.on('data', (d) => { err += d; });
  expect(await new Promise((resolve) => parent.once('close', resolve))).toBe(0);
  const result = JSON.parse(out);
  expect(result.name).toBe('WorkerLostError');
  expect(result.code).toBe('ERR_MP_WORKER_LOST');
  expect(result.message).toMatch(/out of memory.*maxOldGenerationSizeMb, 32 MiB/);
  expect(result.queued).toEqual([1, 4, 9]);
  expect(err).toContain('heap out of memory'); // V8's own report, from the worker
}, 60000);

test('processes defaults to cpuCount(); bad limits get typed errors', async () => {
  const pool = new Pool();
  expect(String(pool)).toContain(`pool_size=${cpuCount()}`);
  pool.terminate();
  await pool.join();
  expect(() => new Pool({ maxMemoryPerChild: 0 })).toThrow(OutOfRangeError);
  expect(() => new Pool({ maxOldGenerationSizeMb: 1.5 })).toThrow(OutOfRangeError);
});
