/**
 * The parts of the v86 emulator (npm `v86`, checked against 0.5.462, source copy/v86 at 71a9784)
 * that the integration uses. v86 has no public device API: these are its internal objects
 * (`emulator.v86.cpu`, `cpu.io`, `cpu.devices.pci`), typed structurally here so gvtkit does not
 * depend on v86 at build time. Facts of v86's behaviour the glue relies on (src/pci.js, src/io.js,
 * src/cpu.js, src/rust/cpu/memory.rs, src/browser/starter.js):
 * - physical memory is a range of the WebAssembly memory (`cpu.wasm_memory`, at `cpu.mem8.byteOffset`,
 *   `cpu.memory_size[0]` bytes; `cpu.mem8` is a Proxy that builds a new view per access because
 *   the memory grows at run time); the JIT writes it directly (no trap), so guest RAM stores never
 *   reach gvtkit;
 * - MMIO is dispatched above the RAM size (and in the VGA hole) through four tables of handlers
 *   indexed by 128 KiB block (`memory_map_read8/write8/read32/write32`), set by `io.mmap_register`;
 *   16-bit writes go through `cpu.mmap_write16`, which v86 splits into two byte writes; 16-bit
 *   reads are two byte reads; 64- and 128-bit writes are 32-bit writes in address order;
 * - the WebAssembly module's imports call `cpu.mmap_write16` and `cpu.run_hardware_timers` by
 *   property lookup, so an instance property replaces them;
 * - PCI config space is a static `Int32Array(64)` per device (`pci.device_spaces[bdf]`) that
 *   `pci_query` answers from; `pci_write8/16/32` store into it themselves (memory BAR changes
 *   are ignored, command register writes are dropped), with no device callback;
 * - INTx: `pci.raise_irq(bdf)` / `pci.lower_irq(bdf)` drive the PIRQ line the ISA bridge routes
 *   the device's pin to; there is no MSI.
 */

/** An MMIO byte reader (v86 passes the full 32-bit physical address). */
export type V86Read8 = (addr: number) => number;
/** An MMIO byte writer. */
export type V86Write8 = (addr: number, value: number) => void;
/** An MMIO 32-bit reader (the result is used as an int32). */
export type V86Read32 = (addr: number) => number;
/** An MMIO 32-bit writer (`value` arrives as an int32). */
export type V86Write32 = (addr: number, value: number) => void;

/** v86's `IO` object (src/io.js). */
export interface V86Io {
  mmap_register(addr: number, size: number, read8: V86Read8, write8: V86Write8, read32?: V86Read32, write32?: V86Write32): void;
}

/** A device as v86's PCI bus registers it. */
export interface V86PciDevice {
  pci_id: number;
  pci_space: number[] | Uint8Array;
  pci_bars: unknown[];
  name: string;
}

/** v86's `PCI` object (src/pci.js). */
export interface V86Pci {
  register_device(device: V86PciDevice): Int32Array;
  device_spaces: (Int32Array | undefined)[];
  devices: (V86PciDevice | undefined)[];
  pci_addr: Uint8Array;
  pci_write8(address: number, value: number): void;
  pci_write16(address: number, value: number): void;
  pci_write32(address: number, value: number): void;
  pci_query(): void;
  raise_irq(bdf: number): void;
  lower_irq(bdf: number): void;
}

/** v86's `CPU` object (src/cpu.js): the members the glue reads or replaces. */
export interface V86Cpu {
  /** A view of guest RAM (in v86 a Proxy that builds a fresh view per access: read `byteOffset` only). */
  mem8: Uint8Array;
  /** The WebAssembly memory that holds guest RAM at `mem8.byteOffset`; its buffer changes when it grows. */
  wasm_memory?: { readonly buffer: ArrayBufferLike };
  memory_size: Uint32Array;
  io: V86Io;
  devices: { pci: V86Pci };
  memory_map_read8: (V86Read8 | undefined)[];
  memory_map_write8: (V86Write8 | undefined)[];
  memory_map_read32: (V86Read32 | undefined)[];
  memory_map_write32: (V86Write32 | undefined)[];
  mmap_write16(addr: number, value: number): void;
  run_hardware_timers(acpiEnabled: boolean, now: number): number;
}

/** The `V86` object the npm package's constructor returns (only `.v86.cpu` is used). */
export interface V86Emulator {
  v86: { cpu: V86Cpu };
}

/** v86's MMIO block size: 128 KiB (const.js MMAP_BLOCK_BITS = 17). */
export const V86_MMAP_BLOCK_BITS = 17;
export const V86_MMAP_BLOCK_SIZE = 1 << V86_MMAP_BLOCK_BITS;
/** v86's SVGA linear frame buffer address (memory.rs VGA_LFB_ADDRESS), served by v86 itself. */
export const V86_VGA_LFB_ADDRESS = 0xe000_0000;
/** From the IOAPIC (0xfec00000) up, v86 serves the addresses itself (IOAPIC, APIC, BIOS). */
export const V86_RESERVED_FROM = 0xfec0_0000;
