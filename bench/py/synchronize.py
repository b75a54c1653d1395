"""Python side of bench/synchronize.bench.js: one workload per run, one JSON number on the last line."""
import json
import multiprocessing as mp
import sys
import time


def pairs(lock, n):
    """Steady state: the last of three timed loops of n acquire+release pairs, ns per pair (both sides do the same)."""
    acquire, release = lock.acquire, lock.release
    for _ in range(3):
        start = time.perf_counter_ns()
        for _ in range(n):
            acquire()
            release()
        per_pair = (time.perf_counter_ns() - start) / n
    return per_pair


def uncontended(n):
    return pairs(mp.get_context('spawn').Lock(), n)


def uncontended_semaphore(n):
    """uncontended() on a Semaphore(2)."""
    return pairs(mp.get_context('spawn').Semaphore(2), n)


def hammer(lock, n, barrier):
    barrier.wait()
    for _ in range(n):
        lock.acquire()
        lock.release()


def contended(procs, n):
    ctx = mp.get_context('spawn')
    lock = ctx.Lock()
    barrier = ctx.Barrier(procs + 1)
    workers = [ctx.Process(target=hammer, args=(lock, n, barrier)) for _ in range(procs)]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter()
    for w in workers:
        w.join()
    return procs * n / (time.perf_counter() - start)  # ops/s


def pong(ping, pong_, n):
    for _ in range(n):
        ping.acquire()
        pong_.release()


def wake(n, which, warmup=50):
    ctx = mp.get_context('spawn')
    ping, pong_ = ctx.Semaphore(0), ctx.Semaphore(0)
    p = ctx.Process(target=pong, args=(ping, pong_, n + warmup))
    p.start()
    samples = []
    for i in range(n + warmup):
        t0 = time.perf_counter_ns()
        ping.release()
        pong_.acquire()
        if i >= warmup:
            samples.append((time.perf_counter_ns() - t0) / 2 / 1000)  # one wake, microseconds
    p.join()
    samples.sort()
    return samples[len(samples) // 2] if which == 'median' else samples[int(len(samples) * 0.99)]


def create_drop(n, which, closed=None):
    """Creates, uses and drops `n` Locks (CPython finalizes each at once); 'seconds' or the 'mappings' after."""
    ctx = mp.get_context('spawn')
    start = time.perf_counter()
    for _ in range(n):
        lock = ctx.Lock()
        lock.acquire()
        lock.release()
        del lock
    seconds = time.perf_counter() - start
    if which == 'seconds':
        return seconds
    with open('/proc/self/maps') as maps:
        return len(maps.readlines())


def exit_after(n):
    """A process that creates and holds `n` Locks, then exits: its exit time, in seconds."""
    import subprocess
    script = ('import multiprocessing as mp, sys, time\n'
              'ctx = mp.get_context("spawn")\n'
              'start = time.perf_counter()\n'
              f'held = [ctx.Lock() for _ in range({n})]\n'
              'sys.stdout.write(str((time.perf_counter() - start) * 1000))\n')
    start = time.perf_counter()
    created = float(subprocess.run([sys.executable, '-c', script], capture_output=True, check=True, text=True).stdout)
    return (time.perf_counter() - start) - created / 1000


def noop():
    pass


def start_join(n):
    ctx = mp.get_context('spawn')
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        p = ctx.Process(target=noop)
        p.start()
        p.join()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[len(times) // 2]  # ms


def barrier_party(barrier, n):
    for _ in range(n):
        barrier.wait()


def barrier(parties, n):
    """µs per round of a Barrier(parties) whose parties are processes, each calling wait() n times."""
    ctx = mp.get_context('spawn')
    b = ctx.Barrier(parties)
    others = [ctx.Process(target=barrier_party, args=(b, n)) for _ in range(parties - 1)]
    for p in others:
        p.start()
    warmup = n // 10
    for _ in range(warmup):
        b.wait()
    t0 = time.perf_counter()
    for _ in range(n - warmup):
        b.wait()
    seconds = time.perf_counter() - t0
    for p in others:
        p.join()
    return seconds / (n - warmup) * 1e6


if __name__ == '__main__':
    workload = sys.argv[1]
    args = [int(a) if a.isdigit() else a for a in sys.argv[2:]]
    print(json.dumps(globals()[workload](*args)))
