// CPython's _TestBarrier (Lib/test/_test_multiprocessing.py), ported: behaviour, not text. N = 5 parties: this
// process and N - 1 children spawned once per variant that play every test in turn (harness.js stage()), as
// CPython's Bunch of N - 1 threads or processes plays one test.
'use strict';
const mp = require('../../dist');
const { cpython, deviation, eachVariant, notApplicable, stage } = require('./harness');
const { countLength, ONE_MANAGER_VARIANT } = require('./variants');
const t = require('./targets');

const { N } = t;
const LONG = 30000; // CPython's defaultTimeout: an upper bound only
const PASSES = 1000;

eachVariant('_TestBarrier', ({ mode, o, make, local }) => {
  const { scene } = stage(mode, make, N - 1);
  const barrier = () => make.Barrier(N, { timeout: LONG });
  const counters = async (n) => Promise.all(Array.from({ length: n }, () => make.Counter()));
  const everyone = (name, args) => Array.from({ length: N - 1 }, () => [name, args]);
  /** Lets the N - 1 children play their part, plays this process's, and waits for theirs to end. */
  async function play(s, name, args) {
    await s.go();
    await t[name](mode, ...args);
    await s.finished();
  }

  const multipass = (passes) => scene(async () => ({ barrier: await barrier(), results: await counters(2) }),
    ({ barrier, results }) => everyone('multipass', [barrier, results, passes]));
  const once = multipass(1);
  const ten = multipass(10);
  cpython('test_barrier', () => play(once, 'multipass', [once.objects.barrier, once.objects.results, 1]));
  cpython('test_barrier_10', () => play(ten, 'multipass', [ten.objects.barrier, ten.objects.results, 10]));

  const waitReturn = scene(async () => ({ barrier: await barrier(), queue: await make.Queue() }),
    ({ barrier, queue }) => everyone('waitReturn', [barrier, queue]));
  cpython('test_wait_return', async () => {
    const { barrier, queue } = waitReturn.objects;
    await play(waitReturn, 'waitReturn', [barrier, queue]);
    const results = [];
    for (let i = 0; i < N; i++) results.push(await o.get(queue, { timeout: LONG }));
    expect(results.filter((r) => r === 0)).toHaveLength(1);
    expect([...results].sort()).toEqual([0, 1, 2, 3, 4]);
  });

  if (local) {
    const action = scene(async () => ({ barrier: await make.Barrier(N, { action: t.appendTrue }), results: await make.Counter() }),
      ({ barrier, results }) => everyone('actionParty', [barrier, results]));
    cpython('test_action', async () => {
      const { barrier, results } = action.objects;
      await play(action, 'actionParty', [barrier, results]);
      expect(await countLength(results)).toBe(1);
    });
  } else {
    // manager.Barrier(parties, timeout) has no action parameter: a function where CPython's action goes is refused.
    deviation('test_action', 'managerBarrierAction', async () => {
      await expect(make.Barrier(N, { timeout: t.appendTrue })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    });
  }

  const abort = scene(async () => ({ barrier: await barrier(), results: await counters(2) }),
    ({ barrier, results }) => everyone('abortParty', [barrier, ...results]));
  cpython('test_abort', async () => {
    const { barrier, results } = abort.objects;
    await play(abort, 'abortParty', [barrier, ...results]);
    expect(await countLength(results[0])).toBe(0);
    expect(await countLength(results[1])).toBe(N - 1);
    expect(await o.broken(barrier)).toBe(true);
  });

  const reset = scene(async () => ({ barrier: await barrier(), results: await counters(3) }),
    ({ barrier, results }) => everyone('resetParty', [barrier, ...results]));
  cpython('test_reset', async () => {
    const { barrier, results } = reset.objects;
    await play(reset, 'resetParty', [barrier, ...results]);
    expect(await countLength(results[0])).toBe(0);
    expect(await countLength(results[1])).toBe(N - 1);
    expect(await countLength(results[2])).toBe(N);
  });

  const abortAndReset = scene(async () => ({ barrier: await barrier(), barrier2: await make.Barrier(N), results: await counters(3) }),
    ({ barrier, barrier2, results }) => everyone('abortAndResetParty', [barrier, barrier2, ...results]));
  cpython('test_abort_and_reset', async () => {
    const { barrier, barrier2, results } = abortAndReset.objects;
    await play(abortAndReset, 'abortAndResetParty', [barrier, barrier2, ...results]);
    expect(await countLength(results[0])).toBe(0);
    expect(await countLength(results[1])).toBe(N - 1);
    expect(await countLength(results[2])).toBe(N);
  });

  const lateScene = (makeBarrier, timeout) => scene(async () => ({ barrier: await makeBarrier(), late: await make.Barrier(N), results: await make.Counter() }),
    ({ barrier, late, results }) => everyone('lateParty', [barrier, late, results, timeout]));
  const timeout = lateScene(barrier, 500);
  cpython('test_timeout', async () => {
    const { barrier, late, results } = timeout.objects;
    await play(timeout, 'lateParty', [barrier, late, results, 500]);
    expect(await countLength(results)).toBe(await o.parties(barrier));
  });

  const defaultTimeout = lateScene(() => make.Barrier(N, { timeout: 500 }), undefined);
  cpython('test_default_timeout', async () => {
    const { barrier, late, results } = defaultTimeout.objects;
    await play(defaultTimeout, 'lateParty', [barrier, late, results, undefined]);
    expect(await countLength(results)).toBe(await o.parties(barrier));
  });

  cpython('test_single_thread', async () => {
    const b = await make.Barrier(1);
    await o.wait(b);
    await o.wait(b);
  });

  if (local) {
    // CPython's N children send through a Pipe while the parent only reads; here the parent is the N-th party and
    // the rounds travel on a Queue (CPython: a Pipe), under the same lock.
    const thousand = scene(async () => ({ barrier: await barrier(), queue: new mp.Queue(), lock: new mp.Lock() }),
      ({ barrier, queue, lock }) => everyone('thousandParty', [barrier, PASSES, queue, lock]));
    cpython('test_thousand', async () => {
      const { barrier, queue, lock } = thousand.objects;
      await play(thousand, 'thousandParty', [barrier, PASSES, queue, lock]);
      for (let i = 0; i < PASSES; i++) {
        for (let j = 0; j < N; j++) expect(await queue.get({ timeout: LONG })).toBe(i);
      }
    }, 120000);
  } else {
    notApplicable('test_thousand', 'CPython skips it for managers too');
  }
}, ONE_MANAGER_VARIANT);
