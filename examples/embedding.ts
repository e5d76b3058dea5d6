// An emulator embeds gvtkit: one device, a mediator, a guest with its RAM; the emulator routes
// the guest's BAR0 accesses and RAM stores to the vGPU and receives its virtual interrupts.
import { Gen9Device, Mediator, SparseGuestMemory } from 'gvtkit';

const device = new Gen9Device({ apertureSize: 512 * 1024 * 1024 });
const mediator = new Mediator(device);
const memory = new SparseGuestMemory(256 * 1024 * 1024);
const vgpu = mediator.createVgpu({ type: 'GVTg_V5_4', memory });
vgpu.onInterrupt((pending) => console.log(`virtual interrupt, master pending 0x${pending.toString(16)}`));

// The guest driver's first steps, as i915 does them: find the PVINFO magic, read its slices.
const PVINFO = 0x78000;
const magic = [vgpu.mmioRead(PVINFO, 4), vgpu.mmioRead(PVINFO + 4, 4)];
console.log(`PVINFO magic ${magic.map((x) => x.toString(16)).join(':')}, vGPU id ${vgpu.mmioRead(PVINFO + 0xc, 4)}`);
const lowBase = vgpu.mmioRead(PVINFO + 0x40, 4);
const lowSize = vgpu.mmioRead(PVINFO + 0x44, 4);
console.log(`aperture slice 0x${lowBase.toString(16)} + ${lowSize >>> 20} MiB`);

// The guest maps one page of its RAM at the start of its slice: an 8-byte GGTT entry write
// through BAR0 + 8 MiB. The mediator validates it and writes the host GGTT.
const gpa = 0x10_0000;
vgpu.mmioWrite(8 * 1024 * 1024 + (lowBase / 4096) * 8, 8, gpa | 1);
// The host sees a different frame: the guest page, pinned and translated.
const hostPte = device.mmioRead(8 * 1024 * 1024 + (lowBase / 4096) * 8, 4);
console.log(`guest PTE → frame 0x${(gpa / 4096).toString(16)}, host PTE → frame 0x${(hostPte >>> 12).toString(16)}`);

// A store through the aperture reaches the guest's RAM.
vgpu.apertureWrite(lowBase + 16, 4, 0xc0ffee);
console.log(`guest RAM at 0x${(gpa + 16).toString(16)}: 0x${memory.read32(gpa + 16).toString(16)}`);

mediator.runUntilIdle();
vgpu.destroy();
