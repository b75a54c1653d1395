// Intended differences from CPython met by the port of Lib/test/_test_multiprocessing.py, one line each, in the
// words docs/python-parity.md lists them ("Differences from Python"): keep the two in step.
'use strict';

const DEVIATIONS = {
  repr: 'inspect() output is multiproc\'s own (`<Lock(owner=this process)>`, `<Lock(owner=unknown)>`, `<Event(set)>`): it does not name the process or thread that holds a lock',
  managerRepr: "a proxy inspects as `<EventProxy typeid='Event' id=… at address>`, not CPython's `<EventProxy object, typeid 'Event' at 0x…>`",
  setExecutable: 'children run the Node.js binary and `execArgv` of their parent; there is no set_executable()',
  childDiesWithParent: 'every child exits (code 129) when its parent dies, even by SIGKILL: a grandchild cannot outlive its parent to see it dead',
  remoteError: "a task's error reaches the parent as a RemoteError (the task's class name in `remoteName`, its stack in `remoteStack`), not as an instance of the task's own class: a peer's data never names a class the parent would construct",
  resultEncoding: "a task result that cannot travel back rejects its call with the worker's PicklingError (a RemoteError: `remoteName` PicklingError, code `ERR_MP_PICKLING`, naming where the bad value sits), CPython's MaybeEncodingError",
  argumentType: 'an argument of the wrong type (`maxtasksperchild: "12"`, a typecode that does not exist) throws InvalidArgumentError (code `ERR_INVALID_ARG_TYPE`, as Node.js APIs do), where CPython raises ValueError or TypeError; out-of-range numbers throw OutOfRangeError, a ValueError',
  rawGetObj: 'RawValue and RawArray have getObj() too (the typed array over their memory), where CPython\'s raw objects have no get_obj; a `lock` option that is not a boolean, Lock or RLock throws InvalidArgumentError (CPython: AttributeError)',
  proxySnapshot: 'a dict or list proxy is iterated with `for await` over one snapshot taken in one round trip, so changes made during the loop are not seen (CPython fetches key by key and raises RuntimeError when the dict changed size)',
  proxyString: "`String(proxy)` cannot wait for a round trip, so it does not show the remote object (CPython's str() of a Namespace proxy asks the server); `await namespace.toObject()` gives its attributes",
  notExposed: 'calling a method that a manager type does not expose rejects with ManagerError (code `ERR_MP_MANAGER_UNKNOWN_METHOD`), where CPython raises RemoteError',
  noFileno: 'a Connection does not hand out its descriptor (there is no fileno()): it owns it, and Node waits on connections with `connection.wait()`, not select()',
  connectionErrors: 'a closed, read-only or write-only Connection throws ValueError (codes `ERR_MP_CLOSED`, `ERR_MP_CONNECTION_READ_ONLY`, `ERR_MP_CONNECTION_WRITE_ONLY`), as every misused object here, where CPython raises OSError',
  noSendHandle: 'there is no send_handle()/recv_handle(): descriptors reach another process only inside library objects, at spawn',
  connectionInheritance: 'a Connection reaches another process only while it is spawned (the inheritance rule, like a Queue): sending one over a Connection throws RuntimeError',
  managerBarrierAction: 'a Manager Barrier takes no action (`manager.Barrier(parties, timeout)`): the action would run in the server, and the server runs no code a client names',
  managerPool: 'there is no manager.Pool(): its server would run the task functions any client names, and a Manager runs no client code; a local Pool\'s tasks take Manager proxies as arguments',
  feederThread: 'a Queue has no feeder thread: `put` throws PicklingError for a value that cannot travel, before a byte is written, instead of a background thread printing it',
};

module.exports = { DEVIATIONS };
