// CPython's _TestQueue (Lib/test/_test_multiprocessing.py), ported: behaviour, not text. CPython's timing checks
// (assertTimingAlmostEqual, off by default) are dropped, and so is its `sleep(DELTA)` for a feeder thread to flush:
// a put here is in the pipe when it returns.
'use strict';
const mp = require('../../dist');
const { cpython, deviation, eachVariant, notApplicable, spawn, joinOk, stage } = require('./harness');
const t = require('./targets');

const LONG = 30000; // an upper bound only
const DIRECT = "CPython's test uses multiprocessing.Queue itself, whatever the type: run by the processes variants";

eachVariant('_TestQueue', ({ mode, o, make, local }) => {
  const { scene } = stage(mode, make, 4);
  const rejects = (fn, error) => expect(async () => fn()).rejects.toThrow(error);
  /** qsize() where the platform can count (macOS cannot read a semaphore's value: skipped there, as in CPython). */
  const expectQsize = async (q, n) => {
    try {
      expect(await o.qsize(q)).toBe(n);
    } catch (err) {
      if (err.name !== 'NotImplementedError') throw err;
    }
  };

  const putGet = (target) => scene(async () => ({ queue: await make.Queue(target === 'queuePutChild' ? 6 : 0),
    childCanStart: await make.Event(), parentCanContinue: await make.Event() }),
  ({ queue, childCanStart, parentCanContinue }) => [[target, [queue, childCanStart, parentCanContinue]]]);

  const put = putGet('queuePutChild');
  cpython('test_put', async () => {
    const { queue, childCanStart, parentCanContinue } = put.objects;
    await put.go();
    expect(await o.empty(queue)).toBe(true);
    expect(await o.full(queue)).toBe(false);

    await o.put(queue, 1);
    await o.put(queue, 2, { block: true });
    await o.put(queue, 3, { block: true, timeout: null });
    await o.put(queue, 4, { block: false });
    await o.put(queue, 5, { block: false, timeout: null });
    await o.putNowait(queue, 6);
    expect(await o.empty(queue)).toBe(false);
    expect(await o.full(queue)).toBe(true);

    await rejects(() => o.put(queue, 7, { block: false }), mp.Full);
    await rejects(() => o.put(queue, 7, { block: false, timeout: null }), mp.Full);
    await rejects(() => o.putNowait(queue, 7), mp.Full);
    await rejects(() => o.put(queue, 7, { block: true, timeout: 100 }), mp.Full);
    await rejects(() => o.put(queue, 7, { block: false, timeout: 200 }), mp.Full);
    await rejects(() => o.put(queue, 7, { timeout: 300 }), mp.Full);

    await o.set(childCanStart);
    expect(await o.wait(parentCanContinue, LONG)).toBe(true);
    expect(await o.empty(queue)).toBe(true);
    expect(await o.full(queue)).toBe(false);
    await put.finished();
  });

  const get = putGet('queueGetChild');
  cpython('test_get', async () => {
    const { queue, childCanStart, parentCanContinue } = get.objects;
    await get.go();
    expect(await o.empty(queue)).toBe(true);
    await o.set(childCanStart);
    expect(await o.wait(parentCanContinue, LONG)).toBe(true);
    expect(await o.empty(queue)).toBe(false);

    expect(await o.get(queue, { block: true, timeout: null })).toBe(2);
    expect(await o.get(queue, { block: true })).toBe(3);
    expect(await o.get(queue, { timeout: 1000 })).toBe(4);
    expect(await o.getNowait(queue)).toBe(5);
    expect(await o.empty(queue)).toBe(true);

    await rejects(() => o.get(queue, { block: false }), mp.Empty);
    await rejects(() => o.get(queue, { block: false, timeout: null }), mp.Empty);
    await rejects(() => o.getNowait(queue), mp.Empty);
    await rejects(() => o.get(queue, { block: true, timeout: 100 }), mp.Empty);
    await rejects(() => o.get(queue, { block: false, timeout: 200 }), mp.Empty);
    await rejects(() => o.get(queue, { timeout: 300 }), mp.Empty);
    await get.finished();
  });

  const fork = scene(async () => ({ queue: await make.Queue() }), ({ queue }) => [['queueForkChild', [queue]]]);
  cpython('test_fork', async () => {
    const { queue } = fork.objects;
    for (let i = 0; i < 10; i++) await o.put(queue, i);
    await fork.go(); // where CPython starts the child: after this process's items are in the queue
    for (let i = 0; i < 20; i++) expect(await o.get(queue, { timeout: LONG })).toBe(i);
    await rejects(() => o.get(queue, { block: false }), mp.Empty);
    await fork.finished();
  });

  cpython('test_qsize', async () => {
    const q = await make.Queue();
    let size;
    try {
      size = await o.qsize(q);
    } catch (err) {
      if (err.name === 'NotImplementedError') return; // macOS cannot read a semaphore's value, as in CPython: skipped
      throw err;
    }
    expect(size).toBe(0);
    await o.put(q, 1);
    expect(await o.qsize(q)).toBe(1);
    await o.put(q, 5);
    expect(await o.qsize(q)).toBe(2);
    await o.get(q);
    expect(await o.qsize(q)).toBe(1);
    await o.get(q);
    expect(await o.qsize(q)).toBe(0);
  });

  const taskDone = scene(async () => ({ queue: await make.JoinableQueue() }),
    ({ queue }) => Array.from({ length: 4 }, () => ['taskDoneWorker', [queue]]));
  cpython('test_task_done', async () => {
    const { queue } = taskDone.objects;
    await taskDone.go();
    for (let i = 0; i < 10; i++) await o.put(queue, i);
    await o.join(queue);
    for (let i = 0; i < 4; i++) await o.put(queue, null);
    await taskDone.finished();
  });

  notApplicable('test_no_import_lock_contention', "Python's import lock against a Queue's feeder thread: Node's require has no such lock, and a Queue no thread");

  if (local) {
    cpython('test_timeout', async () => {
      const q = new mp.Queue();
      await rejects(() => o.get(q, { block: true, timeout: 200 }), mp.Empty);
      q.close();
    });

    deviation('test_queue_feeder_donot_stop_onexc', 'feederThread', async () => {
      const notSerializable = () => {};
      let q = new mp.Queue();
      await rejects(() => o.put(q, notSerializable), mp.PicklingError);
      await o.put(q, true);
      expect(await o.get(q, { timeout: LONG })).toBe(true);
      q.close();

      q = new mp.Queue(1); // the failed put takes no slot of a bounded queue (CPython's bpo-33078)
      await rejects(() => o.put(q, notSerializable), mp.PicklingError);
      await o.put(q, true);
      await expectQsize(q, 1);
      expect(await o.get(q, { timeout: LONG })).toBe(true);
      expect(q.empty()).toBe(true);
      q.close();
    });

    notApplicable('test_queue_feeder_on_queue_feeder_error', 'a Queue has no feeder thread, hence no _on_queue_feeder_error hook: put() itself throws PicklingError (test_queue_feeder_donot_stop_onexc)');

    cpython('test_closed_queue_empty_exceptions', () => {
      for (const q of [new mp.Queue(), new mp.JoinableQueue()]) {
        q.close();
        expect(q.empty()).toBe(true);
      }
      for (const q of [new mp.Queue(), new mp.JoinableQueue()]) {
        q.putSync('foo');
        q.close();
        expect(() => q.empty()).toThrow(/is closed/);
      }
    });

    cpython('test_closed_queue_put_get_exceptions', async () => {
      for (const q of [new mp.Queue(), new mp.JoinableQueue()]) {
        q.close();
        await rejects(() => o.put(q, 'foo'), /is closed/);
        await rejects(() => o.get(q), /is closed/);
        await rejects(() => o.put(q, 'foo'), mp.ValueError);
      }
    });

    // CPython's ProcessFuture runs the blocking calls in a child, which matters only for a queue that would block: a
    // shut-down one raises at once.
    const shutDownCalls = async (q) => {
      await rejects(() => o.put(q, 'data'), mp.ShutDown);
      await rejects(() => o.putNowait(q, 'data'), mp.ShutDown);
      await rejects(() => o.get(q), mp.ShutDown);
      await rejects(() => o.getNowait(q), mp.ShutDown);
    };
    cpython('test_shutdown_empty', async () => {
      for (const q of [new mp.Queue(), new mp.JoinableQueue()]) {
        const joiner = q instanceof mp.JoinableQueue ? await spawn(mode, t.joinWorker, [q]) : null;
        q.shutdown(false);
        await expectQsize(q, 0);
        if (joiner) await joinOk(joiner);
        await shutDownCalls(q);
      }
    });
    cpython('test_shutdown_nonempty', async () => {
      for (const q of [new mp.Queue(1), new mp.JoinableQueue(1)]) {
        await o.put(q, 'data');
        const joiner = q instanceof mp.JoinableQueue ? await spawn(mode, t.joinWorker, [q]) : null;
        q.shutdown(false);
        await expectQsize(q, 1);
        expect(await o.get(q)).toBe('data');
        if (joiner) expect(joiner.isAlive()).toBe(true);
        await shutDownCalls(q);
        if (joiner) {
          q.taskDone();
          await joinOk(joiner);
        }
      }
    });
    cpython('test_shutdown_immediate', async () => {
      for (const q of [new mp.Queue(), new mp.JoinableQueue()]) {
        await o.put(q, 'data');
        const joiner = q instanceof mp.JoinableQueue ? await spawn(mode, t.joinWorker, [q]) : null;
        q.shutdown(true);
        await expectQsize(q, 0);
        if (joiner) await joinOk(joiner);
        await shutDownCalls(q);
        if (joiner) expect(() => q.taskDone()).toThrow(mp.ValueError);
      }
    });
    cpython('test_shutdown_immediate_with_unfinished', async () => {
      const q = new mp.JoinableQueue();
      await o.put(q, 'data');
      await o.put(q, 'data');
      const joiner = await spawn(mode, t.joinWorker, [q]);
      expect(await o.get(q)).toBe('data');
      q.shutdown(true);
      await expectQsize(q, 0);
      expect(joiner.isAlive()).toBe(true);
      await shutDownCalls(q);
      q.taskDone();
      expect(() => q.taskDone()).toThrow(mp.ValueError);
      await joinOk(joiner);
    });
  } else {
    for (const name of ['test_timeout', 'test_queue_feeder_donot_stop_onexc', 'test_queue_feeder_on_queue_feeder_error',
      'test_closed_queue_empty_exceptions', 'test_closed_queue_put_get_exceptions', 'test_shutdown_empty',
      'test_shutdown_nonempty', 'test_shutdown_immediate', 'test_shutdown_immediate_with_unfinished']) {
      notApplicable(name, DIRECT);
    }
  }
});
