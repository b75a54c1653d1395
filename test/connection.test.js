'use strict';
// Pipe, Connection, Listener, Client and connection.wait (CPython's multiprocessing.connection), across real
// processes; hostile peers (bad frames, wrong keys, silence) get typed errors, never a hang.
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const v8 = require('node:v8');
const {
  AuthenticationError, BufferTooShort, Client, Connection, EOFError, Listener, Lock, Pipe, Process, Queue,
  RuntimeError, TimeoutError, UnpicklingError, ValueError, connection, forThread, fromThread,
} = require('../dist');
const t = require('./fixtures/connection_targets');

async function started(target, ...args) {
  const p = new Process({ target, args });
  await p.start();
  return p;
}

const openFds = () => fs.readdirSync('/proc/self/fd').length;

describe('Pipe', () => {
  test.each([['async', false], ['Sync', true]])('duplex: a child echoes values (%s child), both ends in both directions', async (_, sync) => {
    const [parentEnd, childEnd] = Pipe();
    const child = await started(t.echo, childEnd, sync);
    childEnd.close(); // the parent's copy: the child's end stays open in the child
    const values = [1, 'two', { three: [3] }, new Map([[4, 4]]), Buffer.alloc(200000, 5), 2n ** 70n, undefined];
    for (const value of values) {
      await parentEnd.send(value);
      expect(await parentEnd.recv()).toEqual(value);
    }
    parentEnd.sendSync('sync');
    expect(parentEnd.recvSync()).toBe('sync');
    await parentEnd.send(null);
    await expect(parentEnd.recv()).rejects.toBeInstanceOf(EOFError); // the child closed its end
    await child.join();
    expect(child.exitCode).toBe(0);
    parentEnd.close();
  });

  test('messages sent by a child that exits at once all arrive, then EOFError', async () => {
    const [r, w] = Pipe(false);
    const values = Array.from({ length: 50 }, (_, i) => ({ i, s: 'x'.repeat(i * 100) }));
    const child = await started(t.sendAndExit, w, values);
    w.close();
    const got = [];
    for (;;) {
      try {
        got.push(await r.recv());
      } catch (err) {
        expect(err).toBeInstanceOf(EOFError);
        expect(err.code).toBe('ERR_MP_EOF');
        break;
      }
    }
    expect(got).toEqual(values);
    await child.join();
    r.close();
  });

  test('large messages (1 MiB + 1, 8 MiB) cross whole both ways, larger than the pipe', async () => {
    const [a, b] = Pipe();
    const child = await started(t.hashBytes, b);
    b.close();
    for (const size of [1, (1 << 20) + 1, 8 << 20]) {
      const data = crypto.randomBytes(size);
      await a.sendBytes(data);
      expect((await a.recvBytes()).equals(crypto.createHash('sha256').update(data).digest())).toBe(true);
    }
    a.sendBytesSync(Buffer.alloc(0));
    await child.join();
    expect(child.exitCode).toBe(0);
    a.close();
  });

  test('one-way Pipe: the first end only receives, the second only sends', () => {
    const [r, w] = Pipe(false);
    expect([r.readable, r.writable, w.readable, w.writable]).toEqual([true, false, false, true]);
    expect(() => r.sendSync(1)).toThrow(expect.objectContaining({ code: 'ERR_MP_CONNECTION_READ_ONLY' }));
    expect(() => w.recvSync()).toThrow(expect.objectContaining({ code: 'ERR_MP_CONNECTION_WRITE_ONLY' }));
    expect(() => w.pollSync()).toThrow(expect.objectContaining({ code: 'ERR_MP_CONNECTION_WRITE_ONLY' }));
    w.sendSync('one way');
    expect(r.recvSync()).toBe('one way');
    r.close();
    w.close();
  });

  test('sendBytes with offset and size, recvBytesInto with offset, BufferTooShort keeps the message', async () => {
    const [a, b] = Pipe();
    const data = Buffer.from('0123456789');
    a.sendBytesSync(data, 2, 5);
    expect(b.recvBytesSync().toString()).toBe('23456');
    await a.sendBytes(new Uint16Array([1, 2, 3]), 2);
    const received = await b.recvBytes();
    expect(received.buffer.byteLength).toBe(4); // its own memory: nothing else of this process shows through it
    expect([...new Uint16Array(received.buffer)]).toEqual([2, 3]);
    a.sendBytesSync(data, 10);
    expect(b.recvBytesSync().length).toBe(0);
    expect(() => a.sendBytesSync(data, 11)).toThrow(ValueError);
    expect(() => a.sendBytesSync(data, 5, 6)).toThrow(ValueError);
    expect(() => a.sendBytesSync(data, -1)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => a.sendBytesSync('text')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    a.sendBytesSync(data);
    const into = Buffer.alloc(16, 0);
    expect(b.recvBytesIntoSync(into, 3)).toBe(10);
    expect(into.subarray(3, 13).toString()).toBe('0123456789');
    await a.sendBytes(data);
    const err = await b.recvBytesInto(Buffer.alloc(12), 4).catch((e) => e);
    expect(err).toBeInstanceOf(BufferTooShort);
    expect(err.data.toString()).toBe('0123456789');
    a.close();
    b.close();
  });

  test('recvBytesInto a large message, async and Sync, from a child: whole, at the offset, the rest untouched', async () => {
    const [a, b] = Pipe();
    const size = (2 << 20) + 4;
    const child = await started(t.sendPattern, b, size, 7);
    const expected = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4) expected.writeUInt32LE((i * 2654435761 + 7) >>> 0, i);
    const into = Buffer.alloc(size + 16, 0xee);
    expect(await a.recvBytesInto(into, 8)).toBe(size);
    expect(into.subarray(8, 8 + size).equals(expected)).toBe(true);
    expect(into[7]).toBe(0xee);
    expect(into[8 + size]).toBe(0xee);
    await child.join();
    const second = await started(t.sendPattern, b, size, 7);
    const view = new Uint8Array(size);
    expect(a.recvBytesIntoSync(view)).toBe(size);
    expect(Buffer.from(view).equals(expected)).toBe(true);
    await second.join();
    a.close();
    b.close();
  });

  test('recvBytes(maxLength): a longer message closes the connection with ERR_MP_BAD_MESSAGE_LENGTH', async () => {
    const [a, b] = Pipe();
    a.sendBytesSync(Buffer.alloc(100));
    await expect(b.recvBytes(99)).rejects.toMatchObject({ code: 'ERR_MP_BAD_MESSAGE_LENGTH' });
    expect(b.closed).toBe(true);
    a.close();
  });

  test('poll: false when empty (0 ms by default, or a timeout), true once a message or end of file is there', async () => {
    const [a, b] = Pipe();
    expect(await b.poll()).toBe(false);
    expect(b.pollSync(20)).toBe(false);
    expect(await b.poll(20)).toBe(false);
    const waiting = b.poll(null);
    a.sendSync('x');
    expect(await waiting).toBe(true);
    expect(b.pollSync()).toBe(true);
    expect(b.recvSync()).toBe('x');
    a.close();
    expect(b.pollSync(null)).toBe(true);
    expect(() => b.recvSync()).toThrow(EOFError);
    b.close();
  });

  test('poll(0) says true for a message that is there (it raced a 0 ms timer against the readiness watch: CPython\'s test_dont_merge failed on it)', async () => {
    const [a, b] = Pipe();
    a.sendSync('x');
    expect(b.pollSync(null)).toBe(true);
    const answers = [];
    for (let i = 0; i < 200; i++) answers.push(await b.poll(0), await b.poll());
    expect(answers.filter((ready) => !ready)).toEqual([]);
    expect(b.recvSync()).toBe('x');
    a.close();
    b.close();
  });

  test('async and Sync on one connection: sendSync writes after the queued async sends; a Sync receive while an async one waits is refused', async () => {
    const [a, b] = Pipe();
    const child = await started(t.echo, b, false);
    b.close();
    const big = Buffer.alloc(4 << 20, 1); // larger than the socket holds: the async send waits for room
    const sent = a.send(big);
    a.sendSync('after'); // blocks until the child has taken the big one: it was queued first
    await sent;
    const pending = a.recv();
    expect(() => a.recvSync()).toThrow(expect.objectContaining({ code: 'ERR_MP_CONNECTION_BUSY' }));
    expect((await pending).equals(big)).toBe(true);
    expect(await a.recv()).toBe('after');
    a.sendSync(null);
    await child.join();
    a.close();
  });

  test('close() while a receive and a send wait: both reject with ERR_MP_CLOSED; later calls throw it', async () => {
    const [a, b] = Pipe();
    const receiving = b.recv();
    b.close();
    await expect(receiving).rejects.toMatchObject({ code: 'ERR_MP_CLOSED' });
    const [c, d] = Pipe();
    const sending = c.sendBytes(Buffer.alloc(8 << 20));
    c.close();
    d.close();
    await expect(sending).rejects.toMatchObject({ code: 'ERR_MP_CLOSED' });
    expect(() => c.sendSync(1)).toThrow(expect.objectContaining({ code: 'ERR_MP_CLOSED' }));
    expect(() => b.recvSync()).toThrow(expect.objectContaining({ code: 'ERR_MP_CLOSED' }));
    c.close(); // idempotent
    a.close();
  });

  test('a send to a closed peer fails with EPIPE, never a hang', async () => {
    const [a, b] = Pipe();
    b.close();
    expect(() => a.sendSync(1)).toThrow(expect.objectContaining({ code: 'EPIPE' }));
    await expect(a.send(1)).rejects.toMatchObject({ code: 'EPIPE' });
    a.close();
  });

  test('inheritance: a Connection travels to a child being spawned only; anywhere else RuntimeError', async () => {
    const [a, b] = Pipe();
    const q = new Queue();
    const message = 'Connection objects should only be shared between processes through inheritance';
    expect(() => q.putSync(a)).toThrow(new RuntimeError(message));
    expect(() => b.sendSync({ a })).toThrow(RuntimeError);
    expect(() => v8.serialize(a)).toThrow(RuntimeError);
    expect(() => JSON.stringify(a)).toThrow(RuntimeError);
    q.close();
    a.close();
    b.close();
  });

  test('a worker thread receives a Connection through forThread/fromThread', async () => {
    const [a, b] = Pipe();
    const copy = fromThread(forThread({ b })).b; // the same thread may adopt it: a second descriptor
    expect(copy).toBeInstanceOf(Connection);
    copy.sendSync('through a copy');
    expect(a.recvSync()).toBe('through a copy');
    for (const c of [a, b, copy]) c.close();
  });

  test('a Lock travels through a Pipe only inside a spawning context; a value of library objects arrives from a child', async () => {
    const [a, b] = Pipe();
    expect(() => a.sendSync(new Lock())).toThrow(RuntimeError);
    a.close();
    b.close();
  });

  test('bad frames from a trusted peer are typed errors: recv of raw bytes, a length past the message', async () => {
    const [a, b] = Pipe();
    const deadline = Date.now() + 2000; // fuzz: random messages for two seconds
    let values = 0;
    let errors = 0;
    while (Date.now() < deadline) {
      const junk = crypto.randomBytes(crypto.randomInt(0, 200));
      if (junk.length >= 8 && crypto.randomInt(2)) junk.writeUInt32BE(crypto.randomInt(0, junk.length), 0);
      a.sendBytesSync(junk);
      try {
        b.recvSync();
        values++;
      } catch (err) {
        expect(err).toBeInstanceOf(UnpicklingError);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(0);
    a.sendSync('still fine');
    expect(b.recvSync()).toBe('still fine');
    a.close();
    b.close();
    expect(values + errors).toBeGreaterThan(0);
  });

  test('nothing leaks: 200 Pipes opened and closed, and 200 dropped, leave no descriptor', async () => {
    const before = openFds();
    for (let i = 0; i < 200; i++) {
      const [a, b] = Pipe(i % 2 === 0);
      a.close();
      b.close();
    }
    expect(openFds()).toBeLessThanOrEqual(before);
  });

  test('bad arguments are typed errors', () => {
    expect(() => Pipe('yes')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    const [a, b] = Pipe();
    expect(a.pollSync(-1)).toBe(false); // a negative timeout is 0, as in CPython
    expect(() => a.pollSync(NaN)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => a.recvBytesSync(-1)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => a.recvBytesIntoSync(Buffer.alloc(2), 3)).toThrow(ValueError);
    a.close();
    b.close();
  });
});

describe('connection.wait', () => {
  test('several connections and processes at once: what is ready, in time; [] when the timeout passes', async () => {
    const [r1, w1] = Pipe(false);
    const [r2, w2] = Pipe(false);
    const [tell, told] = Pipe();
    const child = await started(t.exitWhenTold, told);
    told.close();
    expect(await connection.wait([r1, r2, child], 30)).toEqual([]);
    w2.sendSync('two');
    expect(await connection.wait([r1, r2, child])).toEqual([r2]);
    expect(r2.recvSync()).toBe('two');
    await tell.send('exit');
    expect(await connection.wait([r1, r2, child])).toEqual([child]);
    w1.close();
    expect(await connection.wait([r1, r2, child], 0)).toEqual([r1, child]); // end of file is ready too
    expect(() => connection.wait([{}])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    for (const c of [r1, r2, w2, tell]) c.close();
  });
});

describe('Listener and Client', () => {
  test.each([
    ['a private Unix socket', undefined],
    ['TCP', ['127.0.0.1', 0]],
  ])('%s with an authkey: a child connects, values cross both ways', async (_, address) => {
    const authkey = crypto.randomBytes(16);
    const listener = new Listener({ address, authkey });
    await listener.ready;
    const child = await started(t.clientRoundTrip, listener.address, authkey, { hello: [1, 2] });
    const conn = await listener.accept();
    expect(await conn.recv()).toEqual({ hello: [1, 2] });
    conn.sendSync('back');
    expect(conn.recvSync()).toBe('back');
    await child.join();
    expect(child.exitCode).toBe(0);
    conn.close();
    const where = listener.address;
    listener.close();
    if (typeof where === 'string') expect(fs.existsSync(where)).toBe(false);
  });

  test('a wrong authkey: accept() and Client() both reject with AuthenticationError; the listener serves the next one', async () => {
    const listener = new Listener({ authkey: 'right' });
    await listener.ready;
    const results = await Promise.allSettled([listener.accept(), Client(listener.address, { authkey: 'wrong' })]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(results[0].reason).toBeInstanceOf(AuthenticationError);
    expect(results[1].reason).toBeInstanceOf(AuthenticationError);
    const [s, c] = await Promise.all([listener.accept(), Client(listener.address, { authkey: 'right' })]);
    c.sendSync(1);
    expect(await s.recv()).toBe(1);
    for (const x of [s, c, listener]) x.close();
  });

  test('without an authkey, a peer may send plain data only: library objects from it are refused', async () => {
    const listener = new Listener();
    await listener.ready;
    const [s, c] = await Promise.all([listener.accept(), Client(listener.address)]);
    c.sendSync({ plain: true });
    expect(s.recvSync()).toEqual({ plain: true });
    // What a trusted peer would send for a function reference, forged by hand
    const [a, b] = Pipe();
    a.sendSync({ fn: { [require('../dist').reduce]: () => [t.echo, []] } });
    c.sendBytesSync(b.recvBytesSync());
    expect(() => s.recvSync()).toThrow(UnpicklingError);
    for (const x of [a, b, s, c, listener]) x.close();
  });

  test('a listener bound to an address in use rejects ready and accept with the system error', async () => {
    const first = new Listener({ address: ['127.0.0.1', 0] });
    await first.ready;
    const second = new Listener({ address: first.address });
    await expect(second.ready).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await expect(second.accept()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    first.close();
    await expect(first.accept()).rejects.toMatchObject({ code: 'ERR_MP_CLOSED' });
  });

  test('Client to nobody: the system error (ECONNREFUSED / ENOENT)', async () => {
    await expect(Client(['127.0.0.1', 1])).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(Client('/nonexistent/socket')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(Client(42)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
  });

  describe('hostile peers get typed errors, never a hang', () => {
    let listener;
    beforeAll(async () => {
      listener = new Listener({ authkey: 'key', handshakeTimeout: 300 });
      await listener.ready;
    });
    afterAll(() => listener.close());

    const raw = (bytes) => {
      const socket = net.connect(listener.address);
      socket.on('error', () => undefined);
      if (bytes) socket.write(bytes);
      return socket;
    };

    test('a peer that says nothing: TimeoutError after handshakeTimeout', async () => {
      const socket = raw();
      await expect(listener.accept()).rejects.toBeInstanceOf(TimeoutError);
      socket.destroy();
    });

    test('a peer announcing a huge message during the handshake: ERR_MP_BAD_MESSAGE_LENGTH at once', async () => {
      const socket = raw(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
      await expect(listener.accept()).rejects.toMatchObject({ code: 'ERR_MP_BAD_MESSAGE_LENGTH' });
      socket.destroy();
    });

    test('fuzz: random bytes from many peers for two seconds; each accept fails typed, a real client still gets in', async () => {
      const deadline = Date.now() + 2000;
      const codes = new Set();
      while (Date.now() < deadline) {
        const socket = raw(crypto.randomBytes(crypto.randomInt(1, 300)));
        if (crypto.randomInt(2)) socket.end();
        const err = await listener.accept().then(() => null, (e) => e);
        socket.destroy();
        expect(err).not.toBeNull();
        expect(typeof err.code).toBe('string');
        codes.add(err.code);
      }
      expect([...codes].every((code) => /^ERR_MP_(AUTHENTICATION|BAD_MESSAGE_LENGTH|EOF|TIMEOUT)$/.test(code))).toBe(true);
      const [s, c] = await Promise.all([listener.accept(), Client(listener.address, { authkey: 'key' })]);
      await c.send('welcome');
      expect(await s.recv()).toBe('welcome');
      s.close();
      c.close();
    });

    test('a hostile server: silence is TimeoutError, a frame that is not a challenge is AuthenticationError', async () => {
      for (const [reply, Expected] of [[null, TimeoutError], [Buffer.from([0, 0, 0, 3, 1, 2, 3]), AuthenticationError]]) {
        const server = net.createServer((socket) => {
          socket.on('error', () => undefined);
          if (reply) socket.write(reply);
        });
        await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
        const err = await Client(['127.0.0.1', server.address().port], { authkey: 'k', handshakeTimeout: 300 }).catch((e) => e);
        expect(err).toBeInstanceOf(Expected);
        server.close();
      }
    });
  });
});
