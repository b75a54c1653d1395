// Children started without fork() (lib/spawn_child.ts): the parent's memory is not made copy-on-write, and every
// child is reaped and its pidfd closed. Linux only (elsewhere, and in the macOS emulation, child_process spawns).
'use strict';
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const { Worker } = require('node:worker_threads');
const { Pool, Process } = require('../dist');
const { native } = require('../dist/native');
const { spawnChild } = require('../dist/spawn_child');
const { noop } = require('../bench/node/synchronize');
const { pid: workerPid } = require('./fixtures/liveness_targets');

const linuxOnly = native.canSpawnChild ? describe : describe.skip;

const PAGE = 4096;

/** Minor page faults this process takes while `fn` runs. */
function faultsDuring(fn) {
  const before = process.resourceUsage().minorPageFault;
  fn();
  return process.resourceUsage().minorPageFault - before;
}

/** Resolves once `check()` holds, polling each turn of the event loop for at most `ms`. */
async function eventually(check, ms) {
  const until = Date.now() + ms;
  while (!check() && Date.now() < until) await new Promise((resolve) => setImmediate(resolve));
  return check();
}

/** The parent pid of `pid` if it is still a process (a zombie included), else undefined. */
function parentOf(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

linuxOnly('spawning without fork()', () => {
  test('parent-memory-left-writable: after a Process starts, rewriting 64 MiB of the parent faults on almost no page', async () => {
    const memory = Buffer.alloc(64 * 1024 * 1024);
    memory.fill(1);
    const p = new Process({ target: noop });
    await p.start();
    await p.join();
    // fork() would have made each of these 16,384 pages copy-on-write: the rewrite would fault on every one.
    const faults = faultsDuring(() => memory.fill(2));
    expect(p.exitCode).toBe(0);
    expect(faults).toBeLessThan(memory.length / PAGE / 8);
  });

  test('tracker-started-without-fork: the first Lock of a process (which starts the resource tracker) leaves its memory writable', async () => {
    const script = `
      const memory = Buffer.alloc(64 * 1024 * 1024);
      memory.fill(1);
      const lock = new (require(${JSON.stringify(require.resolve('../dist'))}).Lock)();
      const before = process.resourceUsage().minorPageFault;
      memory.fill(2);
      console.log(JSON.stringify({ faults: process.resourceUsage().minorPageFault - before,
        tracker: require(${JSON.stringify(require.resolve('../dist/resource_tracker'))}).trackerProcessId() }));`;
    const out = await new Promise((resolve, reject) => {
      execFile(process.execPath, ['-e', script], (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    const { faults, tracker } = JSON.parse(out);
    expect(tracker).toEqual(expect.any(Number));
    expect(faults).toBeLessThan(64 * 1024 * 1024 / PAGE / 8);
  });

  test('no-pidfd-or-zombie-left: Processes and pool workers started and ended leave no descriptor and no unreaped child', async () => {
    const fdCount = () => fs.readdirSync('/proc/self/fd').length;
    const before = fdCount();
    const pids = [];
    for (let i = 0; i < 10; i++) {
      const p = new Process({ target: noop });
      await p.start();
      await p.join();
      expect(p.exitCode).toBe(0);
      pids.push(p.pid);
    }
    const pool = new Pool({ processes: 2 });
    pids.push(...new Set(await pool.map(workerPid, [1, 2, 3, 4])));
    pool.terminate();
    await pool.join();
    expect(await eventually(() => fdCount() === before, 10000)).toBe(true);
    for (const pid of pids) expect(parentOf(pid)).not.toBe(process.pid); // gone, not a zombie of ours
  });

  test('worker-ended-before-its-child: a worker thread terminated while its Process runs leaves no descriptor (its pidfd, an alive pipe of its own), no crash, and no zombie once the child exits', async () => {
    /** This process's descriptors, as "number>what it is". */
    const descriptors = () => new Set(fs.readdirSync('/proc/self/fd').map((fd) => {
      try {
        return `${fd}>${fs.readlinkSync(`/proc/self/fd/${fd}`)}`;
      } catch {
        return `${fd}>gone`; // the listing's own descriptor
      }
    }));
    native.alivePipe(); // the process's own, made once: not what this test looks for
    const before = descriptors();
    const added = () => [...descriptors()].filter((d) => !before.has(d) && !d.endsWith('>gone'));
    const code = `
      const { parentPort } = require('node:worker_threads');
      const { Process } = require(${JSON.stringify(require.resolve('../dist'))});
      const { runForever } = require(${JSON.stringify(require.resolve('./fixtures/pool_tasks'))});
      const p = new Process({ target: runForever });
      p.start().then(() => parentPort.postMessage(p.pid));`;
    const worker = new Worker(code, { eval: true });
    const pid = await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
    await worker.terminate(); // its pidfd and the watcher on it go with its environment; the child runs on
    expect(process.kill(pid, 0)).toBe(true);
    process.kill(pid, 'SIGKILL');
    await eventually(() => added().length === 0, 10000);
    expect(added()).toEqual([]);
    // Reaped although the environment that started it is gone (a zombie keeps its /proc entry until reaped).
    await eventually(() => !fs.existsSync(`/proc/${pid}`), 10000);
    expect(fs.existsSync(`/proc/${pid}`) ? fs.readFileSync(`/proc/${pid}/stat`, 'utf8') : 'reaped').toBe('reaped');
  });

  test('a file that cannot be started: error event with the OS code and syscall "spawn <file>", no descriptor left', async () => {
    const before = fs.readdirSync('/proc/self/fd').length;
    const child = spawnChild('/nonexistent/multiproc-node', [], process.env, [0, 1, 2]);
    expect(child.pid).toBeUndefined();
    const err = await new Promise((resolve) => child.once('error', resolve));
    expect(err).toMatchObject({ code: 'ENOENT', syscall: 'spawn /nonexistent/multiproc-node' });
    expect(fs.readdirSync('/proc/self/fd').length).toBe(before);
  });

  test('exit code, signal and kill() after the exit, as a ChildProcess reports them', async () => {
    const child = spawnChild(process.execPath, ['-e', 'process.exitCode = 7'], process.env, [0, 1, 2]);
    const [code, signal] = await new Promise((resolve) => child.once('close', (...args) => resolve(args)));
    expect([code, signal, child.exitCode, child.signalCode]).toEqual([7, null, 7, null]);
    expect(child.kill()).toBe(false); // nothing to signal any more, and never a process that reused the pid

    const sleeper = spawnChild(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], process.env, [0, 1, 2]);
    expect(sleeper.kill('SIGKILL')).toBe(true);
    const ended = await new Promise((resolve) => sleeper.once('exit', (...args) => resolve(args)));
    expect(ended).toEqual([null, 'SIGKILL']);
    expect(sleeper.killed).toBe(true);
  });
});
