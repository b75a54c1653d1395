'use strict';
// Gaps CPython's own tests found (issue #18 §2), one test each, named after the failure it prevents.
const {
  Lock, Manager, Pipe, Process, Queue, RLock, currentProcess,
} = require('../dist');
const p = require('./fixtures/parity_targets');

async function started(target, ...args) {
  const proc = new Process({ target, args });
  await proc.start();
  return proc;
}

test('join-negative-timeout: p.join(-1) returns at once, as a zero timeout (it threw OutOfRangeError)', async () => {
  const [a, b] = Pipe();
  const child = await started(p.waitForInterrupt, b, false);
  await a.recv();
  await child.join(-1);
  expect(child.exitCode).toBeNull();
  a.sendSync('go');
  await child.join();
  a.close();
  b.close();
});

test('empty-after-close: empty() on a closed queue that was never used is true (it threw)', () => {
  const q = new Queue();
  q.close();
  expect(q.empty()).toBe(true);
  const used = new Queue();
  used.putSync(1);
  used.getSync();
  used.close();
  expect(() => used.empty()).toThrow(expect.objectContaining({ code: 'ERR_MP_QUEUE_CLOSED' }));
});

test('lock-locked: Lock.locked() and RLock.locked() say whether anyone holds it', () => {
  for (const lock of [new Lock(), new RLock()]) {
    expect(lock.locked()).toBe(false);
    lock.acquireSync();
    expect(lock.locked()).toBe(true);
    lock.release();
    expect(lock.locked()).toBe(false);
  }
});

test('process-close: close() refuses a running process, then releases it; later calls are ValueError', async () => {
  const [a, b] = Pipe();
  const child = await started(p.waitForInterrupt, b, false);
  await a.recv();
  expect(() => child.close()).toThrow(expect.objectContaining({ code: 'ERR_MP_PROCESS_STATE' }));
  a.sendSync('go');
  await child.join();
  child.close();
  child.close(); // idempotent, as in Python
  expect(() => child.isAlive()).toThrow(expect.objectContaining({ message: 'process object is closed' }));
  expect(() => child.exitCode).toThrow(expect.objectContaining({ code: 'ERR_MP_PROCESS_STATE' }));
  await expect(child.join()).rejects.toMatchObject({ code: 'ERR_MP_PROCESS_STATE' });
  a.close();
  b.close();
});

test.each([[true, 7], [false, -2]])('process-interrupt: interrupt() sends SIGINT (handler in the child: %s)', async (handle, code) => {
  const [a, b] = Pipe();
  const child = await started(p.waitForInterrupt, b, handle);
  await a.recv();
  child.interrupt();
  await child.join();
  expect(child.exitCode).toBe(code);
  a.close();
  b.close();
});

test('authkey-bytes: currentProcess().authkey is a Buffer (bytes) of 32 bytes, the same in a child', async () => {
  const { authkey } = currentProcess();
  expect(Buffer.isBuffer(authkey)).toBe(true);
  expect(authkey.length).toBe(32);
  const [a, b] = Pipe();
  const child = await started(p.reportAuthkey, b);
  expect(await a.recv()).toEqual({ isBuffer: true, hex: authkey.toString('hex') });
  await child.join();
  a.close();
  b.close();
});

describe('Manager', () => {
  let manager;
  beforeAll(async () => {
    manager = new Manager();
    await manager.start();
  });
  afterAll(() => manager.shutdown());

  test('proxy-iteration: for await…of over a list proxy (items) and a dict proxy (entries, as a Map)', async () => {
    const list = await manager.list([1, 'two', { three: 3 }]);
    const items = [];
    for await (const item of list) items.push(item);
    expect(items).toEqual([1, 'two', { three: 3 }]);
    const dict = await manager.dict();
    await dict.set('a', 1);
    await dict.set('b', [2]);
    const entries = [];
    for await (const entry of dict) entries.push(entry);
    expect(entries).toEqual([['a', 1], ['b', [2]]]);
  });

  test("manager-value-typecode: manager.Value takes any typecode ('c', 'u', a ctypes name), as CPython's", async () => {
    for (const [typecode, value] of [['c', 'x'], ['u', 'é'], ['i', 3], ['ctypes.c_wchar_p', 'text'], ['whatever', { a: 1 }]]) {
      const v = await manager.Value(typecode, value);
      expect(await v.get()).toEqual(value);
      expect(await v.typecode()).toBe(typecode);
    }
  });
});
