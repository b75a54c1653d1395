// CPython's _TestMyManager, _TestRemoteManager, _TestManagerRestart and TestManagerExceptions
// (Lib/test/_test_multiprocessing.py), ported: behaviour, not text. Custom types are registered on a BaseManager
// subclass with factories the server loads by reference (manager_types.js).
'use strict';
const crypto = require('node:crypto');
const { ManagerError, PicklingError, ValueError } = require('../../dist');
const { cpython, deviation, notApplicable, spawn, joinOk } = require('./harness');
const { MyManager, QueueManager, QueueManager2, putter } = require('./manager_types');

/** Whether a process is gone (CPython checks the manager's exit code; the server is not our child here). */
function gone(pid) {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

/** CPython's common(): exposed methods, a remote error, _callmethod, and an iterator proxy. */
async function common(manager) {
  const foo = await manager.Foo();
  const bar = await manager.Bar();
  const baz = await manager.baz();
  expect(['f', 'g', '_h'].filter((name) => typeof foo[name] === 'function')).toEqual(['f', 'g']);
  expect(['f', 'g', '_h'].filter((name) => typeof bar[name] === 'function')).toEqual(['f', '_h']);
  expect(await foo.f()).toBe('f()');
  await expect(foo.g()).rejects.toBeInstanceOf(ValueError);
  expect(await foo._callMethod('f')).toBe('f()');
  const notExposed = await foo._callMethod('_h').catch((e) => e); // CPython: RemoteError
  expect(notExposed).toBeInstanceOf(ManagerError);
  expect(notExposed.code).toBe('ERR_MP_MANAGER_UNKNOWN_METHOD');
  expect(await bar.f()).toBe('f()');
  expect(await bar._h()).toBe('_h()');
  expect(await bar._callMethod('f')).toBe('f()');
  expect(await bar._callMethod('_h')).toBe('_h()');
  const squares = [];
  for await (const x of baz) squares.push(x);
  expect(squares).toEqual([0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
}

describe('_TestMyManager [manager]', () => {
  deviation('test_mymanager', 'notExposed', async () => {
    const manager = new MyManager();
    await manager.start();
    await common(manager);
    const { pid } = manager;
    await manager.shutdown();
    expect(gone(pid)).toBe(true);
  });

  notApplicable('test_mymanager_context', "JavaScript's `using` has no enter step to start a manager in: start() comes first, as in test_mymanager_context_prestarted");

  deviation('test_mymanager_context_prestarted', 'notExposed', async () => {
    const manager = new MyManager();
    await manager.start();
    const { pid } = manager;
    try {
      await common(manager);
    } finally {
      await manager[Symbol.asyncDispose](); // the end of `await using manager = ...`
    }
    expect(gone(pid)).toBe(true);
  });
});

describe('_TestRemoteManager [manager]', () => {
  // CPython's values (xmlrpclib turns the tuple into a list, as v8.serialize keeps an array an array).
  const VALUES = ['hello world', null, true, 2.25, 'hallå världen', 'привіт світ', Buffer.from('hallå världen', 'latin1')];

  cpython('test_remote', async () => {
    const authkey = crypto.randomBytes(32);
    const manager = new QueueManager({ address: ['127.0.0.1', 0], authkey });
    await manager.start();
    try {
      const p = await spawn('async', putter, ['QueueManager2', manager.address, authkey, VALUES], { daemon: true });
      const manager2 = new QueueManager2({ address: manager.address, authkey });
      await manager2.connect();
      const queue = await manager2.getQueue();
      expect(await queue.get()).toEqual(VALUES);
      await joinOk(p);
      // A value that cannot be serialized (CPython: xmlrpclib and time.sleep).
      await expect(queue.put(() => {})).rejects.toBeInstanceOf(PicklingError);
      await manager2.shutdown();
    } finally {
      await manager.shutdown();
    }
  });
});

describe('_TestManagerRestart [manager]', () => {
  // A manager started again at the address of one that just shut down (CPython retries once after EADDRINUSE; the
  // server's listening socket here reuses the address, so no retry is needed).
  cpython('test_rapid_restart', async () => {
    const authkey = crypto.randomBytes(32);
    const manager = new QueueManager({ address: ['127.0.0.1', 0], authkey });
    await manager.start();
    const address = manager.address;
    try {
      await joinOk(await spawn('async', putter, ['QueueManager', address, authkey, 'hello world']));
      const queue = await manager.getQueue();
      expect(await queue.get()).toBe('hello world');
    } finally {
      await manager.shutdown();
    }
    const again = new QueueManager({ address, authkey });
    await again.start();
    expect(again.address).toEqual(address);
    await again.shutdown();
  });
});

describe('TestManagerExceptions [manager]', () => {
  notApplicable('test_queue_get', 'it checks that a caught Empty holds no reference cycle for CPython\'s reference counting; V8 collects cycles');
  notApplicable('test_dispatch', 'it calls multiprocessing.managers.dispatch(), an internal function with no counterpart here');
});
