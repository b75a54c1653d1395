'use strict';
// Wrong types, negative or NaN numbers, and misuse: always a typed error with a stable code, never a crash.
const mp = require('../dist');
const native = require('../dist/native').native;

const code = (c) => expect.objectContaining({ code: c });

describe('synchronization primitives', () => {
  test('constructors', () => {
    expect(() => new mp.Semaphore(-1)).toThrow(code('ERR_MP_VALUE'));
    expect(() => new mp.Semaphore(-1)).toThrow('semaphore initial value must be >= 0');
    expect(() => new mp.Semaphore('3')).toThrow(code('ERR_INVALID_ARG_TYPE'));
    expect(() => new mp.Semaphore(1.5)).toThrow(code('ERR_MP_VALUE'));
    expect(() => new mp.Semaphore(2 ** 40)).toThrow(code('ERR_OUT_OF_RANGE'));
    expect(() => new mp.BoundedSemaphore(NaN)).toThrow(code('ERR_MP_VALUE'));
    expect(() => new mp.Barrier(0)).toThrow(code('ERR_OUT_OF_RANGE'));
    expect(() => new mp.Barrier('2')).toThrow(code('ERR_INVALID_ARG_TYPE'));
    expect(() => new mp.Barrier(2, 'not a function')).toThrow(code('ERR_INVALID_ARG_TYPE'));
    expect(() => new mp.Barrier(2, undefined, -5)).toThrow(code('ERR_OUT_OF_RANGE'));
    expect(() => new mp.Condition({})).toThrow(code('ERR_INVALID_ARG_TYPE'));
  });

  test.each([
    [{ timeout: -1 }, 'ERR_OUT_OF_RANGE'],
    [{ timeout: NaN }, 'ERR_OUT_OF_RANGE'],
    [{ timeout: '10' }, 'ERR_INVALID_ARG_TYPE'],
    [{ blocking: 'no' }, 'ERR_INVALID_ARG_TYPE'],
    [{ signal: {} }, 'ERR_INVALID_ARG_TYPE'],
    ['options', 'ERR_INVALID_ARG_TYPE'],
  ])('acquire(%p) rejects with %s; acquireSync throws it', async (options, expected) => {
    const lock = new mp.Lock();
    await expect(lock.acquire(options)).rejects.toMatchObject({ code: expected });
    if (!options.signal) expect(() => lock.acquireSync(options)).toThrow(code(expected));
    expect(lock.acquireSync({ blocking: false })).toBe(true); // nothing was taken by the failed calls
  });

  test('waits validate too', async () => {
    const event = new mp.Event();
    await expect(event.wait({ timeout: -3 })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    expect(() => event.waitSync({ timeout: NaN })).toThrow(code('ERR_OUT_OF_RANGE'));
    const barrier = new mp.Barrier(2);
    await expect(barrier.wait({ timeout: 'soon' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    const cond = new mp.Condition();
    cond.acquireSync();
    expect(() => cond.notify(-1)).toThrow(code('ERR_OUT_OF_RANGE'));
    await expect(cond.wait({ signal: 'abort' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    cond.release();
  });

  test('the native layer rejects wrong types instead of crashing', () => {
    expect(() => native.Semaphore.create(42, 1, 1)).toThrow(code('ERR_INVALID_ARG_TYPE'));
    expect(() => native.Semaphore.open('/mp-does-not-exist')).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'sem_open' }));
    expect(() => native.Semaphore.unlink('/mp-does-not-exist')).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'sem_unlink' }));
    const lock = new mp.Lock({ recovery: false });
    expect(() => lock._os.sem.waitAsync('x', () => {})).toThrow(code('ERR_INVALID_ARG_TYPE'));
    expect(() => lock._os.sem.waitAsync(10, () => {}, {})).toThrow('must be a Semaphore');
    expect(() => native.poll(987654, false, 0)).toThrow(expect.objectContaining({ syscall: 'poll', code: 'EBADF' }));
  });
});
