// The forms every ported CPython class runs in, as CPython runs each class per type ('processes', 'manager'): local
// kernel objects through their async API, the same objects through their Sync twins, and a Manager's proxies.
// `ops(mode)` gives one vocabulary over them, so one test body (and one child target) serves every variant.
// Loaded by the jest files and by the child processes (targets.js): no jest globals here.
'use strict';
const mp = require('../../dist');

// 'manager' keeps its locks, semaphores and queues in the kernel where it can (Linux: proxies use them directly);
// 'managerServer' (kernelObjects: false) keeps every object in the server, as on macOS, Windows and over TCP. Events
// and barriers live in the server either way: their classes run
// with one manager variant (ONE_MANAGER_VARIANT).
const MODES = ['async', 'sync', 'manager', 'managerServer'];
const ONE_MANAGER_VARIANT = ['async', 'sync', 'manager'];
const LABELS = { async: 'processes (async)', sync: 'processes (Sync)', manager: 'manager',
  managerServer: 'manager, objects in the server' };
const viaManager = (mode) => mode === 'manager' || mode === 'managerServer';

/** Options for a wait that may have no timeout (Python's `None`). */
const timed = (timeout) => (timeout === undefined || timeout === null ? {} : { timeout });

/** The operations of one mode; every result may be awaited (Sync forms return plain values). */
function ops(mode) {
  const sync = mode === 'sync';
  const local = !viaManager(mode);
  return {
    mode,
    acquire: (x, { blocking = true, timeout } = {}) => {
      const options = { blocking, ...(blocking ? timed(timeout) : {}) };
      return sync ? x.acquireSync(options) : x.acquire(options);
    },
    release: (x) => x.release(),
    getValue: (x) => x.getValue(),
    wait: (x, timeout) => (sync ? x.waitSync(timed(timeout)) : x.wait(timed(timeout))),
    waitFor: (cond, predicate, timeout) => (sync ? cond.waitForSync(predicate, timed(timeout)) : cond.waitFor(predicate, timed(timeout))),
    notify: (cond, n) => (n === undefined ? cond.notify() : cond.notify(n)),
    notifyAll: (cond) => cond.notifyAll(),
    set: (event) => event.set(),
    clear: (event) => event.clear(),
    isSet: (event) => event.isSet(),
    abort: (barrier) => barrier.abort(),
    reset: (barrier) => barrier.reset(),
    parties: async (barrier) => barrier.parties,
    nWaiting: async (barrier) => barrier.nWaiting,
    broken: async (barrier) => barrier.broken,
    put: (q, item, { block = true, timeout } = {}) => {
      if (sync) return q.putSync(item, { block, ...(block ? timed(timeout) : {}) });
      if (local) return block ? q.put(item, timed(timeout)) : q.putNowait(item);
      return q.put(item, { block, ...(block ? timed(timeout) : {}) });
    },
    get: (q, { block = true, timeout } = {}) => {
      if (sync) return q.getSync({ block, ...(block ? timed(timeout) : {}) });
      if (local) return block ? q.get(timed(timeout)) : q.getNowait();
      return q.get({ block, ...(block ? timed(timeout) : {}) });
    },
    putNowait: (q, item) => q.putNowait(item),
    getNowait: (q) => q.getNowait(),
    qsize: (q) => q.qsize(),
    empty: (q) => q.empty(),
    full: (q) => q.full(),
    taskDone: (q) => q.taskDone(),
    join: (q) => (sync ? q.joinSync() : q.join()),
  };
}

/** Python's `with lock:` over `ops`. */
async function holding(o, lock, fn) {
  await o.acquire(lock);
  try {
    return await fn();
  } finally {
    await o.release(lock);
  }
}

/** A shared integer: a sharedctypes Value locally, a manager Value through a proxy. */
const valueGet = async (v) => ('value' in v ? v.value : v.get());
const valueSet = async (v, x) => ('value' in v ? (v.value = x) : v.set(x));

/** CPython's DummyList, a counter that grows by append(): shared memory under a lock, or a manager list. */
async function countAppend(counter) {
  if (typeof counter.getObj !== 'function') return counter.push(true);
  const lock = counter.getLock();
  lock.acquireSync();
  try {
    counter.getObj()[0] += 1;
  } finally {
    lock.release();
  }
}
const countLength = async (counter) => (typeof counter.getObj === 'function' ? counter.value : counter.length);

/**
 * The objects of one variant. `manager()` returns the started Manager of the test file (manager mode only).
 * Factories are async because a Manager's are.
 */
function factories(mode, manager) {
  if (viaManager(mode)) {
    return {
      Lock: () => manager().Lock(),
      RLock: () => manager().RLock(),
      Semaphore: (n) => manager().Semaphore(n),
      BoundedSemaphore: (n) => manager().BoundedSemaphore(n),
      Condition: (lock) => manager().Condition(lock),
      Event: () => manager().Event(),
      Barrier: (parties, { timeout } = {}) => manager().Barrier(parties, timeout),
      Queue: (maxsize) => manager().Queue(maxsize),
      JoinableQueue: (maxsize) => manager().JoinableQueue(maxsize),
      Value: (typecode, value) => manager().Value(typecode, value),
      Counter: () => manager().list(),
    };
  }
  return {
    Lock: async () => new mp.Lock(),
    RLock: async () => new mp.RLock(),
    Semaphore: async (n) => new mp.Semaphore(n),
    BoundedSemaphore: async (n) => new mp.BoundedSemaphore(n),
    Condition: async (lock) => new mp.Condition(lock),
    Event: async () => new mp.Event(),
    Barrier: async (parties, { action, timeout } = {}) => new mp.Barrier(parties, action, timeout),
    Queue: async (maxsize) => new mp.Queue(maxsize),
    JoinableQueue: async (maxsize) => new mp.JoinableQueue(maxsize),
    Value: async (typecode, value) => mp.Value(typecode, value),
    Counter: async () => mp.Value('i', 0),
  };
}

/** Python's get_value(): the semaphore's value, or undefined where the platform cannot read it (macOS). */
async function valueIfImplemented(o, sem) {
  try {
    return await o.getValue(sem);
  } catch (err) {
    if (err.name === 'NotImplementedError') return undefined;
    throw err;
  }
}

/** A Connection's calls in one mode: the async ones, or their Sync twins (every result may be awaited). */
function connOps(mode) {
  const sync = mode === 'sync';
  return {
    send: (c, value) => (sync ? c.sendSync(value) : c.send(value)),
    recv: (c) => (sync ? c.recvSync() : c.recv()),
    sendBytes: (c, ...args) => (sync ? c.sendBytesSync(...args) : c.sendBytes(...args)),
    recvBytes: (c) => (sync ? c.recvBytesSync() : c.recvBytes()),
    recvBytesInto: (c, ...args) => (sync ? c.recvBytesIntoSync(...args) : c.recvBytesInto(...args)),
    poll: (c, timeout) => (sync ? c.pollSync(timeout) : c.poll(timeout)),
  };
}

module.exports = { connOps, MODES, ONE_MANAGER_VARIANT, LABELS, viaManager, ops, holding, valueGet, valueSet, countAppend, countLength, factories, valueIfImplemented };
