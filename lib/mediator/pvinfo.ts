/**
 * The PVINFO page: the 4 KiB window at BAR0 0x78000 through which GVT-g tells a guest it runs on
 * a vGPU and what it owns, and the guest notifies the mediator (Linux
 * `drivers/gpu/drm/i915/i915_pvinfo.h`, `struct vgt_if`; filled by `gvt/vgpu.c`
 * `populate_pvinfo_page`; guest accesses handled by `gvt/handlers.c` `pvinfo_mmio_read/write`).
 *
 * The layout is a table of fields (name, offset, size, access) that checks itself when built:
 * the fields tile the page exactly. Access rules: 'ro' fields keep their value (writes dropped,
 * counted); 'rw' fields store what the guest writes; 'reserved' fields read 0 and drop writes
 * (counted; GVT-g puts the vGPU in failsafe on writes to `rsv5`, flagged `failsafe` here).
 */
import createDebug from 'debug';
import { TableError } from '../errors.js';
import type { GmSlices } from '../gtt/partition.js';

const log = createDebug('gvtkit:pvinfo');

/** BAR0 offset of the PVINFO page. */
export const VGT_PVINFO_PAGE = 0x78000;
/** Size of the PVINFO page. */
export const VGT_PVINFO_SIZE = 0x1000;
/** Low and high halves of VGT_MAGIC 0x4776544776544776 ("vGTvGTvG"). */
export const VGT_MAGIC_LO = 0x76544776;
export const VGT_MAGIC_HI = 0x47765447;
export const VGT_VERSION_MAJOR = 1;
export const VGT_VERSION_MINOR = 0;

/** Capability bits of `vgt_caps`. */
export const VGT_CAPS_FULL_48BIT_PPGTT = 1 << 2;
export const VGT_CAPS_HWSP_EMULATION = 1 << 3;
export const VGT_CAPS_HUGE_GTT = 1 << 4;
/** What GVT-g advertises. */
export const VGT_CAPS_DEFAULT = VGT_CAPS_FULL_48BIT_PPGTT | VGT_CAPS_HWSP_EMULATION | VGT_CAPS_HUGE_GTT;

/** Guest-to-vGPU notifications written to `g2v_notify` (`enum vgt_g2v_type`). */
export const VGT_G2V_PPGTT_L3_PAGE_TABLE_CREATE = 2;
export const VGT_G2V_PPGTT_L3_PAGE_TABLE_DESTROY = 3;
export const VGT_G2V_PPGTT_L4_PAGE_TABLE_CREATE = 4;
export const VGT_G2V_PPGTT_L4_PAGE_TABLE_DESTROY = 5;
export const VGT_G2V_EXECLIST_CONTEXT_CREATE = 6;
export const VGT_G2V_EXECLIST_CONTEXT_DESTROY = 7;
/** One past the last notification code. */
export const VGT_G2V_MAX = 8;

/** `display_ready` values. */
export const VGT_DRV_DISPLAY_NOT_READY = 0;
export const VGT_DRV_DISPLAY_READY = 1;

/** Field offsets inside the page. */
export const PVINFO_MAGIC = 0x00;
export const PVINFO_VERSION_MAJOR = 0x08;
export const PVINFO_VERSION_MINOR = 0x0a;
export const PVINFO_VGT_ID = 0x0c;
export const PVINFO_VGT_CAPS = 0x10;
export const PVINFO_MAPPABLE_BASE = 0x40;
export const PVINFO_MAPPABLE_SIZE = 0x44;
export const PVINFO_NONMAPPABLE_BASE = 0x48;
export const PVINFO_NONMAPPABLE_SIZE = 0x4c;
export const PVINFO_FENCE_NUM = 0x50;
export const PVINFO_DISPLAY_READY = 0x804;
export const PVINFO_G2V_NOTIFY = 0x818;
export const PVINFO_CURSOR_X_HOT = 0x830;
export const PVINFO_CURSOR_Y_HOT = 0x834;
/** pdp[i].lo at PVINFO_PDP + 8i, .hi at + 8i + 4. */
export const PVINFO_PDP = 0x838;
export const PVINFO_EXECLIST_CTX_DESC_LO = 0x858;
export const PVINFO_EXECLIST_CTX_DESC_HI = 0x85c;

/** Guest access rule of a field. */
export type PvinfoAccess = 'ro' | 'rw' | 'reserved';

/** One row of the layout. */
export interface PvinfoField {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly access: PvinfoAccess;
  /** A guest write here puts the vGPU in failsafe (GVT-g: `rsv5`). */
  readonly failsafe?: boolean;
}

function pdpFields(): PvinfoField[] {
  const out: PvinfoField[] = [];
  for (let i = 0; i < 4; i++) {
    out.push({ name: `pdp[${i}].lo`, offset: PVINFO_PDP + 8 * i, size: 4, access: 'rw' });
    out.push({ name: `pdp[${i}].hi`, offset: PVINFO_PDP + 8 * i + 4, size: 4, access: 'rw' });
  }
  return out;
}

/**
 * `struct vgt_if`, field by field. Guest-writable fields are those GVT-g's `pvinfo_mmio_write`
 * accepts: display_ready, g2v_notify, cursor hot spot, pdp[4], execlist context descriptor.
 */
export const PVINFO_FIELDS: readonly PvinfoField[] = checkPvinfoLayout([
  { name: 'magic', offset: PVINFO_MAGIC, size: 8, access: 'ro' },
  { name: 'version_major', offset: PVINFO_VERSION_MAJOR, size: 2, access: 'ro' },
  { name: 'version_minor', offset: PVINFO_VERSION_MINOR, size: 2, access: 'ro' },
  { name: 'vgt_id', offset: PVINFO_VGT_ID, size: 4, access: 'ro' },
  { name: 'vgt_caps', offset: PVINFO_VGT_CAPS, size: 4, access: 'ro' },
  { name: 'rsv1', offset: 0x14, size: 11 * 4, access: 'reserved' },
  { name: 'avail_rs.mappable_gmadr.base', offset: PVINFO_MAPPABLE_BASE, size: 4, access: 'ro' },
  { name: 'avail_rs.mappable_gmadr.size', offset: PVINFO_MAPPABLE_SIZE, size: 4, access: 'ro' },
  { name: 'avail_rs.nonmappable_gmadr.base', offset: PVINFO_NONMAPPABLE_BASE, size: 4, access: 'ro' },
  { name: 'avail_rs.nonmappable_gmadr.size', offset: PVINFO_NONMAPPABLE_SIZE, size: 4, access: 'ro' },
  { name: 'avail_rs.fence_num', offset: PVINFO_FENCE_NUM, size: 4, access: 'ro' },
  { name: 'avail_rs.rsv2', offset: 0x54, size: 3 * 4, access: 'reserved' },
  { name: 'rsv3', offset: 0x60, size: (0x200 - 24) * 4, access: 'reserved' },
  { name: 'rsv4', offset: 0x800, size: 4, access: 'reserved' },
  { name: 'display_ready', offset: PVINFO_DISPLAY_READY, size: 4, access: 'rw' },
  { name: 'rsv5', offset: 0x808, size: 4 * 4, access: 'reserved', failsafe: true },
  { name: 'g2v_notify', offset: PVINFO_G2V_NOTIFY, size: 4, access: 'rw' },
  { name: 'rsv6', offset: 0x81c, size: 5 * 4, access: 'reserved' },
  { name: 'cursor_x_hot', offset: PVINFO_CURSOR_X_HOT, size: 4, access: 'rw' },
  { name: 'cursor_y_hot', offset: PVINFO_CURSOR_Y_HOT, size: 4, access: 'rw' },
  ...pdpFields(),
  { name: 'execlist_context_descriptor_lo', offset: PVINFO_EXECLIST_CTX_DESC_LO, size: 4, access: 'rw' },
  { name: 'execlist_context_descriptor_hi', offset: PVINFO_EXECLIST_CTX_DESC_HI, size: 4, access: 'rw' },
  { name: 'rsv7', offset: 0x860, size: (0x200 - 24) * 4, access: 'reserved' },
]);

/**
 * Check a layout: fields sorted, non-overlapping, naturally aligned, sizes 2/4/8 or whole dwords,
 * unique names, tiling [0, 4096) exactly. Throws `TableError`. Returns the table frozen.
 */
export function checkPvinfoLayout(fields: readonly PvinfoField[]): readonly PvinfoField[] {
  let at = 0;
  const names = new Set<string>();
  for (const f of fields) {
    if (names.has(f.name)) throw new TableError(`PVINFO field ${f.name}: duplicate name`);
    names.add(f.name);
    if (!(f.size > 0)) throw new TableError(`PVINFO field ${f.name}: zero length`);
    if (f.offset !== at) throw new TableError(`PVINFO field ${f.name} at 0x${f.offset.toString(16)}: expected 0x${at.toString(16)} (gap or overlap)`);
    if (f.size === 2 ? f.offset % 2 !== 0 : f.size % 4 !== 0 || f.offset % 4 !== 0) {
      throw new TableError(`PVINFO field ${f.name}: misaligned or odd size`);
    }
    at += f.size;
  }
  if (at !== VGT_PVINFO_SIZE) throw new TableError(`PVINFO layout covers 0x${at.toString(16)} bytes, not 0x1000`);
  return Object.freeze(fields.map((f) => Object.freeze({ ...f })));
}

/** The field covering `offset`, or undefined outside the page. */
export function pvinfoFieldAt(offset: number): PvinfoField | undefined {
  if (!(offset >= 0 && offset < VGT_PVINFO_SIZE)) return undefined;
  return PVINFO_FIELDS[FIELD_OF_BYTE_HALF[offset >>> 1]];
}

/** Field index per 2-byte unit (the smallest field is 2 bytes). */
const FIELD_OF_BYTE_HALF: Uint8Array = (() => {
  const t = new Uint8Array(VGT_PVINFO_SIZE / 2);
  PVINFO_FIELDS.forEach((f, i) => t.fill(i, f.offset / 2, (f.offset + f.size) / 2));
  return t;
})();

/** Access code per dword, compiled from the table: 0 rw, 1 ro, 2 reserved, 3 reserved+failsafe. */
const DWORD_RULE: Uint8Array = (() => {
  const t = new Uint8Array(VGT_PVINFO_SIZE / 4);
  for (const f of PVINFO_FIELDS) {
    const code = f.access === 'rw' ? 0 : f.access === 'ro' ? 1 : f.failsafe ? 3 : 2;
    for (let o = f.offset & ~3; o < f.offset + f.size; o += 4) t[o >>> 2] = code;
  }
  return t;
})();

/** Callbacks of a `PvinfoPage`. */
export interface PvinfoEvents {
  /** The guest wrote `code` to g2v_notify (pdp[] and the descriptor are readable from `page`). */
  onG2vNotify?(code: number, page: PvinfoPage): void;
  /** The guest wrote display_ready. */
  onDisplayReady?(value: number, page: PvinfoPage): void;
  /** The guest wrote a field GVT-g treats as fatal (rsv5): put the vGPU in failsafe. */
  onFailsafe?(field: PvinfoField, page: PvinfoPage): void;
}

/** Counters of a `PvinfoPage`. */
export interface PvinfoCounters {
  reads: number;
  writes: number;
  /** Writes to read-only fields (dropped). */
  readOnlyWrites: number;
  /** Writes to reserved fields (dropped). */
  reservedWrites: number;
  /** Unaligned, wrong-size or out-of-page accesses. */
  badAccess: number;
  /** g2v_notify writes, and those with an unknown code. */
  notifications: number;
  unknownNotifications: number;
}

/**
 * One vGPU's PVINFO page: 1024 dwords plus the access rules. Accesses are 1, 2 or 4 bytes,
 * naturally aligned (a 64-bit guest read of the magic arrives as two 4-byte reads: a JS number
 * cannot hold VGT_MAGIC exactly). Guest input never throws.
 */
export class PvinfoPage {
  readonly words = new Uint32Array(VGT_PVINFO_SIZE / 4);
  readonly counters: PvinfoCounters = {
    reads: 0, writes: 0, readOnlyWrites: 0, reservedWrites: 0, badAccess: 0, notifications: 0, unknownNotifications: 0,
  };
  private readonly events: PvinfoEvents;

  constructor(events: PvinfoEvents = {}) {
    this.events = events;
  }

  /** Fill the page as GVT-g's `populate_pvinfo_page` does for vGPU `vgpuId`. */
  init(vgpuId: number, slices: GmSlices, caps: number = VGT_CAPS_DEFAULT): void {
    const w = this.words;
    w.fill(0);
    w[PVINFO_MAGIC >>> 2] = VGT_MAGIC_LO;
    w[(PVINFO_MAGIC >>> 2) + 1] = VGT_MAGIC_HI;
    w[PVINFO_VERSION_MAJOR >>> 2] = VGT_VERSION_MAJOR | (VGT_VERSION_MINOR << 16);
    w[PVINFO_VGT_ID >>> 2] = vgpuId;
    w[PVINFO_VGT_CAPS >>> 2] = caps;
    w[PVINFO_MAPPABLE_BASE >>> 2] = slices.lowBase;
    w[PVINFO_MAPPABLE_SIZE >>> 2] = slices.lowSize;
    w[PVINFO_NONMAPPABLE_BASE >>> 2] = slices.highBase;
    w[PVINFO_NONMAPPABLE_SIZE >>> 2] = slices.highSize;
    w[PVINFO_FENCE_NUM >>> 2] = slices.fences.length;
    w[PVINFO_DISPLAY_READY >>> 2] = VGT_DRV_DISPLAY_NOT_READY;
    w[PVINFO_CURSOR_X_HOT >>> 2] = 0xffffffff;
    w[PVINFO_CURSOR_Y_HOT >>> 2] = 0xffffffff;
  }

  /** A guest read of `size` bytes at page `offset`. */
  read(offset: number, size: number): number {
    this.counters.reads++;
    if (!this.valid(offset, size)) {
      this.counters.badAccess++;
      return 0;
    }
    const d = this.words[offset >>> 2];
    if (size === 4) return d;
    const shift = (offset & 3) * 8;
    return size === 2 ? (d >>> shift) & 0xffff : (d >>> shift) & 0xff;
  }

  /** A guest write of `size` bytes at page `offset`. */
  write(offset: number, size: number, value: number): void {
    this.counters.writes++;
    if (!this.valid(offset, size)) {
      this.counters.badAccess++;
      return;
    }
    const rule = DWORD_RULE[offset >>> 2];
    if (rule !== 0) {
      const field = pvinfoFieldAt(offset)!;
      if (rule === 1) {
        this.counters.readOnlyWrites++;
      } else {
        this.counters.reservedWrites++;
        log('guest write to reserved PVINFO field %s at 0x%s', field.name, offset.toString(16));
        if (rule === 3) this.events.onFailsafe?.(field, this);
      }
      return;
    }
    const i = offset >>> 2;
    if (size === 4) {
      this.words[i] = value;
    } else {
      const shift = (offset & 3) * 8;
      const mask = (size === 2 ? 0xffff : 0xff) << shift;
      this.words[i] = (this.words[i] & ~mask) | ((value << shift) & mask);
    }
    const dword = offset & ~3;
    if (dword === PVINFO_G2V_NOTIFY) {
      const code = this.words[i];
      this.counters.notifications++;
      if (!(code >= VGT_G2V_PPGTT_L3_PAGE_TABLE_CREATE && code < VGT_G2V_MAX)) {
        this.counters.unknownNotifications++;
        log('unknown g2v notification %d', code);
      }
      this.events.onG2vNotify?.(code, this);
    } else if (dword === PVINFO_DISPLAY_READY) {
      this.events.onDisplayReady?.(this.words[i], this);
    }
  }

  /** Host-side read of the dword at `offset` (no rules, no counting). */
  peek(offset: number): number {
    return this.words[(offset >>> 2) & 0x3ff];
  }

  /** pdp[i] as written by the guest: `[lo, hi]`. */
  pdp(i: number): [number, number] {
    return [this.words[(PVINFO_PDP >>> 2) + 2 * i], this.words[(PVINFO_PDP >>> 2) + 2 * i + 1]];
  }

  private valid(offset: number, size: number): boolean {
    return (size === 4 || size === 2 || size === 1) && (offset & (size - 1)) === 0 && offset >= 0 && offset < VGT_PVINFO_SIZE;
  }
}
