'use strict';
// The wait hub's fallback for kernels without futex_waitv (before 5.16: Ubuntu 20.04, Debian 11, RHEL 8), forced
// with MULTIPROC_NO_FUTEX_WAITV=1 in a process of its own (the switch is read once per process).
const { execFile } = require('node:child_process');
const path = require('node:path');

const onLinux = process.platform === 'linux' ? describe : describe.skip;

onLinux('wait hub without futex_waitv', () => {
  // A hub thread that slept on its control word alone and was given a group meanwhile took order[0], which that sleep
  // never wrote, for the group that woke it, and crashed on it (SIGSEGV in HubThread::Run). CPython's Condition tests
  // (many async waits coming and going, across processes) hit it in 269 of 271 runs before the fix.
  test('control-wake-segfault: the Condition tests pass on the one-word fallback', async () => {
    const jest = path.join(__dirname, '..', 'node_modules', 'jest', 'bin', 'jest.js');
    const run = await new Promise((resolve) => {
      execFile(process.execPath, [jest, '--runInBand', '--ci', path.join(__dirname, 'cpython', 'conditions.test.js')],
        { cwd: path.join(__dirname, '..'), env: { ...process.env, MULTIPROC_NO_FUTEX_WAITV: '1' }, timeout: 100000 },
        (err, stdout, stderr) => resolve({ code: err ? err.code : 0, signal: err ? err.signal : null, stderr }));
    });
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null });
    expect(run.stderr).toMatch(/Tests: +\d+ passed, \d+ total/);
  }, 120000);
});
