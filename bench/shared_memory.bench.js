// Shared memory: multiproc vs Python's multiprocessing (spawn context) and shared_memory, same workloads, same run.
'use strict';
const { versus } = require('./harness');

module.exports = {
  title: 'Shared memory',
  workloads: [
    { name: "Value('i') += 1 under its lock, 2 processes", unit: 'ops/s', better: 'higher', goal: '≥ 1×',
      run: versus('shared_memory', 'valueIncrement', [2, 100000], 'value_increment') },
    { name: "Value('i') += 1 under its lock, 4 processes", unit: 'ops/s', better: 'higher', goal: '≥ 1×',
      run: versus('shared_memory', 'valueIncrement', [4, 50000], 'value_increment') },
    { name: "Array('d', 1e6): parent fills, child sums and writes back, first round", unit: 'GB/s', better: 'higher', goal: '≥ 1×',
      run: versus('shared_memory', 'arrayRound', [1000000, 1], 'array_round') },
    { name: "Array('d', 1e6): the same, fifth round", unit: 'GB/s', better: 'higher', goal: '≥ 1×, near memory bandwidth',
      run: versus('shared_memory', 'arrayRound', [1000000, 5], 'array_round') },
    { name: 'the same 8 MB round through our Queue (Python: Array)', unit: 'GB/s', better: 'higher', goal: 'report',
      run: versus('shared_memory', 'arrayQueue', [1000000], 'array_round', [1000000, 1]) },
    { name: 'SharedMemory create + attach + close + unlink, median', unit: 'µs', better: 'lower', goal: '≥ 1×',
      run: versus('shared_memory', 'createAttach', [2000], 'create_attach') },
    { name: 'notify → wake across processes, waitSync, median (Python: Semaphore)', unit: 'µs', better: 'lower', goal: '≥ 1×',
      run: versus('shared_memory', 'wake', [2000, 'median', 'sync'], 'wake', [2000, 'median']) },
    { name: 'notify → wake across processes, waitSync, p99 (Python: Semaphore)', unit: 'µs', better: 'lower', goal: '≥ 1×',
      run: versus('shared_memory', 'wake', [2000, 'p99', 'sync'], 'wake', [2000, 'p99']) },
    { name: 'notify → wake across processes, async wait, median (Python: Semaphore)', unit: 'µs', better: 'lower', goal: '≥ 1×',
      run: versus('shared_memory', 'wake', [2000, 'median']) },
    { name: 'notify → wake across processes, async wait, p99 (Python: Semaphore)', unit: 'µs', better: 'lower', goal: '≥ 1×',
      run: versus('shared_memory', 'wake', [2000, 'p99']) },
  ],
};
