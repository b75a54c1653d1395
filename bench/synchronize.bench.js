// Locks and processes: multiproc vs Python's multiprocessing (spawn context), same workloads, same run.
'use strict';
const { python, node } = require('./harness');

const pair = (ours, theirs) => async () => ({ ours: await ours(), python: theirs ? await theirs() : null });

module.exports = {
  title: 'Lock & Process',
  workloads: [
    { name: 'uncontended acquireSync+release pair', unit: 'ns/pair', better: 'lower', goal: '≤ 0.6× Python time',
      run: pair(() => node('synchronize.js', 'uncontended', 1000000), () => python('synchronize.py', 'uncontended', 1000000)) },
    { name: 'uncontended async acquire+release pair (Python: sync)', unit: 'ns/pair', better: 'lower', goal: 'report',
      run: pair(() => node('synchronize.js', 'uncontendedAsync', 200000), () => python('synchronize.py', 'uncontended', 1000000)) },
    { name: 'contended lock, 2 processes', unit: 'ops/s', better: 'higher', goal: '≥ 1×',
      run: pair(() => node('synchronize.js', 'contended', 2, 200000), () => python('synchronize.py', 'contended', 2, 200000)) },
    { name: 'contended lock, 4 processes', unit: 'ops/s', better: 'higher', goal: '≥ 1×',
      run: pair(() => node('synchronize.js', 'contended', 4, 100000), () => python('synchronize.py', 'contended', 4, 100000)) },
    { name: 'cross-process wake, median (ours: async acquire)', unit: 'µs', better: 'lower', goal: '< 1000 µs',
      run: pair(() => node('synchronize.js', 'wake', 2000, 'median'), () => python('synchronize.py', 'wake', 2000, 'median')) },
    { name: 'cross-process wake, p99 (ours: async acquire)', unit: 'µs', better: 'lower', goal: 'report',
      run: pair(() => node('synchronize.js', 'wake', 2000, 'p99'), () => python('synchronize.py', 'wake', 2000, 'p99')) },
    { name: 'Process start+join (NODE_EXTRA_CA_CERTS unset)', unit: 'ms', better: 'lower', goal: 'report',
      run: pair(() => node('synchronize.js', 'startJoin', 10), () => python('synchronize.py', 'start_join', 10)) },
  ],
};
