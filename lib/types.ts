/**
 * Branded address types shared by every room.
 *
 * All addresses of the model fit below 2^53, so they are plain numbers; the brand keeps the
 * address spaces apart at compile time (a guest-physical address is never silently used as a
 * host-physical one). Convert with the explicit helpers below, never with a bare cast.
 */

declare const brand: unique symbol;
/** A number tagged with the address space it belongs to. */
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Guest-physical address (the guest's RAM). */
export type Gpa = Brand<number, 'Gpa'>;
/** Guest frame number (Gpa >>> 12). */
export type Gfn = Brand<number, 'Gfn'>;
/** Host-physical address (the device's host memory). */
export type Hpa = Brand<number, 'Hpa'>;
/** Host (machine) frame number (Hpa >>> 12). */
export type Mfn = Brand<number, 'Mfn'>;
/** Graphics memory address (an offset in the GGTT- or PPGTT-translated space). */
export type Gma = Brand<number, 'Gma'>;

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
export const PAGE_MASK = PAGE_SIZE - 1;
/** 2^32 as a number, for composing 64-bit values from two u32 halves. */
export const TWO_POW_32 = 4294967296;

export const gpa = (n: number): Gpa => n as Gpa;
export const gfn = (n: number): Gfn => n as Gfn;
export const hpa = (n: number): Hpa => n as Hpa;
export const mfn = (n: number): Mfn => n as Mfn;
export const gma = (n: number): Gma => n as Gma;

/** Frame number of an address (works above 2^32, unlike `>>>`). */
export function frameOf(addr: number): number {
  return Math.floor(addr / PAGE_SIZE);
}
/** Address of the first byte of a frame. */
export function frameAddr(frame: number): number {
  return frame * PAGE_SIZE;
}
/** Round up to a power-of-two alignment. */
export function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}
/** Round down to a power-of-two alignment. */
export function alignDown(n: number, align: number): number {
  return Math.floor(n / align) * align;
}
/** Compose a 64-bit value (below 2^53) from two u32 halves. */
export function join64(lo: number, hi: number): number {
  return (hi >>> 0) * TWO_POW_32 + (lo >>> 0);
}
/** Low u32 half of a number below 2^53. */
export function lo32(n: number): number {
  return n >>> 0;
}
/** High u32 half of a number below 2^53. */
export function hi32(n: number): number {
  return Math.floor(n / TWO_POW_32) >>> 0;
}
/** Format a number as 0x-prefixed hex. */
export function hex(n: number, pad = 0): string {
  return '0x' + n.toString(16).padStart(pad, '0');
}
