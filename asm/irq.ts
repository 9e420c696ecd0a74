// The INTx line: asserted while an interrupt-enabled CQ holds entries the host has not consumed
// and has been signalled (at once, or after the aggregation threshold or time), unless INTMS
// masks it. With a shadow page the host's CQ head is read from it, and the CQ head EventIdx is
// set to that head while the line is up, so the host's next head update also rings MMIO and the
// line can drop at once (a level-triggered line left up would re-interrupt after every EOI).

import {
  ST_CQ, CQ_ENTRY, CQ_SIZE, CQ_TAIL, CQ_IEN, CQ_UNSIGNALLED, CQ_SIGNALLED, CQ_FIRST_POST,
  CQ_EVENTIDX, ST_INT_MASKED, ST_COALESCE_THR, ST_COALESCE_TIME, ST_CQ_LIMIT,
} from "./layout";
import { st32, setSt32 } from "./guest";
import { dbbufOn, writeEventIdx } from "./doorbell";
import { cqHostHead } from "./queues";

/** Recomputes interrupt state for every CQ; returns the level the line must have. `now` in 100 us ticks. */
export function irqLevel(now: u32): bool {
  const thr = st32(ST_COALESCE_THR);
  const time = st32(ST_COALESCE_TIME);
  let level = false;
  const limit = st32(ST_CQ_LIMIT);
  for (let q: u32 = 0; q < limit; q++) {
    const c = ST_CQ + q * CQ_ENTRY;
    if (st32(c + CQ_SIZE) == 0 || st32(c + CQ_IEN) == 0) continue;
    const head = cqHostHead(q);
    if (head < 0 || <u32>head == st32(c + CQ_TAIL)) {
      setSt32(c + CQ_UNSIGNALLED, 0);
      setSt32(c + CQ_SIGNALLED, 0);
      continue;
    }
    if (st32(c + CQ_SIGNALLED) == 0) {
      // Aggregation applies to I/O CQs only; either condition met signals (time 0 = no delay).
      const n = st32(c + CQ_UNSIGNALLED);
      if (q == 0 || n > thr || now - st32(c + CQ_FIRST_POST) >= time) {
        setSt32(c + CQ_SIGNALLED, 1);
        setSt32(c + CQ_UNSIGNALLED, 0);
      }
    }
    if (st32(c + CQ_SIGNALLED) != 0) {
      level = true;
      if (dbbufOn() && st32(c + CQ_EVENTIDX) != <u32>head + 1) {
        writeEventIdx(q * 2 + 1, <u32>head);
        setSt32(c + CQ_EVENTIDX, <u32>head + 1);
      }
    }
  }
  return level && st32(ST_INT_MASKED) == 0;
}

/**
 * The tick (100 us units, not wrapped) at which the earliest interrupt held back for aggregation
 * time falls due, or Infinity when none is: an emulator whose guest halts sleeps no longer.
 */
export function nextDue(): f64 {
  const time = st32(ST_COALESCE_TIME);
  if (time == 0) return Infinity;
  let due = Infinity;
  const limit = st32(ST_CQ_LIMIT);
  for (let q: u32 = 1; q < limit; q++) {
    const c = ST_CQ + q * CQ_ENTRY;
    if (st32(c + CQ_UNSIGNALLED) == 0 || st32(c + CQ_SIGNALLED) != 0) continue;
    due = Math.min(due, <f64>st32(c + CQ_FIRST_POST) + <f64>time);
  }
  return due;
}
