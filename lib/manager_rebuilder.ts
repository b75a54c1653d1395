/**
 * The id Manager proxies travel under. manager_proxy_types.ts registers their rebuilder; a child's bootstrap
 * registers a stand-in under the same id that loads the Manager's client modules only in a child given a proxy.
 */
export const PROXY_REBUILDER = 'multiproc.proxy';
