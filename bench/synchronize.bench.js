// Locks and processes: multiproc vs Python's multiprocessing (spawn context), same workloads, same run.
'use strict';
const { versus } = require('./harness');

module.exports = {
  title: 'Lock & Process',
  workloads: [
    { name: 'uncontended acquireSync+release pair (kill-safe, the default)', unit: 'ns/pair', better: 'lower',
      goal: '≤ 0.6× Python time', run: versus('synchronize', 'uncontended', [1000000]) },
    { name: 'uncontended acquireSync+release pair, recovery: false (an OS semaphore: the figure before #16)',
      unit: 'ns/pair', better: 'lower', goal: 'kill-safe row within 1.1× of this',
      run: versus('synchronize', 'uncontended', [1000000, 'plain'], 'uncontended', [1000000]) },
    { name: 'holder SIGKILLed → waiter blocked in acquireSync() holds it, median of 5 (Python: never)', unit: 'ms',
      better: 'lower', goal: '< 100 ms', run: versus('synchronize', 'takeover', [5], null) },
    { name: 'uncontended async acquire+release pair (Python: sync)', unit: 'ns/pair', better: 'lower', goal: 'report',
      run: versus('synchronize', 'uncontendedAsync', [200000], 'uncontended', [1000000]) },
    { name: 'contended lock, 2 processes', unit: 'ops/s', better: 'higher', goal: '≥ 1×',
      run: versus('synchronize', 'contended', [2, 200000]) },
    { name: 'contended lock, 4 processes', unit: 'ops/s', better: 'higher', goal: '≥ 1×',
      run: versus('synchronize', 'contended', [4, 100000]) },
    { name: 'cross-process wake, median (ours: async acquire)', unit: 'µs', better: 'lower', goal: '≤ 10 µs',
      run: versus('synchronize', 'wake', [2000, 'median']) },
    { name: 'cross-process wake, p99 (ours: async acquire)', unit: 'µs', better: 'lower', goal: '≤ 50 µs',
      run: versus('synchronize', 'wake', [2000, 'p99']) },
    { name: 'create, use and drop 80,000 Locks (ours: collected)', unit: 's', better: 'lower', goal: 'report',
      run: versus('synchronize', 'createDrop', [80000, 'seconds'], 'create_drop') },
    { name: 'mappings after 80,000 dropped Locks (ours: collected)', unit: 'lines', better: 'lower', goal: 'flat',
      run: versus('synchronize', 'createDrop', [80000, 'mappings'], 'create_drop') },
    { name: 'create, use and close 80,000 Locks (Python: dropped)', unit: 's', better: 'lower', goal: 'report',
      run: versus('synchronize', 'createDrop', [80000, 'seconds', 'closed'], 'create_drop', [80000, 'seconds']) },
    { name: 'exit of a process holding 40,000 Locks', unit: 's', better: 'lower', goal: 'linear',
      run: versus('synchronize', 'exitAfter', [40000], 'exit_after') },
    { name: 'Process start+join (NODE_EXTRA_CA_CERTS unset)', unit: 'ms', better: 'lower', goal: 'report',
      run: versus('synchronize', 'startJoin', [10], 'start_join') },
  ],
};
