// Queues: multiproc's Queue against multiprocessing.Queue (spawn context), same workloads, same run.
'use strict';
const { versus } = require('./harness');

const SMALL = 200000;
/**
 * 1.3 GB of 64 KiB items: about a second, so the figure is the steady rate. Our first few thousand items move at
 * half that rate (the cold start has its own row); Python's start at its steady rate.
 */
const LARGE = 20000;
const LARGE_COLD = 2000;
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
    workload('64 KiB payloads 1 → 1 (20,000 items)', 'MB/s', '≥ 1.5×', [1, 1, LARGE, KIB64]),
    workload('64 KiB payloads 1 → 1, cold start (first 2,000 items)', 'MB/s', 'context', [1, 1, LARGE_COLD, KIB64]),
    workload('integers 1 → 1, putSync/getSync', 'msgs/s', 'context', [1, 1, SMALL, 0], 'queue-sync'),
    workload('64 KiB payloads 1 → 1, putSync/getSync (20,000 items)', 'MB/s', 'context', [1, 1, LARGE, KIB64], 'queue-sync'),
    workload('plain Node process.send, 1 → 1 (no Python)', 'msgs/s', 'context', [1, 1, SMALL, 0], 'send', false),
  ],
};
