'use strict';
/**
 * Reading a semaphore's value where the platform can (Linux, Windows) and where it cannot (macOS, and Linux builds
 * with MULTIPROC_EMULATE_DARWIN): there getValue() and qsize() must throw NotImplementedError (the addon's own
 * value(): ENOSYS from sem_getvalue), and the count is checked another way instead of being skipped.
 */
const { NotImplementedError } = require('../dist');
const { native } = require('../dist/native');

/** false on macOS (and its emulation): no sem_getvalue. */
const canReadValue = native.features.semGetValue;

/** The number of free units, found by taking them all (`take` until it fails) and giving them back. */
function countByTaking(take, give) {
  let taken = 0;
  while (take()) taken++;
  for (let i = 0; i < taken; i++) give();
  return taken;
}

/** Asserts that a library Semaphore holds exactly `n` units: getValue() where the platform has it; always by taking. */
function expectSemaphoreValue(sem, n) {
  if (canReadValue) expect(sem.getValue()).toBe(n);
  else expect(() => sem.getValue()).toThrow(NotImplementedError);
  expect(countByTaking(() => sem.acquireSync({ blocking: false }), () => sem.release())).toBe(n);
}

/** The same for the addon's semaphore object. */
function expectNativeValue(sem, n) {
  if (canReadValue) expect(sem.value()).toBe(n);
  else expect(() => sem.value()).toThrow(expect.objectContaining({ code: 'ENOSYS', syscall: 'sem_getvalue' }));
  expect(countByTaking(() => sem.tryWait(), () => sem.post())).toBe(n);
}

/** Asserts that `queue` holds `n` unclaimed items: qsize() where the platform has it, and empty() everywhere. */
function expectQueueSize(queue, n) {
  if (canReadValue) expect(queue.qsize()).toBe(n);
  else expect(() => queue.qsize()).toThrow(NotImplementedError);
  expect(queue.empty()).toBe(n === 0);
}

module.exports = { canReadValue, expectSemaphoreValue, expectNativeValue, expectQueueSize };
