'use strict';
// A Manager's Lock and RLock survive a SIGKILL storm on their holders, and its semaphores give back a dead holder's
// units (issue #16 §1): with kernel objects (the
// default on Linux: proxies take a kill-safe lock's word themselves) and kept in the server (kernelObjects: false).
// Before, the kernel Lock stayed held for good when a holder died between taking it and telling the server.
const { Event, Lock, Manager, SharedMemory } = require('../dist');
const t = require('./fixtures/kill_safe_targets');
const { killAndReap, started } = require('./fixtures/kill_safe_helpers');

const onLinux = new Lock().recovery ? describe : describe.skip;

/**
 * Four client processes churn on `lock` while the test SIGKILLs one at a random moment of its loop and starts a
 * replacement, `kills` times; then nobody was ever found inside with another live process, and the lock is not
 * wedged.
 */
async function storm(lock, kills) {
  const shm = new SharedMemory({ size: 64 });
  const words = shm.view(Int32Array);
  const workers = await Promise.all([0, 1, 2, 3].map(() => started(t.churnProxy, [lock, shm])));
  let killed = 0;
  // A lock wedged by a death makes no progress, so nobody is killed any more: the storm gives up after a generous
  // bound, and the progress check below fails.
  const stormEnd = Date.now() + 120000;
  await Promise.all(workers.map(async (_, i) => {
    while (killed < kills && Date.now() < stormEnd) {
      const sectionsBefore = Atomics.load(words, 2);
      await new Promise((resolve) => { setTimeout(resolve, 5 + Math.random() * 60); }); // a random moment, not a synchronization
      if (Atomics.load(words, 2) === sectionsBefore) continue; // not looping yet, or wedged so far: no kill
      killed++;
      await killAndReap(workers[i]);
      workers[i] = await started(t.churnProxy, [lock, shm]);
    }
  }));
  // Wedged or not, the survivors must keep entering: wait for 50 more sections (generous bound).
  const target = Atomics.load(words, 2) + 50;
  const deadline = Date.now() + 60000;
  while (Atomics.load(words, 2) < target && Date.now() < deadline) await new Promise((resolve) => { setTimeout(resolve, 20); });
  const progressed = Atomics.load(words, 2) >= target;
  await Promise.all(workers.map(killAndReap));
  const violations = Atomics.load(words, 1);
  shm.close();
  shm.unlink();
  expect(progressed).toBe(true); // never wedged
  expect(violations).toBe(0); // never two live processes inside
  expect(await lock.acquire({ timeout: 30000 })).toBe(true);
  await lock.release();
}

onLinux('a Manager Lock and RLock under a SIGKILL storm on their holders', () => {
  test.each([
    ['Lock', true], ['RLock', true], ['Lock', false], ['RLock', false],
  ])('%s (kernelObjects: %s): 16 holders SIGKILLed at random moments, never wedged, never two inside', async (type, kernelObjects) => {
    const manager = new Manager({ kernelObjects });
    await manager.start();
    try {
      await storm(await manager[type](), 16);
    } finally {
      await manager.shutdown();
    }
  }, 300000);
});

onLinux('a Manager Semaphore and BoundedSemaphore give back the units of a holder that dies', () => {
  test.each(['Semaphore', 'BoundedSemaphore'])('%s(2): a holder of both units SIGKILLed; a waiter gets them, told ownerDied', async (type) => {
    const manager = new Manager();
    await manager.start();
    try {
      const sem = await manager[type](2);
      const held = new Event();
      const holder = await started(t.holdProxyAndStay, [sem, held, 2]);
      expect(await held.wait({ timeout: 30000 })).toBe(true);
      expect(await sem.acquire({ blocking: false })).toBe(false);
      const waiting = sem.acquire({ timeout: 30000 });
      await killAndReap(holder);
      expect(await waiting).toBe(true);
      expect(sem.ownerDied).toBe(true);
      expect(await sem.acquire({ timeout: 30000 })).toBe(true); // the other unit came back too
      await sem.release(2);
      expect(await sem.getValue()).toBe(2);
    } finally {
      await manager.shutdown();
    }
  }, 60000);
});
