/**
 * Which proxy class stands for each typeid, and the rebuilder that turns a token arriving in this process into a
 * proxy of the right class, connected to its server.
 */
import { ManagerError } from './errors';
import { knowAuthkey, ManagerConnection, replyBeingRebuilt } from './manager_connection';
import { ArrayProxy, DictProxy, ListProxy, NamespaceProxy, ValueProxy } from './manager_container_proxies';
import { isKernelDescriptor } from './manager_kernel_open';
import { isAddress, Token } from './manager_protocol';
import { PROXY_REBUILDER } from './rebuilder_ids';
import { AutoProxy, BaseProxy } from './manager_proxy';
import { JoinableQueueProxy, QueueProxy } from './manager_queue_proxies';
import {
  BarrierProxy, BoundedSemaphoreProxy, ConditionProxy, EventProxy, LockProxy, RLockProxy, SemaphoreProxy,
} from './manager_sync_proxies';
import { registerRebuilder } from './reduction';

type ProxyType = new (token: Token, connection: ManagerConnection, adopt: boolean) => BaseProxy;

const proxyTypes = new Map<string, ProxyType>();

/** Registers the proxy class of a user typeid (BaseManager.register's proxyType). */
export function setProxyType(typeid: string, Type: ProxyType): void {
  proxyTypes.set(typeid, Type);
}

/** A proxy of the class registered for the token's typeid (AutoProxy for any other). */
export function makeProxy(token: Token, connection: ManagerConnection, adopt: boolean): BaseProxy {
  const Type = proxyTypes.get(token.typeid) ?? AutoProxy;
  return new Type(token, connection, adopt);
}

/** The proxy a reduced one (PROXY_REBUILDER, [token, authkey]) stands for in this process, connected to its server. */
function rebuildProxy(token: Token, authkey: Uint8Array | null): BaseProxy {
  if (!token || !isAddress(token.address) || !Number.isSafeInteger(token.id) || !Array.isArray(token.exposed) ||
      !(token.kernel === undefined || isKernelDescriptor(token.kernel))) {
    throw new ManagerError('ERR_MP_MANAGER_UNKNOWN_OBJECT', 'malformed proxy token');
  }
  if (authkey) knowAuthkey(token.address, Buffer.from(authkey));
  const connection = ManagerConnection.to(token.address);
  return makeProxy(token, connection, replyBeingRebuilt() !== connection);
}

registerRebuilder(PROXY_REBUILDER, rebuildProxy);

const BUILTIN_PROXIES = {
  Lock: LockProxy, RLock: RLockProxy, Semaphore: SemaphoreProxy, BoundedSemaphore: BoundedSemaphoreProxy,
  Condition: ConditionProxy, Event: EventProxy, Barrier: BarrierProxy, Queue: QueueProxy,
  JoinableQueue: JoinableQueueProxy, dict: DictProxy, list: ListProxy, Value: ValueProxy, Array: ArrayProxy,
  Namespace: NamespaceProxy,
};
for (const [typeid, Type] of Object.entries(BUILTIN_PROXIES)) proxyTypes.set(typeid, Type);
