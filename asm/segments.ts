// The segment list both data-pointer walks (PRPs in prp.ts, SGLs in sgl.ts) fill: entries of
// (u32 guest address, u32 length) in the state region, physically contiguous ranges merged. A Bit
// Bucket (read data the host discards) is an entry at SEG_BIT_BUCKET, an address no range inside
// guest RAM can start at.

import { ST_SEG_LIST, SEGS_MAX, SEG_BIT_BUCKET } from "./layout";
import { state, markDirty } from "./guest";

export let segCount: u32 = 0;

@inline export function clearSegs(): void { segCount = 0; }

/** Appends [addr, addr + len) (already range-checked, or SEG_BIT_BUCKET) to the list; false when it is full. */
export function addSeg(addr: u64, len: u32): bool {
  if (segCount > 0) {
    const last = state + ST_SEG_LIST + (segCount - 1) * 8;
    const la = load<u32>(last);
    const ll = load<u32>(last, 4);
    // Contiguous data, or two bit buckets in a row. A bucket's address plus anything lies past RAM.
    if (<u64>la + <u64>ll == addr || (la == SEG_BIT_BUCKET && addr == <u64>SEG_BIT_BUCKET)) {
      store<u32>(last, ll + len, 4);
      return true;
    }
  }
  if (segCount == SEGS_MAX) return false;
  const e = state + ST_SEG_LIST + segCount * 8;
  store<u32>(e, <u32>addr);
  store<u32>(e, len, 4);
  segCount++;
  return true;
}

/** Records every data segment as dirty (the caller is about to store into them). */
export function markSegsDirty(): void {
  for (let i: u32 = 0; i < segCount; i++) {
    const e = state + ST_SEG_LIST + i * 8;
    const a = load<u32>(e);
    if (a != SEG_BIT_BUCKET) markDirty(<u64>a, load<u32>(e, 4));
  }
}

/** Segments of the last successful mapping. */
export function segmentCount(): u32 { return segCount; }
