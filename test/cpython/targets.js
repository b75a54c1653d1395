// Child-process targets of the CPython port (CPython's classmethod targets of each _Test class). Each takes the
// variant's mode first and uses variants.js's ops, so one target serves the async, Sync and manager variants. A
// failed expectation throws: the child exits 1 and prints why, and the parent checks the exit code.
'use strict';
const { strict: assert } = require('node:assert');
const mp = require('../../dist');
const { connOps, viaManager, ops, holding, valueGet, valueSet, countAppend, countLength } = require('./variants');

// _TestLock

/** _test_lock_locked_2processes: takes the lock, records what locked() says from here, signals. */
async function lockLocked2Processes(mode, lock, event, res) {
  const o = ops(mode);
  await o.acquire(lock);
  await valueSet(res, (await lock.locked()) ? 1 : 0);
  await o.set(event);
}

/** Holds the lock until `release` is set (CPython's _acquire_event without its sleep). */
async function holdUntil(mode, lock, held, release) {
  const o = ops(mode);
  await o.acquire(lock);
  await o.set(held);
  await o.wait(release, 30000);
  await o.release(lock);
}

// _TestCondition

/** CPython's f: sleeps in cond.wait(timeout), then reports it woke. */
async function conditionSleeper(mode, cond, sleeping, woken, timeout) {
  const o = ops(mode);
  await o.acquire(cond);
  await o.release(sleeping);
  await o.wait(cond, timeout);
  await o.release(woken);
  await o.release(cond);
}

/** _test_waitfor_f */
async function waitforChild(mode, cond, state) {
  const o = ops(mode);
  await holding(o, cond, async () => {
    await valueSet(state, 0);
    await o.notify(cond);
    const predicate = viaManager(mode) ? async () => (await valueGet(state)) === 4 : () => state.value === 4;
    const result = await o.waitFor(cond, predicate);
    assert.ok(result && (await valueGet(state)) === 4, 'wait_for returned without state 4');
  });
}

/** _test_waitfor_timeout_f: wait_for gives up (returns falsy) after its timeout. */
async function waitforTimeoutChild(mode, cond, state, success, sem) {
  const o = ops(mode);
  await o.release(sem);
  await holding(o, cond, async () => {
    const predicate = viaManager(mode) ? async () => (await valueGet(state)) === 4 : () => state.value === 4;
    const result = await o.waitFor(cond, predicate, 100);
    if (!result) await valueSet(success, 1);
  });
}

/** _test_wait_result: notifies once, then (instead of a second's sleep and a SIGINT) sets `done`. */
async function waitResultChild(mode, cond) {
  const o = ops(mode);
  await holding(o, cond, () => o.notify(cond));
}

// _TestEvent

/** _test_event: sets the event (CPython sleeps first; the parent's wait does not depend on it). */
async function setEvent(mode, event) {
  await ops(mode).set(event);
}

// _TestBarrier

const N = 5;

/** multipass: two counters advance in lockstep through the barrier, `passes` times. */
async function multipass(mode, barrier, results, passes) {
  const o = ops(mode);
  assert.equal(await o.parties(barrier), N);
  for (let i = 0; i < passes; i++) {
    await countAppend(results[0]);
    assert.equal(await countLength(results[1]), i * N);
    await o.wait(barrier);
    await countAppend(results[1]);
    assert.equal(await countLength(results[0]), (i + 1) * N);
    await o.wait(barrier);
  }
  assert.equal(await o.nWaiting(barrier), 0);
  assert.equal(await o.broken(barrier), false);
}

/** _test_wait_return_f */
async function waitReturn(mode, barrier, queue) {
  const o = ops(mode);
  await o.put(queue, await o.wait(barrier));
}

// AppendTrue(results): a Barrier action takes no arguments and must be exported, so the counter it appends to is
// the one the process's party handed over before waiting.
let actionResults;
function appendTrue() {
  countAppend(actionResults);
}

/** _test_action_f */
async function actionParty(mode, barrier, results) {
  actionResults = results;
  await ops(mode).wait(barrier);
  assert.equal(await countLength(results), 1);
}

/** _test_abort_f */
async function abortParty(mode, barrier, results1, results2) {
  const o = ops(mode);
  try {
    const i = await o.wait(barrier);
    if (i === Math.floor(N / 2)) {
      await o.abort(barrier);
      return;
    }
    await o.wait(barrier);
    await countAppend(results1);
  } catch (err) {
    if (!(err instanceof mp.BrokenBarrierError)) throw err;
    await countAppend(results2);
  }
}

/** Resolves once `n` parties wait in the barrier (CPython polls n_waiting with 1 ms sleeps; this polls a state). */
async function untilWaiting(o, barrier, n) {
  const deadline = Date.now() + 30000;
  while ((await o.nWaiting(barrier)) < n) {
    if (Date.now() > deadline) throw new Error(`fewer than ${n} parties reached the barrier in 30 s`);
    if (o.mode !== 'sync') await new Promise(setImmediate);
  }
}

/** _test_reset_f */
async function resetParty(mode, barrier, results1, results2, results3) {
  const o = ops(mode);
  const i = await o.wait(barrier);
  if (i === Math.floor(N / 2)) {
    await untilWaiting(o, barrier, N - 1);
    await o.reset(barrier);
  } else {
    try {
      await o.wait(barrier);
      await countAppend(results1);
    } catch (err) {
      if (!(err instanceof mp.BrokenBarrierError)) throw err;
      await countAppend(results2);
    }
  }
  await o.wait(barrier);
  await countAppend(results3);
}

/** _test_abort_and_reset_f */
async function abortAndResetParty(mode, barrier, barrier2, results1, results2, results3) {
  const o = ops(mode);
  try {
    const i = await o.wait(barrier);
    if (i === Math.floor(N / 2)) {
      await o.abort(barrier);
    } else {
      await o.wait(barrier);
      await countAppend(results1);
    }
  } catch (err) {
    if (!(err instanceof mp.BrokenBarrierError)) throw err;
    await countAppend(results2);
  }
  if ((await o.wait(barrier2)) === Math.floor(N / 2)) await o.reset(barrier);
  await o.wait(barrier2);
  await o.wait(barrier);
  await countAppend(results3);
}

/**
 * _test_timeout_f / _test_default_timeout_f: one party is late. CPython makes it late with a sleep longer than the
 * others' timeout; here it waits on `late` (a second barrier) that the others reach only after theirs timed out.
 */
async function lateParty(mode, barrier, late, results, timeout) {
  const o = ops(mode);
  const i = await o.wait(barrier, 30000);
  const isLate = i === Math.floor(N / 2);
  if (isLate) await o.wait(late, 30000);
  try {
    await o.wait(barrier, timeout);
  } catch (err) {
    if (!(err instanceof mp.BrokenBarrierError)) throw err;
    await countAppend(results);
  }
  if (!isLate) await o.wait(late, 30000);
}

/** _test_thousand_f: `passes` barrier rounds, each party reporting its round under the lock. */
async function thousandParty(mode, barrier, passes, queue, lock) {
  const o = ops(mode);
  for (let i = 0; i < passes; i++) {
    await o.wait(barrier);
    await holding(o, lock, () => o.put(queue, i));
  }
}

module.exports = {
  lockLocked2Processes, holdUntil, conditionSleeper, waitforChild, waitforTimeoutChild, waitResultChild, setEvent,
  multipass, waitReturn, appendTrue, actionParty, abortParty, resetParty, abortAndResetParty, lateParty, thousandParty,
  N,
};

// _TestQueue

/** _test_put: once allowed, empties the full queue and says so. */
async function queuePutChild(mode, queue, childCanStart, parentCanContinue) {
  const o = ops(mode);
  await o.wait(childCanStart);
  for (let i = 0; i < 6; i++) await o.get(queue);
  await o.set(parentCanContinue);
}

/** _test_get: once allowed, puts 2..5 and says so. */
async function queueGetChild(mode, queue, childCanStart, parentCanContinue) {
  const o = ops(mode);
  await o.wait(childCanStart);
  for (const item of [2, 3, 4, 5]) await o.put(queue, item);
  await o.set(parentCanContinue);
}

/** _test_fork */
async function queueForkChild(mode, queue) {
  const o = ops(mode);
  for (let i = 10; i < 20; i++) await o.put(queue, i);
}

/** _test_task_done: marks every item done until the end marker (null, Python's None). */
async function taskDoneWorker(mode, queue) {
  const o = ops(mode);
  for (let item = await o.get(queue); item !== null; item = await o.get(queue)) await o.taskDone(queue);
}

/** _join_worker */
async function joinWorker(mode, queue) {
  await ops(mode).join(queue);
}

Object.assign(module.exports, { queuePutChild, queueGetChild, queueForkChild, taskDoneWorker, joinWorker });

// _TestProcess

const forever = () => new Promise(() => setInterval(() => {}, 1 << 30));

/** _test_args */
async function putArg(mode, q, arg) {
  await ops(mode).put(q, arg);
}

/** _test: reports its arguments, name, authkey and pid (`options` stands for CPython's kwargs). */
async function reportSelf(mode, q, a, b, options) {
  const o = ops(mode);
  const me = mp.currentProcess();
  await o.put(q, [a, b]);
  await o.put(q, options);
  await o.put(q, me.name);
  await o.put(q, me.authkey);
  await o.put(q, me.pid);
}

/** _test_send_parent_process */
async function sendParent(mode, q) {
  const parent = mp.parentProcess();
  await ops(mode).put(q, [parent.pid, parent.name]);
}

/** _test_create_grandchild_process */
async function createGrandchild(mode, q) {
  await new mp.Process({ target: reportParentStatus, args: [mode, q] }).start();
  await forever();
}

/** _test_report_parent_status, first half: the parent is alive; then it stays until something ends it. */
async function reportParentStatus(mode, q) {
  await ops(mode).put(q, [mp.parentProcess().isAlive() ? 'alive' : 'not alive', process.pid]);
  await forever();
}

/** _sleep_some_event */
async function setThenSleep(mode, event) {
  await ops(mode).set(event);
  await forever();
}

/** _sleep_no_int_handler: SIGINT keeps its default action (the process dies of it). */
async function setThenSleepNoIntHandler(mode, event) {
  process.removeAllListeners('SIGINT');
  await setThenSleep(mode, event);
}

/** _sleep_some_event with Python's default SIGINT handler: the signal raises (an uncaught error: exit code 1). */
async function setThenSleepRaisingOnInt(mode, event) {
  process.on('SIGINT', () => {
    throw new Error('KeyboardInterrupt');
  });
  await setThenSleep(mode, event);
}

/** event.wait as a target */
async function waitEvent(mode, event) {
  await ops(mode).wait(event);
}

/** _test_recursion: a tree two levels deep, each node reporting its path before starting its children. */
async function recursion(mode, q, id) {
  await ops(mode).put(q, id);
  if (id.length < 2) {
    for (const i of [0, 1]) {
      const p = new mp.Process({ target: recursion, args: [mode, q, [...id, i]] });
      await p.start();
      await p.join();
    }
  }
}

/** _test_sleep (without the sleep: the child only has to start and exit) */
function exitAtOnce() {}

/** _test_child_fd_inflation: reports its count of open descriptors, then waits. */
async function reportFdCount(mode, evt, q) {
  const o = ops(mode);
  await o.put(q, require('node:fs').readdirSync('/dev/fd').length);
  await o.wait(evt);
}

/**
 * _test_wait_for_threads: a child exits once its pending work is done, as a Python child waits for its non-daemon
 * threads; an unref'd timer (a daemon thread) does not hold it.
 */
function setEventLater(mode, evt) {
  setTimeout(() => evt.set(), 100);
  setTimeout(() => evt.clear(), 20000).unref();
}

/** _test_error_on_stdio_flush with broken standard streams (Node: destroyed) */
async function breakStdio(mode, evt, streamName) {
  process[streamName].destroy();
  await ops(mode).set(evt);
}

Object.assign(module.exports, {
  putArg, reportSelf, sendParent, createGrandchild, reportParentStatus, setThenSleep, setThenSleepNoIntHandler,
  setThenSleepRaisingOnInt, waitEvent, recursion, exitAtOnce, reportFdCount, setEventLater, breakStdio,
});

// _TestValue, _TestArray

/** _TestValue._test: writes each value's new content. */
function setValues(mode, values, contents) {
  values.forEach((v, i) => { v.value = contents[i]; });
}

/** _TestArray.f: running sums, in place. */
function runningSums(mode, arr) {
  for (let i = 1; i < arr.length; i++) arr.set(i, arr.get(i) + arr.get(i - 1));
}
Object.assign(module.exports, { setValues, runningSums });

// _TestConnection, _TestListenerClient, _TestPoll

/** _TestConnection._echo: sends back each message until an empty one. */
async function echoBytes(mode, conn) {
  const c = connOps(mode);
  for (let msg = await c.recvBytes(conn); msg.length > 0; msg = await c.recvBytes(conn)) await c.sendBytes(conn, msg);
  conn.close();
}

/** _TestListenerClient._test: connects to `address` and says hello. */
async function clientHello(mode, address) {
  const conn = await mp.Client(address);
  await connOps(mode).send(conn, 'hello');
  conn.close();
}

/** _TestPoll._child_strings (without its sleeps: the parent polls either way). */
async function childStrings(mode, conn, strings) {
  for (const s of strings) await connOps(mode).sendBytes(conn, s);
  conn.close();
}

/** _TestPoll._child_boundaries: a poll in another process must not take part of a message off the pipe. */
async function childBoundaries(mode, r, polling) {
  await polling.set();
  await connOps(mode).poll(r, 5000);
}

/** _TestPoll._child_dont_merge */
async function childDontMerge(mode, b) {
  const c = connOps(mode);
  for (const s of ['a', 'b', 'cd']) await c.sendBytes(b, Buffer.from(s));
}
Object.assign(module.exports, { echoBytes, clientHello, childStrings, childBoundaries, childDontMerge });

/**
 * A player of stage() (harness.js): plays its part of each scene in order, each once the parent sets the scene's
 * `go` event (the moment CPython would spawn a process for it), and reports the end (or the error) on `done`.
 */
async function playScenes(mode, done, parts) {
  const o = ops(mode);
  for (const part of parts) {
    if (part === null) continue;
    const [go, name, args] = part;
    try {
      await o.wait(go);
      await module.exports[name](mode, ...args);
      done.putSync('ok');
    } catch (err) {
      done.putSync(`${name}: ${err && err.stack}`);
    }
  }
}
module.exports.playScenes = playScenes;
