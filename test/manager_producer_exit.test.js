'use strict';
// What a manager Queue's producer owes before it may exit, on the server's host (a kernel queue, whose puts go to the
// server once its pipe is full):
// - producer-held-by-its-buffered-items: once its puts resolved, nothing. It used to wait, unable to exit, until a
//   consumer had read its items (its proxy's bookkeeping call, "tell me when my items are in the pipe", held it).
// - put-waiting-for-room-keeps-its-process: a put not yet written (the connection full: a stopped server) holds the
//   process alive, as any awaited call does; with nothing else holding it the process could end mid-put.
const fs = require('node:fs');
const mp = require('../dist');
const { native } = require('../dist/native');
const { stopped } = require('./fixtures/alive');
const { settledWithin } = require('./fixtures/bounded');
const targets = require('./fixtures/manager_targets');

const COUNT = 600; // 2.4 MiB: more than the pipe (1 MiB) and a ring (128 KiB) hold
const kernelQueues = process.platform !== 'win32' && native.features.semGetValue;
const describeIf = kernelQueues && fs.existsSync('/proc/self/stat') ? describe : describe.skip;

async function receivedAll(queue) {
  for (let i = 0; i < COUNT; i++) {
    const item = await queue.get({ timeout: 10000 });
    if (item.length !== 4096 || item[0] !== (i & 0xff)) return `item ${i} wrong`;
  }
  return 'all, in order';
}

describeIf.each([['socket', '0'], ['ring', '1']])('a manager Queue producer on the %s', (_label, ring) => {
  let manager;
  beforeAll(async () => {
    process.env.MULTIPROC_MANAGER_RING = ring; // read by the server when it starts
    try {
      manager = new mp.Manager();
      await manager.start();
    } finally {
      delete process.env.MULTIPROC_MANAGER_RING;
    }
  });
  afterAll(() => manager.shutdown());

  function producer(queue) {
    const [ready, go, done] = [new mp.Event(), new mp.Event(), new mp.Value('i', 0)];
    const p = new mp.Process({ target: targets.putBuffersAndReturn, args: [queue, COUNT, ready, go, done] });
    return { p, ready, go, done };
  }

  test('producer-held-by-its-buffered-items: exits once its puts resolved, with nobody reading yet', async () => {
    const queue = await manager.Queue();
    const { p, ready, go, done } = producer(queue);
    await p.start();
    await ready.wait();
    go.set();
    expect(await settledWithin(p.join().then(() => 'exited'), 30000, 'still running')).toBe('exited');
    expect(p.exitCode).toBe(0);
    expect(done.value).toBe(COUNT);
    expect(await receivedAll(queue)).toBe('all, in order');
  }, 60000);

  test('put-waiting-for-room-keeps-its-process: a producer blocked by a stopped server finishes its puts', async () => {
    const queue = await manager.Queue();
    const { p, ready, go, done } = producer(queue);
    await p.start();
    await ready.wait();
    await stopped(manager.pid);
    try {
      go.set();
      // Its puts soon wait for room; a process that ended meanwhile would have ended mid-put.
      await settledWithin(p.join(), 2000);
    } finally {
      process.kill(manager.pid, 'SIGCONT');
    }
    const consumed = receivedAll(queue);
    await p.join();
    expect([p.exitCode, done.value]).toEqual([0, COUNT]);
    expect(await consumed).toBe('all, in order');
  }, 60000);
});
