'use strict';
// A child's channel reads into one buffer that every descriptor socket of the thread reuses (lib/framing.ts
// descriptorSocket): a frame must never be a view of it. These tests send frames split anywhere through real socket
// pairs and check that each arrives whole, in order, and unchanged by the reads that came after it.
const net = require('node:net');
const { descriptorSocket, FramedSocket, HEADER_BYTES } = require('../dist/framing');
const { native } = require('../dist/native');

const posix = native.platform === 'posix';

function frameOf(payload) {
  const out = Buffer.alloc(HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length, 0);
  payload.copy(out, HEADER_BYTES);
  return out;
}

/** A socket pair: frames read through descriptorSocket on one end, a plain socket writing on the other. */
function channelPair() {
  const [readFd, writeFd] = native.socketPair(0);
  const reader = descriptorSocket(readFd);
  const writer = new net.Socket({ fd: writeFd, readable: false, writable: true });
  return { reader, writer };
}

/** Collects `count` frames, each kept as it was emitted (not copied), to check later that nothing overwrote it. */
function collect(framed, count) {
  const got = [];
  return new Promise((resolve) => framed.on('frame', (frame) => {
    got.push(frame);
    if (got.length === count) resolve(got);
  }));
}

/** Writes `stream` in cuts of odd lengths, so headers and payloads both straddle reads. */
function writeCut(writer, stream) {
  for (let at = 0, cut = 1; at < stream.length; at += cut, cut = cut * 7 + 13) {
    writer.write(stream.subarray(at, Math.min(stream.length, at + cut)));
  }
}

const payloadsOf = (sizes, seed) => sizes.map((n, k) => Buffer.alloc(n, (seed + k) & 0xff).fill((seed + k + 100) & 0xff, 0, Math.min(n, 2)));

(posix ? describe : describe.skip)('framing over a reused read buffer', () => {
  test('frames split anywhere arrive whole and in order, and later reads do not change them', async () => {
    const { reader, writer } = channelPair();
    const framed = new FramedSocket(reader);
    try {
      const sizes = [3, 300000, 0, 70000, 1, 1 << 20, 0, 5, 200000, 4092, 4093, ...Array(200).fill(17)];
      const payloads = payloadsOf(sizes, 1);
      const all = collect(framed, payloads.length);
      writeCut(writer, Buffer.concat(payloads.map(frameOf)));
      const got = await all;
      expect(got.map((g) => g.length)).toEqual(sizes);
      got.forEach((g, k) => expect(g.equals(payloads[k])).toBe(true));
      // A large frame sits at offset HEADER_BYTES of its own memory, as in the sender's (numbers stay aligned).
      for (const g of got.filter((x) => x.length > 4096)) expect(g.byteOffset % 8).toBe(HEADER_BYTES % 8);
    } finally {
      writer.destroy();
      framed.close();
    }
  });

  test('two channels read in turns into the same buffer keep their frames apart', async () => {
    const a = channelPair();
    const b = channelPair();
    const framedA = new FramedSocket(a.reader);
    const framedB = new FramedSocket(b.reader);
    try {
      const sizes = Array.from({ length: 60 }, (_, k) => (k * 7919) % 150000);
      const payloadsA = payloadsOf(sizes, 3);
      const payloadsB = payloadsOf(sizes, 130);
      const gotA = collect(framedA, sizes.length);
      const gotB = collect(framedB, sizes.length);
      for (let k = 0; k < sizes.length; k++) {
        a.writer.write(frameOf(payloadsA[k]));
        b.writer.write(frameOf(payloadsB[k]));
      }
      const [framesA, framesB] = await Promise.all([gotA, gotB]);
      framesA.forEach((g, k) => expect(g.equals(payloadsA[k])).toBe(true));
      framesB.forEach((g, k) => expect(g.equals(payloadsB[k])).toBe(true));
    } finally {
      for (const { writer } of [a, b]) writer.destroy();
      framedA.close();
      framedB.close();
    }
  });

  test('what was read before the FramedSocket listened is delivered to it, first', async () => {
    const { reader, writer } = channelPair();
    const payloads = payloadsOf([10, 100000, 0, 3], 7);
    const ended = new Promise((resolve) => reader.once('end', resolve));
    writer.end(Buffer.concat(payloads.map(frameOf)));
    await ended; // everything was read (into the shared buffer) with nobody framing it yet
    const framed = new FramedSocket(reader);
    try {
      const got = await collect(framed, payloads.length);
      got.forEach((g, k) => expect(g.equals(payloads[k])).toBe(true));
    } finally {
      framed.close();
    }
  });

  test('a frame above the assembly limit is kept in parts until whole, then arrives intact', async () => {
    const { reader, writer } = channelPair();
    const framed = new FramedSocket(reader);
    try {
      const big = Buffer.alloc((64 << 20) + 3, 9);
      big.fill(1, 0, 1000).fill(2, big.length - 1000);
      const got = collect(framed, 2);
      writeCut(writer, Buffer.concat([frameOf(big), frameOf(Buffer.from('after'))]));
      const [first, second] = await got;
      expect(first.length).toBe(big.length);
      expect(first.equals(big)).toBe(true);
      expect(second.toString()).toBe('after');
    } finally {
      writer.destroy();
      framed.close();
    }
  });
});
