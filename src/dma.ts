// Data transfer between guest RAM and host buffers along the segments the hot path's PRP or SGL
// walk produced. Views of guest RAM are taken fresh for each transfer (the memory may have grown).
// A Bit Bucket segment (SGL reads only) takes its share of the data and drops it.

import { BIT_BUCKET, type HotPath } from "./hotpath.ts";
import type { Command } from "./command.ts";
import { INVALID_FIELD, SUCCESS, type Status } from "./spec/status.ts";

export class Dma {
  constructor(private readonly hotPath: HotPath) {}

  /** Segments of the last successful mapping. */
  segmentCount = 0;

  /** Where Bit Bucket segments are read into; grown on demand, never read back. */
  private discard = new Uint8Array(0);

  /**
   * Walks a command's data pointer (PRPs, or an SGL when PSDT says so) for `len` bytes. `toHost`:
   * the device will store into the segments, so they are recorded dirty for the JIT right away.
   */
  map(cmd: Command, len: number, toHost = false): Status {
    const psdt = cmd.psdt;
    if (psdt > 1) return INVALID_FIELD; // MPTR as an SGL segment is not offered; 11b is reserved
    const s = psdt === 0 ? this.hotPath.mapPrps(cmd, len, toHost) : this.hotPath.mapSgl(cmd, len, toHost);
    if (s === SUCCESS) this.segmentCount = this.hotPath.segmentCount();
    return s;
  }

  /** Length of segment `i` of the last mapping. */
  segLen(i: number): number {
    return this.hotPath.segmentLength(i);
  }

  /** A view of guest RAM for segment `i` (scratch for a Bit Bucket); valid until the memory next grows. */
  segView(i: number): Uint8Array {
    const len = this.hotPath.segmentLength(i);
    const addr = this.hotPath.segmentAddress(i);
    if (addr === BIT_BUCKET) {
      if (this.discard.length < len) this.discard = new Uint8Array(len);
      return this.discard.subarray(0, len);
    }
    const start = this.hotPath.ram.ramBase + addr;
    return this.hotPath.bytes().subarray(start, start + len);
  }

  /** Copies `src` into segments mapped with `toHost`. */
  toGuest(src: Uint8Array): void {
    const n = this.segmentCount;
    let off = 0;
    for (let i = 0; i < n && off < src.length; i++) {
      const len = Math.min(this.hotPath.segmentLength(i), src.length - off);
      const addr = this.hotPath.segmentAddress(i);
      if (addr !== BIT_BUCKET) this.hotPath.bytes().set(src.subarray(off, off + len), this.hotPath.ram.ramBase + addr);
      off += len;
    }
  }

  /** Copies the mapped guest segments into `dst` (a mapping for data from the host has no Bit Bucket). */
  fromGuest(dst: Uint8Array): void {
    const n = this.segmentCount;
    let off = 0;
    for (let i = 0; i < n && off < dst.length; i++) {
      const len = Math.min(this.hotPath.segmentLength(i), dst.length - off);
      const start = this.hotPath.ram.ramBase + this.hotPath.segmentAddress(i);
      dst.set(this.hotPath.bytes().subarray(start, start + len), off);
      off += len;
    }
  }

  /**
   * The last mapping's segments as (address, length) pairs, for a transfer that completes later:
   * the data pointer is walked once, when the command is fetched, and a host that rewrites a PRP
   * list or an SGL segment meanwhile cannot redirect the data.
   */
  saveSegments(): Uint32Array {
    return this.hotPath.copySegments(this.segmentCount);
  }

  /** Whether `len` bytes at guest address hi:lo lie inside guest RAM (a contiguous buffer such as MPTR's). */
  inRam(lo: number, hi: number, len: number): boolean {
    return hi === 0 && lo + len <= this.hotPath.ram.ramSize;
  }

  /** A copy of `len` bytes at guest address `addr` (checked with inRam). */
  readAt(addr: number, len: number): Uint8Array {
    const start = this.hotPath.ram.ramBase + addr;
    return this.hotPath.bytes().slice(start, start + len);
  }

  /** Stores `src` at guest address `addr` (checked with inRam), recording it dirty. */
  writeAt(addr: number, src: Uint8Array): void {
    this.hotPath.bytes().set(src, this.hotPath.ram.ramBase + addr);
    this.hotPath.markDirty(addr, src.length);
  }

  /** Copies `src` into saved segments, recording them dirty for the emulator. */
  toGuestAt(segs: Uint32Array, src: Uint8Array): void {
    let off = 0;
    for (let i = 0; i < segs.length && off < src.length; i += 2) {
      const len = Math.min(segs[i + 1], src.length - off);
      if (segs[i] !== BIT_BUCKET) {
        this.hotPath.bytes().set(src.subarray(off, off + len), this.hotPath.ram.ramBase + segs[i]);
        this.hotPath.markDirty(segs[i], len);
      }
      off += len;
    }
  }
}
