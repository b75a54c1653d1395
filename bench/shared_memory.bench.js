// Shared memory: multiproc vs Python's multiprocessing (spawn context) and shared_memory, same workloads, same run.
'use strict';
const { versus } = require('./harness');

// Wake rows: 20,000 timed round trips (about a second) after 1,000 untimed ones, on both sides. Our slow wake-ups
// come in bursts (a run of them while another thread of the process, V8's or the hub's, holds a core), so over 2,000
// samples (50 ms) our p99 depended on whether a burst fell in the window: 50 to 125 µs from run to run, against 40
// to 42 over 20,000. Python's p99 is the same either way.
const WAKES = 20000;
const WARMUP = 1000;

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
      run: versus('shared_memory', 'wake', [WAKES, WARMUP, 'median', 'sync'], 'wake', [WAKES, 'median', WARMUP]) },
    { name: 'notify → wake across processes, waitSync, p99 (Python: Semaphore)', unit: 'µs', better: 'lower', goal: '≥ 1×',
      run: versus('shared_memory', 'wake', [WAKES, WARMUP, 'p99', 'sync'], 'wake', [WAKES, 'p99', WARMUP]) },
    { name: 'notify → wake across processes, async wait, median (Python: asyncio, Semaphore in run_in_executor)', unit: 'µs', better: 'lower', goal: '≥ 1×',
      run: versus('shared_memory', 'wake', [WAKES, WARMUP, 'median'], 'wake_async', [WAKES, 'median', WARMUP]) },
    { name: 'notify → wake across processes, async wait, p99 (Python: asyncio, Semaphore in run_in_executor)', unit: 'µs', better: 'lower', goal: '≥ 1×',
      run: versus('shared_memory', 'wake', [WAKES, WARMUP, 'p99'], 'wake_async', [WAKES, 'p99', WARMUP]) },
  ],
};
