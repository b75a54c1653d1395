'use strict';
// Lazy inputs and progress (issue #19 §3): imap reads its iterable or async iterable only as fast as results are
// taken; onProgress reports { done, total } as tasks finish.
const path = require('node:path');
const { spawn } = require('node:child_process');
const { Pool } = require('../dist');
const tasks = require('./fixtures/pool_tasks');
const { collect } = require('./fixtures/pool_helpers');

let pool;
beforeAll(() => {
  pool = new Pool({ processes: 2 });
});
afterAll(async () => {
  pool.close();
  await pool.join();
});

test('imap maps over a generator of 10,000,000 items in a heap that stays flat (flat-heap)', async () => {
  const count = 10000000;
  const child = spawn(process.execPath, ['--max-old-space-size=48', path.join(__dirname, 'fixtures', 'pool_lazy_parent.js'),
    String(count)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  expect(await new Promise((resolve) => child.once('close', resolve))).toBe(0); // over 48 MB of heap, V8 aborts
  const { sum, seen, maxHeapUsed } = JSON.parse(out);
  expect(seen).toBe(count);
  expect(sum).toBe((count / 1000) * 332833500); // sum of k² for k < 1000, count / 1000 times
  expect(maxHeapUsed).toBeLessThan(48 * 1024 * 1024);
}, 120000);

test('imap reads an endless generator only as fast as results are taken; leaving the loop closes it', async () => {
  let read = 0;
  let closed = false;
  function* endless() {
    try {
      for (;;) yield read++;
    } finally {
      closed = true;
    }
  }
  const iterator = pool.imap(tasks.identity, endless(), { maxChunksInFlight: 4 });
  const taken = [];
  for (let i = 0; i < 10; i++) taken.push((await iterator.next()).value);
  expect(taken).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  await pool.apply(tasks.square, [1]); // a round trip through a worker: time for a runaway reader to show itself
  expect(read).toBeLessThanOrEqual(10 + 4);
  await iterator.return();
  expect(closed).toBe(true);
  const readWhenClosed = read;
  expect(await pool.map(tasks.square, [1, 2])).toEqual([1, 4]);
  expect(read).toBe(readWhenClosed);
});

test('imap and imapUnordered take async iterables', async () => {
  async function* slowly(n) {
    for (let i = 0; i < n; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      yield i;
    }
  }
  expect(await collect(pool.imap(tasks.square, slowly(50), { chunksize: 3 }))).toEqual(
    Array.from({ length: 50 }, (_, i) => i * i));
  const unordered = await collect(pool.imapUnordered(tasks.square, slowly(50), { chunksize: 4 }));
  expect(unordered.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i * i));
  async function* failing() {
    yield 1;
    throw new RangeError('async input failed');
  }
  const iterator = pool.imap(tasks.square, failing());
  expect(await iterator.next()).toEqual({ value: 1, done: false });
  await expect(iterator.next()).rejects.toThrow('async input failed');
});

test('onProgress reports { done, total } as chunks finish; the last report comes before the result', async () => {
  const reports = [];
  let resolved = false;
  const result = await pool.map(tasks.square, Array.from({ length: 100 }, (_, i) => i),
    { chunksize: 10, onProgress: (progress) => reports.push({ ...progress, resolved }) })
    .then((value) => { resolved = true; return value; });
  expect(result).toHaveLength(100);
  expect(reports).toHaveLength(10);
  expect(reports.every((r) => !r.resolved)).toBe(true);
  for (const r of reports) delete r.resolved;
  expect(reports.map((r) => r.done)).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
  expect(reports.every((r) => r.total === 100)).toBe(true);

  const starReports = [];
  await pool.starmap(tasks.add, [[1, 2], [3, 4]], { chunksize: 1, onProgress: (p) => starReports.push(p) });
  expect(starReports.at(-1)).toEqual({ done: 2, total: 2 });

  function* twenty() {
    for (let i = 0; i < 20; i++) yield i;
  }
  const lazyReports = [];
  const values = await collect(pool.imap(tasks.square, twenty(),
    { chunksize: 5, maxChunksInFlight: 1, onProgress: (p) => lazyReports.push({ ...p }) }));
  expect(values).toHaveLength(20);
  expect(lazyReports[0]).toEqual({ done: 5, total: undefined }); // the input's length is not known yet
  expect(lazyReports.at(-1)).toEqual({ done: 20, total: 20 });
  const dones = lazyReports.map((r) => r.done);
  expect(dones).toEqual([...dones].sort((a, b) => a - b));

  const arrayReports = [];
  await collect(pool.imapUnordered(tasks.square, [1, 2, 3], { onProgress: (p) => arrayReports.push({ ...p }) }));
  expect(arrayReports.every((r) => r.total === 3)).toBe(true);
});
