/**
 * The attack corpus: every attack runs next to a victim doing real work; its own expectation is
 * checked, then the global invariants (no exception, the device touched only the right frames,
 * GGTT and shadow PPGTT name only owned frames, the victim's results are right, nothing leaks).
 * An attack that exposes a known bug reports its assertions as todo (the suite stays green, the
 * output shows what fails) until the fix lands.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { ATTACKS, ATTACK_SURFACES, runAttack, type Assert } from '../lib/fuzz/attacks/index.js';
import { AUDIT_RULES } from '../lib/mediator/audit-rules.js';
import { corpusReadme } from '../lib/fuzz/attacks/readme.js';

/** tap's assertions, marked todo with `reason` when given. */
function asserts(t: Test, reason?: string): Assert {
  const extra = reason ? { todo: reason } : {};
  return {
    ok: (v, m) => t.ok(v, m ?? '', extra),
    equal: (a, b, m) => t.equal(a, b, m ?? '', extra),
  };
}

t.test('the corpus', async (t) => {
  t.ok(ATTACKS.length >= 30, `${ATTACKS.length} attacks`);
  t.equal(new Set(ATTACKS.map((a) => a.name)).size, ATTACKS.length, 'names are unique');
  for (const s of ATTACK_SURFACES) t.ok(ATTACKS.some((a) => a.surface === s), `surface ${s} is attacked`);
  for (const a of ATTACKS) t.ok(a.expectation.length > 20, `${a.name} states what a correct mediator does`);
  // Every audit rule has an attack that is refused by it.
  const text = ATTACKS.filter((a) => a.surface === 'commands' || a.surface === 'resources').map((a) => `${a.name} ${a.expectation}`).join('\n');
  for (const r of AUDIT_RULES) t.ok(text.includes(r.name), `audit rule ${r.name} is exercised`);
  // fixtures/attacks/README.md lists the corpus (regenerate: node dist/scripts/fuzz.js --readme).
  const readme = readFileSync(new URL('../fixtures/attacks/README.md', import.meta.url), 'utf8');
  for (const a of ATTACKS) t.ok(readme.includes(`\`${a.name}\``), `README lists ${a.name}`);
  t.equal(readme, corpusReadme(), 'README matches the corpus (node dist/scripts/fuzz.js --readme > fixtures/attacks/README.md)');
});

for (const a of ATTACKS) {
  t.test(`${a.surface}: ${a.name}`, async (t) => {
    t.comment(a.expectation);
    if (a.knownBug) t.comment(`known bug: ${a.knownBug}`);
    runAttack(a, asserts(t, a.knownBug ? `known bug: ${a.knownBug}` : undefined));
  });
}
