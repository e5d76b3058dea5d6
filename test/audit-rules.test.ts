/**
 * Each audit rule refuses its bad input with the rule named; good input passes; GGTT addresses
 * are patched with a non-identity translation.
 */
import t from 'tap';
import {
  encodeByName, miBatchBufferEnd, miBatchBufferStart, miFlushDw, miLoadRegisterImm, miLoadRegisterMem, miLoadRegisterReg,
  miNoop, miStoreDataImm, miStoreRegisterMem, pipeControl, PostSyncOp, xyColorBlt, xySrcCopyBlt,
} from '../lib/device/commands/index.js';
import {
  AUDIT_RULES, defaultRegisterAllowed, isForceNonpriv, isPdpRegister, rangeInSlices, registerOwner,
} from '../lib/mediator/audit-rules.js';
import { CommandParser, type CommandParserOptions } from '../lib/mediator/parser.js';
import { FakeEnv, HIGH, HOST_OFFSET, LOW, MiB, engine, qword, ringWith, type FakeEnvOptions } from './audit-fixture.js';

const PBATCH = 0x2_0000_0000;
const G = LOW.start + 0x10_0000; // a GGTT address inside the vGPU's low slice

/** Scan `words` from the ring (privileged) or from a PPGTT batch (non-privileged). */
function scan(words: number[], o: FakeEnvOptions & { batch?: boolean; parser?: CommandParserOptions } = {}) {
  const env = new FakeEnv(o);
  let ring;
  if (o.batch) {
    env.ppgtt.write(PBATCH, [...words, ...miBatchBufferEnd()]);
    ring = ringWith(env, qword(miBatchBufferStart(PBATCH, { ppgtt: true })));
  } else {
    ring = ringWith(env, qword(words));
  }
  const r = new CommandParser(o.parser).scan(ring, env);
  const shadow = o.batch ? r.shadows[1] : r.shadows[0];
  return { r, env, shadow: shadow ? [...shadow.dwords()] : [] };
}

t.test('the rules are data with stable names and codes', async (t) => {
  t.same(AUDIT_RULES.map((r) => r.name), [
    'register-range', 'register-whitelist', 'register-privileged', 'register-value', 'unsupported-guest', 'address-bounds',
    'privileged-command', 'refused-command', 'unknown-command', 'malformed-command',
    'batch-depth', 'batch-loop', 'command-budget', 'batch-size', 'ring-bounds',
  ]);
  for (const r of AUDIT_RULES) t.ok(['BAD_COMMAND', 'BAD_ADDRESS', 'PRIVILEGED', 'BAD_VALUE', 'LIMIT'].includes(r.code), r.name);
});

t.test('register-whitelist: the default whitelist is CMD_ACCESS per engine', async (t) => {
  const rcs = engine('rcs'), bcs = engine('bcs'), vcs = engine('vcs'), vcs2 = engine('vcs2');
  t.ok(defaultRegisterAllowed(0x2358, rcs), 'RCS timestamp on RCS');
  t.notOk(defaultRegisterAllowed(0x2358, bcs), 'RCS timestamp on BCS: another engine\'s register');
  t.ok(defaultRegisterAllowed(0x7000, bcs), 'a global CMD_ACCESS register on any engine');
  t.notOk(defaultRegisterAllowed(0x2030, rcs), 'RING_TAIL is not command-accessible');
  t.notOk(defaultRegisterAllowed(0x44200, rcs), 'master interrupt control');
  t.ok(defaultRegisterAllowed(0x12600, vcs), 'VCS GPR on VCS');
  t.notOk(defaultRegisterAllowed(0x12600, vcs2), 'VCS GPR on VCS2');
  t.ok(defaultRegisterAllowed(0xcc00, bcs), 'BCS MOCS on BCS');
  t.notOk(defaultRegisterAllowed(0xc800, bcs), 'RCS MOCS on BCS');
  t.notOk(defaultRegisterAllowed(0x2359, rcs), 'misaligned');
  t.notOk(defaultRegisterAllowed(0x800000, rcs), 'outside the register space');
  t.equal(registerOwner(0x7000), -1);
  t.equal(registerOwner(0x22200), bcs.id);
  t.ok(isPdpRegister(0x2270) && isPdpRegister(0x1228c) && !isPdpRegister(0x2290));
  t.ok(isForceNonpriv(0x24d0) && isForceNonpriv(0x24fc) && !isForceNonpriv(0x2500));
});

t.test('register-whitelist: MI_LOAD_REGISTER_IMM, every pair', async (t) => {
  let { r } = scan(miLoadRegisterImm([[0x7000, 1], [0x2358, 2]]));
  t.ok(r.ok, r.violation?.message ?? '');
  ({ r } = scan(miLoadRegisterImm([[0x2030, 0]])));
  t.equal(r.violation?.rule, 'register-whitelist', 'a forbidden register');
  t.equal(r.violation?.code, 'BAD_COMMAND', 'GVT-g: -EBADRQC for a register without F_CMD_ACCESS');
  ({ r } = scan(miLoadRegisterImm([[0x7000, 1], [0x2030, 0]])));
  t.equal(r.violation?.rule, 'register-whitelist', 'the second pair');
  ({ r } = scan(miLoadRegisterImm([[0x209c, 0x00010001]]), { engine: 'bcs' }));
  t.equal(r.violation?.rule, 'register-privileged', 'RCS MI_MODE from the blitter ring');
  t.match(r.violation?.message, /0x209c/);
  ({ r } = scan(miLoadRegisterImm([[0x2209c, 0x00010001]]), { engine: 'bcs' }));
  t.ok(r.ok, 'its own MI_MODE');
  ({ r } = scan(miLoadRegisterImm([[0x7000, 1]]), { batch: true }));
  t.ok(r.ok, 'from a non-privileged batch too');
  // A malformed LRI: an even length leaves a register without a value.
  ({ r } = scan([encodeByName('MI_LOAD_REGISTER_IMM', [0x7000, 1, 0x7004])[0], 0x7000, 1, 0x7004]));
  t.equal(r.violation?.rule, 'malformed-command');
});

t.test('register-whitelist: LRR, SRM, LRM and the PIPE_CONTROL LRI post-sync', async (t) => {
  t.ok(scan(miLoadRegisterReg(0x2600, 0x2608)).r.ok, 'GPR to GPR');
  t.equal(scan(miLoadRegisterReg(0x2030, 0x2608)).r.violation?.rule, 'register-whitelist', 'LRR source');
  t.equal(scan(miLoadRegisterReg(0x2600, 0x2034)).r.violation?.rule, 'register-whitelist', 'LRR destination');
  t.ok(scan(miStoreRegisterMem(0x2358, PBATCH + 0x100)).r.ok, 'SRM of the timestamp to PPGTT');
  t.equal(scan(miStoreRegisterMem(0x44200, PBATCH)).r.violation?.rule, 'register-whitelist', 'SRM of a forbidden register');
  t.equal(scan(miLoadRegisterMem(0x2030, PBATCH)).r.violation?.rule, 'register-whitelist', 'LRM to a forbidden register');
  t.ok(scan(miLoadRegisterMem(0x2600, PBATCH)).r.ok, 'LRM to a GPR');
  // GVT-g's short list, by option.
  t.equal(scan(miStoreRegisterMem(0x2358, PBATCH), { parser: { strictSrmLrm: true } }).r.violation?.rule, 'register-privileged');
  t.ok(scan(miStoreRegisterMem(0xb118, PBATCH), { parser: { strictSrmLrm: true } }).r.ok, 'GEN8_L3SQCREG4 is on it');
  // Registers whose value must be audited cannot be loaded from memory or another register.
  t.equal(scan(miLoadRegisterMem(0x2270, PBATCH)).r.violation?.rule, 'register-privileged', 'LRM to a PDP');
  t.equal(scan(miLoadRegisterMem(0x24d0, PBATCH)).r.violation?.rule, 'register-privileged', 'LRM to FORCE_TO_NONPRIV');
  t.equal(scan(miLoadRegisterReg(0x2600, 0x2180)).r.violation?.rule, 'register-privileged', 'LRR to CCID');
  t.equal(scan(miLoadRegisterMem(0x229c, PBATCH)).r.violation?.rule, 'register-privileged', 'LRM to RING_MODE');
  // PIPE_CONTROL with the LRI post-sync (dword 1 bit 23) writes dword 4 to the register in dword 2.
  const lriPost = (reg: number): number[] => [encodeByName('PIPE_CONTROL', [1 << 23, reg, 0, 5, 0])].flat();
  t.ok(scan(lriPost(0x2600)).r.ok);
  t.equal(scan(lriPost(0x2030)).r.violation?.rule, 'register-whitelist');
});

t.test('register-whitelist: PDPs, FORCE_TO_NONPRIV values, GGTT-address registers', async (t) => {
  t.equal(scan(miLoadRegisterImm([[0x2270, 0x1234000]])).r.violation?.rule, 'register-value', 'LRI to a lone PDP dword');
  // FORCE_TO_NONPRIV values are register-rules.test.ts's business; the slot itself is accessible.
  t.ok(scan(miLoadRegisterImm([[0x24d0, 0x7010]])).r.ok, 'FORCE_TO_NONPRIV naming a register on GVT-g\'s list');
  t.ok(scan(miLoadRegisterImm([[0x24d0, 0x2094]])).r.ok, 'FORCE_TO_NONPRIV reset to NOPID');
  // CCID (0x2180) holds a GGTT address: checked and patched.
  const { r, shadow } = scan(miLoadRegisterImm([[0x2180, G | 0x109]]));
  t.ok(r.ok, r.violation?.message ?? '');
  t.equal(shadow[2], (G + HOST_OFFSET) | 0x109, 'patched, flags kept');
  t.equal(scan(miLoadRegisterImm([[0x2180, 0x1000]])).r.violation?.rule, 'address-bounds');
  t.equal(scan(miLoadRegisterImm([[0x2180, G]]), { batch: true }).r.violation?.rule, 'privileged-command');
});

t.test('register-whitelist: the environment can supply its own policy', async (t) => {
  const only7000 = (o: number): boolean => o === 0x7000;
  t.ok(scan(miLoadRegisterImm([[0x7000, 1]]), { registerAllowed: only7000 }).r.ok);
  t.equal(scan(miLoadRegisterImm([[0x7004, 1]]), { registerAllowed: only7000 }).r.violation?.rule, 'register-whitelist');
});

t.test('address-bounds: stores, flushes and post-syncs inside the slices pass and are patched', async (t) => {
  const sdi = miStoreDataImm(G + 0x40, [1, 2], { ggtt: true });
  const flush = miFlushDw({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: HIGH.start + 0x80, ggtt: true, data: 3 });
  const { r, shadow } = scan([...sdi, ...flush], { engine: 'bcs' });
  t.ok(r.ok, r.violation?.message ?? '');
  t.equal(r.addressesPatched, 2);
  t.equal(shadow[1], G + 0x40 + HOST_OFFSET, 'MI_STORE_DATA_IMM address');
  t.equal(shadow[2], 0);
  t.equal(shadow[sdi.length + 1], (HIGH.start + 0x80 + HOST_OFFSET) | 4, 'MI_FLUSH_DW address, GGTT bit kept');
  const pc = scan(pipeControl({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: G + 8, ggtt: true, data: 1 }));
  t.ok(pc.r.ok);
  t.equal(pc.shadow[2], G + 8 + HOST_OFFSET);
  // Addresses above 4 GiB: the high dword is patched too.
  const hi = scan(miStoreDataImm(G, [1], { ggtt: true }), { translate: (g) => g + 0x1_0000_0000 });
  t.same(hi.shadow.slice(1, 3), [G, 1]);
  // PPGTT addresses are accepted and left alone; so is the address of a post-sync that does not write.
  const pp = scan([...miStoreDataImm(0x7_0000_0000, [1]), ...pipeControl({ address: 0xfff_0000_0000 })]);
  t.ok(pp.r.ok);
  t.equal(pp.r.addressesPatched, 0);
  t.same(pp.shadow.slice(1, 3), [0, 7]);
});

t.test('address-bounds: a store to a graphics address outside the slices', async (t) => {
  for (const [what, cmd] of [
    ['SDI below the slice', miStoreDataImm(0x1000, [1], { ggtt: true })],
    ['SDI whose qword crosses the slice end', miStoreDataImm(LOW.end - 4, [1, 2], { ggtt: true, storeQword: false })],
    ['SDI in the hole between the slices', miStoreDataImm(512 * MiB, [1], { ggtt: true })],
    ['PIPE_CONTROL post-sync', pipeControl({ postSyncOp: PostSyncOp.WRITE_TIMESTAMP, address: 0, ggtt: true })],
    ['SRM to GGTT', miStoreRegisterMem(0x2358, HIGH.end, { ggtt: true })],
    ['LRM from GGTT', miLoadRegisterMem(0x2600, HIGH.end, { ggtt: true })],
    ['MI_ATOMIC qword at the end', encodeByName('MI_ATOMIC', [(LOW.end - 4) >>> 0, 0], (1 << 22) | (1 << 19))],
  ] as const) {
    const { r } = scan([...cmd]);
    t.equal(r.violation?.rule, 'address-bounds', what);
    t.equal(r.violation?.code, 'BAD_ADDRESS', what);
  }
  // A Store Qword with one data dword: the device would write a qword it has no data for; the
  // effects table (lib/device/commands/effects.ts) cannot describe it, so it is refused as malformed.
  const qword = scan(miStoreDataImm(LOW.end - 8, [1], { ggtt: true }).map((d, k) => (k === 0 ? (d | (1 << 21)) >>> 0 : k === 1 ? (LOW.end - 4) >>> 0 : d)));
  t.equal(qword.r.violation?.rule, 'malformed-command', 'a one-dword Store Qword at the slice end');
  const flush = scan(miFlushDw({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: 0x1000, ggtt: true }), { engine: 'vcs' });
  t.equal(flush.r.violation?.rule, 'address-bounds', 'MI_FLUSH_DW post-sync');
  t.ok(scan(encodeByName('MI_ATOMIC', [(LOW.end - 4) >>> 0, 0], 1 << 22)).r.ok, 'MI_ATOMIC dword at the end');
});

t.test('address-bounds: store-data-index post-syncs stay inside the status page', async (t) => {
  const idx = (offset: number): number[] => pipeControl({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: offset }).map((d, k) => (k === 1 ? (d | (1 << 21)) >>> 0 : d));
  const ok = scan(idx(0x40));
  t.ok(ok.r.ok);
  t.equal(ok.r.addressesPatched, 0);
  t.equal(scan(idx(0x1000)).r.violation?.rule, 'address-bounds');
  t.equal(scan(miFlushDw({ postSyncOp: 1, address: 0x2000, storeDataIndex: true }), { engine: 'bcs' }).r.violation?.rule, 'address-bounds');
});

t.test('address-bounds: blits in a GGTT context, with their extents', async (t) => {
  const opts = { engine: 'bcs', contextPpgtt: false } as const;
  const fill = (dstAddress: number, pitch: number, y1: number, y2: number): number[] =>
    xyColorBlt({ dstAddress, dstPitch: pitch, dst: { x1: 0, y1, x2: 16, y2 }, color: 1 });
  let s = scan(fill(G, 4096, 0, 16), opts);
  t.ok(s.r.ok, s.r.violation?.message ?? '');
  t.equal(s.shadow[4], G + HOST_OFFSET);
  // 16 rows at 4 KiB pitch from 64 KiB below the slice end fit; 17 rows do not.
  t.ok(scan(fill(LOW.end - 16 * 4096, 4096, 0, 16), opts).r.ok);
  s = scan(fill(LOW.end - 16 * 4096, 4096, 0, 17), opts);
  t.equal(s.r.violation?.rule, 'address-bounds', 'a blit whose extent leaves the slices');
  t.equal(s.r.violation?.command, 'XY_COLOR_BLT');
  // A negative pitch walks down from the base.
  t.equal(scan(fill(LOW.start + 4096, -4096, 0, 3), opts).r.violation?.rule, 'address-bounds', 'negative pitch below the slice');
  t.ok(scan(fill(LOW.start + 2 * 4096, -4096, 0, 3), opts).r.ok, 'negative pitch inside');
  // An empty rectangle touches nothing: passes unpatched.
  s = scan(fill(0x1000, 4096, 5, 5), opts);
  t.ok(s.r.ok);
  t.equal(s.shadow[4], 0x1000);
  // The copy's source has its own origin and pitch.
  const copy = (srcAddress: number, srcY: number): number[] => xySrcCopyBlt({
    dstAddress: G, dstPitch: 256, dst: { x1: 0, y1: 0, x2: 8, y2: 8 }, srcAddress, srcPitch: 1024, srcX: 0, srcY,
  });
  s = scan(copy(HIGH.start, 0), opts);
  t.ok(s.r.ok, s.r.violation?.message ?? '');
  t.equal(s.shadow[8], HIGH.start + HOST_OFFSET);
  t.equal(scan(copy(HIGH.end - 8 * 1024, 1), opts).r.violation?.rule, 'address-bounds', 'source rows leave the slice');
  // Too big: beyond GVT-g's 36 MiB surface limit even inside memory.
  const big = new FakeEnv({ engine: 'bcs', contextPpgtt: false, ranges: [{ start: 0, end: 256 * MiB }] });
  big.ggtt.write(0x100000, fill(0x100000, 0x7fff, 0, 2000));
  t.equal(new CommandParser().scan(ringWith(big, qword(fill(0x100000, 0x7fff, 0, 2000)), 0, 4096, 0x200000), big).violation?.rule, 'address-bounds');
  // In a PPGTT context the same blits are PPGTT addresses: accepted, not patched.
  s = scan(fill(0x1000, 4096, 0, 17), { engine: 'bcs' });
  t.ok(s.r.ok);
  t.equal(s.shadow[4], 0x1000);
});

t.test('address-bounds: a range must translate contiguously', async (t) => {
  // Page 1 of the slice is mapped elsewhere on the host.
  const translate = (g: number): number => (g >= LOW.start + 4096 && g < LOW.start + 8192 ? g + 0x4000_0000 : g + HOST_OFFSET);
  const opts = { engine: 'bcs', contextPpgtt: false, translate } as const;
  const fill = xyColorBlt({ dstAddress: LOW.start, dstPitch: 4096, dst: { x1: 0, y1: 0, x2: 4, y2: 3 }, color: 1 });
  t.equal(scan(fill, opts).r.violation?.rule, 'address-bounds');
  t.ok(scan(miStoreDataImm(LOW.start + 4096, [1], { ggtt: true }), opts).r.ok, 'one page is fine');
  t.equal(scan(miStoreDataImm(G, [1], { ggtt: true }), { translate: () => -1 }).r.violation?.rule, 'address-bounds', 'no translation');
});

t.test('rangeInSlices is GVT-g\'s range check over a vGPU\'s two slices', async (t) => {
  const slices = { lowBase: 128 * MiB, lowSize: 64 * MiB, highBase: 512 * MiB, highSize: 384 * MiB, fences: [] };
  t.ok(rangeInSlices(slices, 128 * MiB, 64 * MiB));
  t.notOk(rangeInSlices(slices, 128 * MiB, 64 * MiB + 1));
  t.notOk(rangeInSlices(slices, 192 * MiB - 4, 8), 'crossing the slice end');
  t.ok(rangeInSlices(slices, 896 * MiB - 8, 8));
  t.notOk(rangeInSlices(slices, -4, 8));
});

t.test('refused-command: commands GVT-g refuses and host-owned ones, everywhere', async (t) => {
  const cases: [string, number[], string?][] = [
    ['MI_SEMAPHORE_WAIT', encodeByName('MI_SEMAPHORE_WAIT', [0, G, 0])],
    ['MI_REPORT_PERF_COUNT', encodeByName('MI_REPORT_PERF_COUNT', [G, 0, 0])],
    ['MI_STORE_DATA_INDEX', encodeByName('MI_STORE_DATA_INDEX', [0x40, 1])],
    ['MI_CLFLUSH', encodeByName('MI_CLFLUSH', [G, 0])],
    ['MI_CONDITIONAL_BATCH_BUFFER_END', encodeByName('MI_CONDITIONAL_BATCH_BUFFER_END', [0, G, 0])],
    ['MI_UPDATE_GTT', encodeByName('MI_UPDATE_GTT', [0, 1])],
    ['MI_COPY_MEM_MEM', encodeByName('MI_COPY_MEM_MEM', [G, 0, G + 8, 0])],
    ['MI_SET_CONTEXT', encodeByName('MI_SET_CONTEXT', [G])],
    ['MI_FORCE_WAKEUP', encodeByName('MI_FORCE_WAKEUP', [0])],
  ];
  for (const [name, cmd] of cases) {
    const { r } = scan(cmd);
    // GVT-g answers these with -EBADRQC (failsafe). MI_DISPLAY_FLIP, which it emulates, is admitted (test/display-flip.test.ts).
    t.equal(r.violation?.rule, 'refused-command', name);
    t.equal(r.violation?.code, 'BAD_COMMAND', name);
    t.equal(r.violation?.command, name);
  }
});

t.test('malformed-command: GVT-g\'s required lengths (F_LEN_VAR_FIXED valid_len)', async (t) => {
  const cases: [string, number[], number][] = [
    ['MI_SEMAPHORE_SIGNAL', [0], 2],
    ['MI_URB_CLEAR', [0], 2],
    ['MI_SEMAPHORE_MBOX', [0, 0], 3],
    ['MI_LOAD_SCAN_LINES_INCL', [0], 2],
  ];
  for (const [name, body, valid] of cases) {
    const ok = scan(encodeByName(name, body));
    t.not(ok.r.violation?.rule, 'malformed-command', `${name} of ${valid} dwords is admitted by length`);
    const long = scan(encodeByName(name, [...body, 0]));
    t.equal(long.r.violation?.rule, 'malformed-command', `${name} of ${valid + 1} dwords`);
    t.equal(long.r.violation?.code, 'BAD_COMMAND', 'failsafe class, as GVT-g\'s -EFAULT');
    t.match(long.r.violation?.message ?? '', /GVT-g admits/);
  }
  const sbe = scan([0x791b0002, 0, 0, 0]);
  t.not(sbe.r.violation?.rule, 'unknown-command', '3DSTATE_DX9_CONSTANT_BUFFER_POOL_ALLOC is known');
  t.ok(scan([0x07000000]).r.ok, 'MI_SET_APPID is known and admitted');
});

t.test('privileged-command: GGTT accesses and privileged-only commands in non-privileged batches', async (t) => {
  t.equal(scan(miStoreDataImm(G, [1], { ggtt: true }), { batch: true }).r.violation?.rule, 'privileged-command', 'GGTT store');
  t.equal(scan(pipeControl({ postSyncOp: 1, address: G, ggtt: true }), { batch: true }).r.violation?.rule, 'privileged-command');
  t.equal(scan(miBatchBufferStart(G, { secondLevel: true }), { batch: true }).r.violation?.rule, 'privileged-command', 'GGTT batch from a PPGTT batch');
  const arbOff = encodeByName('MI_ARB_ON_OFF');
  t.equal(scan(arbOff, { batch: true }).r.violation?.rule, 'privileged-command', 'MI_ARB_ON_OFF in a PPGTT batch');
  t.ok(scan(arbOff).r.ok, 'MI_ARB_ON_OFF in the ring');
  // A GGTT batch started from the ring is privileged.
  const env = new FakeEnv();
  env.ggtt.write(HIGH.start, [...miStoreDataImm(G, [1], { ggtt: true }), ...arbOff, ...miBatchBufferEnd()]);
  const r = new CommandParser().scan(ringWith(env, qword(miBatchBufferStart(HIGH.start))), env);
  t.ok(r.ok, r.violation?.message ?? '');
});

t.test('ppgtt-only: untabulated addresses are refused in a GGTT context', async (t) => {
  const cmd = encodeByName('MFX_PIPE_BUF_ADDR_STATE', new Array(64).fill(0));
  t.ok(scan(cmd, { engine: 'vcs' }).r.ok, 'PPGTT context');
  const { r } = scan(cmd, { engine: 'vcs', contextPpgtt: false });
  t.equal(r.violation?.rule, 'address-bounds');
  t.match(r.violation?.message, /not tabulated/);
});

t.test('display waits become MI_NOOP', async (t) => {
  const wait = encodeByName('MI_WAIT_FOR_EVENT', [], 1 << 1);
  const { r, shadow } = scan([...wait, ...miNoop(7)]);
  t.ok(r.ok);
  t.same(shadow, [0, miNoop(7)[0]]);
});

t.test('decision overrides: admit a refused command as patched, refuse an allowed one', async (t) => {
  const sem = encodeByName('MI_SEMAPHORE_WAIT', [0, G, 0], 1 << 22);
  const parser = { decisions: { MI_SEMAPHORE_WAIT: 'patched' } } as const;
  const { r, shadow } = scan(sem, { parser });
  t.ok(r.ok, r.violation?.message ?? '');
  t.equal(shadow[2], G + HOST_OFFSET);
  t.equal(scan(encodeByName('MI_SEMAPHORE_WAIT', [0, 0x1000, 0], 1 << 22), { parser }).r.violation?.rule, 'address-bounds');
  t.equal(scan(encodeByName('3DSTATE_VF_STATISTICS'), { parser: { decisions: { '3DSTATE_VF_STATISTICS': 'refused' } } }).r.violation?.rule, 'privileged-command');
  t.equal(scan(miNoop(), { batch: true, parser: { decisions: { MI_NOOP: 'privileged-only' } } }).r.violation?.rule, 'privileged-command');
});
