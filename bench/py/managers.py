# Python's SyncManager on the workloads of bench/managers.bench.js. Prints one JSON number (the last stdout line).
import json
import multiprocessing as mp
import sys
import time

WARMUP = 2000  # as on the Node side


def lock_roundtrip(manager, n):
    """Microseconds per acquire + release of a manager Lock."""
    lock = manager.Lock()
    for _ in range(WARMUP):
        lock.acquire(); lock.release()
    start = time.perf_counter()
    for _ in range(n):
        lock.acquire()
        lock.release()
    return (time.perf_counter() - start) / n * 1e6


def queue_rate(manager, n):
    """Small messages per second through a manager Queue: n puts, then n gets."""
    q = manager.Queue()
    item = {'i': 0, 'payload': 'x' * 32}
    for _ in range(WARMUP):
        q.put(item); q.get()
    start = time.perf_counter()
    for i in range(n):
        q.put(item)
    for i in range(n):
        q.get()
    return n / (time.perf_counter() - start)


def dict_roundtrip(manager, n):
    """Microseconds per d[k] = v plus d[k] on a manager dict."""
    d = manager.dict()
    for i in range(WARMUP):
        d['key'] = i; d['key']
    start = time.perf_counter()
    for i in range(n):
        d['key'] = i
        d['key']
    return (time.perf_counter() - start) / n * 1e6


WORKLOADS = {'lock': lock_roundtrip, 'queue': queue_rate, 'dict': dict_roundtrip}

if __name__ == '__main__':
    workload, n = sys.argv[1], int(sys.argv[2])
    with mp.get_context('spawn').Manager() as manager:
        result = WORKLOADS[workload](manager, n)
    print(json.dumps(result))
