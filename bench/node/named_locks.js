// Named locks: multiproc's Lock.open vs proper-lockfile (the npm package used for cross-process locks today).
//   pair <n> <ours|rival>          ns per acquire+release pair, uncontended
//   takeover <ours-sync|ours-async|rival>   ms from the holder's SIGKILL to the waiter's acquire
// Prints one JSON number.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const lockfile = require('proper-lockfile');
const { Lock, NamedLock } = require('../../dist');

const [workload, ...args] = process.argv.slice(2);
const isChild = workload === 'child';
// children use their parent's lock name and proper-lockfile target
const name = isChild ? args[2] : `multiproc-bench/${process.pid}`;
const rivalDir = isChild ? path.dirname(args[3]) : fs.mkdtempSync(path.join(os.tmpdir(), 'mp-bench-lockfile-'));
const rivalFile = path.join(rivalDir, 'target');
if (!isChild) fs.writeFileSync(rivalFile, '');
// proper-lockfile's smallest stale time: a dead holder's lock is taken over only after it
const RIVAL_OPTIONS = { stale: 2000, update: 1000, realpath: false };

function cleanup() {
  try {
    NamedLock.unlink(name);
  } catch {}
  fs.rmSync(rivalDir, { recursive: true, force: true });
}

function pair(n, who) {
  if (who === 'rival') {
    for (let i = 0; i < 1000; i++) lockfile.lockSync(rivalFile, RIVAL_OPTIONS)();
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) lockfile.lockSync(rivalFile, RIVAL_OPTIONS)();
    return Number(process.hrtime.bigint() - start) / n;
  }
  const lock = Lock.open(name, { create: true });
  for (let i = 0; i < 1000; i++) { lock.acquireSync(); lock.release(); }
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    lock.acquireSync();
    lock.release();
  }
  const ns = Number(process.hrtime.bigint() - start) / n;
  lock.close();
  return ns;
}

/** The child roles: hold until killed, or wait and print the wall-clock time of the acquire. */
async function child(role, who) {
  const now = () => performance.timeOrigin + performance.now();
  if (who === 'rival') {
    if (role === 'hold') {
      await lockfile.lock(rivalFile, RIVAL_OPTIONS);
      process.stdout.write('held\n');
      setInterval(() => {}, 1 << 30);
      return;
    }
    process.stdout.write('waiting\n');
    await lockfile.lock(rivalFile, { ...RIVAL_OPTIONS, retries: { retries: 1000, minTimeout: 5, maxTimeout: 20 } });
    process.stdout.write(`${now()}\n`);
    process.exit(0);
  }
  const lock = Lock.open(name, { create: true });
  if (role === 'hold') {
    lock.acquireSync();
    process.stdout.write('held\n');
    setInterval(() => {}, 1 << 30);
    return;
  }
  process.stdout.write('waiting\n');
  if (who === 'ours-sync') lock.acquireSync();
  else await lock.acquire();
  process.stdout.write(`${now()}\n`);
  process.exit(0);
}

function start(args) {
  const p = spawn(process.execPath, [__filename, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  p.lines = [];
  let buf = '';
  p.stdout.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      p.lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      p.emit('line');
    }
  });
  return p;
}

const lineCount = (p, n) => new Promise((resolve) => {
  const check = () => p.lines.length >= n && resolve();
  p.on('line', check);
  check();
});

async function takeover(who) {
  const holder = start(['child', 'hold', who, name, rivalFile]);
  await lineCount(holder, 1);
  const waiter = start(['child', 'wait', who, name, rivalFile]);
  await lineCount(waiter, 1);
  // the waiter is in its acquire (sync: asleep in the kernel) some time after it printed: let it get there
  await new Promise((resolve) => setTimeout(resolve, 200));
  const killedAt = performance.timeOrigin + performance.now();
  holder.kill('SIGKILL');
  await lineCount(waiter, 2);
  return Number(waiter.lines[1]) - killedAt;
}

async function main() {
  if (workload === 'child') return child(args[0], args[1]);
  try {
    const result = workload === 'pair' ? pair(Number(args[0]), args[1]) : await takeover(args[0]);
    console.log(JSON.stringify(result));
  } finally {
    cleanup();
  }
}

main();
