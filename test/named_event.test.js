'use strict';
// Event.open (issue #16 §3): an event that unrelated processes open by name; a process killed while it waits (or
// at any moment) leaves nothing that blocks the others.
const fs = require('node:fs');
const path = require('node:path');
const { Event, NamedEvent } = require('../dist');
const { uniqueName, startChild } = require('./fixtures/named_lock_scenarios');

const CHILD = path.join(__dirname, 'fixtures', 'named_event_child.js');
const segments = () => (fs.existsSync('/dev/shm') ? fs.readdirSync('/dev/shm').filter((n) => n.startsWith('mpe-')) : []);

describe('Event.open', () => {
  let name;
  const opened = [];
  const open = (options) => {
    const event = Event.open(name, options);
    opened.push(event);
    return event;
  };
  beforeEach(() => { name = uniqueName(); });
  afterEach(() => {
    for (const event of opened.splice(0)) event.close();
    try { NamedEvent.unlink(name); } catch (err) { if (err.code !== 'ENOENT') throw err; }
  });

  test('set, clear and isSet are seen by every opener; ENOENT without create, EEXIST with exclusive', () => {
    expect(() => Event.open(name)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    const a = open({ create: true, exclusive: true });
    expect(() => Event.open(name, { create: true, exclusive: true })).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    const b = open();
    expect(a.isSet()).toBe(false);
    a.set();
    expect(b.isSet()).toBe(true);
    expect(b.waitSync({ timeout: 0 })).toBe(true);
    b.clear();
    expect(a.isSet()).toBe(false);
    expect(String(a)).toBe(`<Event ${JSON.stringify(name)} unset>`);
  });

  test.each(['sync', 'async'])('a set() in an unrelated process wakes a %s waiter in another', async (how) => {
    const waiter = await startChild(['wait', name, how], 'waiting', CHILD);
    const woken = new Promise((resolve) => { waiter.onLine = (line) => { if (line.startsWith('woken')) resolve(line); }; });
    const setter = await startChild(['set', name], 'set', CHILD);
    expect(await woken).toBe('woken true');
    await Promise.all([waiter.exited, setter.exited]);
  });

  test('a waiter SIGKILLed while it waits: set() returns at once and wakes the others', async () => {
    const victim = await startChild(['wait', name, 'sync'], 'waiting', CHILD);
    const other = await startChild(['wait', name, 'async'], 'waiting', CHILD);
    const woken = new Promise((resolve) => { other.onLine = (line) => { if (line.startsWith('woken')) resolve(line); }; });
    victim.kill('SIGKILL');
    await victim.exited;
    open().set();
    expect(await woken).toBe('woken true');
    await other.exited;
  });

  test('timeouts and signals hold; close() ends pending waits with ERR_MP_CLOSED', async () => {
    const event = open({ create: true });
    expect(event.waitSync({ timeout: 20 })).toBe(false);
    await expect(event.wait({ timeout: 20 })).resolves.toBe(false);
    const controller = new AbortController();
    const aborted = event.wait({ signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    const pending = event.wait();
    event.close();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_MP_CLOSED' });
    expect(() => event.set()).toThrow(expect.objectContaining({ code: 'ERR_MP_CLOSED' }));
  });

  test('unlink: the next opener gets a new, cleared event; the old one lives on for who has it; nothing is left', () => {
    const before = segments();
    const old = open({ create: true });
    old.set();
    NamedEvent.unlink(name);
    expect(() => Event.open(name)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    const fresh = open({ create: true });
    expect(fresh.isSet()).toBe(false);
    expect(old.isSet()).toBe(true);
    fresh.close();
    NamedEvent.unlink(name);
    expect(segments()).toEqual(before);
  });

  test('names are checked as lock names are', () => {
    expect(() => Event.open('Upper', { create: true })).toThrow(expect.objectContaining({ name: 'ValueError', code: 'ERR_MP_LOCK_NAME' }));
    expect(() => Event.open(42)).toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }));
    expect(() => Event.open('ok-name', { create: 'yes' })).toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }));
  });
});
