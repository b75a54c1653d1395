/**
 * The shared segment of a local Manager connection (manager_channel.ts, shm_ring.ts). The server creates it under a
 * name that lives for one round trip: the client maps it and removes the name at once. The name carries the
 * creator's process id (`mpr-<pid in base 36>-<8 random characters>`), so a name left behind by a server killed
 * within that round trip is removed by the next server on this machine that offers a ring (Linux lists the names in
 * /dev/shm; elsewhere they cannot be listed). No resource tracker is involved: starting one would cost a process
 * start on a connection's first calls, far longer than the name lives.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { native } from './native';

const RING_NAME = /^mpr-([0-9a-z]{1,8})-[A-Za-z0-9_-]{8}$/;
const SHM_DIR = '/dev/shm';
/** A server sweeps names of dead servers at most this often (a listing per new connection would be waste). */
const SWEEP_EVERY_MS = 1000;
let sweptAt = -Infinity;

export interface RingSegment {
  name: string;
  buffer: ArrayBuffer;
  /** Removes the name if it is still there (the client removes it once it has the mapping). */
  remove(): void;
  /** An offer not taken: removes the name and unmaps the segment. */
  discard(): void;
}

/** Server: a fresh zero-filled segment of `size` bytes under a ring name. */
export function createRingSegment(size: number): RingSegment {
  sweep();
  for (;;) {
    const name = `mpr-${process.pid.toString(36)}-${randomBytes(6).toString('base64url')}`;
    let buffer: ArrayBuffer;
    try {
      buffer = native.shmCreate(`/${name}`, size, false); // the mapping holds no descriptor: none to leak or count
    } catch (err) {
      if ((err as { code?: string }).code === 'EEXIST') continue;
      throw err;
    }
    return {
      name,
      buffer,
      remove: () => removeName(name),
      discard: () => {
        removeName(name);
        native.shmDetach(buffer);
      },
    };
  }
}

/**
 * Client: maps the segment a server offered and removes its name (both sides have it mapped: the name is of no more
 * use, and the server may die at any time). Only a ring name is opened; undefined when it is gone already.
 */
export function openRingSegment(name: string): ArrayBuffer | undefined {
  if (!RING_NAME.test(name)) return undefined;
  let buffer: ArrayBuffer;
  try {
    buffer = native.shmOpen(`/${name}`, false);
  } catch {
    return undefined; // removed already, or out of descriptors: the connection stays on its socket
  }
  removeName(name);
  return buffer;
}

function removeName(name: string): void {
  try {
    native.shmUnlink(`/${name}`);
  } catch {
    // the other side removed it first
  }
}

/** Removes the ring names whose creator is dead. */
function sweep(): void {
  const now = performance.now();
  if (now - sweptAt < SWEEP_EVERY_MS) return;
  sweptAt = now;
  let names: string[];
  try {
    names = fs.readdirSync(SHM_DIR);
  } catch {
    return; // not Linux: names cannot be listed
  }
  for (const name of names) {
    const creator = RING_NAME.exec(name)?.[1];
    if (creator !== undefined && !alive(parseInt(creator, 36))) removeName(name);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM'; // another user's process
  }
}
