// CPython's _TestPool, _TestPoolWorkerErrors and _TestPoolWorkerLifetime (Lib/test/_test_multiprocessing.py),
// ported: behaviour, not text. CPython runs _TestPool for 'processes', 'threads' and 'manager' (manager.Pool, a pool
// in the manager's process); here it runs on a local Pool, and the manager variant is a deviation: a Manager holds
// data and runs no code a client names. The task functions are in pool_tasks.js (workers find them by reference).
'use strict';
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const v8 = require('node:v8');
const vm = require('node:vm');
const mp = require('../../dist');
const { cpython, deviation, notApplicable } = require('./harness');
const t = require('./pool_tasks');

const { Pool, RemoteError, PicklingError, TimeoutError, ValueError } = mp;
const LONG = 30000; // an upper bound only

class SayWhenError extends mp.ValueError {}

/** CPython's exception_throwing_generator: throws at item `when` (-1: before the first). */
function* exceptionThrowingGenerator(total, when) {
  if (when === -1) throw new SayWhenError('Somebody said when');
  for (let i = 0; i < total; i++) {
    if (i === when) throw new SayWhenError('Somebody said when');
    yield i;
  }
}

const squares = (n) => Array.from({ length: n }, (_, i) => i * i);
const range = (n) => Array.from({ length: n }, (_, i) => i);

/** Everything an async iterable yields. */
async function collect(iterable) {
  const out = [];
  for await (const value of iterable) out.push(value);
  return out;
}

/** The error a promise rejects with (fails the test when it resolves). */
async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** A task's error as multiproc reports it: RemoteError, the task's class name in remoteName. */
function expectRemote(err, remoteName) {
  expect(err).toBeInstanceOf(RemoteError);
  expect(err.remoteName).toBe(remoteName);
}

describe('_TestPool [processes]', () => {
  let pool;
  beforeAll(() => {
    pool = new Pool({ processes: 4 });
  });
  afterAll(async () => {
    pool.terminate();
    await pool.join();
  });

  // CPython also calls apply(sqr, (), {'x': 3}): JavaScript functions have no keyword arguments.
  cpython('test_apply', async () => {
    expect(await pool.apply(t.sqr, [5])).toBe(25);
  });

  cpython('test_map', async () => {
    expect(await pool.map(t.sqr, range(10))).toEqual(squares(10));
    expect(await pool.map(t.sqr, range(100), { chunksize: 20 })).toEqual(squares(100));
  });

  cpython('test_starmap', async () => {
    const pairs = (n) => range(n).map((i) => [i, n - 1 - i]);
    expect(await pool.starmap(t.mul, pairs(10))).toEqual(pairs(10).map(([a, b]) => a * b));
    expect(await pool.starmap(t.mul, pairs(100), { chunksize: 20 })).toEqual(pairs(100).map(([a, b]) => a * b));
  });

  cpython('test_starmap_async', async () => {
    const pairs = range(100).map((i) => [i, 99 - i]);
    expect(await pool.starmapAsync(t.mul, pairs).get()).toEqual(pairs.map(([a, b]) => a * b));
  });

  cpython('test_map_async', async () => {
    expect(await pool.mapAsync(t.sqr, range(10)).get()).toEqual(squares(10));
  });

  // The callbacks run before wait() resolves, as in CPython; the error reaches errorCallback as a RemoteError.
  deviation('test_map_async_callbacks', 'remoteError', async () => {
    const calls = [];
    const record = (x) => calls.push(x);
    await pool.mapAsync(t.toInt, ['1'], { callback: record, errorCallback: record }).wait();
    expect(calls).toEqual([[1]]);
    await pool.mapAsync(t.toInt, ['a'], { callback: record, errorCallback: record }).wait();
    expect(calls).toHaveLength(2);
    expectRemote(calls[1], 'ValueError');
  });

  // CPython's argument raises in __reduce__; here the argument holds a function, which cannot travel. Either way the
  // call fails at once instead of hanging (issue 19425).
  cpython('test_map_unplicklable', async () => {
    const unpicklable = { method() {} };
    expect(await rejection(pool.map(t.sqr, Array(10).fill(unpicklable)))).toBeInstanceOf(PicklingError);
  });

  cpython('test_map_chunksize', async () => {
    expect(await pool.mapAsync(t.sqr, [], { chunksize: 1 }).get(LONG)).toEqual([]);
  });

  cpython('test_map_handle_iterable_exception', async () => {
    expect(await rejection(pool.map(t.sqr, exceptionThrowingGenerator(1, -1), { chunksize: 1 }))).toBeInstanceOf(SayWhenError);
    // again, to see that it is reentrant
    expect(await rejection(pool.map(t.sqr, exceptionThrowingGenerator(1, -1), { chunksize: 1 }))).toBeInstanceOf(SayWhenError);
    expect(await rejection(pool.map(t.sqr, exceptionThrowingGenerator(10, 3), { chunksize: 1 }))).toBeInstanceOf(SayWhenError);
    const special = { [Symbol.iterator]() { return this; }, next() { throw new SayWhenError('when'); } };
    expect(await rejection(pool.map(t.sqr, special, { chunksize: 1 }))).toBeInstanceOf(SayWhenError);
    expect(await rejection(pool.map(t.sqr, special, { chunksize: 1 }))).toBeInstanceOf(SayWhenError);
  });

  cpython('test_async', async () => {
    expect(await pool.applyAsync(t.sqr, [7, 100]).get()).toBe(49);
  });

  cpython('test_async_timeout', async () => {
    const p = new Pool({ processes: 3 });
    try {
      const res = p.applyAsync(t.sqr, [6, LONG]);
      expect(await rejection(res.get(200))).toBeInstanceOf(TimeoutError);
      res.get().catch(() => {}); // it is rejected by terminate() below
    } finally {
      p.terminate();
      await p.join();
    }
  });

  cpython('test_imap', async () => {
    expect(await collect(pool.imap(t.sqr, range(10)))).toEqual(squares(10));
    const it = pool.imap(t.sqr, range(10))[Symbol.asyncIterator]();
    for (let i = 0; i < 10; i++) expect((await it.next()).value).toBe(i * i);
    expect((await it.next()).done).toBe(true);
    const big = pool.imap(t.sqr, range(1000), { chunksize: 100 })[Symbol.asyncIterator]();
    for (let i = 0; i < 1000; i++) expect((await big.next()).value).toBe(i * i);
    expect((await big.next()).done).toBe(true);
  });

  cpython('test_imap_handle_iterable_exception', async () => {
    const start = (when, total, chunksize) =>
      pool.imap(t.sqr, exceptionThrowingGenerator(total, when), { chunksize })[Symbol.asyncIterator]();
    expect(await rejection(start(-1, 1, 1).next())).toBeInstanceOf(SayWhenError);
    expect(await rejection(start(-1, 1, 1).next())).toBeInstanceOf(SayWhenError); // reentrant
    let it = start(3, 10, 1);
    for (let i = 0; i < 3; i++) expect((await it.next()).value).toBe(i * i);
    expect(await rejection(it.next())).toBeInstanceOf(SayWhenError);
    // the error is seen at the start of the failing chunk's results
    it = start(7, 20, 2);
    for (let i = 0; i < 6; i++) expect((await it.next()).value).toBe(i * i);
    expect(await rejection(it.next())).toBeInstanceOf(SayWhenError);
    it = start(7, 20, 4);
    for (let i = 0; i < 4; i++) expect((await it.next()).value).toBe(i * i);
    expect(await rejection(it.next())).toBeInstanceOf(SayWhenError);
  });

  cpython('test_imap_unordered', async () => {
    const sorted = (xs) => [...xs].sort((a, b) => a - b);
    expect(sorted(await collect(pool.imapUnordered(t.sqr, range(10))))).toEqual(squares(10));
    expect(sorted(await collect(pool.imapUnordered(t.sqr, range(1000), { chunksize: 100 })))).toEqual(squares(1000));
  });

  cpython('test_imap_unordered_handle_iterable_exception', async () => {
    const start = (when, total, chunksize) =>
      pool.imapUnordered(t.sqr, exceptionThrowingGenerator(total, when), { chunksize })[Symbol.asyncIterator]();
    expect(await rejection(start(-1, 1, 1).next())).toBeInstanceOf(SayWhenError);
    expect(await rejection(start(-1, 1, 1).next())).toBeInstanceOf(SayWhenError); // reentrant
    for (const [total, when, chunksize] of [[10, 3, 1], [20, 7, 2]]) {
      const expected = squares(total);
      const it = start(when, total, chunksize);
      const err = await rejection((async () => {
        for (let i = 0; i < total; i++) {
          const { value } = await it.next();
          expect(expected).toContain(value); // each result once, in any order
          expected.splice(expected.indexOf(value), 1);
        }
      })());
      expect(err).toBeInstanceOf(SayWhenError);
    }
  });

  // CPython's ValueError: OutOfRangeError is one (its code says which check failed).
  cpython('test_make_pool', async () => {
    expect(() => new Pool({ processes: -1 })).toThrow(ValueError);
    expect(() => new Pool({ processes: 0 })).toThrow(ValueError);
    const p = new Pool({ processes: 3 });
    const pids = new Set(await p.map(t.workerPid, range(3), { chunksize: 1 }));
    expect(pids.size).toBeGreaterThanOrEqual(1);
    p.close();
    await p.join();
  });

  cpython('test_terminate', async () => {
    const started = new mp.Event();
    const p = new Pool({ processes: 3, initializer: t.keepEvent, initargs: [started] });
    const result = p.mapAsync(t.announceThenSleep, range(10000).map(() => LONG), { chunksize: 1 });
    expect(await started.wait({ timeout: LONG })).toBe(true); // slow tasks run (CPython sleeps 0.2 s for that)
    p.terminate();
    await p.join();
    expect((await rejection(result.get())).code).toBe('ERR_MP_POOL_TERMINATED');
  });

  cpython('test_empty_iterable', async () => {
    const p = new Pool({ processes: 1 });
    expect(await p.map(t.sqr, [])).toEqual([]);
    expect(await collect(p.imap(t.sqr, []))).toEqual([]);
    expect(await collect(p.imapUnordered(t.sqr, []))).toEqual([]);
    expect(await p.mapAsync(t.sqr, []).get()).toEqual([]);
    p.close();
    await p.join();
  });

  // `with Pool(2) as p:` is `await using p = new Pool(...)`: its dispose is what the block's end calls.
  cpython('test_context', async () => {
    const p = new Pool({ processes: 2 });
    expect(await p.mapAsync(t.sqr, range(10)).get()).toEqual(squares(10));
    await p[Symbol.asyncDispose]();
    await p.join();
    expect(() => p.mapAsync(t.sqr, range(10))).toThrow(ValueError);
  });

  // The task's error is a RemoteError whose remoteStack holds the worker's stack, the line with its comment included
  // (CPython: the task's own RuntimeError, with a RemoteTraceback as its __cause__); an error of the parent's own
  // iterable stays itself, with no remote part, as in CPython.
  deviation('test_traceback', 'remoteError', async () => {
    const p = new Pool({ processes: 1 });
    const err = await rejection(p.apply(t.throwRuntimeError));
    expectRemote(err, 'RuntimeError');
    expect(err.message).toBe('123');
    expect(err.remoteStack).toContain('pool_tasks.js');
    expect(err.stack).toContain('throwRuntimeError');
    const own = await rejection(p.map(t.sqr, exceptionThrowingGenerator(1, -1), { chunksize: 1 }));
    expect(own).toBeInstanceOf(SayWhenError);
    expect(own.cause).toBeUndefined();
    p.terminate();
    await p.join();
  });

  deviation('test_wrapped_exception', 'remoteError', async () => {
    const p = new Pool({ processes: 1 });
    expectRemote(await rejection(p.apply(t.throwRuntimeError)), 'RuntimeError');
    p.terminate();
    await p.join();
  });

  // Issue 23992: an error during map() must not make close()+join() deadlock (CPython sleeps 0.5 s in between and
  // checks it waited for every job: join() returning at all is the point here).
  deviation('test_map_no_failfast', 'remoteError', async () => {
    const p = new Pool({ processes: 2 });
    const err = await rejection(p.map(t.raiseLargeValueError, [0, 1]));
    p.close();
    await p.join();
    expectRemote(err, 'ValueError');
    expect(err.message).toHaveLength(1024 * 1024);
  });

  // Issue 29861: the pool keeps no reference to a call's arguments or results once the call is done.
  cpython('test_release_task_refs', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc');
    const refs = [];
    await (async () => {
      const objs = range(10).map((i) => ({ counted: i }));
      for (const o of objs) refs.push(new WeakRef(o));
      const results = await pool.map(t.identity, objs);
      expect(results).toEqual(objs);
    })();
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect(refs.map((r) => r.deref())).toEqual(refs.map(() => undefined));
  });

  notApplicable('test_enter', "JavaScript's `using` has no enter step: nothing runs when a pool enters a block, so there is nothing to refuse");
  notApplicable('test_resource_warning', 'Node.js has no ResourceWarning, and a running Pool is never collected (its workers keep it referenced)');
});

describe('_TestPool [manager]', () => {
  deviation('every test of the class', 'managerPool', async () => {
    const manager = new mp.Manager();
    await manager.start();
    expect(manager.Pool).toBeUndefined();
    await manager.shutdown();
  });
});

describe('_TestPoolWorkerErrors [processes]', () => {
  deviation('test_async_error_callback', 'remoteError', async () => {
    const p = new Pool({ processes: 2 });
    let seen;
    const res = p.applyAsync(t.raising, [], { errorCallback: (err) => { seen = err; } });
    expectRemote(await rejection(res.get()), 'KeyError');
    expectRemote(seen, 'KeyError');
    p.close();
    await p.join();
  });

  // Twenty results that cannot travel back: each call rejects, and the pool keeps its workers (CPython's
  // MaybeEncodingError is the worker's PicklingError here, naming where the bad value sits).
  deviation('test_unpickleable_result', 'resultEncoding', async () => {
    const p = new Pool({ processes: 2 });
    for (let i = 0; i < 20; i++) {
      let seen;
      const res = p.applyAsync(t.unpickleableResult, [], { errorCallback: (err) => { seen = err; } });
      const err = await rejection(res.get());
      expectRemote(err, 'PicklingError');
      expect(err.code).toBe('ERR_MP_PICKLING');
      expect(seen).toBe(err);
    }
    expect(await p.apply(t.sqr, [3])).toBe(9);
    p.close();
    await p.join();
  });
});

describe('_TestPoolWorkerLifetime [processes]', () => {
  // CPython compares the pids in p._pool before and after; here the tasks say which worker ran them: with
  // maxtasksperchild 10, 100 tasks on 3 workers are run by more than 3 processes.
  cpython('test_pool_worker_lifetime', async () => {
    const p = new Pool({ processes: 3, maxtasksperchild: 10 });
    const results = range(100).map((i) => p.applyAsync(t.sqr, [i]));
    for (let j = 0; j < 100; j++) expect(await results[j].get()).toBe(j * j);
    const pids = await Promise.all(range(60).map(() => p.apply(t.workerPid)));
    expect(new Set(pids).size).toBeGreaterThan(3);
    p.close();
    await p.join();
  });

  // Issue 10332: closing a pool whose workers have limited lifetimes before its tasks completed made join() hang.
  cpython('test_pool_worker_lifetime_early_close', async () => {
    const p = new Pool({ processes: 3, maxtasksperchild: 1 });
    const results = range(6).map((i) => p.applyAsync(t.sqr, [i, 300]));
    p.close();
    await p.join();
    for (let j = 0; j < 6; j++) expect(await results[j].get()).toBe(j * j);
  });

  // 0, -1 and 0.5 are out of range (ValueError, as in CPython); "12" is of the wrong type.
  deviation('test_pool_maxtasksperchild_invalid', 'argumentType', () => {
    for (const value of [0, -1, 0.5]) expect(() => new Pool({ processes: 3, maxtasksperchild: value })).toThrow(ValueError);
    expect(() => new Pool({ processes: 3, maxtasksperchild: '12' })).toThrow(mp.InvalidArgumentError);
  });

  // bpo-38744, bpo-39360: a script that leaves its pool running exits normally.
  cpython('test_worker_finalization_via_atexit_handler_of_multiprocessing', () => {
    const script = `
      const { Pool } = require(${JSON.stringify(path.resolve(__dirname, '../../dist'))});
      const t = require(${JSON.stringify(path.resolve(__dirname, 'pool_tasks.js'))});
      const problem = { pool: new Pool({ processes: 1 }) };
      problem.pool.map(t.identity, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]).then((r) => { globalThis.result = r; });`;
    const { status, stderr } = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: LONG });
    expect(stderr).toBe('');
    expect(status).toBe(0);
  });
});
