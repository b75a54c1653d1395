// The user types of the Manager port (CPython's FooBar, baz, IteratorProxy, MyManager, QueueManager and
// QueueManager2). A manager server loads factories by reference, so they live in a module the server can load.
'use strict';
const { BaseManager, BaseProxy } = require('../../dist');

class FooBar {
  f() {
    return 'f()';
  }

  g() {
    throw new (require('../../dist').ValueError)('g');
  }

  _h() {
    return '_h()';
  }
}
const makeFooBar = () => new FooBar();

/** CPython's baz(): a generator of the first ten squares, kept in the server. */
function* baz() {
  for (let i = 0; i < 10; i++) yield i * i;
}

/** CPython's IteratorProxy: iterates the server's generator one next() per round trip. */
class IteratorProxy extends BaseProxy {
  async *[Symbol.asyncIterator]() {
    for (;;) {
      const { value, done } = await this._callMethod('next');
      if (done) return;
      yield value;
    }
  }
}

class MyManager extends BaseManager {}
MyManager.register('Foo', makeFooBar);
MyManager.register('Bar', makeFooBar, { exposed: ['f', '_h'] });
MyManager.register('baz', baz, { proxyType: IteratorProxy, exposed: ['next'] });

/** CPython's queue.Queue of the remote-manager tests: get() waits for an item. */
class WaitingQueue {
  #items = [];
  #takers = [];

  put(item) {
    const taker = this.#takers.shift();
    if (taker) taker(item);
    else this.#items.push(item);
  }

  get() {
    return this.#items.length ? this.#items.shift() : new Promise((resolve) => this.#takers.push(resolve));
  }
}
const theQueue = new WaitingQueue();
/** CPython's get_queue: the one queue of the server's process. */
const getQueue = () => theQueue;

/** The manager class of the server process. */
class QueueManager extends BaseManager {}
QueueManager.register('getQueue', getQueue);

/** The same interface, for clients of a server started elsewhere (no factory). */
class QueueManager2 extends BaseManager {}
QueueManager2.register('getQueue');

/** CPython's _TestRemoteManager._putter and _TestManagerRestart._putter: connects and puts `items`. */
async function putter(mode, ManagerName, address, authkey, items) {
  const manager = new module.exports[ManagerName]({ address, authkey });
  await manager.connect();
  const queue = await manager.getQueue();
  await queue.put(items);
  await manager.shutdown();
}

module.exports = { makeFooBar, baz, IteratorProxy, MyManager, getQueue, QueueManager, QueueManager2, putter };
