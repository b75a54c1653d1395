'use strict';
// examples/ring_buffer.ts: a single-producer/single-consumer ring in shared memory between two processes.
const { consume } = require('../dist-examples/examples/ring_buffer');

test('20,000 items cross a 64-slot ring from a child process: all of them, in order', async () => {
  const n = 20000;
  expect(await consume(n)).toEqual({ items: n, sum: (n * (n + 1)) / 2, ordered: true });
}, 60000);
