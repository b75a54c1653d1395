// Manager round trips: multiproc's Manager against Python's SyncManager (spawn context), same machine, same run.
'use strict';
const { node, python } = require('./harness');

const N = 5000;

module.exports = {
  title: 'Manager',
  workloads: [
    {
      name: 'Lock acquire+release round trip',
      unit: 'µs',
      better: 'lower',
      goal: '≤ 0.33× Python (≥ 3.03×)',
      run: async () => ({ ours: await node('managers.js', 'lock', N), python: await python('managers.py', 'lock', N) }),
    },
    {
      name: 'Queue put/get, small messages, each awaited',
      unit: 'msg/s',
      better: 'higher',
      goal: '≥ 3×',
      run: async () => ({ ours: await node('managers.js', 'queue', N), python: await python('managers.py', 'queue', N) }),
    },
    {
      name: 'Queue put/get, small messages, pipelined',
      unit: 'msg/s',
      better: 'higher',
      goal: '≥ 3× (Python: sequential, its proxies block)',
      run: async () => ({ ours: await node('managers.js', 'queue-pipelined', N), python: await python('managers.py', 'queue', N) }),
    },
    {
      name: 'dict set+get round trip',
      unit: 'µs',
      better: 'lower',
      goal: 'report',
      run: async () => ({ ours: await node('managers.js', 'dict', N), python: await python('managers.py', 'dict', N) }),
    },
  ],
};
