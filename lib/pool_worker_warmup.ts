/**
 * A pool worker's first large chunks of numbers run its tight loop (runWhileNumbers in pool_worker.ts) in V8's
 * interpreter: V8 optimizes the loop only after thousands of tasks and a few ms of background compiling, so a fresh
 * worker's first two chunks of 12,500 trivial tasks took 2-7 ms against 0.03 ms once optimized. The task function
 * cannot be run ahead to warm it (a task may have effects), so while the worker waits for work it runs the loop over
 * synthetic numbers with two functions of its own, a slice per turn of the event loop, and stops as soon as work
 * arrives (resuming when it waits again). Two functions, not one: V8 then compiles the loop's call as polymorphic,
 * and the task function, a third, is called from the optimized loop (with one, V8 inlines it, and the first real
 * task throws the optimized code away). The price: the loop calls the task without inlining it, about 0.05 ms more
 * per 12,500 trivial tasks.
 */

/** The loop being warmed: fn(item) into `out` for every item; returns where it stopped (see runWhileNumbers). */
export type NumbersLoop = (fn: (item: unknown) => unknown, items: ArrayLike<unknown>, out: Float64Array) => number;

/** Items per slice (well under a ms interpreted) and slices: measured enough for V8 to optimize the loop. */
const SLICE_ITEMS = 256;
const SLICES = 100;

const FUNCTIONS = [(x: unknown) => -(x as number), (x: unknown) => (x as number) / 2];

export class LoopWarmUp {
  readonly #loop: NumbersLoop;
  readonly #idle: () => boolean;
  readonly #items = new Float64Array(SLICE_ITEMS).map((_, i) => i - SLICE_ITEMS / 2);
  readonly #out = new Float64Array(SLICE_ITEMS);
  #slices = 0;
  #scheduled = false;

  /** `idle()`: whether the worker has nothing to do (checked before each slice). */
  constructor(loop: NumbersLoop, idle: () => boolean) {
    this.#loop = loop;
    this.#idle = idle;
  }

  /** The worker waits for work: a slice runs at the next turn of the event loop, then the next while still idle. */
  waiting(): void {
    if (this.#scheduled || this.#slices >= SLICES) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (!this.#idle()) return; // work came: waiting() is called again once it is done
      this.#loop(FUNCTIONS[this.#slices++ % FUNCTIONS.length], this.#items, this.#out);
      this.waiting();
    });
  }
}
