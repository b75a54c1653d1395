/**
 * What the package root exports as `connection`: CPython's multiprocessing.connection module, whose `wait` would
 * otherwise collide with the root's shared-memory wait().
 */
export { Connection, Pipe, wait } from './connection';
export type { Waitable } from './connection';
export { Client, Listener } from './connection_listener';
export type { ClientOptions, ListenerOptions } from './connection_listener';
