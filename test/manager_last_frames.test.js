'use strict';
// last-frames-of-a-gone-client: what a client sent just before it went is handled whatever the server learns of its
// going first. Seen as the managers.test.js flake "a producer that exits at once loses nothing": a producer's last
// puts (Op.PutFrame, already written into the connection when its put resolved) were lost when the server, before
// reading them, wrote to the producer and found it gone (EPIPE), or was told by epoll that the producer had reset
// the connection (POLLERR: it went with bytes from the server unread), and closed the connection unread.
const fs = require('node:fs');
const v8 = require('node:v8');
const mp = require('../dist');
const { native } = require('../dist/native');
const { stopped } = require('./fixtures/alive');
const { encodeFrame, frameBytes } = require('../dist/pipe');
const { connectRaw, frame } = require('./fixtures/raw_client');
const { acceptRing, STATE, TAIL } = require('./fixtures/ring_client');

const Op = { Call: 2, Info: 7, PutFrame: 10 };
const PUTS = 300;
const ALL_PUTS = Array.from({ length: PUTS }, (_, i) => i);
const ROUNDS = 5; // a round shows the loss unless epoll reported the two clients the other way round
const posix = process.platform !== 'win32';
const kernelQueues = native.features.semGetValue; // where the manager's queues are named pipes (PutFrame)

/**
 * A raw client on the socket, or on a ring: send(...payloads) in one write (a stopped server reads nothing: one
 * write per frame could fill the socket's buffer) and next(), the next frame from the server.
 */
async function client(manager, onRing) {
  const raw = await connectRaw(manager.address, mp.currentProcess().authkey, { ring: onRing });
  const bytes = (payloads) => Buffer.concat(payloads.map(frame));
  if (!onRing) return { raw, send: (...p) => raw.socket.write(bytes(p)), next: () => raw.next() };
  const ring = acceptRing(raw);
  return { raw, send: (...p) => ring.write(bytes(p)), next: () => ring.next() };
}

/** PUTS requests putting 0, 1, ... into `queue`, as a proxy sends them to the server. */
function puts(queue) {
  return Array.from({ length: PUTS }, (_, i) => v8.serialize([Op.PutFrame, queue.token.id, frameBytes(encodeFrame(i))]));
}

/** What `queue` holds, in order, up to PUTS items; 'lost' where the next one never came. */
async function received(queue) {
  const got = [];
  while (got.length < PUTS) {
    const item = await queue.get({ timeout: 10000 }).catch(() => 'lost');
    got.push(item);
    if (item === 'lost') break;
  }
  return got;
}

const describeIf = posix && kernelQueues && fs.existsSync('/proc/self/stat') ? describe : describe.skip;

describeIf('last-frames-of-a-gone-client', () => {
  let manager;
  beforeAll(async () => {
    manager = new mp.Manager();
    await manager.start();
  });
  afterAll(() => manager.shutdown());

  describe.each([['socket', false], ['ring', true]])('a write that finds the client gone (%s)', (_label, onRing) => {
    /**
     * One round: a waiter client blocks in Event.wait; with the server stopped, a setter's request becomes
     * readable first, then the waiter's puts and its end. The server handles the set first (epoll reports in the
     * order readiness came, mostly): its reply to the waiter finds it gone. The puts must still be read. The items
     * received.
     */
    async function round(queue) {
      const event = await manager.Event();
      const waiter = await client(manager, onRing);
      const setter = await client(manager, false);
      waiter.send(v8.serialize([Op.Call, 1, event.token.id, 'wait', [{}]]), v8.serialize([Op.Info, 2]));
      for (;;) if (v8.deserialize(await waiter.next())[0] === 2) break; // answered after the wait: it is armed
      await stopped(manager.pid);
      try {
        setter.send(v8.serialize([Op.Call, 3, event.token.id, 'set', []]));
        await new Promise((resolve) => setter.raw.socket.write(Buffer.alloc(0), resolve));
        waiter.send(...puts(queue));
        await new Promise((resolve) => waiter.raw.socket.end(resolve)); // all written: the server has it
        await waiter.raw.close();
      } finally {
        process.kill(manager.pid, 'SIGCONT');
      }
      const got = await received(queue);
      expect(await setter.next()).not.toBeNull(); // the setter's own answer
      await setter.raw.close();
      event[Symbol.dispose]();
      return got;
    }

    test('puts a client sent just before it went are all in the queue, though the server\'s reply to it failed first', async () => {
      const queue = await manager.Queue();
      for (let i = 0; i < ROUNDS; i++) expect(await round(queue)).toEqual(ALL_PUTS);
    }, 60000);
  });

  test('puts a client on a ring sent just before it went, leaving the server\'s bell unread, are all in the queue', async () => {
    const queue = await manager.Queue();
    const raw = await connectRaw(manager.address, mp.currentProcess().authkey, { ring: true });
    const ring = acceptRing(raw);
    raw.socket._handle.readStop(); // bells stay unread in the socket from now on (pause() would still buffer them)
    Atomics.store(ring.in, STATE, 0); // asleep: the server rings for its answer
    const tail = Atomics.load(ring.in, TAIL);
    ring.write(frame(v8.serialize([Op.Info, 1])));
    // The answer is in the ring: the server rings the bell right after writing it.
    while (Atomics.load(ring.in, TAIL) === tail) await new Promise(setImmediate);
    await stopped(manager.pid);
    try {
      ring.write(Buffer.concat(puts(queue).map(frame)));
      await raw.close(); // with a byte unread: the server's end reports a reset (POLLERR), not only the end
    } finally {
      process.kill(manager.pid, 'SIGCONT');
    }
    expect(await received(queue)).toEqual(ALL_PUTS);
  }, 30000);
});
