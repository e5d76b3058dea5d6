/**
 * The command table against GVT-g's `cmd_info[]` (Linux v7.0, `gvt-cmd-info.ts`): every (entry,
 * engine) pair GVT-g admits is known to the decoder with GVT-g's length rule, and every name,
 * engine or length in which the table differs is a documented difference (`gvt-differences.ts`).
 * Then i915's own Gen9 null render state decodes completely on RCS, and the audit verdicts and
 * fault classes follow GVT-g's handlers and errno classes.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import {
  CommandDecoder,
  COMMANDS,
  DecodeError,
  EngineMask,
  ENGINE_CLASS_COUNT,
  engineClassName,
  findCommand,
  type EngineClass,
} from '../lib/device/commands/index.js';
import { GEN9_GENXML_INSTRUCTIONS } from '../lib/device/commands/gen9-genxml.js';
import {
  GVT_CMD_INFO,
  GVT_HANDLER_KIND,
  GvtCmdFlag,
  GvtRing,
  gvtAddressDwords,
  gvtEngines,
  gvtHeader,
  gvtLengthRule,
  gvtRingsToEngineMask,
} from '../lib/device/commands/gvt-cmd-info.js';
import { COMMAND_DIFFERENCES, findDifference, tableNameOfGvt } from '../lib/device/commands/gvt-differences.js';
import { AUDIT_TABLE, auditDecision } from '../lib/mediator/audit-table.js';
import { AUDIT_RULES, RULE_CODE } from '../lib/mediator/audit-rules.js';
import { CommandParser } from '../lib/mediator/parser.js';
import { miBatchBufferStart } from '../lib/device/commands/index.js';
import { FakeEnv, HIGH, qword, ringWith } from './audit-fixture.js';
import { GEN9_NULL_STATE_BATCH, GEN9_NULL_STATE_CMDS_END as GEN9_NULL_STATE_COMMANDS_END, GEN9_NULL_STATE_RELOCS } from '../lib/guest/gen9-null-state.js';
import { renderStateSetup } from '../lib/guest/i915-context.js';

const ENGINES = [0, 1, 2, 3] as EngineClass[];
const d = new CommandDecoder();

/** Decode a lone header with its length field set to `field` on `engine`: [id, length]. */
function decodeHeader(match: number, field: number, engine: EngineClass): [number, number] {
  const len = 70000;
  const buf = new Uint32Array(len);
  buf[0] = (match | field) >>> 0;
  const n = d.decode(buf, 0, len, engine);
  return [d.error === DecodeError.UNKNOWN_COMMAND ? -1 : d.id, n];
}

t.test('the GVT-g facts: 225 entries of cmd_info[], as GVT-g computes them', async (t) => {
  t.equal(GVT_CMD_INFO.length, 225);
  t.equal(new Set(GVT_CMD_INFO.map((g) => g.name)).size, 225, 'names are unique');
  const by = (name: string) => GVT_CMD_INFO.find((g) => g.name === name)!;
  // Spot checks against cmd_parser.c.
  t.equal(by('MI_FLUSH_DW').opcode, 0x26);
  t.same(gvtLengthRule(by('MI_FLUSH_DW')), { fixed: 0, mask: 0x3f, bias: 2, validLength: 0 });
  t.same(gvtLengthRule(by('MI_SEMAPHORE_WAIT')), { fixed: 0, mask: 0xff, bias: 2, validLength: 4 });
  t.same(gvtLengthRule(by('MI_OP_2E')), { fixed: 0, mask: 0xff, bias: 2, validLength: 5 });
  t.same(gvtLengthRule(by('MI_LOAD_SCAN_LINES_INCL')), { fixed: 2, mask: 0, bias: 0, validLength: 0 });
  t.equal(by('MI_BATCH_BUFFER_START').flags, GvtCmdFlag.IP_ADVANCE_CUSTOM, 'F_IP_ADVANCE_CUSTOM, a variable length');
  t.equal(by('MI_BATCH_BUFFER_END').flags, GvtCmdFlag.IP_ADVANCE_CUSTOM | GvtCmdFlag.LEN_CONST);
  t.same(gvtHeader(by('3DSTATE_DX9_CONSTANT_BUFFER_POOL_ALLOC')), { match: 0x791b0000, mask: 0xffff0000 });
  t.same(gvtHeader(by('XY_SRC_COPY_BLT')), { match: 0x54c00000, mask: 0xffc00000 });
  t.same(gvtHeader(by('MI_NOOP')), { match: 0, mask: 0xff800000 });
  t.same(gvtAddressDwords(by('XY_SRC_COPY_BLT')), [4, 7]);
  t.same(gvtAddressDwords(by('STATE_BASE_ADDRESS')), [1, 3, 4, 5, 6]);
  t.equal(by('3DSTATE_DX9_CONSTANTF_VS').len, 11);
  t.equal(by('MFX_2_6_0_0').len, 16);
  t.equal(by('MFX_WAIT').rings, GvtRing.VCS);
  t.equal(gvtRingsToEngineMask(GvtRing.VCS1), EngineMask.VCS, 'VCS1 and VCS2 are one engine class');
  t.equal(gvtRingsToEngineMask(GvtRing.ALL), EngineMask.ALL);
  t.equal(gvtEngines(by('3DSTATE_VF_STATISTICS_GM45')), EngineMask.RCS | EngineMask.VCS | EngineMask.VECS, 'BCS decodes no type-3 header');
  t.equal(gvtEngines(by('XY_COLOR_BLT')), EngineMask.BCS);
  for (const g of GVT_CMD_INFO) {
    t.ok(['D_ALL', 'D_BDW_PLUS', 'D_SKL_PLUS'].includes(g.devices), `${g.name} applies to Skylake`);
    if (g.handler !== null) t.ok(g.handler in GVT_HANDLER_KIND, `${g.name}: handler ${g.handler} is classified`);
    if (g.validLen !== 0) t.equal(g.flags & 3, GvtCmdFlag.LEN_VAR_FIXED, `${g.name}: valid_len only on F_LEN_VAR_FIXED`);
  }
  // GVT-g's own table is unambiguous per engine (find_cmd_entry takes the first match).
  const seen = new Map<string, string>();
  for (const g of GVT_CMD_INFO) {
    for (const e of ENGINES) {
      if (!(gvtEngines(g) & (1 << e))) continue;
      const key = `${e}:${gvtHeader(g).match}`;
      t.notOk(seen.has(key), `${g.name} and ${seen.get(key)} share a header on ${engineClassName(e)}`);
      seen.set(key, g.name);
    }
  }
});

t.test('every GVT-g (entry, engine) pair is known, with GVT-g\'s length rule or a documented difference', async (t) => {
  const genxmlEngines = new Map<string, number>();
  const engineOf = { render: EngineMask.RCS, blitter: EngineMask.BCS, video: EngineMask.VCS, 'render|blitter': EngineMask.RCS | EngineMask.BCS, all: EngineMask.ALL };
  for (const row of GEN9_GENXML_INSTRUCTIONS) genxmlEngines.set(row[0], engineOf[row[3]]);
  let pairs = 0;
  for (const g of GVT_CMD_INFO) {
    const name = tableNameOfGvt(g.name);
    if (name !== g.name) t.ok(findDifference('name', name)?.gvtName === g.name, `${g.name} -> ${name} is a documented name difference`);
    const c = findCommand(name);
    if (!c) {
      t.fail(`${g.name}: no row ${name}`);
      continue;
    }
    const { match } = gvtHeader(g);
    const rule = gvtLengthRule(g);
    const lengthDiff = findDifference('length', name);
    for (const e of ENGINES) {
      if (!(gvtEngines(g) & (1 << e))) continue;
      pairs++;
      const where = `${g.name} on ${engineClassName(e)}`;
      // Known, by the decoder's dispatch, as the row of the mapped name.
      const fields = rule.fixed !== 0 ? [0] : [0, 1, 2, rule.mask];
      for (const f of fields) {
        const [id, len] = decodeHeader(match, f, e);
        if (id !== c.id) {
          t.fail(`${where} (field ${f}): decoded as ${id < 0 ? 'UNKNOWN' : COMMANDS[id].name}`);
          continue;
        }
        const gvtLen = rule.fixed !== 0 ? rule.fixed : f + 2;
        if (len !== gvtLen && !lengthDiff) t.fail(`${where} (field ${f}): length ${len}, GVT-g ${gvtLen}, no documented difference`);
      }
      // Engines genxml does not give the command are documented engine differences.
      const gx = genxmlEngines.get(name);
      if (gx !== undefined && !(gx & (1 << e))) {
        const diff = findDifference('engine', name);
        t.ok(diff && diff.engines & (1 << e), `${where}: engine outside genxml's is a documented difference`);
      }
    }
    // Required lengths: GVT-g's valid_len, or its constant where the table decodes a field ('both').
    if (rule.validLength !== 0) t.equal(c.validLength, rule.validLength, `${g.name}: valid length`);
    else if (lengthDiff?.wins === 'both') t.equal(c.validLength, rule.fixed, `${g.name}: GVT-g's constant is the only admitted length`);
    else t.equal(c.validLength, 0, `${g.name}: any length`);
    if (lengthDiff) {
      const ours = c.length;
      const same = typeof ours === 'number' ? ours === rule.fixed : ours.mask === rule.mask && ours.bias === 2;
      t.notOk(same, `${name}: a documented length difference is a real one`);
    }
  }
  t.ok(pairs >= 250, `${pairs} (entry, engine) pairs`);
});

t.test('the differences list: every entry is real, and GVT-g-unknown pairs are all listed', async (t) => {
  const gvtPairs = new Set<string>();
  for (const g of GVT_CMD_INFO) {
    for (const e of ENGINES) if (gvtEngines(g) & (1 << e)) gvtPairs.add(`${e}:${gvtHeader(g).match >>> 16}`);
  }
  for (const c of COMMANDS) {
    for (const e of ENGINES) {
      if (!(c.engines & (1 << e))) continue;
      // The first key of the row (every free header bit clear) is what GVT-g's opcode compares.
      if (gvtPairs.has(`${e}:${c.match >>> 16}`)) continue;
      const diff = findDifference('genxml-only', c.name);
      t.ok(diff && diff.engines & (1 << e), `${c.name} on ${engineClassName(e)}: unknown to GVT-g, listed as genxml-only`);
    }
  }
  for (const x of COMMAND_DIFFERENCES) {
    const c = findCommand(x.command);
    t.ok(c, `${x.kind} ${x.command} names a row`);
    if (!c) continue;
    t.ok(x.reason.length > 20, `${x.command}: a reason`);
    t.equal(c.engines & x.engines, x.engines, `${x.kind} ${x.command}: the row has the engines the difference names`);
    if (x.kind === 'genxml-only') {
      t.equal(x.gvtName, null);
      for (let e = 0; e < ENGINE_CLASS_COUNT; e++) {
        if (x.engines & (1 << e)) t.notOk(gvtPairs.has(`${e}:${c.match >>> 16}`), `${x.command} on ${engineClassName(e as EngineClass)} really is unknown to GVT-g`);
      }
    } else {
      const g = GVT_CMD_INFO.find((y) => y.name === x.gvtName);
      t.ok(g, `${x.kind} ${x.command}: GVT-g has ${x.gvtName}`);
      if (g) t.equal(gvtHeader(g).match, c.match, `${x.command}: the same header as GVT-g's ${x.gvtName}`);
      if (x.kind === 'engine' && g) t.equal(gvtEngines(g) & x.engines & ~c.engines, 0, `${x.command}: the engines are added`);
    }
  }
  t.equal(new Set(COMMAND_DIFFERENCES.map((x) => `${x.kind}:${x.command}`)).size, COMMAND_DIFFERENCES.length, 'one entry per kind and command');
});

t.test('MFX_WAIT keeps genxml\'s one-dword form (GVT-g would swallow the next header)', async (t) => {
  const buf = Uint32Array.from([0x68000100, 0x11000001, 0x2030, 0]);
  t.equal(d.decode(buf, 0, 4, 2 as EngineClass), 1);
  t.equal(COMMANDS[d.id].name, 'MFX_WAIT');
  t.equal(d.decode(buf, 1, 4, 2 as EngineClass), 3);
  t.equal(COMMANDS[d.id].name, 'MI_LOAD_REGISTER_IMM', 'the next command is seen (and audited) as a command');
});

t.test('i915\'s Gen9 null render state decodes fully on RCS', async (t) => {
  t.equal(GEN9_NULL_STATE_BATCH.length, 960);
  t.same(GEN9_NULL_STATE_RELOCS, [0x7a8, 0x7b4, 0x7bc, 0x7cc]);
  const buf = Uint32Array.from(GEN9_NULL_STATE_BATCH);
  const names: string[] = [];
  const starts: [number, number][] = [];
  let i = 0;
  while (i <= GEN9_NULL_STATE_COMMANDS_END) {
    const len = d.decode(buf, i, buf.length, 0 as EngineClass);
    if (d.error !== DecodeError.OK) {
      t.fail(`dword ${i}: header 0x${buf[i].toString(16)} ${d.error === DecodeError.UNKNOWN_COMMAND ? 'unknown' : 'truncated'}`);
      return;
    }
    names.push(COMMANDS[d.id].name);
    starts.push([i, d.id]);
    i += len;
  }
  t.equal(i, GEN9_NULL_STATE_COMMANDS_END + 1, 'the walk ends exactly after the MI_BATCH_BUFFER_END');
  t.equal(names.at(-1), 'MI_BATCH_BUFFER_END');
  t.equal(names.filter((n) => n === 'MI_BATCH_BUFFER_END').length, 1);
  t.ok(names.includes('3DSTATE_DX9_CONSTANT_BUFFER_POOL_ALLOC'), 'the header gvtkit used to refuse (0x791b0002)');
  t.ok(names.length > 60, `${names.length} commands`);
  // Every relocation lands on a tabulated address dword of the command holding it.
  for (const reloc of GEN9_NULL_STATE_RELOCS) {
    const dw = reloc / 4;
    const [start, id] = starts.filter(([s]) => s <= dw).at(-1)!;
    const fields = COMMANDS[id].addressDwords ?? [];
    t.ok(fields.some((f) => f.dword === dw - start), `relocation at dword ${dw}: ${COMMANDS[id].name} dword ${dw - start} is a tabulated address`);
  }
  // The pooled-EU auxiliary batch: MEDIA_POOL_STATE, then the end.
  const pooled = renderStateSetup(0, { pooledEu: true });
  const aux = Uint32Array.from(pooled.dwords.slice(pooled.auxOffset / 4));
  t.equal(d.decode(aux, 0, aux.length, 0 as EngineClass), 6);
  t.equal(COMMANDS[d.id].name, 'MEDIA_POOL_STATE');
  t.equal(d.decode(aux, 6, aux.length, 0 as EngineClass), 1);
  t.equal(COMMANDS[d.id].name, 'MI_BATCH_BUFFER_END');
});

t.test('the null render state passes the audit as i915 submits it (a GGTT batch in a PPGTT context)', async (t) => {
  // render_state_setup relocates the batch to its GGTT address; intel_renderstate_emit starts it
  // as a privileged (GGTT) batch from the ring of a new render context.
  const env = new FakeEnv();
  const base = HIGH.start;
  const batch = GEN9_NULL_STATE_BATCH.slice();
  for (const reloc of GEN9_NULL_STATE_RELOCS) {
    const at = reloc / 4;
    const r = batch[at] + base;
    batch[at] = r >>> 0;
    batch[at + 1] = Math.floor(r / 2 ** 32);
  }
  env.ggtt.write(base, batch);
  const r = new CommandParser().scan(ringWith(env, qword(miBatchBufferStart(base))), env);
  t.ok(r.ok, r.violation ? `${r.violation.rule}: ${r.violation.message}` : 'passed');
  t.ok(r.commands > 60, `${r.commands} commands audited`);
  // Before GVT-g's rows joined the table, 0x791b0002 stopped it as an unknown command.
  const before = new CommandParser({ decisions: { '3DSTATE_DX9_CONSTANT_BUFFER_POOL_ALLOC': 'refused' } }).scan(ringWith(env, qword(miBatchBufferStart(base))), env);
  t.equal(before.violation?.command, '3DSTATE_DX9_CONSTANT_BUFFER_POOL_ALLOC', 'the command the audit reaches at dword 122');
});

t.test('audit verdicts follow GVT-g\'s handlers', async (t) => {
  for (const g of GVT_CMD_INFO) {
    const name = tableNameOfGvt(g.name);
    const dec = auditDecision(name)!;
    const kind = g.handler === null ? null : GVT_HANDLER_KIND[g.handler];
    if (kind === 'refuse') {
      t.equal(dec.action, 'refused', `${name}: GVT-g refuses it`);
      t.equal(dec.rule, 'refused-command', `${name}: by refused-command`);
      t.equal(RULE_CODE[dec.rule!], 'BAD_COMMAND', `${name}: the class of -EBADRQC`);
    } else if (name === 'MI_DISPLAY_FLIP') {
      // GVT-g emulates flips on its virtual display and NOOPs them; so does gvtkit (docs/display.md).
      t.equal(dec.action, 'noop');
      t.equal(dec.handler, 'display-flip', 'emulated: GVT-g\'s emulate kind');
      t.equal(kind, 'emulate');
    } else {
      t.not(dec.action, 'refused', `${name}: GVT-g admits it (${g.handler ?? 'no handler'})`);
    }
  }
  t.equal(auditDecision('MI_USER_INTERRUPT')!.action, 'noop');
  t.equal(auditDecision('MI_USER_INTERRUPT')!.handler, 'user-interrupt', 'NOOPed, raised virtually');
  t.equal(auditDecision('MI_WAIT_FOR_EVENT')!.action, 'noop');
  for (const name of ['MI_SET_CONTEXT', 'MI_FORCE_WAKEUP']) {
    t.equal(auditDecision(name)!.rule, 'refused-command', `${name}: no GVT-g entry, refused in the class of -EBADRQC`);
  }
  // New rows from GVT-g decided by the existing rules: an address bitmap means tabulated addresses or ppgtt-only.
  for (const c of COMMANDS.filter((x) => x.source === 'gvt')) {
    const g = GVT_CMD_INFO.find((y) => tableNameOfGvt(y.name) === c.name)!;
    const dec = AUDIT_TABLE[c.id];
    if (g.addrBitmap !== 0) {
      t.ok((c.addressDwords?.length ?? 0) > 0 || dec.action === 'ppgtt-only' || dec.action === 'refused', `${c.name}: its addresses are checked, or it is ppgtt-only`);
    }
  }
  t.same(findCommand('3DSTATE_DX9_CONSTANT_BUFFER_POOL_ALLOC')!.addressDwords!.map((a) => a.dword), [1]);
  t.equal(auditDecision('OP_SWTESS_BASE_ADDRESS')!.action, 'ppgtt-only');
});

t.test('fault classes agree with GVT-g\'s errno classes', async (t) => {
  for (const r of AUDIT_RULES) {
    t.ok(r.gvt.length > 10, `${r.name}: GVT-g's answer is documented`);
    if (r.gvtUnhealthy === null) continue;
    const failsafe = r.code === 'BAD_COMMAND' || r.code === 'BAD_ADDRESS';
    t.equal(failsafe, r.gvtUnhealthy, `${r.name}: ${r.code} ${failsafe ? 'puts the vGPU in failsafe' : 'fails the workload only'}, as GVT-g`);
  }
});

t.test('docs/commands.md carries the differences list and the fault classes', async (t) => {
  const doc = readFileSync(new URL('../docs/commands.md', import.meta.url), 'utf8');
  const rows = doc.split('\n').filter((l) => l.startsWith('| '));
  const cells = (l: string) => l.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
  for (const x of COMMAND_DIFFERENCES) {
    const row = rows.map(cells).find((c) => c[0] === x.kind && c[1].split(', ').includes('`' + x.command + '`'));
    if (!row) {
      t.fail(`${x.kind} difference of ${x.command} is not in the docs table`);
      continue;
    }
    t.equal(row[2], x.gvtName === null ? '—' : '`' + x.gvtName + '`', `${x.command}: GVT-g name`);
    t.equal(row[6], x.wins, `${x.command}: the side that wins`);
  }
  const diffRows = rows.map(cells).filter((c) => ['name', 'engine', 'length', 'genxml-only'].includes(c[0]));
  const listed = diffRows.flatMap((c) => c[1].split(', ').map((n) => `${c[0]}:${n.replace(/`/g, '')}`));
  t.same(listed.sort(), COMMAND_DIFFERENCES.map((x) => `${x.kind}:${x.command}`).sort(), 'no stale row in the docs');
  for (const r of AUDIT_RULES) {
    const row = rows.map(cells).find((c) => c[0] === '`' + r.name + '`');
    t.ok(row, `rule ${r.name} in the docs`);
    if (!row) continue;
    t.equal(row[1], '`' + r.code + '`', `${r.name}: code`);
    t.equal(row[2], r.code === 'BAD_COMMAND' || r.code === 'BAD_ADDRESS' ? 'failsafe' : 'workload only', `${r.name}: class`);
  }
});
