// Task functions of the Pool port (CPython's module-level sqr, mul, identity, raising, ... of
// Lib/test/_test_multiprocessing.py). Workers find them by reference, so they live in a module of their own.
'use strict';
const { setTimeout: sleep } = require('node:timers/promises');
const mp = require('../../dist');

/** CPython's sqr(x, wait): x*x after `waitMs` (the tests that need a slow task pass one). */
async function sqr(x, waitMs = 0) {
  if (waitMs > 0) await sleep(waitMs);
  return x * x;
}

let started;
/** Initializer: keeps the Event that announceThenSleep sets. */
function keepEvent(event) {
  started = event;
}

/** Sets the initializer's Event, then sleeps `ms`: a slow task known to have started. */
async function announceThenSleep(ms) {
  started.set();
  await sleep(ms);
}

const mul = (x, y) => x * y;

const identity = (x) => x;

/** Python's int(text): a number, or ValueError for text that is not one. */
function toInt(text) {
  if (!/^[+-]?\d+$/.test(String(text).trim())) throw new mp.ValueError(`invalid literal for int(): '${text}'`);
  return Number.parseInt(text, 10);
}

/** CPython's raise_large_valuerror: a ValueError with a 1 MiB message, after `waitMs`. */
async function raiseLargeValueError(waitMs) {
  await sleep(waitMs);
  throw new mp.ValueError('x'.repeat(1024 * 1024));
}

/** CPython's raising(): a KeyError. */
function raising() {
  const err = new Error("'key'");
  err.name = 'KeyError';
  throw err;
}

/** CPython's unpickleable_result(): a result that cannot travel back. */
const unpickleableResult = () => () => 42;

/** CPython's _test_traceback: the line the remote stack must show. */
function throwRuntimeError() {
  throw new mp.RuntimeError('123'); // some comment
}

/** Which worker ran the task. */
const workerPid = () => process.pid;

module.exports = { sqr, keepEvent, announceThenSleep, mul, identity, toInt, raiseLargeValueError, raising, unpickleableResult, throwRuntimeError, workerPid };
