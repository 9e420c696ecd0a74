// The data pointer walks as the NVMe spec describes them, written apart from the device's own in
// asm/prp.ts and asm/sgl.ts: PRPs (PRP1 with an offset, PRP2 as a second page or a list pointer,
// the last entry of a full list page chaining to the next) and SGLs (Data Blocks, Bit Buckets,
// Segments chained through their last descriptor). The fuzzer uses them to know which guest bytes
// a data-in command may legitimately have stored into. Bad offsets, types and lengths are not
// judged here: over-approximating only makes the check more permissive, never wrong.

import type { Command } from "../../src/command.ts";

export type Region = [start: number, end: number];

/** Guest regions a transfer of `len` bytes described by PRP1/PRP2 covers; `read64` reads a list entry. */
export function prpRegions(prp1: number, prp2: number, len: number, pageSize: number, read64: (addr: number) => number | undefined): Region[] {
  const out: Region[] = [];
  if (len <= 0) return out;
  const first = Math.min(len, pageSize - (prp1 % pageSize));
  out.push([prp1, prp1 + first]);
  let left = len - first;
  if (left === 0) return out;
  if (left <= pageSize) {
    out.push([prp2, prp2 + left]);
    return out;
  }
  let list = prp2;
  // Each list page holds at least one data entry, so a loop of list pages ends here.
  for (let pages = Math.ceil(left / pageSize); left > 0 && pages >= 0; pages--) {
    const slots = Math.floor((pageSize - (list % pageSize)) / 8);
    let next: number | undefined;
    for (let i = 0; i < slots && left > 0; i++) {
      const e = read64(list + i * 8);
      if (e === undefined) return out;
      if (i === slots - 1 && left > pageSize) {
        next = e;
        break;
      }
      const n = Math.min(left, pageSize);
      out.push([e, e + n]);
      left -= n;
    }
    if (next === undefined) break;
    list = next;
  }
  return out;
}

/** Descriptors one SGL walk looks at before it gives up (the device stops far earlier). */
const SGL_WALK_LIMIT = 1 << 16;

type Read32 = (addr: number) => number | undefined;

/**
 * Guest regions a transfer of `len` bytes described by the SGL whose first descriptor is
 * (addr, dlen, type) covers; `read32` reads guest RAM.
 */
export function sglRegions(addr: number, dlen: number, type: number, len: number, read32: Read32): Region[] {
  const out: Region[] = [];
  let left = len;
  const take = (t: number, a: number, n: number) => {
    const k = Math.min(n, left);
    if (t === 0 && k > 0) out.push([a, a + k]);
    if (t <= 1) left -= k;
  };
  for (let seen = 0; left > 0 && seen < SGL_WALK_LIMIT; ) {
    if (type !== 2 && type !== 3) {
      take(type, addr, dlen);
      break;
    }
    const n = Math.floor(dlen / 16);
    let next: [number, number, number] | undefined;
    for (let i = 0; i < n && left > 0 && seen < SGL_WALK_LIMIT; i++, seen++) {
      const d = addr + i * 16;
      const [lo, hi, l, id] = [read32(d), read32(d + 4), read32(d + 8), read32(d + 12)];
      if (lo === undefined || hi === undefined || l === undefined || id === undefined) return out;
      const t = id >>> 28;
      if (t === 2 || t === 3) next = [lo + hi * 2 ** 32, l, t];
      else take(t, lo + hi * 2 ** 32, l);
    }
    if (!next) break;
    [addr, dlen, type] = next;
  }
  return out;
}

/** Guest regions command `c`'s data pointer (PRPs or an SGL, by PSDT) covers for `len` bytes. */
export function dataRegions(c: Command, len: number, pageSize: number, read32: Read32): Region[] {
  const p1 = c.prp1Lo + c.prp1Hi * 2 ** 32;
  if (c.psdt === 1) return sglRegions(p1, c.prp2Lo, c.prp2Hi >>> 28, len, read32);
  if (c.psdt !== 0) return []; // refused before any data moves
  const read64 = (a: number) => {
    const [lo, hi] = [read32(a), read32(a + 4)];
    return lo === undefined || hi === undefined ? undefined : lo + hi * 2 ** 32;
  };
  return prpRegions(p1, c.prp2Lo + c.prp2Hi * 2 ** 32, len, pageSize, read64);
}
