'use strict';
// A chunk whose items (or argument lists) are all primitives other than numbers gets its run message when it is sent,
// not when it is submitted (lib/pool_protocol.ts runFrame): thousands of calls queued at once then hold no frames.
// These tests pin what that must keep: the task gets the values as they were at the call, of every primitive kind.
const { UnpicklingError } = require('../dist');
const { HEADER_BYTES } = require('../dist/framing');
const { decodeMessage, stringsRunFrame } = require('../dist/pool_numbers');
const tasks = require('./fixtures/pool_tasks');
const { poolForBlock } = require('./fixtures/pool_helpers');

/** Strings of every shape a strings frame must carry exactly. */
const STRINGS = ['', 'plain', 'é ü 漢字 🙂', '\ud800 lone \udc00', 'lone at the end \ud83d', 'z'.repeat(1 << 20), '\u0000\u00ff'];

describe('Pool: run messages of primitives, made when sent', () => {
  const getPool = poolForBlock({ processes: 1 });

  test('queued-string-calls-hold-no-frames: 2,000 calls with a 64 KiB string each hold no serialized copy while they wait', async () => {
    const pool = getPool();
    const strings = Array.from({ length: 2000 }, (_, i) => `${i}:`.padEnd(64 * 1024, 'x'));
    const before = process.memoryUsage.rss();
    const calls = strings.map((s) => pool.apply(tasks.identity, [s]));
    const pending = process.memoryUsage.rss() - before; // frames made at submission would be 131 MB here
    const results = await Promise.all(calls);
    expect(results.every((s, i) => s === strings[i])).toBe(true);
    expect(pending).toBeLessThan(48 * 1024 * 1024);
  });

  test('arguments-changed-after-the-call: a queued task gets its arguments as they were when apply() or starmap() was called', async () => {
    const pool = getPool();
    const lists = Array.from({ length: 50 }, (_, i) => [`a${i}`, i % 2 === 0]);
    const applied = lists.map((args) => pool.apply(tasks.argumentsOf, args));
    const starred = pool.starmap(tasks.argumentsOf, lists, { chunksize: 1 });
    for (const args of lists) args[0] = 'changed'; // before the event loop runs: most calls are still queued
    lists.push(['added', true]);
    const expected = Array.from({ length: 50 }, (_, i) => [`a${i}`, i % 2 === 0]);
    expect(await Promise.all(applied)).toEqual(expected);
    expect(await starred).toEqual(expected);
  });

  test('every primitive arrives as it was: empty, non-ASCII and lone-surrogate strings, booleans, null, undefined, bigint, NaN, -0', async () => {
    const pool = getPool();
    const values = ['', 'plain', 'é ü 漢字 🙂', '\ud800 lone \udc00', 'y'.repeat(1 << 20), true, false, null, undefined,
      12345678901234567890n, NaN, -0, 1.5];
    const [args] = await Promise.all([pool.apply(tasks.argumentsOf, values)]);
    expect(args).toHaveLength(values.length);
    args.forEach((value, i) => expect(Object.is(value, values[i])).toBe(true));
    const mapped = await pool.map(tasks.identity, values, { chunksize: 3 });
    mapped.forEach((value, i) => expect(Object.is(value, values[i])).toBe(true));
  });

  test('strings-frames-carry-every-string: apply, map and starmap of strings only (written by the pool itself) give them back exactly', async () => {
    const pool = getPool();
    expect(await pool.apply(tasks.argumentsOf, STRINGS)).toEqual(STRINGS);
    expect(await pool.map(tasks.identity, STRINGS, { chunksize: 2 })).toEqual(STRINGS);
    const pairs = STRINGS.map((s, i) => [s, STRINGS[(i + 1) % STRINGS.length]]);
    expect(await pool.starmap(tasks.argumentsOf, pairs, { chunksize: 1 })).toEqual(pairs);
    const got = await pool.apply(tasks.argumentsOf, ['\ud800']);
    expect(got[0].charCodeAt(0)).toBe(0xd800); // not U+FFFD, as UTF-8 would make it
  });

  test('a damaged strings frame is an UnpicklingError, never a read beyond its bytes or a wrong string', () => {
    const valid = [stringsRunFrame(7, STRINGS.slice(0, 5), false), stringsRunFrame(7, ['abc', 'é'], true)]
      .map((frame) => Buffer.from(frame.subarray(HEADER_BYTES)));
    for (const payload of valid) {
      const message = decodeMessage(Buffer.from(payload));
      expect(message.fn).toBe(7);
    }
    let seed = 12345;
    const random = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
    const outcomes = { decoded: 0, refused: 0 };
    for (let i = 0; i < 20000; i++) {
      const payload = Buffer.from(valid[i % 2]);
      const cut = random(3) === 0 ? payload.subarray(0, 12 + random(payload.length - 12)) : payload;
      for (let k = 0; k < 1 + random(3); k++) cut[12 + random(Math.max(1, cut.length - 12))] = random(256);
      let message;
      try {
        message = decodeMessage(Buffer.from(cut));
      } catch (err) {
        if (!(err instanceof UnpicklingError)) throw err;
        outcomes.refused++;
        continue;
      }
      const strings = message.star ? message.values[0] : message.values;
      expect(strings.reduce((n, s) => n + s.length, 0)).toBeLessThanOrEqual(cut.length);
      outcomes.decoded++;
    }
    expect(outcomes.decoded).toBeGreaterThan(1000);
    expect(outcomes.refused).toBeGreaterThan(1000);
  });

  test('strings frames are written and read in batches: chunks of thousands of strings of every length arrive whole', async () => {
    const pool = getPool();
    const ascii = Array.from({ length: 5000 }, (_, i) => 'x'.repeat(i % 37) + i);
    const mixed = ascii.map((s, i) => (i % 1000 === 999 ? `${s}\u00e9\ud800` : s));
    for (const strings of [ascii, mixed]) {
      expect(await pool.map(tasks.identity, strings, { chunksize: 4500 })).toEqual(strings);
      expect(await pool.apply(tasks.argumentsOf, strings)).toEqual(strings);
    }
  });

  test('a batch longer than a string can be is written and read one string at a time', () => {
    const half = (1 << 27) + 1; // two of them pass JOIN_MAX_CHARS (2^28)
    const strings = ['a'.repeat(half), 'b'.repeat(half), 'c'];
    const frame = stringsRunFrame(3, strings, false);
    const message = decodeMessage(frame.subarray(HEADER_BYTES));
    expect(message.values.map((s) => [s.length, s[0], s[s.length - 1]])).toEqual(strings.map((s) => [s.length, s[0], s[s.length - 1]]));
  });

  test('an argument that cannot travel still fails the call at once, before any of its tasks runs', async () => {
    const pool = getPool();
    await expect(pool.map(tasks.identity, ['a', Symbol('no'), 'b'])).rejects.toThrow(/cannot send a symbol/);
    expect(await pool.apply(tasks.identity, ['after'])).toBe('after');
  });
});
