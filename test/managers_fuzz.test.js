'use strict';
// Hostile clients: thousands of random, truncated, oversized and malformed frames and half-open connections, before
// and after authentication. The server must close only the offending connections and keep serving everyone else.
const fs = require('node:fs');
const path = require('node:path');
const v8 = require('node:v8');
const { Manager } = require('../dist');
const { authenticate, frame, session } = require('./fixtures/raw_client');
const { tmpDir } = require('./fixtures/tmp');

const MARK = '$multiproc.reduced';

const MAX_FRAME = 1 << 20;
const PRE_AUTH_CONNECTIONS = 1500;
const AUTHENTICATED_CONNECTIONS = 150;
const FRAMES_PER_CONNECTION = 10;
const CONCURRENCY = 50;

let seed = 12345; // deterministic, so a failure can be replayed
function random(n) {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
}
function randomBytes(n) {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = random(256);
  return out;
}

// Forged function-reference markers, in the old object form and in the array form the library uses: the server must
// keep them as data and never load or call what they name (fs.writeFileSync of this canary).
const canary = path.join(tmpDir('mp-fuzz-'), 'canary');
const WRITE = { kind: 'require', specifier: 'node:fs', exportName: 'writeFileSync', label: 'writeFileSync' };
function forgedMarker() {
  const mark = random(2) ? [WRITE, [canary, 'the server ran code a client named']] : ['multiproc.function', [WRITE]];
  return random(2) ? { [MARK]: mark } : Object.assign([], { [MARK]: mark });
}

const PRE_AUTH = [
  (s) => s.end(randomBytes(1 + random(2000))), // random bytes
  (s) => s.end(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])), // a 4 GiB frame announced
  (s) => s.end(Buffer.concat([Buffer.from([0, 0, 0, 100]), randomBytes(10)])), // truncated
  (s) => s.end(frame(randomBytes(32))), // a wrong digest
  () => undefined, // half-open: says nothing, keeps the connection (the handshake deadline ends it)
];

function junkValue(depth = 0) {
  switch (random(depth > 2 ? 5 : 10)) {
    case 0: return random(1 << 30) - (1 << 29);
    case 1: return randomBytes(random(20)).toString('latin1');
    case 2: return null;
    case 3: return ['__proto__', 'constructor', 'abandon', 'releaseAll', 'acquire', 'get', 'put', 'toString'][random(8)];
    case 4: return random(2) === 0;
    case 5: return Array.from({ length: random(5) }, () => junkValue(depth + 1));
    case 6: return { [junkValue(3)]: junkValue(depth + 1), $multiproc_reduced: junkValue(depth + 1) };
    case 7: return { [MARK]: ['multiproc.proxy', [{ typeid: 'Lock', id: random(50), address: junkValue(3), exposed: [] }, null]] };
    case 8: return forgedMarker();
    default: return new Map([[junkValue(3), junkValue(depth + 1)]]);
  }
}

/** A frame that deserializes (or not) into a request of a random, mostly wrong, shape. */
function junkRequest() {
  switch (random(10)) {
    case 0: return frame(randomBytes(random(300)));
    case 1: return frame(v8.serialize(junkValue()));
    case 2: return frame(v8.serialize([2, random(1000), random(50), junkValue(3), [junkValue(1)]])); // calls
    case 3: return frame(v8.serialize([1, random(1000), ['Nope', 'Lock', 'Semaphore', 'dict', 'Barrier', '__proto__'][random(6)], [junkValue(1)]]));
    case 4: return frame(v8.serialize([random(11), random(1000), random(50)])); // decref/lend/adopt/cancel/held/… ops
    case 7: return frame(v8.serialize([10, random(50), randomBytes(random(2) ? 64 : random(300))])); // kernel queue puts
    case 5: return Buffer.concat([Buffer.from([0, 0x20, 0, 0]), randomBytes(100)]); // 2 MiB announced: too large
    case 6: return v8.serialize([7, 1]).subarray(0, 3); // truncated
    case 8: return frame(v8.serialize([1, random(1000), ['dict', 'list', 'Namespace', 'Value'][random(4)], [forgedMarker()]]));
    default: return frame(v8.serialize([2, random(1000), random(50), 'get', junkValue()]));
  }
}

async function inBatches(count, run) {
  for (let done = 0; done < count; done += CONCURRENCY) {
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, count - done) }, (_, i) => run(done + i)));
  }
}

test('the server survives hostile frames and connections, and keeps serving a well-behaved client', async () => {
  const manager = new Manager({ maxFrameBytes: MAX_FRAME, handshakeTimeout: 300 });
  await manager.start();
  try {
    const authkey = require('../dist').currentProcess().authkey;
    const keep = await manager.dict({ survives: true });
    const before = await manager.debugInfo();

    await inBatches(PRE_AUTH_CONNECTIONS, (i) => session(manager.address, async (socket) => PRE_AUTH[i % PRE_AUTH.length](socket)));

    let sent = 0;
    await inBatches(AUTHENTICATED_CONNECTIONS, () => session(manager.address, async (socket, next) => {
      await authenticate(socket, next, authkey);
      for (let i = 0; i < FRAMES_PER_CONNECTION && !socket.destroyed; i++) {
        socket.write(junkRequest());
        sent++;
      }
      socket.end();
    }));
    expect(sent).toBeGreaterThan(AUTHENTICATED_CONNECTIONS * FRAMES_PER_CONNECTION / 2);

    // The well-behaved client: its connection and objects are intact, new work gets done.
    expect(await keep.get('survives')).toBe(true);
    const queue = await manager.Queue();
    await queue.put('ok');
    expect(await queue.get()).toBe('ok');
    const after = await manager.debugInfo();
    expect(after.connections).toBe(1);
    expect(after.rss - before.rss).toBeLessThan(128 * 1024 * 1024);
    expect(fs.existsSync(canary)).toBe(false);
  } finally {
    await manager.shutdown();
  }
});
