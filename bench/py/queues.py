"""multiprocessing.Queue (spawn context) on the workloads of bench/queues.bench.js; prints one JSON number."""
import json
import multiprocessing as mp
import sys
import time


def producer(queue, gate, ready, count, size):
    payload = bytes(size) if size else None
    ready.release()
    gate.wait()
    for i in range(count):
        queue.put(payload if size else i)
    queue.put(None)


def consumer(queue, gate, ready, done):
    ready.release()
    gate.wait()
    while queue.get() is not None:
        pass
    done.put(1)


def run(producers, consumers, count, size):
    """Seconds from the start signal until every consumer saw its end marker."""
    ctx = mp.get_context('spawn')
    queue, done, gate, ready = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Semaphore(0)
    procs = [ctx.Process(target=producer, args=(queue, gate, ready, count // producers, size)) for _ in range(producers)]
    procs += [ctx.Process(target=consumer, args=(queue, gate, ready, done)) for _ in range(consumers)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire()
    start = time.perf_counter()
    gate.set()
    for _ in range(consumers):
        done.get()
    elapsed = time.perf_counter() - start
    for p in procs:
        p.join()
    return elapsed


if __name__ == '__main__':
    workload, producers, consumers, count, size = sys.argv[1], *map(int, sys.argv[2:6])
    seconds = run(producers, consumers, count, size)
    print(json.dumps(count * size / seconds / 1e6 if size else count / seconds))
