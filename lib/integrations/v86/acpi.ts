/**
 * Minimal ACPI tables for a v86 guest booted with a stock SeaBIOS (Debian's `seabios`).
 *
 * Why: Debian's i915.ko needs `video.ko`, which needs `wmi.ko`, which refuses to load without
 * ACPI. SeaBIOS no longer builds ACPI tables itself (its `acpi_setup` only says "ACPI tables for
 * qemu 1.6 and older are not supported any more"): on QEMU it loads the tables QEMU offers through
 * fw_cfg, following the "etc/table-loader" script. v86 answers fw_cfg (port 0x510) with QEMU's
 * signature and serves its `cpu.option_roms` as fw_cfg files, so these tables are offered the
 * same way: `installAcpiTables(cpu)` before the emulator runs.
 *
 * The tables describe v86's own ACPI hardware (src/acpi.js, enabled with v86's `acpi: true`): the
 * PIIX4 PM1 event block at 0xb000, PM1 control at 0xb004, the PM timer at 0xb008, GPE0 at 0xafe0,
 * SCI on IRQ 9. RSDP (ACPI 1.0), RSDT, FADT (revision 1, 116 bytes), FACS and an empty DSDT: no
 * devices, so the guest must probe PCI itself (`pci=noacpi`) and route INTx through the PIRQ table.
 *
 * Facts: the layouts are the ACPI specification's (1.0b tables); the loader commands and their
 * 128-byte entries are QEMU's `hw/acpi/bios-linker-loader.c` / SeaBIOS `src/fw/romfile_loader.c`
 * (ALLOCATE = 1 with a 56-byte file name, alignment and zone (1 high memory, 2 F segment);
 * ADD_POINTER = 2 with destination and source names, offset and size; ADD_CHECKSUM = 3 with file,
 * offset, start and length).
 */
import { ConfigError } from '../../errors.js';
import type { V86Cpu } from './v86-types.js';

const FILE_NAME_BYTES = 56;
const ENTRY_BYTES = 128;
const ZONE_HIGH = 1;
const ZONE_FSEG = 2;
const CMD_ALLOCATE = 1;
const CMD_ADD_POINTER = 2;
const CMD_ADD_CHECKSUM = 3;

/** v86's ACPI I/O ports (src/acpi.js). */
export const V86_ACPI = {
  PM1A_EVT: 0xb000,
  PM1A_CNT: 0xb004,
  PM_TMR: 0xb008,
  GPE0: 0xafe0,
  SCI_IRQ: 9,
} as const;

const TABLES = 'etc/acpi/tables';
const RSDP = 'etc/acpi/rsdp';
const LOADER = 'etc/table-loader';

/** A fw_cfg file as v86 serves it. */
export interface FwCfgFile {
  name: string;
  data: Uint8Array;
}

class Writer {
  readonly bytes: Uint8Array;
  private readonly dv: DataView;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.dv = new DataView(this.bytes.buffer);
  }
  ascii(at: number, s: string, width = s.length): void {
    for (let i = 0; i < width; i++) this.bytes[at + i] = i < s.length ? s.charCodeAt(i) : 0;
  }
  u8(at: number, v: number): void { this.bytes[at] = v; }
  u16(at: number, v: number): void { this.dv.setUint16(at, v, true); }
  u32(at: number, v: number): void { this.dv.setUint32(at, v >>> 0, true); }
}

/** The common 36-byte table header (checksum left 0: the loader fixes it). */
function header(w: Writer, at: number, signature: string, length: number, revision: number): void {
  w.ascii(at, signature, 4);
  w.u32(at + 4, length);
  w.u8(at + 8, revision);
  w.ascii(at + 10, 'GVTKIT', 6);
  w.ascii(at + 16, `V86${signature}`, 8);
  w.u32(at + 24, 1);
  w.ascii(at + 28, 'GVTK', 4);
  w.u32(at + 32, 1);
}

/**
 * The fw_cfg files that make SeaBIOS install the tables: `etc/acpi/tables`, `etc/acpi/rsdp` and
 * the `etc/table-loader` script that places them, links their pointers and fixes checksums.
 */
export function acpiFwCfgFiles(): FwCfgFile[] {
  // Layout of etc/acpi/tables: FACS (64-byte aligned, first), DSDT, FADT, RSDT.
  const FACS = 0, FACS_LEN = 64;
  const DSDT = 64, DSDT_LEN = 36;
  const FADT = 128, FADT_LEN = 116;
  const RSDT = 256, RSDT_LEN = 36 + 4;
  const t = new Writer(RSDT + RSDT_LEN);

  t.ascii(FACS, 'FACS', 4);
  t.u32(FACS + 4, FACS_LEN);

  header(t, DSDT, 'DSDT', DSDT_LEN, 1);

  header(t, FADT, 'FACP', FADT_LEN, 1);
  t.u32(FADT + 36, FACS); // FIRMWARE_CTRL: offset in the file, the loader adds the file's address
  t.u32(FADT + 40, DSDT); // DSDT: likewise
  t.u16(FADT + 46, V86_ACPI.SCI_IRQ);
  t.u32(FADT + 48, 0); // SMI_CMD 0: the hardware is in ACPI mode already (SCI_EN reads 1)
  t.u32(FADT + 56, V86_ACPI.PM1A_EVT);
  t.u32(FADT + 64, V86_ACPI.PM1A_CNT);
  t.u32(FADT + 76, V86_ACPI.PM_TMR);
  t.u32(FADT + 80, V86_ACPI.GPE0);
  t.u8(FADT + 88, 4); // PM1_EVT_LEN
  t.u8(FADT + 89, 2); // PM1_CNT_LEN
  t.u8(FADT + 91, 4); // PM_TMR_LEN
  t.u8(FADT + 92, 4); // GPE0_BLK_LEN
  t.u16(FADT + 96, 101); // P_LVL2_LAT > 100: no C2
  t.u16(FADT + 98, 1001); // P_LVL3_LAT > 1000: no C3
  t.u8(FADT + 108, 0x32); // CENTURY: CMOS index
  t.u32(FADT + 112, 0x1 | 0x4 | 0x10 | 0x20); // WBINVD, PROC_C1, no power button, no sleep button

  header(t, RSDT, 'RSDT', RSDT_LEN, 1);
  t.u32(RSDT + 36, FADT);

  const r = new Writer(20);
  r.ascii(0, 'RSD PTR ', 8);
  r.ascii(9, 'GVTKIT', 6);
  r.u8(15, 0); // revision 0: ACPI 1.0
  r.u32(16, RSDT);

  const cmds: Uint8Array[] = [];
  const entry = (fill: (e: Writer) => void): void => {
    const e = new Writer(ENTRY_BYTES);
    fill(e);
    cmds.push(e.bytes);
  };
  const allocate = (file: string, align: number, zone: number): void => entry((e) => {
    e.u32(0, CMD_ALLOCATE);
    e.ascii(4, file, FILE_NAME_BYTES);
    e.u32(4 + FILE_NAME_BYTES, align);
    e.u8(8 + FILE_NAME_BYTES, zone);
  });
  const pointer = (dest: string, src: string, offset: number): void => entry((e) => {
    e.u32(0, CMD_ADD_POINTER);
    e.ascii(4, dest, FILE_NAME_BYTES);
    e.ascii(4 + FILE_NAME_BYTES, src, FILE_NAME_BYTES);
    e.u32(4 + 2 * FILE_NAME_BYTES, offset);
    e.u8(8 + 2 * FILE_NAME_BYTES, 4);
  });
  const checksum = (file: string, offset: number, start: number, length: number): void => entry((e) => {
    e.u32(0, CMD_ADD_CHECKSUM);
    e.ascii(4, file, FILE_NAME_BYTES);
    e.u32(4 + FILE_NAME_BYTES, offset);
    e.u32(8 + FILE_NAME_BYTES, start);
    e.u32(12 + FILE_NAME_BYTES, length);
  });
  allocate(RSDP, 16, ZONE_FSEG);
  allocate(TABLES, 64, ZONE_HIGH);
  checksum(TABLES, DSDT + 9, DSDT, DSDT_LEN);
  pointer(TABLES, TABLES, FADT + 36);
  pointer(TABLES, TABLES, FADT + 40);
  checksum(TABLES, FADT + 9, FADT, FADT_LEN);
  pointer(TABLES, TABLES, RSDT + 36);
  checksum(TABLES, RSDT + 9, RSDT, RSDT_LEN);
  pointer(RSDP, TABLES, 16);
  checksum(RSDP, 8, 0, 20);

  const loader = new Uint8Array(cmds.length * ENTRY_BYTES);
  cmds.forEach((c, i) => loader.set(c, i * ENTRY_BYTES));
  return [
    { name: RSDP, data: r.bytes },
    { name: TABLES, data: t.bytes },
    { name: LOADER, data: loader },
  ];
}

/**
 * Offer the tables to the guest's SeaBIOS through v86's fw_cfg files. Call before the emulator
 * runs, with v86's `acpi: true` (its ACPI device is what the FADT describes). Idempotent.
 */
export function installAcpiTables(cpu: V86Cpu & { option_roms?: FwCfgFile[] }): void {
  const roms = cpu.option_roms;
  if (!Array.isArray(roms)) throw new ConfigError('emulator', 'v86 cpu.option_roms missing: not a v86 0.5 CPU');
  for (const f of acpiFwCfgFiles()) {
    if (!roms.some((r) => r.name === f.name)) roms.push(f);
  }
}
