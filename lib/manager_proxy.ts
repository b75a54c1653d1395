/**
 * Proxies (CPython's BaseProxy and AutoProxy): a proxy is only a token (typeid, object id, server address) and this
 * process's connection to that server, so it reduces anywhere — Pool task arguments, Queue items, other Manager
 * calls — and reconnects in whichever process rebuilds it (manager_proxy_types.ts).
 */
import { inspect } from 'node:util';
import { InvalidArgumentError, ManagerError } from './errors';
import { ManagerConnection, settingsFor } from './manager_connection';
import { addressKey, Op, Token } from './manager_protocol';
import { PROXY_REBUILDER } from './rebuilder_ids';
import { isSpawning, reduce, Reduced } from './reduction';
import { checkOptions, checkTimeout } from './validate';

/** Drops a proxy's server reference once the proxy is garbage-collected. */
const finalizer = new FinalizationRegistry<{ connection: ManagerConnection; id: number }>(({ connection, id }) => {
  connection.notify(Op.Decref, id);
});

/**
 * A proxy for an object in a manager server (Python's BaseProxy). It holds one reference to that object until it
 * is garbage-collected or disposed (`proxy[Symbol.dispose]()`, or `using`).
 */
export class BaseProxy {
  readonly #token: Token;
  readonly #connection: ManagerConnection;
  #released = false;

  /** @internal `adopt`: the reference was lent by another process and is taken over now. */
  constructor(token: Token, connection: ManagerConnection, adopt: boolean) {
    this.#token = token;
    this.#connection = connection;
    if (adopt) connection.notify(Op.Adopt, token.id);
    finalizer.register(this, { connection, id: token.id }, this);
  }

  /** This process's connection to the server (the owner of locks acquired through it). */
  protected get _connection(): ManagerConnection {
    return this.#connection;
  }

  /** The token itself (`token` returns a copy). */
  protected get _token(): Token {
    return this.#token;
  }

  /** The typeid, object id, server address and exposed methods. */
  get token(): Token {
    return { ...this.#token, exposed: [...this.#token.exposed] };
  }

  /**
   * Calls an exposed method of the referent (Python's _callmethod). `holdsLoop: false`: the process need not stay
   * alive for the reply.
   */
  protected _callMethod(method: string, args: unknown[] = [], signal?: AbortSignal, holdsLoop = true): Promise<unknown> {
    if (this.#released) {
      return Promise.reject(new ManagerError('ERR_MP_MANAGER_RELEASED', `this ${this.#token.typeid} proxy was released`));
    }
    try {
      return this.#connection.request(Op.Call, [this.#token.id, method, args], signal, `${this.#token.typeid}.${method}() arguments`, holdsLoop);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Calls a method that may wait in the server: the options travel, their AbortSignal stays here to cancel it. */
  protected _callWaiting(method: string, args: unknown[], options: unknown): Promise<unknown> {
    try {
      const [opts, signal] = travelling(options, `${method} options`);
      return this._callMethod(method, [...args, opts], signal);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Drops this proxy's reference now; the object goes when no proxy anywhere refers to it. */
  [Symbol.dispose](): void {
    if (this.#released) return;
    this.#released = true;
    finalizer.unregister(this);
    this.#connection.notify(Op.Decref, this.#token.id);
  }

  [reduce](): Reduced {
    if (this.#released) throw new ManagerError('ERR_MP_MANAGER_RELEASED', `this ${this.#token.typeid} proxy was released`);
    // The object must outlive the trip even if this proxy is collected meanwhile: lend a reference to the receiver.
    this.#connection.notify(Op.Lend, this.#token.id);
    // As in Python, the authkey travels only to a child being spawned (never in Pool task arguments or queues).
    const authkey = isSpawning() ? settingsFor(this.#token.address).authkey : null;
    return [PROXY_REBUILDER, [this.#token, authkey]];
  }

  [inspect.custom](): string {
    return `<${this.constructor.name} typeid='${this.#token.typeid}' id=${this.#token.id} at ${addressKey(this.#token.address)}>`;
  }
}

/** A proxy whose methods are whatever the server exposes (Python's AutoProxy): used for registered user types. */
export class AutoProxy extends BaseProxy {
  [method: string]: unknown;

  constructor(token: Token, connection: ManagerConnection, adopt: boolean) {
    super(token, connection, adopt);
    for (const name of token.exposed) {
      if (name === 'then') continue; // a proxy with then() would be a thenable: `await` would call it
      Object.defineProperty(this, name, { value: (...args: unknown[]) => this._callMethod(name, args), enumerable: false });
    }
  }
}

/** Defines methods that pass their arguments straight to the referent's method of the same name. */
export function forward(cls: { prototype: BaseProxy }, methods: string[]): void {
  for (const name of methods) {
    Object.defineProperty(cls.prototype, name, {
      value: function (this: BaseProxy, ...args: unknown[]) {
        return (this as unknown as { _callMethod: BaseProxy['_callMethod'] })._callMethod(name, args);
      },
      writable: true,
      configurable: true,
    });
  }
}

export interface AcquireOptions {
  blocking?: boolean;
  timeout?: number;
  /** Asks the server to give up waiting (the call then rejects with AbortError, unless it had already succeeded). */
  signal?: AbortSignal;
}

export interface WaitOptions {
  timeout?: number;
  signal?: AbortSignal;
}

export interface QueueOptions {
  block?: boolean;
  timeout?: number;
  signal?: AbortSignal;
}

/** Splits the AbortSignal (which stays here) from the options that travel, and checks them before they do. */
export function travelling(options: unknown, what: string): [Record<string, unknown>, AbortSignal | undefined] {
  const { signal, ...rest } = checkOptions<{ signal: AbortSignal; timeout: number }>(options, what) as Record<string, unknown>;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidArgumentError('signal must be an AbortSignal');
  checkTimeout(rest.timeout);
  return [rest, signal];
}
