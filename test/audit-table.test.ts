/**
 * The audit decision table: total over the command table, one decision per command, decisions as
 * GVT-g's facts say.
 */
import t from 'tap';
import { COMMANDS, CommandFlag, buildCommandTable, gen9CommandDefs } from '../lib/device/commands/index.js';
import { AUDIT_RULES } from '../lib/mediator/audit-rules.js';
import { AUDIT_TABLE, auditDecision, buildAuditTable } from '../lib/mediator/audit-table.js';

const ACTIONS = ['allowed', 'patched', 'noop', 'refused', 'privileged-only', 'ppgtt-only'];
const RULES = new Set(AUDIT_RULES.map((r) => r.name));

t.test('the table is total over COMMANDS: one decision per command, in id order', async (t) => {
  t.equal(AUDIT_TABLE.length, COMMANDS.length);
  for (const c of COMMANDS) {
    const d = AUDIT_TABLE[c.id];
    t.equal(d.id, c.id);
    t.equal(d.name, c.name);
    t.ok(ACTIONS.includes(d.action), `${c.name}: ${d.action}`);
    t.ok(d.reason.length > 0, `${c.name} has a reason`);
    const refusing = d.action === 'refused' || d.action === 'privileged-only' || d.action === 'ppgtt-only';
    t.equal(d.rule !== null, refusing, `${c.name}: a rule exactly when it can be refused`);
    if (d.rule !== null) t.ok(RULES.has(d.rule), `${c.name}: ${d.rule} is a rule`);
  }
});

t.test('every command that carries an address is patched, refused or ppgtt-only', async (t) => {
  for (const c of COMMANDS) {
    if ((c.flags & CommandFlag.HAS_ADDRESS) === 0) continue;
    const d = AUDIT_TABLE[c.id];
    // MI_DISPLAY_FLIP's surface is checked by its display-flip handler, then the command NOOPed.
    const flip = d.action === 'noop' && d.handler === 'display-flip';
    t.ok(['patched', 'refused', 'ppgtt-only'].includes(d.action) || flip, `${c.name}: ${d.action}`);
    if (d.action === 'patched') t.ok(c.addressDwords && c.addressDwords.length > 0, `${c.name} has tabulated fields`);
  }
});

t.test('decisions follow GVT-g', async (t) => {
  for (const name of [
    'MI_SEMAPHORE_WAIT', 'MI_REPORT_PERF_COUNT', 'MI_STORE_DATA_INDEX', 'MI_CLFLUSH', 'MI_CONDITIONAL_BATCH_BUFFER_END',
    'MI_UPDATE_GTT', 'MI_COPY_MEM_MEM', 'MI_SET_CONTEXT', 'MI_FORCE_WAKEUP',
  ]) {
    t.same([auditDecision(name)?.action, auditDecision(name)?.rule], ['refused', 'refused-command'], name);
  }
  // GVT-g emulates flips on its virtual display and NOOPs them (cmd_handler_mi_display_flip); so does gvtkit (issue 16).
  t.same([auditDecision('MI_DISPLAY_FLIP')?.action, auditDecision('MI_DISPLAY_FLIP')?.handler, auditDecision('MI_DISPLAY_FLIP')?.rule], ['noop', 'display-flip', null]);
  t.same([auditDecision('MI_USER_INTERRUPT')?.action, auditDecision('MI_USER_INTERRUPT')?.handler], ['noop', 'user-interrupt']);
  t.equal(auditDecision('MI_WAIT_FOR_EVENT')?.action, 'noop');
  t.equal(auditDecision('MI_BATCH_BUFFER_START')?.handler, 'batch-start');
  t.equal(auditDecision('MI_LOAD_REGISTER_IMM')?.handler, 'lri');
  t.equal(auditDecision('MI_STORE_DATA_IMM')?.action, 'patched');
  t.equal(auditDecision('XY_SRC_COPY_BLT')?.action, 'patched');
  t.equal(auditDecision('XY_FULL_BLT')?.action, 'ppgtt-only');
  t.equal(auditDecision('3DPRIMITIVE')?.action, 'allowed');
  t.equal(auditDecision('MI_ARB_ON_OFF')?.action, 'privileged-only');
  t.equal(auditDecision('NO_SUCH_COMMAND'), undefined);
});

t.test('a command added to the command table gets a decision by the same rules', async (t) => {
  const defs = gen9CommandDefs();
  defs.push({ ...defs.find((d) => d.name === 'MI_ARB_CHECK')!, name: 'MI_TEST_ONLY', match: 0x1f000000 });
  const table = buildCommandTable(defs);
  const audit = buildAuditTable({}, table.commands);
  t.equal(audit.length, table.commands.length);
  t.equal(audit[audit.length - 1].action, 'allowed');
});

t.test('overrides are validated', async (t) => {
  t.throws(() => buildAuditTable({ NOT_A_COMMAND: 'refused' }), { code: 'E_CONFIG' });
  t.throws(() => buildAuditTable({ MI_UPDATE_GTT: 'patched' }), { code: 'E_CONFIG' }, 'the GGTT stays host-owned');
  t.throws(() => buildAuditTable({ MI_NOOP: 'patched' }), { code: 'E_CONFIG' }, 'nothing to patch');
  t.throws(() => buildAuditTable({ MI_BATCH_BUFFER_END: 'privileged-only' }), { code: 'E_CONFIG' });
  t.throws(() => buildAuditTable({ MI_NOOP: 'allowed' as never }), { code: 'E_CONFIG' });
  const table = buildAuditTable({ MI_SEMAPHORE_WAIT: 'patched', '3DPRIMITIVE': 'refused' });
  t.equal(table.find((d) => d.name === 'MI_SEMAPHORE_WAIT')?.action, 'patched');
  t.equal(table.find((d) => d.name === '3DPRIMITIVE')?.action, 'refused');
});
