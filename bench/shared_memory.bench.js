// Shared memory: multiproc vs Python's multiprocessing (spawn context) and shared_memory, same workloads, same run.
'use strict';
const { versus } = require('./harness');

// Wake rows: 20,000 timed round trips (about a second) after 10,000 untimed ones, on both sides. Our slow wake-ups
// come in bursts (a run of them while another thread of the process, V8's or the hub's, holds a core), so over 2,000
// samples (50 ms) our p99 depended on whether a burst fell in the window: 50 to 125 µs from run to run, against 40
// to 42 over 20,000. Python's p99 is the same either way. The warm-up is long because a fresh process's first 5,000
// to 7,000 round trips run while V8 optimizes the functions on the path: its compile jobs (10-16 ms each here, on
// background threads) take a core from the two processes, and with 1,000 the timed window still held that phase
// (waitSync p99 23-33 µs against 17-20 after 10,000; `--no-opt` removes the phase). The fresh rows time that phase:
// the first 5,000 round trips of a child just started.
const WAKES = 20000;
const WARMUP = 10000;
const FRESH_WAKES = 5000;

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
    { name: 'notify → wake across processes, waitSync, p99 of a fresh child\'s first 5,000 (Python: Semaphore)', unit: 'µs', better: 'lower', goal: 'report',
      run: versus('shared_memory', 'wake', [FRESH_WAKES, 0, 'p99', 'sync'], 'wake', [FRESH_WAKES, 'p99', 0]) },
    { name: 'notify → wake across processes, async wait, median (Python: asyncio, Semaphore in run_in_executor)', unit: 'µs', better: 'lower', goal: '≥ 1×',
      run: versus('shared_memory', 'wake', [WAKES, WARMUP, 'median'], 'wake_async', [WAKES, 'median', WARMUP]) },
    { name: 'notify → wake across processes, async wait, p99 (Python: asyncio, Semaphore in run_in_executor)', unit: 'µs', better: 'lower', goal: '≥ 1×',
      run: versus('shared_memory', 'wake', [WAKES, WARMUP, 'p99'], 'wake_async', [WAKES, 'p99', WARMUP]) },
  ],
};
