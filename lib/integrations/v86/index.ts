/**
 * gvtkit in the v86 emulator: `attachV86Vgpu` puts a vGPU on v86's PCI bus (see attach.ts), and
 * `ArrayGuestMemory` gives the mediator an emulator's own RAM array. Importable as `gvtkit/v86`.
 */
export { attachV86Vgpu, V86Vgpu } from './attach.js';
export type { V86AttachOptions, V86AttachStats } from './attach.js';
export { ArrayGuestMemory } from './memory.js';
export type { V86Emulator, V86Cpu, V86Pci, V86Io, V86PciDevice } from './v86-types.js';
