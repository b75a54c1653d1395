/**
 * A CPU-bound job over a few thousand items with a live terminal progress bar (cli-progress, a dev dependency of
 * the examples only) fed by the Pool's onProgress, and the throughput at the end.
 *
 *   npm run example:progress            # 3000 tasks
 *   node dist-examples/examples/progress.js 500
 */
import { SingleBar, Presets } from 'cli-progress';
import { cpuCount, Pool } from 'multiproc';
import { countPrimesBelow } from './cpu_tasks';

export async function main(count: number): Promise<{ results: number[]; seconds: number }> {
  const pool = new Pool({ processes: cpuCount() });
  const bar = new SingleBar({ format: ' {bar} {percentage}% | {value}/{total} tasks | {eta}s left' }, Presets.shades_classic);
  const inputs = Array.from({ length: count }, (_, i) => 15000 + (i % 100) * 100);
  const started = performance.now();
  bar.start(count, 0);
  try {
    const results = await pool.map<number>(countPrimesBelow, inputs, {
      chunksize: 8, // small chunks: the bar moves smoothly, and 8 tasks of ~1 ms each still dwarf a round trip
      onProgress: ({ done }) => bar.update(done),
    });
    return { results, seconds: (performance.now() - started) / 1000 };
  } finally {
    bar.stop();
    pool.close();
    await pool.join();
  }
}

if (require.main === module) {
  const count = Number(process.argv[2] ?? 3000);
  main(count).then(({ results, seconds }) => {
    const primes = results.reduce((a, b) => a + b, 0);
    console.log(`${count} tasks in ${seconds.toFixed(2)} s: ${Math.round(count / seconds)} tasks/s ` +
      `on ${cpuCount()} processes (${primes} primes counted)`);
  });
}
