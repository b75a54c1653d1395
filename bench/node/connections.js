// multiproc's Pipe on the workloads of bench/connections.bench.js; prints one JSON number.
// `node bench/node/connections.js <round-trip|round-trip-sync|throughput|throughput-sync> <count> [size]`
'use strict';
const { Pipe, Process } = require('../../dist');

async function echo(conn, sync) {
  for (;;) {
    const value = sync ? conn.recvSync() : await conn.recv();
    if (value === null) return;
    if (sync) conn.sendSync(value);
    else await conn.send(value);
  }
}

async function sink(conn, count, size, sync) {
  const payload = Buffer.alloc(size);
  await conn.send('ready');
  await conn.recv();
  for (let i = 0; i < count; i++) {
    if (sync) conn.sendBytesSync(payload);
    else await conn.sendBytes(payload);
  }
  await conn.sendBytes(Buffer.alloc(0));
}

/** Round trips per second: an integer to a child that sends it back. */
async function roundTrips(count, sync) {
  const [here, there] = Pipe();
  const p = new Process({ target: echo, args: [there, sync] });
  await p.start();
  there.close();
  await here.send(0);
  await here.recv();
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    if (sync) {
      here.sendSync(i);
      here.recvSync();
    } else {
      await here.send(i);
      await here.recv();
    }
  }
  const elapsed = performance.now() - start;
  await here.send(null);
  await p.join();
  return count / (elapsed / 1000);
}

/** MB/s of sendBytes from a child into this process. */
async function throughput(count, size, sync) {
  const [here, there] = Pipe();
  const p = new Process({ target: sink, args: [there, count, size, sync] });
  await p.start();
  there.close();
  await here.recv();
  const start = performance.now();
  await here.send('go');
  if (sync) while (here.recvBytesSync().length);
  else while ((await here.recvBytes()).length);
  const elapsed = performance.now() - start;
  await p.join();
  return (count * size) / (elapsed / 1000) / 1e6;
}

async function main() {
  const [workload, ...args] = [process.argv[2], ...process.argv.slice(3).map(Number)];
  const sync = workload.endsWith('-sync');
  const result = workload.startsWith('round-trip') ? await roundTrips(args[0], sync) : await throughput(args[0], args[1], sync);
  console.log(JSON.stringify(result));
}

module.exports = { echo, sink };
if (require.main === module) main();
