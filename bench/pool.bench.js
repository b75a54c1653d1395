// Pool: multiproc vs Python's multiprocessing.Pool (spawn), same number of processes, each in a fresh process.
'use strict';
const { versus } = require('./harness');

const PROCESSES = 2;

function workload(name, script, unit, better, goal, extra = []) {
  return {
    name: `${name}, ${PROCESSES} processes`,
    unit,
    better,
    goal,
    run: versus('pool', script, [PROCESSES, ...extra]),
  };
}

/** Maps run untimed before the steady row's: by then both pools run at their lasting speed. */
const SETTLE_MAPS = 20;

module.exports = {
  title: 'Pool',
  workloads: [
    workload('map of 100k trivial tasks (abs), median of 5 on a warm pool', 'map', 'tasks/s', 'higher', '≥ 2×'),
    workload(`map of 100k trivial tasks (abs), median of 5 after ${SETTLE_MAPS} more maps (steady)`, 'map', 'tasks/s',
      'higher', 'report', [SETTLE_MAPS]),
    workload('first map of 100k trivial tasks of a fresh pool (after a 1,000-item warm-up map)', 'mapCold', 'tasks/s',
      'higher', '≥ 1.5×'),
    workload('map of 100k short strings (upper), median of 5 on a warm pool', 'strings', 'tasks/s', 'higher', 'report'),
    workload('first map of 100k short strings (upper) of a fresh pool', 'strings', 'tasks/s', 'higher', 'report', ['cold']),
    workload('imapUnordered of 10k × 1 ms tasks: efficiency vs ideal', 'imap', '% of ideal', 'higher', 'report'),
    workload('Pool start, 2 workers ready', 'start', 'ms', 'lower', 'report'),
  ],
};
