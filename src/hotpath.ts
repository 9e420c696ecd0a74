// Typed wrapper around the AssemblyScript hot path (asm/). It owns the device state region: one
// wasm page grown onto the memory it is given (in v86, the emulator's own memory; guest RAM is
// the window [ramBase, ramBase + ramSize) of it), and reads results the module leaves there.
// Views over memory.buffer are re-taken whenever the buffer changed: the memory grows at run time.

import * as L from "../asm/layout.ts";
import { hotPathModule, type HotPathWasm } from "./hotpath-module.ts";

export interface GuestRam {
  memory: WebAssembly.Memory;
  ramBase: number;
  ramSize: number;
}

interface Exports {
  init(ramBase: number, ramSize: number, state: number): void;
  reset(): void;
  attach(ramBase: number, ramSize: number, state: number): void;
  markDirty(addr: number, len: number): void;
  clearDirty(): void;
  dbValue(idx: number): number;
  dbStoreMmio(idx: number, value: number): void;
  dbbufConfig(sLo: number, sHi: number, eLo: number, eHi: number): number;
  sqCreate(qid: number, lo: number, hi: number, size: number, cqid: number): number;
  cqCreate(qid: number, lo: number, hi: number, size: number, ien: number): number;
  sqDelete(qid: number): void;
  cqDelete(qid: number): void;
  sqExists(qid: number): number;
  cqExists(qid: number): number;
  /** > 0: fetched (0x10000 | cqid); 0 empty; < 0 CQ full, bad doorbell or no such queue. */
  sqFetch(qid: number, arm: number): number;
  /** qid | cqid << 16 of the entry fetched, or -1. */
  fetchNext(arm: number): number;
  sqCqid(qid: number): number;
  sqSize(qid: number): number;
  cqSize(qid: number): number;
  cqPost(cqid: number, sqid: number, cid: number, status: number, dw0: number, dw1: number, now: number): number;
  prpMap(p1Lo: number, p1Hi: number, p2Lo: number, p2Hi: number, len: number, toHost: number): number;
  irqLevel(now: number): number;
}

export const COUNTER_NAMES = [
  "mmioDoorbellWrites", "shadowDoorbellReads", "eventIdxWrites", "sqesFetched",
  "cqesPosted", "polls", "emptyPolls",
] as const;
export type HotCounter = (typeof COUNTER_NAMES)[number];

export class HotPath {
  readonly x: Exports;
  readonly state: number;
  private buffer: ArrayBuffer | undefined;
  private dv!: DataView;
  private u8!: Uint8Array;

  private constructor(readonly ram: GuestRam, instance: WebAssembly.Instance, state: number) {
    this.x = instance.exports as unknown as Exports;
    this.state = state;
  }

  static async create(ram: GuestRam, wasm?: HotPathWasm): Promise<HotPath> {
    if (ram.ramBase % 8 !== 0 || ram.ramSize <= 0 || ram.ramSize > 0xffff_f000) {
      throw new Error(`hot path: bad guest RAM window (base ${ram.ramBase}, size ${ram.ramSize})`);
    }
    const instance = await WebAssembly.instantiate(await hotPathModule(wasm), { env: { memory: ram.memory } });
    // A page of our own at the end of the memory: outside guest RAM, unused by anyone else.
    const state = ram.memory.grow(1) * 65536;
    const hp = new HotPath(ram, instance, state);
    hp.x.init(ram.ramBase, ram.ramSize, state);
    return hp;
  }

  /** A DataView over the whole memory, re-taken after the memory grew. */
  view(): DataView {
    // A grown memory detaches the old buffer (byteLength 0): cheaper to test than memory.buffer.
    if (this.buffer === undefined || this.buffer.byteLength === 0) {
      const b = this.ram.memory.buffer;
      this.buffer = b;
      this.dv = new DataView(b);
      this.u8 = new Uint8Array(b);
    }
    return this.dv;
  }

  bytes(): Uint8Array {
    this.view();
    return this.u8;
  }

  u32(off: number): number {
    return this.view().getUint32(this.state + off, true);
  }

  setU32(off: number, v: number): void {
    this.view().setUint32(this.state + off, v >>> 0, true);
  }

  u64(off: number): number {
    const dv = this.view();
    return dv.getUint32(this.state + off, true) + dv.getUint32(this.state + off + 4, true) * 2 ** 32;
  }

  counter(i: number): number {
    return this.u64(L.ST_COUNTERS + i * 8);
  }

  counters(): Record<HotCounter, number> {
    const out = {} as Record<HotCounter, number>;
    COUNTER_NAMES.forEach((n, i) => (out[n] = this.counter(i)));
    return out;
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
    this.x.clearDirty();
  }

  /** The state region's bytes (for snapshots). */
  saveState(): Uint8Array {
    return this.bytes().slice(this.state, this.state + L.ST_END);
  }

  restoreState(bytes: Uint8Array): void {
    if (bytes.length !== L.ST_END) throw new Error("hot path: snapshot of the wrong size");
    this.bytes().set(bytes, this.state);
    this.x.attach(this.ram.ramBase, this.ram.ramSize, this.state);
  }
}
