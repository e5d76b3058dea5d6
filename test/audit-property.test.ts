/**
 * Properties: random mutations of valid streams never make the parser throw; each scan either
 * passes (with well-formed shadows) or stops at a violation naming a rule with its code.
 */
import t from 'tap';
import fc from 'fast-check';
import {
  encodeByName, miArbCheck, miBatchBufferEnd, miBatchBufferStart, miFlushDw, miLoadRegisterImm, miNoop, miStoreDataImm,
  miStoreRegisterMem, miUserInterrupt, pipeControl, xyColorBlt, xySrcCopyBlt,
} from '../lib/device/commands/index.js';
import { AUDIT_RULES, RULE_CODE } from '../lib/mediator/audit-rules.js';
import { CommandParser } from '../lib/mediator/parser.js';
import { FakeEnv, HIGH, LOW, fixture, qword, ringWith } from './audit-fixture.js';

const RULES = new Set(AUDIT_RULES.map((r) => r.name));
const PB = 0x2_0000_0000;
const G = LOW.start + 0x4000;

/** A valid render workload: ring → PPGTT batch → second-level batch, plus a GGTT batch. */
function renderWorkload(): { ring: number[]; batches: [number, boolean, number[]][] } {
  const l2 = [...miStoreDataImm(PB + 0x100, [1]), ...miUserInterrupt(), ...miBatchBufferEnd()];
  const l1 = [
    ...miLoadRegisterImm([[0x7000, 0x10001], [0x2600, 5]]),
    ...pipeControl({ postSyncOp: 1, address: PB + 0x200, data: 1 }),
    ...encodeByName('3DPRIMITIVE', [4, 3, 0, 1, 0, 0]),
    ...miBatchBufferStart(PB + 0x10000, { ppgtt: true, secondLevel: true }),
    ...miStoreRegisterMem(0x2358, PB + 0x300),
    ...miBatchBufferEnd(),
  ];
  const gg = [...miStoreDataImm(G + 0x40, [2], { ggtt: true }), ...pipeControl({ postSyncOp: 1, address: G + 0x80, ggtt: true }), ...miBatchBufferEnd()];
  const ring = qword([
    ...miArbCheck(), ...miBatchBufferStart(PB, { ppgtt: true }), ...miNoop(),
    ...miBatchBufferStart(HIGH.start), ...miUserInterrupt(), ...miStoreDataImm(G, [3], { ggtt: true }),
  ]);
  return { ring, batches: [[PB, true, l1], [PB + 0x10000, true, l2], [HIGH.start, false, gg]] };
}

/** A valid blitter workload in a GGTT context, from the ring. */
function blitWorkload(): { ring: number[]; batches: [number, boolean, number[]][] } {
  const ring = qword([
    ...xyColorBlt({ dstAddress: G, dstPitch: 4096, dst: { x1: 0, y1: 0, x2: 64, y2: 8 }, color: 7 }),
    ...xySrcCopyBlt({ dstAddress: G, dstPitch: 4096, dst: { x1: 0, y1: 0, x2: 8, y2: 8 }, srcAddress: HIGH.start, srcPitch: 512, srcX: 0, srcY: 0 }),
    ...miFlushDw({ postSyncOp: 1, address: G + 0x1000, ggtt: true, data: 1 }),
    ...[...fixture('blit.bin').subarray(0, 600)],
  ]);
  return { ring, batches: [] };
}

type Mutation = { kind: 'set'; at: number; value: number } | { kind: 'flip'; at: number; bit: number } | { kind: 'cut'; at: number };

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 0xffffffff }) }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 31 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
);

function mutate(words: number[], m: Mutation): number[] {
  if (words.length === 0) return words;
  const out = words.slice();
  const at = m.at % out.length;
  if (m.kind === 'set') out[at] = m.value >>> 0;
  else if (m.kind === 'flip') out[at] = (out[at] ^ (1 << m.bit)) >>> 0;
  else out.length = at;
  return out;
}

/** Outcomes seen, to show the properties explore passes and several refusals. */
const seen = new Map<string, number>();

function check(ringWords: number[], batches: [number, boolean, number[]][], engine: string, contextPpgtt: boolean): boolean {
  const env = new FakeEnv({ engine, contextPpgtt });
  for (const [at, ppgtt, words] of batches) (ppgtt ? env.ppgtt : env.ggtt).write(at, words);
  const ring = ringWith(env, qword(ringWords), 4096 - 64, 8192);
  const parser = new CommandParser({ maxBatchBytes: 64 * 1024 });
  const r = parser.scan(ring, env);
  const outcome = r.ok ? 'pass' : r.violation!.rule;
  seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
  if (r.ok) {
    if (r.shadows[0].length !== qword(ringWords).length) return false;
    if (r.relocations !== r.batches) return false;
    for (const s of r.shadows.slice(1)) {
      // A batch shadow ends with MI_BATCH_BUFFER_END (MI opcode 0x0a) or with its chaining start (0x31).
      const end = s.length >= 1 ? s.data[s.length - 1] >>> 23 : -1;
      const start = s.length >= 3 ? s.data[s.length - 3] >>> 23 : -1;
      if (end !== 0x0a && start !== 0x31) return false;
    }
    parser.relocate(r.shadows.map((_, k) => 0x100000 * (k + 1)));
    return true;
  }
  const v = r.violation!;
  return RULES.has(v.rule) && v.code === RULE_CODE[v.rule] && typeof v.message === 'string' && v.message.length > 0;
}

t.test('random mutations of valid streams never throw and end in a pass or a named violation', async (t) => {
  const render = renderWorkload();
  const blit = blitWorkload();
  t.ok(check(render.ring, render.batches, 'rcs', true), 'the render workload is valid');
  t.ok(check(blit.ring, blit.batches, 'bcs', false), 'the blit workload is valid');
  fc.assert(
    fc.property(fc.nat({ max: 3 }), fc.array(mutation, { minLength: 1, maxLength: 6 }), (target, ms) => {
      const w = renderWorkload();
      const batches = w.batches.map(([at, pp, words]) => [at, pp, words.slice()] as [number, boolean, number[]]);
      let ring = w.ring;
      for (const m of ms) {
        if (target === 0) ring = mutate(ring, m);
        else batches[target - 1][2] = mutate(batches[target - 1][2], m);
      }
      return check(ring, batches, 'rcs', true);
    }),
    { numRuns: 600, seed: 0x6a7 },
  );
  fc.assert(
    fc.property(fc.array(mutation, { minLength: 1, maxLength: 8 }), fc.boolean(), (ms, ppgtt) => {
      let ring = blitWorkload().ring;
      for (const m of ms) ring = mutate(ring, m);
      return check(ring, [], 'bcs', ppgtt);
    }),
    { numRuns: 400, seed: 0xb17 },
  );
  t.ok((seen.get('pass') ?? 0) > 50, `passes: ${seen.get('pass')}`);
  t.ok(seen.size >= 6, `outcomes: ${[...seen.keys()].join(', ')}`);
});

t.test('random dwords never throw', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 200 }), fc.constantFrom('rcs', 'bcs', 'vcs', 'vecs'), fc.boolean(),
      (words, engine, ppgtt) => check(words, [[PB, true, words]], engine, ppgtt)),
    { numRuns: 500, seed: 0x5eed },
  );
});
