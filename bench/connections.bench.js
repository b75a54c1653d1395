// Pipe: multiproc's Pipe() against multiprocessing.Pipe() (spawn context), same workloads, same run.
'use strict';
const { versus } = require('./harness');

const ROUND_TRIPS = 20000;
const KIB64 = 64 << 10;
const BLOCKS = 20000; // 1.3 GB: about a second, so the figure is the steady rate

function workload(name, unit, goal, nodeWorkload, pyWorkload, args) {
  return { name, unit, better: 'higher', goal, run: versus('connections', nodeWorkload, args, pyWorkload) };
}

module.exports = {
  title: 'Pipe',
  workloads: [
    workload('round trip of an integer, send/recv awaited', 'trips/s', '≥ 1×', 'round-trip', 'round-trip', [ROUND_TRIPS]),
    workload('round trip of an integer, sendSync/recvSync', 'trips/s', '≥ 1×', 'round-trip-sync', 'round-trip', [ROUND_TRIPS]),
    workload('64 KiB sendBytes child → parent, awaited', 'MB/s', '≥ 1×', 'throughput', 'throughput', [BLOCKS, KIB64]),
    workload('64 KiB sendBytesSync/recvBytesSync child → parent', 'MB/s', '≥ 1×', 'throughput-sync', 'throughput', [BLOCKS, KIB64]),
  ],
};
