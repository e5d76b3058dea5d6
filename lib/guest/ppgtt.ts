/**
 * A guest's 4-level PPGTT, built in guest RAM the way i915 does: a PML4 page, then PDP, PD and
 * PT pages allocated on demand, every entry written with a vCPU store (so the mediator's write
 * protection sees each one once the table is shadowed).
 */
import { PTE_PRESENT, PTE_RW, pteHi, pteLo } from '../gtt/pte.js';
import { PAGE_SIZE } from '../types.js';
import type { GuestDriver } from './driver.js';

export class GuestPpgtt {
  readonly driver: GuestDriver;
  /** Guest-physical address of the PML4 page (what the context's PDP0 holds). */
  readonly pml4: number;
  /** Table pages by level and index path (key: `${level}:${tableGpa}:${index}` → child gpa). */
  private readonly children = new Map<string, number>();
  /** Pages of tables allocated. */
  tablePages = 1;

  constructor(driver: GuestDriver) {
    this.driver = driver;
    this.pml4 = driver.allocRam(1);
    driver.writeRam(this.pml4, new Uint8Array(PAGE_SIZE));
  }

  private child(table: number, index: number): number {
    const key = `${table}:${index}`;
    let c = this.children.get(key);
    if (c === undefined) {
      c = this.driver.allocRam(1);
      this.driver.writeRam(c, new Uint8Array(PAGE_SIZE));
      this.tablePages++;
      this.children.set(key, c);
      this.writeEntry(table, index, c / PAGE_SIZE);
    }
    return c;
  }

  private writeEntry(table: number, index: number, frame: number, flags = PTE_PRESENT | PTE_RW): void {
    const b = new Uint8Array(8);
    const v = new DataView(b.buffer);
    v.setUint32(0, pteLo(frame, flags), true);
    v.setUint32(4, pteHi(frame), true);
    this.driver.writeRam(table + index * 8, b);
  }

  /** Map `pages` 4 KiB pages at PPGTT address `gma` to guest RAM at `gpa`. */
  map(gma: number, gpa: number, pages: number): void {
    for (let i = 0; i < pages; i++) {
      const a = gma + i * PAGE_SIZE;
      const pdp = this.child(this.pml4, Math.floor(a / 2 ** 39) % 512);
      const pd = this.child(pdp, Math.floor(a / 2 ** 30) % 512);
      const pt = this.child(pd, Math.floor(a / 2 ** 21) % 512);
      this.writeEntry(pt, Math.floor(a / PAGE_SIZE) % 512, gpa / PAGE_SIZE + i);
    }
  }

  /** Write a raw entry (attacks and tests): level 4 PML4 … 1 PT, for address `gma`. */
  writeRaw(level: 1 | 2 | 3 | 4, gma: number, lo: number, hi: number): void {
    let table = this.pml4;
    const shifts = [39, 30, 21, 12];
    for (let l = 4; l > level; l--) table = this.child(table, Math.floor(gma / 2 ** shifts[4 - l]) % 512);
    const b = new Uint8Array(8);
    const v = new DataView(b.buffer);
    v.setUint32(0, lo >>> 0, true);
    v.setUint32(4, hi >>> 0, true);
    this.driver.writeRam(table + (Math.floor(gma / 2 ** shifts[4 - level]) % 512) * 8, b);
  }
}
