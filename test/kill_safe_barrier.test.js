'use strict';
// A Barrier party that dies while it waits (issue #16 §1) breaks the barrier for the parties waiting with it, who get
// BrokenBarrierError promptly instead of waiting for their timeout or for ever; a party that died after the barrier
// tripped does not break the next generation.
const { Barrier, BrokenBarrierError, Lock, Manager } = require('../dist');
const t = require('./fixtures/kill_safe_targets');
const { finishes, killAndReap, started, until } = require('./fixtures/kill_safe_helpers');

const onLinux = new Lock().recovery ? describe : describe.skip;

/** A party of `barrier` that waits in it (sync form) until SIGKILLed: resolves once `waiting` parties wait. */
async function waitingParty(barrier, waiting) {
  const p = await started(t.waitInBarrier, [barrier]);
  await until(() => barrier.nWaiting === waiting, `${waiting} parties to wait in the barrier`);
  return p;
}

/** Three live parties pass the barrier: its count and state are whole again. */
async function tripsWithLiveParties(barrier) {
  const others = [finishes(t.waitInBarrier, [barrier]), finishes(t.waitInBarrier, [barrier])];
  const index = await barrier.wait({ timeout: 60000 });
  expect([0, 1, 2]).toContain(index);
  expect(await Promise.all(others)).toEqual([0, 0]);
}

onLinux('a dead Barrier party', () => {
  test('Barrier(3), a party SIGKILLed while waiting: an async waiter gets BrokenBarrierError instead of hanging', async () => {
    const barrier = new Barrier(3);
    const waiter = barrier.wait();
    const victim = await waitingParty(barrier, 2);
    await killAndReap(victim);
    await expect(waiter).rejects.toBeInstanceOf(BrokenBarrierError);
    await expect(barrier.wait({ timeout: 60000 })).rejects.toBeInstanceOf(BrokenBarrierError); // until reset()
    expect(barrier.broken).toBe(true);
    barrier.reset();
    await tripsWithLiveParties(barrier);
  });

  test('Barrier(3), a party SIGKILLed while waiting: a waitSync() waiter gets BrokenBarrierError instead of hanging', async () => {
    const barrier = new Barrier(3);
    const victim = await waitingParty(barrier, 1);
    const survivor = finishes(t.waitUntilBroken, [barrier, undefined]);
    await until(() => barrier.nWaiting === 2, 'the survivor to wait');
    await killAndReap(victim);
    expect(await survivor).toBe(0);
    expect(() => barrier.waitSync({ timeout: 60000 })).toThrow(BrokenBarrierError);
  });

  test("the issue's case: a party waiting with timeout: 1000 when another is SIGKILLed does not stay stuck", async () => {
    const barrier = new Barrier(3);
    const victim = await waitingParty(barrier, 1);
    const waiter = barrier.wait({ timeout: 1000 });
    await killAndReap(victim);
    await expect(waiter).rejects.toBeInstanceOf(BrokenBarrierError);
  });

  test('killed between leaving its slot and counting itself out: the barrier does not stay draining for ever', async () => {
    const barrier = new Barrier(2);
    const victim = await started(t.killedAfterLeavingItsSlot, [barrier, 3]);
    for (let i = 0; i < 4; i++) expect([0, 1]).toContain(await barrier.wait({ timeout: 30000 }));
    await victim.join();
    expect(victim.exitCode).toBe(-9);
    // Alone in a Barrier(2): this wait times out and breaks it, instead of waiting for a drain that never ends.
    await expect(barrier.wait({ timeout: 1000 })).rejects.toBeInstanceOf(BrokenBarrierError);
    barrier.reset();
    const other = finishes(t.waitInBarrier, [barrier]);
    expect([0, 1]).toContain(await barrier.wait({ timeout: 30000 }));
    expect(await other).toBe(0);
  }, 60000);

  test('a party SIGKILLed at random moments of a loop of waits: nobody hangs, and the barrier trips again after reset()', async () => {
    for (let round = 0; round < 6; round++) {
      const barrier = new Barrier(3);
      const survivor = finishes(t.waitUntilBroken, [barrier, 3000]);
      const victim = await started(t.waitUntilBroken, [barrier, 3000]);
      const mine = (async () => {
        for (;;) await barrier.wait({ timeout: 3000 });
      })();
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 300)); // a random moment, not a synchronization
      await killAndReap(victim);
      // Killed while waiting: the barrier breaks; killed after a trip: the next generation waits for its timeout.
      await expect(mine).rejects.toBeInstanceOf(BrokenBarrierError);
      expect(await survivor).toBe(0);
      barrier.reset();
      await tripsWithLiveParties(barrier);
    }
  }, 240000);
});

test.each([true, false])("a Manager Barrier (kernelObjects: %s): a client SIGKILLed while waiting breaks it for the others", async (kernelObjects) => {
  const manager = new Manager({ kernelObjects });
  await manager.start();
  try {
    const barrier = await manager.Barrier(3);
    const waiter = barrier.wait();
    const victim = await started(t.waitInBarrierProxy, [barrier]);
    const start = performance.now();
    while ((await barrier.nWaiting) < 2) {
      if (performance.now() - start > 30000) throw new Error('the client never waited in the barrier');
    }
    await killAndReap(victim);
    await expect(waiter).rejects.toBeInstanceOf(BrokenBarrierError);
    expect(await barrier.broken).toBe(true);
  } finally {
    await manager.shutdown();
  }
});
