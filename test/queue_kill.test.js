'use strict';
// Queues survive a SIGKILL at any instruction (issue #16 §2): producers and consumers SIGKILLed at random moments —
// inside put, inside get, between the head and the body of a large frame — never wedge the queue, never deliver a
// torn item or an item twice; only what the dead process itself held may be lost.
//
// Kill-safe queues need kill-safe locks (Linux: kill_safe_queue.ts); elsewhere (the macOS emulation,
// Windows) a queue is the pipe queue, which a death mid-frame still breaks (docs/kill-safety.md), and these tests
// are skipped. On the pipe queue every one of them hangs to its bound: a consumer killed mid-frame keeps the read lock
// (and the rest of its frame) for good, a producer killed mid-frame the write lock.
const fs = require('node:fs');
const path = require('node:path');
const { JoinableQueue, Process, Queue } = require('../dist');
const t = require('./fixtures/queue_kill_targets');
const { tmpDir } = require('./fixtures/tmp');

/** How long the storm lasts (kills stop then, and everything is drained). */
const STORM_MS = Number(process.env.MULTIPROC_QUEUE_STORM_MS || 12000);
/** A process that does not exit (or drain) within this long after the storm is hung. */
const HANG_MS = 20000;

const randomBetween = (lo, hi) => lo + Math.random() * (hi - lo);
/** Random moments between kills: what the test varies, never what it waits for. */
const pause = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

async function started(target, args) {
  const p = new Process({ target, args });
  await p.start();
  return p;
}

/** Joins `p` for at most HANG_MS; a process still running then is SIGKILLed and reported as hung. */
async function joinOrHang(p) {
  await p.join(HANG_MS);
  if (p.exitCode !== null) return false;
  p.kill();
  await p.join();
  return true;
}

/**
 * Runs 4 producers and 2 consumers on `queue` for STORM_MS, SIGKILLing one of them at random moments and starting a
 * replacement; then stops them, drains the queue in a fresh process and returns what everyone reported.
 */
async function storm(queue) {
  const dir = tmpDir('mp-qkill-');
  const stop = path.join(dir, 'stop');
  let serial = 0;
  const killedTags = new Set();
  let consumerKills = 0;
  const spawn = (kind) => {
    const tag = `${kind}${serial++}`;
    const startedFile = path.join(dir, `${tag}.started`);
    const args = kind === 'p'
      ? [queue, tag, stop, path.join(dir, `${tag}.done`), startedFile]
      : [queue, path.join(dir, `${tag}.log`), stop, startedFile];
    return { tag, kind, startedFile, proc: started(kind === 'p' ? t.produce : t.consume, args) };
  };
  const crew = [...['p', 'p', 'p', 'p', 'c', 'c'].map(spawn)];
  const end = Date.now() + STORM_MS;
  while (Date.now() < end) {
    await pause(randomBetween(20, 250));
    const working = crew.filter((m) => fs.existsSync(m.startedFile));
    if (working.length === 0) continue;
    const victim = working[Math.floor(Math.random() * working.length)];
    const proc = await victim.proc;
    proc.kill();
    await proc.join();
    killedTags.add(victim.tag);
    if (victim.kind === 'c') consumerKills++;
    crew[crew.indexOf(victim)] = spawn(victim.kind);
  }
  // A second without kills: the last crew, however late it started, puts and gets items the test can count on.
  await pause(1000);
  fs.writeFileSync(stop, '');
  const procs = await Promise.all(crew.map((m) => m.proc));
  const hung = [];
  const joined = await Promise.all(procs.map(joinOrHang));
  hung.push(...crew.filter((m, i) => joined[i]).map((m) => m.tag));
  const drainer = spawn('c');
  if (await joinOrHang(await drainer.proc)) hung.push(`drainer ${drainer.tag}`);
  return { dir, killedTags, consumerKills, hung };
}

/** What the consumers' logs and the surviving producers' reports say. */
function tally(dir) {
  const files = fs.readdirSync(dir);
  const required = new Set();
  for (const f of files.filter((name) => name.endsWith('.done'))) {
    for (const id of JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'))) required.add(id);
  }
  const seen = new Map();
  const bad = [];
  for (const f of files.filter((name) => name.endsWith('.log'))) {
    for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      if (!line) continue;
      if (!line.startsWith('ok ')) {
        bad.push(`${f}: ${line}`);
        continue;
      }
      const id = line.slice(3);
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
  }
  const duplicates = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
  const missing = [...required].filter((id) => !seen.has(id));
  return { required: required.size, received: seen.size, bad, duplicates, missing };
}

const killSafe = require('../dist/queues').killSafeQueues ? describe : describe.skip;

killSafe('a queue whose producers and consumers are SIGKILLed at random', () => {
  test.each([0, 8])('maxsize %i: every item whose put resolved in a live producer comes once and intact, nobody hangs',
    async (maxsize) => {
      const queue = new Queue(maxsize);
      const { dir, killedTags, consumerKills, hung } = await storm(queue);
      const report = tally(dir);
      expect({ hung, bad: report.bad.slice(0, 5), duplicates: report.duplicates.slice(0, 5) })
        .toEqual({ hung: [], bad: [], duplicates: [] });
      // A consumer killed after it took an item out loses that item, and only that one.
      expect(report.missing.length).toBeLessThanOrEqual(consumerKills);
      expect(killedTags.size).toBeGreaterThanOrEqual(10);
      expect(report.required).toBeGreaterThan(20);
      if (maxsize > 0) {
        // Every slot came back: no producer or consumer that died holding one kept it.
        for (let i = 0; i < maxsize; i++) queue.putSync(i, { block: false });
        expect(queue.full()).toBe(true);
      }
      queue.close();
    }, STORM_MS + 3 * HANG_MS);

  test('a consumer SIGKILLed between the head and the body of a large frame: the next get gets the next item whole',
  async () => {
    const queue = new Queue();
    const dir = tmpDir('mp-qkill-');
    const file = (name) => path.join(dir, name);
    // The producer's 16 MiB item goes in part by part; it is stopped while the pipe holds its head and part of its
    // body, and a consumer that claimed it and read what there was is killed.
    const producer = await started(t.putSized, [queue, 'A', 16 << 20, file('A.done'), 1, file('A.putting')]);
    while (!fs.existsSync(file('A.putting'))) await pause(5);
    process.kill(producer.pid, 'SIGSTOP');
    const reader = await started(t.getAndStay, [queue, file('reader.getting')]);
    while (!fs.existsSync(file('reader.getting'))) await pause(5);
    reader.kill();
    await reader.join();
    process.kill(producer.pid, 'SIGCONT');
    const next = await started(t.putSized, [queue, 'B', 1000, file('B.done')]);
    const drainer = await started(t.consume, [queue, file('drain.log'), file('stop'), file('drain.started'), 2000]);
    expect(await joinOrHang(next)).toBe(false);
    fs.writeFileSync(file('stop'), '');
    expect(await joinOrHang(drainer)).toBe(false);
    expect(await joinOrHang(producer)).toBe(false);
    expect(fs.readFileSync(file('drain.log'), 'utf8')).toBe('ok B\n');
    queue.close();
  }, 4 * HANG_MS);
});

killSafe('a reader or writer SIGKILLed at the one instruction where its item is counted wrong', () => {
  const marked = async (file) => {
    while (!fs.existsSync(file)) await pause(5);
  };

  test('reader-killed-after-take: a consumer killed after it took the last item of a full Queue(1), before it counted it, leaves room', async () => {
    const queue = new Queue(1);
    queue.putSync('taken');
    const mark = path.join(tmpDir('mp-qkill-'), 'took');
    const reader = await started(t.takeRecordAndStay, [queue, mark]);
    await marked(mark);
    reader.kill();
    await reader.join();
    expect(queue.full()).toBe(true); // the count still holds the item the dead reader took
    await queue.put('next', { timeout: 10000 }); // without the repair: Full, after waiting the whole timeout
    expect(queue.getSync({ timeout: 10000 })).toBe('next');
    expect([queue.qsize(), queue.empty()]).toEqual([0, true]);
    queue.close();
  }, 60000);

  test('writer-killed-after-begin: a producer killed after it counted an item, before it wrote any of it, leaves no phantom item', async () => {
    const queue = new JoinableQueue(1);
    const mark = path.join(tmpDir('mp-qkill-'), 'began');
    const writer = await started(t.beginItemAndStay, [queue, mark]);
    await marked(mark);
    writer.kill();
    await writer.join();
    expect(queue.qsize()).toBe(1);
    await queue.join(); // nobody will take the phantom: join() finds it out
    await queue.put('next', { timeout: 10000 });
    expect(queue.getSync({ timeout: 10000 })).toBe('next');
    queue.taskDone();
    await queue.join();
    expect(queue.qsize()).toBe(0);
    queue.close();
  }, 60000);
});

test('a producer SIGKILLed while it waits for room in a full queue does not keep the write lock from the others',
  async () => {
    const queue = new Queue();
    const dir = tmpDir('mp-qkill-');
    let put = 0;
    for (;;) {
      try {
        queue.putNowait(put);
      } catch (err) {
        expect(err.name).toBe('Full');
        break;
      }
      put++;
    }
    const putting = path.join(dir, 'putting');
    const doomed = await started(t.putAndStay, [queue, 'doomed', putting]);
    while (!fs.existsSync(putting)) await pause(5);
    doomed.kill();
    await doomed.join();
    // Room for a few pages of the pipe, then another put: it must not wait for the dead producer's write lock.
    const room = Math.min(put, 1000);
    for (let i = 0; i < room; i++) expect(queue.getSync({ timeout: 5000 })).toBe(i);
    await queue.put('after', { timeout: 5000 });
    const rest = [];
    for (let i = room; i <= put; i++) rest.push(queue.getSync({ timeout: 5000 }));
    expect(rest.at(-1)).toBe('after'); // and nothing of the dead producer's item came
    expect(rest.slice(0, -1)).toEqual(Array.from({ length: put - room }, (_, i) => room + i));
    expect(queue.empty()).toBe(true);
    queue.close();
  }, 60000);
