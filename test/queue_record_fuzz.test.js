'use strict';
// Hostile records: a process that holds a kill-safe queue (lib/kill_safe_queue.ts) writes what it likes into its
// pipe (whole 64-byte records, so that every read stays aligned) and its body socket, and lies in its shared counts.
// Every get ends with an item, Empty or an UnpicklingError — never a crash, a hang, or another type of error — and
// once the hostile writes stop and what they left is read, the queue works as before. (Body messages a hostile
// writer left can still garble the next large item: whoever can write into a queue can garble its items.)
const crypto = require('node:crypto');
const { Queue } = require('../dist');
const { native } = require('../dist/native');

const FUZZ_MS = 3000;
const WRITTEN = 0; // the shared page's words (kill_safe_queue.ts)
const READ = 2;
const KINDS = [0, 1, 2, 3, 5, 7, 8];

/** 64 random bytes, often shaped like a record of the items around `near`: plausible sequence number, kind, length. */
function hostileRecord(near) {
  const record = crypto.randomBytes(64);
  if (Math.random() < 0.6) record.writeInt32LE((near + Math.floor(Math.random() * 6) - 2) | 0, 0);
  if (Math.random() < 0.7) record[4] = KINDS[Math.floor(Math.random() * KINDS.length)];
  if (Math.random() < 0.5) record.writeUInt32BE(Math.floor(Math.random() * 5000), 8);
  return record;
}

/** A body message: a plausible header, random bytes. */
function hostileBody(near) {
  const body = crypto.randomBytes(8 + Math.floor(Math.random() * 3000));
  body.writeInt32LE((near + Math.floor(Math.random() * 4) - 1) | 0, 0);
  body[4] = Math.random() < 0.5 ? 2 : 0;
  return body;
}

const killSafe = require('../dist/queues').killSafeQueues ? describe : describe.skip;

killSafe('hostile records in a kill-safe queue', () => {
  test('random records, body messages and counts: every get is an item, Empty or an UnpicklingError, and the queue goes on', () => {
    const queue = new Queue();
    const { parts } = queue._killSafe();
    const ints = parts.words.sem.ints;
    const pipeWrite = parts.channel.fds[1];
    const bodyWrite = parts.channel.fds[3];
    const outcomes = new Map();
    const note = (outcome) => outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    const end = Date.now() + FUZZ_MS;
    // About 80 rounds in FUZZ_MS, and an UnpicklingError in 1 to 5 of them: the fuzz goes on (up to 10× longer)
    // until it has made the decoding fail at least once, instead of failing the check below one run in twenty.
    const last = Date.now() + 10 * FUZZ_MS;
    const fuzzing = () => Date.now() < end || (!outcomes.has('UnpicklingError') && Date.now() < last);
    for (let round = 0; fuzzing(); round++) {
      queue.putSync({ round });
      const near = Atomics.load(ints, READ) + 1;
      for (let i = 0; i < 4; i++) {
        native.write(pipeWrite, hostileRecord(near), 0, 64);
        if (Math.random() < 0.3) native.writev(bodyWrite, [hostileBody(near)], 0);
        if (Math.random() < 0.1) Atomics.add(ints, WRITTEN, 1); // a count with no item
      }
      for (let i = 0; i < 8; i++) {
        try {
          queue.getSync({ timeout: 5 });
          note('item');
        } catch (err) {
          note(err.name);
        }
      }
    }
    expect([...outcomes.keys()].filter((outcome) => !['item', 'Empty', 'UnpicklingError'].includes(outcome))).toEqual([]);
    expect(outcomes.get('UnpicklingError')).toBeGreaterThan(0);
    for (;;) { // what the hostile writes left
      try {
        queue.getSync({ timeout: 50 });
      } catch (err) {
        if (err.name === 'Empty') break;
        expect(err.name).toBe('UnpicklingError');
      }
    }
    for (let i = 0; i < 100; i++) queue.putSync({ after: i });
    for (let i = 0; i < 100; i++) expect(queue.getSync({ timeout: 5000 })).toEqual({ after: i });
    queue.close();
  }, 60000);
});
