/**
 * The host API as a boundary (docs/isolation.md): a destroyed vGPU reaches nothing, one mediator
 * per device, plain-JS misuse throws a `GvtError` (never a raw TypeError), and every options
 * object of the facade refuses an unknown key with a `ConfigError` naming it.
 */
import t from 'tap';
import { Gen9Device } from '../lib/device/device.js';
import { HostMemory, SparseGuestMemory } from '../lib/ept/memory.js';
import { ConfigError, GvtError, StateError } from '../lib/errors.js';
import { Harness } from '../lib/harness/index.js';
import { CommandParser } from '../lib/mediator/parser.js';
import { Mediator } from '../lib/mediator/mediator.js';
import { VGT_PVINFO_PAGE } from '../lib/mediator/pvinfo.js';
import { Vgpu } from '../lib/mediator/vgpu.js';
import { GEN9_ENGINES } from '../lib/device/engines.js';
import { RegisterFile } from '../lib/mmio/index.js';
import { GEN9_REGISTERS } from '../lib/device/registers.js';
import { ContextSwitcher, switchCostModel } from '../lib/scheduler/context-switch.js';
import { createPolicy } from '../lib/scheduler/policies.js';
import { VgpuScheduler } from '../lib/scheduler/vgpu-scheduler.js';

const MiB = 1024 * 1024;
const mem = (): SparseGuestMemory => new SparseGuestMemory(16 * MiB);

/**
 * Methods of `Vgpu.prototype` that are TypeScript-private helpers (not reachable from outside the
 * class). Every other own function or getter of the prototype is part of the handle and is called
 * below on a destroyed vGPU: a method added later is covered without editing this test.
 */
const PRIVATE = new Set([
  'constructor', 'ladderRead', 'ladderWrite', 'execlistHost', 'onG2v', 'createWorkloads', 'readRingContext',
  'checkAlive', 'inLowSlice', 'regRead', 'regWrite', 'deliverInterrupt', 'assignDefaultBars', 'buildStub', 'syncBars',
  'contextControlOf', 'lriShadowRoot',
]);

/** Plausible arguments per method (aimed at the slice's next owner where it matters); others get none. */
function argsFor(name: string, v: Vgpu, off: number): unknown[] {
  const table: Record<string, unknown[]> = {
    mmioRead: [VGT_PVINFO_PAGE, 4],
    mmioWrite: [0x2098, 4, 0],
    mmioWrite64: [0x100000, 0, 0],
    pciConfigRead: [0, 4],
    pciConfigWrite: [4, 2, 0],
    apertureRead: [off, 4],
    apertureWrite: [off, 4, 0xbadbad],
    access: ['mem', v.pci.barAddress(2) + off, 4, true, 0xbadbad],
    guestWrite: [0, new Uint8Array(4).fill(0xee)],
    guestWrite32: [0, 0xbadbad],
    onInterrupt: [() => undefined],
    enterFailsafe: ['stale'],
    resetEngine: [0],
    readGuestGma32: [off],
    writeGuestGma32: [off, 0xbadbad],
    ownsGma: [off, 4],
    auditEnv: [GEN9_ENGINES[0], null],
    raise: [GEN9_ENGINES[0], 1],
    log: ['stale', ''],
    setMonitor: ['D', { modes: [{ width: 1024, height: 768 }] }],
  };
  return table[name] ?? [];
}

t.test('every method of a destroyed vGPU throws E_STATE and touches nothing', async (t) => {
  const proto = Vgpu.prototype as unknown as Record<string, unknown>;
  const names = Object.getOwnPropertyNames(proto).filter((n) => !PRIVATE.has(n));
  t.ok(names.length >= 25, `${names.length} methods and getters of a vGPU handle`);
  // One world: each call must leave it as it was (checked after every call), so the next call sees the same.
  const h = new Harness();
  const victim = h.addGuest({ name: 'victim', ramBytes: 16 * MiB });
  const old = h.addGuest({ name: 'old', ramBytes: 16 * MiB });
  const off = old.vgpu.slices.lowBase + 0x2000;
  old.vgpu.destroy();
  const next = h.addGuest({ name: 'next', ramBytes: 16 * MiB });
  t.equal(next.vgpu.slices.lowBase, old.vgpu.slices.lowBase, 'the next vGPU gets the slice');
  next.vgpu.apertureWrite(off, 4, 0x600d600d);
  for (const name of names) {
    const regs = h.device.regs.regs.slice();
    const frames = h.device.hostMemory.allocatedFrames;
    const counters = JSON.stringify(old.vgpu.counters);
    const events = old.vgpu.events.length;
    const d = Object.getOwnPropertyDescriptor(proto, name)!;
    let err: unknown = null;
    try {
      if (d.get) d.get.call(old.vgpu);
      else (d.value as (...a: unknown[]) => unknown).apply(old.vgpu, argsFor(name, old.vgpu, off));
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof StateError && err.code === 'E_STATE', `${name}: ${err instanceof Error ? err.message : 'returned'}`);
    t.ok(Buffer.from(h.device.regs.regs.buffer).equals(Buffer.from(regs.buffer)), `${name}: host registers untouched`);
    t.equal(h.device.hostMemory.allocatedFrames, frames, `${name}: host frames untouched`);
    t.equal(JSON.stringify(old.vgpu.counters), counters, `${name}: counters untouched`);
    t.equal(old.vgpu.events.length, events, `${name}: event log untouched`);
    t.equal(next.vgpu.apertureRead(off, 4), 0x600d600d, `${name}: the next vGPU's memory untouched`);
    t.equal(victim.vgpu.state, 'active');
  }
});

t.test('a second Mediator on the same device is refused', async (t) => {
  const dev = new Gen9Device({ apertureSize: 1024 * MiB, hostMemorySize: 1024 * MiB });
  const m = new Mediator(dev);
  const v = m.createVgpu({ type: 'GVTg_V5_8', memory: mem() });
  t.throws(() => new Mediator(dev), { code: 'E_STATE' });
  t.equal(m.vgpus.length, 1, 'the first mediator is unchanged');
  t.equal(v.state, 'active');
  t.ok(new Mediator(new Gen9Device({ hostMemorySize: 512 * MiB })), 'another device gets its own mediator');
});

t.test('plain-JS misuse throws a GvtError, never a raw TypeError', async (t) => {
  const dev = new Gen9Device({ apertureSize: 1024 * MiB, hostMemorySize: 1024 * MiB });
  const m = new Mediator(dev);
  const v = m.createVgpu({ type: 'GVTg_V5_8', memory: mem() });
  const any = (x: unknown): never => x as never;
  const cases: [string, () => unknown][] = [
    ['new Gen9Device(null)', () => new Gen9Device(any(null))],
    ['new Gen9Device(5)', () => new Gen9Device(any(5))],
    ['new Gen9Device({ hostMemory: {} })', () => new Gen9Device({ hostMemory: any({}) })],
    ['new Mediator(null)', () => new Mediator(any(null))],
    ['new Mediator({})', () => new Mediator(any({}))],
    ['new Mediator(device, null)', () => new Mediator(new Gen9Device({ hostMemorySize: 512 * MiB }), any(null))],
    ['createVgpu()', () => m.createVgpu(any(undefined))],
    ['createVgpu(null)', () => m.createVgpu(any(null))],
    ['createVgpu without memory', () => m.createVgpu(any({ type: 'GVTg_V5_8' }))],
    ['createVgpu with memory null', () => m.createVgpu(any({ type: 'GVTg_V5_8', memory: null }))],
    ['createVgpu with a number type', () => m.createVgpu(any({ type: 8, memory: mem() }))],
    ['createVgpu with a number name', () => m.createVgpu(any({ type: 'GVTg_V5_8', memory: mem(), name: 5 }))],
    ["vgpu.access('mem', null, ...)", () => v.access('mem', any(null), 4, false)],
    ["vgpu.access('io', ...)", () => v.access(any('io'), 0, 4, false)],
    ['vgpu.mmioRead("x", 4)', () => v.mmioRead(any('x'), 4)],
    ['vgpu.mmioWrite(0, 4, null)', () => v.mmioWrite(0, 4, any(null))],
    ['vgpu.mmioWrite64(0, "a", 0)', () => v.mmioWrite64(0, any('a'), 0)],
    ['vgpu.guestWrite(0, null)', () => v.guestWrite(0, any(null))],
    ['vgpu.guestWrite32("a", 1)', () => v.guestWrite32(any('a'), 1)],
    ['vgpu.onInterrupt(null)', () => v.onInterrupt(any(null))],
    ['vgpu.apertureRead(undefined, 4)', () => v.apertureRead(any(undefined), 4)],
    ['vgpu.pciConfigWrite(4, "x", 1)', () => v.pciConfigWrite(4, any('x'), 1)],
    ['vgpu.resetEngine(99)', () => v.resetEngine(99)],
    ['vgpu.enterFailsafe(5)', () => v.enterFailsafe(any(5))],
    ['mediator.run("x")', () => m.run(any('x'))],
    ['mediator.runUntilIdle(null)', () => m.runUntilIdle(any(null))],
    ['mediator.onWorkloadDone(5)', () => m.onWorkloadDone(any(5))],
    ['device.mmioRead(null, 4)', () => dev.mmioRead(any(null), 4)],
    ['device.apertureWrite(0, 4, "x")', () => dev.apertureWrite(0, 4, any('x'))],
    ['device.onEvent(null)', () => dev.onEvent(any(null))],
    ['device.run(undefined)', () => dev.run(any(undefined))],
    ['new VgpuScheduler(null)', () => new VgpuScheduler(any(null))],
    ['new VgpuScheduler(m, { policy: 5 })', () => new VgpuScheduler(new Mediator(new Gen9Device({ hostMemorySize: 512 * MiB })), any({ policy: 5 }))],
    ['createPolicy("time-slice", null)', () => createPolicy('time-slice', any(null))],
    ['new CommandParser(null)', () => new CommandParser(any(null))],
    ['new HostMemory(null)', () => new HostMemory(any(null))],
  ];
  for (const [what, f] of cases) {
    let err: unknown = null;
    try {
      f();
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof GvtError, `${what}: ${err instanceof Error ? `${err.constructor.name}: ${err.message}` : 'no error'}`);
  }
  t.equal(v.state, 'active', 'the vGPU is unaffected');
});

t.test('every options object of the facade refuses an unknown key, naming it', async (t) => {
  const dev = (): Gen9Device => new Gen9Device({ hostMemorySize: 512 * MiB });
  const bogus = { bogusKey: 1 } as never;
  const cases: [string, (o: never) => unknown][] = [
    ['Gen9DeviceOptions', (o) => new Gen9Device(o)],
    ['Gen9DeviceOptions.cost', (o) => new Gen9Device({ hostMemorySize: 512 * MiB, cost: o })],
    ['MediatorOptions', (o) => new Mediator(dev(), o)],
    ['MediatorOptions.cost', (o) => new Mediator(dev(), { cost: o })],
    ['MediatorOptions.hostReservation', (o) => new Mediator(dev(), { hostReservation: o })],
    ['CommandParserOptions (MediatorOptions.parser)', (o) => new Mediator(dev(), { parser: o })],
    ['CommandParserOptions', (o) => new CommandParser(o)],
    ['CreateVgpuOptions', (o) => new Mediator(dev()).createVgpu({ type: 'GVTg_V5_8', memory: mem(), ...(o as object) })],
    ['VgpuSchedulerOptions', (o) => new VgpuScheduler(new Mediator(dev()), o)],
    ['VgpuSchedulerOptions.switchCost', (o) => new VgpuScheduler(new Mediator(dev()), { switchCost: o })],
    ['VgpuSchedulerOptions.policy', (o) => new VgpuScheduler(new Mediator(dev()), { policy: { name: 'time-slice', ...(o as object) } as never })],
    ['time-slice policy options', (o) => new VgpuScheduler(new Mediator(dev()), { policy: { name: 'time-slice', options: o } })],
    ['throttle policy options', (o) => createPolicy('throttle', o)],
    ['round-robin policy options', (o) => createPolicy('round-robin', o)],
    ['priority policy options', (o) => createPolicy('priority', o)],
    ['ContextSwitcherOptions', (o) => new ContextSwitcher(new RegisterFile(GEN9_REGISTERS), o)],
    ['SwitchCostModel', (o) => switchCostModel(o)],
    ['HostMemoryOptions', (o) => new HostMemory(o)],
    ['HarnessOptions', (o) => new Harness(o)],
    ['GuestOptions', (o) => new Harness().addGuest(o)],
    ['DisplayOptions (CreateVgpuOptions.display)', (o) => new Mediator(dev()).createVgpu({ type: 'GVTg_V5_8', memory: mem(), display: o })],
    ['MonitorSpec', (o) => new Mediator(dev()).createVgpu({ type: 'GVTg_V5_8', memory: mem(), display: { monitors: [{ port: 'D', modes: [{ width: 1024, height: 768 }], ...(o as object) }] } })],
    ['ModeSpec', (o) => new Mediator(dev()).createVgpu({ type: 'GVTg_V5_8', memory: mem(), display: { monitors: [{ port: 'D', modes: [{ width: 1024, height: 768, ...(o as object) }] }] } })],
    ['MonitorConfig (Vgpu.setMonitor)', (o) => new Harness().addGuest().vgpu.setMonitor('B', { modes: [{ width: 1024, height: 768 }], ...(o as object) })],
  ];
  for (const [what, f] of cases) {
    let err: unknown = null;
    try {
      f(bogus);
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof ConfigError && err.code === 'E_CONFIG' && err.field.endsWith('bogusKey'), `${what}: ${err instanceof Error ? err.message : 'accepted'}`);
  }
});
