/**
 * The fuzz campaign runner (`npm run fuzz -- --cases N --seed S [--fuzzer NAME]`).
 *
 *   node dist/scripts/fuzz.js --cases 10000 --seed 7 --fuzzer commands
 *   node dist/scripts/fuzz.js --cases 2000 --seed 1 --fuzzer all
 *   node dist/scripts/fuzz.js --fuzzer gtt --seed 7 --replay 1234 --segment 1000   # one failing case
 *   node dist/scripts/fuzz.js --fuzzer commands --seed 7 --cases 500000 --from 500000 --progress 60
 *     # the second half of a 1,000,000-case campaign (cases 500,000..999,999 of seed 7: the same
 *     # cases as in one run when --from is a multiple of the fuzzer's cases per world), with a
 *     # progress line on stderr at most every 60 s
 *   node dist/scripts/fuzz.js --attacks [substring]                                # the attack corpus
 *   node dist/scripts/fuzz.js --readme > fixtures/attacks/README.md                # regenerate the corpus list
 *
 * Prints one line per fuzzer (cases, violations, crashes, cases per second), the seed and the
 * operations of every failing case kept, and ends with one line: `N cases, N violations, N
 * crashes`. Exit status 1 when any case failed.
 */
import { corpusReadme } from '../lib/fuzz/attacks/readme.js';
import type { OracleOptions } from '../lib/fuzz/oracles/index.js';
import { ATTACKS, CollectingAssert, FUZZER_NAMES, runAttack, runCampaign, summaryLine, type CampaignResult, type FuzzerName } from '../lib/fuzz/index.js';

interface Args {
  cases: number;
  seed: number;
  fuzzers: FuzzerName[];
  replay: number;
  segment: number;
  /** First case index (a campaign in parts). */
  from: number;
  /** Seconds between progress lines on stderr (0: none). */
  progress: number;
  perWorld: number | undefined;
  /** Invariants counted but not failing (classes known open). */
  tolerate: string[];
  /** Oracles of the worlds: undefined (the fuzzers' default), or a selection. */
  oracles: OracleOptions | false | undefined;
  maxFailures: number;
  json: boolean;
  /** Run the attack corpus instead (optionally only names containing this). */
  attacks: string | null;
}

function usage(msg: string): never {
  process.stderr.write(`${msg}\nusage: fuzz --cases N --seed S [--fuzzer ${FUZZER_NAMES.join('|')}|all] [--from I] [--progress SECONDS] [--replay I --segment S] [--per-world N] [--max-failures N] [--tolerate INVARIANT,...] [--oracles all|none|residue,leak,work-bound,starvation] [--json]\n       fuzz --attacks [name-substring]\n`);
  process.exit(2);
}

function parse(argv: string[]): Args {
  const a: Args = { cases: 1000, seed: 1, fuzzers: [...FUZZER_NAMES], replay: -1, segment: -1, from: 0, progress: 0, perWorld: undefined, maxFailures: 5, json: false, attacks: null, tolerate: [], oracles: undefined };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) usage(`${k} needs a value`);
      return v;
    };
    const int = (): number => {
      const v = Number(next());
      if (!Number.isSafeInteger(v) || v < 0) usage(`${k}: not a non-negative integer`);
      return v;
    };
    if (k === '--cases') a.cases = int();
    else if (k === '--seed') a.seed = int();
    else if (k === '--fuzzer') {
      const f = next();
      if (f === 'all') a.fuzzers = [...FUZZER_NAMES];
      else if ((FUZZER_NAMES as readonly string[]).includes(f)) a.fuzzers = [f as FuzzerName];
      else usage(`unknown fuzzer ${f}`);
    } else if (k === '--replay') a.replay = int();
    else if (k === '--segment') a.segment = int();
    else if (k === '--from') a.from = int();
    else if (k === '--progress') a.progress = int();
    else if (k === '--per-world') a.perWorld = int() || undefined;
    else if (k === '--max-failures') a.maxFailures = int();
    else if (k === '--oracles') {
      const v = next();
      const on = new Set(v.split(','));
      a.oracles = v === 'none' ? false : v === 'all' ? {} : { residue: on.has('residue') ? {} : false, leak: on.has('leak'), workBound: on.has('work-bound'), starvation: on.has('starvation') };
    } else if (k === '--tolerate') a.tolerate = next().split(',').filter(Boolean);
    else if (k === '--json') a.json = true;
    else if (k === '--readme') {
      process.stdout.write(corpusReadme());
      process.exit(0);
    } else if (k === '--attacks') a.attacks = argv[i + 1] !== undefined && !argv[i + 1].startsWith('--') ? argv[++i] : '';
    else if (k === '--help' || k === '-h') usage('');
    else usage(`unknown argument ${k}`);
  }
  if (a.replay >= 0 && a.fuzzers.length !== 1) usage('--replay needs one --fuzzer');
  return a;
}

function report(r: CampaignResult): void {
  const rate = r.ms > 0 ? (r.cases / (r.ms / 1000)).toFixed(0) : '?';
  const inv = Object.entries(r.byInvariant).map(([k, v]) => `${k} ${v}`).join(', ');
  console.log(`${r.fuzzer}: ${r.cases} cases, ${r.violations} violations, ${r.crashes} crashes, ${r.worlds} worlds, ` +
    `${(r.ms / 1000).toFixed(1)} s, ${rate} cases/s (seed ${r.seed})${r.tolerated ? `, ${r.tolerated} cases with tolerated violations only` : ''}${inv ? ` [${inv}]` : ''}`);
  for (const f of r.failures) {
    console.log(`  ${f.kind} in ${f.fuzzer} case ${f.index} (seed ${f.seed}); replay: ${f.replay}`);
    for (const v of f.violations.slice(0, 6)) console.log(`    ${v.invariant}: ${v.message.split('\n').join('\n      ')}`);
    for (const o of f.ops.slice(0, 24)) console.log(`    op: ${o}`);
    if (f.ops.length > 24) console.log(`    ... ${f.ops.length - 24} more ops`);
  }
}

/** Run the attack corpus; one line per attack, then `N attacks, N failed`. */
function attacks(filter: string): void {
  let failed = 0, n = 0;
  for (const atk of ATTACKS) {
    if (filter && !atk.name.includes(filter)) continue;
    n++;
    const t = new CollectingAssert();
    const t0 = performance.now();
    runAttack(atk, t);
    const ms = (performance.now() - t0).toFixed(0);
    const status = t.failures.length === 0 ? 'ok' : atk.knownBug ? 'KNOWN BUG' : 'FAIL';
    if (t.failures.length && !atk.knownBug) failed++;
    console.log(`${status.padEnd(9)} ${atk.surface.padEnd(9)} ${atk.name} (${t.checks} checks, ${ms} ms)`);
    for (const f of t.failures) console.log(`          ${f.split('\n').slice(0, 4).join('\n          ')}`);
  }
  console.log(`${n} attacks, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

/** A progress reporter: one stderr line at most every `a.progress` seconds (after a world ends). */
function progressLine(fuzzer: FuzzerName, a: Args): (done: number, violations: number, crashes: number) => void {
  const t0 = performance.now();
  let last = t0;
  return (done, violations, crashes) => {
    const now = performance.now();
    if (now - last < a.progress * 1000) return;
    last = now;
    const rate = done / ((now - t0) / 1000);
    process.stderr.write(`${fuzzer} seed ${a.seed}: cases ${a.from}..${a.from + done - 1} done (${done} of ${a.cases}), ` +
      `${violations} violations, ${crashes} crashes, ${rate.toFixed(0)} cases/s\n`);
  };
}

function main(): void {
  const a = parse(process.argv.slice(2));
  if (a.attacks !== null) return attacks(a.attacks);
  const results: CampaignResult[] = [];
  for (const fuzzer of a.fuzzers) {
    const r = a.replay >= 0
      ? runCampaign({ fuzzer, seed: a.seed, cases: 1, from: a.replay, segmentStart: a.segment >= 0 ? a.segment : a.replay, casesPerWorld: a.perWorld, maxFailures: 1, tolerate: a.tolerate, oracles: a.oracles, now: () => performance.now() })
      : runCampaign({ tolerate: a.tolerate, oracles: a.oracles,
        fuzzer, seed: a.seed, cases: a.cases, from: a.from, casesPerWorld: a.perWorld, maxFailures: a.maxFailures, now: () => performance.now(),
        onProgress: a.progress > 0 ? progressLine(fuzzer, a) : undefined,
      });
    results.push(r);
    if (a.json) console.log(JSON.stringify(r));
    else report(r);
  }
  const line = summaryLine(results);
  console.log(line);
  process.exitCode = results.some((r) => r.violations + r.crashes > 0) ? 1 : 0;
}

main();
