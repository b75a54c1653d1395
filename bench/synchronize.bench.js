// Locks and processes: multiproc vs Python's multiprocessing (spawn context), same workloads, same run.
'use strict';
const { versus } = require('./harness');

module.exports = {
  title: 'Lock & Process',
  workloads: [
    { name: 'uncontended acquireSync+release pair', unit: 'ns/pair', better: 'lower', goal: '≤ 0.6× Python time',
      run: versus('synchronize', 'uncontended', [1000000]) },
    { name: 'uncontended async acquire+release pair (Python: sync)', unit: 'ns/pair', better: 'lower', goal: 'report',
      run: versus('synchronize', 'uncontendedAsync', [200000], 'uncontended', [1000000]) },
    { name: 'contended lock, 2 processes', unit: 'ops/s', better: 'higher', goal: '≥ 1×',
      run: versus('synchronize', 'contended', [2, 200000]) },
    { name: 'contended lock, 4 processes', unit: 'ops/s', better: 'higher', goal: '≥ 1×',
      run: versus('synchronize', 'contended', [4, 100000]) },
    { name: 'cross-process wake, median (ours: async acquire)', unit: 'µs', better: 'lower', goal: '< 1000 µs',
      run: versus('synchronize', 'wake', [2000, 'median']) },
    { name: 'cross-process wake, p99 (ours: async acquire)', unit: 'µs', better: 'lower', goal: 'report',
      run: versus('synchronize', 'wake', [2000, 'p99']) },
    { name: 'Process start+join (NODE_EXTRA_CA_CERTS unset)', unit: 'ms', better: 'lower', goal: 'report',
      run: versus('synchronize', 'startJoin', [10], 'start_join') },
  ],
};
