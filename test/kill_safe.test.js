'use strict';
// Kill-safe locks (issue #16 §1): a Lock or RLock whose holder dies — SIGKILL at any moment, even between the
// steps of an acquire — is taken over by the next acquirer, who sees ownerDied; a live holder never is, even when
// its pid is reused; `recovery: false` keeps Python's behaviour.
const fs = require('node:fs');
const path = require('node:path');
const { Lock, RLock, Condition, Event, SharedMemory } = require('../dist');
const t = require('./fixtures/kill_safe_targets');
const { tmpDir } = require('./fixtures/tmp');
const { finishes, killAndReap, started, until, withReusedPid } = require('./fixtures/kill_safe_helpers');

const recovers = new Lock().recovery;
const onLinux = recovers ? describe : describe.skip;


/** A holder of `lock` that is inside (it set its event) and then SIGKILLed. */
async function deadHolder(lock, times) {
  const held = new Event();
  const p = await started(t.holdAndStay, [lock, held, times]);
  expect(await held.wait({ timeout: 30000 })).toBe(true);
  return p;
}

test('without recovery (or off Linux) a Lock whose holder was SIGKILLed stays held, as in Python', async () => {
  const lock = new Lock({ recovery: false });
  expect(lock.recovery).toBe(false);
  await killAndReap(await deadHolder(lock));
  expect(await lock.acquire({ timeout: 300 })).toBe(false);
  expect(lock.ownerDied).toBe(false);
});

test('recovery: anything but a boolean is refused', () => {
  expect(() => new Lock({ recovery: 'yes' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  expect(() => new RLock(5)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
});

onLinux('owner death', () => {
  test.each(['Lock', 'RLock'])('%s: a blocked async waiter takes it over from a SIGKILLed holder and sees ownerDied', async (kind) => {
    const lock = kind === 'Lock' ? new Lock() : new RLock();
    const holder = await deadHolder(lock, kind === 'RLock' ? 3 : 1);
    const waiting = lock.acquire({ timeout: 30000 });
    holder.kill();
    expect(await waiting).toBe(true);
    expect(lock.ownerDied).toBe(true);
    lock.release();
    expect(await lock.acquire()).toBe(true); // released cleanly: the next taker sees no death
    expect(lock.ownerDied).toBe(false);
    lock.release();
    await holder.join();
  });

  test.each(['Lock', 'RLock'])('%s: a waiter blocked in acquireSync in another process takes it over', async (kind) => {
    const lock = kind === 'Lock' ? new Lock() : new RLock();
    const holder = await deadHolder(lock);
    const file = path.join(tmpDir('mp-killsafe-'), 'report.json');
    const waiting = new Event();
    const waiter = await started(t.acquireAndReport, [lock, file, 30000, waiting]);
    expect(await waiting.wait({ timeout: 30000 })).toBe(true);
    holder.kill();
    await waiter.join();
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ ok: true, ownerDied: true });
    await holder.join();
  });

  test('a holder that died before anyone waited is taken over by the next acquireSync', async () => {
    const lock = new Lock();
    await killAndReap(await deadHolder(lock));
    expect(lock.acquireSync({ timeout: 30000 })).toBe(true);
    expect(lock.ownerDied).toBe(true);
    lock.release();
  });

  test('a live holder is never taken over, even when the word names its pid with another start time (pid reuse)', async () => {
    const lock = new Lock();
    const holder = await deadHolder(lock);
    const word = lock._backing.sem.word;
    const real = Atomics.load(word, 0);
    expect(await lock.acquire({ timeout: 100 })).toBe(false); // alive: waiters keep waiting past a recheck
    // The same pid, started at another time: what the word holds after the holder died and its pid was reused.
    Atomics.store(word, 0, real + (1n << 32n));
    expect(await lock.acquire({ timeout: 30000 })).toBe(true);
    expect(lock.ownerDied).toBe(true);
    lock.release();
    await killAndReap(holder);
  });

  // A holder is looked at through /proc/<pid>/stat. A process out of descriptors cannot open it, and that used to
  // read as "no such process": a waiter out of descriptors took over a lock whose holder was alive.
  test('emfile-takeover: a waiter that cannot look at the holder (no descriptor left) says so, never takes a live holder\'s lock', async () => {
    const lock = new Lock();
    const holder = await deadHolder(lock);
    const file = path.join(tmpDir('emfile-'), 'said');
    const waiter = await started(t.acquireOutOfDescriptors, [lock, file]);
    await waiter.join();
    expect(waiter.exitCode).toBe(0);
    expect(fs.readFileSync(file, 'utf8')).toBe('error EMFILE');
    await killAndReap(holder);
  });

  test('pid reuse provoked through ns_last_pid: the new process of the dead holder\'s pid is not the holder', async () => {
    const reused = await withReusedPid(async () => {
      const lock = new Lock();
      return { resource: lock, holder: await deadHolder(lock) };
    }, (lock) => {
      expect(lock.acquireSync({ timeout: 30000 })).toBe(true);
      expect(lock.ownerDied).toBe(true);
      lock.release();
    });
    if (!reused) console.warn('pid reuse could not be provoked on this machine: the forged-start-time test covers it');
  });

  test('holders SIGKILLed at random moments, even inside an acquire: never wedged, never two inside', async () => {
    const lock = new Lock();
    const shm = new SharedMemory({ size: 64 });
    const words = shm.view(Int32Array);
    const modes = ['sync', 'async', 'mixed', 'sync'];
    const workers = await Promise.all(modes.map((mode) => started(t.churn, [lock, shm, mode])));
    // 16 kills of workers inside their loop, at random moments; replacements start while the others go on
    let kills = 0;
    const storm = modes.map(async (mode, i) => {
      while (kills < 16) {
        const sectionsBefore = Atomics.load(words, 2);
        await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 40));
        if (Atomics.load(words, 2) === sectionsBefore) continue; // wedged so far, or not looping yet: no kill
        workers[i].kill();
        kills++;
        await workers[i].join();
        workers[i] = await started(t.churn, [lock, shm, mode]);
      }
    });
    await Promise.all(storm);
    const sections = Atomics.load(words, 2);
    await Promise.all(workers.map(killAndReap));
    expect(sections).toBeGreaterThan(0);
    expect(Atomics.load(words, 1)).toBe(0); // nobody ever found another process inside
    expect(lock.acquireSync({ timeout: 30000 })).toBe(true); // not wedged
    lock.release();
    shm.close();
    shm.unlink();
  }, 60000);

  test('a Lock released by another process than its holder is free (as in Python), and no death is reported', async () => {
    const lock = new Lock();
    const held = new Event();
    const holder = await started(t.holdAndStay, [lock, held, 1]);
    expect(await held.wait({ timeout: 30000 })).toBe(true);
    lock.release(); // this process releases the child's hold
    expect(lock.acquireSync({ blocking: false })).toBe(true);
    expect(lock.ownerDied).toBe(false);
    lock.release();
    expect(() => lock.release()).toThrow('semaphore or lock released too many times');
    await killAndReap(holder);
    expect(lock.acquireSync({ blocking: false })).toBe(true); // the child held nothing when it died
    expect(lock.ownerDied).toBe(false);
    lock.release();
  });
});

onLinux('dead sleepers and holders inside Condition and Event', () => {
  test('a Condition waiter SIGKILLed while asleep: the next notify() skips it instead of waiting for ever', async () => {
    const cond = new Condition();
    const sleeper = await started(t.sleepOnCondition, [cond]);
    await until(() => cond._sleepersKnown() === 1, 'the sleeper to sleep');
    await killAndReap(sleeper);
    expect(await finishes(t.notifyOnce, [cond])).toBe(0);
    expect(cond._sleepersKnown()).toBe(0);
    // and the condition still works: a live sleeper is woken by the next notify
    const live = await started(t.sleepOnCondition, [cond]);
    await until(() => cond._sleepersKnown() === 1, 'the live sleeper to sleep');
    cond.acquireSync();
    cond.notify();
    cond.release();
    await killAndReap(live);
  });

  test('an Event waiter SIGKILLed: set() returns, and waits see the event set', async () => {
    const event = new Event();
    const waiter = await started(t.waitOnEvent, [event]);
    await until(() => event._cond._sleepersKnown() === 1, 'the waiter to sleep');
    await killAndReap(waiter);
    expect(await finishes(t.setEvent, [event])).toBe(0);
    expect(event.isSet()).toBe(true);
    expect(await event.wait({ timeout: 30000 })).toBe(true);
  });

  test("a process SIGKILLed inside an Event's internal lock: isSet() and set() still answer", async () => {
    const event = new Event();
    const held = new Event();
    const holder = await started(t.holdEventLock, [event, held]);
    expect(await held.wait({ timeout: 30000 })).toBe(true);
    await killAndReap(holder);
    expect(await finishes(t.setEvent, [event])).toBe(0);
    expect(event.isSet()).toBe(true);
  });
});
