// Manager round trips: multiproc's Manager against Python's SyncManager (spawn context), same machine, same run.
// Steady rows after 10,000 untimed calls on each side; one cold row (a new connection's first 1,000 calls).
'use strict';
const { versus } = require('./harness');

const N = 5000;

module.exports = {
  title: 'Manager',
  workloads: [
    {
      name: 'Lock acquire+release (a kernel lock: no round trip; Python: two)',
      unit: 'µs',
      better: 'lower',
      goal: '≤ 0.33× Python (≥ 3.03×)',
      run: versus('managers', 'lock', [N]),
    },
    {
      name: 'Lock acquire+release, kernelObjects: false (one round trip; Python: two)',
      unit: 'µs',
      better: 'lower',
      goal: 'report',
      run: versus('managers', 'lock-in-server', [N], 'lock'),
    },
    {
      name: 'Queue put/get, small messages, each awaited',
      unit: 'msg/s',
      better: 'higher',
      goal: '≥ 3×',
      run: versus('managers', 'queue', [N]),
    },
    {
      name: 'Queue put/get, small messages, pipelined',
      unit: 'msg/s',
      better: 'higher',
      goal: '≥ 3× (Python: sequential, its proxies block)',
      run: versus('managers', 'queue-pipelined', [N], 'queue'),
    },
    ...[
      ['dict-get', 'dict get'], ['dict-set', 'dict set'], ['list-append', 'list append'], ['value-get', 'Value get'],
      ['value-set', 'Value set'], ['namespace-get', 'Namespace attribute get'], ['event-set', 'Event set'],
      ['event-isset', 'Event isSet'], ['condition-notify', 'Condition notify (lock held)'],
    ].map(([workload, name]) => ({
      name: `${name}, one round trip`, unit: 'µs', better: 'lower', goal: '≥ 2×', run: versus('managers', workload, [N]),
    })),
    {
      name: 'dict get, the first 1,000 calls of a new connection (no warm-up)', unit: 'µs', better: 'lower', goal: 'report',
      run: versus('managers', 'dict-get', [1000, 0]),
    },
    {
      name: 'dict get, all in flight at once (Python: in turn, its proxies block)',
      unit: 'µs',
      better: 'lower',
      goal: '≥ 2×',
      run: versus('managers', 'dict-get-pipelined', [N], 'dict-get'),
    },
    {
      name: 'dict set+get round trip',
      unit: 'µs',
      better: 'lower',
      goal: 'report',
      run: versus('managers', 'dict', [N]),
    },
  ],
};
