'use strict';
// What cannot travel says so. Values that structured clone would refuse or silently flatten into `{}` fail with
// PicklingError naming their type and their path in the value, everywhere a value crosses; a [reduce]() that breaks
// its contract is a PicklingError naming the class; and an error that cannot even be described is still reported.
const childProcess = require('node:child_process');
const path = require('node:path');
const mp = require('../dist');
const { settledWithin } = require('./fixtures/bounded');
const t = require('./fixtures/trust_targets');

class Widget {
  constructor() {
    this.size = 3;
  }
}

/** Each value that cannot travel, and the type its error must name. */
const UNTRAVELLABLE = [
  ['WeakMap', () => new WeakMap()],
  ['WeakSet', () => new WeakSet()],
  ['WeakRef', () => new WeakRef({})],
  ['FinalizationRegistry', () => new FinalizationRegistry(() => undefined)],
  ['Promise', () => Promise.resolve(1)],
  ['SharedArrayBuffer', () => new SharedArrayBuffer(8)],
  ['Int32Array over a SharedArrayBuffer', () => new Int32Array(new SharedArrayBuffer(8))],
  ['Proxy', () => new Proxy({ a: 1 }, {})],
  ['Proxy', () => new Proxy([1, 2], {})],
  ['instance of Widget', () => new Widget()],
  ['instance of URL', () => new URL('http://example.com/')],
];

const deep = (leaf) => ({ items: [1, 2, 3, { cache: leaf }] });
const pickling = (type, where) => expect.objectContaining({
  name: 'PicklingError', code: 'ERR_MP_PICKLING',
  message: expect.stringMatching(new RegExp(`${type.replace(/ /g, '.')}.*\\(at ${where.replace(/[[\].()]/g, '\\$&')}\\)`)),
});

describe('cannot-travel: silently flattened values are PicklingErrors naming the type and its path', () => {
  test.each(UNTRAVELLABLE)('%s on a Queue (put and putSync)', async (type, make) => {
    const queue = new mp.Queue();
    try {
      await expect(queue.put(deep(make()))).rejects.toEqual(pickling(type, 'item.items[3].cache'));
      expect(() => queue.putSync(deep(make()))).toThrow(mp.PicklingError);
      expect(() => queue.putSync(make())).toThrow(mp.PicklingError);
      expect(queue.empty()).toBe(true); // nothing half-sent
      await queue.put(deep(1));
      expect(await queue.get()).toEqual(deep(1));
    } finally {
      queue.close();
    }
  });

  test('in Maps and Sets, as keys and values', async () => {
    const queue = new mp.Queue();
    try {
      await expect(queue.put({ m: new Map([['k', new WeakMap()]]) })).rejects.toEqual(pickling('WeakMap', 'item.m.get("k")'));
      await expect(queue.put({ m: new Map([[new WeakSet(), 1]]) })).rejects.toEqual(pickling('WeakSet', 'item.m<a Map key>'));
      await expect(queue.put({ s: new Set([Promise.resolve()]) })).rejects.toEqual(pickling('Promise', 'item.s<a Set item>'));
      await expect(queue.put({ 'odd key': [new Widget()] })).rejects.toEqual(pickling('Widget', 'item["odd key"][0]'));
    } finally {
      queue.close();
    }
  });

  test('what travels today still does: plain objects, arrays, Errors, Dates, RegExps, typed arrays, Maps, Sets, boxed primitives', async () => {
    const value = {
      plain: { a: 1, nested: [{ b: 'two' }] }, nullProto: Object.assign(Object.create(null), { c: 3 }),
      error: new RangeError('out'), date: new Date(0), regexp: /x+/gi, bytes: Buffer.from('hi'), floats: new Float64Array([1.5]),
      view: new DataView(new ArrayBuffer(4)), buffer: new ArrayBuffer(2), map: new Map([[1, { x: 1 }]]), set: new Set(['s']),
      boxed: [Object(1), Object('s'), Object(true), Object(2n)], big: 10n, cyclic: null,
    };
    value.cyclic = value.plain;
    const queue = new mp.Queue();
    try {
      await queue.put(value);
      const got = await queue.get();
      const { view, buffer, boxed, ...rest } = got; // (jest cannot compare these when they come from another realm)
      const { view: _view, buffer: _buffer, boxed: _boxed, ...sent } = value;
      expect(rest).toEqual({ ...sent, nullProto: { c: 3 } });
      expect(boxed.map((b) => typeof b === 'object' && b.valueOf())).toEqual([1, 's', true, 2n]);
      expect(Object.prototype.toString.call(view)).toBe('[object DataView]');
      expect(view.byteLength).toBe(4);
      expect(Object.prototype.toString.call(buffer)).toBe('[object ArrayBuffer]');
      expect(buffer.byteLength).toBe(2);
      expect(got.cyclic).toBe(got.plain);
      expect(Object.prototype.toString.call(got.error)).toBe('[object Error]');
      expect(got.error).toEqual(expect.objectContaining({ name: 'RangeError', message: 'out' }));
    } finally {
      queue.close();
    }
  });

  test('as Process arguments: start() throws', () => {
    const p = new mp.Process({ target: t.touch, args: [deep(new WeakMap())] });
    expect(() => p.start()).toThrow(pickling('WeakMap', 'args[0].items[3].cache'));
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

    test('task arguments', async () => {
      await expect(pool.apply(t.echo, [deep(new WeakMap())])).rejects.toEqual(pickling('WeakMap', 'args[0].items[3].cache'));
      await expect(pool.map(t.echo, [1, 2, deep(Promise.resolve())])).rejects.toEqual(pickling('Promise', 'items[2].items[3].cache'));
    });

    test('a task result rejects the call with the worker\'s PicklingError', async () => {
      const err = await pool.apply(t.returnWeakMap).catch((e) => e);
      expect(err).toBeInstanceOf(mp.RemoteError);
      expect(err).toEqual(expect.objectContaining({ code: 'ERR_MP_PICKLING', remoteName: 'PicklingError' }));
      expect(err.message).toMatch(/WeakMap \(at result\.items\[3\]\.cache\)/);
      expect(await pool.apply(t.echo, [5])).toBe(5);
    });
  });

  describe('through a Manager', () => {
    let manager;
    beforeAll(async () => {
      manager = new t.TrustManager();
      await manager.start();
    });
    afterAll(() => manager.shutdown());

    test('call arguments', async () => {
      const dict = await manager.dict();
      await expect(dict.set('k', deep(new WeakMap()))).rejects.toEqual(pickling('WeakMap', 'dict.set() arguments[1].items[3].cache'));
      await expect(manager.dict({ p: Promise.resolve() })).rejects.toEqual(pickling('Promise', 'dict() arguments[0].p'));
      expect(await dict.size).toBe(0);
    });

    test('a user type\'s method result', async () => {
      const thrower = await manager.Thrower();
      await expect(thrower.weakMap()).rejects.toEqual(expect.objectContaining({
        name: 'PicklingError', code: 'ERR_MP_PICKLING', message: expect.stringMatching(/WeakMap \(at Thrower\.weakMap\(\) result\.items\[3\]\.cache\)/),
      }));
      expect(await thrower.ok()).toBe('still serving');
    });
  });
});

describe('bad-reduce: a [reduce]() that breaks its contract is a PicklingError naming the class', () => {
  class ReturnsNotArrayArgs {
    [mp.reduce]() {
      return [t.echo, 'notarray'];
    }
  }
  class ReturnsNumber {
    [mp.reduce]() {
      return 42;
    }
  }
  class ReturnsUnknownId {
    [mp.reduce]() {
      return ['no.such.rebuilder', []];
    }
  }
  class ReturnsThree {
    [mp.reduce]() {
      return [t.echo, [], 'extra'];
    }
  }

  test.each([ReturnsNotArrayArgs, ReturnsNumber, ReturnsUnknownId, ReturnsThree])('%p', async (Class) => {
    const queue = new mp.Queue();
    try {
      await expect(queue.put({ x: [new Class()] })).rejects.toEqual(expect.objectContaining({
        name: 'PicklingError', message: expect.stringMatching(new RegExp(`${Class.name}.*\\(at item\\.x\\[0\\]\\).*\\[reduce\\]\\(\\) must return`)),
      }));
    } finally {
      queue.close();
    }
  });
});

describe('unprintable-throw: a thrown value that cannot be described is still reported', () => {
  const KINDS = ['toString', 'message', 'proxy', 'nullProto'];

  test.each(KINDS)('a Pool task throwing a %s value rejects with RemoteError; its worker lives on', async (kind) => {
    const pool = new mp.Pool({ processes: 1 });
    try {
      const { pidOf } = require('./fixtures/pool_tasks');
      const pid = await pool.apply(pidOf);
      const err = await settledWithin(pool.apply(t.throwUnprintable, [kind]), 20000, 'the call never settled');
      expect(err).toBeInstanceOf(mp.RemoteError);
      const asyncErr = await pool.apply(t.rejectUnprintable, [kind]).catch((e) => e);
      expect(asyncErr).toBeInstanceOf(mp.RemoteError);
      expect(await pool.apply(pidOf)).toBe(pid);
    } finally {
      pool.terminate();
      await pool.join();
    }
  });

  test.each(KINDS)('a Manager method throwing a %s value rejects with RemoteError; the server lives on', async (kind) => {
    const manager = new t.TrustManager();
    await manager.start();
    try {
      const thrower = await manager.Thrower();
      await expect(thrower.throwUnprintable(kind)).rejects.toBeInstanceOf(mp.RemoteError);
      expect(await thrower.ok()).toBe('still serving');
    } finally {
      await manager.shutdown();
    }
  });

  test('a Process target throwing such values exits with code 1 after reporting it, not as a failed start', () => {
    const script = path.join(__dirname, 'fixtures', 'unprintable_parent.js');
    const run = childProcess.spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 60000 });
    expect(JSON.parse(run.stdout)).toEqual({ toString: 1, message: 1, proxy: 1, nullProto: 1 });
    expect(run.stderr).not.toMatch(/failed to start|Node\.js v\d/); // no crash report
    expect(run.stderr.match(/^Process Process-\d+:$/gm)).toHaveLength(4);
  });
});
