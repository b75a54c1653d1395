'use strict';
// The original question's scenarios (examples/), as npm start runs them: exact results and exact errors.
const path = require('node:path');
const { execFile } = require('node:child_process');
const scenarios = require('../dist-examples/examples/scenarios');

const ZERO_TO_NINE = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

describe('the original question', () => {
  test('1. Pool with a Lock and a Queue in the task arguments: the RuntimeError', async () => {
    await expect(scenarios.poolWithLockInArgs()).rejects.toMatchObject({
      name: 'RuntimeError', message: 'Lock objects should only be shared between processes through inheritance',
    });
  });

  test('2. Pool with a Manager Lock and Queue: indices 0..9', async () => {
    expect(await scenarios.poolWithManagerObjects()).toEqual(ZERO_TO_NINE);
  });

  test('3. ten Processes with a Lock and a Queue: indices 0..9', async () => {
    expect(await scenarios.processesWithLock()).toEqual(ZERO_TO_NINE);
  });

  test('4. ten Processes with Manager objects: indices 0..9', async () => {
    expect(await scenarios.processesWithManagerObjects()).toEqual(ZERO_TO_NINE);
  });

  test('the fix: Lock and Queue through initargs: indices 0..9', async () => {
    expect(await scenarios.poolWithInitargs()).toEqual(ZERO_TO_NINE);
  });

  test('the fix as first written (Queue still in the task arguments): the Queue RuntimeError', async () => {
    await expect(scenarios.poolWithInitargsQueueInArgs()).rejects.toMatchObject({
      name: 'RuntimeError', message: 'Queue objects should only be shared between processes through inheritance',
    });
  });

  test('npm start prints each scenario with its verdict, blocks never interleave, and nothing is left behind', async () => {
    const main = path.join(__dirname, '..', 'dist-examples', 'examples', 'main.js');
    const stdout = await new Promise((resolve, reject) => {
      execFile(process.execPath, [main], { timeout: 120000 }, (err, out) => (err ? reject(err) : resolve(out)));
    });
    const verdicts = stdout.split('\n').filter((l) => /^ {3}[✔✘]/.test(l)).map((l) => l.trim()[0]);
    expect(verdicts).toEqual(['✘', '✔', '✔', '✔', '✔', '✘']);
    expect(stdout.match(/indices read: \[0, 1, 2, 3, 4, 5, 6, 7, 8, 9\]/g)).toHaveLength(4);
    // every block is three consecutive lines of one task: ┌ then │ then └
    const lines = stdout.split('\n').filter((l) => /^ {4}[┌│└]/.test(l));
    expect(lines).toHaveLength(4 * 10 * 3);
    for (let i = 0; i < lines.length; i += 3) {
      const task = lines[i].match(/task (\d+)/)[1];
      expect([lines[i][4], lines[i + 1][4], lines[i + 2][4]]).toEqual(['┌', '│', '└']);
      expect(lines[i + 1]).toContain(`task ${task}`);
      expect(lines[i + 2]).toContain(`task ${task}`);
    }
  }, 150000); // the command's own upper bound (120 s), not jest's default: npm start runs six scenarios in fresh processes

  test('the progress example (npm run example:progress) runs every task and prints the throughput', async () => {
    const example = path.join(__dirname, '..', 'dist-examples', 'examples', 'progress.js');
    const stdout = await new Promise((resolve, reject) => {
      execFile(process.execPath, [example, '200'], { timeout: 120000 }, (err, out) => (err ? reject(err) : resolve(out)));
    });
    expect(stdout).toMatch(/^200 tasks in \d+\.\d\d s: \d+ tasks\/s on \d+ processes \(\d+ primes counted\)$/m);
  }, 150000); // as above: the command's own upper bound
});
