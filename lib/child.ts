/** The child side of spawning: reading what the parent sent on descriptor 3 and adopting it. */
import { descriptorSocket, FramedSocket, readFrameSync } from './framing';
import { deserialize } from './deserialize';
import { RuntimeError } from './errors';
import { native } from './native';
import { adoptIdentity, CONTROL_FD, FORK_PRELOAD, PARENT_DIED_EXIT_CODE, ProcessIdentity } from './process';
import { FIRST_PASSED_FD, preloadRebuilders, rebuildValue } from './reduction';
import { adoptTracker } from './resource_tracker';

export interface ChildPayload {
  kind: string;
  self: ProcessIdentity;
  parent: { name: string; pid: number };
  tracker: number | null;
  /** Read end of the parent's alive pipe: end-of-file means the parent is gone. */
  parentAlive: number | null;
  [key: string]: unknown;
}

let parentGone = false;

/**
 * Ends this process soon after its parent dies (even by SIGKILL): at once through process.exit when the event
 * loop is free, or after a second by the addon's watcher thread when it is blocked in a synchronous wait.
 * @internal
 */
export function exitWithParent(payload: ChildPayload): void {
  if (payload.parentAlive === null) return;
  native.watchHangup(payload.parentAlive, 1000, PARENT_DIED_EXIT_CODE, () => {
    parentGone = true;
    process.exit(PARENT_DIED_EXIT_CODE);
  });
}

/** Reads the payload frame (not yet rebuilt) and adopts the identity and resource tracker it carries. @internal */
export function readPayloadSync(): ChildPayload {
  if (native.platform !== 'win32') {
    // Inherited descriptors are ours alone: keep them from leaking into whatever this process spawns next
    // (our own children get what they need explicitly through their stdio array).
    const passed = Number(process.env.MULTIPROC_PASSED_FDS ?? 0);
    for (let fd = CONTROL_FD; fd < FIRST_PASSED_FD + passed; fd++) native.setCloseOnExec(fd, true);
  }
  const raw = deserialize(readFrameSync(CONTROL_FD)) as ChildPayload;
  if (raw.tracker !== null) adoptTracker(raw.tracker); // first: whatever we create from now on is tracked
  adoptIdentity(raw.self, raw.parent, () => !parentGone);
  return raw;
}

/**
 * The first steps of every child, whatever its main (also the manager server's): read the payload, watch the
 * parent, open the control channel. @internal
 */
export function openChild(): { raw: ChildPayload; channel: FramedSocket } {
  const raw = readPayloadSync();
  exitWithParent(raw); // a child never outlives its parent, as Python's daemons and pool workers
  const channel = new FramedSocket(descriptorSocket(CONTROL_FD));
  channel.socket.unref();
  return { raw, channel };
}

/** Loads the modules the payload refers to and rebuilds it. @internal */
export async function rebuildPayload(raw: ChildPayload): Promise<ChildPayload> {
  await preloadRebuilders(raw);
  return rebuildValue(raw) as ChildPayload;
}

/** Where a fork() child's preload leaves its payload for inherited(): shared by every copy of the library it loads. */
const FORK_PAYLOAD = Symbol.for('multiproc.forkPayload');

/**
 * @internal The fork() preload (fork_preload.ts), before the child's own module runs: reads the payload and watches
 * the parent, so that a fork() child exits with its parent like every other child, whether it uses the library or not.
 */
export function startForkChild(): void {
  const payload = readPayloadSync();
  exitWithParent(payload);
  (globalThis as Record<symbol, unknown>)[FORK_PAYLOAD] = payload;
  // The preload is this process's alone: its own children must not run it (child_process.fork copies execArgv).
  const argv = process.execArgv;
  const at = argv.findIndex((arg, i) => arg === '--require' && argv[i + 1] === FORK_PRELOAD);
  if (at >= 0) argv.splice(at, 2);
}

let inheritedValues: Record<string, unknown> | undefined;

/**
 * In a child started with `fork(modulePath, args, { inherit })`: the objects it inherited (Locks, Queues, ...),
 * rebuilt in this process. Read once; later calls return the same objects.
 */
export function inherited<T extends Record<string, unknown> = Record<string, unknown>>(): T {
  if (!inheritedValues) {
    const payload = (globalThis as Record<symbol, unknown>)[FORK_PAYLOAD] as ChildPayload | undefined;
    if (!payload) throw new RuntimeError('inherited() works only in a child started with multiproc fork()', 'ERR_MP_NOT_A_CHILD');
    inheritedValues = (rebuildValue(payload) as ChildPayload).inherit as Record<string, unknown>;
  }
  return inheritedValues as T;
}
