/**
 * A command that must not run twice at once, among processes that share nothing but a name:
 *
 *   node dist-examples/examples/single_instance.js [--wait] [--for <ms>]
 *
 * A second instance reports the running one and exits with status 1, or with --wait waits for it and takes over.
 * When the running instance is SIGKILLed (or crashes), the kernel drops its lock at once and the next instance is
 * told through `ownerDied` that the previous run stopped half way, so it can repair what that run left behind.
 * The lock's name comes from SINGLE_INSTANCE_NAME (default "multiproc-examples/single-instance").
 */
import { Lock } from 'multiproc';

async function main(args: string[]): Promise<number> {
  const wait = args.includes('--wait');
  const forIndex = args.indexOf('--for');
  const workMs = forIndex >= 0 ? Number(args[forIndex + 1]) : 1000;
  const lock = Lock.open(process.env.SINGLE_INSTANCE_NAME ?? 'multiproc-examples/single-instance', { create: true });
  if (!lock.acquireSync({ blocking: false })) {
    if (!wait) {
      console.log('another instance is running');
      lock.close();
      return 1;
    }
    console.log('waiting for the running instance');
    await lock.acquire();
  }
  if (lock.ownerDied) console.log('the previous instance died while running: repairing what it left half done');
  console.log(`running as pid ${process.pid}`);
  await new Promise((resolve) => setTimeout(resolve, workMs));
  console.log('done');
  lock.release();
  lock.close();
  return 0;
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
