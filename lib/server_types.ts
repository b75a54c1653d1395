/** The built-in typeids a Manager server creates, and what a client may call on each. */
import { ArrayObject, DictObject, ListObject, NamespaceObject, ValueObject } from './server_containers';
import { JoinableQueueObject, QueueObject } from './server_queues';
import {
  BarrierObject, BoundedSemaphoreObject, ConditionObject, EventObject, LockObject, RLockObject, SemaphoreObject,
} from './server_synchronize';

export interface ServerType {
  create: new (...args: never[]) => object;
  /** The methods a proxy may call; nothing else on the object is reachable from a client. */
  exposed: string[];
}

export const LOCK_METHODS = ['acquire', 'release', 'locked'];
export const SEMAPHORE_METHODS = ['acquire', 'release', 'getValue'];
export const QUEUE_METHODS = ['put', 'putNowait', 'get', 'getNowait', 'qsize', 'empty', 'full', 'shutdown'];
const publicMethodsOf = (cls: new (...args: never[]) => object) => publicMethods(Object.create(cls.prototype));

/** Every built-in typeid, what the server creates for it, and what a client may call. */
export const BUILTIN_TYPES: Record<string, ServerType> = {
  Lock: { create: LockObject, exposed: LOCK_METHODS },
  RLock: { create: RLockObject, exposed: LOCK_METHODS },
  Semaphore: { create: SemaphoreObject, exposed: SEMAPHORE_METHODS },
  BoundedSemaphore: { create: BoundedSemaphoreObject, exposed: SEMAPHORE_METHODS },
  Condition: { create: ConditionObject, exposed: ['acquire', 'release', 'wait', 'notify', 'notifyAll'] },
  Event: { create: EventObject, exposed: ['isSet', 'set', 'clear', 'wait'] },
  Barrier: { create: BarrierObject, exposed: ['wait', 'reset', 'abort', 'parties', 'nWaiting', 'broken'] },
  Queue: { create: QueueObject, exposed: QUEUE_METHODS },
  JoinableQueue: { create: JoinableQueueObject, exposed: [...QUEUE_METHODS, 'taskDone', 'join'] },
  dict: { create: DictObject, exposed: publicMethodsOf(DictObject) },
  list: { create: ListObject, exposed: publicMethodsOf(ListObject) },
  Value: { create: ValueObject, exposed: publicMethodsOf(ValueObject) },
  Array: { create: ArrayObject, exposed: publicMethodsOf(ArrayObject) },
  Namespace: { create: NamespaceObject, exposed: ['get', 'set', 'has', 'delete', 'toObject'] },
};

/** Python's public_methods(): callable, not starting with '_', found on the object's own class chain. */
export function publicMethods(obj: object): string[] {
  const names = new Set<string>();
  for (let proto = Object.getPrototypeOf(obj); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const desc = Object.getOwnPropertyDescriptor(proto, name);
      if (name !== 'constructor' && !name.startsWith('_') && desc && typeof desc.value === 'function') names.add(name);
    }
  }
  for (const name of Object.keys(obj)) {
    if (!name.startsWith('_') && typeof (obj as Record<string, unknown>)[name] === 'function') names.add(name);
  }
  return [...names].sort();
}
