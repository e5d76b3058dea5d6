/**
 * The attack corpus, by surface. `ATTACKS` is what `test/attacks.test.ts` runs and what
 * `fixtures/attacks/README.md` lists; `runAttack` runs one with the global checks.
 */
import { COMMAND_ATTACKS } from './commands.js';
import { DISPLAY_ATTACKS, SCANOUT_ATTACKS } from './display.js';
import { EXECLIST_ATTACKS, RESOURCE_ATTACKS } from './execlists-resources.js';
import { GGTT_ATTACKS } from './ggtt.js';
import { GSCALE_ATTACKS } from './gscale.js';
import { LIFECYCLE_ATTACKS } from './lifecycle.js';
import { MMIO_ATTACKS } from './mmio.js';
import { PCI_ATTACKS, PVINFO_ATTACKS } from './pci-pvinfo.js';
import { PPGTT_ATTACKS } from './ppgtt.js';
import { RESIDUE_ATTACKS } from './residue.js';
import type { Attack } from './types.js';

export { ATTACK_SURFACES, CollectingAssert, runAttack } from './types.js';
export type { Assert, Attack, AttackContext, AttackOutcome, AttackSurface } from './types.js';

/** Every attack, in surface order. Names are unique. */
export const ATTACKS: readonly Attack[] = Object.freeze([
  ...MMIO_ATTACKS, ...PCI_ATTACKS, ...PVINFO_ATTACKS, ...GGTT_ATTACKS, ...GSCALE_ATTACKS, ...PPGTT_ATTACKS, ...COMMAND_ATTACKS, ...DISPLAY_ATTACKS, ...SCANOUT_ATTACKS, ...RESIDUE_ATTACKS, ...EXECLIST_ATTACKS, ...RESOURCE_ATTACKS,
  ...LIFECYCLE_ATTACKS,
]);
