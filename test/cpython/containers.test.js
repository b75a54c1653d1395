// CPython's _TestContainers (Lib/test/_test_multiprocessing.py), ported: behaviour, not text. CPython runs it for
// 'manager' only, as here. Python's operators become the proxies' methods: `a[:]` is toArray(), `b[2:10]` slice(),
// `b[2]` get(2), `a[0] = x` set(0, x), `len(b)` the `length`/`size` getter, `del d[k]` delete(k), `n.x = v` set('x', v).
'use strict';
const { Manager } = require('../../dist');
const { cpython, deviation } = require('./harness');

const range = (n) => Array.from({ length: n }, (_, i) => i);

describe('_TestContainers [manager]', () => {
  let manager;
  beforeAll(async () => {
    manager = new Manager();
    await manager.start();
  });
  afterAll(() => manager.shutdown());

  cpython('test_list', async () => {
    const a = await manager.list(range(10));
    expect(await a.toArray()).toEqual(range(10));
    const b = await manager.list();
    expect(await b.toArray()).toEqual([]);
    await b.extend(range(5));
    expect(await b.toArray()).toEqual(range(5));
    expect(await b.get(2)).toBe(2);
    expect(await b.slice(2, 10)).toEqual([2, 3, 4]);
    await b.extend(await b.toArray()); // b *= 2
    expect(await b.toArray()).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    expect([...(await b.toArray()), 5, 6]).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6]); // b + [5, 6]
    expect(await a.toArray()).toEqual(range(10));
    const e = await manager.list([a, b]);
    const elements = [];
    for await (const element of e) elements.push(await element.toArray());
    expect(elements).toEqual([range(10), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]]);
    const f = await manager.list([a]);
    await a.append('hello');
    expect(await (await f.get(0)).toArray()).toEqual([...range(10), 'hello']);
  });

  // collections.abc.MutableSequence's methods, by their names here (`__reversed__`: reverse() in place, or the
  // reversed toArray(); Python's `in` is includes(), `index` indexOf(), `del a[i]` splice(i, 1), `+=` extend()).
  cpython('test_list_isinstance', async () => {
    const a = await manager.list();
    for (const name of ['includes', 'splice', 'get', 'extend', 'set', 'append', 'clear', 'count', 'indexOf', 'insert',
      'pop', 'remove', 'reverse', 'toArray', Symbol.asyncIterator]) {
      expect(typeof a[name]).toBe('function');
    }
    expect(await a.length).toBe(0);
  });

  cpython('test_list_iter', async () => {
    const a = await manager.list(range(10));
    const it = a[Symbol.asyncIterator]();
    const seen = [];
    for (let r = await it.next(); !r.done; r = await it.next()) seen.push(r.value);
    expect(seen).toEqual(range(10));
    expect((await it.next()).done).toBe(true); // exhausted
    const again = a[Symbol.asyncIterator]();
    await a.set(0, 100); // list modified during iteration
    expect((await again.next()).value).toBe(100);
  });

  cpython('test_list_proxy_in_list', async () => {
    const a = await manager.list(await Promise.all(range(3).map(() => manager.list(range(3)))));
    const inner = async () => Promise.all(range(3).map(async (i) => (await a.get(i)).toArray()));
    expect(await inner()).toEqual([[0, 1, 2], [0, 1, 2], [0, 1, 2]]);
    await (await a.get(0)).set(-1, 55);
    expect(await (await a.get(0)).toArray()).toEqual([0, 1, 55]);
    for (const i of [1, 2]) expect(await (await a.get(i)).toArray()).toEqual([0, 1, 2]);
    expect(await (await a.get(1)).pop()).toBe(2);
    expect(await (await a.get(1)).length).toBe(2);
    for (const i of [0, 2]) expect(await (await a.get(i)).length).toBe(3);
    const b = await manager.list();
    await b.append(b); // a list that holds itself
    expect(await (await b.get(0)).length).toBe(1);
  });

  cpython('test_dict', async () => {
    const d = await manager.dict();
    const indices = [65, 66, 67, 68, 69];
    for (const i of indices) await d.set(i, String.fromCharCode(i));
    expect(await d.copy()).toEqual(new Map(indices.map((i) => [i, String.fromCharCode(i)])));
    expect((await d.keys()).sort()).toEqual(indices);
    expect((await d.values()).sort()).toEqual(indices.map((i) => String.fromCharCode(i)));
    expect(await d.entries()).toEqual(indices.map((i) => [i, String.fromCharCode(i)]));
  });

  // collections.abc.MutableMapping's methods, by Map's names here (`in` is has(), `del d[k]` delete(k), `items`
  // entries(), `len` the size getter; == compares copy()s).
  cpython('test_dict_isinstance', async () => {
    const d = await manager.dict();
    for (const name of ['has', 'delete', 'get', Symbol.asyncIterator, 'set', 'clear', 'entries', 'keys', 'pop',
      'popitem', 'setdefault', 'update', 'values', 'copy']) {
      expect(typeof d[name]).toBe('function');
    }
    expect(await d.size).toBe(0);
  });

  // CPython iterates a dict proxy key by key and raises RuntimeError once the dict changed size; `for await` here
  // runs over one snapshot taken in one round trip, so a later clear() is not seen.
  deviation('test_dict_iter', 'proxySnapshot', async () => {
    const d = await manager.dict();
    const indices = [65, 66, 67, 68, 69];
    for (const i of indices) await d.set(i, String.fromCharCode(i));
    const keys = [];
    for await (const [key] of d) keys.push(key);
    expect(keys).toEqual(indices);
    const it = d[Symbol.asyncIterator]();
    expect((await it.next()).value).toEqual([65, 'A']); // the snapshot is taken here
    await d.clear();
    expect((await it.next()).value).toEqual([66, 'B']);
  });

  cpython('test_dict_proxy_nested', async () => {
    let pets = await manager.dict({ ferrets: 2, hamsters: 4 });
    let supplies = await manager.dict({ water: 10, feed: 3 });
    const d = await manager.dict({ pets, supplies });
    const supply = async (key) => (await d.get('supplies')).get(key);
    expect(await supplies.get('water')).toBe(10);
    expect(await supply('water')).toBe(10);
    await (await d.get('supplies')).set('blankets', 5);
    expect(await supplies.get('blankets')).toBe(5);
    expect(await supply('blankets')).toBe(5);
    await (await d.get('supplies')).set('water', 7);
    expect(await supplies.get('water')).toBe(7);
    expect(await supply('water')).toBe(7);
    pets = supplies = undefined; // CPython's del: the dict keeps them alive
    expect(await (await d.get('pets')).get('ferrets')).toBe(2);
    await (await d.get('supplies')).set('blankets', 11);
    expect(await supply('blankets')).toBe(11);
    pets = await d.get('pets');
    supplies = await d.get('supplies');
    await supplies.set('water', 7);
    expect(await supplies.get('water')).toBe(7);
    expect(await supply('water')).toBe(7);
    await d.clear();
    expect(await d.size).toBe(0);
    expect(await supplies.get('water')).toBe(7);
    expect(await pets.get('hamsters')).toBe(4);
    const l = await manager.list([pets, supplies]);
    await (await l.get(0)).set('marmots', 1);
    expect(await pets.get('marmots')).toBe(1);
    expect(await (await l.get(0)).get('marmots')).toBe(1);
    pets = supplies = undefined;
    expect(await (await l.get(0)).get('marmots')).toBe(1);
    const outer = await manager.list([[88, 99], l]);
    expect(Array.isArray(await outer.get(0))).toBe(true); // a plain array, not a proxy
    expect(await (await (await outer.get(-1)).get(-1)).get('feed')).toBe(3);
  });

  cpython('test_nested_queue', async () => {
    const a = await manager.list(); // a queue inside a list
    await a.append(await manager.Queue());
    await (await a.get(0)).put(123);
    expect(await (await a.get(0)).get()).toBe(123);
    const b = await manager.dict(); // a queue inside a dict
    await b.set(0, await manager.Queue());
    await (await b.get(0)).put(456);
    expect(await (await b.get(0)).get()).toBe(456);
  });

  // String(proxy) cannot wait for the server: the namespace's attributes are read with toObject() instead.
  deviation('test_namespace', 'proxyString', async () => {
    const n = await manager.Namespace();
    await n.set('name', 'Bob');
    await n.set('job', 'Builder');
    await n.set('_hidden', 'hidden');
    expect([await n.get('name'), await n.get('job')]).toEqual(['Bob', 'Builder']);
    await n.delete('job');
    expect(await n.toObject()).toEqual({ name: 'Bob', _hidden: 'hidden' });
    expect(await n.has('name')).toBe(true);
    expect(await n.has('job')).toBe(false);
  });
});
