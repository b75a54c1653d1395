// CPython's _TestConnection, _TestListener, _TestListenerClient, _TestPoll and _TestPicklingConnections
// (Lib/test/_test_multiprocessing.py), ported: behaviour, not text. CPython runs them for 'processes' (and
// 'threads'); here each Connection test runs with the async calls and with their Sync twins. Listener and Client are
// asynchronous in both (Node connects and accepts through its event loop).
'use strict';
const mp = require('../../dist');
const { cpython, deviation, eachVariant, notApplicable, spawn, joinOk } = require('./harness');
const { connOps } = require('./variants');
const t = require('./targets');

const { Pipe, Listener, Client, BufferTooShort, EOFError, ValueError } = mp;
const LONG = 30000; // an upper bound only
const SENTINEL = Buffer.alloc(0);
const MODES = ['async', 'sync'];

/** The families CPython's tests loop over: a Unix socket (the default) and TCP. */
const FAMILIES = { AF_UNIX: undefined, AF_INET: ['127.0.0.1', 0] };

async function listen(address) {
  const l = new Listener(address === undefined ? {} : { address });
  await l.ready;
  return l;
}

/**
 * CPython's `with l: with Client(l.address) as c: with l.accept() as d:` sending 1729 one way; then `l` is closed
 * (the end of its block) and accept() on it fails.
 */
async function exchangeThenClose(l, clientOptions = {}) {
  const [client, d] = await Promise.all([Client(l.address, clientOptions), l.accept()]);
  await client.send(1729);
  expect(await d.recv()).toBe(1729);
  d.close();
  client.close();
  l[Symbol.dispose]();
  await expect(l.accept()).rejects.toMatchObject({ code: 'ERR_MP_CLOSED' });
}

/** The error a call throws or rejects with. */
async function failure(fn) {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}

eachVariant('_TestConnection', ({ mode }) => {
  const c = connOps(mode);

  // CPython also checks that fileno() is an int; closed, read-only and write-only connections raise OSError there.
  deviation('test_connection', 'noFileno', async () => {
    const [conn, childConn] = Pipe();
    const p = await spawn(mode, t.echoBytes, [childConn], { daemon: true });
    const seq = [1, 2.25, null];
    const msg = Buffer.from('hello world', 'latin1');
    const longmsg = Buffer.concat(Array(10).fill(msg));
    const arr = new Int32Array([0, 1, 2, 3]);
    expect(conn.fileno).toBeUndefined();

    // the echo child sends back bytes: a value sent is received as the same value
    expect(await c.send(conn, seq)).toBeUndefined();
    expect(await c.recv(conn)).toEqual(seq);
    expect(await c.sendBytes(conn, msg)).toBeUndefined();
    expect(await c.recvBytes(conn)).toEqual(msg);

    let buffer = new Int32Array(10);
    await c.sendBytes(conn, arr);
    expect(await c.recvBytesInto(conn, buffer)).toBe(arr.length * 4);
    expect([...buffer]).toEqual([0, 1, 2, 3, 0, 0, 0, 0, 0, 0]);
    buffer = new Int32Array(10);
    await c.sendBytes(conn, arr);
    expect(await c.recvBytesInto(conn, buffer, 3 * 4)).toBe(arr.length * 4);
    expect([...buffer]).toEqual([0, 0, 0, 0, 1, 2, 3, 0, 0, 0]);
    await c.sendBytes(conn, longmsg);
    const tooShort = await failure(() => c.recvBytesInto(conn, Buffer.alloc(40)));
    expect(tooShort).toBeInstanceOf(BufferTooShort);
    expect(Buffer.from(tooShort.data)).toEqual(longmsg);

    expect(await c.poll(conn)).toBe(false);
    expect(await c.poll(conn, -1)).toBe(false); // a negative timeout is zero, as in CPython
    expect(await c.poll(conn, 100)).toBe(false);
    await c.send(conn, null);
    expect(await c.poll(conn, LONG)).toBe(true); // CPython sleeps 0.1 s and polls 0.1 s
    expect(await c.recv(conn)).toBeNull();

    const reallyBig = Buffer.alloc(16 * 1024 * 1024, 'X');
    await c.sendBytes(conn, reallyBig);
    expect((await c.recvBytes(conn)).equals(reallyBig)).toBe(true);

    await c.sendBytes(conn, SENTINEL); // tells the child to quit
    childConn.close();
    expect(conn.readable).toBe(true);
    expect(conn.writable).toBe(true);
    expect(await failure(() => c.recv(conn))).toBeInstanceOf(EOFError);
    expect(await failure(() => c.recvBytes(conn))).toBeInstanceOf(EOFError);
    await joinOk(p);
    conn.close();
  });

  deviation('test_duplex_false', 'connectionErrors', async () => {
    const [reader, writer] = Pipe(false);
    expect(await c.send(writer, 1)).toBeUndefined();
    expect(await c.recv(reader)).toBe(1);
    expect([reader.readable, reader.writable, writer.readable, writer.writable]).toEqual([true, false, false, true]);
    expect(await failure(() => c.send(reader, 2))).toMatchObject({ code: 'ERR_MP_CONNECTION_READ_ONLY' });
    expect(await failure(() => c.recv(writer))).toMatchObject({ code: 'ERR_MP_CONNECTION_WRITE_ONLY' });
    expect(await failure(() => c.poll(writer))).toMatchObject({ code: 'ERR_MP_CONNECTION_WRITE_ONLY' });
    reader.close();
    writer.close();
  });

  // The parent closes its copy of the child's end right after start(): the child holds its own.
  cpython('test_spawn_close', async () => {
    const [conn, childConn] = Pipe();
    const p = await spawn(mode, t.echoBytes, [childConn], { daemon: true });
    childConn.close();
    const msg = Buffer.from('hello');
    await c.sendBytes(conn, msg);
    expect(await c.recvBytes(conn)).toEqual(msg);
    await c.sendBytes(conn, SENTINEL);
    conn.close();
    await joinOk(p);
  });

  cpython('test_sendbytes', async () => {
    const msg = Buffer.from('abcdefghijklmnopqrstuvwxyz', 'latin1');
    const [a, b] = Pipe();
    await c.sendBytes(a, msg);
    expect(await c.recvBytes(b)).toEqual(msg);
    await c.sendBytes(a, msg, 5);
    expect(await c.recvBytes(b)).toEqual(msg.subarray(5));
    await c.sendBytes(a, msg, 7, 8);
    expect(await c.recvBytes(b)).toEqual(msg.subarray(7, 15));
    await c.sendBytes(a, msg, 26);
    expect(await c.recvBytes(b)).toEqual(Buffer.alloc(0));
    await c.sendBytes(a, msg, 26, 0);
    expect(await c.recvBytes(b)).toEqual(Buffer.alloc(0));
    for (const args of [[27], [22, 5], [26, 1], [-1], [4, -1]]) {
      expect(await failure(() => c.sendBytes(a, msg, ...args))).toBeInstanceOf(ValueError);
    }
    a.close();
    b.close();
  });

  deviation('test_fd_transfer', 'noSendHandle');
  deviation('test_large_fd_transfer', 'noSendHandle');
  deviation('test_missing_fd_transfer', 'noSendHandle');

  // `with a, b:` is `using`: the end of the block closes both.
  deviation('test_context', 'connectionErrors', async () => {
    const [a, b] = Pipe();
    {
      await c.send(a, 1729);
      expect(await c.recv(b)).toBe(1729);
      expect([a.closed, b.closed]).toEqual([false, false]);
      a[Symbol.dispose]();
      b[Symbol.dispose]();
    }
    expect([a.closed, b.closed]).toEqual([true, true]);
    expect(await failure(() => c.recv(a))).toMatchObject({ code: 'ERR_MP_CLOSED' });
    expect(await failure(() => c.recv(b))).toMatchObject({ code: 'ERR_MP_CLOSED' });
  });
}, MODES);

describe('_TestListener [processes]', () => {
  cpython('test_multiple_bind', async () => {
    for (const address of Object.values(FAMILIES)) {
      const l = await listen(address);
      const second = new Listener({ address: l.address });
      expect((await failure(() => second.ready)).code).toBe('EADDRINUSE');
      second.close();
      l.close();
    }
  });

  cpython('test_context', async () => exchangeThenClose(await listen()));

  // bpo-43952: an empty authkey is a key like any other.
  cpython('test_empty_authkey', async () => {
    const key = Buffer.alloc(0);
    const listener = new Listener({ authkey: key });
    await listener.ready;
    await exchangeThenClose(listener, { authkey: key });
  });

  cpython('test_abstract_socket', async () => exchangeThenClose(await listen('\0multiproc-cpython-port-' + process.pid)));
});

eachVariant('_TestListenerClient', ({ mode }) => {
  const c = connOps(mode);

  cpython('test_listener_client', async () => {
    for (const address of Object.values(FAMILIES)) {
      const l = await listen(address);
      const p = await spawn(mode, t.clientHello, [l.address], { daemon: true });
      const conn = await l.accept();
      expect(await c.recv(conn)).toBe('hello');
      await joinOk(p);
      conn.close();
      l.close();
    }
  });

  // Issue 14725: the client connected, wrote and closed before accept() (CPython sleeps a second for that; here the
  // client has exited).
  cpython('test_issue14725', async () => {
    const l = await listen();
    const p = await spawn(mode, t.clientHello, [l.address], { daemon: true });
    await joinOk(p);
    const conn = await l.accept();
    expect(await c.recv(conn)).toBe('hello');
    conn.close();
    l.close();
  });

  cpython('test_issue16955', async () => {
    for (const address of Object.values(FAMILIES)) {
      const l = await listen(address);
      const [client, a] = await Promise.all([Client(l.address), l.accept()]);
      await c.sendBytes(a, Buffer.from('hello'));
      expect(await c.poll(client, LONG)).toBe(true);
      a.close();
      client.close();
      l.close();
    }
  });
}, MODES);

eachVariant('_TestPoll', ({ mode }) => {
  const c = connOps(mode);

  cpython('test_empty_string', async () => {
    const [a, b] = Pipe();
    expect(await c.poll(a)).toBe(false);
    await c.sendBytes(b, Buffer.alloc(0));
    expect(await c.poll(a)).toBe(true);
    expect(await c.poll(a)).toBe(true);
    a.close();
    b.close();
  });

  cpython('test_strings', async () => {
    const strings = ['hello', '', 'a', 'b', '', 'bye', '', 'lop'].map((s) => Buffer.from(s));
    const [a, b] = Pipe();
    const p = await spawn(mode, t.childStrings, [b, strings]);
    for (const s of strings) {
      expect(await c.poll(a, LONG)).toBe(true);
      expect(await c.recvBytes(a)).toEqual(s);
    }
    await joinOk(p);
    a.close();
    b.close();
  });

  // A poll in another process must not pull part of a message off the pipe (CPython sleeps 2 s so that the child
  // polls first; here the child says when it polls).
  cpython('test_boundaries', async () => {
    const [r, w] = Pipe(false);
    const polling = new mp.Event();
    const p = await spawn(mode, t.childBoundaries, [r, polling]);
    expect(await polling.wait({ timeout: LONG })).toBe(true);
    const sent = [Buffer.from('first'), Buffer.from('second')];
    for (const obj of sent) await c.sendBytes(w, obj);
    w.close();
    await joinOk(p);
    expect(sent).toContainEqual(await c.recvBytes(r));
    r.close();
  });

  cpython('test_dont_merge', async () => {
    const [a, b] = Pipe();
    expect(await c.poll(a, 0)).toBe(false);
    expect(await c.poll(a, 100)).toBe(false);
    const p = await spawn(mode, t.childDontMerge, [b]);
    expect(await c.recvBytes(a)).toEqual(Buffer.from('a'));
    expect(await c.poll(a, LONG)).toBe(true);
    expect(await c.poll(a, LONG)).toBe(true);
    expect(await c.recvBytes(a)).toEqual(Buffer.from('b'));
    expect(await c.poll(a, LONG)).toBe(true);
    expect(await c.poll(a, LONG)).toBe(true);
    expect(await c.poll(a, 0)).toBe(true);
    expect(await c.recvBytes(a)).toEqual(Buffer.from('cd'));
    await joinOk(p);
    a.close();
    b.close();
  });
}, MODES);

describe('_TestPicklingConnections [processes]', () => {
  deviation('test_pickling', 'connectionInheritance', async () => {
    const [a, b] = Pipe();
    const [, other] = Pipe();
    const err = await failure(() => a.send(other));
    expect(err).toBeInstanceOf(mp.RuntimeError);
    expect(err.message).toBe('Connection objects should only be shared between processes through inheritance');
    for (const conn of [a, b, other]) conn.close();
  });

  deviation('test_access', 'connectionInheritance', async () => {
    const [a, b] = Pipe();
    const [r, w] = Pipe(false);
    expect(await failure(() => a.send(w))).toBeInstanceOf(mp.RuntimeError);
    expect(await failure(() => a.send(r))).toBeInstanceOf(mp.RuntimeError);
    for (const conn of [a, b, r, w]) conn.close();
  });
});

describe('_TestHeap [processes]', () => {
  notApplicable('test_heap', 'multiproc has no heap of arenas to check: each Value or Array has a segment of its own');
  notApplicable('test_free_from_gc', 'multiproc has no heap of arenas to check: each Value or Array has a segment of its own');
});
