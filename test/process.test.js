'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Lock, Process, PicklingError } = require('../dist');
const targets = require('./fixtures/targets');

describe('Process', () => {
  test('4 processes x 2000 locked read-modify-writes give an exact total', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mp-')), 'count');
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
