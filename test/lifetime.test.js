'use strict';
// Objects release what they hold: the mapping, descriptors and (for objects this process created) names of an object
// go when it is collected, closed or disposed — not at exit — while children that received it keep it usable.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const mp = require('../dist');
const t = require('./fixtures/sync_targets');

const CHILD = path.join(__dirname, 'fixtures', 'lifetime_child.js');
const linux = process.platform === 'linux';
// a semaphore's name, or a kill-safe lock's segment
const exists = (name) => fs.existsSync(name.startsWith('/mpl-') ? `/dev/shm/${name.slice(1)}` : `/dev/shm/sem.${name.slice(1)}`);
const fds = () => fs.readdirSync('/proc/self/fd').length;

/** Runs a scenario of lifetime_child.js in its own process; `shell` prefixes it (a ulimit). */
function scenario(args, { shell = '' } = {}) {
  const command = `${shell} exec "${process.execPath}" --expose-gc "${CHILD}" ${args.join(' ')}`;
  const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  return new Promise((resolve, reject) => child.once('close', (code) => {
    if (code !== 0) return reject(new Error(`scenario ${args[0]} exited with ${code}: ${out}`));
    resolve(JSON.parse(out));
  }));
}

const describeLinux = linux ? describe : describe.skip;

describeLinux('collected objects release what they held', () => {
  // Before, every semaphore created stayed in a strong set until exit: 1,000 dropped Locks kept 1,000 names and
  // mappings, and near 65,000 sem_open failed (ENOMEM) and the process could crash.
  test('dropped-locks-keep-names: 3,000 dropped Locks release their names and mappings once collected', async () => {
    const { left, sampled, mapsAdded } = await scenario(['dropLocks', 3000]);
    expect(sampled).toBe(150);
    expect(left).toBe(0);
    expect(mapsAdded).toBeLessThan(100);
  });

  test('dropped-queues-keep-descriptors: 300 dropped Queues release their descriptors and names once collected', async () => {
    const { fdsAdded, left } = await scenario(['dropQueues', 300]);
    expect(left).toBe(0);
    expect(fdsAdded).toBeLessThan(10);
  });
});

describe('close() and using', () => {
  test('close() releases a Lock at once; later calls are ValueError (ERR_MP_CLOSED); it cannot go to a child', async () => {
    const closed = expect.objectContaining({ name: 'ValueError', code: 'ERR_MP_CLOSED', message: 'Lock is closed' });
    const lock = new mp.Lock();
    const name = lock._backing.name;
    lock.acquireSync();
    const pending = lock.acquire();
    lock.close();
    lock.close(); // idempotent
    await expect(pending).rejects.toEqual(closed);
    if (linux) expect(exists(name)).toBe(false);
    expect(() => lock.acquireSync()).toThrow(closed);
    expect(() => lock.acquireSync({ timeout: 1 })).toThrow(closed);
    expect(() => lock.release()).toThrow(closed);
    await expect(lock.acquire()).rejects.toEqual(closed);
    await expect(lock.acquire({ blocking: false })).rejects.toEqual(closed);
    expect(() => new mp.Process({ target: t.waitForEvent, args: [lock] }).start()).toThrow(closed);
  });

  test('every kind of object closes, with `using` too, and says which object was closed', async () => {
    const objects = {
      RLock: new mp.RLock(), Semaphore: new mp.Semaphore(2), BoundedSemaphore: new mp.BoundedSemaphore(2),
      Condition: new mp.Condition(), Event: new mp.Event(), Barrier: new mp.Barrier(2),
    };
    for (const [kind, object] of Object.entries(objects)) {
      object[Symbol.dispose]();
      const closed = expect.objectContaining({ name: 'ValueError', code: 'ERR_MP_CLOSED', message: `${kind} is closed` });
      const use = {
        RLock: () => object.acquireSync(), Semaphore: () => object.release(), BoundedSemaphore: () => object.getValue(),
        Condition: () => object.waitSync({ timeout: 1 }), Event: () => object.set(), Barrier: () => object.abort(),
      }[kind];
      expect(use).toThrow(closed);
    }
    const lockOfCondition = new mp.Lock();
    new mp.Condition(lockOfCondition).close();
    expect(lockOfCondition.acquireSync({ blocking: false })).toBe(true); // a lock given to a Condition stays open
    lockOfCondition.close();
    const body = () => { // what `using lock = new Lock()` compiles to
      const lock = new mp.Lock();
      try {
        lock.acquireSync();
        return lock;
      } finally {
        lock[Symbol.dispose]();
      }
    };
    expect(() => body().release()).toThrow(expect.objectContaining({ code: 'ERR_MP_CLOSED' }));
  });

  test('a child keeps a Lock its parent closed right after start(): the name lives until the child exits', async () => {
    const lock = new mp.Lock();
    const event = new mp.Event();
    const p = new mp.Process({ target: t.waitForEvent, args: [event, 30000] });
    const holder = new mp.Process({ target: t.lockThenExit, args: [lock] });
    const started = holder.start();
    lock.close(); // the child has not opened the semaphore yet
    await started;
    await holder.join();
    expect(holder.exitCode).toBe(0);
    await p.start();
    event.set();
    await p.join();
    expect(p.exitCode).toBe(0);
    event.close();
  });

  // Before, a closed Queue closed its descriptors but kept its semaphores' names until exit.
  test('closed-queue-keeps-names: closing Queues releases their descriptors and names', async () => {
    new mp.Lock().close(); // the resource tracker's pipe is this process's from the first semaphore on
    const before = linux ? fds() : 0;
    const queues = Array.from({ length: 40 }, (_, i) => (i % 2 ? new mp.Queue(3) : new mp.JoinableQueue()));
    const names = queues.flatMap((q) => q._names());
    for (const [i, q] of queues.entries()) {
      await q.put(1);
      await q.get();
      if (i % 2) q.close();
      else q[Symbol.dispose](); // `using queue = new Queue()`
    }
    if (linux) {
      expect(fds()).toBeLessThanOrEqual(before); // objects dropped earlier may close meanwhile
      expect(names.filter(exists)).toEqual([]);
    }
  });
});

describe('manager kernel objects', () => {
  // Before, a kernel Queue proxy kept its two FIFO descriptors after shutdown() (+40 after 20 managers).
  const onLinux = linux ? test : test.skip;
  onLinux('kernel-queue-fds-after-shutdown: proxies kept after shutdown() hold no FIFO or semaphore of the gone manager', async () => {
    const warm = new mp.Manager();
    await warm.start();
    await (await warm.Queue()).put(0);
    await warm.shutdown();
    const before = fds();
    const kept = [];
    for (let i = 0; i < 5; i++) {
      const manager = new mp.Manager();
      await manager.start();
      const queue = await manager.Queue();
      const lock = await manager.Lock();
      await queue.put(1);
      await queue.get();
      await lock.acquire();
      await lock.release();
      queue.get().catch(() => undefined); // pending while the manager goes
      kept.push(queue, lock);
      await manager.shutdown();
    }
    expect(fds()).toBeLessThanOrEqual(before); // objects dropped earlier may close meanwhile
    expect(kept).toHaveLength(10); // still referenced
  });
});

describe('resource exhaustion', () => {
  const onLinux = linux ? test : test.skip;
  test('tracker-spawn-refused: a first Lock whose resource tracker cannot start throws the OS error; the process goes on', async () => {
    const script = `
      const { Lock } = require(${JSON.stringify(path.join(__dirname, '..', 'dist'))});
      const real = process.execPath;
      process.execPath = '/nonexistent/multiproc-node'; // the tracker's spawn fails, as with EAGAIN
      const seen = {};
      try { new Lock(); } catch (err) { seen.error = { code: err.code, syscall: err.syscall }; }
      process.execPath = real;
      const lock = new Lock(); // the next attempt starts the tracker
      seen.acquired = lock.acquireSync({ timeout: 0 });
      setImmediate(() => console.log(JSON.stringify(seen)));`;
    const { code, out } = await new Promise((resolve) => {
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (d) => { text += d; });
      child.once('close', (exit) => resolve({ code: exit, out: text }));
    });
    expect(code).toBe(0);
    const seen = JSON.parse(out);
    expect(seen.error.code).toMatch(/^(ENOENT|ERR_MP_TRACKER)$/);
    if (seen.error.code === 'ENOENT') expect(seen.error.syscall).toBe('spawn /nonexistent/multiproc-node');
    expect(seen.acquired).toBe(true);
  });

  onLinux('running out of descriptors is a typed error (EMFILE), and the process goes on', async () => {
    const { error, made, item } = await scenario(['outOfDescriptors'], { shell: 'ulimit -n 64;' });
    expect(made).toBeGreaterThan(3);
    expect(error).toMatchObject({ code: 'EMFILE', syscall: expect.any(String) });
    expect(item).toBe('still works');
  });
});
