'use strict';
/**
 * Reading a semaphore's value where the platform can (Linux, Windows) and where it cannot (macOS, and Linux builds
 * with MULTIPROC_EMULATE_DARWIN): there getValue() and qsize() must throw NotImplementedError, and the count is
 * checked another way instead of being skipped.
 */
const { NotImplementedError } = require('../dist');
const { native } = require('../dist/native');

/** false on macOS (and its emulation): no sem_getvalue. */
const canReadValue = native.features.semGetValue;

/** Asserts that `sem` holds exactly `n` units: getValue() where the platform has it; everywhere by taking them all. */
function expectSemaphoreValue(sem, n) {
  if (canReadValue) expect(sem.getValue()).toBe(n);
  else expect(() => sem.getValue()).toThrow(NotImplementedError);
  let taken = 0;
  while (sem.acquireSync({ blocking: false })) taken++;
  for (let i = 0; i < taken; i++) sem.release();
  expect(taken).toBe(n);
}

/** Asserts that `queue` holds `n` unclaimed items: qsize() where the platform has it, and empty() everywhere. */
function expectQueueSize(queue, n) {
  if (canReadValue) expect(queue.qsize()).toBe(n);
  else expect(() => queue.qsize()).toThrow(NotImplementedError);
  expect(queue.empty()).toBe(n === 0);
}

module.exports = { canReadValue, expectSemaphoreValue, expectQueueSize };
