'use strict';
const fs = require('node:fs');
const path = require('node:path');
const v8 = require('node:v8');
const { Worker } = require('node:worker_threads');
const childProcess = require('node:child_process');
const mp = require('../dist');
const { Point, describeArgs } = require('./fixtures/reduce_types');
const { tmpDir } = require('./fixtures/tmp');

const factories = {
  Lock: () => new mp.Lock(),
  RLock: () => new mp.RLock(),
  Semaphore: () => new mp.Semaphore(2),
  BoundedSemaphore: () => new mp.BoundedSemaphore(2),
  Condition: () => new mp.Condition(),
  Event: () => new mp.Event(),
  Barrier: () => new mp.Barrier(2),
};

const message = (name) => `${name} objects should only be shared between processes through inheritance`;

describe.each(Object.entries(factories))('%s outside a spawning context', (name, make) => {
  const obj = make();

  test('assertSpawning throws Python\'s RuntimeError', () => {
    expect(() => mp.assertSpawning(obj)).toThrow(mp.RuntimeError);
    expect(() => mp.assertSpawning(obj)).toThrow(message(name));
  });

  test('JSON.stringify, structuredClone and v8.serialize fail loudly with the same error', () => {
    for (const send of [() => JSON.stringify({ obj }), () => structuredClone([obj]), () => v8.serialize({ obj })]) {
      expect(send).toThrow(message(name));
    }
  });
});

describe('other channels refuse kernel objects', () => {
  test.each(['json', 'advanced'])('process.send (%s serialization)', async (serialization) => {
    const child = childProcess.fork('-e', [], { serialization, execArgv: ['-e', 'process.on("message", () => {})'] });
    try {
      expect(() => child.send({ lock: new mp.Lock() })).toThrow(message('Lock'));
    } finally {
      child.kill();
    }
  });

  test('worker.postMessage', async () => {
    const worker = new Worker('require("node:worker_threads").parentPort.on("message", () => {})', { eval: true });
    try {
      expect(() => worker.postMessage({ sem: new mp.Semaphore() })).toThrow(message('Semaphore'));
    } finally {
      await worker.terminate();
    }
  });
});

describe('inside a spawning context', () => {
  test('user classes with [reduce], library objects and shared references rebuild in the child', async () => {
    const file = path.join(tmpDir('mp-red-'), 'out.json');
    const lock = new mp.Lock();
    const p = new mp.Process({ target: describeArgs, args: [file, new Point(3, 4), lock, { again: lock, value: [1, 'two', { three: new Map([[3, 'three']]) }] }] });
    await p.start();
    await p.join();
    expect(p.exitCode).toBe(0);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({
      pointIsPoint: true, norm: 5, lockAcquired: true, sameLock: true, nestedValue: [1, 'two', { three: [[3, 'three']] }],
    });
  });

  test('functions and symbols cannot travel: PicklingError at start()', () => {
    const p = new mp.Process({ target: describeArgs, args: [() => 1] });
    expect(() => p.start()).toThrow(mp.PicklingError);
    expect(() => new mp.Process({ target: describeArgs, args: [Symbol('s')] }).start()).toThrow(/symbol/);
  });
});

describe('fork() interop', () => {
  test('a forked module inherits a Lock and a Queue; both sides count exactly under the lock', async () => {
    const file = path.join(tmpDir('mp-fork-'), 'count');
    fs.writeFileSync(file, '0');
    const lock = new mp.Lock();
    const queue = new mp.Queue();
    const child = mp.fork(path.join(__dirname, 'fixtures', 'fork_child.js'), [], { inherit: { lock, file, n: 500, queue } });
    const reply = new Promise((resolve) => child.once('message', resolve));
    for (let i = 0; i < 500; i++) {
      await lock.acquire();
      fs.writeFileSync(file, String(Number(fs.readFileSync(file, 'utf8')) + 1));
      lock.release();
    }
    const msg = await reply;
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    expect(msg).toMatchObject({ done: true, same: true, parentPid: process.pid });
    expect(msg.name).toMatch(/^Process-\d+$/);
    expect(Number(fs.readFileSync(file, 'utf8'))).toBe(1000);
    expect(await queue.get({ timeout: 10000 })).toEqual({ from: 'fork', pid: child.pid });
    queue.close();
  });

  test('inherited() outside a forked child is a typed error', () => {
    expect(() => mp.inherited()).toThrow(expect.objectContaining({ code: 'ERR_MP_NOT_A_CHILD' }));
  });
});
