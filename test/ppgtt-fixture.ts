/**
 * Test fixture for the shadow PPGTT: a rig (host memory, guest RAM, EPT, manager), a guest-side
 * page-table builder writing through the vCPU path, and the oracle checks (shadow equivalence
 * through `PpgttWalker`, isolation of the shadow tables, frame accounting).
 */
import { Ept } from '../lib/ept/ept.js';
import { HostMemory, SparseGuestMemory } from '../lib/ept/memory.js';
import { PpgttWalker, WalkFault } from '../lib/gtt/ppgtt-walk.js';
import { PDE_IPS, PDE_PS, PTE_PRESENT, PTE_RW, pteFrame, pteHi, pteLo } from '../lib/gtt/pte.js';
import {
  PPGTT_MODE_L3, PPGTT_MODE_L4, PpgttManager, type PpgttManagerOptions, type PpgttMode, type ShadowPpgtt,
} from '../lib/gtt/shadow-ppgtt.js';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

export interface Rig {
  host: HostMemory;
  guest: SparseGuestMemory;
  ept: Ept;
  mgr: PpgttManager;
  /** `framesInUse` right after the manager was built (scratch frames included). */
  baseline: number;
}

/** Host frames held by anything but the EPT's guest mappings. */
export function framesInUse(r: { host: HostMemory; ept: Ept }): number {
  return r.host.allocatedFrames - r.ept.mappedFrames;
}

export function rig(opts: PpgttManagerOptions = {}, guestBytes = 32 * MiB, hostBytes = 256 * MiB): Rig {
  const host = new HostMemory({ size: hostBytes });
  const guest = new SparseGuestMemory(guestBytes);
  const ept = new Ept(guest, host, { name: 'test' });
  const mgr = new PpgttManager(ept, host, { name: 'test', ...opts });
  return { host, guest, ept, mgr, baseline: framesInUse({ host, ept }) };
}

/** How the builder writes an entry into a (possibly write-protected) guest table. */
export type WriteStyle = 'w8' | 'w32' | 'w32rev' | 'bytes' | 'wide' | 'direct';
export const FULL_STYLES: WriteStyle[] = ['w8', 'w32', 'w32rev'];
export const ALL_STYLES: WriteStyle[] = ['w8', 'w32', 'w32rev', 'bytes', 'wide'];

const idx4 = (gma: number) => Math.floor(gma / 2 ** 39) & 0x1ff;
const idx3 = (gma: number) => Math.floor(gma / 2 ** 30) & 0x1ff;
const idx2 = (gma: number) => Math.floor(gma / 2 ** 21) & 0x1ff;
const idx1 = (gma: number) => Math.floor(gma / 4096) & 0x1ff;

/**
 * A guest driver's page tables, built in guest RAM. Table pages come from a bump allocator at
 * `tableFirst`; entries are written with `style` through the EPT's vCPU write path (so writes to
 * shadowed tables trap), or straight into guest memory with 'direct' (never trapped: an
 * out-of-sync page or a page not shadowed yet).
 */
export class GuestPpgtt {
  readonly r: Rig;
  readonly mode: PpgttMode;
  /** 4-level: the PML4 gfn. */
  pml4 = -1;
  /** 3-level: the four PDP register values (PD addresses, 0 = not present). */
  pdps: number[] = [0, 0, 0, 0];
  style: WriteStyle = 'w8';
  nextTable: number;
  readonly tableEnd: number;
  /** Page tables made, with whether they hold 64 KiB entries. */
  readonly pts: { gfn: number; ips: boolean }[] = [];
  readonly pds: number[] = [];

  constructor(r: Rig, mode: PpgttMode = PPGTT_MODE_L4, tableFirst = r.ept.frames - Math.min(2048, r.ept.frames / 2), tableEnd = r.ept.frames) {
    this.r = r;
    this.mode = mode;
    this.nextTable = tableFirst;
    this.tableEnd = tableEnd;
    if (mode === PPGTT_MODE_L4) this.pml4 = this.allocTable();
    else for (let i = 0; i < 4; i++) this.pdps[i] = this.allocPd() * 4096;
  }

  /** What to pass to `PpgttManager.get`. */
  get roots(): number | number[] {
    return this.mode === PPGTT_MODE_L4 ? this.pml4 * 4096 : this.pdps;
  }

  get(): ShadowPpgtt {
    return this.r.mgr.get(this.roots, this.mode);
  }

  allocTable(): number {
    if (this.nextTable >= this.tableEnd) throw new Error('fixture: out of table frames');
    const g = this.nextTable++;
    this.r.guest.fill(g * 4096, 4096, 0);
    return g;
  }

  private allocPd(): number {
    const g = this.allocTable();
    this.pds.push(g);
    return g;
  }

  readEntry(table: number, i: number): [number, number] {
    const a = table * 4096 + i * 8;
    return [this.r.guest.read32(a) >>> 0, this.r.guest.read32(a + 4) >>> 0];
  }

  writeEntry(table: number, i: number, lo: number, hi: number, style: WriteStyle = this.style): void {
    const a = table * 4096 + i * 8;
    const ept = this.r.ept;
    switch (style) {
      case 'direct':
        this.r.guest.write32(a, lo);
        this.r.guest.write32(a + 4, hi);
        break;
      case 'w8':
        ept.guestWrite(a, le(lo, hi));
        break;
      case 'w32':
        ept.guestWrite32(a, lo);
        ept.guestWrite32(a + 4, hi);
        break;
      case 'w32rev':
        ept.guestWrite32(a + 4, hi);
        ept.guestWrite32(a, lo);
        break;
      case 'bytes': {
        const b = le(lo, hi);
        for (let k = 0; k < 8; k++) ept.guestWrite(a + k, b.subarray(k, k + 1));
        break;
      }
      case 'wide': {
        // 16 aligned bytes: this entry and its neighbour (rewritten with its current value).
        const pair = i & ~1;
        const out = new Uint8Array(16);
        for (let j = 0; j < 2; j++) {
          const [l, h] = pair + j === i ? [lo, hi] : this.readEntry(table, pair + j);
          out.set(le(l, h), 8 * j);
        }
        ept.guestWrite(table * 4096 + pair * 8, out);
        break;
      }
    }
  }

  /** The PD for `gma`, creating PDP/PD tables as needed. */
  ensurePd(gma: number): number {
    if (this.mode === PPGTT_MODE_L3) {
      const i = gma >>> 30;
      if (this.pdps[i] === 0) this.pdps[i] = this.allocPd() * 4096;
      return this.pdps[i] / 4096;
    }
    const pdp = this.ensureTable(this.pml4, idx4(gma), 0);
    return this.ensureTable(pdp, idx3(gma), 0, true);
  }

  /** The PT for `gma` with the wanted IPS, replacing a 2 MiB entry or a PT of the other kind. */
  ensurePt(gma: number, ips = false): number {
    const pd = this.ensurePd(gma);
    const [lo, hi] = this.readEntry(pd, idx2(gma));
    if ((lo & PTE_PRESENT) !== 0 && (lo & PDE_PS) === 0 && ((lo & PDE_IPS) !== 0) === ips) return pteFrame(lo, hi);
    const pt = this.allocTable();
    this.pts.push({ gfn: pt, ips });
    this.writeEntry(pd, idx2(gma), pteLo(pt, PTE_PRESENT | PTE_RW | (ips ? PDE_IPS : 0)), pteHi(pt));
    return pt;
  }

  private ensureTable(table: number, i: number, flags: number, isPd = false): number {
    const [lo, hi] = this.readEntry(table, i);
    if ((lo & PTE_PRESENT) !== 0 && (lo & PDE_PS) === 0) return pteFrame(lo, hi);
    const t = this.allocTable();
    if (isPd) this.pds.push(t);
    this.writeEntry(table, i, pteLo(t, PTE_PRESENT | PTE_RW | flags), pteHi(t));
    return t;
  }

  map4K(gma: number, gfn: number, flags = PTE_PRESENT | PTE_RW): void {
    const pt = this.ensurePt(gma, false);
    this.writeEntry(pt, idx1(gma), pteLo(gfn, flags), pteHi(gfn));
  }

  unmap4K(gma: number): void {
    const pt = this.ensurePt(gma, false);
    this.writeEntry(pt, idx1(gma), 0, 0);
  }

  map64K(gma: number, gfn: number, flags = PTE_PRESENT | PTE_RW): void {
    const pt = this.ensurePt(gma, true);
    this.writeEntry(pt, idx1(gma) & ~15, pteLo(gfn, flags), pteHi(gfn));
  }

  map2M(gma: number, gfn: number, flags = PTE_PRESENT | PTE_RW): void {
    const pd = this.ensurePd(gma);
    this.writeEntry(pd, idx2(gma), pteLo(gfn, flags | PDE_PS), pteHi(gfn));
  }

  /** Point the PDE of `gma` at an existing page table. */
  setPde(gma: number, pt: number, ips: boolean): void {
    const pd = this.ensurePd(gma);
    this.writeEntry(pd, idx2(gma), pteLo(pt, PTE_PRESENT | PTE_RW | (ips ? PDE_IPS : 0)), pteHi(pt));
  }

  clearPde(gma: number): void {
    this.writeEntry(this.ensurePd(gma), idx2(gma), 0, 0);
  }

  /** 4-level only: clear the PDP entry of `gma`. */
  clearPdpe(gma: number): void {
    const pdp = this.ensureTable(this.pml4, idx4(gma), 0);
    this.writeEntry(pdp, idx3(gma), 0, 0);
  }

  /** 4-level only: a 1 GiB page at `gma`. */
  map1G(gma: number, gfn: number): void {
    const pdp = this.ensureTable(this.pml4, idx4(gma), 0);
    this.writeEntry(pdp, idx3(gma), pteLo(gfn, PTE_PRESENT | PTE_RW | PDE_PS), pteHi(gfn));
  }

  /** Address of the leaf entry for `gma` (PT must exist). */
  pteAddress(gma: number, ips = false): number {
    const pt = this.ensurePt(gma, ips);
    return pt * 4096 + (ips ? idx1(gma) & ~15 : idx1(gma)) * 8;
  }
}

/** Little-endian bytes of an entry. */
export function le(lo: number, hi: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint32(0, lo >>> 0, true);
  v.setUint32(4, hi >>> 0, true);
  return b;
}

/**
 * Shadow equivalence at `gmas`: walking the shadow (host memory) from its roots gives the EPT
 * translation of walking the guest tables (guest memory), or the scratch page when the guest walk
 * faults or names a frame outside guest RAM. Returns the mismatches (empty when equivalent).
 */
export function mismatches(r: Rig, mm: ShadowPpgtt, guestRoots: number | number[], gmas: Iterable<number>): string[] {
  const gw = new PpgttWalker(r.guest);
  const sw = new PpgttWalker(r.host);
  const out: string[] = [];
  const g = typeof guestRoots === 'number' ? [guestRoots] : guestRoots;
  const s = mm.shadowRoots;
  const scratch = r.mgr.scratchPageMfn;
  for (const gma of gmas) {
    const okG = mm.mode === PPGTT_MODE_L4 ? gw.walk4(g[0], gma) : gw.walk3(g[0], g[1], g[2], g[3], gma);
    const okS = mm.mode === PPGTT_MODE_L4 ? sw.walk4(s[0], gma) : sw.walk3(s[0], s[1], s[2], s[3], gma);
    const at = `gma 0x${gma.toString(16)}`;
    if (!okS) {
      out.push(`${at}: shadow walk faulted (${sw.fault})`);
      continue;
    }
    const sFrame = Math.floor(sw.address / 4096);
    let expected = -1;
    if (okG) {
      const m = r.ept.pin(Math.floor(gw.address / 4096));
      if (m >= 0) expected = m * 4096 + (gma % 4096);
    } else if (gw.fault === WalkFault.ADDRESS_RANGE) {
      continue;
    }
    if (expected < 0) {
      if (sFrame !== scratch) out.push(`${at}: guest ${okG ? 'invalid frame' : 'fault ' + gw.fault}, shadow 0x${sw.address.toString(16)} not scratch`);
    } else if (sw.address !== expected) {
      out.push(`${at}: guest → 0x${gw.address.toString(16)} → host 0x${expected.toString(16)}, shadow 0x${sw.address.toString(16)}${sFrame === scratch ? ' (scratch)' : ''}`);
    } else if (sw.writable !== gw.writable) {
      out.push(`${at}: RW ${gw.writable} in guest, ${sw.writable} in shadow`);
    }
  }
  return out;
}

/**
 * Isolation: every table reachable from the shadow roots is a shadow page or a scratch table,
 * and every leaf names a frame the EPT maps for this guest, or the scratch page. Returns problems.
 */
export function isolationProblems(r: Rig, mm: ShadowPpgtt): string[] {
  const out: string[] = [];
  const scratch = new Set(r.mgr.scratchMfns);
  const seen = new Set<string>();
  const visit = (frame: number, level: number) => {
    const k = `${frame}:${level}`;
    if (seen.has(k)) return;
    seen.add(k);
    if (!r.host.isAllocated(frame)) out.push(`table frame 0x${frame.toString(16)} not allocated`);
    if (scratch.has(frame)) return;
    for (let i = 0; i < 512; i++) {
      const a = frame * 4096 + i * 8;
      const lo = r.host.read32(a) >>> 0;
      const hi = r.host.read32(a + 4) >>> 0;
      if ((lo & PTE_PRESENT) === 0) {
        out.push(`level ${level} frame 0x${frame.toString(16)} entry ${i} not present`);
        continue;
      }
      const f = pteFrame(lo, hi);
      if (level === 1 || (level === 2 && (lo & PDE_PS) !== 0)) {
        const n = level === 1 ? 1 : 512;
        const base = level === 1 ? f : f & ~511;
        for (let j = 0; j < n; j++) {
          if (base + j !== r.mgr.scratchPageMfn && !r.ept.ownsMfn(base + j)) out.push(`leaf frame 0x${(base + j).toString(16)} not owned`);
        }
      } else {
        visit(f, level - 1);
      }
    }
  };
  const top = mm.mode === PPGTT_MODE_L4 ? 4 : 2;
  for (const root of mm.shadowRoots) visit(root / 4096, top);
  return out;
}

/** Sample gmas: every 4 KiB page of [start, start + bytes) with `step`. */
export function range(start: number, bytes: number, step = 4096): number[] {
  const out: number[] = [];
  for (let a = start; a < start + bytes; a += step) out.push(a);
  return out;
}

export { PPGTT_MODE_L3, PPGTT_MODE_L4 };
