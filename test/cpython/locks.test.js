// CPython's _TestLock and _TestSemaphore (Lib/test/_test_multiprocessing.py), ported: behaviour, not text.
'use strict';
const { inspect } = require('node:util');
const mp = require('../../dist');
const { cpython, deviation, eachVariant, notApplicable, pending, spawn, joinOk, expectValueIfImplemented } = require('./harness');
const t = require('./targets');

eachVariant('_TestLock', ({ mode, o, make, local }) => {
  /** Runs `check` while a child named `name` holds `lock`. */
  async function whileHeldElsewhere(lock, name, check) {
    const [held, release] = [new mp.Event(), new mp.Event()];
    const p = await spawn(mode, t.holdUntil, [lock, held, release], { name });
    expect(await o.wait(held, 30000)).toBe(true);
    check();
    await o.set(release);
    await joinOk(p);
  }

  if (local) {
    deviation('test_repr_lock', 'repr', async () => {
      const lock = new mp.Lock();
      expect(inspect(lock)).toBe('<Lock(owner=unknown)>');
      await o.acquire(lock);
      expect(inspect(lock)).toBe('<Lock(owner=this process)>');
      await o.release(lock);
      await whileHeldElsewhere(lock, 'P2', () => expect(inspect(lock)).toBe('<Lock(owner=unknown)>'));
    });
  }

  if (!local) {
    for (const name of ['test_repr_lock', 'test_lock_locked_2processes', 'test_repr_rlock', 'test_rlock_locked_2processes']) {
      notApplicable(name, "CPython runs it for 'processes' only");
    }
  }

  const testLock = async () => {
    const lock = await make.Lock();
    expect(await o.acquire(lock)).toBe(true);
    expect(await lock.locked()).toBe(true);
    expect(await o.acquire(lock, { blocking: false })).toBe(false);
    expect(await o.release(lock)).toBeUndefined();
    expect(await lock.locked()).toBe(false);
    await expect(async () => o.release(lock)).rejects.toThrow(mp.ValueError);
  };
  if (local) cpython('test_lock', testLock);
  else cpython('test_lock', testLock);

  const lockedIn2Processes = (makeLock) => async () => {
    const lock = await makeLock();
    const event = new mp.Event();
    const res = mp.Value('b', 0);
    const p = await spawn(mode, t.lockLocked2Processes, [lock, event, res]);
    expect(await o.wait(event, 30000)).toBe(true);
    expect(await lock.locked()).toBe(true);
    expect(res.value).toBe(1);
    await joinOk(p);
  };
  if (local) {
    cpython('test_lock_locked_2processes', lockedIn2Processes(make.Lock));
    deviation('test_repr_rlock', 'repr', async () => {
      const rlock = new mp.RLock();
      expect(inspect(rlock)).toBe('<RLock(owner=unknown)>');
      for (let i = 0; i < 3; i++) await o.acquire(rlock);
      expect(inspect(rlock)).toBe('<RLock(owner=this process, count=3)>');
      for (let i = 0; i < 3; i++) await o.release(rlock);
      await whileHeldElsewhere(rlock, 'P1', () => expect(inspect(rlock)).toBe('<RLock(owner=unknown)>'));
    });
  }

  const testRlock = async () => {
    const lock = await make.RLock();
    expect(await o.acquire(lock)).toBe(true);
    expect(await lock.locked()).toBe(true);
    expect(await o.acquire(lock)).toBe(true);
    expect(await o.acquire(lock)).toBe(true);
    expect(await o.release(lock)).toBeUndefined();
    expect(await lock.locked()).toBe(true);
    expect(await o.release(lock)).toBeUndefined();
    expect(await o.release(lock)).toBeUndefined();
    expect(await lock.locked()).toBe(false);
    await expect(async () => o.release(lock)).rejects.toThrow(mp.AssertionError);
  };
  cpython('test_rlock', testRlock);

  if (local) cpython('test_rlock_locked_2processes', lockedIn2Processes(make.RLock));

  // `with self.Lock() as locked:` is a guard: `using` (Sync), `await using` (async and proxies).
  const testContext = (makeLock) => async () => {
    const lock = await makeLock();
    const guard = mode === 'sync' ? lock.guardSync() : await lock.guard();
    expect(guard).toBeTruthy();
    const recursive = makeLock === make.RLock;
    expect(await o.acquire(lock, { blocking: false })).toBe(recursive);
    if (recursive) await o.release(lock);
    await (guard[Symbol.asyncDispose] ?? guard[Symbol.dispose]).call(guard);
    expect(await o.acquire(lock, { blocking: false })).toBe(true);
    await o.release(lock);
  };
  cpython('test_lock_context', testContext(make.Lock));
  cpython('test_rlock_context', testContext(make.RLock));
});

eachVariant('_TestSemaphore', ({ o, make }) => {
  const expectValue = (sem, value) => expectValueIfImplemented(o, sem, value);
  const checkSemaphore = async (sem) => {
    await expectValue(sem, 2);
    expect(await o.acquire(sem)).toBe(true);
    await expectValue(sem, 1);
    expect(await o.acquire(sem)).toBe(true);
    await expectValue(sem, 0);
    expect(await o.acquire(sem, { blocking: false })).toBe(false);
    await expectValue(sem, 0);
    expect(await o.release(sem)).toBeUndefined();
    await expectValue(sem, 1);
    expect(await o.release(sem)).toBeUndefined();
    await expectValue(sem, 2);
  };

  cpython('test_semaphore', async () => {
    const sem = await make.Semaphore(2);
    await checkSemaphore(sem);
    expect(await o.release(sem)).toBeUndefined();
    await expectValue(sem, 3);
    expect(await o.release(sem)).toBeUndefined();
    await expectValue(sem, 4);
  });

  cpython('test_bounded_semaphore', async () => {
    await checkSemaphore(await make.BoundedSemaphore(2));
  });

  // CPython runs it for 'processes' only (for its timing checks, dropped here): the proxies keep the same contract.
  cpython('test_timeout', async () => {
    const sem = await make.Semaphore(0);
    expect(await o.acquire(sem, { blocking: false })).toBe(false);
    expect(await o.acquire(sem, { blocking: false, timeout: null })).toBe(false);
    expect(await o.acquire(sem, { blocking: false, timeout: 100 })).toBe(false);
    expect(await o.acquire(sem, { blocking: true, timeout: 100 })).toBe(false);
    expect(await o.acquire(sem, { timeout: 200 })).toBe(false);
  });
});
