// Pool against the npm pools users pick today, in the same run: workerpool (process mode, the nearest to ours)
// and piscina (worker threads). One task per call, all submitted at once, as their users write it. Their figures
// go in the rival column.
'use strict';
const { node } = require('./harness');

const WORKERS = 2;

function workload(name, script, unit, rival) {
  return {
    name: `${name}, ${WORKERS} workers`,
    unit,
    better: 'higher',
    goal: 'report',
    rival,
    run: async () => ({
      ours: await node('pool_rivals.js', script, 'ours', WORKERS),
      python: await node('pool_rivals.js', script, rival.split(' ')[0], WORKERS),
    }),
  };
}

module.exports = {
  title: 'Pool (rivals: workerpool, piscina)',
  workloads: [
    workload('20k trivial tasks', 'trivial', 'tasks/s', 'workerpool (processes)'),
    workload('20k trivial tasks', 'trivial', 'tasks/s', 'piscina (threads)'),
    workload('2k tasks of 1 ms CPU', 'cpu', 'tasks/s', 'workerpool (processes)'),
    workload('2k tasks of 1 ms CPU', 'cpu', 'tasks/s', 'piscina (threads)'),
    workload('2k tasks with a 64 KiB string argument', 'payload', 'MB/s', 'workerpool (processes)'),
    workload('2k tasks with a 64 KiB string argument', 'payload', 'MB/s', 'piscina (threads)'),
  ],
};
