// CPython's _TestCondition and _TestEvent (Lib/test/_test_multiprocessing.py), ported: behaviour, not text.
// CPython's sleepers are half processes, half threads; here all are processes (its 'threads' are multiprocessing.dummy,
// which multiproc does not have). Its "reaches eventually" polls become blocking acquires of the `woken` semaphore,
// which prove the same wake-ups without sleeping.
'use strict';
const { inspect } = require('node:util');
const { cpython, deviation, eachVariant, spawn, joinOk } = require('./harness');
const { holding, valueGet, valueSet, valueIfImplemented } = require('./variants');
const t = require('./targets');

const LONG = 30000; // an upper bound only: every wait below ends long before it unless something is broken

eachVariant('_TestCondition', ({ mode, o, make }) => {
  const startSleepers = (n, cond, sleeping, woken, timeout) =>
    Promise.all(Array.from({ length: n }, () => spawn(mode, t.conditionSleeper, [cond, sleeping, woken, timeout], { daemon: true })));
  const acquireN = async (sem, n) => {
    for (let i = 0; i < n; i++) expect(await o.acquire(sem, { timeout: LONG })).toBe(true);
  };
  const expectValue = async (sem, value) => {
    const actual = await valueIfImplemented(o, sem);
    if (actual !== undefined) expect(actual).toBe(value);
  };
  const notifyUnderLock = (cond, n) => holding(o, cond, () => (n === 'all' ? o.notifyAll(cond) : o.notify(cond, n)));

  cpython('test_notify', async () => {
    const [cond, sleeping, woken] = [await make.Condition(), await make.Semaphore(0), await make.Semaphore(0)];
    const sleepers = await startSleepers(2, cond, sleeping, woken);
    await acquireN(sleeping, 2);
    await expectValue(woken, 0);
    await notifyUnderLock(cond);
    await acquireN(woken, 1);
    await expectValue(woken, 0);
    await notifyUnderLock(cond);
    await acquireN(woken, 1);
    for (const p of sleepers) await joinOk(p);
  });

  cpython('test_notify_all', async () => {
    const [cond, sleeping, woken] = [await make.Condition(), await make.Semaphore(0), await make.Semaphore(0)];
    const timingOut = await startSleepers(3, cond, sleeping, woken, 100);
    await acquireN(sleeping, 3);
    await acquireN(woken, 3); // they all timed out
    await expectValue(woken, 0);
    const sleepers = await startSleepers(3, cond, sleeping, woken);
    await acquireN(sleeping, 3);
    await expectValue(woken, 0);
    await notifyUnderLock(cond, 'all');
    await acquireN(woken, 3);
    await expectValue(woken, 0);
    for (const p of [...timingOut, ...sleepers]) await joinOk(p);
  });

  cpython('test_notify_n', async () => {
    const [cond, sleeping, woken] = [await make.Condition(), await make.Semaphore(0), await make.Semaphore(0)];
    const sleepers = await startSleepers(3, cond, sleeping, woken);
    await acquireN(sleeping, 3);
    await expectValue(woken, 0);
    await notifyUnderLock(cond, 2);
    await acquireN(woken, 2);
    await expectValue(woken, 0);
    await notifyUnderLock(cond, 4); // wakes the one left
    await acquireN(woken, 1);
    await notifyUnderLock(cond, 3); // nobody left to wake
    await expectValue(woken, 0);
    for (const p of sleepers) await joinOk(p);
  });

  cpython('test_timeout', async () => {
    const cond = await make.Condition();
    await o.acquire(cond);
    const res = await o.wait(cond, 100);
    await o.release(cond);
    expect(res).toBe(false);
  });

  const readState = (state) => (mode === 'sync' ? () => state.value : () => valueGet(state));

  cpython('test_waitfor', async () => {
    const cond = await make.Condition();
    const state = await make.Value('i', -1);
    const p = await spawn(mode, t.waitforChild, [cond, state], { daemon: true });
    const read = readState(state);
    await holding(o, cond, async () => {
      const result = await o.waitFor(cond, mode === 'sync' ? () => read() === 0 : async () => (await read()) === 0, LONG);
      expect(result).toBeTruthy();
      expect(await valueGet(state)).toBe(0);
    });
    for (let i = 0; i < 4; i++) {
      await holding(o, cond, async () => {
        await valueSet(state, (await valueGet(state)) + 1);
        await o.notify(cond);
      });
    }
    await joinOk(p);
  });

  cpython('test_waitfor_timeout', async () => {
    const cond = await make.Condition();
    const [state, success] = [await make.Value('i', 0), await make.Value('i', 0)];
    const sem = await make.Semaphore(0);
    const p = await spawn(mode, t.waitforTimeoutChild, [cond, state, success, sem], { daemon: true });
    expect(await o.acquire(sem, { timeout: LONG })).toBe(true);
    for (let i = 0; i < 3; i++) { // state never reaches 4
      await holding(o, cond, async () => {
        await valueSet(state, (await valueGet(state)) + 1);
        await o.notify(cond);
      });
    }
    await joinOk(p);
    expect(await valueGet(success)).toBe(1);
  });

  // The second half of CPython's test (a SIGINT turning a wait into KeyboardInterrupt) has no Node counterpart: a
  // signal runs a listener on the event loop, it does not raise inside a wait.
  cpython('test_wait_result', async () => {
    const c = await make.Condition();
    await holding(o, c, async () => {
      expect(await o.wait(c, 0)).toBe(false);
      expect(await o.wait(c, 100)).toBe(false);
      const p = await spawn(mode, t.waitResultChild, [c]);
      expect(await o.wait(c, 60000)).toBe(true);
      await joinOk(p);
    });
  });
});

eachVariant('_TestEvent', ({ mode, o, make, local }) => {
  cpython('test_event', async () => {
    const event = await make.Event();
    expect(await o.isSet(event)).toBe(false);
    expect(await o.wait(event, 0)).toBe(false);
    expect(await o.wait(event, 100)).toBe(false);
    await o.set(event);
    expect(await o.isSet(event)).toBe(true);
    expect(await o.wait(event)).toBe(true);
    expect(await o.wait(event, 100)).toBe(true);
    await o.clear(event);
    const p = await spawn(mode, t.setEvent, [event], { daemon: true });
    expect(await o.wait(event)).toBe(true);
    await joinOk(p);
  });

  if (local) {
    deviation('test_repr', 'repr', async () => {
      const event = await make.Event();
      expect(inspect(event)).toBe('<Event(unset)>');
      await o.set(event);
      expect(inspect(event)).toBe('<Event(set)>');
      await o.clear(event);
      expect(inspect(event)).toBe('<Event(unset)>');
    });
  } else {
    deviation('test_repr', 'managerRepr', async () => {
      const event = await make.Event();
      expect(inspect(event)).toMatch(/^<EventProxy typeid='Event' id=\d+ at .*>$/);
      await o.set(event);
      expect(inspect(event)).toMatch(/^<EventProxy typeid='Event' id=\d+ at .*>$/);
    });
  }
});
