/**
 * Validation of what the host passes to the public facade, in one place: options objects (known
 * keys only, an object or nothing) and argument types. Plain-JS callers get a `GvtError` naming
 * the field (`ConfigError` for options, `RangeArgError` for arguments), never a raw `TypeError`
 * from deep inside the model. See docs/isolation.md ("The host API boundary").
 */
import { ConfigError, RangeArgError } from './errors.js';

/**
 * The option names of `T`, listed once. The record type makes the compiler insist on every key of
 * `T` (and no other), so the list cannot fall behind the interface.
 */
export function optionKeys<T extends object>(keys: { readonly [K in keyof Required<T>]: true }): readonly string[] {
  return Object.freeze(Object.keys(keys));
}

/**
 * Check an options argument: `undefined` (or omitted) stands for `{}`; anything else must be a
 * plain object whose own keys are all in `keys`. Throws `ConfigError` naming `where` (the options
 * type or field path) and the unknown key. Returns the object (`{}` for undefined).
 */
export function checkOptions<T extends object>(value: T | undefined, where: string, keys: readonly string[]): T {
  if (value === undefined) return {} as T;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(where, `must be an options object, got ${describe(value)}`);
  }
  for (const k of Object.keys(value)) {
    if (!keys.includes(k)) throw new ConfigError(`${where}.${k}`, `unknown option (known: ${keys.join(', ')})`);
  }
  return value;
}

/** A short description of a value for messages (`null`, `an array`, `a string`...). */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  const t = typeof v;
  if (t === 'number') return String(v);
  return t === 'object' ? 'an object' : `a ${t}`;
}

/** Argument checks of facade methods: each throws `RangeArgError` naming `name`, or returns the value. */
export const arg = {
  /**
   * A number, of any value: NaN or an offset out of range is guest input, counted and answered
   * where it is used; only another type (null, a string) is the host's misuse.
   */
  number(name: string, v: unknown): number {
    if (typeof v !== 'number') throw new RangeArgError(`${name}: expected a number, got ${describe(v)}`);
    return v;
  },
  /** A finite number (simulated durations). */
  finite(name: string, v: unknown): number {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeArgError(`${name}: expected a finite number, got ${describe(v)}`);
    return v;
  },
  /** A safe integer. */
  int(name: string, v: unknown): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new RangeArgError(`${name}: expected an integer, got ${describe(v)}`);
    return v;
  },
  /** An access size: 1, 2, 4 or 8. */
  size(name: string, v: unknown): number {
    if (v !== 1 && v !== 2 && v !== 4 && v !== 8) throw new RangeArgError(`${name}: expected 1, 2, 4 or 8, got ${describe(v)}`);
    return v;
  },
  /** A boolean. */
  bool(name: string, v: unknown): boolean {
    if (typeof v !== 'boolean') throw new RangeArgError(`${name}: expected a boolean, got ${describe(v)}`);
    return v;
  },
  /** A string. */
  string(name: string, v: unknown): string {
    if (typeof v !== 'string') throw new RangeArgError(`${name}: expected a string, got ${describe(v)}`);
    return v;
  },
  /** A function. */
  func<F extends (...a: never[]) => unknown>(name: string, v: unknown): F {
    if (typeof v !== 'function') throw new RangeArgError(`${name}: expected a function, got ${describe(v)}`);
    return v as F;
  },
  /** A byte array. */
  bytes(name: string, v: unknown): Uint8Array {
    if (!(v instanceof Uint8Array)) throw new RangeArgError(`${name}: expected a Uint8Array, got ${describe(v)}`);
    return v;
  },
  /** An instance of `cls`. */
  instance<C>(name: string, v: unknown, cls: abstract new (...a: never[]) => C): C {
    if (!(v instanceof cls)) throw new RangeArgError(`${name}: expected a ${cls.name}, got ${describe(v)}`);
    return v;
  },
};
