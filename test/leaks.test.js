'use strict';
// Nothing leaks and nothing is orphaned, however the processes of a tree end.
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const readline = require('node:readline');

const SCENARIO = path.join(__dirname, 'fixtures', 'scenario.js');

function startScenario(name) {
  const child = spawn(process.execPath, [SCENARIO, name], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stderr })));
  const info = new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).once('line', (line) => resolve(JSON.parse(line)));
    exited.then(() => reject(new Error(`scenario ${name} exited early: ${stderr}`)));
  });
  return { child, info, exited };
}

/** Alive and not a zombie (an orphan's zombie lingers until this machine's init reaps it, a second or two). */
const alive = (pid) => {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0] !== 'Z';
  } catch {
    return false;
  }
};

/** Resolves with the time it took for `pid` to exit; rejects after `limitMs`. Polls: no event exists for a foreign pid. */
function waitForExit(pid, limitMs = 15000) {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (!alive(pid)) {
        clearInterval(timer);
        resolve(performance.now() - start);
      } else if (performance.now() - start > limitMs) {
        clearInterval(timer);
        reject(new Error(`pid ${pid} still alive after ${limitMs} ms`));
      }
    }, 20);
  });
}

// a semaphore's name, or a kill-safe lock's segment
const shmPath = (name) => path.join('/dev/shm', name.startsWith('/mpl-') ? name.slice(1) : `sem.${name.slice(1)}`);
const existing = (names) => names.filter((n) => fs.existsSync(shmPath(n)));

describe('no semaphore leaks', () => {
  test('the semaphores exist while the tree runs', async () => {
    const s = startScenario('kill-all');
    const info = await s.info;
    const existed = existing(info.names);
    process.kill(info.childPid, 'SIGKILL');
    process.kill(info.pid, 'SIGKILL');
    // a Lock, a Semaphore and a JoinableQueue's: two locks and its shared page where queues are kill-safe, else ten
    // semaphores (shutdown()'s state one)
    expect(info.names.length).toBe(2 + (require('../dist/queues').killSafeQueues ? 3 : 10));
    expect(existed).toEqual(info.names);
    await s.exited;
    await waitForExit(info.trackerPid);
    expect(existing(info.names)).toEqual([]);
  });

  test('normal exit unlinks at once', async () => {
    const s = startScenario('normal');
    const info = await s.info;
    const { code } = await s.exited;
    expect(code).toBe(0);
    expect(existing(info.names)).toEqual([]);
    await waitForExit(info.trackerPid);
  });

  test('an uncaught exception still unlinks', async () => {
    const s = startScenario('uncaught');
    const info = await s.info;
    const { code, stderr } = await s.exited;
    expect(code).toBe(1);
    expect(stderr).toMatch('uncaught on purpose');
    expect(existing(info.names)).toEqual([]);
  });

  test('SIGKILL of the creator while a child holds the lock: the child exits, the tracker unlinks', async () => {
    const s = startScenario('kill-creator');
    const info = await s.info;
    process.kill(info.pid, 'SIGKILL');
    await s.exited;
    await waitForExit(info.childPid, 5000);
    await waitForExit(info.trackerPid);
    expect(existing(info.names)).toEqual([]);
  });
});

describe('no orphans', () => {
  test('a child whose parent is SIGKILLed exits by itself within about a second', async () => {
    const s = startScenario('orphan');
    const info = await s.info;
    process.kill(info.pid, 'SIGKILL');
    await s.exited;
    const took = await waitForExit(info.childPid, 5000);
    expect(took).toBeLessThan(2000);
    await waitForExit(info.trackerPid);
    expect(existing(info.names)).toEqual([]);
  });

  test('a daemon child ends when its parent exits', async () => {
    const s = startScenario('daemon-exit');
    const info = await s.info;
    expect((await s.exited).code).toBe(0);
    await waitForExit(info.childPid, 5000);
    expect(alive(info.childPid)).toBe(false);
  });
});
