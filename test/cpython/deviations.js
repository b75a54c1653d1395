// Intended differences from CPython met by the port of Lib/test/_test_multiprocessing.py, one line each, in the
// words docs/python-parity.md lists them ("Differences from Python"): keep the two in step.
'use strict';

const DEVIATIONS = {
  repr: 'inspect() output is multiproc\'s own (`<Lock(owner=this process)>`, `<Lock(owner=unknown)>`, `<Event(set)>`): it does not name the process or thread that holds a lock',
  managerRepr: "a proxy inspects as `<EventProxy typeid='Event' id=… at address>`, not CPython's `<EventProxy object, typeid 'Event' at 0x…>`",
  setExecutable: 'children run the Node.js binary and `execArgv` of their parent; there is no set_executable()',
  childDiesWithParent: 'every child exits (code 129) when its parent dies, even by SIGKILL: a grandchild cannot outlive its parent to see it dead',
  feederThread: 'a Queue has no feeder thread: `put` throws PicklingError for a value that cannot travel, before a byte is written, instead of a background thread printing it',
};

module.exports = { DEVIATIONS };
