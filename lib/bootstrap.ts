/**
 * The first code a child runs (CPython's spawn.py): read the payload on descriptor 3, rebuild what was inherited,
 * watch the parent, then run the target (or hand over to a pool worker / manager server loop).
 */
import * as net from 'node:net';
import * as v8 from 'node:v8';
import { ChildPayload, exitWithParent, readPayloadSync } from './child';
import { FramedSocket } from './connection';
import { errorInfo } from './errors';
import { CONTROL_FD } from './process';
import { preloadRebuilders, rebuildValue } from './reduction';

export type { ChildPayload } from './child';

type ChildMain = (payload: ChildPayload, channel: FramedSocket) => Promise<void> | void;
const mains = new Map<string, () => ChildMain>([
  ['process', () => runTarget],
]);

// Imported only once `mains` exists: modules it loads (pool, managers) register their child kinds as they load.
import './index'; // registers every library rebuilder before the payload is rebuilt

/** Child-side entry points of other modules (pool workers, manager servers) register here. @internal */
export function registerChildMain(kind: string, load: () => ChildMain): void {
  mains.set(kind, load);
}

async function runTarget(payload: ChildPayload, channel: FramedSocket): Promise<void> {
  const target = payload.target as (...args: unknown[]) => unknown;
  // The target runs once the frame is written: one that exits at once (process.exit) would drop it where pipe
  // writes complete asynchronously (Windows), and start() would report that the target never ran.
  await new Promise<void>((resolve) => channel.send(v8.serialize({ started: true }), () => resolve()));
  try {
    await target(...(payload.args as unknown[]));
  } catch (err) {
    const info = errorInfo(err); // never throws, whatever was thrown
    process.stderr.write(`Process ${payload.self.name}:\n${info.stack || info.message}\n`);
    process.exit(1);
  }
}

function reportStartFailure(channel: FramedSocket | undefined, err: unknown): void {
  const info = errorInfo(err);
  process.stderr.write(`Process failed to start:\n${info.stack || info.message}\n`);
  channel?.send(v8.serialize({ error: info }));
  process.exitCode = 1;
}

/**
 * The first steps of every child, whatever its main (also the manager server's): read the payload, watch the
 * parent, open the control channel. @internal
 */
export function openChild(): { raw: ChildPayload; channel: FramedSocket } {
  const raw = readPayloadSync();
  exitWithParent(raw); // a child never outlives its parent, as Python's daemons and pool workers
  const channel = new FramedSocket(new net.Socket({ fd: CONTROL_FD, readable: true, writable: true }));
  channel.socket.unref();
  return { raw, channel };
}

/** Loads the modules the payload refers to and rebuilds it. @internal */
export async function rebuildPayload(raw: ChildPayload): Promise<ChildPayload> {
  await preloadRebuilders(raw);
  return rebuildValue(raw) as ChildPayload;
}

async function main(): Promise<void> {
  let channel: FramedSocket | undefined;
  try {
    const opened = openChild();
    channel = opened.channel;
    const payload = await rebuildPayload(opened.raw);
    const load = mains.get(payload.kind);
    if (!load) throw new Error(`unknown child kind ${payload.kind}`);
    await load()(payload, channel);
  } catch (err) {
    reportStartFailure(channel, err);
  }
}

if (require.main === module) void main();
