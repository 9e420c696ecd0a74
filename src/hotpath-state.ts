// The hot path's saved state region (HotPath.saveState) as input: the check a snapshot's region
// passes before it is restored, and where its fields are for tools that craft or inspect
// snapshots without knowing the layout.

import * as L from "../asm/layout.ts";
import * as Q from "./spec/queue.ts";

/**
 * Checks a saved state region as if the guest had set up every queue and page in it (a snapshot
 * is input too): each existing queue inside guest RAM with a size, head or tail it could have,
 * each SQ on an existing CQ, the shadow doorbell pages inside RAM. Returns the queues it holds
 * for the caller's checks against the rest of the snapshot; throws naming the first bad field.
 */
export function checkSavedState(bytes: unknown, ramSize: number, limits: StateLimits): SavedQueues {
  if (!(bytes instanceof Uint8Array) || bytes.length !== L.ST_END) {
    throw new Error(`hot path state is not ${L.ST_END} bytes`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (off: number) => dv.getUint32(off, true);
  const u64 = (off: number) => u32(off) + u32(off + 4) * 2 ** 32;
  const inRam = (addr: number, len: number) => len <= ramSize && addr <= ramSize - len;
  const hex = (v: number) => `0x${v.toString(16)}`;
  const sqLimit = u32(L.ST_SQ_LIMIT);
  const cqLimit = u32(L.ST_CQ_LIMIT);
  if (sqLimit > L.MAX_QUEUES || cqLimit > L.MAX_QUEUES) throw new Error(`hot path state: queue id limits ${sqLimit}/${cqLimit} exceed ${L.MAX_QUEUES}`);
  if (u32(L.ST_RR_NEXT) >= Math.max(sqLimit, 1)) throw new Error(`hot path state: arbitration position ${u32(L.ST_RR_NEXT)} past SQ ${sqLimit - 1}`);
  const out: SavedQueues = { sqs: new Map(), cqs: new Map(), shadow: false };
  const maxSize = (qid: number) => (qid === 0 ? limits.adminEntries : limits.mqes);
  for (let q = 0; q < L.MAX_QUEUES; q++) {
    const c = L.ST_CQ + q * L.CQ_ENTRY;
    const size = u32(c + L.CQ_SIZE);
    if (size === 0) continue;
    const base = u64(c + L.CQ_BASE);
    const what = `CQ ${q}`;
    if (q > limits.maxQueueId || q >= cqLimit) throw new Error(`hot path state: ${what} is beyond the queues this controller offers`);
    if (size < 2 || size > maxSize(q)) throw new Error(`hot path state: ${what} has ${size} entries`);
    if (!inRam(base, size * Q.CQE_SIZE)) throw new Error(`hot path state: ${what} at ${hex(base)} (${size} entries) lies outside guest RAM`);
    if (u32(c + L.CQ_TAIL) >= size || u32(c + L.CQ_PHASE) > 1 || u32(c + L.CQ_IEN) > 1 || u32(c + L.CQ_SIGNALLED) > 1 || u32(c + L.CQ_EVENTIDX) > size) {
      throw new Error(`hot path state: ${what} has a tail, phase, interrupt or EventIdx field no queue of ${size} entries can have`);
    }
    const reserved = u32(c + L.CQ_RESERVED);
    if (reserved >= size) throw new Error(`hot path state: ${what} reserves ${reserved} of ${size} slots`);
    out.cqs.set(q, { size, reserved });
  }
  for (let q = 0; q < L.MAX_QUEUES; q++) {
    const p = L.ST_SQ + q * L.SQ_ENTRY;
    const size = u32(p + L.SQ_SIZE);
    if (size === 0) continue;
    const base = u64(p + L.SQ_BASE);
    const cqid = u32(p + L.SQ_CQID);
    const what = `SQ ${q}`;
    if (q > limits.maxQueueId || q >= sqLimit) throw new Error(`hot path state: ${what} is beyond the queues this controller offers`);
    if (size < 2 || size > maxSize(q)) throw new Error(`hot path state: ${what} has ${size} entries`);
    if (!inRam(base, size * Q.SQE_SIZE)) throw new Error(`hot path state: ${what} at ${hex(base)} (${size} entries) lies outside guest RAM`);
    if (u32(p + L.SQ_HEAD) >= size) throw new Error(`hot path state: ${what} head ${u32(p + L.SQ_HEAD)} is past its ${size} entries`);
    if (!out.cqs.has(cqid) || (q === 0) !== (cqid === 0)) throw new Error(`hot path state: ${what} completes into CQ ${cqid}, which it cannot`);
    out.sqs.set(q, { size, cqid });
  }
  const dbbuf = u32(L.ST_DBBUF_ON);
  if (dbbuf > 1) throw new Error(`hot path state: shadow doorbell flag ${dbbuf}`);
  if (dbbuf === 1) {
    const span = L.MAX_QUEUES * 2 * (1 << Q.DOORBELL_STRIDE_SHIFT);
    for (const [name, addr] of [["shadow doorbell", u64(L.ST_SHADOW_ADDR)], ["EventIdx", u64(L.ST_EVENTIDX_ADDR)]] as const) {
      if (addr % 4096 !== 0 || !inRam(addr, span)) throw new Error(`hot path state: ${name} page ${hex(addr)} is not a page inside guest RAM`);
    }
    out.shadow = true;
  }
  return out;
}

/** What a controller allows: the highest queue id, entries per I/O queue and per admin queue. */
export interface StateLimits {
  maxQueueId: number;
  mqes: number;
  adminEntries: number;
}

/**
 * Where a saved state region (ControllerSnapshot.hot) keeps the fields a snapshot check reads:
 * for tools that craft or inspect snapshots (the snapshot fuzzer, tests) without knowing the layout.
 */
export const SAVED_STATE = {
  bytes: L.ST_END,
  queues: L.MAX_QUEUES,
  shadowAddress: L.ST_SHADOW_ADDR,
  sqLimit: L.ST_SQ_LIMIT,
  sq(qid: number) {
    const at = L.ST_SQ + qid * L.SQ_ENTRY;
    return { at, bytes: L.SQ_ENTRY, base: at + L.SQ_BASE, size: at + L.SQ_SIZE, head: at + L.SQ_HEAD, cqid: at + L.SQ_CQID };
  },
  cq(qid: number) {
    const at = L.ST_CQ + qid * L.CQ_ENTRY;
    return { at, bytes: L.CQ_ENTRY, base: at + L.CQ_BASE, size: at + L.CQ_SIZE };
  },
};

/** The queues a saved state region holds (see HotPath.checkState). */
export interface SavedQueues {
  sqs: Map<number, { size: number; cqid: number }>;
  cqs: Map<number, { size: number; reserved: number }>;
  shadow: boolean;
}
