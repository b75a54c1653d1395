// The package entry (dist/index.js, written by scripts/write-lazy-entry.js) loads a public name's module the first
// time the name is read. Checked in fresh Node processes: the test runner keeps its own module registry.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const DIST = path.join(__dirname, '..', 'dist');

/** Runs `script` in a fresh node (DIST in scope); its last stdout line, parsed. */
function runScript(script) {
  const run = spawnSync(process.execPath, ['-e', `const DIST = ${JSON.stringify(DIST)};\n${script}`],
    { encoding: 'utf8', timeout: 60000 });
  if (run.status !== 0) throw new Error(`exit ${run.status} ${run.signal ?? ''}\n${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').pop());
}

describe('the package entry', () => {
  test('exports every name of lib/index.ts, each the same value as the whole build', () => {
    const lazy = require('../dist');
    const all = require('../dist/all.js');
    expect(Object.keys(lazy).sort()).toEqual(Object.keys(all).filter((name) => name !== '__esModule').sort());
    for (const name of Object.keys(lazy)) expect([name, lazy[name]]).toEqual([name, all[name]]);
  });

  test('importing-process-loads-the-whole-library: a program using Process loads neither Manager, Redis, Pool nor shared memory', () => {
    const loaded = runScript(`
      const path = require('node:path');
      const { Process, currentProcess } = require(DIST);
      void Process, currentProcess().name;
      console.log(JSON.stringify(Object.keys(require.cache).map((file) => path.relative(DIST, file))));`);
    expect(loaded).toContain('process.js');
    expect(loaded.filter((file) => /^(managers|pool|shared_memory|sharedctypes|queues|all)\.js$|^redis/.test(file))).toEqual([]);
  });

  test('a program that imported only Pool rebuilds a SharedMemory a task returns (its module loads then)', () => {
    const text = runScript(`
      const { Pool } = require(DIST);
      const { segmentWith } = require(${JSON.stringify(path.join(__dirname, 'fixtures', 'shm_targets.js'))});
      (async () => {
        const pool = new Pool({ processes: 1 });
        const shm = await pool.apply(segmentWith, ['made in a worker']);
        const text = shm.buf.toString('utf8', 0, 16);
        shm.close();
        shm.unlink();
        await pool[Symbol.asyncDispose]();
        console.log(JSON.stringify(text));
      })();`);
    expect(text).toBe('made in a worker');
  });
});
