'use strict';
// Kill-safe semaphores (issue #16 §1): the units a process took and had not released come back when it is
// SIGKILLed, at any moment (even between the steps of an acquire); the next taker of such a unit sees ownerDied; a
// release by another process moves a unit out of the dead holder's count (no unit comes back twice, a
// BoundedSemaphore never exceeds its bound); `recovery: false` keeps Python's behaviour.
const fs = require('node:fs');
const path = require('node:path');
const { BoundedSemaphore, Event, Semaphore, SharedMemory } = require('../dist');
const t = require('./fixtures/kill_safe_targets');
const { tmpDir } = require('./fixtures/tmp');
const { killAndReap, started, withReusedPid } = require('./fixtures/kill_safe_helpers');
const { expectSemaphoreValue } = require('./semaphore_value');

const onLinux = new Semaphore().recovery ? describe : describe.skip;


/** A holder of `times` units of `sem` that is inside (it set its event), to be SIGKILLed. */
async function holder(sem, times = 1) {
  const held = new Event();
  const p = await started(t.holdAndStay, [sem, held, times]);
  expect(await held.wait({ timeout: 30000 })).toBe(true);
  return p;
}

test('without recovery a Semaphore unit whose holder was SIGKILLed stays taken, as in Python', async () => {
  const sem = new Semaphore(1, { recovery: false });
  expect(sem.recovery).toBe(false);
  await killAndReap(await holder(sem));
  expect(await sem.acquire({ timeout: 300 })).toBe(false);
  expectSemaphoreValue(sem, 0); // getValue() throws where the platform has no sem_getvalue (macOS)
});

test('Semaphore options: recovery must be a boolean', () => {
  expect(() => new Semaphore(1, { recovery: 'yes' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  expect(() => new BoundedSemaphore(1, 5)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
});

onLinux('Semaphore owner death', () => {
  test.each(['Semaphore', 'BoundedSemaphore'])('%s: a blocked async waiter gets a SIGKILLed holder\'s unit and sees ownerDied', async (kind) => {
    const sem = kind === 'Semaphore' ? new Semaphore(1) : new BoundedSemaphore(1);
    const p = await holder(sem);
    const waiting = sem.acquire({ timeout: 30000 });
    const killedAt = performance.now();
    p.kill();
    expect(await waiting).toBe(true);
    const took = performance.now() - killedAt;
    expect(sem.ownerDied).toBe(true);
    sem.release();
    expect(sem.acquireSync({ blocking: false })).toBe(true); // given back cleanly: no death reported
    expect(sem.ownerDied).toBe(false);
    sem.release();
    expect(sem.getValue()).toBe(1);
    expect(took).toBeLessThan(5000); // generous: the bench measures the takeover (tens of ms)
    await p.join();
  });

  // A Semaphore as a signal: one process releases, another acquires and goes on. Giving the unit back when the
  // acquirer ends normally would be a signal nobody sent (the first kill-safe version did).
  test('signal-returned-at-exit: a unit taken by a process that ends normally stays taken; an exit code of 1 gives it back', async () => {
    const sem = new Semaphore(0);
    sem.release(); // the signal
    const taker = await started(t.takeAndExit, [sem, 0]);
    await taker.join();
    expect(taker.exitCode).toBe(0);
    expect(await sem.acquire({ timeout: 300 })).toBe(false); // longer than a waiter's look at the holders (20 ms)
    sem.release();
    const failing = await started(t.takeAndExit, [sem, 1]);
    await failing.join();
    expect(failing.exitCode).toBe(1);
    expect(await sem.acquire({ timeout: 30000 })).toBe(true);
    expect(sem.ownerDied).toBe(true);
  });

  test('a waiter blocked in acquireSync in another process gets the unit', async () => {
    const sem = new BoundedSemaphore(1);
    const p = await holder(sem);
    const file = path.join(tmpDir('mp-killsafe-sem-'), 'report.json');
    const waiting = new Event();
    const waiter = await started(t.acquireAndReport, [sem, file, 30000, waiting]);
    expect(await waiting.wait({ timeout: 30000 })).toBe(true);
    p.kill();
    await waiter.join();
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ ok: true, ownerDied: true });
    await p.join();
    expect(sem.getValue()).toBe(1);
  });

  test('every unit a dead holder held comes back, each taker of one is told, and no more come back', async () => {
    const sem = new Semaphore(3);
    await killAndReap(await holder(sem, 2));
    expect(sem.acquireSync({ timeout: 30000 })).toBe(true); // the free unit
    expect(sem.acquireSync({ timeout: 30000 })).toBe(true); // the dead holder's two
    expect(sem.acquireSync({ timeout: 30000 })).toBe(true);
    expect(sem.acquireSync({ timeout: 200 })).toBe(false); // three units, not more
    for (let i = 0; i < 3; i++) sem.release();
    expect(sem.getValue()).toBe(3);
  });

  test('a unit released by another process is out of the dead holder\'s count: it never comes back twice', async () => {
    const sem = new BoundedSemaphore(1);
    const p = await holder(sem);
    sem.release(); // this process gives back the child's unit, as Python allows
    expect(sem.getValue()).toBe(1);
    await killAndReap(p);
    expect(sem.acquireSync({ timeout: 30000 })).toBe(true);
    expect(sem.ownerDied).toBe(false); // the child held nothing when it died
    expect(sem.acquireSync({ timeout: 200 })).toBe(false); // its unit did not come back a second time
    sem.release();
    expect(() => sem.release()).toThrow('semaphore or lock released too many times');
    expect(sem.getValue()).toBe(1);
  });

  test('a live holder\'s unit is never taken', async () => {
    const sem = new Semaphore(1);
    const p = await holder(sem);
    expect(await sem.acquire({ timeout: 150 })).toBe(false); // several rechecks of a live holder
    expect(sem.acquireSync({ timeout: 100 })).toBe(false);
    expect(sem._backing.sem.holders()).toEqual(new Map([[p.pid, 1]]));
    await killAndReap(p);
    expect(sem.acquireSync({ timeout: 30000 })).toBe(true);
    expect(sem.ownerDied).toBe(true);
    sem.release();
  });

  test('pid reuse provoked through ns_last_pid: the new process of the dead holder\'s pid holds nothing', async () => {
    const reused = await withReusedPid(async () => {
      const sem = new Semaphore(1);
      return { resource: sem, holder: await holder(sem) };
    }, (sem) => {
      expect(sem.acquireSync({ timeout: 30000 })).toBe(true);
      expect(sem.ownerDied).toBe(true);
      sem.release();
    });
    if (!reused) console.warn('pid reuse could not be provoked on this machine');
  });

  // A take is one compare-and-swap on the free units, then a move of the taker's own count, with its slot marked busy
  // around the two. Killed before the swap, it leaves the busy mark (slow steps wait for busy slots: a dead one must
  // not hold them for ever); killed after it, one unit is taken by no holder (the next slow step recounts it back).
  test.each(['busy', 'swapped'])('killed-inside-fast-take (%s): no unit lost, no one wedged, no death reported', async (at) => {
    const sem = new Semaphore(2);
    const ready = new Event();
    const p = await started(t.halfTakeAndStay, [sem, ready, at]);
    expect(await ready.wait({ timeout: 30000 })).toBe(true);
    await killAndReap(p);
    expect(sem.acquireSync({ timeout: 30000 })).toBe(true);
    expect(sem.ownerDied).toBe(false); // it never held the unit
    expect(sem.acquireSync({ timeout: 30000 })).toBe(true);
    expect(sem.ownerDied).toBe(false);
    expect(sem.acquireSync({ timeout: 200 })).toBe(false);
    sem.release();
    sem.release();
    expect(sem.getValue()).toBe(2);
  });

  test.each(['Semaphore', 'BoundedSemaphore'])('%s(2): holders SIGKILLed at random moments, even inside an acquire: never wedged, never three inside, no unit lost or doubled', async (kind) => {
    const sem = kind === 'Semaphore' ? new Semaphore(2) : new BoundedSemaphore(2);
    const shm = new SharedMemory({ size: 128 });
    const words = shm.view(Int32Array);
    const modes = ['sync', 'async', 'mixed', 'sync'];
    const workers = await Promise.all(modes.map((mode, k) => started(t.churnUnits, [sem, shm, 2, k, mode])));
    let kills = 0;
    const storm = modes.map(async (mode, k) => {
      while (kills < 16) {
        const before = Atomics.load(words, 1);
        await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 40));
        if (Atomics.load(words, 1) === before) continue; // wedged so far, or not looping yet: no kill
        workers[k].kill();
        kills++;
        await workers[k].join();
        workers[k] = await started(t.churnUnits, [sem, shm, 2, k, mode]);
      }
    });
    await Promise.all(storm);
    await Promise.all(workers.map(killAndReap));
    expect(Atomics.load(words, 1)).toBeGreaterThan(0);
    const violations = Atomics.load(words, 0);
    // not wedged, and exactly the two units: the dead workers' units all came back, none twice
    expect(sem.acquireSync({ timeout: 30000 })).toBe(true);
    expect(sem.acquireSync({ timeout: 30000 })).toBe(true);
    expect(sem.acquireSync({ timeout: 200 })).toBe(false);
    sem.release();
    sem.release();
    expect(sem.getValue()).toBe(2);
    expect(violations).toBe(0); // never more than 2 live processes inside
    shm.close();
    shm.unlink();
  }, 90000);
});

onLinux('Semaphore holders looked at once per recheck', () => {
  // A Semaphore used as a signal has a live holder on the other side almost always. A try that found no unit, and a
  // release by a process holding none, read /proc/<pid>/stat of every live holder on every call: tens of µs each,
  // which made an async acquire woken from another process 25× slower than with an OS semaphore (bench: cross-process
  // wake). A live holder is looked at again only once RECHECK_MS passed (a blocked waiter still looks every time).
  test('proc-read-per-call: failed tries and releases by a non-holder do not read /proc for a live holder each time', async () => {
    const sem = new Semaphore(300);
    const p = await holder(sem, 300); // holds every unit, alive
    const reads = jest.spyOn(fs, 'openSync'); // how robust_lock.ts reads /proc/<pid>/stat
    try {
      for (let i = 0; i < 200; i++) expect(sem.acquireSync({ blocking: false })).toBe(false);
      for (let i = 0; i < 200; i++) sem.release(); // this process holds none: each moves one of the child's out
      expect(sem.getValue()).toBe(200);
      const procReads = reads.mock.calls.filter(([file]) => String(file).startsWith(`/proc/${p.pid}/`)).length;
      expect(procReads).toBeLessThan(20); // once per RECHECK_MS at most
    } finally {
      reads.mockRestore();
      await killAndReap(p);
    }
  });
});
