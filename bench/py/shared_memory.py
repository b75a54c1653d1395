"""Python side of bench/shared_memory.bench.js: one workload per run, one JSON number on the last line."""
import asyncio
import json
import multiprocessing as mp
import sys
import time
from multiprocessing import shared_memory

# Python has no wait/notify across processes: the wake rows use the Semaphore ping-pong of the lock rows.
from synchronize import wake  # noqa: F401 (a workload of this file)


def async_pong(ping, pong_, n):
    async def main():
        loop = asyncio.get_running_loop()
        for _ in range(n):
            await loop.run_in_executor(None, ping.acquire)
            pong_.release()
    asyncio.run(main())


def wake_async(n, which, warmup):
    """
    The same ping-pong where both sides await the Semaphore without blocking their asyncio event loop: Python's way
    is a thread of the loop's default executor blocking in acquire() (asyncio has no cross-process primitive).
    """
    ctx = mp.get_context('spawn')
    ping, pong_ = ctx.Semaphore(0), ctx.Semaphore(0)
    p = ctx.Process(target=async_pong, args=(ping, pong_, n + warmup))
    p.start()
    samples = []

    async def main():
        loop = asyncio.get_running_loop()
        for i in range(n + warmup):
            t0 = time.perf_counter_ns()
            ping.release()
            await loop.run_in_executor(None, pong_.acquire)
            if i >= warmup:
                samples.append((time.perf_counter_ns() - t0) / 2 / 1000)
    asyncio.run(main())
    p.join()
    samples.sort()
    return samples[len(samples) // 2] if which == 'median' else samples[int(len(samples) * 0.99)]


def increment(value, n, barrier):
    barrier.wait()
    lock = value.get_lock()
    for _ in range(n):
        with lock:
            value.value += 1


def value_increment(procs, n):
    ctx = mp.get_context('spawn')
    value = ctx.Value('i', 0)
    barrier = ctx.Barrier(procs + 1)
    workers = [ctx.Process(target=increment, args=(value, n, barrier)) for _ in range(procs)]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - start
    assert value.value == procs * n, value.value
    return procs * n / seconds


def sum_and_double(array, ready, go, done, rounds):
    ready.set()
    for _ in range(rounds):
        go.wait()
        go.clear()
        total = 0.0
        sums = []
        for x in array:
            total += x
            sums.append(total)
        array[:] = sums  # writes back
        done.set()


def array_round(n, rounds):
    ctx = mp.get_context('spawn')
    array = ctx.Array('d', n, lock=False)
    ready, go, done = ctx.Event(), ctx.Event(), ctx.Event()
    child = ctx.Process(target=sum_and_double, args=(array, ready, go, done, rounds))
    child.start()
    ready.wait()  # timed from here: the child runs and waits for its go
    seconds = 0
    for r in range(rounds):
        start = time.perf_counter()
        array[:] = range(r, n + r)
        go.set()
        done.wait()
        done.clear()
        seconds = time.perf_counter() - start
    child.join()
    return 8 * n / seconds / 1e9


def create_attach(n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        shm = shared_memory.SharedMemory(create=True, size=4096)
        other = shared_memory.SharedMemory(name=shm.name)
        other.close()
        shm.close()
        shm.unlink()
        times.append((time.perf_counter_ns() - t0) / 1000)
    times.sort()
    return times[len(times) // 2]


if __name__ == '__main__':
    workload = sys.argv[1]
    args = [int(a) if a.isdigit() else a for a in sys.argv[2:]]
    print(json.dumps(globals()[workload](*args)))
