/**
 * One-off extraction of GVT-g's register attributes for Skylake, written to
 * `lib/device/gvt-registers.ts` (committed; rerun only to refresh the facts).
 *
 * Reads, from a Linux i915 tree (v7.0 via strongtz/i915-sriov-dkms 2421d3f):
 * - `gvt/handlers.c`: every MMIO_* registration in init_generic_mmio_info, init_bdw_mmio_info and
 *   init_skl_mmio_info (the three functions `intel_gvt_setup_mmio_info` runs on Skylake, in that
 *   order), with its size, F_* flags, device mask and write handler, and the
 *   force_nonpriv_white_list array;
 * - `gvt/mmio_context.c`: the gen9_engine_mmio_list rows marked in_context (GVT-g's F_SR_IN_CTX);
 * - register names are resolved through `i915_reg.h`, `gt/intel_gt_regs.h`,
 *   `gt/intel_engine_regs.h` and `gvt/reg.h` by a small macro expander (object- and function-like
 *   #defines, `_MMIO`, `MCR_REG`), then evaluated as integer arithmetic.
 *
 * Run: `npm run build --silent && node dist/scripts/extract-gvt-regs.js I915_DIR [OUT]`, where I915_DIR
 * is the `drivers/gpu/drm/i915` folder of a Linux v7.0 tree (the table in the repository came from
 * the GitHub repository strongtz/i915-sriov-dkms at commit 2421d3f, whose gvt/ follows v7.0).
 * It fails loudly when a registration that carries F_CMD_ACCESS, or any registration in the GT
 * range below 0x40000, cannot be resolved.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

interface Macro {
  params: string[] | null;
  body: string;
}

const root = process.argv[2];
if (!root) {
  console.error('usage: extract-gvt-regs I915_DIR [OUT]   (I915_DIR: drivers/gpu/drm/i915 of a Linux v7.0 tree)');
  process.exit(2);
}
const out = resolve(process.argv[3] ?? 'lib/device/gvt-registers.ts');

const macros = new Map<string, Macro>();

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, '');
}

function loadDefines(file: string): void {
  const src = stripComments(readFileSync(join(root, file), 'utf8')).replace(/\\\n/g, ' ');
  for (const line of src.split('\n')) {
    const m = /^\s*#\s*define\s+([A-Za-z_]\w*)(\(([^)]*)\))?\s*(.*)$/.exec(line);
    if (!m) continue;
    const params = m[2] !== undefined ? m[3].split(',').map((p) => p.trim()).filter((p) => p.length > 0) : null;
    macros.set(m[1], { params, body: m[4].trim() });
  }
}

for (const f of ['i915_reg.h', 'gt/intel_gt_regs.h', 'gt/intel_engine_regs.h', 'gvt/reg.h']) loadDefines(f);
macros.set('_MMIO', { params: ['r'], body: '(r)' });
macros.set('MCR_REG', { params: ['r'], body: '(r)' });

/** Split a macro argument list at top-level commas; `s` starts just after '('. Returns [args, index after ')']. */
function splitArgs(s: string, at: number): [string[], number] {
  const args: string[] = [];
  let depth = 0;
  let cur = '';
  for (let i = at; i < s.length; i++) {
    const c = s[i];
    if (c === '(') depth++;
    if (c === ')') {
      if (depth === 0) {
        args.push(cur.trim());
        return [args, i + 1];
      }
      depth--;
    }
    if (c === ',' && depth === 0) {
      args.push(cur.trim());
      cur = '';
      continue;
    }
    cur += c;
  }
  throw new Error(`unbalanced parentheses in ${s}`);
}

function expand(text: string, local: Map<string, Macro>, active: Set<string> = new Set(), depth = 0): string {
  if (depth > 50) throw new Error(`macro expansion too deep: ${text}`);
  let outText = '';
  const re = /[A-Za-z_]\w*/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const name = m[0];
    const start = m.index;
    // Skip identifiers that are part of a number (0x...).
    if (start > 0 && /[0-9]/.test(text[start - 1])) continue;
    const mac = local.get(name) ?? macros.get(name);
    if (!mac || active.has(name)) continue;
    let end = re.lastIndex;
    let body = mac.body;
    if (mac.params !== null) {
      let k = end;
      while (k < text.length && text[k] === ' ') k++;
      if (text[k] !== '(') continue;
      const [args, after] = splitArgs(text, k + 1);
      end = after;
      const expandedArgs = args.map((a) => expand(a, local, active, depth + 1));
      body = body.replace(/[A-Za-z_]\w*/g, (id) => {
        const p = mac.params!.indexOf(id);
        return p >= 0 ? `(${expandedArgs[p]})` : id;
      });
    }
    const next = new Set(active);
    next.add(name);
    outText += text.slice(last, start) + '(' + expand(body, local, next, depth + 1) + ')';
    last = end;
    re.lastIndex = end;
  }
  return outText + text.slice(last);
}

function evaluate(text: string, local: Map<string, Macro>): number | null {
  const e = expand(text, local).replace(/\b(0x[0-9a-fA-F]+|\d+)[uUlL]+\b/g, '$1');
  if (/[A-Za-z_]\w*/.test(e.replace(/0x[0-9a-fA-F]+/g, ''))) return null;
  // eslint-disable-next-line no-new-func
  const v = Function(`"use strict"; return (${e});`)() as number;
  return Number.isInteger(v) ? v >>> 0 : null;
}

// --- handlers.c ----------------------------------------------------------------------------------

const ENGINE_BASES: [string, string][] = [
  ['rcs', 'RENDER_RING_BASE'], ['bcs', 'BLT_RING_BASE'], ['vcs', 'GEN6_BSD_RING_BASE'], ['vecs', 'VEBOX_RING_BASE'],
  // `if (HAS_ENGINE(gvt->gt, VCS1))`: Skylake GT3/GT4 parts have the second video engine.
  ['vcs2', 'GEN8_BSD2_RING_BASE'],
];
const SKL_DEVICES = new Set(['D_ALL', 'D_BDW_PLUS', 'D_SKL_PLUS', 'D_GEN9PLUS']);
const FUNCTIONS = ['init_generic_mmio_info', 'init_bdw_mmio_info', 'init_skl_mmio_info'];

interface Row {
  fn: string;
  line: number;
  reg: string;
  engine: string | null;
  offset: number;
  bytes: number;
  flags: string[];
  device: string;
  write: string | null;
}

const handlersPath = join(root, 'gvt/handlers.c');
const handlers = readFileSync(handlersPath, 'utf8');
const lines = handlers.split('\n');
const rows: Row[] = [];
const unresolved: string[] = [];

for (const fn of FUNCTIONS) {
  const startLine = lines.findIndex((l) => l.startsWith(`static int ${fn}(`));
  if (startLine < 0) throw new Error(`${fn} not found`);
  let endLine = startLine + 1;
  while (!lines[endLine].startsWith('}')) endLine++;
  const local = new Map<string, Macro>();
  let stmt = '';
  let stmtLine = 0;
  for (let n = startLine + 1; n < endLine; n++) {
    const raw = lines[n].replace(/\/\*.*?\*\//g, '').replace(/\/\/.*$/, '');
    const def = /^\s*#\s*define\s+([A-Za-z_]\w*)\(([^)]*)\)\s*(.*)$/.exec(raw);
    if (def) {
      local.set(def[1], { params: def[2].split(',').map((p) => p.trim()), body: def[3].trim() });
      continue;
    }
    const undef = /^\s*#\s*undef\s+(\w+)/.exec(raw);
    if (undef) {
      local.delete(undef[1]);
      continue;
    }
    if (stmt === '') stmtLine = n + 1;
    stmt += ' ' + raw.trim();
    if (!raw.trim().endsWith(';')) continue;
    const s = stmt.trim();
    stmt = '';
    const m = /^(MMIO_\w+)\s*\(/.exec(s);
    if (!m) continue;
    const [args] = splitArgs(s, s.indexOf('(') + 1);
    const kind = m[1];
    let reg: string, size: string, flags: string, device: string, write: string;
    const ring = kind.startsWith('MMIO_RING_');
    switch (kind.replace('MMIO_RING_', 'MMIO_')) {
      case 'MMIO_F': [reg, size, flags, , , device, , write] = args; break;
      case 'MMIO_DH': [reg, device, , write] = args; size = '4'; flags = '0'; break;
      case 'MMIO_DFH': [reg, device, flags, , write] = args; size = '4'; break;
      case 'MMIO_GM': [reg, device, , write] = args; size = '4'; flags = 'F_GMADR'; break;
      case 'MMIO_GM_RDR': [reg, device, , write] = args; size = '4'; flags = 'F_GMADR | F_CMD_ACCESS'; break;
      case 'MMIO_RO': [reg, device, flags, , , write] = args; size = '4'; flags = `F_RO | ${flags}`; break;
      default: throw new Error(`${fn}:${stmtLine}: unknown registration ${kind}`);
    }
    const flagList = flags.split('|').map((f) => f.trim()).filter((f) => f.startsWith('F_'));
    const devices = device.split('|').map((d) => d.trim());
    if (!devices.some((d) => SKL_DEVICES.has(d))) continue;
    const bytes = evaluate(size, local);
    if (bytes === null) throw new Error(`${fn}:${stmtLine}: size ${size}`);
    const targets: [string | null, string][] = ring
      ? ENGINE_BASES.map(([e, base]) => [e, `${reg}(${base})`])
      : [[null, reg]];
    for (const [engine, expr] of targets) {
      const offset = evaluate(expr, local);
      if (offset === null) {
        unresolved.push(`${fn}:${stmtLine} ${expr} [${flagList.join('|')}]`);
        if (flagList.includes('F_CMD_ACCESS')) throw new Error(`unresolved F_CMD_ACCESS register ${expr} at ${fn}:${stmtLine}`);
        continue;
      }
      rows.push({
        fn, line: stmtLine, reg: ring ? `${reg}(${ENGINE_BASES.find(([e]) => e === engine)![1]})` : reg, engine, offset, bytes,
        flags: flagList, device: devices.join('|'), write: write === 'NULL' ? null : write,
      });
    }
  }
}

// Registrations that could not be resolved must all be display registers (no GT offset): the
// extraction cannot check their offsets, so it lists them for review.
for (const u of unresolved) process.stderr.write(`unresolved (not command-accessible): ${u}\n`);

// Keep rows with F_CMD_ACCESS and every row overlapping one of them (a later registration of the
// same dword replaces its attributes: setup_mmio_info assigns, it does not OR).
const cmdDwords = new Set<number>();
for (const r of rows) if (r.flags.includes('F_CMD_ACCESS')) for (let o = r.offset; o < r.offset + r.bytes; o += 4) cmdDwords.add(o);
const kept = rows.filter((r) => {
  for (let o = r.offset; o < r.offset + r.bytes; o += 4) if (cmdDwords.has(o)) return true;
  return false;
});

// --- force_nonpriv_white_list -------------------------------------------------------------------

const wlStart = handlers.indexOf('force_nonpriv_white_list[] = {');
const wlBody = handlers.slice(wlStart, handlers.indexOf('};', wlStart));
const whitelist = wlBody.split('\n').slice(1)
  .map((l) => l.replace(/\/\/.*$/, '').replace(/\/\*.*?\*\//g, '').trim().replace(/,$/, ''))
  .filter((l) => l.length > 0)
  .map((expr) => {
    const v = evaluate(expr, new Map());
    if (v === null) throw new Error(`force_nonpriv_white_list: ${expr}`);
    return { reg: expr, offset: v };
  });

// --- mmio_context.c gen9_engine_mmio_list -------------------------------------------------------

const ctxSrc = stripComments(readFileSync(join(root, 'gvt/mmio_context.c'), 'utf8'));
const listStart = ctxSrc.indexOf('gen9_engine_mmio_list[]');
const listBody = ctxSrc.slice(ctxSrc.indexOf('{', listStart) + 1, ctxSrc.indexOf('{RCS0, INVALID_MMIO_REG', listStart));
const inContext: { engine: string; reg: string; offset: number; mask: number }[] = [];
for (const m of listBody.matchAll(/\{(\w+),\s*(.+?),\s*(0x[0-9a-fA-F]+|\d+),\s*(true|false)\}/g)) {
  if (m[4] !== 'true') continue;
  const offset = evaluate(m[2], new Map());
  if (offset === null) throw new Error(`gen9_engine_mmio_list: ${m[2]}`);
  inContext.push({ engine: m[1], reg: m[2].trim(), offset, mask: Number(m[3]) });
}

// --- output --------------------------------------------------------------------------------------

const hex = (v: number): string => '0x' + v.toString(16);
const q = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const text = `/**
 * GVT-g's register attributes on Skylake, as data. GENERATED by \`scripts/extract-gvt-regs.ts\` from
 * Linux v7.0 (strongtz/i915-sriov-dkms 2421d3f) \`drivers/gpu/drm/i915/gvt/handlers.c\` and
 * \`gvt/mmio_context.c\`; register names resolved through \`i915_reg.h\`, \`gt/intel_gt_regs.h\`,
 * \`gt/intel_engine_regs.h\` and \`gvt/reg.h\`. Do not edit by hand: rerun the script.
 *
 * - \`GVT_SKL_MMIO_ROWS\`: every registration of init_generic_mmio_info, init_bdw_mmio_info and
 *   init_skl_mmio_info (run in that order on Skylake) that matches the Skylake device mask and
 *   carries F_CMD_ACCESS, plus every registration of the same dwords (setup_mmio_info replaces a
 *   dword's attributes, so the last registration wins). MMIO_RING_* rows are expanded per engine
 *   (the second video engine included: Skylake GT3/GT4 parts have it).
 * - \`GVT_FORCE_NONPRIV_WHITELIST\`: force_nonpriv_white_list (the registers a RING_FORCE_TO_NONPRIV
 *   slot may name; RING_NOPID of the engine is also accepted by force_nonpriv_write).
 * - \`GVT_GEN9_IN_CONTEXT\`: gen9_engine_mmio_list rows with in_context = true (GVT-g sets
 *   F_SR_IN_CTX on them in intel_gvt_init_engine_mmio_context).
 */

/** One MMIO registration of handlers.c, resolved. */
export interface GvtMmioRow {
  /** The init function and line of handlers.c. */
  readonly fn: 'init_generic_mmio_info' | 'init_bdw_mmio_info' | 'init_skl_mmio_info';
  readonly line: number;
  /** The register expression as written (engine base substituted for MMIO_RING_* rows). */
  readonly reg: string;
  /** Engine of an MMIO_RING_* row, null for a single register. */
  readonly engine: 'rcs' | 'bcs' | 'vcs' | 'vcs2' | 'vecs' | null;
  readonly offset: number;
  /** Bytes covered (4 per dword). */
  readonly bytes: number;
  /** GVT-g F_* attributes (gvt.h). */
  readonly flags: readonly string[];
  /** Device mask as written. */
  readonly device: string;
  /** The MMIO write handler, null when none. */
  readonly write: string | null;
}

/** The registrations, in the order GVT-g runs them. */
export const GVT_SKL_MMIO_ROWS: readonly GvtMmioRow[] = Object.freeze([
${kept.map((r) => `  { fn: ${q(r.fn)}, line: ${r.line}, reg: ${q(r.reg)}, engine: ${r.engine === null ? 'null' : q(r.engine)}, offset: ${hex(r.offset)}, bytes: ${r.bytes}, flags: [${r.flags.map(q).join(', ')}], device: ${q(r.device)}, write: ${r.write === null ? 'null' : q(r.write)} },`).join('\n')}
]);

/** force_nonpriv_white_list (handlers.c), sorted ascending as GVT-g keeps it. */
export const GVT_FORCE_NONPRIV_WHITELIST: readonly { readonly reg: string; readonly offset: number }[] = Object.freeze([
${whitelist.map((w) => `  { reg: ${q(w.reg)}, offset: ${hex(w.offset)} },`).join('\n')}
]);

/** gen9_engine_mmio_list rows with in_context = true (mmio_context.c): GVT-g's F_SR_IN_CTX. */
export const GVT_GEN9_IN_CONTEXT: readonly { readonly engine: string; readonly reg: string; readonly offset: number; readonly mask: number }[] = Object.freeze([
${inContext.map((c) => `  { engine: ${q(c.engine)}, reg: ${q(c.reg)}, offset: ${hex(c.offset)}, mask: ${hex(c.mask)} },`).join('\n')}
]);
`;
writeFileSync(out, text);
process.stdout.write(`${kept.length} rows, ${whitelist.length} whitelist entries, ${inContext.length} in-context registers -> ${out}\n`);
