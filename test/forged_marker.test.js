'use strict';
// forged-marker: plain data never becomes code. A value built from plain data (a JSON request body) whose keys
// happen to be the library's reduce marker must come back as the same plain data through every path a value takes,
// and never make the receiving process load or call anything. Each test fails if the reader rebuilds such data.
const fs = require('node:fs');
const path = require('node:path');
const mp = require('../dist');
const t = require('./fixtures/trust_targets');
const { tmpDir } = require('./fixtures/tmp');

let canary;
beforeEach(() => {
  canary = path.join(tmpDir('mp-forged-'), 'canary');
});
afterEach(() => {
  expect(fs.existsSync(canary)).toBe(false); // no path ran the fs.writeFileSync the data named
});

/** The value as it must come back: exactly the data that was sent. */
const expected = () => t.forgedValue(canary);

describe('forged-marker: a JSON body with the reduce marker key comes back as data', () => {
  test.each([
    ['Queue', () => new mp.Queue()],
    ['SimpleQueue', () => new mp.SimpleQueue()],
    ['JoinableQueue', () => new mp.JoinableQueue()],
  ])('through a %s', async (_name, make) => {
    const queue = make();
    try {
      await queue.put(t.forgedValue(canary));
      expect(await queue.get()).toEqual(expected());
      queue.putSync(t.forgedBodies(canary).call);
      expect(queue.getSync()).toEqual(expected().call);
    } finally {
      queue.close();
    }
  });

  test('through a child process that relays it on a Queue', async () => {
    const queue = new mp.Queue();
    const back = new mp.Queue();
    try {
      const p = new mp.Process({ target: require('./fixtures/queue_targets').forward, args: [queue, back, false] });
      await p.start();
      await queue.put(t.forgedValue(canary));
      await queue.put(null);
      expect(await back.get({ timeout: 20000 })).toEqual(expected());
      await p.join();
      expect(p.exitCode).toBe(0);
    } finally {
      queue.close();
      back.close();
    }
  });

  test('as Process arguments', async () => {
    const queue = new mp.Queue();
    try {
      const p = new mp.Process({ target: require('./fixtures/queue_targets').putThenExit, args: [queue, t.forgedValue(canary), 'return'] });
      await p.start();
      expect(await queue.get({ timeout: 20000 })).toEqual(expected());
      await p.join();
    } finally {
      queue.close();
    }
  });

  describe('through a Pool', () => {
    let pool;
    beforeAll(() => {
      pool = new mp.Pool({ processes: 1 });
    });
    afterAll(async () => {
      pool.terminate();
      await pool.join();
    });

    test('as task arguments', async () => {
      expect(await pool.apply(t.echo, [t.forgedValue(canary)])).toEqual(expected());
      expect(await pool.map(t.echo, [t.forgedBodies(canary).call, t.forgedBodies(canary).nested])).toEqual([
        expected().call, expected().nested,
      ]);
    });

    test('as a task result', async () => {
      expect(await pool.apply(t.returnForged, [canary])).toEqual(expected());
    });
  });

  describe.each([true, false])('through a Manager (kernelObjects: %s)', (kernelObjects) => {
    let manager;
    beforeAll(async () => {
      manager = new mp.Manager({ kernelObjects });
      await manager.start();
    });
    afterAll(() => manager.shutdown());

    test('dict set/get, update, values and its initial contents', async () => {
      const dict = await manager.dict({ body: t.forgedBodies(canary).call });
      expect(await dict.get('body')).toEqual(expected().call);
      await dict.set('value', t.forgedValue(canary));
      expect(await dict.get('value')).toEqual(expected());
      await dict.update(t.forgedBodies(canary).nested); // keys of a plain object become dict keys, as sent
      expect(await dict.get('user')).toBe('mallory');
      await dict.update(t.forgedBodies(canary).call);
      expect(await dict.get(t.MARK)).toEqual(expected().call[t.MARK]);
    });

    test('list, Namespace and Value', async () => {
      const list = await manager.list([t.forgedBodies(canary).call]);
      await list.append(t.forgedValue(canary));
      expect(await list.toArray()).toEqual([expected().call, expected()]);
      const ns = await manager.Namespace(t.forgedBodies(canary).call);
      expect(await ns.get(t.MARK)).toEqual(expected().call[t.MARK]);
      await ns.set('body', t.forgedValue(canary));
      expect(await ns.get('body')).toEqual(expected());
      expect(await ns.toObject()).toEqual({ [t.MARK]: expected().call[t.MARK], body: expected() });
      const value = await manager.Value('d', t.forgedValue(canary));
      expect(await value.get()).toEqual(expected());
    });

    test('a Queue proxy', async () => {
      const queue = await manager.Queue();
      await queue.put(t.forgedValue(canary));
      expect(await queue.get()).toEqual(expected());
      const big = { ...t.forgedValue(canary), padding: 'x'.repeat(100000) }; // through the server (kernel queue)
      await queue.put(big);
      expect(await queue.get()).toEqual({ ...expected(), padding: big.padding });
    });
  });
});

describe('forged-marker: every key and rebuilder id the library uses is plain data in a value', () => {
  const ids = [t.MARK, 'multiproc.function', 'multiproc.proxy', '$multiproc', 'multiproc.reduce'];

  test('as object keys and values, nested, in Maps (keys and values) and Sets, through a Queue', async () => {
    const value = {};
    for (const id of ids) {
      value[id] = { [id]: [id, [id]], inner: [{ [id]: id }] };
    }
    const all = [value, new Map([[value, value]]), new Set([value]), [[value]]];
    const queue = new mp.Queue();
    try {
      await queue.put(all);
      expect(await queue.get()).toEqual(all);
    } finally {
      queue.close();
    }
  });

  test('an array carrying the marker as a property travels as its elements only', async () => {
    const array = Object.assign([1, 2], { [t.MARK]: t.forgedBodies(canary).call[t.MARK] });
    const queue = new mp.Queue();
    try {
      await queue.put({ array });
      const got = await queue.get();
      expect(got).toEqual({ array: [1, 2] });
      expect(Object.keys(got.array)).toEqual(['0', '1']);
    } finally {
      queue.close();
    }
  });
});

describe('reduced-still-rebuilds: what the library itself reduced comes back as itself', () => {
  const { Point } = require('./fixtures/reduce_types');
  const check = (got) => {
    expect(got.point).toBeInstanceOf(Point);
    expect(got.point.norm()).toBe(5);
    expect(got.nested.get('p')).toBe(got.point); // one object, referenced twice
  };
  const value = () => {
    const point = new Point(3, 4);
    return { point, nested: new Map([['p', point]]), body: t.forgedBodies(canary).call };
  };

  test('through a Queue and a Pool', async () => {
    const queue = new mp.Queue();
    const pool = new mp.Pool({ processes: 1 });
    try {
      await queue.put(value());
      check(await queue.get());
      const echoed = await pool.apply(t.echo, [value()]);
      check(echoed);
      expect(echoed.body).toEqual(expected().call);
    } finally {
      queue.close();
      pool.terminate();
      await pool.join();
    }
  });

  test('stored in a Manager (the server keeps it as data) with a proxy beside it', async () => {
    const manager = new mp.Manager();
    await manager.start();
    try {
      const dict = await manager.dict();
      const inner = await manager.list([1, 2]);
      await dict.set('v', { ...value(), inner });
      const got = await dict.get('v');
      check(got);
      expect(await got.inner.toArray()).toEqual([1, 2]);
      expect(got.body).toEqual(expected().call);
    } finally {
      await manager.shutdown();
    }
  });
});
