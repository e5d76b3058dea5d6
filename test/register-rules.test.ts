/**
 * The registers commands may touch, checked against the GVT-g facts (Linux v7.0 gvt/handlers.c and
 * gvt/cmd_parser.c, extracted into lib/device/gvt-registers.ts), with every deliberate difference
 * listed and tested; the LRI special cases of cmd_reg_handler; the SRM/LRM/LRR policies; PVINFO
 * awareness; the real i915 guest's MOCS and Gen9 workaround LRIs.
 */
import t from 'tap';
import {
  encodeByName, miLoadRegisterImm, miLoadRegisterMem, miLoadRegisterReg, miStoreRegisterMem,
} from '../lib/device/commands/index.js';
import { GEN9_ENGINES } from '../lib/device/engines.js';
import { GVT_FORCE_NONPRIV_WHITELIST, GVT_GEN9_IN_CONTEXT, GVT_SKL_MMIO_ROWS } from '../lib/device/gvt-registers.js';
import { writeContextImage } from '../lib/device/lrc.js';
import { GEN9_REGISTERS, RING } from '../lib/device/registers.js';
import { ConfigError } from '../lib/errors.js';
import { PPGTT_MODE_L4 } from '../lib/gtt/shadow-ppgtt.js';
import { Harness } from '../lib/harness/index.js';
import { defaultRegisterAllowed, registerOwner, srmLrmShortListed } from '../lib/mediator/audit-rules.js';
import { CommandParser, type CommandParserOptions } from '../lib/mediator/parser.js';
import {
  GVT_MOCS_RANGES, GVT_SKL_CMD_ACCESS, GVT_SKL_SRM_LRM, GVT_SKL_WRITE_PATCH, REGISTER_DIFFERENCES, RING_CTX_DWORDS,
  contextImageLriRegisters, differenceApplies, forceNonprivValueOk, ringModeFailsafe,
} from '../lib/mediator/register-rules.js';
import { MMIO_SPACE_BYTES, RegFlag } from '../lib/mmio/table.js';
import { PAGE_SIZE } from '../lib/types.js';
import { FakeEnv, engine, qword, ringWith, type FakeEnvOptions } from './audit-fixture.js';

const PBATCH = 0x2_0000_0000;
const hex = (v: number): string => '0x' + v.toString(16);

function scan(words: number[], o: FakeEnvOptions & { parser?: CommandParserOptions } = {}) {
  const env = new FakeEnv(o);
  const r = new CommandParser(o.parser).scan(ringWith(env, qword(words)), env);
  const vregs: [number, number][] = [];
  for (let k = 0; k < r.vregWriteCount; k++) vregs.push([r.vregWrites[2 * k], r.vregWrites[2 * k + 1]]);
  return { r, shadow: r.shadows[0] ? [...r.shadows[0].dwords()] : [], vregs };
}

// --- the whitelist against GVT-g ----------------------------------------------------------------------

t.test('GVT-g facts: the extracted Skylake registrations', async (t) => {
  t.ok(GVT_SKL_MMIO_ROWS.length > 100, 'rows extracted');
  const bad = GVT_SKL_MMIO_ROWS.filter((r) => !(r.offset % 4 === 0 && r.bytes % 4 === 0 && r.offset + r.bytes <= MMIO_SPACE_BYTES));
  t.same(bad.map((r) => r.reg), [], 'every row is dword aligned inside the register space');
  const set = new Set(GVT_SKL_CMD_ACCESS);
  // Spot facts read from handlers.c by hand.
  for (const o of [0x2028, 0x22028, 0x1c028, 0x229c, 0x2270, 0x2280 + 0xc, 0xc800, 0xcff4, 0xb020, 0xb09c, 0xb118, 0x21f0, 0x24fc, 0x4df4, 0x120000]) {
    t.ok(set.has(o), `${hex(o)} is F_CMD_ACCESS on Skylake`);
  }
  // D_BDW-only and D_KBL|D_CFL registrations do not apply to Skylake.
  for (const o of [0xb1f0, 0xb1c0, 0xb100, 0x83a4, 0x8430, 0x2248, 0x4ab8]) t.notOk(set.has(o), `${hex(o)} is not (BDW or KBL/CFL only)`);
  t.notOk(set.has(0xcff8), 'the MOCS registration ends before 0xcff8');
  t.same([...GVT_SKL_WRITE_PATCH.values()].sort(), [...Array(5).fill('ring-mode'), ...Array(12).fill('force-nonpriv')].sort());
  t.same(GVT_FORCE_NONPRIV_WHITELIST.length, 31, 'force_nonpriv_white_list has 31 registers');
  t.same(GVT_GEN9_IN_CONTEXT.map((c) => c.offset).includes(0x7004), true);
  t.same(GVT_MOCS_RANGES, [[0xc800, 0xcff8], [0xb020, 0xb0a0]]);
});

t.test('whitelist: every engine agrees with GVT-g F_CMD_ACCESS except the listed differences', async (t) => {
  const gvt = new Set(GVT_SKL_CMD_ACCESS);
  for (const e of GEN9_ENGINES) {
    const missing: string[] = [];
    const extra: string[] = [];
    for (let o = 0; o < MMIO_SPACE_BYTES; o += 4) {
      const ours = defaultRegisterAllowed(o, e);
      const owner = registerOwner(o);
      const diffs = REGISTER_DIFFERENCES.filter((d) => differenceApplies(d, o, e, owner));
      const expected = gvt.has(o) && !diffs.some((d) => d.kind === 'refused');
      if (expected && !ours) missing.push(hex(o));
      if (ours && !gvt.has(o) && !diffs.some((d) => d.kind === 'added')) extra.push(hex(o));
      if (ours && diffs.some((d) => d.kind === 'refused')) extra.push(`${hex(o)} (listed refused)`);
    }
    t.same(missing, [], `${e.name}: every GVT-g register not listed as refused is allowed`);
    t.same(extra, [], `${e.name}: every register GVT-g refuses is listed as added`);
  }
});

t.test('whitelist: each listed difference holds', async (t) => {
  const gvt = new Set(GVT_SKL_CMD_ACCESS);
  t.same(REGISTER_DIFFERENCES.map((d) => d.id), ['engine-ownership', 'mocs-beyond-skylake', 'cs-gprs', 'predicate-sources', '3dprim-base-vertex', 'gpgpu-dispatch-dims']);
  for (const d of REGISTER_DIFFERENCES) {
    t.ok(d.reason.length > 40, `${d.id} has a reason`);
    let checked = 0;
    for (const [lo, hi] of d.ranges) {
      for (let o = lo; o <= hi; o += 4) {
        const owner = registerOwner(o);
        for (const e of GEN9_ENGINES) {
          if (!differenceApplies(d, o, e, owner)) continue;
          if (d.kind === 'refused' && gvt.has(o)) {
            if (defaultRegisterAllowed(o, e)) t.fail(`${d.id}: ${hex(o)} refused on ${e.name}`);
            checked++;
          }
          if (d.kind === 'added') {
            if (!(defaultRegisterAllowed(o, e) && !gvt.has(o))) t.fail(`${d.id}: ${hex(o)} allowed on ${e.name} and not GVT-g's`);
            checked++;
          }
        }
      }
    }
    t.ok(checked > 0, `${d.id}: ${checked} cases`);
  }
  // The ownership rule end to end: another engine's MI_MODE and MOCS are register-privileged.
  t.equal(scan(miLoadRegisterImm([[0x209c, 0x10001]]), { engine: 'bcs' }).r.violation?.rule, 'register-privileged');
  t.equal(scan(miLoadRegisterImm([[0xc800, 0x30]]), { engine: 'vcs' }).r.violation?.rule, 'register-privileged');
  t.equal(scan(miLoadRegisterImm([[0xcd00, 0x30]])).r.violation?.rule, 'register-whitelist', 'past the Skylake MOCS tables');
  t.ok(scan(miLoadRegisterImm([[0x12600, 5]]), { engine: 'vcs' }).r.ok, 'an added register: a GPR of its own engine');
});

t.test('whitelist: the SRM/LRM short list and GGTT-address registers follow GVT-g', async (t) => {
  for (let o = 0; o < MMIO_SPACE_BYTES; o += 4) {
    if (srmLrmShortListed(o) !== GVT_SKL_SRM_LRM.includes(o)) t.fail(`CMD_SRM_LRM at ${hex(o)}`);
  }
  t.same(GVT_SKL_SRM_LRM, [0xb118, 0x21f0]);
  // Every F_GMADR | F_CMD_ACCESS register of GVT-g holds a GGTT address in our table too.
  for (const r of GVT_SKL_MMIO_ROWS) {
    if (!(r.flags.includes('F_GMADR') && r.flags.includes('F_CMD_ACCESS'))) continue;
    t.ok((GEN9_REGISTERS.flags[r.offset >>> 2] & RegFlag.GMADR) !== 0, `${r.reg} (${hex(r.offset)}) is GMADR`);
  }
});

t.test('default context images: GVT-g\'s run-time additions are empty on this device', async (t) => {
  for (const e of GEN9_ENGINES) {
    const mem = new Map<number, number>();
    const view = { read32: (g: number) => mem.get(g) ?? 0, write32: (g: number, v: number) => void mem.set(g, v >>> 0) };
    writeContextImage(view, 0x10000, e, { ringStart: 0x20000, ringSize: PAGE_SIZE, pdps: [0x5000] });
    const regState = new Uint32Array((e.contextPages - 1) * PAGE_SIZE / 4);
    for (let i = 0; i < regState.length; i++) regState[i] = view.read32(0x10000 + PAGE_SIZE + 4 * i);
    t.ok(regState[1] !== 0, `${e.name}: the ring context has LRIs`);
    t.same(contextImageLriRegisters(regState), [], `${e.name}: nothing after dword ${hex(RING_CTX_DWORDS)}`);
  }
  // An image with an LRI after the ring context would add its registers (GVT-g's scan).
  const img = new Uint32Array(0x100);
  img[1] = miLoadRegisterImm([[0x2030, 0]])[0];
  img[2] = 0x2030;
  img.set(miLoadRegisterImm([[0x7300, 1], [0xe4f0, 2]]), RING_CTX_DWORDS + 2);
  t.same(contextImageLriRegisters(img), [0x7300, 0xe4f0], 'the ring context (first 0x50 dwords) is skipped');
});

// --- cmd_reg_handler order and classes ------------------------------------------------------------------

t.test('register-range, register-whitelist: the register operand is dword & bits 22:2', async (t) => {
  let { r } = scan(miLoadRegisterImm([[0x200000, 1]]));
  t.equal(r.violation?.rule, 'register-range');
  t.equal(r.violation?.code, 'BAD_ADDRESS', 'EFAULT class');
  ({ r } = scan(miStoreRegisterMem(0x7ffffc, PBATCH)));
  t.equal(r.violation?.rule, 'register-range', 'SRM beyond 2 MiB');
  ({ r } = scan(miLoadRegisterImm([[0x1ffffc, 1]])));
  t.equal(r.violation?.rule, 'register-whitelist', 'the last dword is in range');
  t.equal(r.violation?.code, 'BAD_COMMAND', 'EBADRQC class');
  // Bits 1:0 and 31:23 of the register dword are ignored.
  ({ r } = scan([encodeByName('MI_LOAD_REGISTER_IMM', [0x7000, 1])[0], 0xff807003, 0x10001]));
  t.ok(r.ok, 'register 0x7000 with stray bits outside 22:2');
});

// --- LRI special cases ----------------------------------------------------------------------------------

t.test('LRI PDP0: upper then lower is patched to the shadow root', async (t) => {
  const guest = 0x1_2345_6000, shadow = 0x7_89ab_c000;
  const roots: number[] = [];
  const shadowPpgttRoot = (root: number): number => {
    roots.push(root);
    return root === guest ? shadow : -1;
  };
  let { r, shadow: sh } = scan(miLoadRegisterImm([[0x7000, 1], [0x2274, 1], [0x2270, 0x2345_6000]]), { shadowPpgttRoot });
  t.ok(r.ok, r.violation?.message ?? '');
  t.same(roots, [guest], 'the guest root of the pair');
  t.same(sh.slice(3, 7), [0x2274, 7, 0x2270, 0x89ab_c000], 'both dwords carry the shadow root');
  t.equal(r.registerValuesPatched, 1);
  ({ r } = scan(miLoadRegisterImm([[0x2274, 0], [0x2270, 0x5000]]), { shadowPpgttRoot }));
  t.equal(r.violation?.rule, 'register-value', 'no shadow of that root');
  t.equal(r.violation?.code, 'BAD_VALUE', 'EINVAL class');
  ({ r } = scan(miLoadRegisterImm([[0x2274, 1], [0x2270, 0x2345_6000]])));
  t.equal(r.violation?.rule, 'register-value', 'an environment without shadow lookup refuses');
  ({ r } = scan(miLoadRegisterImm([[0x2270, 0x2345_6000], [0x2274, 1]]), { shadowPpgttRoot }));
  t.equal(r.violation?.rule, 'register-value', 'lower first: not the pair GVT-g patches');
  ({ r } = scan(miLoadRegisterImm([[0x2278, 0x5000]]), { shadowPpgttRoot }));
  t.equal(r.violation?.rule, 'register-value', 'PDP1');
  ({ r } = scan(encodeByName('PIPE_CONTROL', [1 << 23, 0x2274, 0, 1, 0]), { shadowPpgttRoot }));
  t.equal(r.violation?.rule, 'register-value', 'PIPE_CONTROL LRI post-sync into a PDP');
  t.equal(scan(miLoadRegisterImm([[0x22274, 1], [0x22270, 0x2345_6000]]), { shadowPpgttRoot }).r.violation?.rule, 'register-privileged', 'another engine\'s PDPs');
  t.equal(scan(miLoadRegisterMem(0x2274, PBATCH), { shadowPpgttRoot }).r.violation?.rule, 'register-privileged', 'LRM into PDP0 stays refused');
  t.equal(scan(miLoadRegisterReg(0x2600, 0x2270), { shadowPpgttRoot }).r.violation?.rule, 'register-privileged', 'LRR into PDP0 stays refused');
});

t.test('LRI MOCS ranges and in-context registers of a restore-inhibit context reach the vregs', async (t) => {
  let { r, vregs } = scan(miLoadRegisterImm([[0xc800, 0x3b], [0xb020, 0x00300010], [0x7000, 0x10001]]));
  t.ok(r.ok);
  t.same(vregs, [[0xc800, 0x3b], [0xb020, 0x00300010]], 'MOCS and LNCFCMOCS, not CACHE_MODE_0');
  ({ r, vregs } = scan(miLoadRegisterImm([[0x7004, 0x00400040], [0x2088, 0x10001]]), { contextControl: 0x00010001 }));
  t.same(vregs, [[0x7004, 0x00400040]], 'restore inhibit: CACHE_MODE_1 (in context); 0x2088 is not in GVT-g\'s list');
  ({ vregs } = scan(miLoadRegisterImm([[0x7004, 0x00400040]]), { contextControl: 0x00010000 }));
  t.same(vregs, [], 'no restore inhibit: nothing');
});

t.test('LRI RING_MODE follows ring_mode_mmio_write', async (t) => {
  const runList = 0x80008000;
  t.equal(ringModeFailsafe(runList, false)?.includes('GVT-aware'), true);
  t.equal(ringModeFailsafe(runList, true), null);
  t.equal(ringModeFailsafe(0x02000200, false)?.includes('GVT-aware'), true, 'PPGTT enable');
  t.equal(ringModeFailsafe(0x00020002, true)?.includes('bit 1'), true);
  let { r, shadow } = scan(miLoadRegisterImm([[0x229c, runList]]), { gvtAware: true });
  t.ok(r.ok);
  t.equal(shadow[2], runList, 'unchanged');
  ({ r } = scan(miLoadRegisterImm([[0x229c, runList]]), { gvtAware: false }));
  t.equal(r.violation?.rule, 'unsupported-guest');
  t.equal(r.violation?.code, 'BAD_COMMAND', 'failsafe class');
  ({ r } = scan(miLoadRegisterImm([[0x2229c, 0x00020002]]), { engine: 'bcs' }));
  t.equal(r.violation?.rule, 'unsupported-guest', 'bit 1 enabled');
  ({ r, shadow } = scan(miLoadRegisterImm([[0x229c, 0x80020000]])));
  t.ok(r.ok);
  t.equal(shadow[2], 0x80000000, 'the bit-1 mask is dropped (_MASKED_BIT_ENABLE(1) cleared)');
  t.equal(r.registerValuesPatched, 1);
});

t.test('LRI FORCE_TO_NONPRIV: off GVT-g\'s list the old value is kept silently', async (t) => {
  const readVreg = (o: number): number => (o === 0x24d4 ? 0x7010 : 0x2094);
  t.ok(forceNonprivValueOk(0x7010, engine('rcs')) && forceNonprivValueOk(0x2094, engine('rcs')) && !forceNonprivValueOk(0x2030, engine('rcs')));
  t.ok(forceNonprivValueOk(0xfc00_7010, engine('rcs')), 'bits 31:26 are not part of the register');
  let { r, shadow } = scan(miLoadRegisterImm([[0x24d0, 0x2030], [0x24d4, 0x2270], [0x24d8, 0xe48c], [0x24dc, 0x2094]]), { readVreg });
  t.ok(r.ok, 'never refused');
  t.same([shadow[2], shadow[4], shadow[6], shadow[8]], [0x2094, 0x7010, 0xe48c, 0x2094], 'RING_TAIL and a PDP replaced by the vreg values');
  t.equal(r.registerValuesPatched, 2);
  ({ shadow } = scan(miLoadRegisterImm([[0x24d0, 0x2030]])));
  t.equal(shadow[2], GEN9_REGISTERS.reset[0x24d0 >>> 2], 'without a vreg reader: the reset value');
  ({ r, shadow } = scan(encodeByName('PIPE_CONTROL', [1 << 23, 0x24d0, 0, 0x2030, 0]), { readVreg }));
  t.ok(r.ok);
  t.equal(shadow[4], 0x2094, 'PIPE_CONTROL LRI post-sync: the same rule');
  t.equal(scan(miLoadRegisterMem(0x24d0, PBATCH)).r.violation?.rule, 'register-privileged', 'LRM into a slot');
});

t.test('LRI length: GVT-g\'s 8-bit length field (128 pairs)', async (t) => {
  const pairs: [number, number][] = Array.from({ length: 128 }, (_, k) => [0xc800 + 4 * (k % 64), 0x30]);
  t.ok(scan(miLoadRegisterImm(pairs)).r.ok, '257 dwords');
  t.ok(scan(miLoadRegisterImm(pairs.slice(0, 64))).r.ok, '129 dwords (i915\'s 64-entry MOCS LRI)');
});

// --- SRM / LRM / LRR policy ----------------------------------------------------------------------------

t.test('SRM/LRM/LRR: whitelist (default) and strict (GVT-g) policies', async (t) => {
  const strict: CommandParserOptions = { registerMemoryPolicy: 'strict' };
  t.equal(new CommandParser().registerMemoryPolicy, 'whitelist');
  t.ok(scan(miStoreRegisterMem(0x2358, PBATCH)).r.ok, 'whitelist: SRM of the timestamp');
  t.ok(scan(miLoadRegisterReg(0x2600, 0x2608)).r.ok, 'whitelist: LRR GPR to GPR');
  let { r } = scan(miStoreRegisterMem(0x2358, PBATCH), { parser: strict });
  t.equal(r.violation?.rule, 'register-privileged');
  t.equal(r.violation?.code, 'PRIVILEGED', 'EPERM class');
  for (const reg of GVT_SKL_SRM_LRM) {
    t.ok(scan(miStoreRegisterMem(reg, PBATCH), { parser: strict }).r.ok, `strict: SRM ${hex(reg)}`);
    t.ok(scan(miLoadRegisterMem(reg, PBATCH), { parser: strict }).r.ok, `strict: LRM ${hex(reg)}`);
  }
  t.equal(scan(miLoadRegisterMem(0x2600, PBATCH), { parser: strict }).r.violation?.rule, 'register-privileged', 'strict: LRM to a GPR');
  t.equal(scan(miLoadRegisterReg(0x2600, 0x2608), { parser: strict }).r.violation?.rule, 'register-privileged', 'strict: LRR');
  t.equal(scan(miLoadRegisterReg(0x2030, 0x2608), { parser: strict }).r.violation?.rule, 'register-whitelist', 'strict: the whitelist comes first');
  // The deprecated option selects the strict policy, LRR included.
  const old = new CommandParser({ strictSrmLrm: true });
  t.equal(old.registerMemoryPolicy, 'strict');
  t.equal(scan(miLoadRegisterReg(0x2600, 0x2608), { parser: { strictSrmLrm: true } }).r.violation?.rule, 'register-privileged');
  t.throws(() => new CommandParser({ strictSrmLrm: false, registerMemoryPolicy: 'strict' }), ConfigError);
  t.throws(() => new CommandParser({ registerMemoryPolicy: 'gvt' as 'strict' }), ConfigError);
});

// --- the real i915 guest's LRIs ---------------------------------------------------------------------------

/** skl_mocs_table (gt/intel_mocs.c): index -> [control value, l3cc value]; unused entries take I915_MOCS_PTE's. */
const SKL_MOCS: Record<number, [number, number]> = {
  0: [0x1 | (2 << 2), 1 << 4], // I915_MOCS_UNCACHED: LE_1_UC | LE_TC_2_LLC_ELLC, L3_1_UC
  1: [3 << 4, 3 << 4], // I915_MOCS_PTE: LE_0_PAGETABLE | LE_TC_0_PAGETABLE | LE_LRUM(3), L3_3_WB
  2: [0x3 | (2 << 2) | (3 << 4), 3 << 4], // I915_MOCS_CACHED: LE_3_WB | LE_TC_2_LLC_ELLC | LE_LRUM(3), L3_3_WB
  63: [0x3 | (1 << 2) | (3 << 4), 1 << 4], // LE_3_WB | LE_TC_1_LLC | LE_LRUM(3), L3_1_UC
};
const mocsEntry = (i: number): [number, number] => SKL_MOCS[i] ?? SKL_MOCS[1];

/**
 * Gen9 context workarounds on Skylake (gt/intel_workarounds.c gen9_ctx_workarounds_init,
 * skl_tune_iz_hashing), as intel_engine_emit_ctx_wa loads them: one LRI, masked values.
 */
const masked = (bits: number): number => ((bits << 16) | bits) >>> 0;
const SKL_CTX_WA: [number, number][] = [
  [0x7014, masked(1 << 13)], // COMMON_SLICE_CHICKEN2: GEN9_PBE_COMPRESSED_HASH_SELECTION
  [0xe194, masked((1 << 8) | (1 << 4) | (1 << 2))], // GEN9_HALF_SLICE_CHICKEN7
  [0xe4f0, masked((1 << 15) | (1 << 8))], // GEN8_ROW_CHICKEN: FLOW_CONTROL_ENABLE | PARTIAL_INSTRUCTION_SHOOTDOWN_DISABLE
  [0x7004, masked((1 << 6) | (1 << 1))], // CACHE_MODE_1
  [0xe188, (1 << 3) << 16], // GEN9_HALF_SLICE_CHICKEN5: GEN9_CCS_TLB_PREFETCH_ENABLE disabled
  [0x7300, masked((1 << 5) | (1 << 15) | (1 << 4))], // HDC_CHICKEN0
  [0xe184, masked(1 << 1)], // GEN8_HALF_SLICE_CHICKEN3: GEN8_SAMPLER_POWER_BYPASS_DIS
  [0xe180, masked(1 << 13)], // HALF_SLICE_CHICKEN2: GEN8_ST_PO_DISABLE
  [0x2580, ((((1 << 0) | (3 << 1)) << 16) | (1 << 2)) >>> 0], // GEN8_CS_CHICKEN1: 3D object level off, GPGPU command level
  [0x7008, ((0x3f << 16) | 0x1) >>> 0], // GEN7_GT_MODE: IZ hashing
];

t.test('the i915 guest\'s MOCS LRIs (per engine) and Gen9 workaround LRIs pass the audit', async (t) => {
  for (const e of GEN9_ENGINES) {
    const control: [number, number][] = Array.from({ length: 64 }, (_, i) => [e.mocsBase + 4 * i, mocsEntry(i)[0]]);
    const { r, shadow, vregs } = scan(miLoadRegisterImm(control), { engine: e.name });
    t.ok(r.ok, `${e.name}: its 64 MOCS controls in one LRI: ${r.violation?.message ?? 'ok'}`);
    t.same(shadow.slice(1, 129), control.flat(), `${e.name}: unchanged`);
    t.equal(vregs.length, 64, `${e.name}: the vregs take them`);
  }
  const l3cc: [number, number][] = Array.from({ length: 32 }, (_, i) => [0xb020 + 4 * i, (mocsEntry(2 * i)[1] | (mocsEntry(2 * i + 1)[1] << 16)) >>> 0]);
  t.ok(scan(miLoadRegisterImm(l3cc)).r.ok, 'render: the 32 LNCFCMOCS (L3CC) registers');
  for (const reg of ['bcs', 'vcs', 'vcs2', 'vecs']) t.ok(scan(miLoadRegisterImm(l3cc), { engine: reg }).r.ok, `${reg}: LNCFCMOCS are global`);
  const { r, shadow } = scan(miLoadRegisterImm(SKL_CTX_WA));
  t.ok(r.ok, `render: Skylake context workarounds: ${r.violation?.message ?? 'ok'}`);
  t.same(shadow.slice(1, 1 + 2 * SKL_CTX_WA.length), SKL_CTX_WA.flat(), 'unchanged');
});

// --- through the mediator ---------------------------------------------------------------------------------

t.test('mediator: PDP0 LRI patched to the vGPU\'s shadow PML4, held for the workload', async (t) => {
  const h = new Harness();
  const g = h.addGuest();
  const pml4 = g.ppgtt!.pml4;
  g.submit('rcs', miLoadRegisterImm([[0x2274, Math.floor(pml4 / 2 ** 32)], [0x2270, pml4 >>> 0]]));
  h.runUntilIdle();
  const w = g.lastWorkload!;
  t.equal(w.status, 'completed', w.failure?.message ?? '');
  const mm = g.vgpu.ppgtt.find(pml4, PPGTT_MODE_L4)!;
  const regs = h.device.regs;
  t.equal(regs.peek(0x2274) * 2 ** 32 + regs.peek(0x2270), mm.root(), 'the host PDP0 holds the shadow PML4');
  t.not(mm.root(), pml4);
  t.equal(mm.pins, 0, 'the LRI\'s hold is released with the workload');
  // A root the vGPU has no shadow of: EINVAL class, the vGPU stays healthy.
  g.submit('rcs', miLoadRegisterImm([[0x2274, 0], [0x2270, 0x7000_0000]]));
  h.runUntilIdle();
  t.equal(g.lastWorkload!.failure?.rule, 'register-value');
  t.equal(g.vgpu.state, 'active', 'no failsafe for EINVAL');
});

t.test('mediator: MOCS LRIs reach the vregs only when the workload passes; FORCE_TO_NONPRIV keeps the vreg', async (t) => {
  const h = new Harness();
  const g = h.addGuest();
  g.submit('rcs', miLoadRegisterImm([[0xc804, 0x3b], [0xb024, 0x00300010]]));
  h.runUntilIdle();
  t.equal(g.lastWorkload!.status, 'completed');
  t.equal(g.vgpu.mmioRead(0xc804, 4), 0x3b, 'the guest reads back its MOCS');
  t.equal(g.vgpu.mmioRead(0xb024, 4), 0x00300010);
  g.submit('rcs', miLoadRegisterImm([[0xc808, 0x37], [0x2030, 0]]));
  h.runUntilIdle();
  t.equal(g.lastWorkload!.failure?.rule, 'register-whitelist');
  t.equal(g.vgpu.mmioRead(0xc808, 4), 0, 'a refused workload changes no vreg');
  // FORCE_TO_NONPRIV: the guest programmed the slot by MMIO; an LRI naming RING_TAIL keeps that.
  const h2 = new Harness({ mediator: { failsafe: 'never' } });
  const g2 = h2.addGuest();
  g2.vgpu.mmioWrite(0x24d0, 4, 0x7010);
  g2.submit('rcs', miLoadRegisterImm([[0x24d0, 0x2030]]));
  h2.runUntilIdle();
  t.equal(g2.lastWorkload!.status, 'completed');
  t.equal(h2.device.regs.peek(0x24d0), 0x7010, 'the host slot got the vGPU\'s value, not RING_TAIL');
});

t.test('mediator: the audit environment carries the context image\'s CTX_CONTEXT_CONTROL', async (t) => {
  const h = new Harness();
  const g = h.addGuest();
  g.submit('rcs', [0, 0]);
  h.runUntilIdle();
  const w = g.lastWorkload!;
  g.write32(w.lrca + PAGE_SIZE + 4 * 3, 0x00010001);
  t.equal(g.vgpu.auditEnv(w.engine, null, w).contextControl, 0x00010001, 'CTX_CONTEXT_CONTROL value (ring_context_gpa + 12)');
  t.equal(g.vgpu.auditEnv(w.engine, null).contextControl, 0, 'without a workload');
});

t.test('mediator: vregs take masked writes for mode-mask registers', async (t) => {
  const h = new Harness();
  const g = h.addGuest();
  g.vgpu.vregs.poke(0x7004, 0x0000_00f0);
  g.vgpu.applyCommandVregs(Uint32Array.of(0x7004, 0x0003_0001, 0xc800, 0xdead_beef), 2);
  t.equal(g.vgpu.vregs.peek(0x7004), 0xf1, 'bit 0 set, bit 1 cleared, others kept');
  t.equal(g.vgpu.vregs.peek(0xc800), 0xdead_beef, 'a plain register takes the value');
});

// --- PVINFO awareness --------------------------------------------------------------------------------------

t.test('PVINFO: any read makes the guest GVT-aware (pvinfo_mmio_read sets pv_notified)', async (t) => {
  const h = new Harness();
  const runList = 0x80008000;
  const a = h.addGuest({ skipDetect: true, ppgtt: false });
  a.vgpu.mmioRead(0x78000 + 0xc, 4); // vgt_id, not the magic
  a.vgpu.mmioWrite(0x229c, 4, runList);
  t.equal(a.vgpu.state, 'active', 'a read of vgt_id counts');
  const b = h.addGuest({ skipDetect: true, ppgtt: false });
  b.vgpu.mmioRead(0x78000 + 0x900, 4); // a reserved offset
  b.vgpu.mmioWrite(0x229c, 4, runList);
  t.equal(b.vgpu.state, 'active', 'a read of a reserved offset counts');
  const c = h.addGuest({ skipDetect: true, ppgtt: false });
  c.vgpu.mmioWrite(0x229c, 4, runList);
  t.equal(c.vgpu.state, 'failsafe', 'no PVINFO read: not GVT-aware');
  const d = h.addGuest({ skipDetect: true, ppgtt: false });
  d.vgpu.mmioWrite(0x229c, 4, 0x02000200);
  t.equal(d.vgpu.state, 'failsafe', 'PPGTT enabled before PVINFO: not GVT-aware');
  const e = h.addGuest({ ppgtt: false });
  e.vgpu.mmioWrite(0x1229c, 4, 0x00020002);
  t.equal(e.vgpu.state, 'failsafe', 'RING_MODE bit 1 enabled');
  // Through the auditor: the vGPU's awareness reaches the LRI rule.
  t.equal(a.vgpu.auditEnv(GEN9_ENGINES[0], null).gvtAware, true);
  t.equal(h.addGuest({ skipDetect: true, ppgtt: false }).vgpu.auditEnv(GEN9_ENGINES[0], null).gvtAware, false);
  t.equal(RING.GFX_MODE, 0x29c);
});
