/**
 * The hostile-guest proof: an isolation checker (`monitor.ts`), fuzz worlds with a victim doing
 * real work (`world.ts`), five seeded fuzzers (`fuzzers/`), the campaign runner (`campaign.ts`) and
 * the attack corpus (`attacks/`). See SECURITY.md for the threat model and the figures.
 */
export { DeviceMonitor, INVARIANTS, checkGgttEntries, checkGgttEntry, checkGgttFull, checkShadowPpgtt, describeFrame, shadowFramesHeld } from './monitor.js';
export type { Violation } from './monitor.js';
export { FuzzWorld, Victim, SCARCE_WORLD, engineMap, mix32 } from './world.js';
export type { WorldOptions } from './world.js';
export { FUZZER_NAMES } from './fuzzer.js';
export type { Fuzzer, FuzzerName } from './fuzzer.js';
export { FUZZERS, runCampaign, replayCase, summaryLine } from './campaign.js';
export type { CampaignOptions, CampaignResult, CaseFailure } from './campaign.js';
export { ATTACKS, ATTACK_SURFACES, CollectingAssert, runAttack } from './attacks/index.js';
export type { Assert, Attack, AttackContext, AttackOutcome, AttackSurface } from './attacks/index.js';
export { failAllocationAt } from './faults.js';
export type { AllocationFault } from './faults.js';
export {
  WorldOracles, LeakOracle, ResidueOracle, StarvationOracle, WorkBoundOracle, RESIDUE_EVERY, PARSER_RETAINED_LIMIT_BYTES,
  DEVICE_NS_LIMIT, MAX_BLIT_BYTES, STARVATION_RULES, checkShadowAgrees,
} from './oracles/index.js';
export type { OracleOptions, ResidueOptions } from './oracles/index.js';
