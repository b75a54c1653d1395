'use strict';
// Named locks (Lock.open / RLock.open) for unrelated processes: kill-safety, ownerDied, lifetime, validation.
const fs = require('node:fs');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { Lock, RLock, NamedLock, Semaphore, BoundedSemaphore, NamedSemaphore } = require('../dist');
const { uniqueName, startChild, killedHolderHandsOver, killStorm } = require('./fixtures/named_lock_scenarios');

jest.setTimeout(60000);

/** Removes a name a test may have left (a test that failed half way); a name already gone is fine. */
function unlinkIfThere(namedClass, name) {
  try {
    namedClass.unlink(name);
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
}

describe('named-lock-killed-holder: a SIGKILLed holder never wedges the waiters, who are told', () => {
  test('a waiter asleep in acquireSync() takes over and sees ownerDied', async () => {
    await killedHolderHandsOver('sync');
  });

  test('a waiter in acquire() (async) takes over and sees ownerDied', async () => {
    await killedHolderHandsOver('async');
  });

  test('kill storm: 4 unrelated processes, random ones SIGKILLed and restarted: never two inside, every death told', async () => {
    const { kills, progress } = await killStorm(4000);
    expect(kills).toBeGreaterThanOrEqual(4);
    expect(progress).toBeGreaterThan(0);
  });
});

describe('named locks in one process', () => {
  let name;
  beforeEach(() => {
    name = uniqueName();
  });
  afterEach(() => unlinkIfThere(NamedLock, name));

  test('two opens of one name exclude each other; sync, async, timeout, non-blocking, guard', async () => {
    const a = Lock.open(name, { create: true });
    const b = Lock.open(name);
    expect(a.acquireSync()).toBe(true);
    expect(a.ownerDied).toBe(false);
    expect(b.acquireSync({ blocking: false })).toBe(false);
    expect(b.acquireSync({ timeout: 20 })).toBe(false);
    expect(await b.acquire({ timeout: 20 })).toBe(false);
    const later = b.acquire();
    a.release();
    expect(await later).toBe(true);
    expect(b.ownerDied).toBe(false);
    b.release();
    const scoped = a.guardSync(); // what `using` does at the end of the scope:
    expect(a.held).toBe(true);
    scoped[Symbol.dispose]();
    expect(a.held).toBe(false);
    const guard = await b.guard({ timeout: 1000 });
    await expect(a.guard({ timeout: 10 })).rejects.toMatchObject({ name: 'TimeoutError' });
    guard.release();
    a.close();
    b.close();
  });

  test('a Lock is not recursive (its second acquire waits), an RLock is', async () => {
    const lock = Lock.open(name, { create: true });
    expect(lock.acquireSync()).toBe(true);
    expect(lock.acquireSync({ timeout: 10 })).toBe(false);
    expect(await lock.acquire({ blocking: false })).toBe(false);
    lock.release();
    expect(() => lock.release()).toThrow(expect.objectContaining({ name: 'ValueError' }));
    lock.close();
    const rlock = RLock.open(name);
    expect(rlock.acquireSync()).toBe(true);
    expect(await rlock.acquire()).toBe(true);
    rlock.release();
    expect(rlock.held).toBe(true);
    rlock.release();
    expect(rlock.held).toBe(false);
    expect(() => rlock.release()).toThrow(expect.objectContaining({ name: 'AssertionError' }));
    rlock.close();
  });

  test('closing a held lock abandons it: the next holder sees ownerDied; a closed lock throws ERR_MP_CLOSED', () => {
    const a = Lock.open(name, { create: true });
    const b = Lock.open(name);
    a.acquireSync();
    a.close();
    a.close();
    expect(b.acquireSync({ timeout: 1000 })).toBe(true);
    expect(b.ownerDied).toBe(true);
    b.release();
    expect(b.acquireSync()).toBe(true);
    expect(b.ownerDied).toBe(false);
    b.release();
    b.close();
    expect(() => a.acquireSync()).toThrow(expect.objectContaining({ name: 'ValueError', code: 'ERR_MP_CLOSED' }));
    expect(() => a.release()).toThrow(expect.objectContaining({ code: 'ERR_MP_CLOSED' }));
  });

  test('closing a lock while its async acquire waits rejects that acquire with ERR_MP_CLOSED', async () => {
    const a = Lock.open(name, { create: true });
    const b = Lock.open(name);
    a.acquireSync();
    const pending = b.acquire();
    b.close();
    await expect(pending).rejects.toMatchObject({ name: 'ValueError', code: 'ERR_MP_CLOSED' });
    a.release();
    a.close();
  });

  test('an aborted acquire rejects with AbortError and leaves the lock to others', async () => {
    const a = Lock.open(name, { create: true });
    const b = Lock.open(name);
    a.acquireSync();
    const controller = new AbortController();
    const pending = b.acquire({ signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    a.release();
    expect(b.acquireSync({ blocking: false })).toBe(true);
    b.release();
    a.close();
    b.close();
  });

  test('lifetime: opening a missing name is ENOENT, exclusive create is EEXIST, unlink removes the name', () => {
    expect(() => Lock.open(name)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    Lock.open(name, { create: true, exclusive: true }).close();
    expect(() => Lock.open(name, { create: true, exclusive: true })).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    NamedLock.unlink(name);
    expect(() => Lock.open(name)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => NamedLock.unlink(name)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  test('named-lock-unlinked-while-waiting: a waiter on a removed name moves to the new lock, never a second holder', () => {
    const old = Lock.open(name, { create: true });
    const waiter = Lock.open(name, { create: true });
    old.acquireSync();
    NamedLock.unlink(name);
    const fresh = Lock.open(name, { create: true });
    expect(fresh.acquireSync({ blocking: false })).toBe(true);
    old.release(); // the waiter's file is free now, but it is no longer the name's lock
    expect(waiter.acquireSync({ blocking: false })).toBe(false);
    fresh.release();
    expect(waiter.acquireSync({ blocking: false })).toBe(true);
    expect(fresh.acquireSync({ blocking: false })).toBe(false);
    waiter.release();
    for (const l of [old, waiter, fresh]) l.close();
  });

  test('bad names and options are typed errors', () => {
    for (const bad of ['', 'Upper', '/abs', 'a//b', 'a/../b', '.hidden', 'sp ace', 'a\0b', 'x'.repeat(201)]) {
      expect(() => Lock.open(bad, { create: true })).toThrow(expect.objectContaining({ name: 'ValueError', code: 'ERR_MP_LOCK_NAME' }));
    }
    expect(() => Lock.open(42)).toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }));
    expect(() => Lock.open(name, { create: 'yes' })).toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }));
    expect(() => Lock.open(name, 5)).toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }));
    const lock = Lock.open('x'.repeat(200), { create: true });
    expect(() => lock.acquireSync({ timeout: -1 })).toThrow(expect.objectContaining({ name: 'OutOfRangeError' }));
    lock.close();
    NamedLock.unlink('x'.repeat(200));
  });

  test('the lock directory must be private to this user', () => {
    const dir = `/tmp/multiproc-${process.getuid()}`;
    Lock.open(name, { create: true }).close();
    const stat = fs.statSync(dir);
    expect(stat.mode & 0o777).toBe(0o700);
    expect(stat.uid).toBe(process.getuid());
  });
});

describe('named semaphores (Semaphore.open)', () => {
  let name;
  beforeEach(() => {
    name = uniqueName();
  });
  afterEach(() => unlinkIfThere(NamedSemaphore, name));

  test('value units shared by every open; release gives back the last unit this object took', async () => {
    const a = Semaphore.open(name, { create: true, value: 2 });
    const b = Semaphore.open(name, { create: true, value: 5 }); // exists: its value is the recorded one
    expect([a.value, b.value]).toEqual([2, 2]);
    expect(a.acquireSync()).toBe(true);
    expect(a.acquireSync()).toBe(true);
    expect(a.held).toBe(2);
    expect(b.acquireSync({ blocking: false })).toBe(false);
    expect(await b.acquire({ timeout: 20 })).toBe(false);
    const later = b.acquire();
    a.release();
    expect(await later).toBe(true);
    expect(b.ownerDied).toBe(false);
    b.release();
    a.release();
    expect(() => a.release()).toThrow(expect.objectContaining({ name: 'ValueError', message: 'semaphore or lock released too many times' }));
    const guard = b.guardSync();
    guard.release();
    a.close();
    b.close();
    expect(() => a.acquireSync()).toThrow(expect.objectContaining({ code: 'ERR_MP_CLOSED' }));
    expect(BoundedSemaphore.open).toBe(Semaphore.open);
  });

  test('named-semaphore-killed-holder: the unit of a SIGKILLed holder comes back to a waiter, told ownerDied', async () => {
    const holders = [await startChild(['semhold', name], 'held'), await startChild(['semhold', name], 'held')];
    const sem = Semaphore.open(name);
    expect(sem.acquireSync({ blocking: false })).toBe(false);
    const acquired = sem.acquire({ timeout: 30000 });
    holders[1].kill('SIGKILL');
    expect(await acquired).toBe(true);
    expect(sem.ownerDied).toBe(true);
    sem.release();
    holders[0].kill('SIGKILL');
    await Promise.all(holders.map((h) => h.exited));
    expect(sem.acquireSync({ timeout: 30000 })).toBe(true);
    expect(sem.acquireSync({ timeout: 30000 })).toBe(true);
    sem.close();
  });

  test('lifetime and bad input: ENOENT, EEXIST, value 1..64, names checked', () => {
    expect(() => Semaphore.open(name)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    for (const value of [0, 65, 1.5, -1]) {
      expect(() => Semaphore.open(name, { create: true, value })).toThrow(expect.objectContaining({ name: 'OutOfRangeError' }));
    }
    expect(() => Semaphore.open(name, { create: true, value: '2' })).toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }));
    Semaphore.open(name, { create: true, exclusive: true, value: 3 }).close();
    expect(() => Semaphore.open(name, { create: true, exclusive: true })).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(() => Semaphore.open('Bad')).toThrow(expect.objectContaining({ code: 'ERR_MP_LOCK_NAME' }));
    NamedSemaphore.unlink(name);
    expect(() => Semaphore.open(name)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    const dir = `/tmp/multiproc-${process.getuid()}`;
    expect(fs.readdirSync(dir).filter((f) => f.includes(name.split('/')[1]))).toEqual([]);
  });
});

test('the lock-file calls of the addon reject bad arguments and bad descriptors with typed errors', () => {
  const { native } = require('../dist/native');
  expect(() => native.lockFileOpen(42, true, false)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  expect(() => native.lockFileOpen('/nonexistent-dir/x', 'yes', false)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  expect(() => native.lockFileOpen('/nonexistent-dir/x', true, false)).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'open' }));
  expect(() => native.lockFile(-1, false)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'flock' }));
  expect(() => native.lockFile('x', false)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  expect(() => native.unlockFile(-1)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  expect(() => native.lockMark(-1)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'pread' }));
  expect(() => native.setLockMark(-1, 1)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'pwrite' }));
  expect(() => native.setLockMark(0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
});

test('examples/single_instance: a second instance reports the first or waits, and takes over when it is SIGKILLed', async () => {
  const script = path.join(__dirname, '..', 'dist-examples', 'examples', 'single_instance.js');
  const env = { ...process.env, SINGLE_INSTANCE_NAME: uniqueName() };
  const run = (args) => new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], { env, timeout: 30000 }, (err, stdout) => resolve({ code: err ? err.code : 0, stdout }));
  });
  const { spawn } = require('node:child_process');
  const first = spawn(process.execPath, [script, '--for', '60000'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise((resolve) => first.stdout.on('data', (d) => String(d).includes('running as pid') && resolve()));
    expect(await run([])).toEqual({ code: 1, stdout: 'another instance is running\n' });
    const second = spawn(process.execPath, [script, '--wait', '--for', '0'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const exited = new Promise((resolve) => second.on('exit', resolve));
    await new Promise((resolve) => second.stdout.on('data', (d) => (out += d).includes('waiting') && resolve()));
    first.kill('SIGKILL');
    expect(await exited).toBe(0);
    expect(out).toBe('waiting for the running instance\n' +
      'the previous instance died while running: repairing what it left half done\n' +
      `running as pid ${second.pid}\ndone\n`);
    expect(await run(['--for', '0'])).toMatchObject({ code: 0 });
  } finally {
    first.kill('SIGKILL');
    NamedLock.unlink(env.SINGLE_INSTANCE_NAME);
  }
});

