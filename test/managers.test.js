'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const v8 = require('node:v8');
const vm = require('node:vm');
const {
  AuthenticationError, BrokenBarrierError, Empty, Full, Lock, Manager, ManagerError, Process, Queue, RuntimeError, ValueError,
} = require('../dist');
const { native } = require('../dist/native');
const targets = require('./fixtures/manager_targets');

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
const FIXTURES = path.join(__dirname, 'fixtures', 'manager_targets.js');

/** Runs targets in child Processes and checks they all exited with 0. */
async function runAll(specs) {
  const procs = specs.map(([target, args]) => new Process({ target, args }));
  await Promise.all(procs.map((p) => p.start()));
  await Promise.all(procs.map((p) => p.join()));
  expect(procs.map((p) => p.exitCode)).toEqual(procs.map(() => 0));
}

/** Polls `check` (which returns truthy when done) until it holds or `ms` pass: for effects of GC and process death. */
async function eventually(check, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`condition not reached within ${ms} ms`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Runs `node -e <code>` as a process that is NOT our child Process; resolves with its JSON stdout lines. */
function runStranger(code, onLine) {
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = [];
  let buffered = '';
  child.stdout.on('data', (d) => {
    buffered += d;
    for (let i; (i = buffered.indexOf('\n')) >= 0;) {
      const line = JSON.parse(buffered.slice(0, i));
      buffered = buffered.slice(i + 1);
      lines.push(line);
      onLine?.(line, child);
    }
  });
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ lines, code, signal, pid: child.pid })));
}

// Every test runs against both kinds of lock and semaphore: kernel semaphores that proxies on this host take
// directly (the default), and objects kept in the server (kernelObjects: false, as over TCP).
describe.each([true, false])('Manager (kernelObjects: %s)', (kernelObjects) => {
  // Kernel objects need a platform that reads semaphore values (not macOS, nor its emulation here).
  const inKernel = kernelObjects && native.features.semGetValue;
  let manager;
  beforeAll(async () => {
    manager = new Manager({ kernelObjects });
    await manager.start();
  });
  afterAll(async () => {
    await manager.shutdown();
  });

  test('seed scenario 4: ten Processes given a manager Lock and Queue put 0..9', async () => {
    const lock = await manager.Lock();
    const queue = await manager.Queue();
    await runAll(Array.from({ length: 10 }, (_, i) => [targets.putUnderLock, [lock, queue, i]]));
    const got = [];
    for (let i = 0; i < 10; i++) got.push(await queue.get({ timeout: 5000 }));
    expect(got.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(await queue.empty()).toBe(true);
  });

  // Pool (issue 4) and local Queues (issue 3) land separately: these run once the package exports them.
  const { Pool, Queue: LocalQueue } = require('../dist');
  (Pool ? test : test.skip)('seed scenario 2: a manager Lock and Queue in Pool task arguments give 0..9', async () => {
    const lock = await manager.Lock();
    const queue = await manager.Queue();
    const pool = new Pool({ processes: 2 });
    try {
      await pool.map(targets.putUnderLockTask, Array.from({ length: 10 }, (_, i) => [lock, queue, i]));
    } finally {
      pool.close();
      await pool.join();
    }
    const got = [];
    for (let i = 0; i < 10; i++) got.push(await queue.getNowait());
    expect(got.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  (LocalQueue ? test : test.skip)('a proxy put on a local Queue arrives as a working proxy', async () => {
    const local = new LocalQueue();
    const dict = await manager.dict();
    await local.put(dict);
    const received = await local.get();
    await received.set('through', 'a local queue');
    expect(await dict.get('through')).toBe('a local queue');
    local.close?.();
  });

  test('every proxy type works from another process', async () => {
    const p = {
      lock: await manager.Lock(), rlock: await manager.RLock(), semaphore: await manager.Semaphore(0),
      bounded: await manager.BoundedSemaphore(1), condition: await manager.Condition(), event: await manager.Event(),
      queue: await manager.Queue(), joinable: await manager.JoinableQueue(), dict: await manager.dict({ parent: 1 }),
      list: await manager.list(['parent']), value: await manager.Value('i', 0), array: await manager.Array('i', [1, 2, 3]),
      namespace: await manager.Namespace({ who: 'parent' }),
    };
    await p.condition.acquire();
    const child = new Process({ target: targets.useEveryType, args: [p] });
    await child.start();
    // The child notifies once it set 'ready'; waiting releases the lock so it can.
    expect(await p.condition.waitFor(() => p.dict.get('ready'), { timeout: 10000 })).toBe(true);
    await p.condition.release();
    await child.join();
    expect(child.exitCode).toBe(0);
    expect(await p.semaphore.acquire({ timeout: 1000 })).toBe(true);
    expect(await p.bounded.getValue()).toBe(0);
    await p.bounded.release();
    await expect(p.bounded.release()).rejects.toThrow(ValueError);
    expect(await p.event.isSet()).toBe(true);
    expect(await p.queue.getNowait()).toBe('from child');
    expect(await p.joinable.get()).toBe('task');
    await p.joinable.taskDone();
    await p.joinable.join();
    expect(await p.dict.get('child')).toBe(child.pid);
    expect(await p.dict.size).toBe(3);
    expect(await p.list.toArray()).toEqual(['parent', 'child']);
    expect(await p.list.get(-1)).toBe('child');
    expect(await p.value.get()).toBe(42);
    expect(await p.array.toArray()).toEqual([1, 7, 3]);
    expect(await p.array.length).toBe(3);
    expect(await p.namespace.toObject()).toEqual({ who: 'child' });
    expect(await p.lock.locked()).toBe(false);
  });

  test('Event and Barrier coordinate processes; a timed-out Barrier breaks', async () => {
    const event = await manager.Event();
    const barrier = await manager.Barrier(3);
    const results = await manager.Queue();
    const children = [0, 1].map(() => new Process({ target: targets.waitEventAndBarrier, args: [event, barrier, results] }));
    await Promise.all(children.map((c) => c.start()));
    await eventually(async () => (await manager.debugInfo()).connections >= 3);
    await event.set();
    const mine = await barrier.wait({ timeout: 10000 });
    const theirs = [await results.get(), await results.get()];
    expect([mine, ...theirs.map((r) => r.index)].sort()).toEqual([0, 1, 2]);
    expect(theirs.every((r) => r.set)).toBe(true);
    await Promise.all(children.map((c) => c.join()));
    const lonely = await manager.Barrier(2);
    await expect(lonely.wait({ timeout: 50 })).rejects.toThrow(BrokenBarrierError);
    expect(await lonely.broken).toBe(true);
    await lonely.reset();
    expect(await lonely.broken).toBe(false);
  });

  test('queues: Empty and Full are typed, maxsize parks putters, a signal cancels a wait', async () => {
    const queue = await manager.Queue(1);
    await queue.put('a');
    await expect(queue.putNowait('b')).rejects.toThrow(Full);
    await expect(queue.put('b', { timeout: 20 })).rejects.toThrow(Full);
    const parked = queue.put('c');
    expect(await queue.get()).toBe('a');
    await parked;
    expect(await queue.get()).toBe('c');
    await expect(queue.get({ timeout: 20 })).rejects.toThrow(Empty);
    const controller = new AbortController();
    const waiting = queue.get({ signal: controller.signal });
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    await queue.put('after abort'); // the aborted getter must not have taken it
    expect(await queue.get({ timeout: 1000 })).toBe('after abort');
  });

  test('many clients blocked in acquire and get do not stall the others', async () => {
    const lock = await manager.Lock();
    const order = await manager.Queue();
    const work = await manager.Queue();
    const results = await manager.Queue();
    await lock.acquire();
    const blocked = [
      ...[0, 1, 2, 3].map((i) => new Process({ target: targets.blockInAcquire, args: [lock, order, `acquirer ${i}`] })),
      ...[0, 1].map(() => new Process({ target: targets.blockInGet, args: [work, results] })),
    ];
    await Promise.all(blocked.map((p) => p.start()));
    await eventually(async () => (await manager.debugInfo()).connections >= 7);
    // Everyone else is still served promptly: 200 dict round trips while six clients wait.
    const dict = await manager.dict();
    for (let i = 0; i < 200; i++) await dict.set('i', i);
    expect(await dict.get('i')).toBe(199);
    expect(await order.qsize()).toBe(0);
    expect(await results.qsize()).toBe(0);
    await lock.release();
    await work.put('x');
    await work.put('y');
    const acquired = [];
    for (let i = 0; i < 4; i++) acquired.push(await order.get({ timeout: 10000 }));
    expect(acquired.sort()).toEqual(['acquirer 0', 'acquirer 1', 'acquirer 2', 'acquirer 3']);
    expect([await results.get(), await results.get()].sort()).toEqual(['got x', 'got y']);
    await Promise.all(blocked.map((p) => p.join()));
    expect(blocked.map((p) => p.exitCode)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  test('a client that exits holding a Lock releases it; the server stays healthy', async () => {
    const lock = await manager.Lock();
    await runAll([[targets.acquireAndExit, [lock]]]);
    expect(await lock.acquire({ timeout: 5000 })).toBe(true);
    await lock.release();
  });

  test('locks and semaphores are kernel objects only by default; their names go with their objects', async () => {
    const lock = await manager.Lock();
    const sem = await manager.BoundedSemaphore(2);
    const dict = await manager.dict();
    expect(dict.token.kernel).toBeUndefined();
    if (!inKernel) {
      expect(lock.token.kernel).toBeUndefined();
      expect(sem.token.kernel).toBeUndefined();
      return;
    }
    // Kill-safe locks' and semaphores' segments where the platform has them (Linux), else OS semaphores.
    const killSafe = new Lock().recovery;
    expect([lock, sem].map((p) => 'killSafe' in p.token.kernel)).toEqual([killSafe, killSafe]);
    const fileOf = ({ killSafe: segment, name }) => (segment ? `/dev/shm/${segment.slice(1)}` : `/dev/shm/sem.${name.slice(1)}`);
    const files = [lock, sem].map((p) => fileOf(p.token.kernel));
    expect(files.map((f) => fs.existsSync(f))).toEqual([true, true]);
    expect(sem.token.kernel.maxvalue).toBe(2);
    await sem.acquire();
    expect(await sem.getValue()).toBe(1);
    await expect(sem.release(2)).rejects.toThrow(ValueError); // all or nothing
    expect(await sem.getValue()).toBe(1);
    await sem.release();
    lock[Symbol.dispose]();
    sem[Symbol.dispose]();
    await eventually(async () => (await manager.debugInfo()) && files.every((f) => !fs.existsSync(f)));
  });

  test('a producer that exits at once loses nothing, even past what a pipe holds; one producer keeps its order', async () => {
    const queue = await manager.Queue();
    // Kernel queue: 40,000 frames of 64 bytes, more than the 1 MiB a pipe holds, with no consumer yet. In the
    // server, each put is a round trip: fewer.
    const count = inKernel ? 40000 : 2000;
    await runAll([[targets.putManyAndExit, [queue, count]]]);
    expect(await queue.qsize()).toBe(count);
    let inOrder = true;
    for (let i = 0; i < count; i++) if ((await queue.get({ timeout: 10000 })) !== i) inOrder = false;
    expect(inOrder).toBe(true);
    expect(await queue.empty()).toBe(true);
    await expect(queue.getNowait()).rejects.toThrow(Empty);
    // Again with this process reading meanwhile: the producer's puts go to the pipe, to the server when the pipe
    // is full, and back to the pipe once the server wrote them — in order throughout.
    const producer = new Process({ target: targets.putManyAndExit, args: [queue, count] });
    await producer.start();
    for (let i = 0; i < count; i++) if ((await queue.get({ timeout: 10000 })) !== i) inOrder = false;
    expect(inOrder).toBe(true);
    await producer.join();
    expect(producer.exitCode).toBe(0);
  });

  test('queues are kernel queues only by default; a process that cannot open one gets a typed error', async () => {
    const queue = await manager.Queue(3);
    const dict = await manager.dict();
    if (!inKernel) {
      expect(queue.token.kernel).toBeUndefined();
      return;
    }
    const { fifo, maxsize } = queue.token.kernel;
    expect(fs.statSync(fifo).isFIFO()).toBe(true);
    expect(maxsize).toBe(3);
    // The named pipe gone before a child opens the queue: its puts and gets fail with a typed error, and what the
    // server counts by itself still works.
    const unreachable = await manager.Queue();
    fs.rmSync(unreachable.token.kernel.fifo);
    await runAll([[targets.reportUnreachable, [unreachable, dict]]]);
    expect(await dict.get('put')).toBe('ERR_MP_MANAGER_KERNEL_OBJECT');
    expect(await dict.get('qsize')).toBe(0);
    queue[Symbol.dispose]();
    await eventually(() => !fs.existsSync(fifo));
  });

  test('a SIGKILLed holder of a Lock or RLock leaves it released; a Condition over a Lock works across processes', async () => {
    const lock = await manager.Lock();
    const rlock = await manager.RLock();
    const ready = await manager.Queue();
    const victim = new Process({ target: targets.holdLocksAndDie, args: [[lock, rlock], ready] });
    await victim.start();
    expect(await ready.get({ timeout: 10000 })).toBe('holding');
    await victim.join();
    expect(victim.exitCode).toBe(-9);
    expect(await lock.acquire({ timeout: 10000 })).toBe(true);
    expect(await rlock.acquire({ timeout: 10000 })).toBe(true);
    await rlock.release();
    // The Lock is held here (directly, for a kernel lock); a Condition built on it waits and notifies through it.
    const cond = await manager.Condition(lock);
    const child = new Process({ target: targets.notifyUnderCondition, args: [cond, ready] });
    await child.start();
    expect(await cond.wait({ timeout: 1 })).toBe(false); // lets the lock go while waiting, holds it again after
    await lock.release();
    await cond.acquire();
    const woken = cond.wait({ timeout: 20000 });
    await ready.put('waiting');
    expect(await woken).toBe(true);
    expect(await lock.locked()).toBe(true);
    await cond.release();
    expect(await lock.locked()).toBe(false);
    await child.join();
    expect(child.exitCode).toBe(0);
  });

  test('objects are released on dispose, on garbage collection, and when the holding process dies', async () => {
    // A manager of its own: garbage of other tests being collected meanwhile would change the count.
    const manager = new Manager({ kernelObjects });
    await manager.start();
    const count = async () => (await manager.debugInfo()).objects;
    const base = await count();
    expect(base).toBe(0);
    const disposed = await manager.dict();
    expect(await count()).toBe(base + 1);
    disposed[Symbol.dispose]();
    expect(await count()).toBe(base);
    await expect(disposed.get('x')).rejects.toMatchObject({ code: 'ERR_MP_MANAGER_RELEASED' });

    await (async () => { await manager.list([1, 2, 3]); })(); // the proxy is unreachable once this returns
    expect(await count()).toBe(base + 1);
    await eventually(async () => { gc(); return (await count()) === base; });

    // A proxy that travels keeps its object alive after the sender dropped its own.
    const results = await manager.Queue();
    const travelling = await manager.dict();
    const child = new Process({ target: targets.useReceived, args: [travelling, results] });
    await child.start();
    travelling[Symbol.dispose]();
    expect(await results.get({ timeout: 10000 })).toBe('still here');
    await child.join();
    await eventually(async () => (await count()) === base + 1); // only `results` is left

    // A process that dies (SIGKILL) drops the references it held.
    const held = await manager.dict();
    const ready = await manager.Queue();
    const victim = new Process({ target: targets.holdAndDie, args: [held, ready] });
    await victim.start();
    held[Symbol.dispose]();
    expect(await ready.get({ timeout: 10000 })).toBe('holding');
    await victim.join();
    expect(victim.exitCode).toBe(-9);
    await eventually(async () => (await count()) === base + 2); // results and ready
    await manager.shutdown();
  });

  test('a release by the holder resolves at once, ordered before later calls; a late refusal is reported', async () => {
    const lock = await manager.Lock();
    await lock.acquire();
    await lock.release();
    expect(await lock.locked()).toBe(false); // the release reached the server first
    await expect(lock.release()).rejects.toThrow(ValueError); // not held here: the server's answer is awaited
    // A child holds the Lock; we release it (legal for a Lock); the child's own release then has nothing to release.
    const [toParent, toChild] = [await manager.Queue(), await manager.Queue()];
    const child = new Process({ target: targets.lateRefusal, args: [lock, toParent, toChild] });
    await child.start();
    expect(await toParent.get({ timeout: 10000 })).toBe('held');
    await lock.release();
    await toChild.put('released');
    await child.join();
    expect(child.exitCode).toBe(0);
    expect(await toParent.get()).toEqual({ name: 'ValueError', code: 'ERR_MP_VALUE', message: 'semaphore or lock released too many times' });
    expect(await lock.locked()).toBe(false);
    const rlock = await manager.RLock();
    await rlock.acquire();
    await rlock.acquire();
    await rlock.release();
    expect(await rlock.locked()).toBe(true);
    await rlock.release();
    expect(await rlock.locked()).toBe(false);
  });

  test('a proxy stored in a manager dict or put on a manager Queue comes back as a working proxy', async () => {
    const dict = await manager.dict();
    const queue = await manager.Queue();
    await dict.set('q', queue);
    const again = await dict.get('q');
    await again.put('via dict');
    expect(await queue.get()).toBe('via dict');
    const box = await manager.Queue();
    await box.put({ dict });
    const { dict: received } = await box.get();
    expect(received).not.toBe(dict);
    await received.set('k', 'via queue');
    expect(await dict.get('k')).toBe('via queue');
  });

  test('bad input gets typed errors, and the connection keeps working', async () => {
    const lock = await manager.Lock();
    await expect(manager.create('NoSuchType')).rejects.toMatchObject({ code: 'ERR_MP_MANAGER_UNKNOWN_TYPEID' });
    await expect(lock._callMethod('abandon', [])).rejects.toMatchObject({ code: 'ERR_MP_MANAGER_UNKNOWN_METHOD' });
    await expect(lock._callMethod('constructor', [])).rejects.toMatchObject({ code: 'ERR_MP_MANAGER_UNKNOWN_METHOD' });
    await expect(lock.release()).rejects.toThrow(ValueError);
    await expect(manager.Semaphore(-1)).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    const dict = await manager.dict();
    await expect(dict.set({ not: 'a key' }, 1)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    await expect(dict.set('big', Buffer.alloc(65 * 1024 * 1024))).rejects.toMatchObject({ code: 'ERR_MP_MANAGER_FRAME_TOO_LARGE' });
    const local = new Lock();
    await expect(dict.set('lock', local)).rejects.toThrow(RuntimeError);
    await expect(dict.set('lock', local)).rejects.toThrow('Lock objects should only be shared between processes through inheritance');
    const queue = await manager.Queue(1);
    await expect(queue.put(local)).rejects.toThrow(RuntimeError);
    await expect(queue.put(() => 1)).rejects.toMatchObject({ code: 'ERR_MP_PICKLING' });
    await expect(queue.put('x', { timeout: -1 })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    await expect(queue.get({ timeout: NaN })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    await expect(queue.put(Buffer.alloc(65 * 1024 * 1024))).rejects.toMatchObject({ code: 'ERR_MP_MANAGER_FRAME_TOO_LARGE' });
    expect(await queue.qsize()).toBe(0); // nothing was taken: not a slot, not a byte
    await queue.putNowait('fits');
    await expect(queue.putNowait('full')).rejects.toThrow(Full);
    expect(await queue.get()).toBe('fits');
    // The server loads no code a client names: a Barrier action (or any function) is refused.
    await expect(manager.create('Barrier', 2, { module: FIXTURES, export: 'putUnderLock' }))
      .rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    await expect(manager.create('Barrier', 2, targets.putUnderLock)).rejects.toMatchObject({ code: 'ERR_MP_PICKLING' });
    expect(await lock.acquire()).toBe(true);
    await lock.release();
  });

  test('registered user types: exposed methods only, methodToTypeid returns proxies', async () => {
    const users = new targets.StoreManager();
    await users.start();
    try {
    const counter = await users.Counter(5);
    expect(await counter.increment()).toBe(6);
    const copy = await counter.snapshot();
    expect(await copy.increment()).toBe(7);
    expect(await counter.increment()).toBe(7);
    const shared = await users.shared();
    expect(typeof shared._secret).toBe('undefined');
    await expect(shared._callMethod('_secret', [])).rejects.toMatchObject({ code: 'ERR_MP_MANAGER_UNKNOWN_METHOD' });
    } finally {
      await users[Symbol.asyncDispose]();
    }
  });

  test('a TCP manager is reached by a process that is not its child, with the authkey passed explicitly', async () => {
    const authkey = require('node:crypto').randomBytes(32);
    const tcp = new targets.StoreManager({ address: ['127.0.0.1', 0], authkey });
    await tcp.start();
    try {
    const [host, port] = tcp.address;
    expect(host).toBe('127.0.0.1');
    expect(port).toBeGreaterThan(0);
    const shared = await tcp.shared();
    const queue = await tcp.Queue();
    await shared.set('queue', queue);
    const code = (key, fail) => `require(${JSON.stringify(FIXTURES)}).connectAsStranger(${port}, '${key}', ${fail})`;
    const ok = await runStranger(code(authkey.toString('hex'), false));
    expect(ok.code).toBe(0);
    expect(ok.lines).toEqual([{ ok: true, pid: ok.pid }]);
    expect(await shared.get('stranger')).toBe(ok.pid);
    expect(await queue.get({ timeout: 5000 })).toBe(`hello from ${ok.pid}`);

    const wrong = await runStranger(code(Buffer.alloc(32, 7).toString('hex'), true));
    expect(wrong.lines).toEqual([{ error: 'AuthenticationError', code: 'ERR_MP_AUTHENTICATION' }]);
    expect(await shared.get('stranger')).toBe(ok.pid); // still serving
    } finally {
      await tcp.shutdown();
    }
  });

  test('a wrong authkey in this process is refused with AuthenticationError', async () => {
    const intruder = new Manager({ address: manager.address, authkey: Buffer.alloc(32, 1) });
    await expect(intruder.connect()).rejects.toThrow(AuthenticationError);
    expect((await manager.debugInfo()).objects).toBeGreaterThanOrEqual(0);
  });

  test('using a manager that is not started, or shut down, is a typed error', async () => {
    const idle = new Manager();
    await expect(idle.Lock()).rejects.toMatchObject({ code: 'ERR_MP_MANAGER_STATE' });
    await idle.start();
    const q = await idle.Queue();
    await idle.shutdown();
    await expect(q.qsize()).rejects.toThrow(ManagerError);
    await expect(idle.Lock()).rejects.toMatchObject({ code: 'ERR_MP_MANAGER_STATE' });
  });
});

describe('Manager server lifetime', () => {
  test('the server and its socket directory go when its parent is SIGKILLed', async () => {
    let info;
    const result = await runStranger(`require(${JSON.stringify(FIXTURES)}).startAndWait()`, (line, child) => {
      info = line;
      child.kill('SIGKILL');
    });
    expect(result.signal).toBe('SIGKILL');
    await eventually(() => {
      try {
        process.kill(info.pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 5000);
    await eventually(() => !fs.existsSync(path.dirname(info.address)), 5000);
  });

  test('a child loads the Manager\'s client only when given a proxy (a shorter start for every other child)', async () => {
    const m = new Manager();
    await m.start();
    try {
      const out = new Queue();
      const dict = await m.dict();
      const loaded = [];
      for (const args of [[out], [out, dict]]) {
        const child = new Process({ target: require('./fixtures/targets').reportManagerClientLoaded, args });
        await child.start();
        loaded.push(await out.get({ timeout: 20000 }));
        await child.join();
      }
      expect(loaded).toEqual([false, true]);
    } finally {
      await m.shutdown();
    }
  });

  test('shutdown removes the socket directory; the server exits', async () => {
    const m = new Manager();
    await m.start();
    const dir = path.dirname(m.address);
    expect((fs.statSync(dir).mode & 0o777).toString(8)).toBe('700');
    await m.shutdown();
    expect(fs.existsSync(dir)).toBe(false);
    expect(() => process.kill(m.pid, 0)).toThrow();
  });
});
