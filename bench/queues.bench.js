// Queues: multiproc's Queue against multiprocessing.Queue (spawn context), same workloads, same run.
'use strict';
const { versus } = require('./harness');

const SMALL = 200000;
const LARGE = 2000;
const KIB64 = 64 << 10;

/** [producers, consumers, items, item size in bytes (0: integers)] */
function workload(name, unit, goal, shape, nodeWorkload = 'queue', withPython = true) {
  return {
    name,
    unit,
    better: 'higher',
    goal,
    run: versus('queues', nodeWorkload, shape, withPython ? 'queue' : null),
  };
}

module.exports = {
  title: 'Queue',
  workloads: [
    workload('integers 1 → 1, each put/get awaited', 'msgs/s', '≥ 3× (stretch 5×)', [1, 1, SMALL, 0]),
    workload('integers 2 → 2, each put/get awaited', 'msgs/s', '≥ 3×', [2, 2, SMALL, 0]),
    workload('64 KiB payloads 1 → 1', 'MB/s', '≥ 1.5×', [1, 1, LARGE, KIB64]),
    workload('integers 1 → 1, putSync/getSync', 'msgs/s', 'context', [1, 1, SMALL, 0], 'queue-sync'),
    workload('64 KiB payloads 1 → 1, putSync/getSync', 'MB/s', 'context', [1, 1, LARGE, KIB64], 'queue-sync'),
    workload('plain Node process.send, 1 → 1 (no Python)', 'msgs/s', 'context', [1, 1, SMALL, 0], 'send', false),
  ],
};
