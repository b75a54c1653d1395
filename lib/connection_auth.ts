/**
 * The HMAC challenge of CPython's connection.py, one implementation for every authenticated connection: a
 * Listener/Client pair (connection_listener.ts) and a Manager's server and clients (manager_protocol.ts).
 *
 * The side that challenges sends a random nonce; the other answers with HMAC-SHA256(authkey, challenge) and hears
 * WELCOME or FAILURE. Both sides challenge in turn (the accepting side first, so an unauthenticated peer learns
 * nothing), so each knows the other holds the key. Handshake messages are tiny: a caller reads them with a bound
 * of HANDSHAKE_MAX_BYTES, and a deadline, so a hostile peer can neither make it buffer much nor keep it waiting.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AuthenticationError, InvalidArgumentError } from './errors';
import { describe } from './validate';

/** The longest handshake message; until a peer has authenticated, nothing larger is even buffered. */
export const HANDSHAKE_MAX_BYTES = 256;
/** How long connecting and authenticating may take unless the caller says otherwise. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5000;

const CHALLENGE = Buffer.from('#MPCHALLENGE#');
const WELCOME = Buffer.from('#MPWELCOME#');
const FAILURE = Buffer.from('#MPFAILURE#');
const NONCE_BYTES = 32;

/** Whatever carries the handshake's messages. */
export interface ChallengePeer {
  send(message: Buffer): void;
  /** The next message; rejects if the connection closes or `deadline` aborts first. */
  next(deadline?: AbortSignal): Promise<Buffer>;
}

/** An authkey as the public API accepts it (Buffer, any typed array or string), as a Buffer of its own. */
export function checkAuthkey(authkey: unknown, what = 'authkey'): Buffer {
  if (typeof authkey === 'string') return Buffer.from(authkey);
  if (ArrayBuffer.isView(authkey)) return Buffer.from(Buffer.from(authkey.buffer, authkey.byteOffset, authkey.byteLength));
  throw new InvalidArgumentError(`${what} must be a Buffer (bytes) or a string, got ${describe(authkey)}`);
}

function digest(authkey: Buffer, message: Buffer): Buffer {
  return createHmac('sha256', authkey).update(message).digest();
}

/** Challenges the peer to prove it knows `authkey`; throws AuthenticationError (after telling it) if not. */
export async function deliverChallenge(peer: ChallengePeer, authkey: Buffer, deadline?: AbortSignal): Promise<void> {
  const message = Buffer.concat([CHALLENGE, randomBytes(NONCE_BYTES)]);
  peer.send(message);
  const response = await peer.next(deadline);
  const expected = digest(authkey, message);
  if (response.length !== expected.length || !timingSafeEqual(response, expected)) {
    peer.send(FAILURE);
    throw new AuthenticationError('digest received was wrong');
  }
  peer.send(WELCOME);
}

/** Answers the peer's challenge; throws AuthenticationError if the peer says our digest was wrong. */
export async function answerChallenge(peer: ChallengePeer, authkey: Buffer, deadline?: AbortSignal): Promise<void> {
  const message = await peer.next(deadline);
  if (message.length !== CHALLENGE.length + NONCE_BYTES || !message.subarray(0, CHALLENGE.length).equals(CHALLENGE)) {
    throw new AuthenticationError(`protocol error: expected a challenge, got ${message.length} bytes`);
  }
  peer.send(digest(authkey, message));
  const verdict = await peer.next(deadline);
  if (!verdict.equals(WELCOME)) throw new AuthenticationError('digest sent was rejected');
}

/** The accepting side (a Listener, a Manager server): challenge first, then prove ourselves. */
export async function authenticateAsServer(peer: ChallengePeer, authkey: Buffer, deadline?: AbortSignal): Promise<void> {
  await deliverChallenge(peer, authkey, deadline);
  await answerChallenge(peer, authkey, deadline);
}

/** The connecting side (a Client, a Manager client): the mirror image, so a client also knows it reached the real server. */
export async function authenticateAsClient(peer: ChallengePeer, authkey: Buffer, deadline?: AbortSignal): Promise<void> {
  await answerChallenge(peer, authkey, deadline);
  await deliverChallenge(peer, authkey, deadline);
}
