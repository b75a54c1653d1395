/** The worker side of a Pool (CPython's pool.worker): what a pool worker process runs after the bootstrap. */
import type { ChildPayload } from './child';
import type { FramedSocket } from './framing';
import { errorInfo } from './errors';
import { encode, FromWorker, sendFrame, serializeFrame, ToWorker } from './pool_protocol';
import { preloadRebuilders, rebuildValue } from './reduction';
import { AnyFunction, loadReference } from './reference';
import { CancelReason, RunningChunk, setRunningChunk } from './pool_task';
import { decodeMessage, numbersFrame } from './pool_numbers';
import { giveBuffer } from './buffer_pool';
import { LoopWarmUp } from './pool_worker_warmup';

/** A worker's main loop (CPython's pool.worker): initializer, then chunks one at a time, results in order. */
export async function runWorker(payload: ChildPayload, channel: FramedSocket): Promise<void> {
  const inbox: ToWorker[] = [];
  let wake: (() => void) | undefined;
  /** Chunks are numbered by arrival; the parent cancels one by its number, running or still in the inbox. */
  let received = 0;
  let running: RunningChunk | undefined;
  const cancelled = new Map<number, CancelReason>();
  channel.on('frame', (frame: Buffer) => {
    const message = decodeMessage(frame) as ToWorker;
    if (message.op === 'cancel') { // handled at once: the running task may be waiting on its signal
      if (running?.seq === message.seq) running.cancel(message.reason);
      else if (message.seq >= received) cancelled.set(message.seq, message.reason);
      return;
    }
    inbox.push(message);
    wake?.();
  });
  channel.socket.ref(); // the bootstrap unrefs it; a worker lives until told to stop (or its parent is gone)
  const initializer = payload.initializer as AnyFunction | null;
  const maxMemory = payload.maxMemory as number | null;
  try {
    if (initializer) await initializer(...(payload.initargs as unknown[]));
  } catch (err) {
    sendFrame(channel, serializeFrame({ initError: errorInfo(err) } satisfies FromWorker));
    return; // the parent ends this worker
  }
  sendFrame(channel, serializeFrame({ ready: true } satisfies FromWorker));
  const functions = new Map<number, AnyFunction | Error>();
  const warmUp = new LoopWarmUp(runWhileNumbers, () => inbox.length === 0 && running === undefined);
  for (;;) {
    if (inbox.length === 0) {
      warmUp.waiting();
      await new Promise<void>((resolve) => { wake = resolve; });
    }
    wake = undefined;
    const raw = inbox.shift()!;
    if (raw.op === 'stop') return exitAfterOutput();
    if (raw.op === 'def') {
      // A function that cannot be loaded fails each task that uses it, not the worker.
      functions.set(raw.fn, await loadReference(raw.ref).catch((err: Error) => err));
      continue;
    }
    if (raw.op !== 'run') continue;
    const seq = received++;
    running = new RunningChunk(seq, cancelled.get(seq));
    cancelled.delete(seq);
    setRunningChunk(running);
    let reply: Buffer;
    try {
      if (running.reason) throw running.reason; // cancelled before it started
      if (!raw.plain) await preloadRebuilders(raw.values); // user classes from ES modules are imported first
      const fn = functions.get(raw.fn)!;
      if (fn instanceof Error) throw fn;
      const values = raw.plain ? raw.values : rebuildValue(raw.values) as unknown[];
      const results = await runChunk(fn, values, raw.star, running);
      reply = results instanceof Buffer ? results
        : encode({ ok: true, plain: false, values: results } satisfies FromWorker,
          (i) => (results.length === 1 ? 'result' : `result ${i + 1} of ${results.length} in its chunk`));
    } catch (err) {
      reply = serializeFrame({ ok: false, error: errorInfo(err) } satisfies FromWorker);
    }
    if (raw.values instanceof Float64Array) giveBuffer(raw.values); // a numbers frame, read to the end
    running = undefined;
    setRunningChunk(undefined);
    if (maxMemory !== null) { // measured between chunks, said before the reply: then no new chunk comes
      const rss = process.memoryUsage.rss();
      if (rss > maxMemory) sendFrame(channel, serializeFrame({ overMemory: rss } satisfies FromWorker));
    }
    channel.socket.write(reply, () => giveBuffer(reply)); // written: its memory may carry the next reply
  }
}

/**
 * Exits once what tasks printed has been written: on pipes, stdout and stderr are asynchronous, and process.exit()
 * would drop the tail. (Exiting rather than letting the event loop drain: a task may have left a timer running.)
 */
function exitAfterOutput(): void {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(0)));
}

/**
 * Runs a chunk; synchronous tasks run back to back without a trip through the event loop. Once the chunk is
 * cancelled, the tasks not yet started are skipped. Results that are all numbers (the common case of many small
 * tasks) are written straight into the frame that carries them back (pool_numbers.ts), which is returned: no second
 * pass over them, no serializer (on a fresh worker, every loop over the items is slow).
 */
async function runChunk(fn: AnyFunction, items: ArrayLike<unknown>, star: boolean,
                        chunk: RunningChunk): Promise<unknown[] | Buffer> {
  const reply = items.length > 0 ? numbersFrame(null, items.length) : undefined;
  let numbers = reply?.values;
  let results: unknown[] = numbers ? [] : new Array(items.length);
  let i = 0;
  /** The result the tight loop stopped at: its task already ran. */
  let first: { result: unknown } | undefined;
  if (numbers && !star) { // the common case in one tight loop: it ends at the first result that is not a number
    i = runWhileNumbers(fn, items, numbers);
    if (i === items.length) return reply!.frame;
    first = { result: stopped };
    stopped = undefined;
  }
  for (; i < items.length; i++) {
    let result: unknown;
    if (first) {
      result = first.result;
      first = undefined;
    } else {
      if (chunk.reason) throw chunk.reason;
      result = star ? fn(...(items[i] as unknown[])) : fn(items[i]);
    }
    if (typeof (result as PromiseLike<unknown> | null)?.then === 'function') result = await result;
    if (numbers) {
      if (typeof result === 'number') {
        numbers[i] = result;
        continue;
      }
      results = Array.from(numbers.subarray(0, i)); // the first result that is not a number: back to an array
      numbers = undefined;
    }
    results[i] = result;
  }
  return numbers ? reply!.frame : results;
}

/** The result runWhileNumbers stopped at (not a number: maybe a promise). */
let stopped: unknown;

/**
 * fn(item) into `out` while results are numbers; returns the index of the first result that is not (kept in
 * `stopped`), or items.length. No await and no event-loop turn inside, so no cancellation can arrive meanwhile.
 */
function runWhileNumbers(fn: AnyFunction, items: ArrayLike<unknown>, out: Float64Array): number {
  for (let i = 0; i < items.length; i++) {
    const result: unknown = fn(items[i]);
    if (typeof result !== 'number') {
      stopped = result;
      return i;
    }
    out[i] = result;
  }
  return items.length;
}
