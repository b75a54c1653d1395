/**
 * The resource tracker: a small detached process that unlinks the named semaphores of a process tree once every
 * process of that tree is gone, however they died (CPython's resource_tracker, without its polling).
 *
 * Every process of the tree holds the write end of one pipe (children inherit it through the spawn stdio array),
 * registers each name it creates before handing it out, and unregisters it when it unlinks it itself. The tracker
 * holds only the read end: end-of-file means the last writer is gone, so whatever is still registered leaked.
 *
 * The write end belongs to the process, not to one thread: the addon keeps it (worker threads share it), and
 * writes the unregistering line itself when the last reference to a semaphore this process created goes.
 *
 * At a million semaphores the tracker's lines are the cost that matters: names are registered NAME_BATCH at a time
 * (one write, before any of them exists) and the addon unregisters them in batches too. A name registered and never
 * created, or unlinked and not yet unregistered, only makes the tracker try to unlink a name that is not there.
 *
 * Shared-memory segments (shared_memory.ts) are registered as `shm:` names by every process that creates or attaches
 * a library-named one, so several trees' trackers may know one segment. Each tracker holds the segments it knows
 * with a shared lock while its tree lives, and at the end removes only those no process holds or maps any more:
 * whichever tree ends last removes the name (python/cpython#82300 removed segments that others still used).
 */
import * as fs from 'node:fs';
import { native } from './native';
import { MultiprocError } from './errors';
import { canSpawnChild, type Child, spawnChild, type SpawnedChild } from './spawn_child';

let trackerPid: number | undefined;

/** Adopts the tracker pipe inherited from the parent (done by the child bootstrap). */
export function adoptTracker(fd: number): void {
  native.setTrackerFd(fd);
}

/** The write end to hand to children, starting the tracker on first use. */
export function trackerDescriptor(): number {
  const running = native.trackerFd();
  if (running >= 0) return running;
  const [readFd, writeFd] = native.pipe();
  native.setPipeCapacity(writeFd, TRACKER_PIPE_BYTES); // a burst of lines never waits for the tracker to read
  // Its own session (detached): a Ctrl-C or a group kill aimed at the tree must not take it down too.
  let child: Child;
  if (canSpawnChild()) { // without fork(): see spawn_child.ts
    const nul = fs.openSync('/dev/null', 'r+');
    child = spawnChild(process.execPath, [__filename], process.env, [readFd, nul, nul], true);
    fs.closeSync(nul);
  } else {
    const { spawn } = require('node:child_process') as typeof import('node:child_process'); // loaded only here
    child = spawn(process.execPath, [__filename], { stdio: [readFd, 'ignore', 'ignore'], detached: true, windowsHide: true });
  }
  native.closeFd(readFd);
  if (child.pid === undefined) { // the OS refused: without a tracker no name may be made, as in CPython
    native.closeFd(writeFd);
    child.on('error', () => undefined); // thrown here instead
    throw (child as SpawnedChild).spawnError ??
      new MultiprocError('ERR_MP_TRACKER', 'the resource tracker could not be started');
  }
  child.unref();
  const inEffect = native.setTrackerFd(writeFd);
  if (inEffect !== writeFd) {
    native.closeFd(writeFd); // another thread started one first: ours reads end-of-file and exits
  } else {
    trackerPid = child.pid;
  }
  return inEffect;
}

/** The write end if a tracker already serves this process (children then share it). */
export function runningTrackerDescriptor(): number | undefined {
  const fd = native.trackerFd();
  return fd >= 0 ? fd : undefined;
}

/** The tracker's pid when this process started it (for tests and diagnostics). */
export function trackerProcessId(): number | undefined {
  return trackerPid;
}

/** Lines per registering write: within PIPE_BUF (4096 bytes), so each write is atomic. */
const NAME_BATCH = 64;
const TRACKER_PIPE_BYTES = 1 << 20;
/** How often the tracker looks for segments it holds that another tree removed (their memory can then go). */
const SWEEP_MS = 5000;
/** How long the tracker of an ended tree keeps trying a segment that is still held, and how often. */
const LATE_LOCK_MS = 1000;
const LATE_LOCK_POLL_MS = 10;
/** Names registered ahead, per maker (semaphore names, lock segment names). */
const registered = new Map<(count: number) => string[], string[]>();

/**
 * A fresh name from `make()`, registered with the tracker before it exists: NAME_BATCH names are made and
 * registered with one write whenever none of this maker's is left.
 */
export function registeredName(make: (count: number) => string[]): string {
  let names = registered.get(make);
  if (!names) registered.set(make, names = []);
  if (names.length === 0) {
    const made = make(NAME_BATCH);
    send(trackerDescriptor(), made.map((name) => `R${name}\n`).join('')); // done before anyone can die
    names.push(...made);
  }
  return names.pop()!;
}

export function unregister(name: string): void {
  const fd = native.trackerFd();
  if (fd >= 0) send(fd, `U${name}\n`);
}

const SEGMENT = 'shm:';
/** Names of the segments of kill-safe locks (robust_lock.ts): registered as semaphore names are, removed with shm_unlink. */
export const LOCK_SEGMENT_PREFIX = '/mpl-';

/** A shared-memory segment (its OS name) this process created or attached: the tree's tracker holds it. */
export function registerSegment(osName: string): void {
  send(trackerDescriptor(), `R${SEGMENT}${osName}\n`);
}

/** The segment was unlinked here. */
export function unregisterSegment(osName: string): void {
  unregister(`${SEGMENT}${osName}`);
}

function send(fd: number, line: string): void {
  try {
    fs.writeSync(fd, line);
  } catch (err) {
    // The tracker was killed from outside: names still get unlinked by their creators.
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
  }
}

function main(): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => undefined);
  const names = new Set<string>();
  // Segments: the descriptor that holds each (a shared lock), or undefined until it exists.
  const segments = new Map<string, number | undefined>();
  const hold = (name: string): void => {
    if (segments.get(name) !== undefined) return;
    try {
      segments.set(name, native.shmHold(name));
    } catch {
      segments.set(name, undefined); // not created yet (registered first), or removed already
    }
  };
  const release = (name: string): void => {
    const fd = segments.get(name);
    if (fd !== undefined) native.closeFd(fd);
    segments.delete(name);
  };
  // A segment unlinked by a process of another tree: nothing to hold any more (its memory goes once unmapped).
  const sweep = (): void => {
    for (const [name, fd] of segments) {
      try {
        if (fd === undefined) hold(name);
        else if (fs.fstatSync(fd).nlink === 0) release(name);
      } catch {
        // looked at again next time
      }
    }
  };
  setInterval(sweep, SWEEP_MS).unref();
  let pending = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const name = line.slice(1);
      if (name.startsWith(SEGMENT)) {
        if (line[0] === 'R') hold(name.slice(SEGMENT.length));
        else if (line[0] === 'U') release(name.slice(SEGMENT.length));
      } else if (line[0] === 'R') {
        names.add(name);
      } else if (line[0] === 'U') {
        names.delete(name);
      }
    }
  });
  process.stdin.on('end', () => {
    for (const name of names) {
      try {
        if (name.startsWith(LOCK_SEGMENT_PREFIX)) native.shmUnlink(name);
        else native.Semaphore.unlink(name);
      } catch {
        // already unlinked by its creator's exit hook racing with us: nothing left to do
      }
    }
    const known = [...segments.keys()];
    for (const name of known) release(name);
    removeUnused(known, Date.now() + LATE_LOCK_MS);
  });
  // Segments no process holds or maps any more go; one still held is looked at again until `until`: a SIGKILLed
  // process's files are released one after the other, and the end of the tree (its pipe) can come before the lock
  // that held a segment goes. Held after that, it belongs to a process of another tree, whose tracker removes it.
  const removeUnused = (left: string[], until: number): void => {
    const held = left.filter((name) => {
      try {
        return !native.shmUnlinkUnused(name);
      } catch {
        return false; // removed already
      }
    });
    if (held.length === 0 || Date.now() >= until) process.exit(0);
    setTimeout(() => removeUnused(held, until), LATE_LOCK_POLL_MS);
  };
}

if (require.main === module) main();
