// Intended differences from CPython met by the port of Lib/test/_test_multiprocessing.py, one line each, in the
// words docs/python-parity.md lists them ("Differences from Python"): keep the two in step.
'use strict';

const DEVIATIONS = {
  repr: 'inspect() says whether this process holds a lock (`owner=this process`), else `owner=unknown`; it does not name another process or thread',
  managerRepr: "a proxy inspects as `<EventProxy typeid='Event' id=… at address>`, not CPython's `<EventProxy object, typeid 'Event' at 0x…>`",
  noKwargs: 'JavaScript has no keyword arguments: a target takes an object among its `args`',
  authkeyOnCurrentProcess: "a child's authkey is `currentProcess().authkey` (a Buffer); `Process` objects have no authkey of their own",
  feederThread: 'a Queue has no feeder thread: `put` throws PicklingError for a value that cannot travel, before a byte is written, instead of a background thread printing it',
  kwargsExit: "a target ends the child with `process.exit(code)`; there is no `sys.exit(reason)` that prints a reason",
};

module.exports = { DEVIATIONS };
