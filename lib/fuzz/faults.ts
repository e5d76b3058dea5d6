/**
 * Fault injectors for tests of recovery paths, beyond `HostMemory.failAllocations` (which fails
 * the next N allocations): fail exactly the n-th allocation from now, to walk a failure through
 * every step of a shadowing sequence.
 */
import { NoResourceError } from '../errors.js';
import type { HostMemory } from '../ept/memory.js';

/** A fault injector installed on one host memory; `restore()` removes it. */
export interface AllocationFault {
  /** Allocations attempted since installation. */
  readonly calls: number;
  /** Allocations made to fail. */
  readonly failed: number;
  restore(): void;
}

/**
 * Make allocations number `at` .. `at + count - 1` (1-based, counted from now) of `host` fail as
 * if host memory were exhausted (`NoResourceError`, as `failAllocations` does). Frames adopted for
 * guest RAM (`adoptFrame`) count too: they allocate through `allocFrame`.
 */
export function failAllocationAt(host: HostMemory, at: number, count = 1): AllocationFault {
  const original = Object.prototype.hasOwnProperty.call(host, 'allocFrame') ? host.allocFrame : null;
  const proto = Object.getPrototypeOf(host) as HostMemory;
  const state = { calls: 0, failed: 0 };
  host.allocFrame = function allocFrame(this: HostMemory): number {
    const n = ++state.calls;
    if (n >= at && n < at + count) {
      state.failed++;
      throw new NoResourceError('host-memory', 1, `host frame allocation #${n} failed (injected)`);
    }
    return (original ?? proto.allocFrame).call(this);
  };
  return {
    get calls() {
      return state.calls;
    },
    get failed() {
      return state.failed;
    },
    restore() {
      if (original) host.allocFrame = original;
      else delete (host as { allocFrame?: unknown }).allocFrame;
    },
  };
}
