import t from 'tap';
import { TableError } from '../lib/errors.js';
import { GmPartition } from '../lib/gtt/partition.js';
import { MiB } from '../lib/gtt/vgpu-types.js';
import {
  checkPvinfoLayout, PVINFO_CURSOR_X_HOT, PVINFO_CURSOR_Y_HOT, PVINFO_DISPLAY_READY, PVINFO_EXECLIST_CTX_DESC_HI,
  PVINFO_EXECLIST_CTX_DESC_LO, PVINFO_FENCE_NUM, PVINFO_FIELDS, PVINFO_G2V_NOTIFY, PVINFO_MAGIC, PVINFO_MAPPABLE_BASE,
  PVINFO_MAPPABLE_SIZE, PVINFO_NONMAPPABLE_BASE, PVINFO_NONMAPPABLE_SIZE, PVINFO_PDP, PVINFO_VERSION_MAJOR,
  PVINFO_VERSION_MINOR, PVINFO_VGT_CAPS, PVINFO_VGT_ID, PvinfoPage, pvinfoFieldAt, VGT_CAPS_DEFAULT,
  VGT_CAPS_FULL_48BIT_PPGTT, VGT_CAPS_HUGE_GTT, VGT_CAPS_HWSP_EMULATION, VGT_G2V_EXECLIST_CONTEXT_CREATE,
  VGT_G2V_EXECLIST_CONTEXT_DESTROY, VGT_G2V_PPGTT_L3_PAGE_TABLE_CREATE, VGT_G2V_PPGTT_L3_PAGE_TABLE_DESTROY,
  VGT_G2V_PPGTT_L4_PAGE_TABLE_CREATE, VGT_G2V_PPGTT_L4_PAGE_TABLE_DESTROY, VGT_MAGIC_HI, VGT_MAGIC_LO, VGT_PVINFO_PAGE,
  type PvinfoField,
} from '../lib/mediator/pvinfo.js';

t.test('layout: struct vgt_if offsets', async (t) => {
  t.equal(VGT_PVINFO_PAGE, 0x78000);
  const at: Record<string, number> = Object.fromEntries(PVINFO_FIELDS.map((f) => [f.name, f.offset]));
  t.same(
    [at.magic, at.version_major, at.version_minor, at.vgt_id, at.vgt_caps],
    [0x0, 0x8, 0xa, 0xc, 0x10],
  );
  t.same(
    [at['avail_rs.mappable_gmadr.base'], at['avail_rs.mappable_gmadr.size'], at['avail_rs.nonmappable_gmadr.base'], at['avail_rs.nonmappable_gmadr.size'], at['avail_rs.fence_num']],
    [0x40, 0x44, 0x48, 0x4c, 0x50],
  );
  t.same([at.rsv4, at.display_ready, at.rsv5, at.g2v_notify, at.rsv6, at.cursor_x_hot, at.cursor_y_hot], [0x800, 0x804, 0x808, 0x818, 0x81c, 0x830, 0x834]);
  t.same([at['pdp[0].lo'], at['pdp[0].hi'], at['pdp[3].hi'], at.execlist_context_descriptor_lo, at.execlist_context_descriptor_hi, at.rsv7], [0x838, 0x83c, 0x854, 0x858, 0x85c, 0x860]);
  t.same(
    [PVINFO_MAGIC, PVINFO_VERSION_MAJOR, PVINFO_VERSION_MINOR, PVINFO_VGT_ID, PVINFO_VGT_CAPS, PVINFO_MAPPABLE_BASE, PVINFO_MAPPABLE_SIZE,
      PVINFO_NONMAPPABLE_BASE, PVINFO_NONMAPPABLE_SIZE, PVINFO_FENCE_NUM, PVINFO_DISPLAY_READY, PVINFO_G2V_NOTIFY, PVINFO_CURSOR_X_HOT,
      PVINFO_CURSOR_Y_HOT, PVINFO_PDP, PVINFO_EXECLIST_CTX_DESC_LO, PVINFO_EXECLIST_CTX_DESC_HI],
    [0, 8, 0xa, 0xc, 0x10, 0x40, 0x44, 0x48, 0x4c, 0x50, 0x804, 0x818, 0x830, 0x834, 0x838, 0x858, 0x85c],
  );
  t.same([VGT_MAGIC_HI.toString(16), VGT_MAGIC_LO.toString(16)], ['47765447', '76544776']);
  t.same([VGT_CAPS_FULL_48BIT_PPGTT, VGT_CAPS_HWSP_EMULATION, VGT_CAPS_HUGE_GTT], [4, 8, 16]);
  t.same(
    [VGT_G2V_PPGTT_L3_PAGE_TABLE_CREATE, VGT_G2V_PPGTT_L3_PAGE_TABLE_DESTROY, VGT_G2V_PPGTT_L4_PAGE_TABLE_CREATE,
      VGT_G2V_PPGTT_L4_PAGE_TABLE_DESTROY, VGT_G2V_EXECLIST_CONTEXT_CREATE, VGT_G2V_EXECLIST_CONTEXT_DESTROY],
    [2, 3, 4, 5, 6, 7],
  );
  // Every byte of the page belongs to exactly one field.
  for (let o = 0; o < 0x1000; o++) {
    const f = pvinfoFieldAt(o)!;
    if (!(o >= f.offset && o < f.offset + f.size)) {
      t.fail(`byte 0x${o.toString(16)} maps to ${f.name}`);
      break;
    }
  }
  t.equal(pvinfoFieldAt(0x1000), undefined);
});

t.test('layout self-check', async (t) => {
  const rows = [...PVINFO_FIELDS];
  t.throws(() => checkPvinfoLayout(rows.slice(1)), TableError, 'gap at 0');
  const overlap: PvinfoField[] = rows.map((f) => (f.name === 'vgt_id' ? { ...f, size: 8 } : f));
  t.throws(() => checkPvinfoLayout(overlap), TableError, 'overlap');
  t.throws(() => checkPvinfoLayout(rows.slice(0, -1)), TableError, 'short of a page');
  t.throws(() => checkPvinfoLayout([...rows.slice(0, 3), { ...rows[3], name: 'magic' }, ...rows.slice(4)]), TableError, 'duplicate name');
});

function page() {
  const events: string[] = [];
  const p = new PvinfoPage({
    onG2vNotify: (code, pg) => events.push(`g2v ${code} pdp0 ${pg.pdp(0).map((x) => x.toString(16)).join(':')}`),
    onDisplayReady: (v) => events.push(`display ${v}`),
    onFailsafe: (f) => events.push(`failsafe ${f.name}`),
  });
  const part = new GmPartition({ apertureSize: 1024 * MiB });
  const slices = part.allocate(3, 'GVTg_V5_4');
  p.init(3, slices);
  return { p, events, slices };
}

t.test('init fills what a guest reads', async (t) => {
  const { p, slices } = page();
  t.equal(p.read(PVINFO_MAGIC, 4), VGT_MAGIC_LO);
  t.equal(p.read(PVINFO_MAGIC + 4, 4), VGT_MAGIC_HI);
  t.equal(p.read(PVINFO_VERSION_MAJOR, 2), 1);
  t.equal(p.read(PVINFO_VERSION_MINOR, 2), 0);
  t.equal(p.read(PVINFO_VGT_ID, 4), 3);
  t.equal(p.read(PVINFO_VGT_CAPS, 4), VGT_CAPS_DEFAULT);
  t.equal(p.read(PVINFO_MAPPABLE_BASE, 4), slices.lowBase);
  t.equal(p.read(PVINFO_MAPPABLE_SIZE, 4), 128 * MiB);
  t.equal(p.read(PVINFO_NONMAPPABLE_BASE, 4), slices.highBase);
  t.equal(p.read(PVINFO_NONMAPPABLE_SIZE, 4), 512 * MiB);
  t.equal(p.read(PVINFO_FENCE_NUM, 4), 4);
  t.equal(p.read(PVINFO_CURSOR_X_HOT, 4), 0xffffffff);
  t.equal(p.read(PVINFO_DISPLAY_READY, 4), 0);
  t.equal(p.read(0x1, 1), 0x47, 'byte reads');
  // Reading the magic byte by byte spells vGTvGTvG.
  let s = '';
  for (let o = 0; o < 8; o++) s += String.fromCharCode(p.read(o, 1));
  t.equal(s, 'vGTvGTvG', 'little-endian bytes spell the magic');
  t.equal(BigInt(p.read(4, 4)) * 2n ** 32n + BigInt(p.read(0, 4)), 0x4776544776544776n, 'the 64-bit magic from its halves');
  const caps = new PvinfoPage();
  caps.init(1, slices, VGT_CAPS_HWSP_EMULATION);
  t.equal(caps.read(PVINFO_VGT_CAPS, 4), VGT_CAPS_HWSP_EMULATION);
});

t.test('read-only fields drop writes', async (t) => {
  const { p } = page();
  for (const o of [PVINFO_MAGIC, PVINFO_VGT_ID, PVINFO_VGT_CAPS, PVINFO_MAPPABLE_BASE, PVINFO_NONMAPPABLE_SIZE, PVINFO_FENCE_NUM]) {
    const before = p.read(o, 4);
    p.write(o, 4, 0x12345678);
    t.equal(p.read(o, 4), before, `0x${o.toString(16)} unchanged`);
  }
  p.write(PVINFO_VERSION_MINOR, 2, 9);
  t.equal(p.read(PVINFO_VERSION_MINOR, 2), 0);
  t.equal(p.counters.readOnlyWrites, 7);
});

t.test('read/write fields store; g2v_notify and display_ready call back', async (t) => {
  const { p, events } = page();
  p.write(PVINFO_PDP, 4, 0xabc000);
  p.write(PVINFO_PDP + 4, 4, 0x1);
  p.write(PVINFO_G2V_NOTIFY, 4, VGT_G2V_PPGTT_L4_PAGE_TABLE_CREATE);
  p.write(PVINFO_DISPLAY_READY, 4, 1);
  p.write(PVINFO_CURSOR_Y_HOT, 4, 5);
  p.write(PVINFO_EXECLIST_CTX_DESC_LO, 4, 0x1019);
  p.write(PVINFO_EXECLIST_CTX_DESC_HI, 2, 0x7);
  p.write(PVINFO_EXECLIST_CTX_DESC_HI + 2, 1, 0x3);
  t.same(events, ['g2v 4 pdp0 abc000:1', 'display 1']);
  t.equal(p.read(PVINFO_CURSOR_Y_HOT, 4), 5);
  t.equal(p.read(PVINFO_EXECLIST_CTX_DESC_LO, 4), 0x1019);
  t.equal(p.read(PVINFO_EXECLIST_CTX_DESC_HI, 4), 0x30007, 'sub-dword writes merge');
  t.same(p.pdp(0), [0xabc000, 1]);
  p.write(PVINFO_G2V_NOTIFY, 4, 99);
  t.equal(p.counters.notifications, 2);
  t.equal(p.counters.unknownNotifications, 1);
  t.equal(p.read(PVINFO_G2V_NOTIFY, 4), 99);
});

t.test('reserved fields drop and count writes; rsv5 asks for failsafe', async (t) => {
  const { p, events } = page();
  p.write(0x20, 4, 1); // rsv1
  p.write(0x100, 4, 1); // rsv3
  p.write(0x800, 4, 1); // rsv4
  p.write(0x900, 4, 1); // rsv7
  t.equal(p.read(0x20, 4), 0);
  t.equal(p.read(0x100, 4), 0);
  t.equal(p.counters.reservedWrites, 4);
  t.same(events, []);
  p.write(0x80c, 4, 1); // rsv5
  t.same(events, ['failsafe rsv5']);
  t.equal(p.read(0x80c, 4), 0);
  t.equal(p.counters.reservedWrites, 5);
});

t.test('bad accesses are counted and answered 0', async (t) => {
  const { p } = page();
  t.equal(p.read(0x2, 4), 0, 'unaligned');
  t.equal(p.read(0x0, 8), 0, '8-byte: split into two 4-byte reads instead');
  t.equal(p.read(0x1000, 4), 0, 'past the page');
  p.write(0x805, 2, 1);
  p.write(-4, 4, 1);
  t.equal(p.read(PVINFO_DISPLAY_READY, 4), 0);
  t.equal(p.counters.badAccess, 5);
});
