// CPython's _TestProcess (Lib/test/_test_multiprocessing.py), ported: behaviour, not text. CPython runs it for
// 'processes' (and 'threads'); a Process has no Sync twin, so it runs once, its queues and events in async form.
'use strict';
const fs = require('node:fs');
const mp = require('../../dist');
const { cpython, deviation, eachVariant, notApplicable, pending, spawn, joinOk } = require('./harness');
const t = require('./targets');

const LONG = 30000; // an upper bound only

/** A process that exited but was not reaped yet (an orphan waits for whoever adopted it): Linux says so in /proc. */
function isZombie(pid) {
  try {
    return /^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Resolves once `pid` has exited (the grandchild is not our child: there is no exit event to wait for). */
async function untilGone(pid) {
  const deadline = Date.now() + LONG;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    if (isZombie(pid)) return;
    if (Date.now() > deadline) throw new Error(`process ${pid} still alive after ${LONG} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

eachVariant('_TestProcess', ({ mode, o, make }) => {
  const { Process, currentProcess, parentProcess, activeChildren } = mp;

  cpython('test_current', () => {
    const current = currentProcess();
    expect(current.daemon).toBe(false);
    expect(Buffer.isBuffer(current.authkey)).toBe(true);
    expect(current.authkey.length).toBeGreaterThan(0);
    expect(current.pid).toBe(process.pid);
    expect(current.name).toBe('MainProcess');
  });

  deviation('test_set_executable', 'setExecutable');

  cpython('test_args_argument', async () => {
    await Promise.all([1, 'str', [1]].map(async (arg) => {
      const q = await make.Queue(1);
      const p = await spawn(mode, t.putArg, [q, arg], { daemon: true });
      expect(await o.get(q, { timeout: LONG })).toEqual(arg);
      await joinOk(p);
    }));
    expect(() => new Process({ target: t.putArg, args: 'not an array' })).toThrow(mp.InvalidArgumentError);
  });

  cpython('test_daemon_argument', () => {
    expect(new Process({ target: t.exitAtOnce }).daemon).toBe(currentProcess().daemon);
    expect(new Process({ target: t.exitAtOnce, daemon: true }).daemon).toBe(true);
    expect(new Process({ target: t.exitAtOnce, daemon: false }).daemon).toBe(false);
  });

  cpython('test_parent_process_attributes', async () => {
    expect(parentProcess()).toBeNull();
    const q = await make.Queue();
    const p = await spawn(mode, t.sendParent, [q]);
    await joinOk(p);
    const [parentPid, parentName] = await o.get(q, { timeout: LONG });
    expect(parentPid).toBe(currentProcess().pid);
    expect(parentPid).toBe(process.pid);
    expect(parentName).toBe(currentProcess().name);
  });

  deviation('test_parent_process', 'childDiesWithParent', async () => {
    const q = await make.Queue();
    const p = await spawn(mode, t.createGrandchild, [q]);
    const [status, grandchildPid] = await o.get(q, { timeout: LONG });
    expect(status).toBe('alive');
    p.terminate();
    await p.join();
    await untilGone(grandchildPid); // it does not stay to report "not alive": it exits with its parent
  });

  cpython('test_process', async () => {
    const q = await make.Queue(1);
    const args = [q, 1, 2];
    const options = { hello: 23, bye: 2.54 }; // CPython's kwargs
    const p = new Process({ target: t.reportSelf, args: [mode, ...args, options], name: 'SomeProcess' });
    p.daemon = true;
    expect(p.isAlive()).toBe(false);
    expect(p.daemon).toBe(true);
    expect(activeChildren()).not.toContain(p);
    expect(Array.isArray(activeChildren())).toBe(true);
    expect(p.exitCode).toBeNull();

    const started = p.start();
    expect(p.exitCode).toBeNull();
    expect(p.isAlive()).toBe(true);
    expect(activeChildren()).toContain(p);
    await started;

    expect(await o.get(q, { timeout: LONG })).toEqual(args.slice(1));
    expect(await o.get(q, { timeout: LONG })).toEqual(options);
    expect(await o.get(q, { timeout: LONG })).toBe(p.name);
    expect(Buffer.from(await o.get(q, { timeout: LONG })).equals(currentProcess().authkey)).toBe(true);
    expect(await o.get(q, { timeout: LONG })).toBe(p.pid);
    await p.join();
    expect(p.exitCode).toBe(0);
    expect(p.isAlive()).toBe(false);
    expect(activeChildren()).not.toContain(p);
  });

  notApplicable('test_process_mainthread_native_id', "compares Python threads' native ids; Node exposes none");

  /** _kill_process: a child that sleeps once it set `event`, ended by `meth`; resolves to its exit code. */
  async function killProcess(meth, target = t.setThenSleep) {
    const event = await make.Event();
    const p = new Process({ target, args: [mode, event], daemon: true });
    await p.start();
    expect(p.isAlive()).toBe(true);
    expect(activeChildren()).toContain(p);
    expect(p.exitCode).toBeNull();
    expect(await p.join(0)).toBeUndefined();
    expect(p.isAlive()).toBe(true);
    expect(await o.wait(event, LONG)).toBe(true);
    meth(p);
    expect(await p.join()).toBeUndefined();
    expect(p.isAlive()).toBe(false);
    expect(activeChildren()).not.toContain(p);
    await p.join();
    return p.exitCode;
  }

  cpython('test_interrupt', async () => {
    expect(await killProcess((p) => p.interrupt(), t.setThenSleepRaisingOnInt)).toBe(1);
  });
  cpython('test_interrupt_no_handler', async () => {
    expect(await killProcess((p) => p.interrupt(), t.setThenSleepNoIntHandler)).toBe(-2);
  });
  cpython('test_terminate', async () => {
    expect(await killProcess((p) => p.terminate())).toBe(-15);
  });
  cpython('test_kill', async () => {
    expect(await killProcess((p) => p.kill())).toBe(-9);
  });
  cpython('test_terminate (its join(-1) step)', async () => {
    const event = await make.Event();
    const p = await spawn(mode, t.setThenSleep, [event], { daemon: true });
    expect(await p.join(-1)).toBeUndefined(); // a negative timeout is zero: returns at once
    expect(p.isAlive()).toBe(true);
    p.terminate();
    await p.join();
  });

  cpython('test_cpu_count', () => {
    const cpus = mp.cpuCount();
    expect(Number.isInteger(cpus)).toBe(true);
    expect(cpus).toBeGreaterThanOrEqual(1);
  });

  cpython('test_active_children', async () => {
    expect(Array.isArray(activeChildren())).toBe(true);
    const event = await make.Event();
    const p = new Process({ target: t.waitEvent, args: [mode, event] });
    expect(activeChildren()).not.toContain(p);
    try {
      p.daemon = true;
      await p.start();
      expect(activeChildren()).toContain(p);
    } finally {
      await o.set(event);
    }
    await p.join();
    expect(activeChildren()).not.toContain(p);
  });

  cpython('test_recursion', async () => {
    const q = await make.Queue();
    await t.recursion(mode, q, []);
    const result = [];
    for (let i = 0; i < 7; i++) result.push(await o.get(q, { timeout: LONG }));
    expect(result).toEqual([[], [0], [0, 0], [0, 1], [1], [1, 0], [1, 1]]);
    await expect(async () => o.get(q, { block: false })).rejects.toThrow(mp.Empty);
  });

  cpython('test_sentinel', async () => {
    const event = await make.Event();
    const p = new Process({ target: t.waitEvent, args: [mode, event], daemon: true });
    await p.start();
    expect(await mp.connection.wait([p], 0)).toEqual([]); // still running
    await o.set(event);
    expect(await mp.connection.wait([p], LONG)).toEqual([p]);
    await p.sentinel;
    await p.join();
    expect(p.exitCode).toBe(0);
  });

  cpython('test_close', async () => {
    const q = await make.Queue();
    const event = await make.Event();
    const p = await spawn(mode, t.waitEvent, [event], { daemon: true });
    expect(p.isAlive()).toBe(true);
    expect(() => p.close()).toThrow(mp.ValueError); // still running
    await o.set(event);
    await p.join();
    expect(p.isAlive()).toBe(false);
    expect(p.exitCode).toBe(0);
    p.close();
    expect(() => p.isAlive()).toThrow(mp.ValueError);
    await expect(async () => p.join()).rejects.toThrow(mp.ValueError);
    expect(() => p.terminate()).toThrow(mp.ValueError);
    p.close();
    q.close();
  });

  cpython('test_many_processes', async () => {
    const N = 5;
    let procs = Array.from({ length: N }, () => new Process({ target: t.exitAtOnce }));
    await Promise.all(procs.map((p) => p.start()));
    for (const p of procs) await joinOk(p);

    procs = Array.from({ length: N }, () => new Process({ target: t.setThenSleep, args: [mode, new mp.Event()] }));
    await Promise.all(procs.map((p) => p.start()));
    for (const p of procs) p.terminate();
    for (const p of procs) await p.join();
    for (const p of procs) expect(p.exitCode).toBe(-15);
  });

  notApplicable('test_lose_target_ref', 'a target is a function exported by its module, referenced by name: there is no callable object for the Process to hold');

  cpython('test_child_fd_inflation', async () => {
    const N = 5;
    const [evt, q] = [await make.Event(), await make.Queue()];
    const procs = await Promise.all(Array.from({ length: N }, () => spawn(mode, t.reportFdCount, [evt, q])));
    try {
      const counts = [];
      for (let i = 0; i < N; i++) counts.push(await o.get(q, { timeout: LONG }));
      expect(new Set(counts).size).toBe(1);
    } finally {
      await o.set(evt);
      for (const p of procs) await p.join();
    }
  });

  cpython('test_wait_for_threads', async () => {
    const evt = await make.Event();
    const p = await spawn(mode, t.setEventLater, [evt]);
    await joinOk(p);
    expect(await o.isSet(evt)).toBe(true);
  });

  notApplicable('test_error_on_stdio_flush_1', "replaces the parent's sys.stdout with a closed or missing stream; Node's process.stdout cannot be replaced");

  cpython('test_error_on_stdio_flush_2', async () => {
    for (const stream of ['stdout', 'stderr']) {
      const evt = await make.Event();
      const p = await spawn(mode, t.breakStdio, [evt, stream]);
      await joinOk(p);
      expect(await o.isSet(evt)).toBe(true);
    }
  });

  for (const name of ['test_forkserver_sigint', 'test_forkserver_sigkill', 'test_forkserver_auth_is_enabled',
    'test_forkserver_without_auth_fails']) {
    notApplicable(name, 'multiproc spawns every child; there is no forkserver');
  }
}, ['async']);
