// SGL walk: turns the descriptor in a command's DPTR (and the segments it chains through) into the
// same segment list the PRP walk fills. Offered here (Identify SGLS): Data Block descriptors with
// dword aligned address and length, Bit Bucket descriptors on transfers to the host, Segment and
// Last Segment descriptors, sub type Address only; the SGL must describe exactly the transfer.
// Every segment is checked against guest RAM before a descriptor of it is read, every data block
// before it becomes a segment; the descriptors one command can make the walk read are bounded, so
// a chain that loops ends. A failure returns an SGL_* (or PRP_*) code src/hotpath.ts turns into
// the NVMe status.

import {
  PRP_OK, PRP_OUTSIDE_RAM, SGL_BAD_TYPE, SGL_BAD_LENGTH, SGL_TOO_MANY, SGL_GRANULARITY, SGL_BAD_SEGMENT,
  SGL_DESCS_MAX, CNT_SGL_COMMANDS,
} from "./layout";
import { host, inRam } from "./guest";
import { addSeg, addBucket, clearSegs, markSegsDirty } from "./segments";
import { count } from "./counters";

// Descriptor types (identifier bits 7:4); the sub type (bits 3:0) must be 0, Address.
const DATA_BLOCK: u32 = 0;
const BIT_BUCKET: u32 = 1;
const SEGMENT: u32 = 2;
const LAST_SEGMENT: u32 = 3;

let left: u32 = 0; // bytes of the transfer not yet described
let toHostNow: bool = false;

/** A Data Block or Bit Bucket descriptor of `len` bytes. */
function datum(type: u32, addr: u64, len: u32): u32 {
  if (type == DATA_BLOCK && ((addr | <u64>len) & 3) != 0) return SGL_GRANULARITY;
  if (len == 0) return PRP_OK;
  if (len > left) return SGL_BAD_LENGTH;
  if (type == BIT_BUCKET) {
    // Data from the host has nothing to come from in a bit bucket.
    if (!toHostNow) return SGL_BAD_TYPE;
    if (!addBucket(len)) return SGL_TOO_MANY;
  } else {
    if (!inRam(addr, len)) return PRP_OUTSIDE_RAM;
    if (!addSeg(addr, len)) return SGL_TOO_MANY;
  }
  left -= len;
  return PRP_OK;
}

function sglWalk(addr: u64, len: u32, id: u32, total: u32): u32 {
  clearSegs();
  if (total == 0) return PRP_OK;
  left = total;
  let type = id >> 4;
  if ((id & 15) != 0) return SGL_BAD_TYPE;
  let descs: u32 = 0;
  while (true) {
    if (type == DATA_BLOCK || type == BIT_BUCKET) {
      const s = datum(type, addr, len);
      if (s != PRP_OK) return s;
      break;
    }
    if (type != SEGMENT && type != LAST_SEGMENT) return SGL_BAD_TYPE;
    // A segment: `len` bytes of 16-byte descriptors at `addr`.
    if (len == 0 || (len & 15) != 0) return SGL_BAD_SEGMENT;
    const n = len >> 4;
    if (n > <u32>SGL_DESCS_MAX - descs) return SGL_TOO_MANY;
    descs += n;
    if (!inRam(addr, <u64>len)) return PRP_OUTSIDE_RAM;
    const isLast = type == LAST_SEGMENT;
    let chained = false;
    let nextAddr: u64 = 0;
    let nextLen: u32 = 0;
    let nextType: u32 = 0;
    for (let i: u32 = 0; i < n; i++) {
      const d = host(addr + (<u64>i << 4));
      const dId = <u32>load<u8>(d, 15);
      const t = dId >> 4;
      if ((dId & 15) != 0) return SGL_BAD_TYPE;
      if (t == SEGMENT || t == LAST_SEGMENT) {
        // Only the last descriptor of a segment that is not the last one may chain.
        if (i != n - 1 || isLast) return SGL_BAD_SEGMENT;
        chained = true;
        nextAddr = load<u64>(d);
        nextLen = load<u32>(d, 8);
        nextType = t;
      } else if (t == DATA_BLOCK || t == BIT_BUCKET) {
        const s = datum(t, load<u64>(d), load<u32>(d, 8));
        if (s != PRP_OK) return s;
      } else {
        return SGL_BAD_TYPE;
      }
    }
    if (!chained) break;
    addr = nextAddr;
    len = nextLen;
    type = nextType;
  }
  return left == 0 ? PRP_OK : SGL_BAD_LENGTH;
}

/**
 * Maps a command's SGL (DPTR's first descriptor: address as 32-bit halves, length, identifier
 * byte) for `len` bytes into segmentCount() segments; returns PRP_OK or why it failed. With
 * `toHost` (data to the host) Bit Buckets are allowed and the data segments are recorded as
 * dirty at once.
 */
export function sglMap(aLo: u32, aHi: u32, dLen: u32, id: u32, len: u32, toHost: bool): u32 {
  toHostNow = toHost;
  const s = sglWalk((<u64>aHi << 32) | aLo, dLen, id & 0xff, len);
  if (s != PRP_OK) return s;
  count(CNT_SGL_COMMANDS);
  if (toHost) markSegsDirty();
  return PRP_OK;
}
