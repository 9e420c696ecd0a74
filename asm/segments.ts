// The segment list both data-pointer walks (PRPs in prp.ts, SGLs in sgl.ts) fill: entries of
// (u32 guest address, u32 length) in the state region, physically contiguous ranges merged. A Bit
// Bucket (read data the host discards) is an entry at SEG_BIT_BUCKET, an address no range inside
// guest RAM can start at.

import { ST_SEG_LIST, SEGS_MAX, SEG_BIT_BUCKET } from "./layout";
import { state, markDirty } from "./guest";

export let segCount: u32 = 0;

@inline export function clearSegs(): void { segCount = 0; }

/** Appends [addr, addr + len) (already range-checked) to the list; false when it is full. */
export function addSeg(addr: u64, len: u32): bool {
  if (segCount > 0) {
    const last = state + ST_SEG_LIST + (segCount - 1) * 8;
    const la = load<u32>(last);
    const ll = load<u32>(last, 4);
    // After a bit bucket la + ll lies past any RAM address: no data merges onto one.
    if (<u64>la + <u64>ll == addr) { store<u32>(last, ll + len, 4); return true; }
  }
  return append(<u32>addr, len);
}

/** Appends a Bit Bucket of `len` bytes (merged with one just before it); false when the list is full. */
export function addBucket(len: u32): bool {
  if (segCount > 0) {
    const last = state + ST_SEG_LIST + (segCount - 1) * 8;
    if (load<u32>(last) == SEG_BIT_BUCKET) { store<u32>(last, load<u32>(last, 4) + len, 4); return true; }
  }
  return append(SEG_BIT_BUCKET, len);
}

@inline function append(addr: u32, len: u32): bool {
  if (segCount == SEGS_MAX) return false;
  const e = state + ST_SEG_LIST + segCount * 8;
  store<u32>(e, addr);
  store<u32>(e, len, 4);
  segCount++;
  return true;
}

/** Records every data segment as dirty (the caller is about to store into them). */
@inline export function markSegsDirty(): void {
  for (let i: u32 = 0; i < segCount; i++) {
    const e = state + ST_SEG_LIST + i * 8;
    const a = load<u32>(e);
    if (a != SEG_BIT_BUCKET) markDirty(<u64>a, load<u32>(e, 4));
  }
}

/** Segments of the last successful mapping. */
export function segmentCount(): u32 { return segCount; }
