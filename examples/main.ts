/**
 * `npm start`: the original question answered with real processes. `npm start -- 3` runs only scenario 3.
 * Why can a Lock be given to a Process but not to a Pool task, and when is a Manager needed?
 * `npm start -- --redis` runs scenarios 2 and 4 unchanged on a RedisManager, against a throwaway redis-server.
 */
import { RedisManager } from 'multiproc';
import { RedisServer } from './redis_server';
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

/** Scenarios 2 and 4 with their Lock and Queue in Redis instead of a Manager server process. */
async function mainOnRedis(): Promise<void> {
  let server: RedisServer;
  try {
    server = await RedisServer.start();
  } catch (err) {
    console.error(`npm start -- --redis needs a redis-server to start: ${(err as Error).message}`);
    process.exitCode = 1;
    return;
  }
  console.log(`a throwaway redis-server (pid ${server.pid}) listens on ${server.url}`);
  const onRedis = () => new RedisManager({ url: server.url, prefix: 'multiproc-example:' });
  try {
    for (const index of [1, 3]) {
      const scenario = list[index];
      await runScenario(index, {
        title: `${scenario.title}, on Redis`,
        what: `${scenario.what} Here they live in Redis (RedisManager), and the proxies name their keys.`,
        run: () => (scenario.run as (m: () => scenarios.ManagerLike) => Promise<number[]>)(onRedis),
        verdict: { ...scenario.verdict, ok: 'a Redis proxy is only the server\'s address and a key: it travels in any message' },
      });
    }
  } finally {
    await server.stop();
  }
}

async function runScenario(index: number, scenario: Scenario): Promise<void> {
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

async function main(): Promise<void> {
  if (process.argv[2] === '--redis') return mainOnRedis();
  const only = process.argv[2] === undefined ? undefined : Number(process.argv[2]);
  if (only !== undefined && !(only >= 1 && only <= list.length)) {
    console.error(`usage: npm start [-- N]   (N from 1 to ${list.length}), or npm start -- --redis`);
    process.exitCode = 2;
    return;
  }
  for (const [index, scenario] of list.entries()) {
    if (only !== undefined && only !== index + 1) continue;
    await runScenario(index, scenario);
  }
}

function ms(start: number): string {
  return `${Math.round(performance.now() - start)} ms`;
}

void main();
