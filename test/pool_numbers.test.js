'use strict';
// Chunks of numbers travel as numbers frames (lib/pool_numbers.ts): doubles written straight into the frame and read
// where they arrived, in memory reused from lib/buffer_pool.ts. These tests pin what that relies on: FramedSocket
// assembles a frame that spans reads whole and at the sender's offset, memory given back is never memory in use,
// and a chunk whose results stop being numbers midway keeps every result in place.
const net = require('node:net');
const path = require('node:path');
const { FramedSocket, HEADER_BYTES } = require('../dist/framing');
const { giveBuffer, takeBuffer } = require('../dist/buffer_pool');
const tasks = require('./fixtures/pool_tasks');
const { poolForBlock } = require('./fixtures/pool_helpers');
const { tmpDir } = require('./fixtures/tmp');

/** A connected pair of real Unix sockets, the reading side framed. */
async function socketPair() {
  const file = path.join(tmpDir('mp-frames-'), 's');
  const server = net.createServer();
  await new Promise((resolve) => server.listen(file, resolve));
  const accepted = new Promise((resolve) => server.once('connection', resolve));
  const writer = net.connect(file);
  const reader = await accepted;
  server.close();
  return { writer, framed: new FramedSocket(reader) };
}

function frameOf(payload) {
  const out = Buffer.alloc(HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length, 0);
  payload.copy(out, HEADER_BYTES);
  return out;
}

describe('framing: a frame that spans reads', () => {
  test('large and tiny frames, split anywhere, arrive whole, in order, a large one at the sender\'s alignment', async () => {
    const { writer, framed } = await socketPair();
    try {
      const sizes = [3, 300000, 0, 70000, 1, 1 << 20, 5, 200000];
      const payloads = sizes.map((n, k) => Buffer.alloc(n, k + 1).fill(k + 101, 0, Math.min(n, 2)));
      const got = [];
      const all = new Promise((resolve) => framed.on('frame', (frame) => {
        got.push({ bytes: Buffer.from(frame), offset: frame.byteOffset, length: frame.length });
        if (got.length === payloads.length) resolve();
      }));
      const stream = Buffer.concat(payloads.map(frameOf));
      // Odd cuts, so headers and payloads both straddle writes.
      for (let at = 0, cut = 1; at < stream.length; at += cut, cut = cut * 7 + 13) {
        writer.write(stream.subarray(at, Math.min(stream.length, at + cut)));
      }
      await all;
      expect(got.map((g) => g.length)).toEqual(sizes);
      got.forEach((g, k) => expect(g.bytes.equals(payloads[k])).toBe(true));
      // A frame assembled from several reads sits at offset HEADER_BYTES of its own memory, as in the sender's.
      for (const g of got.filter((x) => x.length >= 200000)) expect(g.offset % 8).toBe(HEADER_BYTES % 8);
    } finally {
      writer.destroy();
      framed.close();
    }
  });
});

describe('buffer pool: only memory taken there is reused', () => {
  test('a buffer given back is handed out again; memory from elsewhere is never kept', () => {
    const taken = takeBuffer(100000);
    expect(taken.byteOffset).toBe(0);
    expect(taken.length).toBe(100000);
    giveBuffer(taken);
    giveBuffer(taken); // twice: kept once
    const again = takeBuffer(90000);
    expect(again.buffer).toBe(taken.buffer);
    const other = takeBuffer(90000);
    expect(other.buffer).not.toBe(taken.buffer);
    const foreign = Buffer.allocUnsafeSlow(128 * 1024);
    giveBuffer(foreign);
    expect(takeBuffer(128 * 1024).buffer).not.toBe(foreign.buffer);
  });
});

describe('Pool: chunks of numbers', () => {
  const getPool = poolForBlock({ processes: 2 });

  test('results that stop being numbers midway (a string, a promise, undefined) keep every result in place', async () => {
    const pool = getPool();
    const input = Array.from({ length: 5000 }, (_, i) => i - 2500);
    const expected = await Promise.all(input.map((x) => tasks.mostlyNumbers(x)));
    expect(await pool.map(tasks.mostlyNumbers, input)).toEqual(expected);
    expect(await pool.map(tasks.mostlyNumbers, input, { chunksize: 1200 })).toEqual(expected);
    const streamed = [];
    for await (const r of pool.imap(tasks.mostlyNumbers, input, { chunksize: 333 })) streamed.push(r);
    expect(streamed).toEqual(expected);
  });

  test('many maps of numbers in flight at once each get their own results (reused memory is never shared)', async () => {
    const pool = getPool();
    const inputs = Array.from({ length: 6 }, (_, m) => Array.from({ length: 40000 }, (_, i) => m * 1e6 + i + 0.5));
    for (let round = 0; round < 2; round++) {
      const results = await Promise.all(inputs.map((input) => pool.map(tasks.square, input)));
      const wrong = results.map((result, m) => result.filter((x, i) => x !== inputs[m][i] * inputs[m][i]).length);
      expect(results.map((r) => r.length)).toEqual(inputs.map((input) => input.length));
      expect(wrong).toEqual(inputs.map(() => 0));
    }
  });

  test('non-finite numbers and -0 travel as they are', async () => {
    const pool = getPool();
    const input = [NaN, Infinity, -Infinity, -0, 0, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53 + 2];
    const out = await pool.map(tasks.identityNumber, input, { chunksize: 8 });
    expect(out).toHaveLength(input.length);
    out.forEach((x, i) => expect(Object.is(x, input[i])).toBe(true));
  });
});

describe('Pool: single tasks of numbers (apply, starmap, imap\'s chunks of one)', () => {
  const getPool = poolForBlock({ processes: 2 });
  const odd = [NaN, Infinity, -Infinity, -0, 0, Number.MAX_VALUE, 2 ** 53 + 2];

  test('apply-arguments-as-numbers: none, one or several numeric arguments arrive as they are; results come back as they are', async () => {
    const pool = getPool();
    expect(await pool.apply(tasks.argumentsOf, [])).toEqual([]);
    for (const x of odd) {
      expect(Object.is(await pool.apply(tasks.identityNumber, [x]), x)).toBe(true);
      const [back] = await pool.apply(tasks.argumentsOf, [x]);
      expect(Object.is(back, x)).toBe(true);
    }
    const many = await pool.apply(tasks.argumentsOf, odd);
    many.forEach((x, i) => expect(Object.is(x, odd[i])).toBe(true));
    expect(await pool.apply(tasks.add, [2, 3])).toBe(5);
    expect(await pool.apply(tasks.numberOrText, [-4])).toBe(tasks.numberOrText(-4)); // a result that is not a number
    expect(await pool.starmap(tasks.add, [[1, 2]])).toEqual([3]);
    const streamed = [];
    for await (const r of pool.imap(tasks.identityNumber, odd)) streamed.push(r);
    streamed.forEach((x, i) => expect(Object.is(x, odd[i])).toBe(true));
  });

  test('pending-apply-calls-stay-small: 20,000 calls waiting at once hold a few bytes each, not a reused 64 KiB buffer', async () => {
    const pool = getPool();
    const before = process.memoryUsage().arrayBuffers;
    const calls = Array.from({ length: 20000 }, (_, i) => pool.apply(tasks.identityNumber, [i]));
    const pending = process.memoryUsage().arrayBuffers - before; // every call's frame is made now
    const results = await Promise.all(calls);
    expect(results.every((x, i) => x === i)).toBe(true);
    expect(pending).toBeLessThan(64 * 1024 * 1024); // 20,000 × 64 KiB would be 1.3 GB
  });
});

describe('Pool: the result array of a map', () => {
  // One worker, so chunks come back in order: the first chunk back decides how the result array is made.
  const getPool = poolForBlock({ processes: 1 });
  const numbers = Array.from({ length: 3000 }, (_, i) => i + 0.5);
  const negatives = Array.from({ length: 3000 }, (_, i) => -1 - i);

  test('numbers first, then chunks that are not numbers: every result in place', async () => {
    const input = [...numbers, ...negatives];
    const out = await getPool().map(tasks.numberOrText, input, { chunksize: 1000 });
    expect(out).toEqual(input.map(tasks.numberOrText));
  });

  test('chunks that are not numbers first, then numbers: every result in place', async () => {
    const input = [...negatives, ...numbers];
    const out = await getPool().map(tasks.numberOrText, input, { chunksize: 1000 });
    expect(out).toEqual(input.map(tasks.numberOrText));
  });

  test('a map of numbers returns a plain array that takes any value afterwards', async () => {
    const out = await getPool().map(tasks.identityNumber, numbers);
    expect(Array.isArray(out)).toBe(true);
    expect(out).toEqual(numbers);
    out.push('more', { also: 'objects' });
    out[0] = null;
    expect(out.length).toBe(numbers.length + 2);
    expect(out[0]).toBeNull();
    expect(out[numbers.length + 1]).toEqual({ also: 'objects' });
  });
});
