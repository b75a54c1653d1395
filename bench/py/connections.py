"""multiprocessing.Pipe() (spawn context) on the workloads of bench/connections.bench.js; prints one JSON number."""
import json
import multiprocessing as mp
import sys
import time


def echo(conn):
    while True:
        value = conn.recv()
        if value is None:
            return
        conn.send(value)


def sink(conn, count, size):
    payload = bytes(size)
    conn.send('ready')
    conn.recv()
    for _ in range(count):
        conn.send_bytes(payload)
    conn.send_bytes(b'')


def round_trips(count):
    """Round trips per second: send an integer to a child that sends it back."""
    ctx = mp.get_context('spawn')
    here, there = ctx.Pipe()
    p = ctx.Process(target=echo, args=(there,))
    p.start()
    here.send(0)
    here.recv()  # the child runs
    start = time.perf_counter()
    for i in range(count):
        here.send(i)
        here.recv()
    elapsed = time.perf_counter() - start
    here.send(None)
    p.join()
    return count / elapsed


def throughput(count, size):
    """MB/s of send_bytes from a child into this process."""
    ctx = mp.get_context('spawn')
    here, there = ctx.Pipe()
    p = ctx.Process(target=sink, args=(there, count, size))
    p.start()
    here.recv()
    start = time.perf_counter()
    here.send('go')
    while len(here.recv_bytes()):
        pass
    elapsed = time.perf_counter() - start
    p.join()
    return count * size / elapsed / 1e6


if __name__ == '__main__':
    workload = sys.argv[1]
    args = list(map(int, sys.argv[2:]))
    print(json.dumps(round_trips(*args) if workload.startswith('round-trip') else throughput(*args)))
