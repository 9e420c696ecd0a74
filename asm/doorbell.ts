// Doorbell values. Without a shadow page a doorbell's value is what MMIO last wrote. Once
// Doorbell Buffer Config succeeded, the shadow page in guest RAM is the single source of truth:
// MMIO writes are stored into it too, and every read comes from it, so a host may use the shadow
// page for some queues, sometimes, or never, and the two can never disagree.

import {
  ST_PAGE_SIZE, ST_DBBUF_ON, ST_SHADOW_ADDR, ST_EVENTIDX_ADDR, ST_MMIO_DB, MAX_QUEUES,
  CNT_MMIO_DB_WRITES, CNT_SHADOW_DB_READS, CNT_EVENTIDX_WRITES,
} from "./layout";
import { DOORBELL_STRIDE_SHIFT } from "../src/spec/queue";
import { st32, st64, setSt32, setSt64, host, inRam, guestStore32 } from "./guest";
import { count } from "./counters";

export const DB_COUNT: u32 = MAX_QUEUES * 2;

@inline
export function dbbufOn(): bool {
  return st32(ST_DBBUF_ON) != 0;
}

/** Current value of doorbell `idx` (< DB_COUNT). */
export function dbValue(idx: u32): u32 {
  if (dbbufOn()) {
    count(CNT_SHADOW_DB_READS);
    return load<u32>(host(st64(ST_SHADOW_ADDR) + (<u64>idx << DOORBELL_STRIDE_SHIFT)));
  }
  return st32(ST_MMIO_DB + (idx << 2));
}

/** An MMIO doorbell write: kept locally and, with a shadow page, stored into its slot. */
export function dbStoreMmio(idx: u32, value: u32): void {
  count(CNT_MMIO_DB_WRITES);
  setSt32(ST_MMIO_DB + (idx << 2), value);
  if (dbbufOn()) guestStore32(st64(ST_SHADOW_ADDR) + (<u64>idx << DOORBELL_STRIDE_SHIFT), value);
}

/**
 * Tells the host to ring the MMIO doorbell `idx` once its value moves past `value`. A slot that
 * already holds the value is left alone: an idle queue polled every tick costs no store (and no
 * JIT invalidation of the page).
 */
export function writeEventIdx(idx: u32, value: u32): void {
  const addr = st64(ST_EVENTIDX_ADDR) + (<u64>idx << DOORBELL_STRIDE_SHIFT);
  if (load<u32>(host(addr)) == value) return;
  count(CNT_EVENTIDX_WRITES);
  guestStore32(addr, value);
}

/**
 * Doorbell Buffer Config. Both pages must be page aligned and inside guest RAM, and must hold
 * every doorbell index. The current values are copied into the shadow page so nothing is lost
 * at the switch (hosts such as Linux keep ringing the admin queue through MMIO only).
 */
export function dbbufConfig(sLo: u32, sHi: u32, eLo: u32, eHi: u32): bool {
  const shadow = (<u64>sHi << 32) | sLo;
  const eventIdx = (<u64>eHi << 32) | eLo;
  const pageSize = st32(ST_PAGE_SIZE);
  const mask = <u64>(pageSize - 1);
  const span = <u64>DB_COUNT << DOORBELL_STRIDE_SHIFT;
  if ((shadow & mask) != 0 || (eventIdx & mask) != 0) return false;
  if (!inRam(shadow, span) || !inRam(eventIdx, span)) return false;
  if (span > <u64>pageSize) return false;
  // Reconfiguring: carry the values over from the old shadow page.
  if (dbbufOn()) {
    for (let i: u32 = 0; i < DB_COUNT; i++) setSt32(ST_MMIO_DB + (i << 2), dbValue(i));
  }
  setSt64(ST_SHADOW_ADDR, shadow);
  setSt64(ST_EVENTIDX_ADDR, eventIdx);
  for (let i: u32 = 0; i < DB_COUNT; i++) {
    guestStore32(shadow + (<u64>i << DOORBELL_STRIDE_SHIFT), st32(ST_MMIO_DB + (i << 2)));
  }
  setSt32(ST_DBBUF_ON, 1);
  return true;
}
