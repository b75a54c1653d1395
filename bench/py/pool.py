"""Python's multiprocessing.Pool on bench/node/pool.js's workloads: `python3 bench/py/pool.py <workload> <processes>`.

Prints one JSON number as the last line. Uses the spawn start method, as multiproc does.
"""
import json
import multiprocessing as mp
import statistics
import sys
import time


def busy(x):
    """About 1 ms of CPU: spins until 1 ms has passed."""
    end = time.perf_counter() + 0.001
    while time.perf_counter() < end:
        pass
    return x


def signal_ready(ready):
    ready.release()


def bench_map(ctx, processes, settle=0):
    with ctx.Pool(processes) as pool:
        items = list(range(-50000, 50000))
        pool.map(abs, items[:1000])
        for _ in range(settle):
            pool.map(abs, items)
        rates = []
        for _ in range(5):
            t0 = time.perf_counter()
            pool.map(abs, items)
            rates.append(len(items) / (time.perf_counter() - t0))
    return statistics.median(rates)


def bench_map_cold(ctx, processes):
    with ctx.Pool(processes) as pool:
        items = list(range(-50000, 50000))
        pool.map(abs, items[:1000])
        t0 = time.perf_counter()
        pool.map(abs, items)
        return len(items) / (time.perf_counter() - t0)


def bench_strings(ctx, processes, cold=None):
    with ctx.Pool(processes) as pool:
        items = ['item-%d-abc' % i for i in range(100000)]
        pool.map(str.upper, items[:1000])
        rates = []
        for _ in range(1 if cold == 'cold' else 5):
            t0 = time.perf_counter()
            out = pool.map(str.upper, items)
            rates.append(len(items) / (time.perf_counter() - t0))
            assert out[7] == 'ITEM-7-ABC'
    return statistics.median(rates)


def bench_imap(ctx, processes):
    with ctx.Pool(processes) as pool:
        pool.map(abs, [1, 2, 3, 4])
        n = 10000
        t0 = time.perf_counter()
        count = sum(1 for _ in pool.imap_unordered(busy, range(n)))
        elapsed = time.perf_counter() - t0
    assert count == n
    return 100 * n * 0.001 / processes / elapsed


def bench_start(ctx, processes):
    t0 = time.perf_counter()
    ready = ctx.Semaphore(0)
    pool = ctx.Pool(processes, initializer=signal_ready, initargs=(ready,))
    for _ in range(processes):
        ready.acquire(timeout=60)
    elapsed = (time.perf_counter() - t0) * 1000
    pool.terminate()
    pool.join()
    return elapsed


if __name__ == '__main__':
    workload, processes, *rest = sys.argv[1], int(sys.argv[2]), *(int(a) if a.isdigit() else a for a in sys.argv[3:])
    ctx = mp.get_context('spawn')
    print(json.dumps({'map': bench_map, 'mapCold': bench_map_cold, 'strings': bench_strings, 'imap': bench_imap,
            'start': bench_start}[workload](ctx, processes, *rest)))
