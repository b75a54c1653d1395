/**
 * SharedMemoryManager (CPython's multiprocessing.managers.SharedMemoryManager): makes SharedMemory segments and
 * ShareableLists and unlinks every one of them at shutdown(). Python runs a server process for that; here the
 * segments are library-named, so if this process dies first the resource tracker removes them once no process
 * uses them — no server is needed.
 */
import { ValueError } from './errors';
import { ShareableItem, ShareableList } from './shareable_list';
import { SharedMemory } from './shared_memory';

export class SharedMemoryManager {
  readonly #segments = new Set<SharedMemory>();
  #shutDown = false;

  /** For symmetry with Manager: nothing to start. */
  async start(): Promise<this> {
    return this;
  }

  /** A new segment of `size` bytes, unlinked at shutdown(). */
  SharedMemory(size: number): SharedMemory {
    this.#checkRunning();
    const shm = new SharedMemory({ size });
    this.#segments.add(shm);
    return shm;
  }

  /** A new ShareableList, unlinked at shutdown(). */
  ShareableList(sequence: Iterable<ShareableItem>): ShareableList {
    this.#checkRunning();
    const list = new ShareableList(sequence);
    this.#segments.add(list.shm);
    return list;
  }

  /** Closes and unlinks every segment it made (processes that have one mapped keep it). Idempotent. */
  async shutdown(): Promise<void> {
    this.#shutDown = true;
    for (const shm of this.#segments) {
      shm.close();
      try {
        shm.unlink();
      } catch {
        // unlinked already by its user
      }
    }
    this.#segments.clear();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  #checkRunning(): void {
    if (this.#shutDown) throw new ValueError('SharedMemoryManager is shut down', 'ERR_MP_CLOSED');
  }
}
