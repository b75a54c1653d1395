/**
 * `npm start`: the original question answered with real processes. `npm start -- 3` runs only scenario 3.
 * Why can a Lock be given to a Process but not to a Pool task, and when is a Manager needed?
 */
import * as scenarios from './scenarios';

interface Scenario {
  title: string;
  what: string;
  run: () => Promise<number[]>;
  /** Why it worked, or why it failed: the inheritance rule vs a proxy. */
  verdict: { ok: string; failed: string };
}

const list: Scenario[] = [
  {
    title: 'Pool, Lock and Queue in the task arguments',
    what: 'pool.starmap(printBlock, [[i, lock, queue], ...]) sends a kernel Lock inside a message to running workers.',
    run: scenarios.poolWithLockInArgs,
    verdict: {
      ok: 'unexpected: a Lock inside a task message should have been refused',
      failed: 'a Lock is a kernel handle that reaches a process only while it is spawned; workers are already running',
    },
  },
  {
    title: 'Pool with a Manager Lock and Queue',
    what: 'the same starmap, but the Lock and the Queue live in a Manager server and the tasks carry proxies.',
    run: scenarios.poolWithManagerObjects,
    verdict: {
      ok: 'a proxy is only an address and a token: it travels in any message; on this host it opens the lock and queue itself',
      failed: 'unexpected: proxies should travel anywhere',
    },
  },
  {
    title: 'Ten Processes (three alive at a time) with a Lock and a Queue',
    what: 'each Process gets the Lock and the Queue as arguments when it is started.',
    run: scenarios.processesWithLock,
    verdict: {
      ok: 'inheritance: the Lock and the Queue are handed over while each child is being spawned',
      failed: 'unexpected: spawning is exactly when kernel objects may travel',
    },
  },
  {
    title: 'Ten Processes with a Manager Lock and Queue',
    what: 'the same Processes, given Manager proxies instead of kernel objects.',
    run: scenarios.processesWithManagerObjects,
    verdict: {
      ok: 'proxies work everywhere, including as Process arguments (but here inheritance would have been cheaper)',
      failed: 'unexpected: proxies should travel anywhere',
    },
  },
  {
    title: 'The fix: Lock and Queue through initializer/initargs',
    what: 'new Pool({ initializer: initWorker, initargs: [lock, queue] }); the tasks carry only their index.',
    run: scenarios.poolWithInitargs,
    verdict: {
      ok: 'initargs travel while each worker is spawned, so the kernel objects are inherited, once per worker',
      failed: 'unexpected: initargs are inherited',
    },
  },
  {
    title: 'The fix as the answer wrote it: Lock through initargs, Queue still in the task arguments',
    what: 'initargs: [lock], but pool.starmap(printBlockWithQueueArg, [[i, queue], ...]).',
    run: scenarios.poolWithInitargsQueueInArgs,
    verdict: {
      ok: 'unexpected: a Queue inside a task message should have been refused',
      failed: 'a Queue is kernel objects too (a pipe and semaphores): the same rule applies to it as to the Lock',
    },
  },
];

async function main(): Promise<void> {
  const only = process.argv[2] === undefined ? undefined : Number(process.argv[2]);
  if (only !== undefined && !(only >= 1 && only <= list.length)) {
    console.error(`usage: npm start [-- N]   (N from 1 to ${list.length})`);
    process.exitCode = 2;
    return;
  }
  for (const [index, scenario] of list.entries()) {
    if (only !== undefined && only !== index + 1) continue;
    console.log(`\n━━ ${index + 1}. ${scenario.title}`);
    console.log(`   ${scenario.what}`);
    const start = performance.now();
    let line: string;
    try {
      const got = await scenario.run();
      line = `   indices read: [${got.join(', ')}]\n   ✔ worked (${ms(start)}): ${scenario.verdict.ok}`;
    } catch (err) {
      const e = err as Error;
      line = `   ${e.name}: ${e.message}\n   ✘ failed (${ms(start)}): ${scenario.verdict.failed}`;
    }
    console.log(line);
  }
}

function ms(start: number): string {
  return `${Math.round(performance.now() - start)} ms`;
}

void main();
