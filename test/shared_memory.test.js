'use strict';
// SharedMemory, Value/Array and wait/notify across real processes and threads; lifetimes and clean-up.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const mp = require('../dist');
const { native } = require('../dist/native');
const t = require('./fixtures/shm_targets');

const linux = process.platform === 'linux';
const itLinux = linux ? test : test.skip;
const FOREIGN = path.join(__dirname, 'fixtures', 'shm_foreign_tree.js');
const exists = (name) => fs.existsSync(`/dev/shm/${name}`);
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };

/** Resolves once `pid` is gone (an upper bound of 20 s, checked every 20 ms: there is nothing to wait on). */
async function gone(pid) {
  for (let i = 0; i < 1000 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
  if (alive(pid)) throw new Error(`process ${pid} still runs`);
}

/** Starts shm_foreign_tree.js; resolves with its child and the JSON line it prints. */
function foreign(mode, name) {
  const child = spawn(process.execPath, [FOREIGN, mode, name ?? ''], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve({ child, ...JSON.parse(out) });
    });
    child.once('exit', (code) => reject(new Error(`foreign process exited with ${code}`)));
  });
}

describe('SharedMemory', () => {
  test('a segment created here is the one attach() maps: same bytes, name, size', () => {
    const shm = new mp.SharedMemory({ size: 100 });
    const other = mp.SharedMemory.attach(shm.name);
    try {
      expect(shm.name).toMatch(/^mps-/);
      expect(other.size).toBe(100);
      shm.view(Int32Array)[3] = 1234;
      expect(other.view(Int32Array)[3]).toBe(1234);
      expect(other.buf.length).toBe(100);
      expect(String(shm)).toBe(`SharedMemory(name="${shm.name}", size=100)`);
    } finally {
      other.close();
      shm.close();
      shm.unlink();
    }
    expect(() => mp.SharedMemory.attach(shm.name)).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'shm_open' }));
  });

  test('after close() the buffer is a typed error and views read as empty, never unmapped memory', () => {
    const shm = new mp.SharedMemory({ size: 64 });
    const view = shm.view(Float64Array);
    const words = shm.view(Int32Array);
    view[0] = 1.5;
    shm.close();
    shm.close(); // idempotent
    expect(view.length).toBe(0);
    expect(view[0]).toBeUndefined();
    view[0] = 2; // a write goes nowhere
    const closed = expect.objectContaining({ name: 'ValueError', code: 'ERR_MP_CLOSED' });
    expect(() => shm.buffer).toThrow(closed);
    expect(() => shm.view(Uint8Array)).toThrow(closed);
    expect(() => mp.notify(words, 0)).toThrow(closed);
    expect(() => mp.waitSync(words, 0, 0)).toThrow(closed);
    shm.unlink();
  });

  test('bad input: typed errors with stable codes', () => {
    expect(() => new mp.SharedMemory()).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => new mp.SharedMemory({ size: '1' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    for (const size of [0, -1, 1.5, NaN, 2 ** 60]) {
      expect(() => new mp.SharedMemory({ size })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    }
    for (const name of ['', 'a/b', 'x\0', 'mps-abcdefgh']) {
      expect(() => new mp.SharedMemory({ size: 8, name })).toThrow(expect.objectContaining({ code: 'ERR_MP_INVALID_NAME' }));
    }
    expect(() => mp.SharedMemory.attach(42)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    const shm = new mp.SharedMemory({ size: 10 });
    try {
      expect(() => shm.view(Int32Array, 2)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' })); // unaligned
      expect(() => shm.view(Int32Array, 0, 3)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' })); // 12 > 10 bytes
      expect(() => shm.view(Int32Array, 16)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
      expect(() => shm.view({})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
      expect(shm.view(Int32Array, 4).length).toBe(1);
    } finally {
      shm.close();
      shm.unlink();
    }
  });

  test('a segment named by the user keeps its name; creating it twice is EEXIST', () => {
    const name = `mptest-${process.pid}-${Date.now()}`;
    const shm = new mp.SharedMemory({ size: 16, name });
    try {
      expect(shm.name).toBe(name);
      expect(() => new mp.SharedMemory({ size: 16, name })).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    } finally {
      shm.close();
      shm.unlink();
    }
  });

  test('travels as its name: a Process writes into it, a Pool task sums and doubles a Float64Array in place', async () => {
    const shm = new mp.SharedMemory({ size: 8 * 1000 });
    const queue = new mp.Queue();
    try {
      const p = new mp.Process({ target: t.writeText, args: [shm, 'hello from the child', queue] });
      await p.start();
      expect(await queue.get({ timeout: 20000 })).toBe(shm.name);
      await p.join();
      expect(shm.buf.toString('utf8', 0, 20)).toBe('hello from the child');

      const values = shm.view(Float64Array);
      values.forEach((_, i) => { values[i] = i; });
      const pool = new mp.Pool({ processes: 1 });
      try {
        expect(await pool.apply(t.sumAndDouble, [shm])).toBe((999 * 1000) / 2);
      } finally {
        await pool.terminate();
      }
      expect(values[999]).toBe(1998);
    } finally {
      queue.close();
      shm.close();
      shm.unlink();
    }
  }, 30000);

  test('travels through a Manager: a child takes it out of a dict proxy and writes into it', async () => {
    const shm = new mp.SharedMemory({ size: 64 });
    const manager = new mp.Manager();
    await manager.start();
    try {
      const d = await manager.dict();
      await d.set('segment', shm);
      const queue = await manager.Queue();
      const p = new mp.Process({ target: t.writeTextFromDict, args: [d, 'via the manager', queue] });
      await p.start();
      expect(await queue.get({ timeout: 20000 })).toBe(shm.name);
      await p.join();
      expect(shm.buf.toString('utf8', 0, 15)).toBe('via the manager');
    } finally {
      await manager.shutdown();
      shm.close();
      shm.unlink();
    }
  }, 30000);
});

describe('wait and notify across processes', () => {
  test.each([['wait', t.waitOnWord], ['waitSync', t.waitSyncOnWord]])('%s in a child wakes on notify from the parent', async (_, target) => {
    const shm = new mp.SharedMemory({ size: 64 });
    const queue = new mp.Queue();
    const words = shm.view(Int32Array);
    try {
      const p = new mp.Process({ target, args: [shm, queue, 60000] });
      await p.start();
      expect(await queue.get({ timeout: 20000 })).toBe('waiting');
      // The child may not sleep yet: notify until it reports (a notify before its sleep wakes nobody). Where words
      // are polled (macOS, Windows, the macOS emulation) only a change of value wakes, and one that comes before
      // the child's wait makes it 'not-equal'.
      if (!native.sharedWordWakes) Atomics.store(words, 0, 1);
      let result;
      const waiting = queue.get({ timeout: 30000 }).then((r) => { result = r; });
      while (result === undefined) {
        mp.notify(words, 0, 1);
        await Promise.race([waiting, new Promise((r) => setTimeout(r, 5))]);
      }
      expect(native.sharedWordWakes ? ['ok'] : ['ok', 'not-equal']).toContain(result);
      await p.join();
    } finally {
      queue.close();
      shm.close();
      shm.unlink();
    }
  }, 40000);

  test('results match Atomics.wait: not-equal, timed-out, ok; a timer keeps firing while a wait is pending', async () => {
    const shm = new mp.SharedMemory({ size: 8 });
    const words = shm.view(Int32Array);
    try {
      expect(mp.waitSync(words, 0, 1)).toBe('not-equal');
      expect(mp.waitSync(words, 0, 0, { timeout: 5 })).toBe('timed-out');
      expect(await mp.wait(words, 0, 1)).toBe('not-equal');
      expect(await mp.wait(words, 0, 0, { timeout: 5 })).toBe('timed-out');
      const pending = mp.wait(words, 1, 0);
      let ticks = 0;
      await new Promise((resolve) => {
        const timer = setInterval(() => { if (++ticks === 5) { clearInterval(timer); resolve(); } }, 1);
      });
      Atomics.store(words, 1, 1);
      mp.notify(words, 1);
      expect(await pending).toBe('ok');
    } finally {
      shm.close();
      shm.unlink();
    }
  });

  // Waits spin before they sleep only when the machine's load leaves a core to spare (lib/spin.ts): these tests tell
  // the processes the machine is idle, so the spin path runs whatever the load of the test machine.
  const asIfIdle = async (fn) => {
    const os = require('node:os');
    const loadavg = os.loadavg;
    const nodeOptions = process.env.NODE_OPTIONS;
    os.loadavg = () => [0, 0, 0];
    process.env.NODE_OPTIONS = `${nodeOptions ?? ''} --require ${JSON.stringify(path.join(__dirname, 'fixtures', 'idle_machine.js'))}`;
    try {
      return await fn();
    } finally {
      os.loadavg = loadavg;
      if (nodeOptions === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = nodeOptions;
    }
  };

  test('spin-never-ok: a spinning wait on a word nobody changes times out, it never says ok', () => asIfIdle(async () => {
    const shm = new mp.SharedMemory({ size: 8 });
    const words = shm.view(Int32Array);
    try {
      const results = new Set();
      for (let i = 0; i < 40; i++) { // after a miss a site spins once in 16 waits: 40 waits spin at least 3 times
        results.add(mp.waitSync(words, 0, 0, { timeout: 2 }));
        results.add(await mp.wait(words, 0, 0, { timeout: 2 }));
      }
      expect([...results]).toEqual(['timed-out']);
    } finally {
      shm.close();
      shm.unlink();
    }
  }));

  test.each([['wait', false], ['waitSync', true]])('spin-caught waits: a ping-pong of %s with spinning on loses no wake-up', (_, sync) => asIfIdle(async () => {
    const shm = new mp.SharedMemory({ size: 8 });
    const words = shm.view(Int32Array);
    const queue = new mp.Queue();
    const n = 2000;
    try {
      const p = new mp.Process({ target: t.pingPong, args: [shm, n, queue, sync] });
      await p.start();
      for (let i = 1; i <= n; i++) {
        Atomics.store(words, 0, i);
        mp.notify(words, 0);
        while (Atomics.load(words, 1) < i) {
          if (sync) mp.waitSync(words, 1, i - 1, { timeout: 30000 });
          else await mp.wait(words, 1, i - 1, { timeout: 30000 });
        }
      }
      expect(await queue.get({ timeout: 30000 })).toBe(n);
      await p.join();
    } finally {
      queue.close();
      shm.close();
      shm.unlink();
    }
  }), 60000);

  test('an AbortSignal rejects a pending wait; close() rejects the waits on its buffer with ERR_MP_CLOSED', async () => {
    const shm = new mp.SharedMemory({ size: 8 });
    const words = shm.view(Int32Array);
    const ac = new AbortController();
    const aborted = mp.wait(words, 0, 0, { signal: ac.signal });
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    const closing = mp.wait(words, 0, 0);
    shm.close();
    await expect(closing).rejects.toMatchObject({ name: 'ValueError', code: 'ERR_MP_CLOSED' });
    shm.unlink();
  });

  test('bad input: views not over SharedMemory, indexes out of range, wrong types', async () => {
    const shm = new mp.SharedMemory({ size: 8 });
    const words = shm.view(Int32Array);
    try {
      const code = (c) => expect.objectContaining({ code: c });
      expect(() => mp.notify(new Int32Array(new SharedArrayBuffer(8)), 0)).toThrow(code('ERR_INVALID_ARG_TYPE'));
      expect(() => mp.notify(shm.view(Uint32Array), 0)).toThrow(code('ERR_INVALID_ARG_TYPE'));
      expect(() => mp.notify(words, 2)).toThrow(code('ERR_OUT_OF_RANGE'));
      expect(() => mp.notify(words, -1)).toThrow(code('ERR_OUT_OF_RANGE'));
      expect(() => mp.notify(words, 0.5)).toThrow(code('ERR_INVALID_ARG_TYPE'));
      expect(() => mp.notify(words, 0, -1)).toThrow(code('ERR_OUT_OF_RANGE'));
      expect(() => mp.waitSync(words, 0, 'x')).toThrow(code('ERR_INVALID_ARG_TYPE'));
      expect(() => mp.waitSync(words, 0, 0, { timeout: -1 })).toThrow(code('ERR_OUT_OF_RANGE'));
      await expect(mp.wait(words, 5, 0)).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    } finally {
      shm.close();
      shm.unlink();
    }
  });
});

describe('worker threads', () => {
  test('a worker attaches by name, waits, is notified by the main thread, and close() there is a typed error', async () => {
    const shm = new mp.SharedMemory({ size: 8 });
    const words = shm.view(Int32Array);
    const worker = new Worker(`
      const { parentPort, workerData } = require('node:worker_threads');
      const mp = require(${JSON.stringify(path.join(__dirname, '..', 'dist'))});
      (async () => {
        const shm = mp.SharedMemory.attach(workerData);
        const words = shm.view(Int32Array);
        parentPort.postMessage('attached');
        const result = await mp.wait(words, 0, 0, { timeout: 60000 });
        shm.close();
        let code;
        try { mp.waitSync(words, 0, 0); } catch (err) { code = err.code; }
        parentPort.postMessage({ result, code, length: words.length });
      })();
    `, { eval: true, workerData: shm.name });
    try {
      const messages = [];
      const done = new Promise((resolve, reject) => {
        worker.on('message', (m) => { messages.push(m); if (typeof m === 'object') resolve(m); });
        worker.on('error', reject);
      });
      while (messages.length === 0) await new Promise((r) => setTimeout(r, 5));
      // The worker may not sleep yet: notify until it reports (as across processes). Where words are polled, only a
      // change of value wakes it, and one that comes before its wait makes it 'not-equal'.
      if (!native.sharedWordWakes) Atomics.store(words, 0, 1);
      let finished;
      done.then((m) => { finished = m; }, () => { finished = {}; });
      while (finished === undefined) {
        mp.notify(words, 0);
        await Promise.race([done, new Promise((r) => setTimeout(r, 5))]);
      }
      const { result, ...rest } = await done;
      expect(native.sharedWordWakes ? ['ok'] : ['ok', 'not-equal']).toContain(result);
      expect(rest).toEqual({ code: 'ERR_MP_CLOSED', length: 0 });
      expect(words.length).toBe(2); // the main thread's mapping is its own
    } finally {
      await worker.terminate();
      shm.close();
      shm.unlink();
    }
  }, 30000);

  // A wait ended by its environment's teardown must not wake the word's other waiters: with futexes a wake-up
  // carries no value, and a waiter woken by none is told 'ok' as if notified.
  (native.sharedWordWakes ? test : test.skip)('purge-spurious-ok: a worker terminated while it waits wakes no other waiter of the word', async () => {
    const shm = new mp.SharedMemory({ size: 8 });
    const words = shm.view(Int32Array);
    const worker = new Worker(`
      const { parentPort, workerData } = require('node:worker_threads');
      const mp = require(${JSON.stringify(path.join(__dirname, '..', 'dist'))});
      const shm = mp.SharedMemory.attach(workerData);
      void mp.wait(shm.view(Int32Array), 0, 0, { timeout: 60000 });
      parentPort.postMessage('waiting');
    `, { eval: true, workerData: shm.name });
    try {
      await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
      const mine = mp.wait(words, 0, 0, { timeout: 1500 });
      await worker.terminate();
      expect(await mine).toBe('timed-out'); // nobody notified
    } finally {
      shm.close();
      shm.unlink();
    }
  }, 30000);

  test('a worker terminated while it waits and while it holds views leaves the process intact', async () => {
    const shm = new mp.SharedMemory({ size: 8 });
    const worker = new Worker(`
      const { parentPort, workerData } = require('node:worker_threads');
      const mp = require(${JSON.stringify(path.join(__dirname, '..', 'dist'))});
      const shm = mp.SharedMemory.attach(workerData);
      globalThis.views = [shm.view(Int32Array), shm.view(Uint8Array)];
      mp.wait(globalThis.views[0], 0, 0);
      parentPort.postMessage('waiting');
    `, { eval: true, workerData: shm.name });
    await new Promise((resolve) => worker.once('message', resolve));
    await worker.terminate();
    const words = shm.view(Int32Array);
    mp.notify(words, 0); // a wake for a gone waiter harms nobody
    words[0] = 5;
    expect(words[0]).toBe(5);
    shm.close();
    shm.unlink();
  });
});

describe('Value and Array', () => {
  test('Value under its lock: 4 processes add 500 each, the count is exact', async () => {
    const counter = mp.Value('i', 0);
    const ps = Array.from({ length: 4 }, () => new mp.Process({ target: t.increment, args: [counter, 500] }));
    for (const p of ps) await p.start();
    for (const p of ps) await p.join();
    expect(ps.map((p) => p.exitCode)).toEqual([0, 0, 0, 0]);
    expect(counter.value).toBe(2000);
    counter.close();
  }, 30000);

  test('with a lock they follow the inheritance rule; raw ones travel anywhere', async () => {
    const value = mp.Value('d', 1.5);
    const raw = mp.Value('d', 1.5, { lock: false });
    expect(raw).toBeInstanceOf(mp.RawValue);
    const pool = new mp.Pool({ processes: 1 });
    try {
      await expect(pool.apply(t.setRaw, [value, 2])).rejects.toMatchObject({
        name: 'RuntimeError', message: 'SynchronizedValue objects should only be shared between processes through inheritance',
      });
      expect(() => JSON.stringify(value)).toThrow('through inheritance');
      expect(await pool.apply(t.setRaw, [raw, 2.25])).toBe(2.25);
      expect(raw.value).toBe(2.25);
    } finally {
      await pool.terminate();
      value.close();
      raw.close();
    }
  }, 30000);

  test('types: Python typecodes and Node names, bigint, c and u; getObj, getLock; typed errors', () => {
    const a = mp.Array('i', [1, 2, 3]);
    expect(a.toArray()).toEqual([1, 2, 3]);
    expect(a.getObj()).toBeInstanceOf(Int32Array);
    expect(a.getLock()).toBeInstanceOf(mp.RLock);
    a.set(1, 20);
    expect([...a]).toEqual([1, 20, 3]);
    expect(() => a.get(3)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => a.set(0, 'x')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    const q = mp.Value('q', 2n ** 40n, { lock: new mp.Lock() });
    expect(q.value).toBe(2n ** 40n);
    expect(q.getLock()).toBeInstanceOf(mp.Lock);
    const f = mp.Array('float32', 4, { lock: false });
    expect(f.getObj()).toBeInstanceOf(Float32Array);
    const c = mp.Array('c', Buffer.from('hi\0there'));
    expect(c.value).toEqual(Buffer.from('hi'));
    expect(c.raw).toEqual(Buffer.from('hi\0there'));
    c.value = Buffer.from('abc');
    expect(c.value).toEqual(Buffer.from('abc'));
    const u = mp.Array('u', 'héllo');
    expect(u.value).toBe('héllo');
    expect(mp.Value('u', 'é').value).toBe('é');
    expect(() => mp.Value('x')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => mp.Value('i', 1, { lock: {} })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    for (const obj of [a, q, f, c, u]) obj.close();
    expect(() => a.getObj()).toThrow(expect.objectContaining({ code: 'ERR_MP_CLOSED' }));
  });
});

describe('lifetime and clean-up (Linux)', () => {
  // python/cpython#82300: a process that attached a segment registered it with its own resource tracker, which
  // unlinked it when that process ended, while the creator still used it.
  itLinux('cpython-82300: a process of another tree that attached and exited leaves the segment to its creator', async () => {
    const shm = new mp.SharedMemory({ size: 4096 });
    try {
      const { child, tracker } = await foreign('attach', shm.name);
      expect(typeof tracker).toBe('number');
      child.stdin.end();
      await gone(child.pid);
      await gone(tracker); // its tracker ran its clean-up
      expect(exists(shm.name)).toBe(true);
      const again = mp.SharedMemory.attach(shm.name);
      expect(again.buf[0]).toBe(7);
      again.close();
    } finally {
      shm.close();
      shm.unlink();
    }
  }, 40000);

  itLinux('shm-leak-after-sigkill: a SIGKILLed tree\'s segment goes once no process maps it, never before', async () => {
    const { child, name, tracker } = await foreign('create');
    const held = mp.SharedMemory.attach(name); // another tree maps it
    child.kill('SIGKILL');
    await gone(child.pid);
    await gone(tracker);
    expect(exists(name)).toBe(true); // still used here
    expect(held.buf.length).toBe(4096);
    held.close();
    held.unlink();
    expect(exists(name)).toBe(false);

    const second = await foreign('create');
    second.child.kill('SIGKILL');
    await gone(second.child.pid);
    await gone(second.tracker);
    expect(exists(second.name)).toBe(false); // nobody used it: removed
  }, 40000);

  // A SIGKILLed process's files are released one after the other: its tracker can see the end of the tree before
  // the shared lock that held a segment goes, and took the segment for one another tree still used (it leaked).
  // Here a lock that outlives the tree by up to 500 ms (flock(1), which no tracker knows) stands for that window.
  itLinux('shm-leak-lock-released-late: a segment whose last lock goes just after its tree ends is still removed', async () => {
    const { child, name, tracker } = await foreign('create');
    const late = spawn('flock', ['--shared', `/dev/shm/${name}`, 'sleep', '0.5'], { stdio: 'ignore' });
    const lateExit = new Promise((resolve) => late.once('exit', resolve));
    await new Promise((resolve) => late.once('spawn', resolve));
    const lockLine = `:${fs.statSync(`/dev/shm/${name}`).ino} `; // the segment's entry in /proc/locks
    for (let i = 0; i < 1000 && !fs.readFileSync('/proc/locks', 'utf8').includes(lockLine); i++) {
      await new Promise((r) => setTimeout(r, 5)); // until flock holds it
    }
    child.kill('SIGKILL');
    await gone(child.pid);
    expect(await lateExit).toBe(0);
    await gone(tracker);
    expect(exists(name)).toBe(false);
  }, 40000);

  itLinux('dropped Values and Arrays release their names once collected, not at exit', async () => {
    const { execFileSync } = require('node:child_process');
    const out = execFileSync(process.execPath, ['--expose-gc', '-e', `
      const mp = require(${JSON.stringify(path.join(__dirname, '..', 'dist'))});
      const fs = require('node:fs');
      const names = [];
      (async () => {
        for (let i = 0; i < 200; i++) {
          const v = i % 2 ? mp.Value('i', i) : mp.Array('d', 10, { lock: false });
          if (i % 10 === 0) names.push((v._raw ?? v)._segment);
        }
        for (let i = 0; i < 6; i++) { global.gc(); await new Promise((r) => setImmediate(r)); }
        process.stdout.write(JSON.stringify(names.filter((n) => fs.existsSync('/dev/shm/' + n))));
      })();
    `]).toString();
    expect(JSON.parse(out)).toEqual([]);
  }, 30000);
});
