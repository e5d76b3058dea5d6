import t from 'tap';
import fc from 'fast-check';
import {
  buildCommandTable,
  commandId,
  commandName,
  CommandDecoder,
  CommandFlag,
  COMMANDS,
  DecodeError,
  encodeHeader,
  EngineClass,
  EngineMask,
  findCommand,
  gen9CommandDefs,
  parseEngineClass,
  engineClassName,
  type CommandDef,
  type CommandInfo,
  type EngineClass as Engine,
} from '../lib/device/commands/index.js';
import { GEN9_GENXML_INSTRUCTIONS } from '../lib/device/commands/gen9-genxml.js';
import { TableError } from '../lib/errors.js';

const ENGINES: Engine[] = [EngineClass.RCS, EngineClass.BCS, EngineClass.VCS, EngineClass.VECS];

/** Slow reference: a linear scan of the table and the documented generic rules. */
function reference(dw0: number, engine: Engine): { id: number; length: number } {
  for (const c of COMMANDS) {
    if ((c.engines & (1 << engine)) && ((dw0 & c.mask) >>> 0) === c.match) {
      return { id: c.id, length: typeof c.length === 'number' ? c.length : (dw0 & c.length.mask) + c.length.bias };
    }
  }
  const type = dw0 >>> 29;
  if (type === 0) return { id: -1, length: ((dw0 >>> 23) & 0x3f) < 0x10 ? 1 : (dw0 & 0xff) + 2 };
  if (type === 2) return { id: -1, length: (dw0 & 0xff) + 2 };
  if (type === 3) return { id: -1, length: (dw0 & (engine >= EngineClass.VCS ? 0xfff : 0xff)) + 2 };
  return { id: -1, length: 0 };
}

/** Lengths worth trying for a row: its fixed length, or bias, nominal and the field's maximum. */
function lengthsOf(c: CommandInfo): number[] {
  if (typeof c.length === 'number') return [c.length];
  const { mask, bias } = c.length;
  const out = new Set([bias, bias + 1, bias + mask]);
  if (c.nominalLength >= bias && c.nominalLength - bias <= mask) out.add(c.nominalLength);
  return [...out];
}

t.test('engine names', async (t) => {
  t.equal(EngineClass.RCS, 0);
  t.equal(EngineClass.BCS, 1);
  t.equal(EngineClass.VCS, 2);
  t.equal(EngineClass.VECS, 3);
  for (const e of ENGINES) t.equal(parseEngineClass(engineClassName(e)), e);
  t.equal(parseEngineClass('VECS'), EngineClass.VECS);
  t.equal(parseEngineClass('vcs2'), EngineClass.VCS, 'VCS2 decodes as the VCS class');
  t.equal(parseEngineClass('gpu'), undefined);
});

t.test('every genxml instruction is in the table on its engine', async (t) => {
  t.equal(GEN9_GENXML_INSTRUCTIONS.length, 227, 'all <instruction> elements of gen9.xml');
  const engineOf = { render: EngineMask.RCS, blitter: EngineMask.BCS, video: EngineMask.VCS, 'render|blitter': EngineMask.RCS | EngineMask.BCS, all: EngineMask.ALL };
  for (const [name, match, mask, engine, lengthMask, bias, nominal] of GEN9_GENXML_INSTRUCTIONS) {
    const c = findCommand(name);
    if (!c) {
      t.fail(`${name} missing`);
      continue;
    }
    t.equal(c.source, 'genxml');
    t.equal(c.match, match >>> 0, `${name} match`);
    t.equal(c.mask, mask >>> 0, `${name} mask`);
    t.ok((c.engines & engineOf[engine]) === engineOf[engine], `${name} exists on genxml's engines`);
    if (lengthMask === 0) t.equal(c.length, nominal, `${name} fixed length`);
    else t.same(c.length, { mask: lengthMask, bias }, `${name} length field`);
  }
  const xy = COMMANDS.filter((c) => c.name.startsWith('XY_'));
  t.equal(xy.length, 24, 'the XY_* commands of GVT-g cmd_info[]');
  for (const c of xy) t.equal(c.engines, EngineMask.BCS, `${c.name} on BCS only`);
});

t.test('length rules and facts the brief and GVT-g name', async (t) => {
  const len = (name: string) => findCommand(name)!.length;
  t.same(len('MI_STORE_DATA_IMM'), { mask: 0x3ff, bias: 2 });
  t.same(len('MI_UPDATE_GTT'), { mask: 0x3ff, bias: 2 });
  t.same(len('MI_CLFLUSH'), { mask: 0x3ff, bias: 2 });
  t.same(len('MI_FLUSH_DW'), { mask: 0x3f, bias: 2 });
  t.same(len('MI_LOAD_REGISTER_IMM'), { mask: 0xff, bias: 2 });
  t.same(len('MI_BATCH_BUFFER_START'), { mask: 0xff, bias: 2 });
  t.equal(len('MI_NOOP'), 1);
  t.equal(len('PIPELINE_SELECT'), 1);
  for (const c of COMMANDS) {
    if (c.type === 0 && ((c.match >>> 23) & 0x3f) < 0x10) t.equal(c.length, 1, `${c.name}: MI opcode < 0x10 is one dword`);
  }
  t.equal(findCommand('MI_BATCH_BUFFER_START')!.match, 0x18800000);
  t.equal(findCommand('PIPE_CONTROL')!.match, 0x7a000000);
  t.equal(findCommand('3DPRIMITIVE')!.match, 0x7b000000);
  t.equal(findCommand('XY_SRC_COPY_BLT')!.match, 0x54c00000);
  t.equal(findCommand('XY_COLOR_BLT')!.match, 0x54000000);
  t.equal(findCommand('MFX_WAIT')!.match, 0x68000000);
  t.equal(findCommand('MI_FLUSH_DW')!.engines, EngineMask.ALL, 'every ring, as GVT-g (R_ALL)');
  t.equal(findCommand('MI_NOOP')!.engines, EngineMask.ALL);
  t.ok(findCommand('MI_BATCH_BUFFER_START')!.flags & CommandFlag.BATCH_START);
  t.ok(findCommand('MI_BATCH_BUFFER_END')!.flags & CommandFlag.BATCH_END);
  t.ok(findCommand('MI_STORE_DATA_INDEX')!.flags & CommandFlag.HWSP_INDEX);
  t.same(findCommand('MI_STORE_DATA_INDEX')!.addressDwords, []);
  t.ok(findCommand('MI_LOAD_REGISTER_IMM')!.flags & CommandFlag.REGISTER_PAIRS);
  t.same(findCommand('MI_LOAD_REGISTER_REG')!.addressDwords, []);
  t.same(findCommand('MI_LOAD_REGISTER_REG')!.registerDwords, [1, 2]);
  for (const name of ['MI_SEMAPHORE_WAIT', 'MI_REPORT_PERF_COUNT', 'MI_STORE_DATA_INDEX', 'MI_CLFLUSH', 'MI_CONDITIONAL_BATCH_BUFFER_END', 'MI_UPDATE_GTT', 'MI_COPY_MEM_MEM']) {
    t.ok(findCommand(name)!.flags & CommandFlag.GVT_REFUSES, `${name}: GVT-g refuses it`);
  }
  const addr = (name: string) => findCommand(name)!.addressDwords!.map((a) => [a.dword, a.is64]);
  t.same(addr('MI_BATCH_BUFFER_START'), [[1, true]]);
  t.same(addr('MI_STORE_DATA_IMM'), [[1, true]]);
  t.same(addr('MI_STORE_REGISTER_MEM'), [[2, true]]);
  t.same(addr('MI_LOAD_REGISTER_MEM'), [[2, true]]);
  t.same(addr('MI_FLUSH_DW'), [[1, true]]);
  t.same(addr('PIPE_CONTROL'), [[2, true]]);
  t.same(addr('XY_COLOR_BLT'), [[4, true]]);
  t.same(addr('XY_SRC_COPY_BLT'), [[4, true], [8, true]]);
  t.same(addr('MI_COPY_MEM_MEM'), [[1, true], [3, true]]);
  t.same(addr('MI_REPORT_PERF_COUNT'), [[1, true]]);
  t.same(addr('MI_CONDITIONAL_BATCH_BUFFER_END'), [[2, true]]);
  t.same(addr('MI_SEMAPHORE_WAIT'), [[2, true]]);
  t.same(addr('MI_ATOMIC'), [[1, true]]);
  t.same(addr('MI_UPDATE_GTT'), [[1, false]]);
  t.ok(findCommand('PIPE_CONTROL')!.addressDwords![0].postSyncOnly);
  t.same(findCommand('MI_BATCH_BUFFER_START')!.addressDwords![0].space, { dword: 0, bit: 8, ggttWhenSet: false });
  t.same(findCommand('MI_STORE_DATA_IMM')!.addressDwords![0].space, { dword: 0, bit: 22, ggttWhenSet: true });
  for (const c of COMMANDS) {
    if (c.addressDwords?.length) t.ok(c.flags & CommandFlag.HAS_ADDRESS, `${c.name} flags its addresses`);
  }
  t.equal(commandName(commandId('MI_NOOP')), 'MI_NOOP');
  t.equal(commandName(-1), 'UNKNOWN');
  t.throws(() => commandId('MI_NOPE'), { code: 'E_RANGE' });
});

t.test('the decoder on every table entry, on every engine it exists on', async (t) => {
  const d = new CommandDecoder();
  let checked = 0;
  for (const c of COMMANDS) {
    for (const e of ENGINES) {
      if (!(c.engines & (1 << e))) continue;
      for (const n of lengthsOf(c)) {
        const buf = new Uint32Array(n + 1).fill(0xa5a5a5a5);
        buf[0] = encodeHeader(c.name, n);
        const len = d.decode(buf, 0, n, e);
        if (d.id !== c.id || len !== n || d.error !== DecodeError.OK || d.length !== n) {
          t.fail(`${c.name} on ${engineClassName(e)} length ${n}: id ${d.id} (${commandName(d.id)}) len ${len} error ${d.error}`);
        }
        checked++;
      }
    }
  }
  t.ok(checked > 600, `${checked} header/engine/length cases decoded`);
});

t.test('the decoder agrees with a linear-scan reference on random headers', async (t) => {
  const d = new CommandDecoder();
  const buf = new Uint32Array(0x10010);
  // Headers near real ones (a random row with random free bits) and fully random ones.
  const nearReal = fc.tuple(fc.integer({ min: 0, max: COMMANDS.length - 1 }), fc.integer({ min: 0, max: 0xffffffff })).map(
    ([id, noise]) => (COMMANDS[id].match | (noise & ~COMMANDS[id].mask)) >>> 0,
  );
  fc.assert(
    fc.property(fc.oneof(nearReal, fc.integer({ min: 0, max: 0xffffffff })), fc.constantFrom(...ENGINES), (dw0, e) => {
      buf[0] = dw0;
      const len = d.decode(buf, 0, buf.length, e);
      const ref = reference(dw0, e);
      if (len !== ref.length || d.id !== ref.id) return false;
      return d.error === (ref.id < 0 ? DecodeError.UNKNOWN_COMMAND : DecodeError.OK);
    }),
    { numRuns: 20000 },
  );
  t.pass('20000 headers agree');
});

t.test('unknown opcodes per command type', async (t) => {
  const d = new CommandDecoder();
  const one = (dw0: number, e: Engine) => {
    const buf = new Uint32Array(0x1100);
    buf[0] = dw0;
    const len = d.decode(buf, 0, buf.length, e);
    return { len, id: d.id, error: d.error };
  };
  // MI: opcode 0x06 (MI_RS_CONTROL, RCS only) is unknown on BCS and has no length field; 0x3f takes the 8-bit field.
  t.same(one((0x06 << 23) | 0x7f, EngineClass.BCS), { len: 1, id: -1, error: DecodeError.UNKNOWN_COMMAND });
  t.same(one((0x3f << 23) | 0x05, EngineClass.RCS), { len: 7, id: -1, error: DecodeError.UNKNOWN_COMMAND });
  // 2D: unknown opcode 0x7f on BCS, and every 2D command on RCS.
  t.same(one(((2 << 29) | (0x7f << 22) | 3) >>> 0, EngineClass.BCS), { len: 5, id: -1, error: DecodeError.UNKNOWN_COMMAND });
  t.same(one((encodeHeader('XY_COLOR_BLT', 7)) >>> 0, EngineClass.RCS), { len: 7, id: -1, error: DecodeError.UNKNOWN_COMMAND });
  // Type 3: 8-bit generic field on RCS, 12-bit on the video rings.
  t.same(one((0x78ff0000 | 0x123) >>> 0, EngineClass.RCS), { len: 0x23 + 2, id: -1, error: DecodeError.UNKNOWN_COMMAND });
  t.same(one((0x7fff0000 | 0x123) >>> 0, EngineClass.VCS), { len: 0x123 + 2, id: -1, error: DecodeError.UNKNOWN_COMMAND });
  // Types 1 and 4-7: no generic length, the walk must stop.
  for (const type of [1, 4, 5, 6, 7]) {
    t.same(one(((type << 29) | 0x3) >>> 0, EngineClass.RCS), { len: 0, id: -1, error: DecodeError.UNKNOWN_COMMAND }, `type ${type}`);
  }
});

t.test('truncation', async (t) => {
  const d = new CommandDecoder();
  const buf = new Uint32Array(8);
  buf[0] = encodeHeader('PIPE_CONTROL', 6);
  t.equal(d.decode(buf, 0, 6, EngineClass.RCS), 6);
  t.equal(d.error, DecodeError.OK);
  t.equal(d.decode(buf, 0, 5, EngineClass.RCS), 6, 'the length is still reported');
  t.equal(d.error, DecodeError.TRUNCATED);
  t.equal(d.id, commandId('PIPE_CONTROL'));
  t.equal(d.decode(buf, 5, 5, EngineClass.RCS), 0, 'no dword left');
  t.equal(d.error, DecodeError.TRUNCATED);
  t.equal(d.id, -1);
  t.equal(d.decode(buf, 8, 100, EngineClass.RCS), 0, 'end beyond the buffer');
  t.equal(d.error, DecodeError.TRUNCATED);
  buf[7] = encodeHeader('MI_BATCH_BUFFER_START', 3);
  t.equal(d.decode(buf, 7, 100, EngineClass.RCS), 3);
  t.equal(d.error, DecodeError.TRUNCATED, 'an end beyond the buffer is the buffer end');
});

t.test('engine dependence: one header, different meanings', async (t) => {
  const d = new CommandDecoder();
  const at = (dw0: number, e: Engine) => {
    const buf = new Uint32Array(0x1100);
    buf[0] = dw0;
    d.decode(buf, 0, buf.length, e);
    return commandName(d.id);
  };
  const veb = encodeHeader('VEBOX_SURFACE_STATE', 2);
  t.equal(at(veb, EngineClass.VECS), 'VEBOX_SURFACE_STATE');
  t.equal(at(veb, EngineClass.VCS), 'MFX_VP8_PIC_STATE', 'same header is an MFX command on VCS');
  t.equal(at(veb, EngineClass.RCS), 'UNKNOWN');
  const blt = encodeHeader('XY_SRC_COPY_BLT', 10);
  t.equal(at(blt, EngineClass.BCS), 'XY_SRC_COPY_BLT');
  t.equal(at(blt, EngineClass.RCS), 'UNKNOWN');
  const pc = encodeHeader('PIPE_CONTROL', 6);
  t.equal(at(pc, EngineClass.RCS), 'PIPE_CONTROL');
  for (const e of [EngineClass.BCS, EngineClass.VCS, EngineClass.VECS] as const) t.equal(at(pc, e), 'UNKNOWN');
  const flush = encodeHeader('MI_FLUSH_DW', 4);
  t.equal(at(flush, EngineClass.BCS), 'MI_FLUSH_DW');
  t.equal(at(flush, EngineClass.RCS), 'MI_FLUSH_DW', 'GVT-g parses it on RCS too (gvt-differences.ts)');
  t.equal(at(0x68000000, EngineClass.VCS), 'MFX_WAIT');
  t.equal(at(0x68000000, EngineClass.RCS), 'UNKNOWN', 'MFX_WAIT is a video command');
  t.equal(at(encodeHeader('MFX_WAIT', 1), EngineClass.VCS), 'MFX_WAIT');
  t.equal(at(encodeHeader('MFX_WAIT', 1), EngineClass.RCS), 'UNKNOWN');
  t.equal(at(encodeHeader('SFC_STATE', 32), EngineClass.VECS), 'SFC_STATE');
});

t.test('table self-check', async (t) => {
  const defs = gen9CommandDefs();
  t.equal(buildCommandTable(defs).commands.length, COMMANDS.length, 'the default rows build');
  const noop = defs.find((d) => d.name === 'MI_NOOP')!;
  t.throws(() => buildCommandTable([...defs, noop]), TableError, 'a name twice');
  t.throws(() => buildCommandTable([...defs, { ...noop, name: 'MI_NOOP_AGAIN' }]), /overlaps MI_NOOP/, 'same header on the same engines');
  const pc = defs.find((d) => d.name === 'PIPE_CONTROL')!;
  const onBcs: CommandDef = { ...pc, name: 'PIPE_CONTROL_ON_BCS', engines: EngineMask.BCS };
  t.doesNotThrow(() => buildCommandTable([...defs, onBcs]), 'same header on another engine is fine');
  t.throws(() => buildCommandTable([...defs, { ...onBcs, engines: EngineMask.BCS | EngineMask.RCS }]), { code: 'E_TABLE' });
  // An MI row claims every value of bits 22:16: a 3D-style mask inside it overlaps.
  const lri = defs.find((d) => d.name === 'MI_LOAD_REGISTER_IMM')!;
  t.throws(() => buildCommandTable([...defs, { ...lri, name: 'LRI_VARIANT', mask: 0xffff0000, match: (lri.match | (1 << 22)) >>> 0 }]), /overlaps MI_LOAD_REGISTER_IMM/);
  const bad = (patch: Partial<CommandDef>) => () => buildCommandTable([{ ...noop, ...patch }]);
  t.throws(bad({ mask: 0xff80ff00 }), /below bit 16/);
  t.throws(bad({ match: 0x00000001 }), /outside its mask/);
  t.throws(bad({ engines: 0 }), /engine set/);
  t.throws(bad({ length: 0 }), /fixed length/);
  t.throws(bad({ length: { mask: 0x5, bias: 2 } }), /length mask/);
  t.throws(bad({ length: { mask: 0xff, bias: 0 } }), /bias/);
  t.throws(bad({ type: 3 }), /type/);
  t.throws(bad({ name: '' }), TableError);
});
