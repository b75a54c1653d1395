# Python's SyncManager on the workloads of bench/managers.bench.js. Prints one JSON number (the last stdout line).
import json
import multiprocessing as mp
import sys
import time

WARMUP = int(sys.argv[3]) if len(sys.argv) > 3 else 10000  # calls before the timed ones, as on the Node side


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


def _condition(manager):
    c = manager.Condition()
    c.acquire()
    return c


def _list_append(lst, i):
    if i % 1000 == 0:
        del lst[:]
    else:
        lst.append(i)


def _ns_get(ns, i):
    return ns.x


def _namespace(manager):
    return manager.Namespace(x=1)


def _dict_set(d, i):
    d['key'] = i


# name: (make the object, make one call) -- one round trip each, as on the Node side
SINGLE_CALLS = {
    'dict-get': (lambda m: m.dict({'key': 1}), lambda d, i: d['key']),
    'dict-set': (lambda m: m.dict(), _dict_set),
    'list-append': (lambda m: m.list(), _list_append),
    'value-get': (lambda m: m.Value('i', 0), lambda v, i: v.get()),
    'value-set': (lambda m: m.Value('i', 0), lambda v, i: v.set(i)),
    'namespace-get': (_namespace, _ns_get),
    'event-set': (lambda m: m.Event(), lambda e, i: e.set()),
    'event-isset': (lambda m: m.Event(), lambda e, i: e.is_set()),
    'condition-notify': (_condition, lambda c, i: c.notify()),
}


def single_call(name):
    setup, call = SINGLE_CALLS[name]

    def run(manager, n):
        """Microseconds per call."""
        obj = setup(manager)
        for i in range(WARMUP):
            call(obj, i)
        start = time.perf_counter()
        for i in range(n):
            call(obj, i)
        return (time.perf_counter() - start) / n * 1e6
    return run


WORKLOADS = {'lock': lock_roundtrip, 'queue': queue_rate, 'dict': dict_roundtrip}
WORKLOADS.update({name: single_call(name) for name in SINGLE_CALLS})

if __name__ == '__main__':
    workload, n = sys.argv[1], int(sys.argv[2])
    with mp.get_context('spawn').Manager() as manager:
        result = WORKLOADS[workload](manager, n)
    print(json.dumps(result))
