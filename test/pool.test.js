'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const {
  AsyncResult, Event, InvalidArgumentError, Lock, MAX_INITIALIZER_ATTEMPTS, OutOfRangeError, PicklingError,
  Pool, Queue, RemoteError, RuntimeError, Semaphore, TimeoutError, ValueError, WorkerLostError,
} = require('../dist');
const tasks = require('./fixtures/pool_tasks');
const { lines, eventually, collect } = require('./fixtures/pool_helpers');
const { tmpDir } = require('./fixtures/tmp');
const { isAlive } = require('./fixtures/alive');

const ESM_TASKS = path.join(__dirname, 'fixtures', 'pool_tasks.mjs');

function tempDir() {
  return tmpDir('mp-pool-');
}


/** printBlock's output for items 0..9: ten whole blocks of three lines, none interleaved with another. */
function expectTenBlocks(printed) {
  expect(printed).toHaveLength(30);
  for (let block = 0; block < 10; block++) {
    const [i] = printed[block * 3].split(':');
    expect(printed.slice(block * 3, block * 3 + 3)).toEqual([`${i}:0`, `${i}:1`, `${i}:2`]);
  }
  expect(new Set(printed.map((l) => l.split(':')[0])).size).toBe(10);
}

/** Runs `use(pool)` on a new Pool, then closes and joins the pool whatever happened. */
async function withPool(options, use) {
  const pool = new Pool(options);
  try {
    return await use(pool);
  } finally {
    pool.close();
    await pool.join();
  }
}

describe('Pool API', () => {
  let pool;
  let go;
  let secondRan;
  beforeAll(() => {
    go = new Event();
    secondRan = new Event();
    pool = new Pool({ processes: 2, initializer: tasks.init, initargs: [{ go, secondRan }] });
  });
  beforeEach(() => {
    go.clear();
    secondRan.clear();
  });
  afterAll(async () => {
    pool.close();
    await pool.join();
  });

  test('map returns results in input order, with the default and explicit chunksizes', async () => {
    const input = Array.from({ length: 1000 }, (_, i) => i - 500);
    const expected = input.map((x) => x * x);
    expect(await pool.map(tasks.square, input)).toEqual(expected);
    expect(await pool.map(tasks.square, input, { chunksize: 1 })).toEqual(expected);
    expect(await pool.map(tasks.square, input, { chunksize: 7 })).toEqual(expected);
    expect(await pool.map(tasks.square, new Set([1, 2, 3]))).toEqual([1, 4, 9]);
    expect(await pool.map(tasks.square, [])).toEqual([]);
  });

  test('map carries any structured-clone value and async tasks', async () => {
    expect(await pool.map(tasks.asyncSquare, [1, 2, 3])).toEqual([1, 4, 9]);
    expect(await pool.map(tasks.square, ['3', null, true])).toEqual([9, 0, 1]);
    expect(await pool.starmap(tasks.add, [[{ a: 1 }, 'x'], [[1], [2]]])).toEqual(['[object Object]x', '12']);
  });

  test('starmap spreads each item into arguments', async () => {
    expect(await pool.starmap(tasks.add, [[1, 2], [3, 4], ['a', 'b']])).toEqual([3, 7, 'ab']);
    expect(await pool.starmap(tasks.add, [[1, 2], [3, 4]], { chunksize: 1 })).toEqual([3, 7]);
  });

  test('imap yields in input order, imapUnordered in completion order', async () => {
    // Item 0 cannot finish before the test sets `go`: a deterministic out-of-order completion.
    const unordered = pool.imapUnordered(tasks.firstWaitsForGo, [0, 1]);
    expect(await unordered.next()).toEqual({ value: 1, done: false });
    go.set();
    expect(await collect(unordered)).toEqual([0]);
    go.clear();
    const ordered = pool.imap(tasks.firstWaitsForGo, [0, 1]);
    expect(await secondRan.wait({ timeout: 30000 })).toBe(true);
    go.set();
    expect(await collect(ordered)).toEqual([0, 1]);
    const input = Array.from({ length: 200 }, (_, i) => i);
    expect(await collect(pool.imap(tasks.square, input, { chunksize: 9 }))).toEqual(input.map((x) => x * x));
    const squares = await collect(pool.imapUnordered(tasks.square, input, { chunksize: 4 }));
    expect(squares.sort((a, b) => a - b)).toEqual(input.map((x) => x * x));
  });

  test('a call of 130k single-task chunks goes through (more than a spread can take)', async () => {
    const input = Array.from({ length: 130000 }, (_, i) => i);
    let sum = 0;
    for await (const value of pool.imapUnordered(tasks.square, input, { chunksize: 1 })) sum += value;
    expect(sum).toBe(input.reduce((a, x) => a + x * x, 0));
  });

  test('leaving an imap loop early drops the remaining results', async () => {
    const seen = [];
    for await (const value of pool.imap(tasks.square, [1, 2, 3, 4, 5])) {
      seen.push(value);
      if (seen.length === 2) break;
    }
    expect(seen).toEqual([1, 4]);
    expect(await pool.apply(tasks.square, [6])).toBe(36);
  });

  test('apply and applyAsync: get, wait, ready, successful, callbacks', async () => {
    expect(await pool.apply(tasks.add, [2, 3])).toBe(5);
    const result = pool.applyAsync(tasks.square, [7]);
    expect(result).toBeInstanceOf(AsyncResult);
    expect(() => result.successful()).toThrow(ValueError);
    expect(await result.wait()).toBe(true);
    expect(result.ready()).toBe(true);
    expect(result.successful()).toBe(true);
    expect(await result.get()).toBe(49);

    const delivered = await new Promise((resolve) => pool.applyAsync(tasks.add, [1, 1], { callback: resolve }));
    expect(delivered).toBe(2);
    const failed = await new Promise((resolve) => pool.applyAsync(tasks.fail, ['cb'], { errorCallback: resolve }));
    expect(failed).toBeInstanceOf(RemoteError);
    const mapped = await new Promise((resolve) => pool.mapAsync(tasks.square, [1, 2], { callback: resolve }));
    expect(mapped).toEqual([1, 4]);
  });

  test('callbacks have run by the time wait() or get() resolves, as in Python (callback-after-wait)', async () => {
    let mapped;
    const result = pool.mapAsync(tasks.square, [1, 2, 3], { callback: (value) => { mapped = value; } });
    expect(await result.wait()).toBe(true);
    expect(mapped).toEqual([1, 4, 9]);
    let failed;
    const failing = pool.applyAsync(tasks.fail, ['x'], { errorCallback: (error) => { failed = error; } });
    expect(await failing.wait()).toBe(true);
    expect(failed).toBeInstanceOf(RemoteError);
    let applied;
    expect(await pool.applyAsync(tasks.square, [3], { callback: (value) => { applied = value; } }).get()).toBe(9);
    expect(applied).toBe(9);
  });

  test('imap over an iterable that throws yields the chunks before it, then raises at its position (iterable-exception)', async () => {
    class SayWhenError extends Error {}
    // CPython's exception_throwing_generator: throws when the item `when` is due (-1: at once)
    function* throwing(total, when) {
      if (when === -1) throw new SayWhenError('Somebody said when');
      for (let i = 0; i < total; i++) {
        if (i === when) throw new SayWhenError('Somebody said when');
        yield i;
      }
    }
    await expect(pool.imap(tasks.square, throwing(1, -1)).next()).rejects.toThrow(SayWhenError);
    for (const [total, when, chunksize, before] of [[10, 3, 1, 3], [20, 7, 2, 6], [20, 7, 4, 4]]) {
      const iterator = pool.imap(tasks.square, throwing(total, when), { chunksize });
      for (let i = 0; i < before; i++) expect(await iterator.next()).toEqual({ value: i * i, done: false });
      await expect(iterator.next()).rejects.toThrow(SayWhenError);
      expect(await iterator.next()).toEqual({ value: undefined, done: true });
    }
    const seen = [];
    const err = await (async () => {
      for await (const value of pool.imapUnordered(tasks.square, throwing(10, 3))) seen.push(value);
    })().catch((e) => e);
    expect(err).toBeInstanceOf(SayWhenError);
    expect(seen.every((value) => [0, 1, 4].includes(value))).toBe(true);
  });

  test('get(timeout) rejects with TimeoutError while the task runs; wait(timeout) resolves false', async () => {
    const slow = pool.applyAsync(tasks.firstWaitsForGo, [0]);
    expect(await slow.wait(50)).toBe(false);
    await expect(slow.get(50)).rejects.toThrow(TimeoutError);
    expect(slow.ready()).toBe(false);
    go.set();
    expect(await slow.get(30000)).toBe(0);
  });

  test("a task's error reaches the caller with its name, code and the remote stack", async () => {
    const err = await pool.apply(tasks.fail, ['boom']).catch((e) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.message).toBe('boom');
    expect(err.code).toBe('E_TASK_FAILED');
    expect(err.remoteName).toBe('RangeError');
    expect(err.remoteStack).toContain('pool_tasks.js');
    expect(err.stack).toContain('[remote stack]');
    // map: the first error, once every chunk is done; imap: at the failing position
    await expect(pool.starmap(tasks.fail, [['one'], ['two']], { chunksize: 1 })).rejects.toThrow(/one|two/);
    const iterator = pool.imap(tasks.squareNonNegative, [2, -3, 4]);
    expect(await iterator.next()).toEqual({ value: 4, done: false });
    await expect(iterator.next()).rejects.toThrow('negative: -3');
    expect(await iterator.next()).toEqual({ value: 16, done: false }); // like Python's IMapIterator, it goes on
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
  });

  test("a result that cannot be sent back fails that call with the worker's PicklingError", async () => {
    await expect(pool.apply(tasks.returnsFunction, [])).rejects.toMatchObject({ code: 'ERR_MP_PICKLING' });
    expect(await pool.apply(tasks.square, [4])).toBe(16);
  });

  test('task functions are found by reference: CommonJS, ES modules through { module, export }', async () => {
    expect(await pool.map({ module: ESM_TASKS, export: 'cube' }, [1, 2, 3])).toEqual([1, 8, 27]);
    expect(await pool.apply({ module: path.join(__dirname, 'fixtures', 'pool_tasks.js'), export: 'add' }, [1, 2])).toBe(3);
  });

  test('an ES-module parent can pass a function imported from an ES module', async () => {
    const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'pool_esm_parent.mjs')],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    const code = await new Promise((resolve) => child.once('close', resolve));
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual([1, 8, 27]);
  });

  test('bad input gets typed errors, never a hang', async () => {
    function local(x) { return x; }
    await expect(pool.map(local, [1])).rejects.toThrow(PicklingError);
    await expect(pool.map(local, [1])).rejects.toThrow(/local/);
    await expect(pool.map(42, [1])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    await expect(pool.map(tasks.square, 5)).rejects.toThrow(InvalidArgumentError);
    await expect(pool.starmap(tasks.add, [1])).rejects.toThrow(InvalidArgumentError);
    await expect(pool.map(tasks.square, [1], { chunksize: 0 })).rejects.toThrow(OutOfRangeError);
    await expect(pool.apply(tasks.square, 'x')).rejects.toThrow(InvalidArgumentError);
    expect(() => pool.applyAsync(tasks.square, [1], { callback: 1 })).toThrow(InvalidArgumentError);
    await expect(pool.map(tasks.square, [() => 1])).rejects.toThrow(PicklingError);
    // unreachable only from the worker's side: the error comes back, typed, and the pool goes on
    await expect(pool.apply({ module: ESM_TASKS, export: 'missing' }, [])).rejects.toMatchObject({ code: 'ERR_MP_PICKLING' });
    await expect(pool.apply({ module: '/nonexistent/module.js', export: 'f' }, [])).rejects.toThrow(RemoteError);
    expect(await pool.apply(tasks.square, [3])).toBe(9);
    expect(() => new Pool({ processes: 0 })).toThrow(OutOfRangeError);
    expect(() => new Pool({ processes: '2' })).toThrow(InvalidArgumentError);
    expect(() => new Pool({ maxtasksperchild: 0 })).toThrow(OutOfRangeError);
    expect(() => new Pool({ initializer: local })).toThrow(PicklingError);
    expect(() => new Pool({ initargs: 'x' })).toThrow(InvalidArgumentError);
    await expect(pool.join()).rejects.toMatchObject({ code: 'ERR_MP_POOL_STATE' });
  });
});

describe('Pool and inheritance: the original scenario', () => {
  test('a Lock in task arguments rejects the call with Python\'s RuntimeError before any task runs', async () => {
    const dir = tempDir();
    const lock = new Lock();
    await withPool({ processes: 2, initializer: tasks.init, initargs: [{ dir }] }, async (pool) => {
      const expected = 'Lock objects should only be shared between processes through inheritance';
      const err = await pool.map(tasks.printBlock, [0, 1, lock], { chunksize: 1 }).catch((e) => e);
      expect(err).toBeInstanceOf(RuntimeError);
      expect(err.message).toBe(expected);
      await expect(pool.apply(tasks.useLock, [lock])).rejects.toThrow(expected);
      expect(() => pool.applyAsync(tasks.useLock, [{ nested: [lock] }])).toThrow(expected);
      expect(lines(path.join(dir, 'printed'))).toEqual([]); // items 0 and 1 never ran either
    });
  });

  test('the fix: the Lock through initargs; ten blocks printed under it never interleave', async () => {
    const dir = tempDir();
    const lock = new Lock();
    await withPool({ processes: 2, initializer: tasks.init, initargs: [{ dir, lock }] }, async (pool) => {
      expect(await pool.map(tasks.printBlock, Array.from({ length: 10 }, (_, i) => i), { chunksize: 1 }))
        .toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });
    expectTenBlocks(lines(path.join(dir, 'printed')));
  });
});

describe('Pool and inheritance: the Queue half of the original scenario', () => {
  test('a Queue in task arguments rejects the call with Python\'s RuntimeError', async () => {
    const queue = new Queue();
    await withPool({ processes: 2 }, async (pool) => {
      const expected = 'Queue objects should only be shared between processes through inheritance';
      await expect(pool.apply(tasks.square, [queue])).rejects.toThrow(RuntimeError);
      await expect(pool.map(tasks.square, [1, queue])).rejects.toThrow(expected);
    });
  });

  test('the corrected fix: Lock and Queue through initargs; ten blocks under the lock, 0..9 on the queue', async () => {
    const dir = tempDir();
    const lock = new Lock();
    const queue = new Queue();
    await withPool({ processes: 2, initializer: tasks.init, initargs: [{ dir, lock, queue }] }, async (pool) => {
      const items = Array.from({ length: 10 }, (_, i) => i);
      expect(await pool.map(tasks.printBlockAndPut, items, { chunksize: 1 })).toEqual(items);
      const received = [];
      for (let i = 0; i < 10; i++) received.push(await queue.get({ timeout: 30000 }));
      expect(received.sort((a, b) => a - b)).toEqual(items);
      expect(queue.empty()).toBe(true);
    });
    expectTenBlocks(lines(path.join(dir, 'printed')));
  });

  test("the answer's fix as literally written (Queue still in task args) fails with the Queue RuntimeError", async () => {
    const dir = tempDir();
    const lock = new Lock();
    const queue = new Queue();
    await withPool({ processes: 2, initializer: tasks.init, initargs: [{ dir, lock }] }, async (pool) => {
      const err = await pool.starmap(tasks.printBlockAndPutOn, Array.from({ length: 10 }, (_, i) => [i, queue]))
        .catch((e) => e);
      expect(err).toBeInstanceOf(RuntimeError);
      expect(err.message).toBe('Queue objects should only be shared between processes through inheritance');
      expect(lines(path.join(dir, 'printed'))).toEqual([]);
    });
  });
});

describe('Pool faults', () => {
  test('a worker SIGKILLed mid-task: that call rejects naming pid and signal, the rest carries on', async () => {
    const dir = tempDir();
    const started = new Event();
    const release = new Event();
    const inited = new Semaphore(0);
    const options = { processes: 2, initializer: tasks.init, initargs: [{ dir, started, release, inited }] };
    await withPool(options, async (pool) => {
      const doomed = pool.applyAsync(tasks.hang, []);
      const others = pool.map(tasks.square, Array.from({ length: 50 }, (_, i) => i), { chunksize: 1 });
      expect(await started.wait({ timeout: 30000 })).toBe(true);
      const pid = Number(fs.readFileSync(path.join(dir, 'hanging'), 'utf8'));
      process.kill(pid, 'SIGKILL');
      const err = await doomed.get().catch((e) => e);
      expect(err).toBeInstanceOf(WorkerLostError);
      expect(err.code).toBe('ERR_MP_WORKER_LOST');
      expect(err.pid).toBe(pid);
      expect(err.exitCode).toBe(-9);
      expect(err.message).toContain(String(pid));
      expect(err.message).toContain('SIGKILL');
      expect(await others).toEqual(Array.from({ length: 50 }, (_, i) => i * i));
      // a replacement started and ran the initializer: three initializer runs in all
      for (let i = 0; i < 3; i++) expect(await inited.acquire({ timeout: 30000 })).toBe(true);
      expect(lines(path.join(dir, 'inits'))).toHaveLength(3);
      expect(await pool.map(tasks.pidOf, [1, 2, 3, 4], { chunksize: 1 })).not.toContain(pid);
    });
  });

  test('chunks a killed worker had been handed but not started run on its replacement', async () => {
    const dir = tempDir();
    const started = new Event();
    const release = new Event();
    await withPool({ processes: 1, initializer: tasks.init, initargs: [{ dir, started, release }] }, async (pool) => {
      // quick tasks first: the worker is then handed its next chunk while it runs the current one
      await pool.map(tasks.square, Array.from({ length: 20 }, (_, i) => i), { chunksize: 1 });
      const doomed = pool.apply(tasks.hang, []);
      const queued = pool.map(tasks.square, [1, 2, 3, 4, 5], { chunksize: 1 });
      expect(await started.wait({ timeout: 30000 })).toBe(true);
      process.kill(Number(fs.readFileSync(path.join(dir, 'hanging'), 'utf8')), 'SIGKILL');
      await expect(doomed).rejects.toThrow(WorkerLostError);
      expect(await queued).toEqual([1, 4, 9, 16, 25]);
    });
  });

  test(`an initializer that throws: every call rejects with its error after ${MAX_INITIALIZER_ATTEMPTS} attempts`, async () => {
    const dir = tempDir();
    const pool = new Pool({ processes: 2, initializer: tasks.failingInit, initargs: [dir, 'init boom'] });
    const pending = pool.apply(tasks.square, [2]);
    const err = await pending.catch((e) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.message).toBe('init boom');
    expect(err.remoteName).toBe('TypeError');
    expect(err.remoteStack).toContain('failingInit');
    await expect(pool.map(tasks.square, [1])).rejects.toThrow('init boom');
    expect(() => pool.imap(tasks.square, [1])).toThrow('init boom');
    pool.close();
    await pool.join();
    const attempts = lines(path.join(dir, 'attempts')).length;
    expect(attempts).toBeGreaterThanOrEqual(MAX_INITIALIZER_ATTEMPTS);
    expect(attempts).toBeLessThanOrEqual(MAX_INITIALIZER_ATTEMPTS + 1); // the other worker may have been mid-attempt
  });

  test('maxtasksperchild replaces workers without losing a task', async () => {
    const dir = tempDir();
    await withPool({ processes: 2, maxtasksperchild: 2, initializer: tasks.init, initargs: [{ dir }] }, async (pool) => {
      const pids = await pool.map(tasks.pidOf, Array.from({ length: 12 }, (_, i) => i), { chunksize: 1 });
      expect(pids).toHaveLength(12);
      const perWorker = new Map();
      for (const pid of pids) perWorker.set(pid, (perWorker.get(pid) ?? 0) + 1);
      expect(Math.max(...perWorker.values())).toBeLessThanOrEqual(2);
      expect(perWorker.size).toBeGreaterThanOrEqual(6);
      // a chunk counts as one task, as in Python
      expect(await pool.map(tasks.square, Array.from({ length: 40 }, (_, i) => i), { chunksize: 10 }))
        .toEqual(Array.from({ length: 40 }, (_, i) => i * i));
    });
    for (const pid of lines(path.join(dir, 'inits')).map(Number)) expect(isAlive(pid)).toBe(false);
  });

  test('terminate() ends busy workers promptly and rejects what was waiting', async () => {
    const dir = tempDir();
    const started = new Event();
    const release = new Event();
    const pool = new Pool({ processes: 2, initializer: tasks.init, initargs: [{ dir, started, release }] });
    const hanging = pool.apply(tasks.hang, []);
    expect(await started.wait({ timeout: 30000 })).toBe(true);
    pool.terminate();
    await expect(hanging).rejects.toMatchObject({ code: 'ERR_MP_POOL_TERMINATED' });
    await pool.join();
    for (const pid of lines(path.join(dir, 'inits')).map(Number)) expect(isAlive(pid)).toBe(false);
    await expect(pool.apply(tasks.square, [1])).rejects.toMatchObject({ code: 'ERR_MP_POOL_NOT_RUNNING' });
  });

  test('close() lets submitted work finish; calls after it are refused; asyncDispose terminates', async () => {
    const pool = new Pool({ processes: 2 });
    const work = pool.map(tasks.asyncSquare, Array.from({ length: 20 }, (_, i) => i), { chunksize: 1 });
    pool.close();
    expect(() => pool.applyAsync(tasks.square, [1])).toThrow(expect.objectContaining({ code: 'ERR_MP_POOL_NOT_RUNNING' }));
    await pool.join();
    expect(await work).toEqual(Array.from({ length: 20 }, (_, i) => i * i));

    const disposed = new Pool({ processes: 1 });
    expect(await disposed.apply(tasks.square, [3])).toBe(9);
    await disposed[Symbol.asyncDispose]();
    await expect(disposed.apply(tasks.square, [1])).rejects.toThrow(ValueError);
  });

  test('what a task printed is all written before its worker exits', async () => {
    const count = 20000;
    const parent = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'pool_print_parent.js'), String(count)],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    parent.stdout.on('data', (d) => { out += d; });
    expect(await new Promise((resolve) => parent.once('close', resolve))).toBe(0);
    const printed = out.trim().split('\n');
    expect(printed).toHaveLength(count);
    expect(printed[count - 1]).toMatch(new RegExp(`^line ${count - 1} `));
  });

  test('after the parent is SIGKILLed, its workers exit within about a second, a blocked one too', async () => {
    const dir = tempDir();
    const parent = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'pool_parent.js'), dir],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    const pids = await new Promise((resolve, reject) => {
      let out = '';
      parent.stdout.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(JSON.parse(out));
      });
      parent.once('exit', (code) => reject(new Error(`parent exited early with ${code}`)));
    });
    expect(pids).toHaveLength(2);
    expect(pids.every(isAlive)).toBe(true);
    const killedAt = Date.now();
    parent.kill('SIGKILL');
    await eventually(() => !pids.some(isAlive), 5000, 'orphaned pool workers to exit');
    expect(Date.now() - killedAt).toBeLessThan(2000);
  });
});
