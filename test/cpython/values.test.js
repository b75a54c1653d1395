// CPython's _TestValue and _TestArray (Lib/test/_test_multiprocessing.py), ported: behaviour, not text. CPython runs
// them for 'processes' only; they have no async or Sync forms, so each runs once. Python indexes an Array with
// `arr[i]` and slices; here elements are read and written with get(i)/set(i, v) and read whole with toArray().
'use strict';
const mp = require('../../dist');
const { cpython, deviation, spawn, joinOk } = require('./harness');
const t = require('./targets');

const { Value, RawValue, Array: SharedArray, RawArray, Lock, RLock, InvalidArgumentError } = mp;

// CPython's codes_values: typecode, initial value, value the child writes ('q' holds bigints, 'c' one byte).
const CODES_VALUES = [
  ['i', 4343, 24234],
  ['d', 3.625, -4.25],
  ['h', -232, 234],
  ['q', 2n ** 33n, 2n ** 34n],
  ['c', Buffer.from('x'), Buffer.from('y')],
];

describe('_TestValue [processes]', () => {
  async function testValue(make) {
    const values = CODES_VALUES.map(([code, value]) => make(code, value));
    values.forEach((sv, i) => expect(sv.value).toEqual(CODES_VALUES[i][1]));
    await joinOk(await spawn('async', t.setValues, [values, CODES_VALUES.map((cv) => cv[2])], { daemon: true }));
    values.forEach((sv, i) => expect(sv.value).toEqual(CODES_VALUES[i][2]));
    for (const v of values) v.close();
  }

  cpython('test_value', () => testValue((code, value) => Value(code, value)));

  cpython('test_rawvalue', () => testValue((code, value) => new RawValue(code, value)));

  // lock: null and the default make an RLock, a Lock given is the one used, false makes a raw value.
  deviation('test_getobj_getlock', 'rawGetObj', () => {
    const val1 = Value('i', 5);
    expect(val1.getLock()).toBeInstanceOf(RLock);
    expect(val1.getObj()[0]).toBe(5);
    const val2 = Value('i', 5, { lock: null });
    expect(val2.getLock()).toBeInstanceOf(RLock);
    const lock = new Lock();
    const val3 = Value('i', 5, { lock });
    expect(val3.getLock()).toBe(lock);
    const val4 = Value('i', 5, { lock: false });
    expect(val4).toBeInstanceOf(RawValue);
    expect(val4.getLock).toBeUndefined();
    expect(val4.getObj()[0]).toBe(5); // CPython's raw value has no get_obj
    expect(() => Value('i', 5, { lock: 'navalue' })).toThrow(InvalidArgumentError); // CPython: AttributeError
    const val5 = new RawValue('i', 5);
    expect(val5.getLock).toBeUndefined();
    for (const v of [val1, val2, val3, val4, val5]) v.close();
    lock.close();
  });

  // CPython: TypeError('bad typecode ...').
  deviation('test_invalid_typecode', 'argumentType', () => {
    expect(() => Value('x', null)).toThrow(InvalidArgumentError);
    expect(() => new RawValue('x', null)).toThrow(InvalidArgumentError);
  });
});

describe('_TestArray [processes]', () => {
  const runningSums = (seq) => seq.map((_, i) => seq.slice(0, i + 1).reduce((a, b) => a + b, 0));

  async function testArray(make) {
    const seq = [680, 626, 934, 821, 150, 233, 548, 982, 714, 831];
    const arr = make('i', seq);
    expect(arr.length).toBe(seq.length);
    expect(arr.get(3)).toBe(seq[3]);
    expect(arr.toArray().slice(2, 7)).toEqual(seq.slice(2, 7));
    [1, 2, 3, 4].forEach((x, k) => { arr.set(4 + k, x); seq[4 + k] = x; }); // arr[4:8] = seq[4:8] = [1, 2, 3, 4]
    expect(arr.toArray()).toEqual(seq);
    await joinOk(await spawn('async', t.runningSums, [arr], { daemon: true }));
    expect(arr.toArray()).toEqual(runningSums(seq));
    arr.close();
  }

  cpython('test_array', () => testArray((code, seq) => SharedArray(code, seq)));

  // Issue 11675: new arrays are zeroed, even where freed memory is reused.
  cpython('test_array_from_size', () => {
    for (let round = 0; round < 3; round++) {
      const arr = SharedArray('i', 10);
      expect(arr.length).toBe(10);
      expect([...arr]).toEqual(Array(10).fill(0));
      for (let i = 0; i < 10; i++) arr.set(i, i);
      expect([...arr]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      arr.close();
    }
  });

  cpython('test_rawarray', () => testArray((code, seq) => new RawArray(code, seq)));

  deviation('test_getobj_getlock_obj', 'rawGetObj', () => {
    const ten = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    const arr1 = SharedArray('i', ten);
    expect(arr1.getLock()).toBeInstanceOf(RLock);
    expect([...arr1.getObj()]).toEqual(ten);
    const arr2 = SharedArray('i', ten, { lock: null });
    expect(arr2.getLock()).toBeInstanceOf(RLock);
    const lock = new Lock();
    const arr3 = SharedArray('i', ten, { lock });
    expect(arr3.getLock()).toBe(lock);
    const arr4 = SharedArray('i', ten, { lock: false });
    expect(arr4).toBeInstanceOf(RawArray);
    expect(arr4.getLock).toBeUndefined();
    expect([...arr4.getObj()]).toEqual(ten); // CPython's raw array has no get_obj
    expect(() => SharedArray('i', ten, { lock: 'notalock' })).toThrow(InvalidArgumentError); // CPython: AttributeError
    const arr5 = new RawArray('i', ten);
    expect(arr5.getLock).toBeUndefined();
    for (const a of [arr1, arr2, arr3, arr4, arr5]) a.close();
    lock.close();
  });

  deviation('test_invalid_typecode', 'argumentType', () => {
    expect(() => SharedArray('x', [])).toThrow(InvalidArgumentError);
    expect(() => new RawArray('x', [])).toThrow(InvalidArgumentError);
  });
});
