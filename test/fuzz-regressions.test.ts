/**
 * Violations found by long campaigns, replayed as regression tests (each case rebuilds its world
 * from the seed and the segment start, as `npm run fuzz -- --replay I --segment S` does).
 */
import t from 'tap';
import { replayCase } from '../lib/fuzz/campaign.js';

const CASES = [
  // A GPU store through a GGTT entry aliasing the guest's own context page 0 was overwritten by
  // the mediator copying the shadow context's page 0 back at completion (gtt campaign, seed 31001).
  { fuzzer: 'gtt' as const, seed: 31001, index: 252300, segment: 252000 },
  { fuzzer: 'gtt' as const, seed: 31001, index: 710583, segment: 710500 },
  { fuzzer: 'gtt' as const, seed: 31001, index: 896908, segment: 896500 },
  // An engine reset was taken for a device reset: every engine's in-flight workload failed and the
  // engines kept running unowned contexts (commands campaign, seed 31002).
  { fuzzer: 'commands' as const, seed: 31002, index: 2434, segment: 2400 },
  { fuzzer: 'commands' as const, seed: 31002, index: 52906, segment: 52800 },
  { fuzzer: 'commands' as const, seed: 31002, index: 60166, segment: 60000 },
  // A context submitted in 3-level mode with its PML4 as PDP0 left a cached 3-level mm holding the
  // PML4 page as a page directory: the attacker's later 4-level batches were refused as unmapped
  // (commands campaign, seed 31002; SECURITY.md finding 10).
  { fuzzer: 'commands' as const, seed: 31002, index: 43669, segment: 43500 },
  { fuzzer: 'commands' as const, seed: 31002, index: 65591, segment: 65400 },
];

for (const c of CASES) {
  t.test(`${c.fuzzer} seed ${c.seed} case ${c.index}`, async (t) => {
    const r = replayCase(c.fuzzer, c.seed, c.index, c.segment);
    t.equal(r.violations, 0, JSON.stringify(r.failures[0] ?? ''));
    t.equal(r.crashes, 0);
  });
}
