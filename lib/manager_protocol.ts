/**
 * The Manager wire protocol, shared by the server and its clients (CPython's connection.py challenge and the
 * message half of managers.py).
 *
 * A connection starts with a mutual HMAC-SHA256 challenge on the shared authkey (connection_auth.ts: the server
 * challenges first, then the client). After it, every frame is an array, v8.serialize'd or in the compact encoding of manager_codec.ts:
 * requests `[op, ...]`, replies `[requestId, ok, value]`. v8.deserialize runs no code, and the server never rebuilds client markers other than
 * proxies of its own objects, so a client can make the server run nothing but exposed methods.
 */
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import type { FrameChannel } from './manager_channel';
import { authenticateAsClient, authenticateAsServer, ChallengePeer, DEFAULT_HANDSHAKE_TIMEOUT_MS, HANDSHAKE_MAX_BYTES } from './connection_auth';
import { ManagerError } from './errors';
import { PROXY_REBUILDER } from './rebuilder_ids'; // the rebuilder id of a reduced proxy: [token, authkey | null]
import type { KernelDescriptor, KernelKillSafeDescriptor, KernelQueueDescriptor } from './manager_kernel';

/** Where a manager listens: a Unix socket path or Windows pipe name, or [host, port] for TCP. */
export type Address = string | [host: string, port: number];

export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;
/** Handshake frames are tiny: until a peer has authenticated, nothing larger is even buffered. */
export const HANDSHAKE_MAX_FRAME_BYTES = HANDSHAKE_MAX_BYTES;
export { DEFAULT_HANDSHAKE_TIMEOUT_MS };

/** Request operations (client → server). */
export const enum Op {
  /** [Op.Create, requestId, typeid, args] → proxy token; the caller's connection holds one reference. */
  Create = 1,
  /** [Op.Call, requestId, objectId, method, args] → result. */
  Call = 2,
  /** [Op.Cancel, requestId]: abort a pending call (the client's AbortSignal fired). No reply. */
  Cancel = 3,
  /** [Op.Decref, objectId]: a proxy of this connection was released. No reply. */
  Decref = 4,
  /** [Op.Lend, objectId]: a proxy was reduced to travel; keeps the object alive until adopted. No reply. */
  Lend = 5,
  /** [Op.Adopt, objectId]: a travelling proxy arrived in this connection's process. No reply. */
  Adopt = 6,
  /** [Op.Info, requestId] → ServerInfo. */
  Info = 7,
  /** [Op.Held, objectId]: this connection's process took a kernel Lock/RLock itself (manager_kernel.ts). No reply. */
  Held = 8,
  /** [Op.Released, objectId]: it is about to give that lock back. No reply. */
  Released = 9,
  /** [Op.PutFrame, objectId, frame]: a put on a kernel Queue, for the server to write into its pipe. No reply. */
  PutFrame = 10,
}

export interface ServerInfo {
  objects: number;
  connections: number;
  rss: number;
  heapUsed: number;
}

/** What a proxy is: the server's address, the object's typeid and id, and the methods it may call. */
export interface Token {
  typeid: string;
  id: number;
  address: Address;
  exposed: string[];
  /** A lock, semaphore or queue that lives in the kernel: what a proxy opens on the server's host. */
  kernel?: KernelDescriptor | KernelKillSafeDescriptor | KernelQueueDescriptor;
}

/** Bytes found in any serialized value that holds a proxy: lets both sides skip walking values that hold none. */
const PROXY_MARKER_BYTES = Buffer.from(PROXY_REBUILDER, 'latin1');

export function mayHoldProxy(serialized: Buffer): boolean {
  return serialized.indexOf(PROXY_MARKER_BYTES) >= 0;
}

export function addressKey(address: Address): string {
  return typeof address === 'string' ? address : `${address[0]}:${address[1]}`;
}

export function isAddress(value: unknown): value is Address {
  return typeof value === 'string' ||
    (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && Number.isInteger(value[1]));
}

// --- authentication ---------------------------------------------------------------------------------------------

/**
 * Frames as they arrive, taken one at a time during the handshake and handed to a handler after it. A frame that
 * arrives together with the last handshake frame (a client sends its first request right after) is kept, not lost.
 */
export class Inbox {
  readonly #conn: FrameChannel;
  readonly #queue: Buffer[] = [];
  #waiter: ((frame: Buffer | null) => void) | null = null;
  #handler: ((frame: Buffer) => void) | null = null;
  #closed = false;

  constructor(conn: FrameChannel) {
    this.#conn = conn;
    conn.on('frame', (frame: Buffer) => {
      if (this.#handler) this.#handler(frame);
      else if (this.#waiter) this.#waiter(frame);
      else this.#queue.push(frame);
    });
    conn.once('close', () => {
      this.#closed = true;
      this.#waiter?.(null);
    });
  }

  /** The next frame, or a rejection if the connection closes (or the deadline passes) first. */
  next(deadline?: AbortSignal): Promise<Buffer> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const done = (frame: Buffer | null) => {
        this.#waiter = null;
        deadline?.removeEventListener('abort', onAbort);
        if (frame) resolve(frame);
        else reject(new ManagerError('ERR_MP_MANAGER_CONNECTION', 'connection closed during the handshake'));
      };
      const onAbort = () => {
        done(null);
        this.#conn.close();
      };
      if (this.#closed || deadline?.aborted) return onAbort();
      this.#waiter = done;
      deadline?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** From now on every frame goes to `handler`, starting with any that arrived early. */
  deliverTo(handler: (frame: Buffer) => void): void {
    this.#handler = handler;
    for (const frame of this.#queue.splice(0)) handler(frame);
  }
}

/** The handshake's messages over a Manager connection's frames. */
function peerOf(conn: FrameChannel, inbox: Inbox): ChallengePeer {
  return { send: (message) => conn.send(message), next: (deadline) => inbox.next(deadline) };
}

/** Server side: challenge first (so an unauthenticated peer learns nothing), then prove ourselves. */
export async function authenticateClient(conn: FrameChannel, authkey: Buffer, deadline: AbortSignal): Promise<Inbox> {
  const inbox = new Inbox(conn);
  await authenticateAsServer(peerOf(conn, inbox), authkey, deadline);
  return inbox;
}

/** Client side: the mirror image, so a client also knows it reached the real server. */
export async function authenticateServer(conn: FrameChannel, authkey: Buffer, deadline: AbortSignal): Promise<Inbox> {
  const inbox = new Inbox(conn);
  await authenticateAsClient(peerOf(conn, inbox), authkey, deadline);
  return inbox;
}

/** A fresh private name for a listener: a socket in a 0700 directory (POSIX) or a random pipe name (Windows). */
export function privateSocketName(dir: string | null): string {
  if (process.platform === 'win32') return `\\\\.\\pipe\\multiproc-${process.pid}-${randomBytes(8).toString('hex')}`;
  return `${dir ?? os.tmpdir()}/listener`;
}
