// The addon itself, below every policy of lib/: the subset run against each build of the same sources (node-gyp,
// cmake-js, AddressSanitizer). MULTIPROC_NATIVE_BINARY chooses the binary; children inherit it with the environment.
'use strict';
const { spawn } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { native } = require('../dist/native');
const { expectNativeValue } = require('./semaphore_value');

const nativeModule = path.join(__dirname, '..', 'dist', 'native');
const { Semaphore } = native;

const created = [];
function uniqueName() {
  const name = `/mp-native-test-${randomBytes(6).toString('hex')}`;
  created.push(name);
  return name;
}

afterAll(() => {
  for (const name of created) {
    try {
      Semaphore.unlink(name);
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
  }
});

/** Runs `body` (a function's source, given `native`) in a fresh Node process; resolves with its exit and stdout. */
function runInChild(body, { args = [], stdio = ['ignore', 'pipe', 'inherit'] } = {}) {
  const script = `const { native } = require(${JSON.stringify(nativeModule)});\n(${body})(native, ...process.argv.slice(1));`;
  const child = spawn(process.execPath, ['-e', script, ...args], { stdio });
  let output = '';
  child.stdout.on('data', (chunk) => { output += chunk; });
  const exited = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, output }));
  });
  return Object.assign(exited, { child });
}

function waitAsync(sem, timeoutMs, then) {
  return new Promise((resolve, reject) => {
    sem.waitAsync(timeoutMs, (err, ready) => (err ? reject(err) : resolve(ready)), then);
  });
}

/** Resolves once `fd` is readable, as the event loop reports it (no thread involved). */
function readable(fd) {
  const watcher = new native.FdWatcher(fd, false);
  return new Promise((resolve, reject) => {
    watcher.start((err) => {
      watcher.close();
      if (err) reject(err);
      else resolve(true);
    });
  });
}

describe('native Semaphore', () => {
  test('value, tryWait, wait with a timeout and post respect the count', () => {
    const sem = Semaphore.create(uniqueName(), 2, 2);
    expectNativeValue(sem, 2);
    expect(sem.tryWait()).toBe(true);
    expect(sem.wait(0)).toBe(true);
    expect(sem.tryWait()).toBe(false);
    const started = Date.now();
    expect(sem.wait(50)).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(sem.post()).toBe(true);
    expectNativeValue(sem, 1);
    sem.close();
  });

  test('post(maxValue) posts nothing once the value is at maxValue', () => {
    const sem = Semaphore.create(uniqueName(), 0, 1);
    expect(sem.post(1)).toBe(true);
    expect(sem.post(1)).toBe(false);
    expectNativeValue(sem, 1);
    sem.close();
  });

  test('open shares the count with the creator; unlink removes only the name', () => {
    const name = uniqueName();
    const creator = Semaphore.create(name, 0, 1);
    const opened = Semaphore.open(name);
    creator.post();
    expect(opened.tryWait()).toBe(true);
    Semaphore.unlink(name);
    expect(() => Semaphore.open(name)).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'sem_open' }));
    opened.post();
    expectNativeValue(creator, 1);
    creator.close();
    opened.close();
  });

  test('system call failures carry syscall, code and errno', () => {
    const name = uniqueName();
    const first = Semaphore.create(name, 0, 1);
    expect(() => Semaphore.create(name, 0, 1)).toThrow(expect.objectContaining({
      code: 'EEXIST', syscall: 'sem_open', errno: expect.any(Number), message: expect.stringContaining('EEXIST'),
    }));
    first.close(); // its creator's last reference: the name goes with it
    expect(() => Semaphore.unlink(name)).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'sem_unlink' }));
  });

  test('a name goes with the last reference of its creator, not before: shared and lent references keep it', () => {
    const name = uniqueName();
    const created = Semaphore.create(name, 0, 1);
    const shared = created.share();
    const adopted = Semaphore.adopt(created.lend());
    created.close();
    shared.close();
    Semaphore.open(name).close(); // still there: `adopted` holds it
    adopted.post();
    expectNativeValue(adopted, 1);
    adopted.close();
    expect(() => Semaphore.open(name)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    const opened = Semaphore.create(uniqueName(), 0, 1);
    const ticket = opened.lend();
    opened.close();
    expect(() => Semaphore.adopt(ticket)).toThrow(expect.objectContaining({ code: 'ERR_MP_CLOSED' }));
    expect(() => Semaphore.adopt('s1')).toThrow(expect.objectContaining({ code: 'ERR_MP_CLOSED' }));
  });

  test('wrong argument types and a closed semaphore throw instead of crashing', () => {
    // Native errors come from the Node realm, not jest's: compare names, not constructors.
    const wrongType = (index) => expect.objectContaining({
      name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: expect.stringContaining(`argument ${index}`),
    });
    expect(() => Semaphore.create(1, 0, 1)).toThrow(wrongType(0));
    expect(() => Semaphore.open()).toThrow(wrongType(0));
    const sem = Semaphore.create(uniqueName(), 0, 1);
    expect(() => sem.wait('soon')).toThrow(wrongType(0));
    expect(() => sem.waitAsync(0, () => {}, {})).toThrow(/must be a Semaphore/);
    sem.close();
    expect(() => sem.post()).toThrow(/closed/);
    expect(() => sem.tryWait()).toThrow(/closed/);
  });

  test('waitAsync times out, acquires, posts `then` and can be cancelled', async () => {
    const sem = Semaphore.create(uniqueName(), 0, 1);
    const then = Semaphore.create(uniqueName(), 0, 1);
    expect(await waitAsync(sem, 30, then)).toBe(false);
    expect(then.tryWait()).toBe(true);

    const acquired = waitAsync(sem, -1);
    sem.post();
    expect(await acquired).toBe(true);
    expectNativeValue(sem, 0);

    const id = sem.waitAsync(-1, () => { throw new Error('a cancelled wait called back'); });
    expect(native.cancelWait(id)).toBe(true);
    expect(native.cancelWait(id)).toBe(false);
    sem.post();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expectNativeValue(sem, 1); // the abandoned waiter gave back anything it took
    sem.close();
    then.close();
  });

  test('a wait whose `then` is its own semaphore leaves the unit free; timed out, it posts nothing', async () => {
    const sem = Semaphore.create(uniqueName(), 0, 4);
    const free = waitAsync(sem, -1, sem);
    sem.post();
    expect(await free).toBe(true);
    expectNativeValue(sem, 1); // the hub gave the unit straight back
    expect(sem.tryWait()).toBe(true);
    expect(await waitAsync(sem, 20, sem)).toBe(false);
    expectNativeValue(sem, 0); // nothing taken, nothing posted
    sem.close();
  });

  test('close() fails the async waits made through that reference with ERR_MP_CLOSED', async () => {
    const sem = Semaphore.create(uniqueName(), 0, 1);
    const other = sem.share();
    const failing = waitAsync(sem, -1);
    const served = waitAsync(other, -1);
    sem.close();
    await expect(failing).rejects.toMatchObject({ code: 'ERR_MP_CLOSED' });
    other.post();
    expect(await served).toBe(true);
    other.close();
  });

  // Before the wait hub, the native deadline of a huge timeout overflowed: these waits returned false at once.
  test('timeout-overflow: a timeout too large for a deadline waits forever, async and sync', async () => {
    const sem = Semaphore.create(uniqueName(), 0, 1);
    const pending = [1e13, 1e300, Number.MAX_VALUE].map((timeout) => waitAsync(sem, timeout));
    const settled = await Promise.race([...pending, new Promise((resolve) => setTimeout(resolve, 300, 'pending'))]);
    expect(settled).toBe('pending');
    for (let i = 0; i < pending.length; i++) sem.post();
    expect(await Promise.all(pending)).toEqual([true, true, true]);
    sem.close();
    const name = uniqueName();
    const never = Semaphore.create(name, 0, 1);
    const child = runInChild((addon, name) => {
      setTimeout(() => process.exit(3), 500).unref(); // not reached while the wait blocks this thread
      process.stdout.write(String(addon.Semaphore.open(name).wait(1e300)));
    }, { args: [name] });
    const result = await Promise.race([child, new Promise((resolve) => setTimeout(resolve, 1500, 'blocked'))]);
    child.child.kill('SIGKILL');
    expect(result).toBe('blocked');
    expect((await child).signal).toBe('SIGKILL');
    never.close();
  });

  // Before the hub, each pending wait had a thread of its own: 2,000 pending acquires made 2,007 threads.
  test('thread-per-wait: 2,000 pending waits on 500 semaphores share a few hub threads, and cancel synchronously', async () => {
    const sems = Array.from({ length: 500 }, () => Semaphore.create(uniqueName(), 0, 4));
    const threads = () => (fs.existsSync('/proc/self/task') ? fs.readdirSync('/proc/self/task').length : 0);
    const threadsBefore = threads();
    const hubThreadsBefore = native.hubThreads(); // hub threads of earlier tests stay: only the new ones count
    const ids = [];
    const results = [];
    for (let i = 0; i < 2000; i++) {
      ids.push(sems[i % 500].waitAsync(-1, (err, ok) => results.push(err ? err.code : ok)));
    }
    expect(threads() - threadsBefore).toBeLessThanOrEqual(Math.ceil(500 / 127) + 1);
    expect(native.hubThreads() - hubThreadsBefore).toBeLessThanOrEqual(Math.ceil(500 / 127) + 1 + 1); // + the polling thread, if any
    for (let i = 0; i < 1000; i++) expect(native.cancelWait(ids[i])).toBe(true); // dropped synchronously
    for (let i = 1000; i < 2000; i++) sems[i % 500].post();
    while (results.length < 1000) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(results).toEqual(Array(1000).fill(true));
    for (const sem of sems) {
      expectNativeValue(sem, 0); // the cancelled waits took nothing
      sem.close();
    }
  });

  // A hub thread sleeping on a word whose group was just removed (the semaphore closed here, or the environment
  // torn down, as a process exits) is still queued on the word until it runs again. A post in that window could wake
  // it instead of the word's other sleeper, and the removed group passed nothing on: that sleeper slept on with the
  // unit free (a Condition notify waited for ever for a sleeper whose peer process was exiting). Each round: this
  // process's hub lingers on S, a thread sleeps in sem_wait on S behind it, S is closed here and posted at once.
  test('closed-group-swallows-wake: closing a semaphore whose word a hub thread sleeps on loses no post', async () => {
    if (!native.features.semGetValue || process.platform !== 'linux') return; // futex words: Linux only
    const { Worker } = require('node:worker_threads');
    const enough = 100; // rounds in which the race was set up (timing: a round may miss it under load)
    const until = Date.now() + 30000;
    const prefix = uniqueName();
    // [0]: the round the thread opens and then spins for; [1]: the round it may sleep in (0 between rounds)
    const phase = new Int32Array(new SharedArrayBuffer(8));
    const sleeper = new Worker(`
      const { parentPort, workerData: { nativeModule, prefix, phase } } = require('node:worker_threads');
      const { Semaphore } = require(nativeModule).native;
      for (let round = 1; ; round++) {
        for (let now; (now = Atomics.load(phase, 0)) >= 0 && now < round;) Atomics.wait(phase, 0, now);
        if (Atomics.load(phase, 0) < 0) break;
        const sem = Semaphore.open(prefix + '-' + round);
        parentPort.postMessage('ready');
        while (Atomics.load(phase, 1) !== round) { /* spins: it must sleep within microseconds of the go */ }
        const woke = sem.wait(2000);
        sem.close();
        parentPort.postMessage(woke);
      }`, { eval: true, workerData: { nativeModule, prefix, phase } });
    const reports = [];
    let report = null;
    sleeper.on('message', (m) => (report ? (report(m), report = null) : reports.push(m)));
    const nextReport = () => (reports.length ? Promise.resolve(reports.shift()) : new Promise((resolve) => { report = resolve; }));
    let lost = 0;
    let raced = 0;
    try {
      for (let round = 1; raced < enough && Date.now() < until && lost === 0; round++) {
        const name = `${prefix}-${round}`;
        const sem = Semaphore.create(name, 0, 1);
        const poster = Semaphore.open(name); // another reference: it stays open when `sem` closes
        const words = new Int32Array(sem.sharedWords());
        Atomics.store(phase, 0, round);
        Atomics.notify(phase, 0);
        expect(await nextReport()).toBe('ready');
        const lingering = waitAsync(sem, 10000);
        sem.post();
        expect(await lingering).toBe(true); // this process's hub thread sleeps on the word now, lingering 5 ms
        Atomics.store(phase, 1, round);
        const started = performance.now(); // until the thread sleeps in sem_wait behind it (two sleepers)
        while (Atomics.load(words, 1) < 2 && performance.now() - started < 2) { /* microseconds */ }
        if (Atomics.load(words, 1) === 2) raced++;
        sem.close(); // the group goes; its thread stays queued on the word until it runs again
        poster.post();
        if ((await nextReport()) !== true) lost++;
        poster.close(); // the name went with its creator's reference
      }
    } finally {
      Atomics.store(phase, 0, -1);
      Atomics.notify(phase, 0);
      await sleeper.terminate();
    }
    expect(lost).toBe(0);
    expect(raced).toBeGreaterThanOrEqual(20); // before the fix, a post was lost within the first few such rounds
  }, 60000);

  test('a unit posted by another process wakes an async wait here, and the reverse', async () => {
    const toParentName = uniqueName();
    const toChildName = uniqueName();
    const toParent = Semaphore.create(toParentName, 0, 1);
    const toChild = Semaphore.create(toChildName, 0, 1);
    const child = runInChild((addon, toParentName, toChildName) => {
      const up = addon.Semaphore.open(toParentName);
      const down = addon.Semaphore.open(toChildName);
      up.post();
      if (!down.wait(10000)) process.exit(2);
      process.stdout.write(Object.keys(require.cache).filter((file) => file.endsWith('.node')).join('\n'));
    }, { args: [toParentName, toChildName] });
    expect(await waitAsync(toParent, 10000)).toBe(true);
    toChild.post();
    const { code, output: loadedBinary } = await child;
    expect(code).toBe(0);
    if (process.env.MULTIPROC_NATIVE_BINARY) expect(loadedBinary).toBe(path.resolve(process.env.MULTIPROC_NATIVE_BINARY));
    toParent.close();
    toChild.close();
  });
});

describe('native descriptors', () => {
  test('pipe, poll for read and write, setNonBlocking and closeFd', () => {
    const [readFd, writeFd] = native.pipe();
    expect(native.poll(writeFd, true, 0)).toBe(true);
    expect(native.poll(readFd, false, 20)).toBe(false);
    fs.writeSync(writeFd, 'x');
    expect(native.poll(readFd, false, 0)).toBe(true);
    native.setNonBlocking(readFd, true);
    expect(fs.readSync(readFd, Buffer.alloc(4))).toBe(1);
    expect(() => fs.readSync(readFd, Buffer.alloc(4))).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
    native.closeFd(readFd);
    native.closeFd(writeFd);
    expect(() => native.closeFd(writeFd)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'close' }));
  });

  test('writev writes chunks end to end from an offset, and says -1 when a non-blocking pipe is full', () => {
    const [readFd, writeFd] = native.pipe();
    native.setNonBlocking(writeFd, true);
    const chunks = [Buffer.from('ab'), new Uint8Array(0), Buffer.from('cdef'), new Uint8Array(Buffer.from('gh'))];
    expect(native.writev(writeFd, chunks, 1)).toBe(7);
    const buffer = Buffer.alloc(16);
    expect(buffer.toString('utf8', 0, fs.readSync(readFd, buffer))).toBe('bcdefgh');
    expect(native.writev(writeFd, chunks, 8)).toBe(0); // nothing left past the offset
    expect(() => native.writev(writeFd, [new Uint16Array(2)], 0)).toThrow(/array of Uint8Arrays/);
    expect(() => native.writev(writeFd, chunks, -1)).toThrow(/negative offset/);
    const big = [Buffer.alloc(1 << 20)];
    let written = 0;
    for (let n; (n = native.writev(writeFd, big, 0)) > 0;) written += n;
    expect(written).toBeGreaterThan(0);
    expect(native.writev(writeFd, big, 0)).toBe(-1);
    native.closeFd(readFd);
    expect(() => native.writev(writeFd, chunks, 0)).toThrow(expect.objectContaining({ code: 'EPIPE', syscall: 'writev' }));
    native.closeFd(writeFd);
  });

  test('socketPair: what the sending end sends, the receiving end reads', () => {
    const [receiveFd, sendFd] = native.socketPair(1 << 20);
    expect(native.write(sendFd, Buffer.from('through the socket'), 0, 18)).toBe(18);
    const buffer = Buffer.alloc(64);
    expect(buffer.toString('utf8', 0, native.read(receiveFd, buffer, 0, 64))).toBe('through the socket');
    native.setNonBlocking(receiveFd, true);
    expect(native.read(receiveFd, buffer, 0, 64)).toBe(-1);
    expect(() => native.socketPair('big')).toThrow(/wrong type/);
    native.closeFd(receiveFd);
    native.closeFd(sendFd);
  });

  test('an FdWatcher sees bytes written by another process through an inherited pipe end', async () => {
    const [readFd, writeFd] = native.pipe();
    const child = runInChild(() => require('node:fs').writeSync(3, 'from the child'), {
      stdio: ['ignore', 'pipe', 'inherit', writeFd],
    });
    expect(await readable(readFd)).toBe(true);
    expect((await child).code).toBe(0);
    const buffer = Buffer.alloc(64);
    expect(buffer.toString('utf8', 0, fs.readSync(readFd, buffer))).toBe('from the child');
    native.closeFd(readFd);
    native.closeFd(writeFd);
    expect(() => native.poll(readFd, false, 0)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'poll' }));
  });

  test('a lent descriptor is duplicated for the adopter until its owner revokes it', () => {
    const [readFd, writeFd] = native.pipe();
    const ticket = native.lendDescriptor(writeFd);
    const copy = native.adoptDescriptor(ticket);
    expect(copy).not.toBe(writeFd);
    fs.writeSync(copy, 'x');
    native.closeFd(copy);
    native.revokeDescriptor(writeFd);
    expect(() => native.adoptDescriptor(ticket)).toThrow(expect.objectContaining({ code: 'ERR_MP_CLOSED' }));
    expect(native.poll(readFd, false, 0)).toBe(true);
    native.closeFd(readFd);
    native.closeFd(writeFd);
  });

  test('a descriptor made inheritable with setCloseOnExec reaches a spawned program; by default it does not', async () => {
    const [readFd, writeFd] = native.pipe();
    const writeThroughInherited = (addon, fd) => require('node:fs').writeSync(Number(fd), 'inherited');
    const expectedToFail = { args: [String(writeFd)], stdio: ['ignore', 'pipe', 'ignore'] }; // its EBADF is no news
    expect((await runInChild(writeThroughInherited, expectedToFail)).code).not.toBe(0);
    native.setCloseOnExec(writeFd, false);
    const child = runInChild(writeThroughInherited, { args: [String(writeFd)] });
    native.setCloseOnExec(writeFd, true); // the spawn is done: no later child of this process gets it
    expect((await child).code).toBe(0);
    const buffer = Buffer.alloc(64);
    expect(buffer.toString('utf8', 0, fs.readSync(readFd, buffer))).toBe('inherited');
    native.closeFd(readFd);
    native.closeFd(writeFd);
  });

  // The child watches a pipe whose write end it closes itself; `after` says what it does next.
  const watchOwnHangup = (addon, after) => {
    const [readFd, writeFd] = addon.pipe();
    addon.watchHangup(readFd, 200, 7, () => process.exit(3));
    addon.closeFd(writeFd);
    if (after === 'stay') setTimeout(() => {}, 10000);
    if (after === 'block') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120000);
  };

  test('watchHangup calls back on hangup, and exits with its code a process whose event loop stays blocked', async () => {
    expect(await runInChild(watchOwnHangup, { args: ['stay'] })).toEqual({ code: 3, signal: null, output: '' });
    const started = Date.now();
    expect(await runInChild(watchOwnHangup, { args: ['block'] })).toEqual({ code: 7, signal: null, output: '' });
    expect(Date.now() - started).toBeLessThan(60000); // the blocked child would sleep 120 s: the watcher ended it
  });

  test('a process that ends just as its watched pipe hangs up exits cleanly, never aborts', async () => {
    const runs = await Promise.all([1, 2, 3, 4, 5, 6].map(() => runInChild(watchOwnHangup, { args: ['end'] })));
    // 0: it ended first; 3: the callback came first. An abort (the environment torn down under the watcher) is neither.
    for (const run of runs) expect([0, 3]).toContain(run.code);
  });
});

const childrenOnly = native.canSpawnChild ? describe : describe.skip;

childrenOnly('native children (spawnChild: Linux, without fork)', () => {
  /** Resolves with [code, signal] once the child behind `pidfd` has exited, reaping it. */
  async function reaped(pid, pidfd) {
    await readable(pidfd);
    const ended = native.reapChild(pid);
    native.closeFd(pidfd);
    return ended;
  }

  test('descriptors reach the child by position, one that keeps its own number and is close-on-exec included', async () => {
    const [readFd, writeFd] = native.pipe(); // both close-on-exec
    const fds = [0, 1, 2];
    while (fds.length < writeFd) fds.push(2);
    fds.push(writeFd); // the child's descriptor writeFd is this process's writeFd
    const script = `require('fs').writeSync(${writeFd}, 'ok ' + process.argv.slice(1).join(' '))`;
    const [pid, pidfd] = native.spawnChild(process.execPath, [process.execPath, '-e', script, 'a', 'b'],
      [`PATH=${process.env.PATH}`], fds);
    native.closeFd(writeFd);
    expect(await reaped(pid, pidfd)).toEqual([0, 0]);
    const out = Buffer.alloc(16);
    expect(out.toString('utf8', 0, fs.readSync(readFd, out))).toBe('ok a b');
    native.closeFd(readFd);
  });

  test('the environment is exactly the one given, and signals reach the child through its pidfd', async () => {
    const [readFd, writeFd] = native.pipe();
    const script = `require('fs').writeSync(3, JSON.stringify(process.env)); setInterval(() => {}, 1000)`;
    const [pid, pidfd] = native.spawnChild(process.execPath, [process.execPath, '-e', script], ['ONLY=this'],
      [0, 1, 2, writeFd]);
    native.closeFd(writeFd);
    await readable(readFd);
    const out = Buffer.alloc(4096);
    expect(JSON.parse(out.toString('utf8', 0, fs.readSync(readFd, out)))).toEqual({ ONLY: 'this' });
    expect(native.reapChild(pid)).toBeNull(); // still running
    native.signalChild(pidfd, 9);
    expect(await reaped(pid, pidfd)).toEqual([-1, 9]);
    native.closeFd(readFd);
  });

  test('bad input throws typed errors: wrong types, a file that cannot run, a closed pidfd, a pid not ours', () => {
    for (const args of [[1, [], [], []], ['/bin/true', 'x', [], []], ['/bin/true', [], [], [-1]],
      ['/bin/true', [1], [], []], ['/bin/true', [], [], ['0']]]) {
      expect(() => native.spawnChild(...args)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }));
    }
    const before = fs.readdirSync('/proc/self/fd').length;
    expect(() => native.spawnChild('/nonexistent/program', ['x'], [], [0, 1, 2]))
      .toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'posix_spawn' }));
    expect(fs.readdirSync('/proc/self/fd').length).toBe(before);
    const [readFd, writeFd] = native.pipe();
    native.closeFd(readFd);
    native.closeFd(writeFd);
    expect(() => native.signalChild(writeFd, 9)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'pidfd_send_signal' }));
    expect(() => native.reapChild(1)).toThrow(expect.objectContaining({ code: 'ECHILD', syscall: 'waitpid' }));
  });
});
