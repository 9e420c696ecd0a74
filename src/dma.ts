// Data transfer between guest RAM and host buffers along the segments the hot path's PRP walk
// produced. Views of guest RAM are taken fresh for each transfer (the memory may have grown).

import type { HotPath } from "./hotpath.ts";
import type { Command } from "./command.ts";
import * as L from "../asm/layout.ts";

export class Dma {
  constructor(private readonly hp: HotPath) {}

  /** Walks a command's PRPs for `len` bytes; returns an NVMe status (0 = mapped). */
  map(cmd: Command, len: number): number {
    return this.hp.x.prpMap(cmd.prp1Lo, cmd.prp1Hi, cmd.prp2Lo, cmd.prp2Hi, len);
  }

  get segmentCount(): number {
    return this.hp.u32(L.ST_SEGS);
  }

  /** Guest address and length of segment `i` of the last mapping. */
  segAddr(i: number): number {
    return this.hp.u32(L.ST_SEG_LIST + i * 8);
  }

  segLen(i: number): number {
    return this.hp.u32(L.ST_SEG_LIST + i * 8 + 4);
  }

  /** A view of guest RAM for segment `i`; valid until the memory next grows. */
  segView(i: number): Uint8Array {
    const u8 = this.hp.bytes();
    const start = this.hp.ram.ramBase + this.segAddr(i);
    return u8.subarray(start, start + this.segLen(i));
  }

  /** Copies `src` into the mapped guest segments and marks them dirty for the JIT. */
  toGuest(src: Uint8Array): void {
    const n = this.segmentCount;
    let off = 0;
    for (let i = 0; i < n && off < src.length; i++) {
      const a = this.segAddr(i);
      const len = Math.min(this.segLen(i), src.length - off);
      this.hp.bytes().set(src.subarray(off, off + len), this.hp.ram.ramBase + a);
      this.hp.x.markDirty(a, len);
      off += len;
    }
  }

  /** Copies the mapped guest segments into `dst`. */
  fromGuest(dst: Uint8Array): void {
    const n = this.segmentCount;
    let off = 0;
    for (let i = 0; i < n && off < dst.length; i++) {
      const len = Math.min(this.segLen(i), dst.length - off);
      const start = this.hp.ram.ramBase + this.segAddr(i);
      dst.set(this.hp.bytes().subarray(start, start + len), off);
      off += len;
    }
  }

  /** Marks segment `i` dirty after a caller wrote into its view. */
  dirty(i: number): void {
    this.hp.x.markDirty(this.segAddr(i), this.segLen(i));
  }
}
