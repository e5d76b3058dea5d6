// The v86 glue against a model of v86's internals (the parts v86-types.ts names, with v86's own
// behaviour: 128 KiB MMIO blocks, a static config array answered by pci_query, 16-bit MMIO
// writes split into bytes by cpu.mmap_write16, INTx through pci.raise_irq/lower_irq).
import t from 'tap';
import { Gen9Device, Mediator, ConfigError, RangeArgError, GEN9_ENGINES, EngineIrq, REG, gtIer, gtIir, gtImr } from '../lib/index.js';
import { attachV86Vgpu, type V86Emulator } from '../lib/integrations/v86/index.js';
import { V86_MMAP_BLOCK_BITS } from '../lib/integrations/v86/v86-types.js';

const RAM = 64 * 1024 * 1024;
const BLOCKS = 2 ** (32 - V86_MMAP_BLOCK_BITS);

type Fn = (...a: number[]) => number | void;

function fakeV86() {
  const mem8 = new Uint8Array(RAM);
  const unmapped8 = (): number => 0xff;
  const unmappedW = (): void => {};
  const unmapped32 = (): number => -1;
  const cpu = {
    mem8,
    memory_size: new Uint32Array([RAM]),
    memory_map_read8: new Array<Fn | undefined>(BLOCKS),
    memory_map_write8: new Array<Fn | undefined>(BLOCKS),
    memory_map_read32: new Array<Fn | undefined>(BLOCKS),
    memory_map_write32: new Array<Fn | undefined>(BLOCKS),
    io: {
      mmap_register(addr: number, size: number, r8: Fn, w8: Fn, r32?: Fn, w32?: Fn): void {
        for (let b = addr >>> V86_MMAP_BLOCK_BITS; size > 0; b++, size -= 1 << V86_MMAP_BLOCK_BITS) {
          cpu.memory_map_read8[b] = r8;
          cpu.memory_map_write8[b] = w8;
          cpu.memory_map_read32[b] = r32;
          cpu.memory_map_write32[b] = w32;
        }
      },
    },
    irq: [] as string[],
    bytes16: [] as number[],
    timers: 0,
    mmap_write16(addr: number, value: number): void {
      // v86: two byte writes through the block's write8 handler.
      const fn = cpu.memory_map_write8[addr >>> V86_MMAP_BLOCK_BITS]!;
      cpu.bytes16.push(addr);
      fn(addr, value & 0xff);
      fn(addr + 1, value >> 8);
    },
    run_hardware_timers(_acpi: boolean, _now: number): number {
      cpu.timers++;
      return 50;
    },
    devices: { pci: null as unknown as ReturnType<typeof fakePci> },
  };
  cpu.io.mmap_register(RAM, 2 ** 32 - RAM, unmapped8, unmappedW, unmapped32, unmappedW);
  for (let b = 0; b < RAM >>> V86_MMAP_BLOCK_BITS; b++) cpu.memory_map_read8[b] = undefined;
  cpu.devices.pci = fakePci(cpu.irq);
  return { emulator: { v86: { cpu } } as unknown as V86Emulator, cpu, read32: (a: number) => cpu.memory_map_read32[a >>> V86_MMAP_BLOCK_BITS]!(a) as number, write32: (a: number, v: number) => cpu.memory_map_write32[a >>> V86_MMAP_BLOCK_BITS]!(a, v | 0) };
}

function fakePci(irq: string[]) {
  const pci = {
    device_spaces: new Array<Int32Array | undefined>(256),
    devices: new Array<{ name: string } | undefined>(256),
    pci_addr: new Uint8Array(4),
    response: 0,
    register_device(d: { pci_id: number; pci_space: Uint8Array | number[]; name: string }): Int32Array {
      const space = new Int32Array(64);
      space.set(new Int32Array(new Uint8Array(d.pci_space).buffer));
      pci.device_spaces[d.pci_id] = space;
      pci.devices[d.pci_id] = d;
      return space;
    },
    // v86 stores into its static array itself (and ignores memory BAR moves): the glue replaces these.
    pci_write8(address: number, v: number): void { new Uint8Array(pci.device_spaces[address >> 8 & 0xffff]!.buffer)[address & 0xff] = v; },
    pci_write16(address: number, v: number): void { new Uint16Array(pci.device_spaces[address >> 8 & 0xffff]!.buffer)[(address & 0xff) >> 1] = v; },
    pci_write32(address: number, v: number): void { pci.device_spaces[address >> 8 & 0xffff]![(address & 0xff) >> 2] = v; },
    pci_query(): void {
      const bdf = (pci.pci_addr[2] << 8) | pci.pci_addr[1];
      const s = pci.device_spaces[bdf];
      pci.response = s ? s[pci.pci_addr[0] >> 2] >>> 0 : 0xffffffff;
    },
    raise_irq(bdf: number): void { irq.push(`up ${bdf}`); },
    lower_irq(bdf: number): void { irq.push(`down ${bdf}`); },
  };
  pci.register_device({ pci_id: 0, pci_space: new Uint8Array(64), name: 'host bridge' });
  return pci;
}

/** A config read as the guest does it through 0xcf8/0xcfc: set the address, v86 queries. */
function cfgRead(cpu: ReturnType<typeof fakeV86>['cpu'], bdf: number, offset: number): number {
  const p = cpu.devices.pci;
  p.pci_addr[0] = offset & 0xfc;
  p.pci_addr[1] = bdf & 0xff;
  p.pci_addr[2] = bdf >> 8;
  p.pci_addr[3] = 0x80;
  p.pci_query();
  return p.response;
}
const cfgWrite32 = (cpu: ReturnType<typeof fakeV86>['cpu'], bdf: number, offset: number, v: number): void => cpu.devices.pci.pci_write32(0x8000_0000 | (bdf << 8) | offset, v | 0);

function setup() {
  const device = new Gen9Device({ apertureSize: 256 * 1024 * 1024 });
  const mediator = new Mediator(device);
  const v = fakeV86();
  const a = attachV86Vgpu(v.emulator, { mediator });
  return { device, mediator, ...v, a };
}

t.test('the vGPU sits at 00:02.0 with its own config space, BARs below 4 GiB', async (t) => {
  const { cpu, a } = setup();
  t.equal(a.bdf, 0x10);
  t.equal(cfgRead(cpu, 0x10, 0) & 0xffff, 0x8086, 'Intel vendor id through v86\'s config path');
  t.equal(cfgRead(cpu, 0x10, 0), a.vgpu.pciConfigRead(0, 4), 'ids are the vGPU\'s');
  t.equal(cfgRead(cpu, 0x10, 0x50), a.vgpu.pciConfigRead(0x50, 4), 'GGC (what i915 reads for the GTT size) is the vGPU\'s');
  t.same(a.bars, { bar0: 0xd000_0000, bar2: 0xc000_0000 });
  t.equal((cfgRead(cpu, 0x10, 0x10) & 0xfffffff0) >>> 0, 0xd000_0000);
  t.equal(cfgRead(cpu, 0x10, 0x14), 0, 'BAR0 high dword 0');
  t.equal(a.vgpu.guestWrites, 'untrapped', 'v86\'s JIT stores into RAM without traps: the shadow PPGTT resyncs per submission');
});

t.test('MMIO reaches the vGPU: PVINFO magic, GTT window, aperture outside the slice', async (t) => {
  const { read32, write32, a } = setup();
  t.equal(read32(0xd000_0000 + 0x78000) >>> 0, a.vgpu.mmioRead(0x78000, 4), 'PVINFO magic low dword');
  t.equal(read32(0xd000_0000 + 0x78000) >>> 0, 0x76544776, 'VGT_MAGIC low dword');
  // A plain register written by the guest reads back.
  write32(0xd000_0000 + 0x2054, 0x1234_5678);
  t.equal(a.vgpu.mmioRead(0x2054, 4), 0x1234_5678);
  t.equal(a.stats.mmioWrites, 1);
  t.ok(a.stats.mmioReads >= 1);
});

t.test('16-bit MMIO writes v86 splits into bytes arrive as one 16-bit access', async (t) => {
  const { cpu, a } = setup();
  const before = { writes: a.vgpu.counters.mmioWrites, refused: a.vgpu.vregs.stats.refused };
  cpu.mmap_write16(0xd000_0000 + 0x2054, 0xbeef);
  t.equal(a.vgpu.counters.mmioWrites - before.writes, 1, 'the vGPU saw one access');
  // RING_MAX_IDLE takes dword accesses only (GVT-g F_UNALIGN is not set): one 2-byte access
  // refused, where two byte writes would have been two refusals.
  t.equal(a.vgpu.vregs.stats.refused - before.refused, 1, 'one 2-byte access');
  t.equal(a.stats.merged16, 1);
  t.equal(cpu.bytes16.length, 0, 'not split: the glue took the write before v86 split it');
  t.equal(a.stats.mmioWrites, 1, 'one access, not two');
  // Outside the BARs v86's own path runs.
  cpu.mmap_write16(0xe800_0000, 0x1111);
  t.equal(cpu.bytes16.length, 1);
});

t.test('BAR sizing, moves that v86 can decode, moves it cannot, decode off and on', async (t) => {
  const { cpu, read32, a } = setup();
  cfgWrite32(cpu, 0x10, 0x10, 0xffff_ffff);
  t.equal((cfgRead(cpu, 0x10, 0x10) & 0xfffffff0) >>> 0, 0xff00_0000, 'BAR0 sizes as 16 MiB');
  t.same(a.bars, { bar0: 0xd000_0000, bar2: 0xc000_0000 }, 'a sizing probe is not a move');
  cfgWrite32(cpu, 0x10, 0x10, 0xd000_0000 | 0xc);
  t.same(a.bars, { bar0: 0xd000_0000, bar2: 0xc000_0000 });

  cfgWrite32(cpu, 0x10, 0x10, 0xd200_000c);
  t.same(a.bars, { bar0: 0xd200_0000, bar2: 0xc000_0000 }, 'followed');
  t.equal(read32(0xd200_0000 + 0x78000) >>> 0, 0x76544776, 'the registers answer at the new place');
  t.equal(read32(0xd000_0000 + 0x78000), -1, 'the old place is unmapped again');

  cfgWrite32(cpu, 0x10, 0x10, 0x0100_000c); // inside RAM: v86 would serve RAM there
  t.equal(a.stats.barMovesRefused, 1);
  t.equal((cfgRead(cpu, 0x10, 0x10) & 0xfffffff0) >>> 0, 0xd200_0000, 'a refused move reads back where the BAR is');
  t.equal(read32(0xd200_0000 + 0x78000) >>> 0, 0x76544776);

  cfgWrite32(cpu, 0x10, 0x10, 0xc800_000c); // inside BAR2
  t.equal(a.stats.barMovesRefused, 2, 'over the aperture: refused');

  cfgWrite32(cpu, 0x10, 0x04, 0); // decode off
  t.same(a.bars, { bar0: null, bar2: null });
  t.equal(read32(0xd200_0000 + 0x78000), -1);
  cfgWrite32(cpu, 0x10, 0x04, 0x6);
  t.same(a.bars, { bar0: 0xd200_0000, bar2: 0xc000_0000 });
});

t.test('INTx follows the vGPU\'s line: up on an interrupt, down when the guest acknowledges', async (t) => {
  const { cpu, read32, write32, a } = setup();
  const base = 0xd000_0000;
  const rcs = GEN9_ENGINES[0];
  write32(base + gtIer(rcs.irqBank), 0xffff_ffff);
  write32(base + gtImr(rcs.irqBank), 0);
  write32(base + rcs.mmioBase + 0xa8, 0); // RING_IMR
  write32(base + REG.GEN8_MASTER_IRQ, 0x8000_0000);
  a.vgpu.irq.raise(rcs, EngineIrq.USER);
  t.same(cpu.irq, ['up 16']);
  t.ok(read32(base + REG.GEN8_MASTER_IRQ) & 1, 'master shows the render bank pending');
  // i915's gen8 handler: master off, ack the IIR, master on.
  write32(base + REG.GEN8_MASTER_IRQ, 0);
  t.same(cpu.irq, ['up 16', 'down 16'], 'line drops with the master enable');
  write32(base + gtIir(rcs.irqBank), read32(base + gtIir(rcs.irqBank)));
  write32(base + REG.GEN8_MASTER_IRQ, 0x8000_0000);
  t.same(cpu.irq, ['up 16', 'down 16'], 'acknowledged: stays down');
  t.equal(a.stats.irqRaised, 1);
  t.equal(a.stats.irqLowered, 1);
});

t.test('the mediator\'s clock follows v86\'s, capped per step', async (t) => {
  const { cpu, device, a } = setup();
  const t0 = device.clock.now;
  t.equal(cpu.run_hardware_timers(false, 1000), 50, 'no device event pending: v86\'s own sleep');
  cpu.run_hardware_timers(false, 1005);
  t.equal(device.clock.now - t0, 5e6, '5 ms of v86 time is 5 ms of simulated time');
  cpu.run_hardware_timers(false, 61005);
  t.equal(device.clock.now - t0, 5e6 + 20e6, 'a 60 s stall advances one capped step');
  t.equal(a.stats.advancedNs, 25e6);
  t.ok(cpu.timers >= 3, 'v86\'s own timers still run');
});

t.test('detach restores v86 and destroys the vGPU; bad attachments are refused', async (t) => {
  const { cpu, read32, a, mediator, emulator } = setup();
  const w16 = cpu.devices.pci.pci_write32;
  a.detach();
  t.equal(a.vgpu.state, 'destroyed');
  t.equal(read32(0xd000_0000), -1, 'blocks unmapped');
  t.not(cpu.devices.pci.pci_write32, w16, 'config hooks removed');
  t.equal(cpu.devices.pci.devices[0x10], undefined);
  t.throws(() => attachV86Vgpu({} as V86Emulator, { mediator }), ConfigError);
  t.throws(() => attachV86Vgpu(emulator, { mediator, slot: 0 }), RangeArgError);
  t.throws(() => attachV86Vgpu(emulator, { mediator, bar0: 2 ** 33 }), RangeArgError);
  const b = attachV86Vgpu(emulator, { mediator });
  t.throws(() => attachV86Vgpu(emulator, { mediator }), ConfigError, 'slot taken');
  b.detach();
});

t.test('a guest RAM buffer that is replaced (a WebAssembly memory that grew) is followed', async (t) => {
  const { ArrayGuestMemory } = await import('../lib/integrations/v86/index.js');
  let buf = new ArrayBuffer(8 * 1024 * 1024 + 4096);
  const mem = new ArrayGuestMemory(() => buf, 4096, 8 * 1024 * 1024);
  const device = new Gen9Device({ apertureSize: 256 * 1024 * 1024 });
  const mediator = new Mediator(device);
  const vgpu = mediator.createVgpu({ type: 'GVTg_V5_4', memory: mem });
  const lowBase = vgpu.mmioRead(0x78040, 4);
  // Map guest page 0x100 at the start of the vGPU's aperture slice and write through it.
  vgpu.mmioWrite(8 * 1024 * 1024 + (lowBase / 4096) * 8, 8, 0x10_0000 | 1);
  vgpu.apertureWrite(lowBase + 8, 4, 0x1111_1111);
  t.equal(mem.read32(0x10_0008), 0x1111_1111);
  // The memory grows: a new buffer with the same bytes; the old one is detached.
  const grown = new ArrayBuffer(buf.byteLength * 2);
  new Uint8Array(grown).set(new Uint8Array(buf));
  buf = grown;
  t.equal(mem.refresh(), true, 'noticed');
  t.equal(mem.refresh(), false, 'once');
  t.equal(vgpu.guestMemoryMoved(), 1, 'the one adopted frame re-pointed (no page tables shadowed)');
  vgpu.apertureWrite(lowBase + 12, 4, 0x2222_2222);
  t.equal(new DataView(buf).getUint32(4096 + 0x10_000c, true), 0x2222_2222, 'the device writes into the new buffer');
  t.equal(vgpu.apertureRead(lowBase + 8, 4), 0x1111_1111, 'and reads the bytes that moved');
  t.throws(() => new ArrayGuestMemory(() => buf, 2, 4096), ConfigError, 'misaligned');
  t.throws(() => new ArrayGuestMemory(() => buf, 0, 4095), ConfigError, 'not whole pages');
  t.throws(() => new ArrayGuestMemory(() => buf, 0, 2 ** 30), ConfigError, 'beyond its buffer');
});

t.test('syncGuestMemory: a host read after v86 grew its memory sees the moved bytes, not the detached buffer', async (t) => {
  let buf = new ArrayBuffer(RAM + 4096);
  const v = fakeV86();
  const cpu = v.cpu as typeof v.cpu & { wasm_memory: { readonly buffer: ArrayBuffer } };
  cpu.mem8 = new Uint8Array(buf, 4096, RAM);
  cpu.wasm_memory = { get buffer() { return buf; } };
  const mediator = new Mediator(new Gen9Device({ apertureSize: 256 * 1024 * 1024 }));
  const a = attachV86Vgpu(v.emulator, { mediator });
  const bar0 = a.bars.bar0!;
  const lowBase = v.read32(bar0 + 0x78040) >>> 0;
  // The guest maps its page 0x100 at the start of its aperture slice (through BAR0's GTT window) and stores into it.
  const pte = bar0 + 8 * 1024 * 1024 + (lowBase / 4096) * 8;
  v.write32(pte, 0x10_0000 | 1);
  v.write32(pte + 4, 0);
  new DataView(buf).setUint32(4096 + 0x10_0010, 0x1234_5678, true);
  t.equal(a.vgpu.readGuestGma32(lowBase + 0x10), 0x1234_5678, 'read through the vGPU');
  // v86 grows its memory: a new buffer with the same bytes, the old one detached.
  const grown = new ArrayBuffer(buf.byteLength * 2);
  new Uint8Array(grown).set(new Uint8Array(buf));
  structuredClone(buf, { transfer: [buf] });
  buf = grown;
  new DataView(buf).setUint32(4096 + 0x10_0014, 0x9abc_def0, true);
  t.equal(a.syncGuestMemory(), true, 'the host notices the new buffer');
  t.equal(a.syncGuestMemory(), false, 'once');
  t.equal(a.vgpu.readGuestGma32(lowBase + 0x10), 0x1234_5678, 'the bytes that moved');
  t.equal(a.vgpu.readGuestGma32(lowBase + 0x14), 0x9abc_def0, 'and what the guest stored after the move');
  a.detach();
  t.equal(a.syncGuestMemory(), false, 'a detached attachment does nothing');
});
