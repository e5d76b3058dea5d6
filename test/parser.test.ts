/**
 * CommandParser: ring copy and wrap, batch following, shadows and relocation, budgets, linearity.
 */
import t from 'tap';
import {
  encodeByName, miArbCheck, miBatchBufferEnd, miBatchBufferStart, miNoop, miStoreDataImm, miUserInterrupt,
} from '../lib/device/commands/index.js';
import { CommandParser, DEFAULT_PARSER_LIMITS } from '../lib/mediator/parser.js';
import { FakeEnv, HIGH, HOST_OFFSET, LOW, RING_BASE, RING_SIZE, qword, ringWith } from './audit-fixture.js';

const BATCH = HIGH.start; // GGTT batches
const PBATCH = 0x2_0000_0000; // PPGTT batches (above 4 GiB)

function flat(...cmds: number[][]): number[] {
  return cmds.flat();
}

t.test('an empty workload (head == tail) passes with no commands', async (t) => {
  const env = new FakeEnv();
  const ring = ringWith(env, [], 64);
  const r = new CommandParser().scan(ring, env);
  t.ok(r.ok);
  t.equal(r.commands, 0);
  t.equal(r.shadows.length, 1);
  t.equal(r.shadows[0].length, 0);
});

t.test('the ring segment is copied into the ring shadow and scanned', async (t) => {
  const env = new FakeEnv();
  const words = qword(flat(miNoop(), miArbCheck(), miStoreDataImm(0x1000, [7]), miNoop(5)));
  const r = new CommandParser().scan(ringWith(env, words, 128), env);
  t.ok(r.ok, r.violation?.message ?? '');
  t.equal(r.commands, 5);
  t.same([...r.shadows[0].dwords()], words);
  t.equal(r.bytesCopied, words.length * 4);
  t.equal(env.pageCrossings, 0, 'reads never cross a page');
});

t.test('ring wrap: a command cut by the ring end is decoded across the wrap', async (t) => {
  const env = new FakeEnv();
  // MI_STORE_DATA_IMM of 4 dwords starting 2 dwords before the end of the ring.
  const sdi = miStoreDataImm(0x2000, [0xabcd], {});
  const words = qword(flat(sdi, miArbCheck(), miNoop(), miNoop()));
  const head = RING_SIZE - 8;
  const ring = ringWith(env, words, head);
  t.ok(ring.tail < ring.head, 'the segment wraps');
  const r = new CommandParser().scan(ring, env);
  t.ok(r.ok, r.violation?.message ?? '');
  t.equal(r.commands, 5);
  t.same([...r.shadows[0].dwords()], words, 'the shadow is the unwrapped segment');
  t.equal(env.ggtt.peek(RING_BASE, 1)[0], sdi[2], 'the guest ring really wraps');
});

t.test('ring-bounds: bad ring shapes are refused with the rule named', async (t) => {
  const env = new FakeEnv();
  const good = ringWith(env, qword(miNoop()));
  const cases: [string, object][] = [
    ['zero-length ring', { ...good, size: 0, tail: 0 }],
    ['tail beyond the ring', { ...good, tail: RING_SIZE + 8 }],
    ['tail equal to the size', { ...good, tail: RING_SIZE }],
    ['head beyond the ring', { ...good, head: RING_SIZE * 2 }],
    ['misaligned tail', { ...good, tail: 4 }],
    ['misaligned head', { ...good, head: 2 }],
    ['size not page sized', { ...good, size: 1000 }],
    ['size above 2 MiB', { ...good, size: 4 * 1024 * 1024 }],
    ['base not page aligned', { ...good, base: RING_BASE + 4 }],
    ['ring outside the vGPU memory', { ...good, base: 0 }],
    ['ring straddling the end of its slice', { ...good, base: LOW.end - 4096, size: 8192 }],
    ['NaN size', { ...good, size: NaN }],
  ];
  const p = new CommandParser();
  for (const [what, ring] of cases) {
    const r = p.scan(ring as never, env);
    t.notOk(r.ok, what);
    t.equal(r.violation?.rule, 'ring-bounds', what);
    t.equal(r.violation?.code, 'BAD_ADDRESS', what);
  }
  t.equal(p.stats.byRule['ring-bounds'], cases.length);
});

t.test('unmapped ring memory is an address-bounds violation', async (t) => {
  const env = new FakeEnv();
  const ring = { base: RING_BASE + 0x10000, size: 8192, head: 4096, tail: 4104 };
  env.ggtt.write(ring.base, [0]); // only the first page is mapped
  const r = new CommandParser().scan(ring, env);
  t.equal(r.violation?.rule, 'address-bounds');
  t.equal(r.violation?.gma, ring.base + 4096);
});

t.test('malformed-command: a command cut by the tail', async (t) => {
  const env = new FakeEnv();
  const sdi = miStoreDataImm(0x2000, [1, 2, 3]); // 6 dwords
  const ring = ringWith(env, qword(flat(miNoop(), sdi.slice(0, 3))));
  const r = new CommandParser().scan(ring, env);
  t.equal(r.violation?.rule, 'malformed-command');
  t.equal(r.violation?.code, 'BAD_COMMAND');
  t.equal(r.violation?.command, 'MI_STORE_DATA_IMM');
  t.equal(r.violation?.offset, 1);
  t.equal(r.violation?.gma, RING_BASE + 4);
  t.equal(r.violation?.header, '0x' + (sdi[0] >>> 0).toString(16).padStart(8, '0'));
});

t.test('unknown-command: an unknown opcode is refused', async (t) => {
  const env = new FakeEnv({ engine: 'bcs' });
  // XY_COLOR_BLT is a blitter command: on the render ring its header is unknown.
  for (const [engine, header] of [['rcs', 0x1f800000], ['rcs', 0x20000000], ['bcs', 0x7b000005]] as const) {
    const e = new FakeEnv({ engine });
    const r = new CommandParser().scan(ringWith(e, qword([miNoop()[0], header])), e);
    t.equal(r.violation?.rule, 'unknown-command', `${engine} ${header.toString(16)}`);
    t.equal(r.violation?.command, 'UNKNOWN');
    t.equal(r.violation?.engine, engine);
  }
  t.ok(env);
});

t.test('MI_BATCH_BUFFER_END in the ring is malformed', async (t) => {
  const env = new FakeEnv();
  const r = new CommandParser().scan(ringWith(env, qword(miBatchBufferEnd())), env);
  t.equal(r.violation?.rule, 'malformed-command');
});

t.test('a GGTT batch is shadowed and the start relocated to its shadow', async (t) => {
  const env = new FakeEnv({ engine: 'bcs' });
  const batch = flat(miStoreDataImm(BATCH + 0x800, [1], { ggtt: true }), miArbCheck(), miBatchBufferEnd());
  env.ggtt.write(BATCH, batch);
  const p = new CommandParser();
  const r = p.scan(ringWith(env, qword(flat(miBatchBufferStart(BATCH), miArbCheck()))), env);
  t.ok(r.ok, r.violation?.message ?? '');
  t.equal(r.batches, 1);
  t.equal(r.commands, 5);
  t.equal(r.shadows.length, 2);
  const shadow = r.shadows[1];
  t.equal(shadow.length, batch.length, 'the shadow ends at MI_BATCH_BUFFER_END');
  t.equal(shadow.level, 1);
  t.equal(shadow.guestGma, BATCH);
  t.equal(shadow.parent, 0);
  t.equal(shadow.startOffset, 0);
  t.ok(shadow.privileged);
  // The store's GGTT address is patched to the host's (non-identity translation).
  const sh = shadow.dwords();
  t.equal(sh[1], (BATCH + 0x800 + HOST_OFFSET) >>> 0);
  t.equal(env.ggtt.peek(BATCH + 4, 1)[0], BATCH + 0x800, 'the guest batch is untouched');
  t.equal(r.addressesPatched, 1);
  // Relocation: the ring's start points at the shadow once placed.
  t.equal(r.relocations, 1);
  p.relocate([0, 0x1234_5000]);
  const ring = r.shadows[0].dwords();
  t.equal(ring[1], 0x1234_5000);
  t.equal(ring[2], 0);
  t.equal(ring[0] & (1 << 8), 0, 'GGTT start');
});

t.test('a PPGTT batch runs from a GGTT shadow: bit 8 cleared, address relocated (above 4 GiB too)', async (t) => {
  const env = new FakeEnv();
  env.ppgtt.write(PBATCH, flat(miNoop(), miBatchBufferEnd()));
  const p = new CommandParser();
  const r = p.scan(ringWith(env, qword(miBatchBufferStart(PBATCH, { ppgtt: true }))), env);
  t.ok(r.ok, r.violation?.message ?? '');
  t.ok(r.shadows[1].ppgtt);
  t.notOk(r.shadows[1].privileged);
  const host = 0x1_2345_6000;
  p.relocate([0, host]);
  const ring = r.shadows[0].dwords();
  t.equal(ring[0] & (1 << 8), 0);
  t.equal(ring[1], host >>> 0);
  t.equal(ring[2], 1);
  t.throws(() => p.relocate([0, 3]), { code: 'E_RANGE' }, 'misaligned host address');
  t.throws(() => p.relocate([0]), { code: 'E_RANGE' }, 'missing host address');
});

t.test('second-level batches return to their caller; chains replace the current batch', async (t) => {
  const env = new FakeEnv();
  const L1 = PBATCH, L2 = PBATCH + 0x10000, CH = PBATCH + 0x20000;
  env.ppgtt.write(L1, flat(miNoop(), miBatchBufferStart(L2, { ppgtt: true, secondLevel: true }), miArbCheck(),
    miBatchBufferStart(CH, { ppgtt: true }), encodeByName('MI_SEMAPHORE_WAIT', [0, 0, 0])));
  env.ppgtt.write(L2, flat(miUserInterrupt(), miBatchBufferEnd()));
  env.ppgtt.write(CH, flat(miNoop(), miBatchBufferEnd()));
  const p = new CommandParser();
  const r = p.scan(ringWith(env, qword(flat(miBatchBufferStart(L1, { ppgtt: true }), miArbCheck()))), env);
  t.ok(r.ok, r.violation?.message ?? ''); // the refused command after the chain start is never reached
  t.same(r.shadows.map((s) => [s.level, s.guestGma, s.parent]), [[0, RING_BASE, -1], [1, L1, 0], [2, L2, 1], [1, CH, 1]]);
  t.equal(r.shadows[1].length, 1 + 3 + 1 + 3, 'the chaining batch ends at its chain start');
  t.equal(r.relocations, 3);
  t.equal(r.userInterrupts, 1);
  p.relocate([0, 0x10000, 0x20000, 0x30000]);
  const l1 = r.shadows[1].dwords();
  t.equal(l1[2], 0x20000, 'second-level start points at the L2 shadow');
  t.not(l1[1] & (1 << 22), 0, 'second-level bit kept');
  t.equal(l1[6], 0x30000, 'chain start points at the chained shadow');
  t.equal(r.commands, 2 /* ring */ + 4 /* L1 up to its chain start */ + 2 /* L2 */ + 2 /* chained */);
});

t.test('batch-depth: a second-level start from the ring, a start inside a second-level batch', async (t) => {
  const env = new FakeEnv();
  let r = new CommandParser().scan(ringWith(env, qword(miBatchBufferStart(PBATCH, { ppgtt: true, secondLevel: true }))), env);
  t.equal(r.violation?.rule, 'batch-depth');
  t.equal(r.violation?.code, 'BAD_ADDRESS', 'GVT-g: -EFAULT (cmd_handler_mi_batch_buffer_start), failsafe');
  const L2 = PBATCH + 0x1000;
  env.ppgtt.write(PBATCH, flat(miBatchBufferStart(L2, { ppgtt: true, secondLevel: true }), miBatchBufferEnd()));
  env.ppgtt.write(L2, flat(miBatchBufferStart(PBATCH + 0x2000, { ppgtt: true }), miBatchBufferEnd()));
  r = new CommandParser().scan(ringWith(env, qword(miBatchBufferStart(PBATCH, { ppgtt: true }))), env);
  t.equal(r.violation?.rule, 'batch-depth');
  t.equal(r.violation?.level, 2);
  t.equal(r.violation?.gma, L2);
  t.equal(r.violation?.space, 'ppgtt');
});

t.test('batch-loop: a batch that chains to itself, a two-batch cycle, a long chain', async (t) => {
  const env = new FakeEnv();
  env.ppgtt.write(PBATCH, flat(miNoop(), miBatchBufferStart(PBATCH, { ppgtt: true })));
  let r = new CommandParser().scan(ringWith(env, qword(miBatchBufferStart(PBATCH, { ppgtt: true }))), env);
  t.equal(r.violation?.rule, 'batch-loop', 'self chain');
  const A = PBATCH + 0x10000, B = PBATCH + 0x20000;
  env.ppgtt.write(A, miBatchBufferStart(B, { ppgtt: true }));
  env.ppgtt.write(B, flat(miNoop(), miBatchBufferStart(A + 0, { ppgtt: true })));
  r = new CommandParser().scan(ringWith(env, qword(miBatchBufferStart(A, { ppgtt: true }))), env);
  t.equal(r.violation?.rule, 'batch-loop', 'A -> B -> A');
  t.equal(r.batches, 2);
  // A chain of 10 distinct batches with a limit of 5.
  const C = PBATCH + 0x100000;
  for (let k = 0; k < 10; k++) env.ppgtt.write(C + k * 0x1000, k === 9 ? miBatchBufferEnd() : miBatchBufferStart(C + (k + 1) * 0x1000, { ppgtt: true }));
  r = new CommandParser({ maxChainLength: 5 }).scan(ringWith(env, qword(miBatchBufferStart(C, { ppgtt: true }))), env);
  t.equal(r.violation?.rule, 'batch-loop', 'chain budget');
  r = new CommandParser().scan(ringWith(env, qword(miBatchBufferStart(C, { ppgtt: true }))), env);
  t.ok(r.ok, 'the same chain within the default budget');
  t.equal(r.batches, 10);
  // Calling the same second-level batch twice is not a loop.
  const S = PBATCH + 0x200000, L = PBATCH + 0x210000;
  env.ppgtt.write(S, flat(miBatchBufferStart(L, { ppgtt: true, secondLevel: true }), miBatchBufferStart(L, { ppgtt: true, secondLevel: true }), miBatchBufferEnd()));
  env.ppgtt.write(L, miBatchBufferEnd());
  r = new CommandParser().scan(ringWith(env, qword(miBatchBufferStart(S, { ppgtt: true }))), env);
  t.ok(r.ok, r.violation?.message ?? '');
  t.equal(r.batches, 3);
});

t.test('address-bounds: batch starts outside memory or unmapped', async (t) => {
  const env = new FakeEnv();
  let r = new CommandParser().scan(ringWith(env, qword(miBatchBufferStart(LOW.end))), env);
  t.equal(r.violation?.rule, 'address-bounds', 'GGTT start outside the slices');
  t.equal(r.violation?.command, 'MI_BATCH_BUFFER_START', 'charged to the start');
  t.equal(r.violation?.gma, RING_BASE);
  r = new CommandParser().scan(ringWith(env, qword(miBatchBufferStart(PBATCH + 0x5000, { ppgtt: true }))), env);
  t.equal(r.violation?.rule, 'address-bounds', 'PPGTT start to unmapped memory');
  // A batch whose second page is unmapped: charged to the command cut at the page end.
  const B = PBATCH + 0x8000 - 8;
  env.ppgtt.write(B, flat(miNoop(), miStoreDataImm(0, [1]).slice(0, 1)));
  r = new CommandParser().scan(ringWith(env, qword(miBatchBufferStart(B, { ppgtt: true }))), env);
  t.equal(r.violation?.rule, 'address-bounds');
  t.equal(r.violation?.gma, B + 4);
  t.equal(r.violation?.command, 'MI_STORE_DATA_IMM');
  // A PPGTT batch in a context without a PPGTT.
  const g = new FakeEnv({ contextPpgtt: false });
  g.ppgtt.write(PBATCH, miBatchBufferEnd());
  r = new CommandParser().scan(ringWith(g, qword(miBatchBufferStart(PBATCH, { ppgtt: true }))), g);
  t.equal(r.violation?.rule, 'address-bounds');
});

t.test('batch-size: a batch without MI_BATCH_BUFFER_END within the limit', async (t) => {
  const env = new FakeEnv();
  env.ppgtt.write(PBATCH, new Array(4096).fill(0)); // 16 KiB of MI_NOOP
  const r = new CommandParser({ maxBatchBytes: 8192 }).scan(ringWith(env, qword(miBatchBufferStart(PBATCH, { ppgtt: true }))), env);
  t.equal(r.violation?.rule, 'batch-size');
  t.equal(r.violation?.code, 'LIMIT');
  t.equal(r.bytesCopied, 16 + 8192);
});

t.test('command-budget: commands, batches and bytes per workload', async (t) => {
  const env = new FakeEnv();
  env.ppgtt.write(PBATCH, flat(new Array(100).fill(0), miBatchBufferEnd()));
  const ring = ringWith(env, qword(flat(miBatchBufferStart(PBATCH, { ppgtt: true }), miBatchBufferStart(PBATCH, { ppgtt: true }))));
  let r = new CommandParser({ maxCommands: 150 }).scan(ring, env);
  t.equal(r.violation?.rule, 'command-budget', 'commands');
  t.equal(r.commands, 150, 'refused at the first command over the budget');
  t.equal(r.violation?.offset, 150 - 1 - 101 - 1, 'the 151st command');
  r = new CommandParser({ maxCommands: 204 }).scan(ring, env);
  t.ok(r.ok, 'exactly at the budget');
  t.equal(r.commands, 204);
  r = new CommandParser({ maxBatches: 1 }).scan(ring, env);
  t.equal(r.violation?.rule, 'command-budget', 'batches');
  r = new CommandParser({ maxWorkloadBytes: 4096 }).scan(ring, env);
  t.equal(r.violation?.rule, 'command-budget', 'bytes');
});

t.test('MI_USER_INTERRUPT is NOOPed in the shadow and counted, in the ring and in batches', async (t) => {
  const env = new FakeEnv();
  env.ppgtt.write(PBATCH, flat(miUserInterrupt(), miNoop(), miUserInterrupt(), miBatchBufferEnd()));
  const words = qword(flat(miUserInterrupt(), miBatchBufferStart(PBATCH, { ppgtt: true })));
  const r = new CommandParser().scan(ringWith(env, words), env);
  t.ok(r.ok);
  t.equal(r.userInterrupts, 3);
  t.equal(r.shadows[0].dwords()[0], 0);
  t.same([...r.shadows[1].dwords()], [0, 0, 0, miBatchBufferEnd()[0]]);
  t.equal(env.ppgtt.peek(PBATCH, 1)[0], miUserInterrupt()[0], 'the guest batch keeps it');
});

t.test('copy-then-audit: the guest rewriting its batch after the scan changes no shadow', async (t) => {
  const env = new FakeEnv();
  env.ppgtt.write(PBATCH, flat(miNoop(), miBatchBufferEnd()));
  const r = new CommandParser().scan(ringWith(env, qword(miBatchBufferStart(PBATCH, { ppgtt: true }))), env);
  const before = [...r.shadows[1].dwords()];
  env.ppgtt.write(PBATCH, encodeByName('MI_SEMAPHORE_WAIT', [0, 0, 0]));
  t.same([...r.shadows[1].dwords()], before);
  t.equal(env.reads, 2, 'each guest page read once (ring, batch)');
});

t.test('the result and buffers are reused across scans', async (t) => {
  const env = new FakeEnv();
  env.ppgtt.write(PBATCH, flat(miNoop(), miBatchBufferEnd()));
  const p = new CommandParser();
  const a = p.scan(ringWith(env, qword(miBatchBufferStart(PBATCH, { ppgtt: true }))), env);
  const dataA = a.shadows[1].data;
  const b = p.scan(ringWith(env, qword(miBatchBufferStart(PBATCH, { ppgtt: true }))), env);
  t.equal(a, b);
  t.equal(b.shadows.length, 2);
  t.equal(b.shadows[1].data, dataA, 'no reallocation');
  const c = p.scan(ringWith(env, qword([0x1f800000])), env);
  t.notOk(c.ok);
  const d = p.scan(ringWith(env, qword(miNoop())), env);
  t.ok(d.ok);
  t.equal(d.violation, null);
  t.equal(d.shadows.length, 1);
  t.same({ scans: p.stats.scans, passed: p.stats.passed, refused: p.stats.refused }, { scans: 4, passed: 3, refused: 1 });
  t.throws(() => { p.scan(ringWith(env, qword([0x1f800000])), env); p.relocate([0]); }, { code: 'E_RANGE' }, 'relocate after a refusal');
});

t.test('options are validated', async (t) => {
  for (const k of Object.keys(DEFAULT_PARSER_LIMITS)) {
    t.throws(() => new CommandParser({ [k]: 0 }), { code: 'E_CONFIG' }, k);
    t.throws(() => new CommandParser({ [k]: 1.5 }), { code: 'E_CONFIG' }, k);
  }
});

t.test('scanning is linear: doubling the input doubles the decoded commands and the pages read', async (t) => {
  const counts: number[] = [];
  const reads: number[] = [];
  for (const n of [2000, 4000, 8000]) {
    const env = new FakeEnv();
    const body: number[] = [];
    for (let k = 0; k < n; k++) body.push(...(k % 3 === 0 ? miStoreDataImm(PBATCH + 8 * k, [k]) : k % 3 === 1 ? miArbCheck() : miNoop()));
    env.ppgtt.write(PBATCH, flat(body, miBatchBufferEnd()));
    const r = new CommandParser().scan(ringWith(env, qword(miBatchBufferStart(PBATCH, { ppgtt: true }))), env);
    t.ok(r.ok);
    counts.push(r.commands - 2 /* ring: start, padding */ - 1 /* end */);
    reads.push(env.reads - 1);
  }
  t.same(counts, [2000, 4000, 8000]);
  t.ok(Math.abs(reads[1] - 2 * reads[0]) <= 1 && Math.abs(reads[2] - 2 * reads[1]) <= 1, `pages read ${reads}`);
});
