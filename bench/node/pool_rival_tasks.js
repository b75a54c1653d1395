// The same task functions for each pool in bench/node/pool_rivals.js: multiproc finds them by reference,
// piscina by export name, and workerpool registers them when this file runs as its worker script.
'use strict';

const { abs, busy } = require('./pool_tasks');

/** A payload's length: the payload travels there, a number comes back. */
function size(payload) {
  return payload.length;
}

module.exports = { abs, busy, size };

if (process.argv.includes('--workerpool-worker')) require('workerpool').worker(module.exports);
