// CPython's _TestCondition and _TestEvent (Lib/test/_test_multiprocessing.py), ported: behaviour, not text.
// CPython's sleepers are half processes, half threads; here all are processes (its 'threads' are multiprocessing.dummy,
// which multiproc does not have), three spawned once per variant that play every test's part (harness.js stage()).
// Its "reaches eventually" polls become blocking acquires of the `woken` semaphore, which prove the same wake-ups
// without sleeping.
'use strict';
const { inspect } = require('node:util');
const { cpython, deviation, eachVariant, spawn, joinOk, stage, expectValueIfImplemented } = require('./harness');
const { holding, valueGet, valueSet, ONE_MANAGER_VARIANT } = require('./variants');
const t = require('./targets');

const LONG = 30000; // an upper bound only: every wait below ends long before it unless something is broken

eachVariant('_TestCondition', ({ mode, o, make }) => {
  const { scene } = stage(mode, make, 3);
  const acquireN = async (sem, n) => {
    for (let i = 0; i < n; i++) expect(await o.acquire(sem, { timeout: LONG })).toBe(true);
  };
  const expectValue = (sem, value) => expectValueIfImplemented(o, sem, value);
  const notifyUnderLock = (cond, n) => holding(o, cond, () => (n === 'all' ? o.notifyAll(cond) : o.notify(cond, n)));
  const sleepers = async () => ({ cond: await make.Condition(), sleeping: await make.Semaphore(0), woken: await make.Semaphore(0) });
  const sleeperParts = (n, timeout) => ({ cond, sleeping, woken }) =>
    Array.from({ length: n }, () => ['conditionSleeper', [cond, sleeping, woken, timeout]]);

  const notify = scene(sleepers, sleeperParts(2));
  cpython('test_notify', async () => {
    const { cond, sleeping, woken } = notify.objects;
    await notify.go();
    await acquireN(sleeping, 2);
    await expectValue(woken, 0);
    await notifyUnderLock(cond);
    await acquireN(woken, 1);
    await expectValue(woken, 0);
    await notifyUnderLock(cond);
    await acquireN(woken, 1);
    await notify.finished();
  });

  const notifyAllTimingOut = scene(sleepers, sleeperParts(3, 100));
  const notifyAll = scene(() => notifyAllTimingOut.objects, sleeperParts(3));
  cpython('test_notify_all', async () => {
    const { cond, sleeping, woken } = notifyAll.objects;
    await notifyAllTimingOut.go();
    await acquireN(sleeping, 3);
    await acquireN(woken, 3); // they all timed out
    await expectValue(woken, 0);
    await notifyAllTimingOut.finished();
    await notifyAll.go();
    await acquireN(sleeping, 3);
    await expectValue(woken, 0);
    await notifyUnderLock(cond, 'all');
    await acquireN(woken, 3);
    await expectValue(woken, 0);
    await notifyAll.finished();
  });

  const notifyN = scene(sleepers, sleeperParts(3));
  cpython('test_notify_n', async () => {
    const { cond, sleeping, woken } = notifyN.objects;
    await notifyN.go();
    await acquireN(sleeping, 3);
    await expectValue(woken, 0);
    await notifyUnderLock(cond, 2);
    await acquireN(woken, 2);
    await expectValue(woken, 0);
    await notifyUnderLock(cond, 4); // wakes the one left
    await acquireN(woken, 1);
    await notifyUnderLock(cond, 3); // nobody left to wake
    await expectValue(woken, 0);
    await notifyN.finished();
  });

  cpython('test_timeout', async () => {
    const cond = await make.Condition();
    await o.acquire(cond);
    const res = await o.wait(cond, 100);
    await o.release(cond);
    expect(res).toBe(false);
  });

  const increment = (cond, state) => holding(o, cond, async () => {
    await valueSet(state, (await valueGet(state)) + 1);
    await o.notify(cond);
  });

  const waitfor = scene(async () => ({ cond: await make.Condition(), state: await make.Value('i', -1) }),
    ({ cond, state }) => [['waitforChild', [cond, state]]]);
  cpython('test_waitfor', async () => {
    const { cond, state } = waitfor.objects;
    await waitfor.go();
    await holding(o, cond, async () => {
      const predicate = mode === 'sync' ? () => state.value === 0 : async () => (await valueGet(state)) === 0;
      expect(await o.waitFor(cond, predicate, LONG)).toBeTruthy();
      expect(await valueGet(state)).toBe(0);
    });
    for (let i = 0; i < 4; i++) await increment(cond, state);
    await waitfor.finished();
  });

  const waitforTimeout = scene(async () => ({ cond: await make.Condition(), state: await make.Value('i', 0),
    success: await make.Value('i', 0), sem: await make.Semaphore(0) }),
  ({ cond, state, success, sem }) => [['waitforTimeoutChild', [cond, state, success, sem]]]);
  cpython('test_waitfor_timeout', async () => {
    const { cond, state, success, sem } = waitforTimeout.objects;
    await waitforTimeout.go();
    expect(await o.acquire(sem, { timeout: LONG })).toBe(true);
    for (let i = 0; i < 3; i++) await increment(cond, state); // state never reaches 4
    await waitforTimeout.finished();
    expect(await valueGet(success)).toBe(1);
  });

  // The second half of CPython's test (a SIGINT turning a wait into KeyboardInterrupt) has no Node counterpart: a
  // signal runs a listener on the event loop, it does not raise inside a wait.
  const waitResult = scene(async () => ({ c: await make.Condition() }), ({ c }) => [['waitResultChild', [c]]]);
  cpython('test_wait_result', async () => {
    const { c } = waitResult.objects;
    await holding(o, c, async () => {
      expect(await o.wait(c, 0)).toBe(false);
      expect(await o.wait(c, 100)).toBe(false);
      await waitResult.go();
      expect(await o.wait(c, 60000)).toBe(true);
    });
    await waitResult.finished();
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
}, ONE_MANAGER_VARIANT);
