'use strict';
// Manager calls on the wire: order of pipelined calls, batching into one write, and what faults do to calls in flight.
const { Manager, Process } = require('../dist');
const { native } = require('../dist/native');
const targets = require('./fixtures/manager_call_targets');

jest.setTimeout(60000);

describe('calls in flight', () => {
  let manager;
  beforeAll(async () => {
    manager = new Manager();
    await manager.start();
  });
  afterAll(() => manager.shutdown());

  test('pipelined calls keep their order: each get sees the set issued before it', async () => {
    const d = await manager.dict();
    const l = await manager.list();
    const calls = [];
    for (let i = 0; i < 2000; i++) {
      calls.push(d.set('k', i), d.get('k'), l.append(i));
    }
    const results = await Promise.all(calls);
    for (let i = 0; i < 2000; i++) expect(results[3 * i + 1]).toBe(i);
    expect(await l.toArray()).toEqual(Array.from({ length: 2000 }, (_, i) => i));
  });

  test('calls answered at once, calls that fail and a call that waits share one connection: each gets its own answer', async () => {
    const d = await manager.dict();
    const ev = await manager.Event();
    const waiting = ev.wait(); // answered only once set() runs, after everything below
    const calls = [];
    for (let i = 0; i < 500; i++) {
      calls.push(d.set('k', i), d.get('k'), d.pop('missing').then(() => 'resolved', (err) => err.constructor.name));
    }
    const results = await Promise.all(calls);
    for (let i = 0; i < 500; i++) expect(results.slice(3 * i + 1, 3 * i + 3)).toEqual([i, 'ValueError']);
    await ev.set();
    expect(await waiting).toBe(true);
  });

  test('values the compact encoding carries and those it leaves to v8 come back equal', async () => {
    const l = await manager.list();
    const values = [0, -0, NaN, Infinity, 2 ** 53 + 1, 1.5, '', 'é😀', 'x'.repeat(5000), '\ud800', true, false, null,
      undefined, [1, 'a', null], [[1]], 10n, new Map([[1, 2]]), { a: 1 }];
    for (const v of values) await l.append(v);
    const back = await l.toArray();
    expect(back.length).toBe(values.length);
    for (const [i, v] of values.entries()) expect(back[i]).toEqual(v);
    expect(Object.is(back[1], -0)).toBe(true);
  });

  // Writes are counted on the connection's own channel: another connection of this process writing meanwhile (here a
  // second manager's call; before, a proxy's decref) is not one of them. A process-wide count saw 2 once in a while.
  (native.platform === 'posix' ? test : test.skip)('calls made without awaiting in between go out in one write', async () => {
    const other = new Manager();
    await other.start();
    try {
      const d = await manager.dict(new Map([['key', 1]]));
      const elsewhere = await other.dict(new Map([['key', 2]]));
      await Promise.all([d.get('key'), elsewhere.get('key')]); // both connections are open
      const channel = d._connection._channel;
      const before = channel._writes;
      const [results, second] = await Promise.all([
        Promise.all(Array.from({ length: 100 }, () => d.get('key'))), elsewhere.get('key')]);
      expect(channel._writes - before).toBe(1);
      expect(results).toEqual(Array(100).fill(1));
      expect(second).toBe(2);
    } finally {
      await other.shutdown();
    }
  });

  test('a client SIGKILLed mid-batch: the server applied a prefix of its calls, in order, and serves on', async () => {
    for (const delayMs of [1, 7, 23]) {
      const l = await manager.list();
      const ready = await manager.Queue();
      const victim = new Process({ target: targets.appendUntilKilled, args: [l, ready, delayMs] });
      await victim.start();
      expect(await ready.get({ timeout: 20000 })).toBe('appending');
      await victim.join();
      expect(victim.exitCode).toBe(-9);
      const got = await l.toArray();
      expect(got).toEqual(Array.from({ length: got.length }, (_, i) => i));
    }
    const info = await manager.debugInfo();
    expect(info.connections).toBeGreaterThanOrEqual(1);
  });
});

test('a server SIGKILLed with calls in flight: every pending call rejects with ERR_MP_MANAGER_CONNECTION', async () => {
  const manager = new Manager();
  await manager.start();
  const d = await manager.dict(new Map([['key', 1]]));
  const event = await manager.Event();
  const waiting = event.wait(); // waits in the server
  const inFlight = Array.from({ length: 500 }, () => d.get('key'));
  process.kill(manager.pid, 'SIGKILL');
  const outcomes = await Promise.allSettled([waiting, ...inFlight]);
  const rejected = outcomes.filter((o) => o.status === 'rejected');
  expect(rejected.length).toBeGreaterThan(0);
  expect(outcomes[0].status).toBe('rejected');
  for (const o of rejected) expect(o.reason.code).toBe('ERR_MP_MANAGER_CONNECTION');
  for (const o of outcomes) if (o.status === 'fulfilled') expect(o.value).toBe(1);
  await expect(d.get('key')).rejects.toMatchObject({ code: 'ERR_MP_MANAGER_CONNECTION' });
  await manager.shutdown().catch(() => undefined);
});
