// Submission and completion queue rings: creation checks, SQE fetch, CQE post with phase tag.
// A command is fetched only when its CQ has a slot left for it (slots are reserved at fetch and
// used at post), so a completion can always be posted and never waits for room.

import {
  ST_SQ, SQ_ENTRY, SQ_BASE, SQ_SIZE, SQ_HEAD, SQ_CQID,
  ST_CQ, CQ_ENTRY, CQ_BASE, CQ_SIZE, CQ_TAIL, CQ_PHASE, CQ_IEN, CQ_RESERVED,
  CQ_UNSIGNALLED, CQ_SIGNALLED, CQ_FIRST_POST, CQ_EVENTIDX,
  ST_MMIO_DB, ST_SQE, ST_BAD_DB, ST_SHADOW_ADDR, ST_SQ_LIMIT, ST_CQ_LIMIT, ST_RR_NEXT, MAX_QUEUES,
  CNT_SQES_FETCHED, CNT_CQES_POSTED, CNT_POLLS, CNT_EMPTY_POLLS,
  FETCH_OK, FETCH_EMPTY, FETCH_CQ_FULL, FETCH_BAD_DOORBELL, FETCH_NO_QUEUE, FETCH_NEXT_CQ_SHIFT, FETCH_NONE,
  DB_SQ_TAIL, DB_CQ_HEAD, DB_NO_QUEUE, DB_BAD_VALUE,
} from "./layout";
import { SQE_SIZE_SHIFT, CQE_SIZE_SHIFT, DOORBELL_STRIDE_SHIFT } from "../src/spec/queue";
import { state, st32, st64, setSt32, setSt64, host, inRam, markDirty, guestStore32 } from "./guest";
import { dbValue, dbbufOn, writeEventIdx, dbStoreMmio } from "./doorbell";
import { count } from "./counters";

@inline function sq(qid: u32): usize { return ST_SQ + qid * SQ_ENTRY; }
@inline function cq(qid: u32): usize { return ST_CQ + qid * CQ_ENTRY; }

export function sqExists(qid: u32): bool { return qid < <u32>MAX_QUEUES && st32(sq(qid) + SQ_SIZE) != 0; }
export function cqExists(qid: u32): bool { return qid < <u32>MAX_QUEUES && st32(cq(qid) + CQ_SIZE) != 0; }

/** A new queue's doorbell reads 0, in the shadow page too (it may hold a previous queue's value). */
function zeroDoorbell(idx: u32): void {
  setSt32(ST_MMIO_DB + (idx << 2), 0);
  if (dbbufOn()) guestStore32(st64(ST_SHADOW_ADDR) + (<u64>idx << DOORBELL_STRIDE_SHIFT), 0);
}

/** Installs a queue whose ring must lie wholly inside guest RAM; false if it does not. */
export function sqCreate(qid: u32, baseLo: u32, baseHi: u32, size: u32, cqid: u32): bool {
  const base = (<u64>baseHi << 32) | baseLo;
  if (qid >= <u32>MAX_QUEUES || size < 2 || !inRam(base, <u64>size << SQE_SIZE_SHIFT)) return false;
  const p = sq(qid);
  setSt64(p + SQ_BASE, base);
  setSt32(p + SQ_SIZE, size);
  setSt32(p + SQ_HEAD, 0);
  setSt32(p + SQ_CQID, cqid);
  if (qid >= st32(ST_SQ_LIMIT)) setSt32(ST_SQ_LIMIT, qid + 1);
  zeroDoorbell(qid * 2);
  return true;
}

export function cqCreate(qid: u32, baseLo: u32, baseHi: u32, size: u32, ien: bool): bool {
  const base = (<u64>baseHi << 32) | baseLo;
  if (qid >= <u32>MAX_QUEUES || size < 2 || !inRam(base, <u64>size << CQE_SIZE_SHIFT)) return false;
  const p = cq(qid);
  memory.fill(state + p, 0, CQ_ENTRY);
  setSt64(p + CQ_BASE, base);
  setSt32(p + CQ_SIZE, size);
  setSt32(p + CQ_PHASE, 1);
  setSt32(p + CQ_IEN, ien ? 1 : 0);
  if (qid >= st32(ST_CQ_LIMIT)) setSt32(ST_CQ_LIMIT, qid + 1);
  zeroDoorbell(qid * 2 + 1);
  return true;
}

export function sqDelete(qid: u32): void { memory.fill(state + sq(qid), 0, SQ_ENTRY); }
export function cqDelete(qid: u32): void { memory.fill(state + cq(qid), 0, CQ_ENTRY); }

function sqHead(qid: u32): u32 { return st32(sq(qid) + SQ_HEAD); }
export function sqCqid(qid: u32): u32 { return st32(sq(qid) + SQ_CQID); }

/**
 * An MMIO doorbell write (index = 2 * qid, + 1 for a CQ head): stored when its queue exists and
 * the value is a position in it, else refused with the reason (the caller reports it to the host).
 */
export function dbWrite(idx: u32, value: u32): i32 {
  const qid = idx >> 1;
  const isCq = (idx & 1) != 0;
  if (isCq ? !cqExists(qid) : !sqExists(qid)) return DB_NO_QUEUE;
  if (value >= st32((isCq ? cq(qid) + CQ_SIZE : sq(qid) + SQ_SIZE))) return DB_BAD_VALUE;
  dbStoreMmio(idx, value);
  return isCq ? DB_CQ_HEAD : DB_SQ_TAIL;
}

/** The host's CQ head, or -1 if the doorbell holds a value no head can have. */
export function cqHostHead(qid: u32): i32 {
  const h = dbValue(qid * 2 + 1);
  return h < st32(cq(qid) + CQ_SIZE) ? <i32>h : -1;
}

/** Slots of `cqid` neither holding unconsumed entries nor reserved; -1 on a bad head doorbell. */
function cqFree(cqid: u32): i32 {
  const p = cq(cqid);
  const size = st32(p + CQ_SIZE);
  const head = cqHostHead(cqid);
  if (head < 0) return -1;
  const used = (st32(p + CQ_TAIL) + size - <u32>head) % size;
  return <i32>(size - 1 - used) - <i32>st32(p + CQ_RESERVED);
}

/**
 * Takes the next entry of SQ `qid` into the state region's SQE slot. On an empty queue, `arm`
 * writes the SQ tail EventIdx (the host then rings the MMIO doorbell for its next entry) and
 * looks once more, so an entry that raced the EventIdx write is not left behind.
 */
export function sqFetch(qid: u32, arm: bool): i32 {
  if (!sqExists(qid)) return FETCH_NO_QUEUE;
  count(CNT_POLLS);
  const p = sq(qid);
  const size = st32(p + SQ_SIZE);
  const head = st32(p + SQ_HEAD);
  const idx = qid * 2;
  let tail = dbValue(idx);
  if (tail >= size) { setSt32(ST_BAD_DB, idx + 1); return FETCH_BAD_DOORBELL; }
  if (tail == head) {
    if (!arm || !dbbufOn()) { count(CNT_EMPTY_POLLS); return FETCH_EMPTY; }
    writeEventIdx(idx, tail);
    tail = dbValue(idx);
    if (tail >= size) { setSt32(ST_BAD_DB, idx + 1); return FETCH_BAD_DOORBELL; }
    if (tail == head) { count(CNT_EMPTY_POLLS); return FETCH_EMPTY; }
  }
  const cqid = st32(p + SQ_CQID);
  const free = cqFree(cqid);
  if (free < 0) { setSt32(ST_BAD_DB, cqid * 2 + 2); return FETCH_BAD_DOORBELL; }
  if (free == 0) return FETCH_CQ_FULL;
  memory.copy(state + ST_SQE, host(st64(p + SQ_BASE) + (<u64>head << SQE_SIZE_SHIFT)), 64);
  setSt32(p + SQ_HEAD, head + 1 == size ? 0 : head + 1);
  const c = cq(cqid);
  setSt32(c + CQ_RESERVED, st32(c + CQ_RESERVED) + 1);
  count(CNT_SQES_FETCHED);
  return FETCH_OK | <i32>cqid;
}

/** Releases the slot sqFetch reserved for the command whose completion is being posted. */
function cqUnreserve(cqid: u32): void {
  const c = cq(cqid);
  const r = st32(c + CQ_RESERVED);
  if (r > 0) setSt32(c + CQ_RESERVED, r - 1);
}

/**
 * Posts a completion into a reserved slot of `cqid`: dwords 0-2 first, then dword 3 whose phase
 * tag tells the host the entry is complete. `status` is the 15-bit status field. `now` is the
 * caller's clock in 100 us ticks (interrupt aggregation time).
 */
export function cqPost(cqid: u32, sqid: u32, cid: u32, status: u32, dw0: u32, dw1: u32, now: u32): bool {
  if (!cqExists(cqid)) return false;
  const c = cq(cqid);
  const tail = st32(c + CQ_TAIL);
  const size = st32(c + CQ_SIZE);
  const phase = st32(c + CQ_PHASE);
  const addr = st64(c + CQ_BASE) + (<u64>tail << CQE_SIZE_SHIFT);
  const h = host(addr);
  store<u32>(h, dw0);
  store<u32>(h, dw1, 4);
  store<u32>(h, (sqExists(sqid) ? sqHead(sqid) : 0) | (sqid << 16), 8);
  store<u32>(h, (cid & 0xffff) | (phase << 16) | ((status & 0x7fff) << 17), 12);
  markDirty(addr, 16);
  if (tail + 1 == size) {
    setSt32(c + CQ_TAIL, 0);
    setSt32(c + CQ_PHASE, phase ^ 1);
  } else {
    setSt32(c + CQ_TAIL, tail + 1);
  }
  cqUnreserve(cqid);
  const n = st32(c + CQ_UNSIGNALLED);
  if (n == 0) setSt32(c + CQ_FIRST_POST, now);
  setSt32(c + CQ_UNSIGNALLED, n + 1);
  count(CNT_CQES_POSTED);
  return true;
}

/**
 * Round-robin arbitration over all SQs: fetches one entry from the next queue that has one and
 * returns its id | its CQ id << FETCH_NEXT_CQ_SHIFT, or FETCH_NONE when none has. With `arm`, every queue found empty gets its EventIdx
 * written. A queue whose doorbell holds an impossible value is skipped and noted in ST_BAD_DB.
 */
export function fetchNext(arm: bool): i32 {
  const limit = st32(ST_SQ_LIMIT);
  const start = st32(ST_RR_NEXT);
  for (let i: u32 = 0; i < limit; i++) {
    let qid = start + i;
    if (qid >= limit) qid -= limit;
    if (!sqExists(qid)) continue;
    const r = sqFetch(qid, arm);
    if (r >= FETCH_OK) { setSt32(ST_RR_NEXT, qid + 1 < limit ? qid + 1 : 0); return <i32>qid | ((r & 0xffff) << FETCH_NEXT_CQ_SHIFT); }
  }
  return FETCH_NONE;
}
