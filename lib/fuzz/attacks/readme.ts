/**
 * `fixtures/attacks/README.md`, generated from the corpus (`node dist/scripts/fuzz.js --readme`);
 * `test/attacks.test.ts` checks that the committed file matches.
 */
import { ATTACKS, ATTACK_SURFACES } from './index.js';

const HEAD = [
  '# Attack corpus',
  '',
  'The hostile-guest attack programs live as TypeScript in [`lib/fuzz/attacks/`](../../lib/fuzz/attacks/)',
  '(`fixtures/` is outside the TypeScript build, and the attacks are code: they drive guests through',
  'the conformance harness). `ATTACKS` in [`lib/fuzz/attacks/index.ts`](../../lib/fuzz/attacks/index.ts)',
  'is the corpus; one file per surface:',
  '',
  '| file | surfaces |',
  '|---|---|',
  '| `mmio.ts` | BAR0 registers |',
  '| `pci-pvinfo.ts` | PCI configuration space, PVINFO page |',
  '| `ggtt.ts` | global GTT window, aperture |',
  '| `ppgtt.ts` | guest page tables (and one resource attack that starves host frames through them) |',
  '| `commands.ts` | command buffers: one attack per audit rule, nesting, chains, ring shapes, copy-then-audit, blits |',
  '| `display.ts` | the virtual display: MI_DISPLAY_FLIP (other memory, PPGTT batches, every plane select, odd forms), PLANE_SURF writes, the vblank timer, flip storms, pipe toggles, DPCD |',
  '| `execlists-resources.ts` | execlist descriptors and ports; shared resources (audit work, frames, GPU time, interrupts, logs) |',
  '| `lifecycle.ts` | workload lifecycle (reset, failsafe, preemption, STOP_RING) and per-vGPU shadow bounds |',
  '| `residue.ts` | register values a guest\'s commands leave for the next guest, PDP reads, a vGPU handle kept after destroy |',
  '',
  'Every attack is `{ name, surface, expectation, run(ctx), expect(ctx, t) }`: `run` is the guest',
  'program (BAR0/BAR2/PCI accesses and stores to its own RAM, plus simulated time), `expectation`',
  'states what a correct mediator does and `expect` checks it. `runAttack` (in `types.ts`) runs each',
  'one in a `FuzzWorld` next to a victim guest doing real work, then checks the global invariants: no',
  'exception reaches the caller, the device touched only frames of the vGPU whose workload it ran (or',
  'that workload\'s shadows), every host GGTT entry and shadow PPGTT entry names only frames of its',
  'vGPU, the victim\'s work completed with the right values and its canaries are intact, and every',
  'host frame and shadow page comes back at teardown. An attack marked *known bug* exposes a bug of',
  'the mediator; its assertions report as todo until the fix lands (see SECURITY.md).',
  '',
  'Run them: `npx tap test/attacks.test.ts`, or `node dist/scripts/fuzz.js --attacks [substring]`.',
  '',
  '## The attacks',
  '',
].join('\n');

/** The README of the corpus: what it is, how it runs, and every attack by surface. */
export function corpusReadme(): string {
  let out = HEAD;
  for (const s of ATTACK_SURFACES) {
    const xs = ATTACKS.filter((a) => a.surface === s);
    out += `\n### ${s} (${xs.length})\n\n| attack | what a correct mediator does |\n|---|---|\n`;
    for (const a of xs) out += `| \`${a.name}\`${a.knownBug ? ' (known bug)' : ''} | ${a.expectation.replace(/\|/g, '\\|')} |\n`;
  }
  return out;
}
