/**
 * The connection settings (ioredis options: credentials, TLS) of the Redis servers this process uses, and how its
 * children get them. A token names a server (host, port, db, TLS or not) and never holds a credential. Like a
 * Manager's authkey, the settings go only to this process's children: a RedisManager's start() puts all of them,
 * sealed (AES-256-GCM) under a key derived from the process tree's authkey, in this process's environment, which
 * every child spawned afterwards (Process, Pool workers, fork) inherits and can open; a copy that leaks outside the
 * tree is useless. Any other process reaches the server with the settings of a RedisManager it creates itself.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import * as v8 from 'node:v8';
import { currentProcess } from '../process';

/** What this process needs to reach a server: ioredis options and our limits. */
export interface RedisSettings {
  /** Options passed to ioredis as they are, over ours. */
  options: Record<string, unknown>;
  commandTimeoutMs: number;
}

export const SETTINGS_ENV = 'MULTIPROC_REDIS_SETTINGS';
const DEFAULT_SETTINGS: RedisSettings = { options: {}, commandTimeoutMs: 5000 };
const settingsByServer = new Map<string, RedisSettings>();
let inheritedRead = false;

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

function seal(value: unknown): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key(), iv);
  const body = Buffer.concat([cipher.update(v8.serialize(value)), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

/** What was sealed in this process tree, or null (another tree's, or altered). */
function unseal(sealed: string): unknown {
  try {
    const bytes = Buffer.from(sealed, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', key(), bytes.subarray(0, 12));
    decipher.setAuthTag(bytes.subarray(12, 28));
    return v8.deserialize(Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]));
  } catch {
    return null;
  }
}

/** Settings for `server` (an address key), and for this process's children from now on. */
export function useSettings(server: string, settings: RedisSettings): void {
  readInherited();
  settingsByServer.set(server, settings);
  process.env[SETTINGS_ENV] = seal(plain([...settingsByServer]));
}

/** The settings a manager of this process (or of its parents) registered for `server`, else the defaults. */
export function settingsFor(server: string): RedisSettings {
  readInherited();
  return settingsByServer.get(server) ?? DEFAULT_SETTINGS;
}

function readInherited(): void {
  if (inheritedRead) return;
  inheritedRead = true;
  const sealed = process.env[SETTINGS_ENV];
  const entries = sealed ? unseal(sealed) : null;
  if (!Array.isArray(entries)) return;
  for (const entry of entries) {
    const [server, settings] = Array.isArray(entry) ? entry as [unknown, RedisSettings] : [];
    if (typeof server === 'string' && typeof settings?.options === 'object' && typeof settings.commandTimeoutMs === 'number') {
      settingsByServer.set(server, settings);
    }
  }
}
