// Typed wrapper around the AssemblyScript hot path (asm/), and the one TypeScript file that knows
// the layout of its state region: one wasm page grown onto the memory it is given (in v86, the
// emulator's own memory; guest RAM is the window [ramBase, ramBase + ramSize) of it). The
// module's packed return codes are decoded here into named results.
// Views over memory.buffer are re-taken whenever the buffer changed: the memory grows at run time.

import * as L from "../asm/layout.ts";
import { hotPathModule, type HotPathExports, type HotPathWasm } from "./hotpath-module.ts";
import { Command } from "./command.ts";
import { checkSavedState, type SavedQueues, type StateLimits } from "./hotpath-state.ts";
import * as Q from "./spec/queue.ts";
import * as S from "./spec/status.ts";
import type { Status } from "./spec/status.ts";

export interface GuestRam {
  memory: WebAssembly.Memory;
  ramBase: number;
  ramSize: number;
}

/** Queue ids run from 0 (admin) to MAX_QUEUES - 1. */
export const MAX_QUEUES = L.MAX_QUEUES;

/** What an MMIO doorbell write did: stored for an SQ tail or a CQ head, or refused and why. */
export type DoorbellWrite = "sq-tail" | "cq-head" | "no-queue" | "bad-value";

export const COUNTER_NAMES = [
  "mmioDoorbellWrites", "shadowDoorbellReads", "eventIdxWrites", "sqesFetched",
  "cqesPosted", "polls", "emptyPolls", "sglCommands",
] as const;
export type HotCounter = (typeof COUNTER_NAMES)[number];

const PRP_STATUS: Status[] = [];
PRP_STATUS[L.PRP_OK] = S.SUCCESS;
PRP_STATUS[L.PRP_OUTSIDE_RAM] = S.DATA_TRANSFER_ERROR;
PRP_STATUS[L.PRP_BAD_OFFSET] = S.INVALID_PRP_OFFSET;
PRP_STATUS[L.PRP_TOO_MANY_SEGMENTS] = S.INVALID_FIELD;
PRP_STATUS[L.SGL_BAD_TYPE] = S.SGL_DESCRIPTOR_TYPE_INVALID;
PRP_STATUS[L.SGL_BAD_LENGTH] = S.DATA_SGL_LENGTH_INVALID;
PRP_STATUS[L.SGL_TOO_MANY] = S.INVALID_SGL_COUNT;
PRP_STATUS[L.SGL_GRANULARITY] = S.SGL_GRANULARITY_INVALID;
PRP_STATUS[L.SGL_BAD_SEGMENT] = S.INVALID_SGL_SEGMENT;

/** A segment address that stands for a Bit Bucket: read data the host discards. */
export const BIT_BUCKET = L.SEG_BIT_BUCKET;

export class HotPath {
  readonly ram: GuestRam;
  private readonly wasm: HotPathExports;
  private readonly state: number;
  private buffer: ArrayBuffer | undefined;
  private dv!: DataView;
  private u8!: Uint8Array;

  private constructor(ram: GuestRam, instance: WebAssembly.Instance, state: number) {
    this.ram = ram;
    this.wasm = instance.exports as unknown as HotPathExports;
    this.state = state;
  }

  static async create(ram: GuestRam, wasm?: HotPathWasm): Promise<HotPath> {
    if (ram.ramBase % 8 !== 0 || ram.ramSize <= 0 || ram.ramSize > 0xffff_f000) {
      throw new Error(`hot path: bad guest RAM window (base ${ram.ramBase}, size ${ram.ramSize})`);
    }
    const instance = await WebAssembly.instantiate(await hotPathModule(wasm), { env: { memory: ram.memory } });
    // Pages of our own at the end of the memory: outside guest RAM, unused by anyone else.
    const state = ram.memory.grow(L.STATE_SIZE / 65536) * 65536;
    const hp = new HotPath(ram, instance, state);
    hp.wasm.init(ram.ramBase, ram.ramSize, state);
    return hp;
  }

  // ---- Memory ----

  /** A DataView over the whole memory, re-taken after the memory grew. */
  private view(): DataView {
    // A grown memory detaches the old buffer (byteLength 0): cheaper to test than memory.buffer.
    if (this.buffer === undefined || this.buffer.byteLength === 0) {
      const b = this.ram.memory.buffer;
      this.buffer = b;
      this.dv = new DataView(b);
      this.u8 = new Uint8Array(b);
    }
    return this.dv;
  }

  /** The whole memory as bytes (guest RAM starts at ram.ramBase); valid until it next grows. */
  bytes(): Uint8Array {
    this.view();
    return this.u8;
  }

  private u32(off: number): number {
    return this.view().getUint32(this.state + off, true);
  }

  private setU32(off: number, v: number): void {
    this.view().setUint32(this.state + off, v >>> 0, true);
  }

  private u64(off: number): number {
    const dv = this.view();
    return dv.getUint32(this.state + off, true) + dv.getUint32(this.state + off + 4, true) * 2 ** 32;
  }

  // ---- Controller state ----

  /** Controller reset: forgets queues, doorbells and shadow pages; the counters keep counting. */
  reset(): void {
    this.wasm.reset();
  }

  /** CC.MPS as a page size in bytes (PRP entries and shadow pages are aligned to it). */
  get pageSize(): number {
    return this.u32(L.ST_PAGE_SIZE);
  }

  set pageSize(bytes: number) {
    this.setU32(L.ST_PAGE_SIZE, bytes);
  }

  /** INTMS bit 0: while set, the interrupt line stays low. */
  get interruptMasked(): boolean {
    return this.u32(L.ST_INT_MASKED) !== 0;
  }

  set interruptMasked(masked: boolean) {
    this.setU32(L.ST_INT_MASKED, masked ? 1 : 0);
  }

  /** Interrupt Coalescing: aggregation threshold (0's based entries) and time (100 us units); 0/0 = off. */
  setCoalescing(threshold: number, time: number): void {
    this.setU32(L.ST_COALESCE_THR, threshold);
    this.setU32(L.ST_COALESCE_TIME, time);
  }

  get coalescing(): { threshold: number; time: number } {
    return { threshold: this.u32(L.ST_COALESCE_THR), time: this.u32(L.ST_COALESCE_TIME) };
  }

  // ---- Queues ----

  /** Installs an SQ whose ring must lie wholly inside guest RAM; false if it does not. */
  createSq(qid: number, baseLo: number, baseHi: number, size: number, cqid: number): boolean {
    return this.wasm.sqCreate(qid, baseLo, baseHi, size, cqid) !== 0;
  }

  createCq(qid: number, baseLo: number, baseHi: number, size: number, interrupts: boolean): boolean {
    return this.wasm.cqCreate(qid, baseLo, baseHi, size, interrupts ? 1 : 0) !== 0;
  }

  deleteSq(qid: number): void {
    this.wasm.sqDelete(qid);
  }

  deleteCq(qid: number): void {
    this.wasm.cqDelete(qid);
  }

  sqExists(qid: number): boolean {
    return this.wasm.sqExists(qid) !== 0;
  }

  cqExists(qid: number): boolean {
    return this.wasm.cqExists(qid) !== 0;
  }

  /** True when some existing SQ completes into CQ `cqid`. */
  cqInUse(cqid: number): boolean {
    for (let q = 0; q < L.MAX_QUEUES; q++) if (this.wasm.sqExists(q) && this.wasm.sqCqid(q) === cqid) return true;
    return false;
  }

  /** True when any I/O queue (id 1 and up) exists. */
  hasIoQueues(): boolean {
    for (let q = 1; q < L.MAX_QUEUES; q++) if (this.wasm.sqExists(q) || this.wasm.cqExists(q)) return true;
    return false;
  }

  /** True when an I/O CQ (id 1 and up) exists that interrupts: an OS driver's, not a polling firmware's. */
  hasInterruptingIoCq(): boolean {
    for (let q = 1; q < L.MAX_QUEUES; q++) if (this.completionQueue(q)?.interrupts) return true;
    return false;
  }

  /** Highest SQ id ever created + 1: polls scan the ids below it. */
  get sqLimit(): number {
    return this.u32(L.ST_SQ_LIMIT);
  }

  /** Highest CQ id ever created + 1. */
  get cqLimit(): number {
    return this.u32(L.ST_CQ_LIMIT);
  }

  /** A CQ's ring and interrupt state (for checks from outside), or undefined when it does not exist. */
  completionQueue(qid: number): { base: number; size: number; tail: number; interrupts: boolean; signalled: boolean } | undefined {
    if (!this.cqExists(qid)) return undefined;
    const c = L.ST_CQ + qid * L.CQ_ENTRY;
    return {
      base: this.u64(c + L.CQ_BASE),
      size: this.u32(c + L.CQ_SIZE),
      tail: this.u32(c + L.CQ_TAIL),
      interrupts: this.u32(c + L.CQ_IEN) !== 0,
      signalled: this.u32(c + L.CQ_SIGNALLED) !== 0,
    };
  }

  // ---- Doorbells ----

  /** An MMIO write to doorbell `idx` (2 * qid, + 1 for a CQ head): stored, or refused and why. */
  writeDoorbell(idx: number, value: number): DoorbellWrite {
    switch (this.wasm.dbWrite(idx, value)) {
      case L.DB_SQ_TAIL: return "sq-tail";
      case L.DB_CQ_HEAD: return "cq-head";
      case L.DB_NO_QUEUE: return "no-queue";
      default: return "bad-value";
    }
  }

  /** Current value of doorbell `idx` (from the shadow page once one is configured). */
  doorbellValue(idx: number): number {
    return this.wasm.dbValue(idx) >>> 0;
  }

  /** Doorbell Buffer Config: shadow doorbell and EventIdx pages; false when either is unusable. */
  configureShadowDoorbells(shadowLo: number, shadowHi: number, eventIdxLo: number, eventIdxHi: number): boolean {
    return this.wasm.dbbufConfig(shadowLo, shadowHi, eventIdxLo, eventIdxHi) !== 0;
  }

  /** Guest addresses of the shadow doorbell and EventIdx pages, or undefined before Doorbell Buffer Config. */
  shadowPages(): { shadow: number; eventIdx: number } | undefined {
    if (this.u32(L.ST_DBBUF_ON) === 0) return undefined;
    return { shadow: this.u64(L.ST_SHADOW_ADDR), eventIdx: this.u64(L.ST_EVENTIDX_ADDR) };
  }

  /** The index of a doorbell a poll found holding an impossible value (then forgotten), or -1. */
  takeBadDoorbell(): number {
    const v = this.u32(L.ST_BAD_DB);
    if (v === 0) return -1;
    this.setU32(L.ST_BAD_DB, 0);
    return v - 1;
  }

  // ---- Commands ----

  /**
   * Takes the next entry of SQ `qid` into `into`; false when there is none (or its CQ has no
   * room, or a doorbell holds an impossible value: see takeBadDoorbell). `arm`: on an empty
   * queue, write its EventIdx (with a shadow page) and look once more.
   */
  fetch(qid: number, arm: boolean, into: Command): boolean {
    const r = this.wasm.sqFetch(qid, arm ? 1 : 0);
    if (r < L.FETCH_OK) return false;
    this.loadCommand(into, qid, r & 0xffff);
    return true;
  }

  /** Round-robin arbitration: the next entry of any SQ into `into`; false when none has one. */
  fetchNext(into: Command): boolean {
    const r = this.wasm.fetchNext(0);
    if (r === L.FETCH_NONE) return false;
    this.loadCommand(into, r & 0xffff, r >>> L.FETCH_NEXT_CQ_SHIFT);
    return true;
  }

  /** Copies the SQE just fetched out of the state region's slot (the next fetch reuses it). */
  private loadCommand(c: Command, sqid: number, cqid: number): void {
    const dv = this.view();
    const b = this.state + L.ST_SQE;
    c.sqid = sqid;
    c.cqid = cqid;
    const dw0 = dv.getUint32(b, true);
    c.opcode = dw0 & 0xff;
    c.flags = (dw0 >>> 8) & 0xff;
    c.cid = dw0 >>> 16;
    c.nsid = dv.getUint32(b + Q.SQE_NSID, true);
    c.mptrLo = dv.getUint32(b + Q.SQE_MPTR, true);
    c.mptrHi = dv.getUint32(b + Q.SQE_MPTR + 4, true);
    c.prp1Lo = dv.getUint32(b + Q.SQE_PRP1, true);
    c.prp1Hi = dv.getUint32(b + Q.SQE_PRP1 + 4, true);
    c.prp2Lo = dv.getUint32(b + Q.SQE_PRP2, true);
    c.prp2Hi = dv.getUint32(b + Q.SQE_PRP2 + 4, true);
    c.cdw10 = dv.getUint32(b + Q.SQE_CDW10, true);
    c.cdw11 = dv.getUint32(b + Q.SQE_CDW11, true);
    c.cdw12 = dv.getUint32(b + Q.SQE_CDW12, true);
    c.cdw13 = dv.getUint32(b + Q.SQE_CDW13, true);
    c.cdw14 = dv.getUint32(b + Q.SQE_CDW14, true);
    c.cdw15 = dv.getUint32(b + Q.SQE_CDW15, true);
    c.dw0 = 0;
    c.dw1 = 0;
  }

  /**
   * Posts `cmd`'s completion into the CQ slot reserved at its fetch; false when the CQ is gone.
   * `nowTicks`: the device clock in 100 us units (interrupt aggregation time).
   */
  post(cmd: Command, status: Status, nowTicks: number): boolean {
    return this.wasm.cqPost(cmd.cqid, cmd.sqid, cmd.cid, S.statusField(status), cmd.dw0, cmd.dw1, nowTicks) !== 0;
  }

  // ---- Data pointers ----

  /** Walks PRP1/PRP2 of `cmd` for `len` bytes into segments; `toHost` records them dirty at once. */
  mapPrps(cmd: Command, len: number, toHost: boolean): Status {
    return PRP_STATUS[this.wasm.prpMap(cmd.prp1Lo, cmd.prp1Hi, cmd.prp2Lo, cmd.prp2Hi, len, toHost ? 1 : 0)];
  }

  /**
   * Walks the SGL in `cmd`'s DPTR for `len` bytes into segments (a Bit Bucket is a segment at
   * BIT_BUCKET); `toHost`: data goes to the host (Bit Buckets allowed), segments recorded dirty.
   */
  mapSgl(cmd: Command, len: number, toHost: boolean): Status {
    return PRP_STATUS[this.wasm.sglMap(cmd.prp1Lo, cmd.prp1Hi, cmd.prp2Lo, cmd.prp2Hi >>> 24, len, toHost ? 1 : 0)];
  }

  /** Segments of the last successful mapPrps or mapSgl. */
  segmentCount(): number {
    return this.wasm.segmentCount();
  }

  /** Guest address of segment `i` of the last mapping. */
  segmentAddress(i: number): number {
    return this.u32(L.ST_SEG_LIST + i * 8);
  }

  segmentLength(i: number): number {
    return this.u32(L.ST_SEG_LIST + i * 8 + 4);
  }

  /** The first `n` segments as (address, length) pairs, copied out. */
  copySegments(n: number): Uint32Array {
    const start = this.state + L.ST_SEG_LIST;
    return new Uint32Array(this.bytes().slice(start, start + n * 8).buffer);
  }

  /** Records a guest range the TypeScript side stored into (data of Read commands). */
  markDirty(addr: number, len: number): void {
    this.wasm.markDirty(addr, len);
  }

  /** Hands every dirty guest range to `sink` and empties the list. */
  drainDirty(sink: (start: number, end: number) => void): void {
    const n = this.u32(L.ST_DIRTY_COUNT);
    if (n === 0) return;
    const dv = this.view();
    for (let i = 0; i < n; i++) {
      const e = this.state + L.ST_DIRTY + i * 8;
      sink(dv.getUint32(e, true), dv.getUint32(e + 4, true));
    }
    this.wasm.clearDirty();
  }

  // ---- Interrupts ----

  /** Recomputes every CQ's interrupt state; the level the INTx line must have. */
  irqLevel(nowTicks: number): boolean {
    return this.wasm.irqLevel(nowTicks) !== 0;
  }

  /** The tick (100 us units) at which an interrupt held back for aggregation time falls due, or Infinity. */
  nextDueTick(): number {
    return this.wasm.nextDue();
  }

  // ---- Counters and snapshots ----

  counters(): Record<HotCounter, number> {
    const out = {} as Record<HotCounter, number>;
    COUNTER_NAMES.forEach((n, i) => (out[n] = this.u64(L.ST_COUNTERS + i * 8)));
    return out;
  }

  /** The state region's bytes (for snapshots). */
  saveState(): Uint8Array {
    return this.bytes().slice(this.state, this.state + L.ST_END);
  }

  /** Checks a saved state region against this RAM window (checkSavedState). */
  checkState(bytes: unknown, limits: StateLimits): SavedQueues {
    return checkSavedState(bytes, this.ram.ramSize, limits);
  }

  /**
   * Takes a state region checked with checkState. What the rest of the controller decides
   * (page size, interrupt mask, coalescing) is set by the caller; scratch fields start empty.
   */
  restoreState(bytes: Uint8Array): void {
    if (bytes.length !== L.ST_END) throw new Error("hot path: snapshot of the wrong size");
    this.bytes().set(bytes, this.state);
    this.setU32(L.ST_DIRTY_COUNT, 0);
    this.setU32(L.ST_BAD_DB, 0);
    this.wasm.attach(this.ram.ramBase, this.ram.ramSize, this.state);
  }
}
