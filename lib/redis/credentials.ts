/**
 * What a proxy carries of its server's connection settings. A token names the server (host, port, db, TLS or not)
 * and never holds a credential in clear. Like a Manager's authkey, the settings go to a child only while it is
 * being spawned (Process args, Pool initargs, fork's inherit), and then sealed (AES-256-GCM) under a key derived
 * from the process tree's authkey, which every child inherits: a sealed blob that leaks outside the tree is
 * useless. Any other process reaches the server with the settings of a RedisManager it created itself.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import * as v8 from 'node:v8';
import { currentProcess } from '../process';
import type { RedisSettings } from './client';

function key(): Buffer {
  return Buffer.from(hkdfSync('sha256', currentProcess().authkey, Buffer.alloc(0), 'multiproc redis settings', 32));
}

/** Only plain data travels: ioredis options that are functions (a retryStrategy, a custom connector) stay here. */
function plain(value: unknown): unknown {
  if (typeof value === 'function' || typeof value === 'symbol') return undefined;
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) return value.map(plain);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]).filter(([, v]) => v !== undefined));
}

export function seal(settings: RedisSettings): Uint8Array {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key(), iv);
  const body = Buffer.concat([cipher.update(v8.serialize(plain(settings))), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

/** The settings, or null if the blob was not sealed in this process tree (or was altered). */
export function unseal(sealed: Uint8Array): RedisSettings | null {
  try {
    const bytes = Buffer.from(sealed);
    const decipher = createDecipheriv('aes-256-gcm', key(), bytes.subarray(0, 12));
    decipher.setAuthTag(bytes.subarray(12, 28));
    const plainBytes = Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]);
    const settings = v8.deserialize(plainBytes) as RedisSettings;
    return typeof settings?.options === 'object' && typeof settings.commandTimeoutMs === 'number' ? settings : null;
  } catch {
    return null;
  }
}
