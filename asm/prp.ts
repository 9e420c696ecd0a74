// PRP walk: turns PRP1/PRP2 (and PRP list pages, chained through their last entry) into a list of
// guest-RAM segments (address, length) in the state region, merging physically contiguous pages.
// Every entry and list page is checked before it is used; a failure returns a PRP_* code, which
// src/hotpath.ts turns into the NVMe status.

import { ST_PAGE_SIZE, PRP_OK, PRP_OUTSIDE_RAM, PRP_BAD_OFFSET, PRP_TOO_MANY_SEGMENTS } from "./layout";
import { st32, host, inRam } from "./guest";
import { addSeg, clearSegs, markSegsDirty } from "./segments";

/** A data page entry: page aligned (unless it is PRP1) and inside guest RAM for `len` bytes. */
function dataEntry(addr: u64, len: u32): u32 {
  if (!inRam(addr, len)) return PRP_OUTSIDE_RAM;
  if (!addSeg(addr, len)) return PRP_TOO_MANY_SEGMENTS;
  return PRP_OK;
}

function prpWalk(prp1: u64, prp2: u64, len: u32): u32 {
  clearSegs();
  if (len == 0) return PRP_OK;
  const ps = st32(ST_PAGE_SIZE);
  const mask = <u64>(ps - 1);
  if ((prp1 & 3) != 0) return PRP_BAD_OFFSET;
  const first = ps - <u32>(prp1 & mask);
  let n = len < first ? len : first;
  let s = dataEntry(prp1, n);
  if (s != PRP_OK) return s;
  let left = len - n;
  if (left > 0 && left <= ps) {
    // Exactly one more page: PRP2 points at it.
    if ((prp2 & mask) != 0) return PRP_BAD_OFFSET;
    s = dataEntry(prp2, left);
    if (s != PRP_OK) return s;
    left = 0;
  } else if (left > 0) {
    // PRP2 points into a PRP list; its offset must be qword aligned.
    if ((prp2 & 7) != 0) return PRP_BAD_OFFSET;
    let list = prp2;
    while (left > 0) {
      // Entries from `list` to the end of its page; the last one chains when more are needed.
      const slots = <u32>((<u64>ps - (list & mask)) >> 3);
      if (!inRam(list, <u64>slots << 3)) return PRP_OUTSIDE_RAM;
      let i: u32 = 0;
      for (; i < slots && left > 0; i++) {
        const entry = load<u64>(host(list + (<u64>i << 3)));
        if (i == slots - 1 && left > ps) {
          if ((entry & mask) != 0) return PRP_BAD_OFFSET;
          list = entry;
          break;
        }
        if ((entry & mask) != 0) return PRP_BAD_OFFSET;
        n = left < ps ? left : ps;
        s = dataEntry(entry, n);
        if (s != PRP_OK) return s;
        left -= n;
      }
      if (i == slots) break; // list page exhausted exactly as the data ended
    }
  }
  return PRP_OK;
}

/**
 * Maps a command's data pointer (PRP1, PRP2 as 32-bit halves) for `len` bytes into
 * segmentCount() segments; returns PRP_OK or why it failed. With `toHost` the segments are
 * recorded as dirty at once (the caller is about to store into them).
 */
export function prpMap(p1Lo: u32, p1Hi: u32, p2Lo: u32, p2Hi: u32, len: u32, toHost: bool): u32 {
  const s = prpWalk((<u64>p1Hi << 32) | p1Lo, (<u64>p2Hi << 32) | p2Lo, len);
  if (s != PRP_OK) return s;
  if (toHost) markSegsDirty();
  return PRP_OK;
}

