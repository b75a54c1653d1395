'use strict';
// ShareableList: a fixed-length list of numbers, strings, bytes, booleans and null in one segment.
const mp = require('../dist');
const t = require('./fixtures/shm_targets');

const bytes = (...b) => Buffer.from(b);
const plain = (items) => items.map((item) => (item instanceof Uint8Array ? ['bytes', [...item]] : item));

describe('ShareableList', () => {
  // python/cpython#106939: items were stored NUL-padded and read back with rstrip(b'\x00'), so trailing NULs of
  // strings and bytes were lost: ShareableList(['test\0'])[0] == 'test', ShareableList([b'\x03\x02\x01\x00'])[0] ==
  // b'\x03\x02\x01'. Lengths are stored here.
  test('cpython-106939: strings and bytes with trailing NULs come back whole, here and in another process', async () => {
    const items = ['test\0', '\0', '', 'é\0\0', bytes(3, 2, 1, 0, 0, 0), bytes(0), Buffer.alloc(0), 'ok', 1.5, -0, null, true, false];
    const list = new mp.ShareableList(items);
    const attached = mp.ShareableList.attach(list.shm.name);
    const pool = new mp.Pool({ processes: 1 });
    try {
      expect(plain(list.toArray())).toEqual(plain(items));
      expect(plain(attached.toArray())).toEqual(plain(items));
      expect(Object.is(list.get(9), -0)).toBe(true);
      const seen = await pool.apply(t.readList, [list, 1, '\0\0\0']);
      expect(seen[1]).toBe('\0\0\0');
      expect(list.get(1)).toBe('\0\0\0'); // written by the other process
      list.set(4, bytes(0, 0));
      expect(attached.get(4)).toEqual(bytes(0, 0));
    } finally {
      await pool.terminate();
      attached.shm.close();
      list.shm.close();
      list.shm.unlink();
    }
  }, 30000);

  test('items change type within their room; a longer string or bytes is a ValueError; count, index, iteration', () => {
    const list = new mp.ShareableList([1, 'abcdefgh', bytes(1), null]);
    try {
      expect(list.length).toBe(4);
      list.set(0, 'x'); // 8 bytes of room for any item
      list.set(3, 2.5);
      expect([...list]).toEqual(['x', 'abcdefgh', bytes(1), 2.5]);
      expect(() => list.set(1, 'abcdefghi')).toThrow(expect.objectContaining({ name: 'ValueError' }));
      expect(() => list.set(1, 'ééééé')).toThrow(expect.objectContaining({ name: 'ValueError' })); // 10 bytes in UTF-8
      expect(list.get(1)).toBe('abcdefgh'); // unchanged by the refused writes
      expect(list.count(bytes(1))).toBe(1);
      expect(list.index(2.5)).toBe(3);
      expect(() => list.index('nope')).toThrow(expect.objectContaining({ name: 'ValueError' }));
      expect(() => list.get(4)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
      expect(() => list.set(0, {})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
      expect(() => new mp.ShareableList(5)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    } finally {
      list.shm.close();
      list.shm.unlink();
    }
    expect(() => list.get(0)).toThrow(expect.objectContaining({ code: 'ERR_MP_CLOSED' }));
  });

  test('a segment that does not hold a list, or a damaged one, is refused before any item is read', () => {
    const shm = new mp.SharedMemory({ size: 64 });
    const bad = expect.objectContaining({ code: 'ERR_MP_BAD_SHAREABLE_LIST' });
    try {
      expect(() => mp.ShareableList.attach(shm.name)).toThrow(bad); // no header
      const list = new mp.ShareableList(['abc']);
      const words = list.shm.view(Uint32Array);
      words[1] = 1000; // item count beyond the segment
      expect(() => mp.ShareableList.attach(list.shm.name)).toThrow(bad);
      words[1] = 1;
      words[3] = 1 << 20; // a capacity beyond the segment
      expect(() => mp.ShareableList.attach(list.shm.name)).toThrow(bad);
      words[3] = 8;
      words[5] = 100; // an item length beyond its room
      const attached = mp.ShareableList.attach(list.shm.name);
      expect(() => attached.get(0)).toThrow(bad);
      attached.shm.close();
      list.shm.close();
      list.shm.unlink();
    } finally {
      shm.close();
      shm.unlink();
    }
  });
});

describe('SharedMemoryManager', () => {
  test('shutdown() unlinks every segment and list it made; later factories are ERR_MP_CLOSED', async () => {
    const smm = new mp.SharedMemoryManager();
    await smm.start();
    const shm = smm.SharedMemory(128);
    const list = smm.ShareableList([1, 'two']);
    const names = [shm.name, list.shm.name];
    const kept = mp.SharedMemory.attach(shm.name); // a user still mapping it keeps the memory
    kept.buf[0] = 9;
    await smm.shutdown();
    await smm.shutdown();
    for (const name of names) expect(() => mp.SharedMemory.attach(name)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(kept.buf[0]).toBe(9);
    kept.close();
    expect(() => smm.SharedMemory(8)).toThrow(expect.objectContaining({ code: 'ERR_MP_CLOSED' }));
  });
});
