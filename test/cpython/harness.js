// How the port registers its tests. A CPython test keeps its name and becomes one of:
//   cpython(name, fn)               it passes, as in CPython;
//   deviation(name, key, fn?)       an intended difference (reason in deviations.js, listed in the docs); fn, when
//                                   given, asserts multiproc's own behaviour;
//   notApplicable(name, reason)     nothing in multiproc or Node corresponds;
//   pending(name, reason, fn)       written, but waits for a feature another branch adds (or a bug the lead decides).
// tally_reporter.js counts them by the marker in the title.
'use strict';
const { Manager, Process } = require('../../dist');
const { DEVIATIONS } = require('./deviations');
const { MARK } = require('./marks');
const { MODES, LABELS, viaManager, ops, factories, valueIfImplemented } = require('./variants');


const cpython = (name, fn, timeout) => test(name, fn, timeout);

function deviation(name, key, fn, timeout) {
  const reason = DEVIATIONS[key];
  if (reason === undefined) throw new Error(`no deviation ${key} in deviations.js`);
  const title = `${name}${MARK.deviation}${reason}`;
  return fn ? test(title, fn, timeout) : test.skip(title, () => {});
}

const notApplicable = (name, reason) => test.skip(`${name}${MARK.notApplicable}${reason}`, () => {});
const pending = (name, reason, fn = () => {}) => test.skip(`${name}${MARK.pending}${reason}`, fn);

/**
 * Runs `body(v)` once per mode inside its own describe, as CPython instantiates a class per type. `v` holds the
 * mode, its ops (`v.o`), its factories (`v.make`), and for the manager mode a Manager started for the block.
 * `modes` narrows the set (CPython's ALLOWED_TYPES).
 */
function eachVariant(className, body, modes = MODES) {
  for (const mode of modes) {
    describe(`${className} [${LABELS[mode]}]`, () => {
      let manager;
      if (viaManager(mode)) {
        beforeAll(async () => {
          manager = new Manager({ kernelObjects: mode === 'manager' });
          await manager.start();
        });
        afterAll(() => manager?.shutdown());
      }
      body({ mode, o: ops(mode), make: factories(mode, () => manager), local: !viaManager(mode) });
    });
  }
}

/** Starts a process on `target(mode, ...args)` and waits until it runs it. */
async function spawn(mode, target, args, options = {}) {
  const p = new Process({ target, args: [mode, ...args], ...options });
  await p.start();
  return p;
}

/**
 * Children spawned once per variant that play the parts of several tests ("scenes") in turn: a process start costs
 * what a whole test does on a loaded machine. `scene(setup, parts)` declares a scene before the tests run: `setup()`
 * makes its objects (they travel at spawn), `parts(objects)` lists one `[targetName, args]` per player it needs.
 * In the test, `await s.go()` lets its players start (where CPython spawns them) and `await s.finished()` waits for
 * each to report that its part ended without error (where CPython joins them and checks their work).
 */
function stage(mode, make, playerCount) {
  const { Queue } = require('../../dist');
  const done = new Queue();
  const scenes = [];
  let players = [];
  beforeAll(async () => {
    for (const s of scenes) {
      s.objects = await s.setup();
      s.goEvent = await make.Event();
      s.list = s.parts(s.objects);
    }
    const plans = Array.from({ length: playerCount }, (_, k) =>
      scenes.map((s) => (s.list[k] ? [s.goEvent, ...s.list[k]] : null)));
    players = await Promise.all(plans.map((plan) => spawn(mode, targets().playScenes, [done, plan], { daemon: true })));
  });
  afterAll(async () => {
    for (const p of players) if (p.exitCode === null) p.kill();
    await Promise.all(players.map((p) => p.join()));
    done.close();
  });
  return {
    scene(setup, parts) {
      const s = { setup, parts };
      s.go = () => s.goEvent.set();
      s.finished = async () => {
        const reports = [];
        for (let i = 0; i < s.list.length; i++) reports.push(await done.get({ timeout: 30000 }));
        expect(reports).toEqual(reports.map(() => 'ok'));
      };
      scenes.push(s);
      return s;
    },
  };
}
const targets = () => require('./targets');

/** CPython's assertReturnsIfImplemented(value, get_value, sem): macOS cannot read a semaphore's value. */
async function expectValueIfImplemented(o, sem, value) {
  const actual = await valueIfImplemented(o, sem);
  if (actual !== undefined) expect(actual).toBe(value);
}

/** Joins a child and expects it to have exited 0 (CPython's join_process, plus the exit code its asserts imply). */
async function joinOk(p) {
  await p.join();
  expect(p.exitCode).toBe(0);
}

module.exports = { cpython, deviation, notApplicable, pending, eachVariant, spawn, joinOk, stage, expectValueIfImplemented };
