/**
 * Values stored in Redis: reduced and serialized as any value that crosses a process boundary (reduction.ts), so
 * proxies inside a dict or a queue item come back as working proxies. Whoever can write these keys is trusted as a
 * Manager client holding the authkey is: a reduce marker written there is rebuilt (docs/redis.md, Trust).
 */
import { deserialize } from '../deserialize';
import { dumps, MARK, preloadRebuilders, rebuildValue } from '../reduction';
import type { Root } from '../travel';

const MARK_BYTES = Buffer.from(MARK, 'latin1');

export function encodeValue(value: unknown, root: Root): Buffer {
  return dumps(value, root);
}

/** Plain data is only deserialized; a value holding reduced objects has their modules loaded and is rebuilt. */
export async function decodeValue(bytes: Uint8Array): Promise<unknown> {
  const value = deserialize(bytes);
  if (Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(MARK_BYTES) < 0) return value;
  await preloadRebuilders(value);
  return rebuildValue(value);
}
