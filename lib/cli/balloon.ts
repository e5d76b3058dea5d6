/**
 * `gvtkit balloon`: graphics-memory partition maps and ballooning sweeps.
 *
 *   gvtkit balloon [--type NAME [--count N]]... [--aperture MiB] [--total MiB] [--max-vgpus N]
 *                  [--svg FILE] [--sweep [--counts 1,2,...]] [--json]
 *
 * Without `--type`, one vGPU of each type is requested (in table order), which shows both what
 * fits and what runs out first. `--sweep` tries each type alone at each count.
 */
import { ConfigError, GvtError } from '../errors.js';
import { planPartitions, sweep, type PartitionPlan, type PlanRequest, type SweepResult } from '../gtt/balloon.js';
import { formatBytes, type GmPartitionOptions } from '../gtt/partition.js';
import { renderPartitionSvg, renderSweepSvg } from '../gtt/svg.js';
import { GEN9_VGPU_TYPES, MiB } from '../gtt/vgpu-types.js';

/** Output channels of the command (the CLI passes stdout, stderr and a file writer). */
export interface BalloonIo {
  out: (s: string) => void;
  err: (s: string) => void;
  writeFile: (path: string, data: string) => void;
}

const USAGE = 'usage: gvtkit balloon [--type NAME [--count N]]... [--aperture MiB] [--total MiB] [--max-vgpus N] [--svg FILE] [--sweep [--counts 1,2,..]] [--json]';

interface Parsed {
  requests: PlanRequest[];
  opts: GmPartitionOptions;
  svg?: string;
  sweep: boolean;
  counts?: number[];
  json: boolean;
}

function parse(argv: string[]): Parsed {
  const p: Parsed = { requests: [], opts: {}, sweep: false, json: false };
  const num = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min) throw new ConfigError(flag, `expects an integer >= ${min}, got ${v ?? 'nothing'}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--type': {
        const name = argv[++i];
        if (!name) throw new ConfigError('--type', 'expects a type name');
        p.requests.push({ type: name, count: 1 });
        break;
      }
      case '--count': {
        const last = p.requests[p.requests.length - 1];
        if (!last) throw new ConfigError('--count', 'must follow --type');
        last.count = num('--count', argv[++i], 0);
        break;
      }
      case '--aperture':
        p.opts.apertureSize = num('--aperture', argv[++i], 1) * MiB;
        break;
      case '--total':
        p.opts.totalSize = num('--total', argv[++i], 1) * MiB;
        break;
      case '--max-vgpus':
        p.opts.maxVgpus = num('--max-vgpus', argv[++i], 1);
        break;
      case '--svg': {
        const f = argv[++i];
        if (!f) throw new ConfigError('--svg', 'expects a file name');
        p.svg = f;
        break;
      }
      case '--counts': {
        const v = argv[++i] ?? '';
        p.counts = v.split(',').map((s) => num('--counts', s.trim(), 1));
        break;
      }
      case '--sweep':
        p.sweep = true;
        break;
      case '--json':
        p.json = true;
        break;
      default:
        throw new ConfigError('argv', `unknown option ${a}`);
    }
  }
  return p;
}

/** Entry point of `gvtkit balloon`. Returns the exit code (0 ok, 2 usage or configuration error). */
export async function balloonCommand(argv: string[], io: BalloonIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(USAGE);
    return 0;
  }
  let args: Parsed;
  try {
    args = parse(argv);
    if (args.sweep) {
      const types = args.requests.length ? [...new Set(args.requests.map((r) => r.type))] : GEN9_VGPU_TYPES.map((t) => t.name);
      const maxVgpus = args.opts.maxVgpus ?? 8;
      const counts = args.counts ?? Array.from({ length: Math.max(maxVgpus - 1, 1) }, (_, k) => k + 1);
      const r = sweep(types, counts, args.opts);
      if (args.json) io.out(JSON.stringify(r, null, 2));
      else printSweep(r, io);
      if (args.svg) {
        io.writeFile(args.svg, renderSweepSvg(r));
        if (!args.json) io.out(`wrote ${args.svg}`);
      }
      return 0;
    }
    const requests = args.requests.length ? args.requests : GEN9_VGPU_TYPES.map((t) => ({ type: t.name, count: 1 }));
    const plan = planPartitions(requests, args.opts);
    if (args.json) io.out(JSON.stringify(planJson(plan), null, 2));
    else printPlan(plan, io);
    if (args.svg) {
      const notes = plan.failures.map((f) => `${f.type} #${f.instance}: ${f.message}`);
      io.writeFile(args.svg, renderPartitionSvg(plan.partition, {
        title: `GM partition: aperture ${formatBytes(plan.apertureSize)}, total ${formatBytes(plan.totalSize)}`, notes,
      }));
      if (!args.json) io.out(`wrote ${args.svg}`);
    }
    return 0;
  } catch (e) {
    if (e instanceof GvtError) {
      io.err(`gvtkit balloon: ${e.message}`);
      io.err(USAGE);
      return 2;
    }
    throw e;
  }
}

function planJson(plan: PartitionPlan): object {
  const { partition: _p, ...rest } = plan;
  return rest;
}

function pad(s: string, n: number): string {
  return s.padEnd(n);
}

function hex32(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

function fenceList(f: readonly number[]): string {
  if (f.length === 0) return '-';
  let contiguous = true;
  for (let i = 1; i < f.length; i++) if (f[i] !== f[i - 1] + 1) contiguous = false;
  return contiguous && f.length > 1 ? `${f[0]}-${f[f.length - 1]}` : f.join(',');
}

function printPlan(plan: PartitionPlan, io: BalloonIo): void {
  const p = plan.partition;
  io.out(`GM space: aperture (low) [0x0, ${hex32(plan.apertureSize)}) ${formatBytes(plan.apertureSize)}, ` +
    `hidden (high) [${hex32(plan.apertureSize)}, ${hex32(plan.totalSize)}) ${formatBytes(plan.totalSize - plan.apertureSize)}, ` +
    `${plan.fences} fences, ${plan.maxVgpus} vGPU ids (id 0 idle)`);
  io.out('');
  const head = `${pad('id', 5)}${pad('type', 12)}${pad('low base', 14)}${pad('low size', 11)}${pad('high base', 14)}${pad('high size', 11)}fences`;
  io.out(head);
  io.out('-'.repeat(head.length + 4));
  io.out(`${pad('host', 5)}${pad('', 12)}${pad(hex32(0), 14)}${pad(formatBytes(p.host.lowGmSize), 11)}${pad(hex32(plan.apertureSize), 14)}${pad(formatBytes(p.host.highGmSize), 11)}${fenceList(Array.from({ length: p.host.fences }, (_, i) => i))}`);
  for (const v of plan.vgpus) {
    const s = v.slices;
    io.out(`${pad(String(v.id), 5)}${pad(v.type, 12)}${pad(hex32(s.lowBase), 14)}${pad(formatBytes(s.lowSize), 11)}${pad(hex32(s.highBase), 14)}${pad(formatBytes(s.highSize), 11)}${fenceList(s.fences)}`);
  }
  const f = plan.free;
  io.out(`${pad('free', 5)}${pad('', 12)}${pad('', 14)}${pad(formatBytes(f.low), 11)}${pad('', 14)}${pad(formatBytes(f.high), 11)}${f.fences}`);
  io.out('');
  io.out(`usable per guest after ballooning: ${plan.vgpus.map((v) => `vGPU ${v.id} ${formatBytes(v.usableLow)} low + ${formatBytes(v.usableHigh)} high`).join('; ') || 'none'}`);
  if (plan.failures.length) {
    io.out('');
    io.out(`not placed (${plan.failures.length}):`);
    for (const fl of plan.failures) io.out(`  ${fl.type} #${fl.instance}: ${fl.message}`);
    const ff = plan.firstFailure!;
    io.out(`runs out first: ${ff.resource} (short by ${ff.resource.endsWith('-gm') ? formatBytes(ff.shortBy) : ff.shortBy})`);
  }
  io.out(`still fits: ${plan.stillFits.filter((s) => s.count > 0).map((s) => `${s.type} ×${s.count}`).join(', ') || 'nothing'}`);
}

function printSweep(r: SweepResult, io: BalloonIo): void {
  io.out(`sweep: aperture ${formatBytes(r.apertureSize)}, total ${formatBytes(r.totalSize)}; cell = usable low/high per guest, or what runs out first`);
  io.out('');
  const w = 20;
  io.out(pad('type', 12) + r.counts.map((c) => pad(`×${c}`, w)).join(''));
  r.types.forEach((t, ti) => {
    const cells = r.counts.map((_c, ci) => {
      const cell = r.cells[ti * r.counts.length + ci];
      if (cell.fits) return pad(`${cell.usableLow / MiB}/${cell.usableHigh / MiB} MiB`, w);
      const f = cell.failure!;
      const by = f.resource.endsWith('-gm') ? formatBytes(f.shortBy) : String(f.shortBy);
      return pad(`✗ ${f.resource} -${by}`, w);
    });
    io.out(pad(t, 12) + cells.join(''));
  });
  io.out('');
  io.out(`most that fit an empty device: ${r.maxInstances.map((m) => `${m.type} ×${m.count}`).join(', ')}`);
}
