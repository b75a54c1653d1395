'use strict';
// The Manager protocol trusts nobody more than it must: a client's notes about locks are checked against what the
// server knows, a registered type's objects are stored as they are, the client's handshake is bounded like the
// server's, and a client that knows only the authkey cannot find objects by counting ids.
const net = require('node:net');
const path = require('node:path');
const v8 = require('node:v8');
const mp = require('../dist');
const { settledWithin } = require('./fixtures/bounded');
const t = require('./fixtures/trust_targets');
const { connectRaw, frame } = require('./fixtures/raw_client');
const { tmpDir } = require('./fixtures/tmp');

const Op = { Create: 1, Call: 2, Info: 7, Held: 8, Released: 9 };

/** Sends `message` on a raw connection and waits for the reply to request `id`. */
async function call(raw, message) {
  raw.socket.write(frame(v8.serialize(message)));
  for (;;) {
    const reply = await raw.next();
    if (reply === null) throw new Error('the server closed the connection');
    const [id, ok, value] = v8.deserialize(reply);
    if (id === message[1]) return { ok, value };
  }
}

/** Resolves once the server has seen `raw` go (no sleeps: it answers debugInfo after handling the close). */
async function disconnect(manager, raw, expectedConnections) {
  await raw.close();
  for (let i = 0; i < 10000; i++) {
    if ((await manager.debugInfo()).connections === expectedConnections) return;
  }
  throw new Error('the server never saw the connection close');
}

describe('forged-held: a client\'s lock notes cannot make the server release a lock it does not hold', () => {
  let manager;
  let raw;
  beforeEach(async () => {
    // Kernel locks where the platform has them (elsewhere locks stay in the server and notes are never sent).
    manager = new mp.Manager();
    await manager.start();
    raw = await connectRaw(manager.address, mp.currentProcess().authkey);
  });
  afterEach(async () => {
    await raw.close();
    await manager.shutdown();
  });

  test.each(['Lock', 'RLock'])('a forged Held for a held %s, then a disconnect: the holder keeps it', async (type) => {
    const lock = await manager[type]();
    expect(await lock.acquire()).toBe(true);
    raw.socket.write(frame(v8.serialize([Op.Held, lock.token.id])));
    expect((await call(raw, [Op.Info, 1])).ok).toBe(true); // the note was handled before this answer
    await disconnect(manager, raw, 1);
    expect(await lock.locked()).toBe(true);
    await lock.release();
    expect(await lock.locked()).toBe(false);
  });

  test('a forged Held for a held RLock does not let the forger release it through the server', async () => {
    const rlock = await manager.RLock();
    expect(await rlock.acquire()).toBe(true);
    raw.socket.write(frame(v8.serialize([Op.Held, rlock.token.id])));
    const released = await call(raw, [Op.Call, 2, rlock.token.id, 'release', []]);
    expect(released.ok).toBe(false);
    expect(released.value).toEqual(expect.objectContaining({ name: 'AssertionError' }));
    expect(await rlock.locked()).toBe(true);
    await rlock.release();
  });

  test('a Held for a lock nobody holds is ignored: the disconnect releases nothing another took later', async () => {
    const lock = await manager.Lock();
    raw.socket.write(frame(v8.serialize([Op.Held, lock.token.id])));
    expect((await call(raw, [Op.Info, 3])).ok).toBe(true);
    expect(await lock.acquire()).toBe(true);
    await disconnect(manager, raw, 1);
    expect(await lock.locked()).toBe(true);
    await lock.release();
  });
});

describe('thenable-type: a registered type whose objects have then() is stored as it is', () => {
  test('creating one completes, and its proxy is not itself a thenable', async () => {
    const manager = new t.TrustManager();
    await manager.start();
    try {
      const created = await settledWithin(manager.Deferred(5), 20000, 'never completed');
      expect(created).toBeInstanceOf(mp.AutoProxy);
      expect(await created.get()).toBe(5);
      expect(created.then).toBeUndefined();
    } finally {
      await manager.shutdown();
    }
  });
});

describe('client-handshake: connect() is bounded like the server\'s side of the handshake', () => {
  let dir;
  let listener;
  const accepted = [];
  beforeEach(() => {
    dir = tmpDir('mp-silent-');
  });
  afterEach(async () => {
    for (const socket of accepted.splice(0)) socket.destroy();
    await new Promise((resolve) => listener.close(resolve));
  });

  function listen(onConnection) {
    listener = net.createServer((socket) => {
      accepted.push(socket);
      socket.on('error', () => undefined);
      onConnection(socket);
    });
    const address = path.join(dir, 'listener');
    return new Promise((resolve) => listener.listen(address, () => resolve(address)));
  }

  test('a listener that accepts and stays silent: connect() rejects with a typed error in time', async () => {
    const address = await listen(() => undefined);
    const manager = new mp.Manager({ address, handshakeTimeout: 300 });
    const outcome = await settledWithin(manager.connect().then(() => 'connected'), 20000, 'still waiting');
    expect(outcome).toBeInstanceOf(mp.ManagerError);
    expect(outcome).toEqual(expect.objectContaining({ code: 'ERR_MP_MANAGER_CONNECTION', message: expect.stringMatching(/handshake/) }));
  });

  test('a listener that announces a large frame before authenticating: the client hangs up at once', async () => {
    let hungUp;
    const gone = new Promise((resolve) => { hungUp = resolve; });
    const address = await listen((socket) => {
      socket.write(Buffer.from([0, 0x10, 0, 0])); // a 1 MiB frame, of which nothing more ever comes
      socket.on('close', hungUp);
    });
    const manager = new mp.Manager({ address, handshakeTimeout: 60000 });
    const outcome = await settledWithin(manager.connect().then(() => 'connected'), 20000, 'still waiting');
    expect(outcome).toBeInstanceOf(mp.ManagerError);
    expect(outcome.code).toBe('ERR_MP_MANAGER_CONNECTION');
    await gone;
  });
});

describe('sequential-ids: a client that knows only the authkey cannot find objects by counting', () => {
  test('calls on ids 0..300 all find no object, while the manager holds several', async () => {
    const manager = new mp.Manager();
    await manager.start();
    const raw = await connectRaw(manager.address, mp.currentProcess().authkey);
    try {
      const held = [await manager.dict({ secret: 1 }), await manager.list([1]), await manager.Lock(), await manager.Value('i', 1)];
      expect(held.every((proxy) => Number.isSafeInteger(proxy.token.id))).toBe(true);
      for (let id = 0; id <= 300; id++) {
        const reply = await call(raw, [Op.Call, id + 10, id, 'get', ['secret']]);
        expect(reply).toEqual({ ok: false, value: expect.objectContaining({ code: 'ERR_MP_MANAGER_UNKNOWN_OBJECT' }) });
      }
    } finally {
      await raw.close();
      await manager.shutdown();
    }
  });
});
