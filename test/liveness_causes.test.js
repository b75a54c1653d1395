// No wait outlives its cause (issue #14, section 5). Each test is named after the failure it prevents.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');
const { Event, MAX_INITIALIZER_ATTEMPTS, Manager, Pool, Process, Queue, Semaphore } = require('../dist');
const { isAlive } = require('./fixtures/alive');
const t = require('./fixtures/liveness_targets');

const fixture = (name) => path.join(__dirname, 'fixtures', name);

/** Settles to 'pending' if `promise` has not settled within `ms`; else to its value or its error's code. */
function outcomeWithin(promise, ms) {
  let timer;
  return Promise.race([
    promise.then((value) => value, (err) => err.code ?? err.name),
    new Promise((resolve) => { timer = setTimeout(() => resolve('pending'), ms); }),
  ]).finally(() => clearTimeout(timer));
}


/** Runs a fixture script with node; resolves with its exit code and what it printed on stdout and stderr. */
function runScript(args, options = {}) {
  const child = spawn(options.shell ? 'sh' : process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out, err })));
}

describe.each([true, false])('a Manager server that dies (kernelObjects: %s)', (kernelObjects) => {
  test('rejects the waits on its Lock and Queue with ERR_MP_MANAGER_CONNECTION, here and in a child', async () => {
    const manager = new Manager({ kernelObjects });
    await manager.start();
    const lock = await manager.Lock();
    const queue = await manager.Queue();
    expect(await lock.acquire()).toBe(true);
    const waiting = new Event();
    const child = new Process({ target: t.waitOnManagerObjects, args: [lock, queue, waiting] });
    await child.start();
    expect(await waiting.wait({ timeout: 30000 })).toBe(true);
    const here = [lock.acquire(), queue.get(), queue.get({ timeout: 20000 })];
    expect(await outcomeWithin(Promise.race(here), 100)).toBe('pending');
    process.kill(manager.pid, 'SIGKILL');
    expect(await Promise.all(here.map((call) => outcomeWithin(call, 6000))))
      .toEqual(['ERR_MP_MANAGER_CONNECTION', 'ERR_MP_MANAGER_CONNECTION', 'ERR_MP_MANAGER_CONNECTION']);
    await child.join(6000);
    if (child.exitCode === null) child.kill();
    expect(child.exitCode).toBe(0);
    await manager.shutdown();
  });
});

describe('spawning without a descriptor left (ulimit -n 64)', () => {
  test('Process.start() and Manager.start() reject with the OS error; a Pool keeps its other worker, retries without an uncaught error, and replaces the lost one once it can', async () => {
    const { code, out, err } = await runScript(['-c', `ulimit -n 64 && exec "${process.execPath}" "${fixture('spawn_emfile.js')}"`],
      { shell: true });
    const seen = JSON.parse(out.trim().split('\n').pop() || JSON.stringify({ uncaught: err }));
    expect(seen.uncaught).toBeUndefined();
    expect(code).toBe(0);
    expect(seen.exhausted).toMatch(/^(EMFILE|ENFILE)$/);
    for (const err of [seen.process, seen.manager]) {
      expect(err).toMatchObject({ code: expect.stringMatching(/^(EMFILE|ENFILE)$/), syscall: expect.stringMatching(/^spawn/) });
    }
    expect(seen.refusedInARow).toBeGreaterThanOrEqual(3); // each refused retry was an uncaught 'error' event
    expect(seen.whileExhausted).toBe(seen.workers[1]);
    expect(seen.warnings.some((w) => /EMFILE|ENFILE/.test(w.message))).toBe(true);
    expect(seen.workers).not.toContain(seen.replacement);
    expect(seen.results).toHaveLength(4);
    expect(seen.restartedExitCode).toBe(0);
  });
});

describe('a Pool worker that sends what the parent cannot read', () => {
  test('garbled-worker-message: a frame that does not decode costs that worker (WorkerLostError saying so), a result whose rebuild throws fails its call; the parent lives on', async () => {
    const { code, out, err } = await runScript([fixture('pool_garbled.js')]);
    const seen = JSON.parse(out.trim().split('\n').pop() || JSON.stringify({ uncaught: err }));
    expect(seen.uncaught).toBeUndefined();
    expect(code).toBe(0);
    expect(seen.garbled.error).toMatchObject({ name: 'WorkerLostError', message: expect.stringMatching(/does not decode/) });
    expect(seen.unbuildable.error).toMatchObject({ message: 'this value cannot be rebuilt' });
    expect(typeof seen.after.value).toBe('number'); // the replacement worker's pid
  });
});

describe('a Pool whose starting workers are killed from outside', () => {
  test('replaces them and stays usable: only an initializer that fails counts towards giving up', async () => {
    const pids = new Queue();
    const go = new Semaphore(0);
    const pool = new Pool({ processes: 1, initializer: t.reportPidThenWait, initargs: [pids, go] });
    try {
      for (let i = 0; i < MAX_INITIALIZER_ATTEMPTS; i++) process.kill(await pids.get({ timeout: 30000 }), 'SIGKILL');
      const last = await pids.get({ timeout: 30000 });
      go.release();
      expect(await pool.apply(t.pid)).toBe(last);
    } finally {
      pool.terminate();
      await pool.join();
      pids.close();
    }
  });
});

describe('children of a parent that dies', () => {
  test('a fork() child that never calls inherited() exits within about a second of its parent\'s SIGKILL', async () => {
    const parent = spawn(process.execPath, [fixture('fork_parent.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const { pid } = await new Promise((resolve, reject) => {
      let out = '';
      parent.stdout.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(JSON.parse(out));
      });
      parent.once('exit', (code) => reject(new Error(`parent exited early with ${code}`)));
    });
    expect(isAlive(pid)).toBe(true);
    const killedAt = Date.now();
    parent.kill('SIGKILL');
    while (isAlive(pid) && Date.now() - killedAt < 5000) await new Promise((resolve) => setTimeout(resolve, 20));
    const took = Date.now() - killedAt;
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    expect(took).toBeLessThan(2000);
  });

  test('a daemon Process whose join() is awaited before it reported its start keeps Node alive until it exits', async () => {
    const { code, out, err } = await runScript([fixture('daemon_join.js')]);
    expect({ code, out }).toEqual({ code: 0, out: 'joined 0\n' }); // else Node exited with the join pending
    expect(err).not.toMatch(/Error/);
  });
});
