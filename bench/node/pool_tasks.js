// Task functions for bench/node/pool.js; pool workers load this module by reference.
'use strict';

/** The trivial task: Python's abs. */
function abs(x) {
  return Math.abs(x);
}

/** About 1 ms of CPU: spins until 1 ms has passed, as bench/py/pool.py's busy() does. */
function busy(x) {
  const end = performance.now() + 1;
  while (performance.now() < end);
  return x;
}

/** A string task: Python's str.upper. */
function upper(s) {
  return s.toUpperCase();
}

/** Lets the start measurement know a worker is ready. */
function signalReady(ready) {
  ready.release();
}

module.exports = { abs, busy, signalReady, upper };
