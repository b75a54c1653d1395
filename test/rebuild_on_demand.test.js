// A child loads the module of a library object it is given when the object is rebuilt (lib/rebuilder_modules.ts):
// not before, and whether or not the child's own code imports the library.
'use strict';
const { Lock, Pipe, Pool, Process } = require('../dist');
const { greet, greetHolding, libraryModulesLoaded } = require('./fixtures/plain_targets');
const { settledWithin } = require('./fixtures/bounded');

/** Modules only a child given their objects needs. */
const OBJECT_MODULES = ['synchronize', 'semlock', 'queues', 'connection', 'shared_memory', 'sharedctypes',
  'shareable_list', 'manager_proxy_types'];

/** What a child running `target(theirs, ...more)` sends on its end of a Pipe; the child's exit code after. */
async function greetingFrom(target, more = []) {
  const [mine, theirs] = Pipe();
  const child = new Process({ target, args: [theirs, ...more] });
  await child.start();
  theirs.close();
  const message = await settledWithin(mine.recv(), 20000, 'no message within 20 s');
  await child.join();
  mine.close();
  return { message, exitCode: child.exitCode, expected: `hello from ${child.pid}` };
}

describe('rebuild on demand', () => {
  test('connection-given-to-a-module-without-multiproc: the child rebuilds it and it works', async () => {
    const { message, exitCode, expected } = await greetingFrom(greet);
    expect([message, exitCode]).toEqual([expected, 0]);
  });

  test('lock-after-connection: a Lock rebuilt after a Connection (which loads semlock.ts, not the Lock class) works', async () => {
    const { message, exitCode, expected } = await greetingFrom(greetHolding, [new Lock()]);
    expect([message, exitCode]).toEqual([expected, 0]);
  });

  test('a pool worker given plain data loads no object module; one given a Lock loads its own', async () => {
    const plain = new Pool({ processes: 1 });
    const withLock = new Pool({ processes: 1, initializer: libraryModulesLoaded, initargs: [new Lock()] });
    try {
      const [bare, locked] = await Promise.all([plain.apply(libraryModulesLoaded), withLock.apply(libraryModulesLoaded)]);
      expect(bare).toContain('pool_worker');
      expect(bare.filter((name) => OBJECT_MODULES.includes(name))).toEqual([]);
      expect(locked).toEqual(expect.arrayContaining(['synchronize', 'semlock']));
    } finally {
      await Promise.all([plain[Symbol.asyncDispose](), withLock[Symbol.asyncDispose]()]);
    }
  });
});
