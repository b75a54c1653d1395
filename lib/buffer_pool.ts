/**
 * Large message buffers handed back for reuse. Memory fresh from the OS costs a page fault per page on first write
 * (on a VM about 0.1–0.3 GB/s, against several GB/s into memory already touched): a Pool's chunks of numbers would
 * pay it twice per hop. Buffers taken here and given back once nothing reads them are written warm next time.
 *
 * Only memory taken here is ever kept (a WeakSet says which), so giving back a buffer that came from elsewhere is a
 * no-op; giving back one still in use is the caller's bug, so callers give back only at a point where the bytes
 * are provably done with (a frame written, a frame's numbers copied out).
 */
const MIN_CLASS = 64 * 1024;
/** Free memory kept per process, at most. */
const MAX_KEPT_BYTES = 32 * 1024 * 1024;

const ours = new WeakSet<ArrayBuffer>();
const free = new Map<number, ArrayBuffer[]>();
let kept = 0;

function sizeClass(size: number): number {
  return size <= MIN_CLASS ? MIN_CLASS : 2 ** Math.ceil(Math.log2(size));
}

/** `size` bytes (not zeroed) at offset 0 of memory of their own, reused when some was given back. */
export function takeBuffer(size: number): Buffer {
  const cls = sizeClass(size);
  const memory = free.get(cls)?.pop();
  if (memory) {
    kept -= cls;
    return Buffer.from(memory, 0, size);
  }
  const fresh = Buffer.allocUnsafeSlow(cls).buffer as ArrayBuffer;
  ours.add(fresh);
  return Buffer.from(fresh, 0, size);
}

/** Gives back the memory under `view` (taken with takeBuffer), to be reused; anything else is left to the GC. */
export function giveBuffer(view: ArrayBufferView): void {
  const memory = view.buffer as ArrayBuffer;
  if (!ours.has(memory) || kept + memory.byteLength > MAX_KEPT_BYTES) return;
  let list = free.get(memory.byteLength);
  if (!list) free.set(memory.byteLength, list = []);
  if (list.includes(memory)) return; // given back twice: keep it once
  list.push(memory);
  kept += memory.byteLength;
}
