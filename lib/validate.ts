/** Argument checks shared by the public API: each failure is a typed error with a stable code. */
import { AbortError, InvalidArgumentError, OutOfRangeError } from './errors';
import { TIMEOUT_MAX } from './timeouts';

/**
 * A timeout in milliseconds: undefined/null means none, and so does one above TIMEOUT_MAX (Infinity included): it
 * could never pass. Negative, NaN and non-numbers are rejected.
 */
export function checkTimeout(timeout: unknown, what = 'timeout'): number | undefined {
  if (timeout === undefined || timeout === null) return undefined;
  if (typeof timeout !== 'number') {
    throw new InvalidArgumentError(`${what} must be a number of milliseconds, got ${describe(timeout)}`);
  }
  if (Number.isNaN(timeout) || timeout < 0) {
    throw new OutOfRangeError(`${what} must be a non-negative number of milliseconds, got ${timeout}`);
  }
  return timeout > TIMEOUT_MAX ? undefined : timeout;
}

export function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined || signal === null) return undefined;
  if (!(signal instanceof AbortSignal)) {
    throw new InvalidArgumentError(`signal must be an AbortSignal, got ${describe(signal)}`);
  }
  return signal;
}

export function checkBoolean(value: unknown, what: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InvalidArgumentError(`${what} must be a boolean, got ${describe(value)}`);
  return value;
}

export function checkInteger(value: unknown, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number') throw new InvalidArgumentError(`${what} must be an integer, got ${describe(value)}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new OutOfRangeError(`${what} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

export function checkOptions<T extends object>(options: unknown, what: string): Partial<T> {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object') throw new InvalidArgumentError(`${what} must be an options object, got ${describe(options)}`);
  return options as Partial<T>;
}

export function abortReason(signal: AbortSignal): Error {
  return new AbortError(undefined, { cause: signal.reason });
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'function') return `function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`;
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  return `${typeof value} ${String(value)}`;
}
