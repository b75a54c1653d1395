'use strict';
// Nothing reads memory it does not own. A queue frame's out-of-band parts carry offsets and lengths written by the
// peer: a frame that lies about them is an UnpicklingError for that item, never a view of other memory, and a
// Buffer received never exposes memory of the reader beyond its own frame (Node's shared Buffer pool). Then the
// frame decoder is fuzzed: random and mutated valid frames, hundreds of thousands of them, decoded directly, and a
// few thousand through a real Queue (this file also runs under AddressSanitizer: npm run test:asan).
const childProcess = require('node:child_process');
const crypto = require('node:crypto');
const v8 = require('node:v8');
const mp = require('../dist');
const { native } = require('../dist/native');
const { decodePayload, decodeSmallFrame, encodeFrame, frameBytes, FRAME_HEAD_BYTES, FRAME_HEADER_BYTES } = require('../dist/pipe');
const { connectRaw, frame: socketFrame } = require('./fixtures/raw_client');

const V8_HEADER = v8.serialize(null).subarray(0, 2); // version tag and version
const HOST_OBJECT = 0x5c; // v8's tag for an object the embedder (our FrameSerializer) writes itself
const BUFFER_KIND = 1; // out of band, as a Buffer (pipe.ts VIEW_TYPES[0])

function varint(n) {
  const out = [];
  do {
    out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return out;
}

/** A small frame whose only value is an out-of-band view that lies: its bytes are not in the frame. */
function lyingFrame(kind, offset, byteLength) {
  const v8part = Buffer.from([...V8_HEADER, HOST_OBJECT, ...varint(kind), ...varint(offset), ...varint(byteLength)]);
  const head = Buffer.alloc(FRAME_HEAD_BYTES);
  head.writeUInt32BE(v8part.length, 0);
  head.writeUInt32BE(v8part.length, 4);
  v8part.copy(head, FRAME_HEADER_BYTES);
  return head;
}

const unpickling = expect.objectContaining({ name: 'UnpicklingError', code: 'ERR_MP_UNPICKLING' });

describe('lying-frame: out-of-band offsets and lengths are checked against the frame', () => {
  test('a Queue item whose view points past its frame is an UnpicklingError; the items around it arrive', async () => {
    const queue = new mp.Queue();
    try {
      await queue.put('before');
      for (const [kind, offset, length] of [[BUFFER_KIND, 0, 2000], [BUFFER_KIND, 4096, 8], [6, 0, 16], [99, 0, 8], [0xffffffff, 0, 1]]) {
        await queue._putFrame(lyingFrame(kind, offset, length));
      }
      await queue.put('after');
      expect(await queue.get()).toBe('before');
      for (let i = 0; i < 5; i++) await expect(queue.get()).rejects.toEqual(unpickling);
      expect(await queue.get()).toBe('after');
    } finally {
      queue.close();
    }
  });

  // Kernel queues (a manager on a Unix socket, where semaphore values can be read): the reader decodes the frame.
  const kernelQueues = native.platform === 'posix' && native.features.semGetValue;
  (kernelQueues ? test : test.skip)('a crafted PutFrame from an authenticated Manager client is an UnpicklingError for the reader', async () => {
    const manager = new mp.Manager();
    await manager.start();
    const raw = await connectRaw(manager.address, mp.currentProcess().authkey);
    try {
      const queue = await manager.Queue();
      await queue.put('warm'); // opens the kernel queue here
      expect(await queue.get()).toBe('warm');
      raw.socket.write(socketFrame(v8.serialize([10, queue.token.id, lyingFrame(BUFFER_KIND, 0, 2000)])));
      await expect(queue.get({ timeout: 10000 })).rejects.toEqual(unpickling);
      await queue.put('after');
      expect(await queue.get({ timeout: 10000 })).toBe('after');
    } finally {
      await raw.close();
      await manager.shutdown();
    }
  });
});

describe('pool-aliasing: a received Buffer holds only its own bytes, never the reader\'s Buffer pool', () => {
  const owns = (view) => expect(view.buffer.byteLength).toBe(view.byteLength);

  test('small Buffers and typed arrays from a Queue', async () => {
    const queue = new mp.Queue();
    try {
      const secret = Buffer.from('the reader\'s own secret'.repeat(20)); // a pooled Buffer of this process
      await queue.put({ b: Buffer.from('hi'), f: new Float64Array([1, 2]), d: new DataView(new ArrayBuffer(3)) });
      const got = await queue.get();
      owns(got.b);
      owns(got.f);
      owns(got.d);
      expect(got.b.toString()).toBe('hi');
      expect(Buffer.from(got.b.buffer).includes(secret.subarray(0, 16))).toBe(false);
      queue.putSync(Buffer.from([1, 2, 3]));
      owns(queue.getSync());
    } finally {
      queue.close();
    }
  });

  test('a large out-of-band Buffer is a view of its own frame only', async () => {
    const queue = new mp.Queue();
    try {
      const data = crypto.randomBytes(100000);
      await queue.put(data);
      const got = await queue.get();
      expect(got.equals(data)).toBe(true);
      expect(got.buffer.byteLength).toBeLessThan(data.length + 4096);
    } finally {
      queue.close();
    }
    // ... and made without Node's deprecated Buffer constructor (a warning jest cannot see: checked in a child).
    const script = `const { Queue } = require(${JSON.stringify(require.resolve('../dist'))});
      const q = new Queue(); q.putSync(Buffer.alloc(100000, 1)); if (q.getSync().length !== 100000) process.exit(2); q.close();`;
    const run = childProcess.spawnSync(process.execPath, ['--throw-deprecation', '-e', script], { encoding: 'utf8', timeout: 30000 });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  test('a Buffer from a Manager reply', async () => {
    const manager = new mp.Manager({ kernelObjects: false });
    await manager.start();
    try {
      const dict = await manager.dict();
      await dict.set('b', Buffer.from('hi'));
      owns(await dict.get('b'));
      const queue = await manager.Queue();
      await queue.put(new Uint16Array([7]));
      owns(await queue.get());
    } finally {
      await manager.shutdown();
    }
  });
});

// --- the fuzzer ---------------------------------------------------------------------------------------------------

let seed = 20240601; // deterministic, so a failure can be replayed
function random(n) {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
}

/** A value of the kinds frames carry, small views in band and (rarely) large ones out of band. */
function randomValue(depth = 0) {
  switch (random(depth > 2 ? 6 : 13)) {
    case 0: return random(1 << 30) - (1 << 29);
    case 1: return 'é✓'.repeat(random(3)) + 'x'.repeat(random(40));
    case 2: return [null, undefined, true, false, NaN, -0, 10n ** 20n][random(7)];
    case 3: return Buffer.from(crypto.randomBytes(random(100)));
    case 4: return [Float64Array, Int16Array, Uint8Array, BigInt64Array][random(4)].from({ length: random(8) }, (_, i) => (random(2) ? i : 0));
    case 5: return new Date(random(1e9));
    case 6: return Array.from({ length: random(4) }, () => randomValue(depth + 1));
    case 7: return { a: randomValue(depth + 1), [`k${random(9)}`]: randomValue(depth + 1) };
    case 8: return new Map([[randomValue(3), randomValue(depth + 1)]]);
    case 9: return new Set([randomValue(depth + 1)]);
    case 10: return new DataView(new ArrayBuffer(random(16)));
    case 11: return random(8) === 0 ? crypto.randomBytes(64 << 10) : 'small';
    default: return random(4) === 0 ? new Float64Array(8192 + random(8)) : 1.5;
  }
}

/** A frame's bytes changed the way a corrupt or lying peer would. */
function mutate(bytes) {
  const out = Buffer.from(bytes);
  switch (random(6)) {
    case 0: // a few bytes anywhere past the length field
      for (let n = 1 + random(4); n > 0; n--) out[4 + random(out.length - 4)] = random(256);
      return out;
    case 1: // the v8 part's length
      out.writeUInt32BE([0, 1, random(out.length), out.length, 0xfffffffe, random(0x100000000)][random(6)], 4);
      return out;
    case 2: { // a run of bytes in the v8 part, where the out-of-band table lives
      const inBand = Math.min(out.readUInt32BE(4), out.length - FRAME_HEADER_BYTES);
      for (let n = 1 + random(6); n > 0 && inBand > 0; n--) out[FRAME_HEADER_BYTES + random(inBand)] = [0, 0x7f, 0xff, random(256)][random(4)];
      return out;
    }
    case 3: // truncated
      return out.subarray(0, FRAME_HEADER_BYTES + random(out.length - FRAME_HEADER_BYTES));
    case 4: // extended with junk
      return Buffer.concat([out, crypto.randomBytes(random(64))]);
    default: // nothing valid at all
      return Buffer.concat([out.subarray(0, FRAME_HEADER_BYTES), crypto.randomBytes(random(200))]);
  }
}

/** Decodes as a reader would: the small path straight from a reused head, else a payload buffer of its own. */
function decode(bytes, head) {
  const declared = bytes.readUInt32BE(0);
  if (bytes.length === FRAME_HEAD_BYTES && declared <= FRAME_HEAD_BYTES - FRAME_HEADER_BYTES) {
    bytes.copy(head);
    return decodeSmallFrame(head);
  }
  const payload = Buffer.allocUnsafe(bytes.length - FRAME_HEADER_BYTES); // pooled when small, as a reader's is
  bytes.copy(payload, 0, FRAME_HEADER_BYTES);
  return decodePayload(payload, bytes.readUInt32BE(4));
}

/**
 * Every view in a decoded value owns its memory, or is a view of its own frame: memory no larger than the frame's
 * payload (`frameBytes`), never a buffer shared with anything else of the reader.
 */
function checkViews(value, frameBytes, seen = new Set()) {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (ArrayBuffer.isView(value)) {
    if (value.buffer.byteLength !== value.byteLength && value.buffer.byteLength > frameBytes) {
      throw new Error(`a view of ${value.byteLength} bytes over ${value.buffer.byteLength} bytes, in a frame of ${frameBytes}`);
    }
    return;
  }
  const children = value instanceof Map ? [...value.keys(), ...value.values()] : value instanceof Set ? [...value] : Object.values(value);
  for (const child of children) checkViews(child, frameBytes, seen);
}

test('frame-decoder fuzz: 250,000 random and mutated frames decode or fail with UnpicklingError, never beyond their bytes', () => {
  const head = Buffer.alloc(FRAME_HEAD_BYTES);
  const valid = Array.from({ length: 400 }, () => Buffer.from(frameBytes(encodeFrame(randomValue()))));
  const outcomes = { decoded: 0, refused: 0 };
  for (let i = 0; i < 250000; i++) {
    const original = valid[random(valid.length)];
    const bytes = i % 50 === 0 ? original : mutate(original);
    let value;
    try {
      value = decode(bytes, head);
    } catch (err) {
      if (!(err instanceof mp.UnpicklingError)) throw new Error(`case ${i}: ${err.name}: ${err.message}`);
      outcomes.refused++;
      continue;
    }
    checkViews(value, bytes.length - FRAME_HEADER_BYTES);
    outcomes.decoded++;
  }
  expect(outcomes.decoded).toBeGreaterThan(5000);
  expect(outcomes.refused).toBeGreaterThan(5000);
});

test('frame-decoder fuzz through a real Queue: every mutated frame is an item or an UnpicklingError, and the queue goes on', async () => {
  const queue = new mp.Queue();
  try {
    for (let i = 0; i < 3000; i++) {
      const bytes = mutate(frameBytes(encodeFrame(randomValue(1))));
      // The reader trusts a frame's total length (its peer is of its own tree): keep it true, lie about the rest.
      const length = Math.max(bytes.length, FRAME_HEAD_BYTES);
      const whole = Buffer.alloc(length);
      bytes.copy(whole);
      whole.writeUInt32BE(length - FRAME_HEADER_BYTES, 0);
      await queue._putFrame(whole);
      try {
        checkViews(await queue.get(), length - FRAME_HEADER_BYTES);
      } catch (err) {
        if (!(err instanceof mp.UnpicklingError)) throw new Error(`case ${i}: ${err.name}: ${err.message}`);
      }
    }
    await queue.put('still working');
    expect(await queue.get()).toBe('still working');
  } finally {
    queue.close();
  }
});
