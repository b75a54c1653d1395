'use strict';
// Per-task cancellation and time limits (issue #19 §1), across real worker processes.
const fs = require('node:fs');
const path = require('node:path');
const {
  AbortError, currentTask, InvalidArgumentError, OutOfRangeError, Pool, RuntimeError, Semaphore, Event, TimeoutError,
} = require('../dist');
const tasks = require('./fixtures/pool_tasks');
const { lines, eventually } = require('./fixtures/pool_helpers');
const { tmpDir } = require('./fixtures/tmp');
const { isAlive } = require('./fixtures/alive');

async function acquireN(semaphore, n) {
  for (let i = 0; i < n; i++) expect(await semaphore.acquire({ timeout: 30000 })).toBe(true);
}

/** A pool whose workers share `state` through initargs (see fixtures/pool_tasks.js init). */
function setup(processes, extra = {}, poolOptions = {}) {
  const dir = tmpDir('mp-pool-cancel-');
  const state = { dir, running: new Semaphore(0), stopped: new Semaphore(0), inited: new Semaphore(0),
    release: new Event(), ...extra };
  const pool = new Pool({ processes, initializer: tasks.init, initargs: [state], ...poolOptions });
  return { dir, state, pool };
}

async function finish(pool) {
  pool.close();
  await pool.join();
}

describe('Pool cancellation: signal and timeout on every call', () => {
  test('a cooperative task sees its cancellation through currentTask().signal and stops; its worker lives on', async () => {
    const { dir, state, pool } = setup(1);
    try {
      const controller = new AbortController();
      const call = pool.apply(tasks.untilCancelled, [7], { signal: controller.signal });
      await acquireN(state.running, 1);
      controller.abort('enough');
      const err = await call.catch((e) => e);
      expect(err).toBeInstanceOf(AbortError);
      expect(err.code).toBe('ABORT_ERR');
      expect(err.cause).toBe('enough');
      await acquireN(state.stopped, 1);
      expect(lines(path.join(dir, 'stopped'))).toEqual(['7 AbortError ABORT_ERR']);
      const [, pid] = lines(path.join(dir, 'ran'))[0].split(' ');
      expect(await pool.apply(tasks.pidOf, [])).toBe(Number(pid)); // the same worker: it was not killed
      expect(lines(path.join(dir, 'inits'))).toHaveLength(1);
    } finally {
      await finish(pool);
    }
  });

  test('a timeout cancels a cooperative task: TimeoutError for the caller and inside the task', async () => {
    const { dir, state, pool } = setup(1);
    try {
      const err = await pool.apply(tasks.untilCancelled, [3], { timeout: 100 }).catch((e) => e);
      expect(err).toBeInstanceOf(TimeoutError);
      expect(err.code).toBe('ERR_MP_TIMEOUT');
      await acquireN(state.stopped, 1);
      expect(lines(path.join(dir, 'stopped'))).toEqual(['3 TimeoutError ERR_MP_TIMEOUT']);
      expect(await pool.apply(tasks.square, [5], { timeout: 30000 })).toBe(25); // a task within its time is untouched
    } finally {
      await finish(pool);
    }
  });

  test('a task that ignores its cancellation: its worker is killed after cancelGrace and replaced (initializer again)', async () => {
    const { dir, state, pool } = setup(1, {}, { cancelGrace: 100 });
    try {
      // The worker is ready first: the timeout counts from the call, and under load a worker that is still starting
      // let a 200 ms timeout end the call before its task ever ran (no stubborn file to read).
      await acquireN(state.inited, 1);
      const err = await pool.apply(tasks.stubborn, [], { timeout: 1000 }).catch((e) => e);
      expect(err).toBeInstanceOf(TimeoutError);
      const pid = Number(fs.readFileSync(path.join(dir, 'stubborn'), 'utf8'));
      await eventually(() => !isAlive(pid), 30000, 'the stubborn worker to be killed');
      await acquireN(state.inited, 1); // the replacement ran the initializer
      expect(await pool.apply(tasks.pidOf, [])).not.toBe(pid);
      expect(lines(path.join(dir, 'inits'))).toHaveLength(2);
    } finally {
      await finish(pool);
    }
  });

  test('cancelling a task never affects tasks queued behind it or running on other workers (piscina#934, workerpool#548)', async () => {
    const go = new Event();
    const secondRan = new Event();
    const { dir, state, pool } = setup(2, { go, secondRan }, { cancelGrace: 100 });
    try {
      await acquireN(state.inited, 2);
      const controller = new AbortController();
      const doomed = pool.apply(tasks.stubborn, [], { signal: controller.signal });
      await acquireN(state.running, 1);
      const other = pool.apply(tasks.firstWaitsForGo, [0]); // runs on the other worker until `go`
      const queued = pool.map(tasks.square, [1, 2, 3], { chunksize: 1 }); // queued behind both
      const alsoQueued = pool.apply(tasks.square, [4]);
      controller.abort();
      await expect(doomed).rejects.toThrow(AbortError);
      const pid = Number(fs.readFileSync(path.join(dir, 'stubborn'), 'utf8'));
      await eventually(() => !isAlive(pid), 30000, 'the stubborn worker to be killed');
      go.set();
      expect(await other).toBe(0);
      expect(await queued).toEqual([1, 4, 9]);
      expect(await alsoQueued).toBe(16);
      await acquireN(state.inited, 1); // the replacement
    } finally {
      await finish(pool);
    }
  });

  test('cancelling a map drops its queued chunks, tells the running ones, and rejects once', async () => {
    const { dir, state, pool } = setup(2);
    try {
      const controller = new AbortController();
      let errorCallbacks = 0;
      const result = pool.mapAsync(tasks.untilCancelled, Array.from({ length: 20 }, (_, i) => i),
        { chunksize: 1, signal: controller.signal, errorCallback: () => errorCallbacks++ });
      await acquireN(state.running, 2);
      controller.abort();
      await expect(result.get()).rejects.toThrow(AbortError);
      await acquireN(state.stopped, 2);
      expect(await pool.map(tasks.square, [1, 2, 3, 4], { chunksize: 1 })).toEqual([1, 4, 9, 16]);
      expect(lines(path.join(dir, 'ran'))).toHaveLength(2); // the 18 queued tasks never ran
      expect(errorCallbacks).toBe(1);
      expect(lines(path.join(dir, 'inits'))).toHaveLength(2); // cooperative: no worker was killed
    } finally {
      await finish(pool);
    }
  });

  test('cancelling an imap: results already yielded stay yielded; the next next() rejects once, then it is done', async () => {
    const { state, pool } = setup(2, { quickBelow: 3 });
    try {
      const controller = new AbortController();
      const iterator = pool.imap(tasks.untilCancelled, Array.from({ length: 10 }, (_, i) => i),
        { signal: controller.signal });
      const yielded = [];
      for (let i = 0; i < 3; i++) yielded.push((await iterator.next()).value);
      expect(yielded).toEqual([0, 1, 4]);
      await acquireN(state.running, 1);
      controller.abort();
      await expect(iterator.next()).rejects.toThrow(AbortError);
      expect(await iterator.next()).toEqual({ value: undefined, done: true });
      expect(yielded).toEqual([0, 1, 4]);
    } finally {
      await finish(pool);
    }
  });

  test('a timeout on imapUnordered rejects the loop with TimeoutError', async () => {
    const { pool } = setup(2, { quickBelow: 5 });
    try {
      const seen = [];
      const err = await (async () => {
        for await (const value of pool.imapUnordered(tasks.untilCancelled, [0, 1, 2, 3, 4, 5], { timeout: 200 })) {
          seen.push(value);
        }
      })().catch((e) => e);
      expect(err).toBeInstanceOf(TimeoutError);
      expect(seen.every((v) => [0, 1, 4, 9, 16].includes(v))).toBe(true);
    } finally {
      await finish(pool);
    }
  });

  test('an already-aborted signal rejects every kind of call at once; nothing runs', async () => {
    const { dir, pool } = setup(1);
    try {
      const signal = AbortSignal.abort('no');
      await expect(pool.apply(tasks.untilCancelled, [0], { signal })).rejects.toThrow(AbortError);
      await expect(pool.map(tasks.untilCancelled, [0, 1], { signal })).rejects.toThrow(AbortError);
      await expect(pool.starmap(tasks.untilCancelled, [[0]], { signal })).rejects.toThrow(AbortError);
      await expect(pool.imap(tasks.untilCancelled, [0], { signal }).next()).rejects.toThrow(AbortError);
      await expect(pool.imapUnordered(tasks.untilCancelled, [0], { signal }).next()).rejects.toThrow(AbortError);
      expect(await pool.apply(tasks.square, [2])).toBe(4);
      expect(lines(path.join(dir, 'ran'))).toEqual([]);
    } finally {
      await finish(pool);
    }
  });

  test('the signal a running task sees is not aborted while its call runs normally', async () => {
    const { pool } = setup(1);
    try {
      expect(await pool.map(tasks.taskSignalAborted, [1, 2, 3], { signal: new AbortController().signal })).toEqual(
        [false, false, false]);
    } finally {
      await finish(pool);
    }
  });

  test('bad options get typed errors; currentTask() outside a task throws ERR_MP_NO_TASK', async () => {
    const { pool } = setup(1);
    try {
      await expect(pool.apply(tasks.square, [1], { signal: {} })).rejects.toThrow(InvalidArgumentError);
      await expect(pool.map(tasks.square, [1], { timeout: -1 })).rejects.toThrow(OutOfRangeError);
      await expect(pool.map(tasks.square, [1], { onProgress: 1 })).rejects.toThrow(InvalidArgumentError);
      expect(() => pool.imap(tasks.square, [1], { maxChunksInFlight: 0 })).toThrow(OutOfRangeError);
      expect(() => pool.imap(tasks.square, 5)).toThrow(InvalidArgumentError);
      expect(() => new Pool({ cancelGrace: 'x' })).toThrow(InvalidArgumentError);
      expect(() => currentTask()).toThrow(RuntimeError);
      expect(() => currentTask()).toThrow(expect.objectContaining({ code: 'ERR_MP_NO_TASK' }));
    } finally {
      await finish(pool);
    }
  });
});
