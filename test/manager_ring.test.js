'use strict';
// A local Manager connection carries its frames in a shared-memory ring (lib/shm_ring.ts, manager_channel.ts): the
// ring is used, large and many frames stream through it, nothing wakes too late, its name does not outlive the
// handshake, and a client that writes impossible things into the shared segment loses its own connection only.
const fs = require('node:fs');
const v8 = require('node:v8');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const mp = require('../dist');
const { native } = require('../dist/native');
const { connectRaw } = require('./fixtures/raw_client');
const { acceptRing, DATA, DIRECTION, TAIL, HEAD } = require('./fixtures/ring_client');

jest.setTimeout(120000);
const posix = native.platform === 'posix';
const Op = { Info: 7 };

(posix ? describe : describe.skip)('Manager connections on a shared ring', () => {
  let manager;
  let keep;
  beforeAll(async () => {
    manager = new mp.Manager();
    await manager.start();
    keep = await manager.dict(new Map([['survives', true]]));
  });
  afterAll(() => manager.shutdown());

  test('a client on this machine talks to its manager through the ring', async () => {
    expect(keep._connection._channel._onRing).toBe(true);
    expect(await keep.get('survives')).toBe(true);
  });

  test('frames larger than the ring, and more calls in flight than it holds, stream through in order', async () => {
    const l = await manager.list();
    const big = 'x'.repeat(3 * DATA + 17);
    await l.append(big);
    expect(await l.get(0)).toBe(big);
    const calls = [];
    for (let i = 0; i < 20000; i++) calls.push(l.append(i));
    await Promise.all(calls);
    const back = await l.toArray();
    expect(back.length).toBe(20001);
    for (let i = 0; i < 20000; i++) if (back[i + 1] !== i) throw new Error(`item ${i + 1} is ${back[i + 1]}`);
  });

  // A lost wake-up leaves a call unanswered for ever: vary what each side does between frames (nothing, a
  // microtask, a turn of the event loop, a timer, a few microseconds of work) so that frames land while the other
  // side spins, works, is about to sleep, and sleeps.
  test('lost-wakeup: 4,000 calls with random gaps on both sides are all answered', async () => {
    const d = await manager.dict();
    const ev = await manager.Event();
    const gaps = [() => undefined, () => Promise.resolve(), () => new Promise(setImmediate),
      () => new Promise((r) => setTimeout(r, 0)), () => { const until = performance.now() + Math.random() * 0.2; while (performance.now() < until); }];
    for (let i = 0; i < 4000; i++) {
      await gaps[i % gaps.length === 0 ? Math.floor(Math.random() * gaps.length) : i % gaps.length]();
      if (i % 7 === 0) await Promise.all([d.set('k', i), d.get('k'), ev.isSet()]);
      else expect(await d.set('k', i)).toBeUndefined();
    }
    expect(await d.get('k')).toBe(3999);
  });

  test('the segment\'s name is removed once the client has taken it: nothing in /dev/shm outlives the handshake', async () => {
    const raw = await connectRaw(manager.address, mp.currentProcess().authkey, { ring: true });
    const ring = acceptRing(raw);
    try {
      ring.send(v8.serialize([Op.Info, 1]));
      const [id, ok] = v8.deserialize(await ring.next());
      expect([id, ok]).toEqual([1, true]); // the server had read the answer, so it has removed the name
      expect(fs.existsSync(`/dev/shm/${ring.name}`)).toBe(false);
    } finally {
      await raw.close();
    }
  });

  test('ring-name-of-a-dead-server: a name left by a server killed before its client took it is removed by the next server', async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid; // exited: its pid names nobody
    const stale = `mpr-${dead.toString(36)}-deaddead`;
    const live = `mpr-${process.pid.toString(36)}-livelive`;
    for (const name of [stale, live]) native.shmDetach(native.shmCreate(`/${name}`, 64));
    try {
      const other = new mp.Manager();
      await other.start(); // a fresh server: its first ring offer sweeps
      try {
        expect(await (await other.dict(new Map([['a', 1]]))).get('a')).toBe(1);
      } finally {
        await other.shutdown();
      }
      expect(fs.existsSync(`/dev/shm/${stale}`)).toBe(false);
      expect(fs.existsSync(`/dev/shm/${live}`)).toBe(true); // its creator (this process) lives
    } finally {
      for (const name of [stale, live]) {
        try { native.shmUnlink(`/${name}`); } catch { /* swept */ }
      }
    }
  });

  test('a manager started with MULTIPROC_MANAGER_RING=0 offers no ring, and its clients stay on the socket', () => {
    const script = `
      const mp = require(${JSON.stringify(path.join(__dirname, '..', 'dist'))});
      (async () => {
        const m = new mp.Manager(); await m.start();
        const d = await m.dict(new Map([['a', 1]]));
        const out = [await d.get('a'), d._connection._channel._onRing];
        await m.shutdown();
        console.log(JSON.stringify(out));
      })();`;
    const run = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, MULTIPROC_MANAGER_RING: '0' }, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual([1, false]);
  });

  // A worker thread has a connection (and a ring) of its own; ending the thread mid-call must leave neither its
  // descriptor nor its mapping behind in this process, and the server serves on.
  test('worker-thread-ring: a thread terminated in the middle of its calls leaves no descriptor or mapping', async () => {
    const { Worker } = require('node:worker_threads');
    const mappings = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('/mpr-')).length;
    const descriptors = () => fs.readdirSync('/proc/self/fd').length;
    const connections = (await manager.debugInfo()).connections;
    const before = [descriptors(), mappings()];
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const mp = require(workerData.dist);
      (async () => {
        const m = new mp.Manager({ address: workerData.address, authkey: Buffer.from(workerData.authkey) });
        await m.connect();
        const d = await m.dict();
        parentPort.postMessage(d._connection._channel._onRing);
        for (let i = 0; ; i++) await d.set('k', i);
      })();`;
    for (let round = 0; round < 3; round++) {
      const worker = new Worker(code, { eval: true, workerData: { dist: path.join(__dirname, '..', 'dist'), address: manager.address,
        authkey: mp.currentProcess().authkey } });
      expect(await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); })).toBe(true);
      expect(mappings()).toBeGreaterThan(0); // the thread's ring, counted while it lives
      await worker.terminate();
    }
    for (let i = 0; i < 10000 && (await manager.debugInfo()).connections !== connections; i++);
    expect((await manager.debugInfo()).connections).toBe(connections);
    expect(await keep.get('survives')).toBe(true);
    // Less or equal: a connection closed just before (another test's manager) may let go of its ring meanwhile.
    expect(descriptors()).toBeLessThanOrEqual(before[0]);
    expect(mappings()).toBeLessThanOrEqual(before[1]);
  });

  describe('a client that writes impossible things into the segment loses its own connection only', () => {
    async function hostile(act) {
      const raw = await connectRaw(manager.address, mp.currentProcess().authkey, { ring: true });
      const ring = acceptRing(raw);
      const before = (await manager.debugInfo()).connections;
      await act(ring);
      await ring.closed(); // the server hung up on it
      expect(await keep.get('survives')).toBe(true);
      expect((await manager.debugInfo()).connections).toBe(before - 1);
    }

    test('ring-tail-lies: a tail further ahead than the ring holds', () => hostile(async (ring) => {
      Atomics.store(ring.out, TAIL, DATA + 1);
      ring.raw.socket.write(Buffer.from([0]));
    }));

    test('ring-head-lies: a head the server never wrote up to, then a request', () => hostile(async (ring) => {
      Atomics.store(ring.in, HEAD, 12345);
      ring.send(v8.serialize([Op.Info, 1])); // its reply would be written after a head that lies
    }));

    test('ring-frame-oversize: a frame announced above maxFrameBytes', () => hostile(async (ring) => {
      ring.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
    }));

    test('ring-fuzz: random bytes anywhere in the segment for 2 s, ringing after each', () => hostile(async (ring) => {
      const bytes = new Uint8Array(ring.buffer);
      const until = performance.now() + 2000;
      while (!ring.raw.socket.destroyed && performance.now() < until) {
        for (let i = 0; i < 64; i++) bytes[Math.floor(Math.random() * 2 * DIRECTION)] = Math.floor(Math.random() * 256);
        ring.raw.socket.write(Buffer.from([0]));
        await new Promise(setImmediate);
      }
      if (!ring.raw.socket.destroyed) { // it survived the noise without a lie about positions: lie now
        Atomics.store(ring.out, TAIL, (Atomics.load(ring.out, TAIL) + DATA + 1) | 0);
        ring.raw.socket.write(Buffer.from([0]));
      }
    }));
  });
});
