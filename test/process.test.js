'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { Lock, Process, PicklingError } = require('../dist');
const targets = require('./fixtures/targets');
const { tmpDir } = require('./fixtures/tmp');

describe('Process', () => {
  test('4 processes x 2000 locked read-modify-writes give an exact total', async () => {
    const file = path.join(tmpDir('mp-'), 'count');
    fs.writeFileSync(file, '0');
    const lock = new Lock();
    const procs = [0, 1, 2, 3].map((i) => new Process({
      target: i % 2 ? targets.incrementFile : targets.incrementFileAsync, args: [lock, file, 2000],
    }));
    await Promise.all(procs.map((p) => p.start()));
    await Promise.all(procs.map((p) => p.join()));
    expect(procs.map((p) => p.exitCode)).toEqual([0, 0, 0, 0]);
    expect(Number(fs.readFileSync(file, 'utf8'))).toBe(8000);
  });

  test('exit codes follow Python: 0, the code given, 1 on a throw, -signal when killed', async () => {
    const ok = new Process({ target: targets.exitWith, args: [0] });
    const seven = new Process({ target: targets.exitWith, args: [7] });
    const thrown = new Process({ target: targets.throwError, args: ['boom'] });
    for (const p of [ok, seven, thrown]) p.start();
    await Promise.all([ok, seven, thrown].map((p) => p.join()));
    expect([ok.exitCode, seven.exitCode, thrown.exitCode]).toEqual([0, 7, 1]);
  });

  test('a closure fails at start() with an error naming it', () => {
    function hidden() { return 1; }
    const p = new Process({ target: hidden });
    expect(() => p.start()).toThrow(PicklingError);
    expect(() => new Process({ target: hidden }).start()).toThrow(/hidden/);
  });
});

describe('Process lifecycle', () => {
  const { Event, currentProcess, parentProcess, activeChildren, cpuCount } = require('../dist');

  test('currentProcess / parentProcess / authkey inheritance', async () => {
    const file = path.join(tmpDir('mp-'), 'self.json');
    const p = new Process({ target: targets.describeSelf, args: [file], name: 'worker-a' });
    await p.start();
    await p.join();
    const seen = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(seen).toEqual({
      name: 'worker-a', pid: p.pid, authkey: currentProcess().authkey.toString('hex'), parentPid: process.pid,
      parentName: 'MainProcess', parentAlive: true, ppid: process.pid,
    });
    expect(currentProcess().name).toBe('MainProcess');
    expect(parentProcess()).toBeNull();
    expect(cpuCount()).toBeGreaterThanOrEqual(1);
  });

  test('kill and terminate give -signal; join with a timeout; isAlive; activeChildren', async () => {
    const started = new Event();
    const never = new Event();
    const a = new Process({ target: targets.startedThenWait, args: [started, never] });
    await a.start();
    await started.wait();
    expect(a.isAlive()).toBe(true);
    expect(activeChildren()).toContain(a);
    await a.join(50);
    expect(a.exitCode).toBeNull();
    a.kill();
    await a.join();
    expect(a.exitCode).toBe(-9);
    expect(a.isAlive()).toBe(false);
    expect(activeChildren()).not.toContain(a);

    started.clear();
    const b = new Process({ target: targets.startedThenWait, args: [started, never] });
    await b.start();
    await started.wait();
    b.terminate();
    await b.join();
    expect(b.exitCode).toBe(-15);
    expect(String(b)).toMatch(/stopped exitcode=-15/);
  });

  test('targets given as { module, export }, and ES module targets found by reference', async () => {
    const file = path.join(tmpDir('mp-'), 'out');
    const p = new Process({ target: { module: require.resolve('./fixtures/targets.js'), export: 'describeSelf' }, args: [file] });
    await p.start();
    await p.join();
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).parentPid).toBe(process.pid);

    const { execFileSync } = require('node:child_process');
    const out = JSON.parse(execFileSync(process.execPath, [path.join(__dirname, 'fixtures', 'esm_main.mjs'), file], { stdio: ['ignore', 'pipe', 'ignore'] }));
    expect(out.exitCode).toBe(0);
    expect(fs.readFileSync(file, 'utf8')).toMatch(/esm\n$/);
    for (const failure of [out.failure, out.rejected]) {
      expect(failure).toMatch(/^ERR_MP_PICKLING: Can't get 'localTarget'/);
    }
    expect(out.rExit).toBe(1);
  });

  test('bad input gets typed errors', async () => {
    expect(() => new Process()).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => new Process({ target: 42 }).start()).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => new Process({ target: targets.exitWith, args: 'x' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => new Process({ target: targets.exitWith, daemon: 'yes' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    const p = new Process({ target: targets.exitWith, args: [0] });
    await expect(p.join()).rejects.toMatchObject({ code: 'ERR_MP_PROCESS_STATE' });
    p.start();
    expect(() => p.start()).toThrow(expect.objectContaining({ code: 'ERR_MP_PROCESS_STATE' }));
    await expect(p.join(NaN)).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    await p.join();
  });
});
