// multiproc's Queue (and plain process.send) on the workloads of bench/queues.bench.js; prints one JSON number.
// `node bench/node/queues.js <workload> <producers> <consumers> <count> <size> [sync]`
'use strict';
const { fork } = require('node:child_process');
const { Event, Process, Queue, Semaphore } = require('../../dist');

async function producer(queue, gate, ready, count, size, sync) {
  const payload = size ? Buffer.alloc(size) : null;
  ready.release();
  await gate.wait();
  for (let i = 0; i < count; i++) {
    if (sync) queue.putSync(size ? payload : i);
    else await queue.put(size ? payload : i);
  }
  await queue.put(null);
}

async function consumer(queue, gate, ready, done, sync) {
  ready.release();
  await gate.wait();
  if (sync) while (queue.getSync() !== null);
  else while ((await queue.get()) !== null);
  await done.put(1);
}

/** Milliseconds from the start signal until every consumer saw its end marker. */
async function run(producers, consumers, count, size, sync) {
  const queue = new Queue();
  const done = new Queue();
  const gate = new Event();
  const ready = new Semaphore(0);
  const procs = [
    ...Array.from({ length: producers }, () => new Process({ target: producer, args: [queue, gate, ready, count / producers, size, sync] })),
    ...Array.from({ length: consumers }, () => new Process({ target: consumer, args: [queue, gate, ready, done, sync] })),
  ];
  for (const p of procs) p.start();
  for (const _ of procs) await ready.acquire();
  const start = performance.now();
  gate.set();
  for (let i = 0; i < consumers; i++) await done.get();
  const elapsed = performance.now() - start;
  await Promise.all(procs.map((p) => p.join()));
  return elapsed;
}

/** Plain Node for context: a forked child sends `count` integers with process.send, awaiting each callback. */
function processSend(count) {
  if (process.send) {
    process.once('message', async () => {
      for (let i = 0; i < count; i++) await new Promise((resolve) => process.send(i, resolve));
      process.send(null);
    });
    return null;
  }
  return new Promise((resolve) => {
    const child = fork(__filename, ['send', '1', '1', String(count), '0'], { stdio: 'inherit' });
    let start = 0;
    child.on('message', (m) => {
      if (m === 'ready') {
        start = performance.now();
        child.send('go');
      } else if (m === null) {
        resolve(performance.now() - start);
        child.disconnect();
      }
    });
  });
}

async function main() {
  const [workload, producers, consumers, count, size] = [process.argv[2], ...process.argv.slice(3, 7).map(Number)];
  if (workload === 'send' && process.send) {
    processSend(count);
    process.send('ready');
    return;
  }
  const ms = workload === 'send' ? await processSend(count) : await run(producers, consumers, count, size, workload.endsWith('-sync'));
  const seconds = ms / 1000;
  console.log(JSON.stringify(size ? (count * size) / seconds / 1e6 : count / seconds));
}

module.exports = { producer, consumer };
if (require.main === module) main();
