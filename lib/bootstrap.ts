/**
 * The first code a child runs (CPython's spawn.py): read the payload on descriptor 3, rebuild what was inherited,
 * watch the parent, then run the child's main: a Process target, a pool worker's loop or a manager server. Nothing
 * imports this module: it is the entry point of the script a child starts with (process.ts: BOOTSTRAP).
 */
import * as v8 from 'node:v8';
import { ChildPayload, openChild, rebuildPayload } from './child';
import type { FramedSocket } from './framing';
import { errorInfo } from './errors';
import { registerRebuilderModules } from './rebuilder_modules';

// Library objects in the payload load their modules as they are rebuilt: a child given none starts without them.
registerRebuilderModules();

type ChildMain = (payload: ChildPayload, channel: FramedSocket) => Promise<void> | void;

/** Every kind of child this bootstrap starts, and its main, loaded only by the children of that kind. */
const CHILD_MAINS: Record<string, () => ChildMain> = {
  process: () => runTarget,
  'pool-worker': () => (require('./pool_worker') as typeof import('./pool_worker')).runWorker,
  'manager-server': () => (require('./manager_server') as typeof import('./manager_server')).serve,
};

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

async function main(): Promise<void> {
  let channel: FramedSocket | undefined;
  try {
    const opened = openChild();
    channel = opened.channel;
    const payload = await rebuildPayload(opened.raw);
    const load = Object.hasOwn(CHILD_MAINS, payload.kind) ? CHILD_MAINS[payload.kind] : undefined;
    if (!load) throw new Error(`unknown child kind ${payload.kind}`);
    await load()(payload, channel);
  } catch (err) {
    reportStartFailure(channel, err);
  }
}

if (require.main === module) void main();
