/** A CPU-bound task for examples/progress.ts: exported, because pool workers find task functions by reference. */

/** How many primes are below `n` (trial division: about a millisecond of CPU for n = 20,000). */
export function countPrimesBelow(n: number): number {
  let count = 0;
  for (let candidate = 2; candidate < n; candidate++) {
    let prime = true;
    for (let d = 2; d * d <= candidate; d++) {
      if (candidate % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}
