/**
 * lib/ept: guest memory, host memory, the per-VM EPT (gfn → mfn, permissions, write-protect
 * traps, dirty log) and the gVirt trap stub (region table → handlers).
 */
export { SparsePages, SparseGuestMemory, HostMemory } from './memory.js';
export type { MemoryAccess, GuestMemory, HostMemoryOptions } from './memory.js';
export { Ept, EPT_READ, EPT_WRITE, EPT_RW, PIN_INVALID, PIN_NO_MEMORY, GUEST_WRITES, isPagedGuestMemory } from './ept.js';
export type { PagedGuestMemory, WriteTrapHandler, UnmapListener, EptCounters, EptOptions, GuestWrites } from './ept.js';
export { TrapStub } from './stub.js';
export type {
  StubSpace, RegionHandler, RegionSpec, EmulatedRegionSpec, PassthroughRegionSpec,
  RegionCounters, StubCounters, RegionInfo,
} from './stub.js';
