// Named locks for unrelated processes: multiproc's Lock.open vs proper-lockfile, the npm package used for
// cross-process locks today (its figures go in the rival column). Python has no named lock, and its
// multiprocessing.Lock is never recovered from a killed holder (python/cpython#88304).
'use strict';
const { node } = require('./harness');

const rival = (workload, ours, theirs) => async () => ({
  ours: await node('named_locks.js', workload, ...ours),
  python: await node('named_locks.js', workload, ...theirs),
});

module.exports = {
  title: 'Named lock (rival: proper-lockfile)',
  workloads: [
    { name: 'uncontended acquireSync+release (rival: lockSync+release)', unit: 'µs/pair', better: 'lower', goal: 'report',
      run: async () => {
        const m = await rival('pair', [20000, 'ours'], [2000, 'rival'])();
        return { ours: m.ours / 1000, python: m.python / 1000 };
      } },
    { name: 'holder SIGKILLed → waiter in acquireSync() holds it (rival: stale 2 s, its minimum)', unit: 'ms',
      better: 'lower', goal: '< 100 ms', run: rival('takeover', ['ours-sync'], ['rival']) },
    { name: 'holder SIGKILLed → waiter in acquire() holds it (rival: stale 2 s)', unit: 'ms', better: 'lower',
      goal: '< 100 ms', run: rival('takeover', ['ours-async'], ['rival']) },
  ],
};
