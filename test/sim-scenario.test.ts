/**
 * Scenario validation: defaults, and every bad field named by its JSON path.
 */
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { parseScenario, validateScenario, ScenarioError, ATTACK_KINDS } from '../lib/sim/scenario.js';

const ok = { vgpus: [{ workload: { kind: 'idle' } }] };

function errorsOf(doc: unknown): string[] {
  try {
    validateScenario(doc);
  } catch (e) {
    if (e instanceof ScenarioError) return e.errors.map((x) => `${x.path}: ${x.message}`);
    throw e;
  }
  return [];
}

t.test('defaults are filled in', async (t) => {
  const sc = validateScenario(ok);
  t.equal(sc.durationMs, 1000);
  t.equal(sc.seed, 1);
  t.equal(sc.device.apertureMiB, 1024);
  t.equal(sc.mediator.mode, 'mediated');
  t.equal(sc.mediator.failsafe, 'gvt-g');
  t.equal(sc.scheduler.policy, 'time-slice');
  t.equal(sc.scheduler.watchdogMs, 100);
  t.equal(sc.vgpus[0].name, 'vgpu1');
  t.equal(sc.vgpus[0].type, 'GVTg_V5_8');
  t.same(sc.vgpus[0].workload, { kind: 'idle', periodMs: 100 });
  const g = validateScenario({ vgpus: [{ workload: { kind: 'game' } }] }).vgpus[0].workload;
  t.match(g, { kind: 'game', fps: 60, draws: 1000, present: 'blit', maxFramesInFlight: 2 });
  const a = validateScenario({ vgpus: [{ workload: { kind: 'attacker' } }] }).vgpus[0].workload;
  t.same(a.kind === 'attacker' && a.attacks, [...ATTACK_KINDS]);
});

t.test('scheduler options in ms become the policy’s ns options', async (t) => {
  const sc = validateScenario({ ...ok, scheduler: { policy: 'priority', options: { sliceMs: 2, starvationMs: 30 } } });
  t.same(sc.scheduler.options, { sliceNs: 2_000_000, starvationNs: 30_000_000 });
});

t.test('each bad field is named by its JSON path', async (t) => {
  const cases: [unknown, RegExp][] = [
    [{ vgpus: [{}, {}, { workload: { kind: 'gme' } }] }, /^vgpus\[2\]\.workload\.kind: unknown workload 'gme' \(known: game, media, blit, idle, bursty, attacker\)$/],
    [{ vgpus: [{ workload: { kind: 'idle' } }, { type: 'GVTg_V9', workload: { kind: 'idle' } }] }, /^vgpus\[1\]\.type: unknown vGPU type 'GVTg_V9' \(known: GVTg_V5_8, GVTg_V5_4, GVTg_V5_2, GVTg_V5_1\)$/],
    [{ vgpus: [{ ramMiB: -4, workload: { kind: 'idle' } }] }, /^vgpus\[0\]\.ramMiB: must be >= 16, got -4$/],
    [{ vgpus: [{ workload: { kind: 'game', fps: 'fast' } }] }, /^vgpus\[0\]\.workload\.fps: must be a finite number, got 'fast'$/],
    [{ vgpus: [{ workload: { kind: 'game', drwas: 3 } }] }, /^vgpus\[0\]\.workload\.drwas: unknown field \(known: kind, fps, draws/],
    [{ vgpus: [{ workload: { kind: 'attacker', attacks: ['store-outside', 'rowhammer'] } }] }, /^vgpus\[0\]\.workload\.attacks\[1\]: unknown attack 'rowhammer'/],
    [{ vgpus: [{ capShare: 1.5, workload: { kind: 'idle' } }] }, /^vgpus\[0\]\.capShare: must be <= 1, got 1.5$/],
    [{ vgpus: [{ priority: 'urgent', workload: { kind: 'idle' } }] }, /^vgpus\[0\]\.priority: unknown priority 'urgent'/],
    [{ vgpus: [{ name: 'a', workload: { kind: 'idle' } }, { name: 'a', workload: { kind: 'idle' } }] }, /^vgpus\[1\]\.name: duplicate name 'a' \(also vgpus\[0\]\)$/],
    [{ vgpus: [{ name: 'x' }] }, /^vgpus\[0\]\.workload: required object missing/],
    [{ ...ok, mediator: { mode: 'virtio' } }, /^mediator\.mode: unknown mode 'virtio' \(known: passthrough, mediated, sriov, emulated\)$/],
    [{ ...ok, mediator: { failsafe: 'sometimes' } }, /^mediator\.failsafe: unknown failsafe policy 'sometimes'/],
    [{ ...ok, scheduler: { policy: 'lottery' } }, /^scheduler\.policy: unknown policy 'lottery' \(known: time-slice, round-robin, throttle, priority\)$/],
    [{ ...ok, scheduler: { policy: 'round-robin', options: { balancePeriodMs: 10 } } }, /^scheduler\.options\.balancePeriodMs: not an option of the round-robin policy$/],
    [{ ...ok, scheduler: { watchdogMs: 0 } }, /^scheduler\.watchdogMs: must be > 0, got 0$/],
    [{ ...ok, device: { apertureMiB: 1000 } }, /^device\.apertureMiB: must be a power of two, got 1000$/],
    [{ ...ok, device: { cost: { commands: { NOT_A_COMMAND: 5 } } } }, /^device\.cost\.commands\.NOT_A_COMMAND: no such command in the Gen9 table$/],
    [{ ...ok, durationMs: -1 }, /^durationMs: must be > 0, got -1$/],
    [{ ...ok, seed: 1.5 }, /^seed: must be an integer, got 1.5$/],
    [{ ...ok, vgpu: [] }, /^vgpu: unknown field \(known: /],
    [{ vgpus: [] }, /^vgpus: must be a non-empty list/],
    [{}, /^vgpus: required list missing$/],
  ];
  for (const [doc, re] of cases) {
    const errs = errorsOf(doc);
    t.ok(errs.some((e) => re.test(e)), `${re}: got ${JSON.stringify(errs)}`);
  }
});

t.test('every problem is reported at once, with code E_SCENARIO and the first path', async (t) => {
  const doc = { durationMs: 'long', vgpus: [{ type: 'nope', workload: { kind: 'media', fps: 0 } }] };
  t.throws(() => validateScenario(doc, 'x.json'), { code: 'E_SCENARIO', path: 'vgpus[0].type' });
  const errs = errorsOf(doc);
  t.same(errs.map((e) => e.split(':')[0]).sort(), ['durationMs', 'vgpus[0].type', 'vgpus[0].workload.fps'].sort());
  t.throws(() => parseScenario('{ nope', 'bad.json'), { code: 'E_SCENARIO', message: /^bad\.json: \(root\): not valid JSON/ });
  t.throws(() => parseScenario('[1]'), { code: 'E_SCENARIO', path: '(root)' });
});

t.test('the shipped scenarios validate', async (t) => {
  const dir = 'fixtures/scenarios';
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  t.ok(files.includes('demo.json'));
  t.ok(files.filter((f) => f.startsWith('scale-')).length >= 6, 'a scale sweep');
  for (const f of files) {
    const sc = parseScenario(readFileSync(`${dir}/${f}`, 'utf8'), f);
    t.ok(sc.vgpus.length > 0, f);
  }
  const demo = parseScenario(readFileSync(`${dir}/demo.json`, 'utf8'));
  t.equal(demo.vgpus.length, 3);
  t.equal(demo.durationMs, 2000);
  t.same(demo.vgpus.map((v) => v.workload.kind).sort(), ['attacker', 'game', 'media']);
});
