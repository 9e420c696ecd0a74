// The overlay of a copy-on-write disk (cow-disk.ts): every written block, in memory up to a
// budget, read over the base.
//
// The overlay is sparse and bounded only by what is written: blocks live in small pages (32
// blocks each) allocated on first write, and zeroed or discarded ranges are kept as byte
// intervals, so discarding a whole multi-gigabyte disk (mkfs does) costs a few bytes rather
// than a page per block. A page written after a zeroing wins over it; a zeroing after a write
// clears that page's blocks so the interval answers for them.
//
// Memory is bounded by a budget: past it, the least recently written pages move to a spill store
// (spill.ts: a file in the Origin Private File System) and come back through async reads. A page
// keeps its bytes until the store confirmed their write, so a failed spill loses nothing (the
// overlay then stops spilling). Its slot in the store is page-sized and blocks keep their place
// in it, so spilling a page again writes only the blocks written since.

import { BackendError } from "./block-backend.ts";
import { consoleLog, type Log } from "./log.ts";
import { RangeSet } from "./range-set.ts";
import { openSpillStore, type SpillStore } from "./spill.ts";

const BLOCKS_PER_PAGE = 32;
const MiB = 1024 * 1024;
/** Spill writes in flight at most (each holds a copy of its bytes until confirmed). */
const MAX_SPILLING = 8 * MiB;
/**
 * Bytes per spill write of whole pages. The buffers come back from the worker and are reused, as
 * are the bytes of spilled pages: a steady stream of fresh buffers would leave garbage that both
 * sides' collectors reclaim only in large steps (about 100 MiB more memory than the budget).
 */
const RUN_BYTES = MiB;

/**
 * A copy of an overlay's contents: its written pages (index, block mask, bytes, packed in index
 * order) and its zero ranges. Plain typed arrays, so it can be structured-cloned or kept.
 */
export interface OverlaySnapshot {
  readonly byteLength: number;
  readonly blockSize: number;
  /** Page numbers, ascending. */
  readonly pageIndex: Float64Array;
  /** Written-block mask of each page. */
  readonly pageMask: Uint32Array;
  /** The pages' bytes, pageSize each, in pageIndex order. */
  readonly pageData: Uint8Array;
  /** [start, end) byte ranges that read as zeros, flattened. */
  readonly zeros: Float64Array;
}

interface Page {
  /** The resident blocks' bytes (undefined once every block is spilled). */
  data: Uint8Array | undefined;
  /** Bit b set: block b of the page holds written data in `data`. */
  mask: number;
  /** Bit b set: block b's written data is in the spill store at `slot` (never also in `mask`). */
  spilled: number;
  /** Page-sized slot in the spill store, or -1. */
  slot: number;
  /** Counts spill writes posted for the slot: a slot read posted before a later one is stale. */
  gen: number;
  /** Counts changes of the page (writes, zeroings): a spill confirmed after one keeps the bytes. */
  version: number;
  /** A spill write of this page is in flight. */
  spilling: boolean;
}

export interface OverlayOptions {
  /** Bytes of written pages held in memory before the least recently written spill (default 128 MiB; Infinity: never). */
  memoryBudget?: number;
  /** Opens the spill store (default: a file in the Origin Private File System, where there is one). */
  spill?: () => Promise<SpillStore>;
  /** Where a budget that cannot be kept is reported (default: the console). */
  log?: Log;
}

/** Bits lo..hi-1 of a 32-bit mask. */
const bits = (lo: number, hi: number) => (hi - lo === 32 ? 0xffffffff : ((1 << (hi - lo)) - 1) << lo) >>> 0;

/** Calls fn(b, e) for each run [b, e) of set bits of `mask` within lo..hi-1. */
function forEachRun(mask: number, lo: number, hi: number, fn: (b: number, e: number) => void): void {
  for (let b = lo; b < hi; ) {
    if (((mask >>> b) & 1) === 0) {
      b++;
      continue;
    }
    let e = b + 1;
    while (e < hi && ((mask >>> e) & 1) === 1) e++;
    fn(b, e);
    b = e;
  }
}

export class Overlay {
  readonly pageSize: number;
  readonly memoryBudget: number;
  private readonly pages = new Map<number, Page>();
  /** Pages holding bytes in memory, least recently written first. */
  private readonly resident = new Map<number, Page>();
  /** Sorted, disjoint, non-adjacent [start, end) byte ranges that read as zeros. */
  private readonly zeros = new RangeSet();
  private store: SpillStore | undefined;
  /** "off": no spilling (no store here, or it failed); "opening": the store is being opened. */
  private spillState: "idle" | "opening" | "open" | "off" = "idle";
  private readonly openStore: (() => Promise<SpillStore>) | undefined;
  private readonly log: Log;
  private freeSlots: number[] = [];
  private nextSlot = 0;
  private spillingBytes = 0;
  /** Bumped by clear() and restore(): confirmations of spills posted before are stale. */
  private epoch = 0;
  /** Reusable spill-write buffers (RUN_BYTES each) and page buffers. */
  private readonly runBuffers: ArrayBuffer[] = [];
  private readonly pageBuffers: Uint8Array[] = [];
  /** Page-sized buffers spilled pages are read back into, reused like the spill writes' (garbage otherwise). */
  private readonly readBuffers: ArrayBuffer[] = [];

  constructor(readonly byteLength: number, readonly blockSize = 512, o: OverlayOptions = {}) {
    if (!Number.isSafeInteger(blockSize) || blockSize < 1) throw new Error(`overlay: bad block size ${blockSize}`);
    const budget = o.memoryBudget ?? 128 * MiB;
    if (typeof budget !== "number" || !(budget > 0)) throw new Error(`overlay: memoryBudget must be a positive number of bytes (or Infinity), not ${String(budget)}`);
    this.pageSize = blockSize * BLOCKS_PER_PAGE;
    this.memoryBudget = budget;
    this.openStore = o.spill ?? openSpillStore();
    this.log = o.log ?? consoleLog;
    if (budget === Infinity) this.spillState = "off";
  }

  /** Bytes of page memory held (what the overlay costs in RAM). */
  get residentBytes(): number {
    return this.resident.size * this.pageSize;
  }

  /** Bytes of slots in the spill store in use. */
  get spilledBytes(): number {
    return (this.nextSlot - this.freeSlots.length) * this.pageSize;
  }

  /** True when nothing was ever written or zeroed. */
  get isEmpty(): boolean {
    return this.pages.size === 0 && this.zeros.size === 0;
  }

  /** Forgets every write. */
  clear(): void {
    this.pages.clear();
    this.resident.clear();
    this.zeros.clear();
    this.freeSlots = [];
    this.nextSlot = 0;
    this.epoch++;
  }

  /** Releases the spill store (its file is removed). The overlay is empty afterwards. */
  async close(): Promise<void> {
    this.clear();
    const store = this.store;
    this.store = undefined;
    this.spillState = "off";
    await store?.close();
  }

  /** A copy of everything written or zeroed so far (refused once pages were spilled: they are not at hand). */
  save(): OverlaySnapshot {
    if (this.spilledBytes > 0 || this.spillingBytes > 0) {
      throw new Error(`overlay: ${Math.ceil(this.spilledBytes / MiB)} MiB of the written data were spilled out of memory (memoryBudget ${Math.round(this.memoryBudget / MiB)} MiB): a snapshot of this disk cannot be taken; raise memoryBudget to snapshot disks written this much`);
    }
    const index = [...this.pages.keys()].sort((a, b) => a - b);
    const pageMask = new Uint32Array(index.length);
    const pageData = new Uint8Array(index.length * this.pageSize);
    index.forEach((p, i) => {
      const page = this.pages.get(p)!;
      pageMask[i] = page.mask;
      pageData.set(page.data!, i * this.pageSize);
    });
    return {
      byteLength: this.byteLength,
      blockSize: this.blockSize,
      pageIndex: Float64Array.from(index),
      pageMask,
      pageData,
      zeros: Float64Array.from(this.zeros.save()),
    };
  }

  /** Replaces the overlay's contents by a copy of `s` (taken from an overlay of the same size and block size). */
  restore(s: OverlaySnapshot): void {
    if (s.byteLength !== this.byteLength || s.blockSize !== this.blockSize) {
      throw new Error(`overlay: snapshot of a ${s.byteLength}-byte disk with ${s.blockSize}-byte blocks, this one has ${this.byteLength} bytes and ${this.blockSize}-byte blocks`);
    }
    const n = s.pageIndex.length;
    if (s.pageMask.length !== n || s.pageData.length !== n * this.pageSize || s.zeros.length % 2 !== 0) {
      throw new Error("overlay: malformed snapshot");
    }
    const maxPage = Math.ceil(this.byteLength / this.pageSize);
    for (let i = 0; i < n; i++) {
      const p = s.pageIndex[i];
      if (!Number.isInteger(p) || p < 0 || p >= maxPage || (i > 0 && p <= s.pageIndex[i - 1])) throw new Error("overlay: malformed snapshot");
    }
    for (let i = 0; i < s.zeros.length; i++) {
      const z = s.zeros[i];
      if (!Number.isSafeInteger(z) || z < 0 || z > this.byteLength || (i > 0 && z <= s.zeros[i - 1])) throw new Error("overlay: malformed snapshot");
    }
    this.clear();
    for (let i = 0; i < n; i++) {
      if (s.pageMask[i] === 0) continue;
      const page = this.newPage(s.pageIndex[i]);
      page.data = s.pageData.slice(i * this.pageSize, (i + 1) * this.pageSize);
      page.mask = s.pageMask[i];
      this.resident.set(s.pageIndex[i], page);
    }
    this.zeros.restore(Array.from(s.zeros));
    this.trim();
  }

  private newPage(p: number): Page {
    const page: Page = { data: undefined, mask: 0, spilled: 0, slot: -1, gen: 0, version: 0, spilling: false };
    this.pages.set(p, page);
    return page;
  }

  private check(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.byteLength) {
      throw new RangeError(`overlay: range ${offset}+${length} outside ${this.byteLength} bytes`);
    }
    if (offset % this.blockSize !== 0 || length % this.blockSize !== 0) {
      throw new RangeError(`overlay: range ${offset}+${length} is not aligned to ${this.blockSize}-byte blocks`);
    }
  }

  /** Walks [offset, offset+length) page by page: fn(pageIndex, firstBlock, endBlock, doneBytes). */
  private walk(offset: number, length: number, fn: (p: number, lo: number, hi: number, done: number) => void): void {
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const p = Math.floor(pos / this.pageSize);
      const lo = (pos - p * this.pageSize) / this.blockSize;
      const hi = Math.min(BLOCKS_PER_PAGE, lo + (length - done) / this.blockSize);
      fn(p, lo, hi, done);
      done += (hi - lo) * this.blockSize;
    }
  }

  /** Copies `src` into the overlay (now: `src` may be a view of guest RAM). */
  write(offset: number, src: Uint8Array): void {
    this.check(offset, src.length);
    this.walk(offset, src.length, (p, lo, hi, done) => {
      const page = this.pages.get(p) ?? this.newPage(p);
      // A reused buffer holds old bytes, but only the blocks in mask are ever read.
      page.data ??= this.pageBuffers.pop() ?? new Uint8Array(this.pageSize);
      page.data.set(src.subarray(done, done + (hi - lo) * this.blockSize), lo * this.blockSize);
      const m = bits(lo, hi);
      page.mask = (page.mask | m) >>> 0;
      page.spilled = (page.spilled & ~m) >>> 0;
      page.version++;
      this.freeSlotIfUnused(page);
      // Most recently written last.
      this.resident.delete(p);
      this.resident.set(p, page);
    });
    this.trim();
  }

  /** Makes a range read as zeros. */
  zero(offset: number, length: number): void {
    this.check(offset, length);
    if (length === 0) return;
    this.walk(offset, length, (p, lo, hi) => {
      const page = this.pages.get(p);
      if (!page) return;
      page.mask = (page.mask & ~bits(lo, hi)) >>> 0;
      page.spilled = (page.spilled & ~bits(lo, hi)) >>> 0;
      page.version++;
      this.freeSlotIfUnused(page);
      if (page.mask === 0) {
        page.data = undefined;
        this.resident.delete(p);
      }
      if (page.mask === 0 && page.spilled === 0 && !page.spilling) this.pages.delete(p);
    });
    this.zeros.add(offset, length);
  }

  private freeSlotIfUnused(page: Page): void {
    if (page.slot >= 0 && page.spilled === 0 && !page.spilling) {
      this.freeSlots.push(page.slot);
      page.slot = -1;
    }
  }

  // ---- spilling ----

  /** Spills least recently written pages while memory is over budget. */
  private trim(): void {
    // The store is opened at half the budget, so that it is ready when the budget is reached.
    const opensEarly = this.spillState === "idle" && this.openStore;
    if (this.spillState === "off" || this.residentBytes <= (opensEarly ? this.memoryBudget / 2 : this.memoryBudget)) return;
    if (this.spillState === "idle") {
      if (!this.openStore) {
        this.spillState = "off";
        this.log("warn", `v86-nvme overlay: no Origin Private File System here (Node?): the memoryBudget of ${Math.round(this.memoryBudget / MiB)} MiB is not enforced, every write stays in memory`);
        return;
      }
      this.spillState = "opening";
      this.openStore().then(
        (store) => {
          if (this.spillState !== "opening") return void store.close();
          this.store = store;
          this.spillState = "open";
          this.trim();
        },
        (e) => this.stopSpilling(`cannot open the spill store: ${e instanceof Error ? e.message : String(e)}`),
      );
      return;
    }
    if (this.spillState !== "open") return;
    // Spill down to 7/8 of the budget, so that spills go in batches rather than a page per write.
    let over = this.residentBytes - (this.memoryBudget - Math.min(this.memoryBudget / 8, 8 * MiB));
    const batch: [number, Page][] = [];
    for (const entry of this.resident) {
      if (over <= 0 || this.spillingBytes >= MAX_SPILLING) break;
      if (entry[1].spilling) continue;
      batch.push(entry);
      this.spillingBytes += this.pageSize;
      over -= this.pageSize;
    }
    this.spillBatch(batch);
  }

  /**
   * Posts the pages' resident blocks to their slots. Pages without spilled blocks are written
   * whole, pages in consecutive slots in one write; a slot holding spilled blocks gets only the
   * resident runs (blocks keep their place in the slot).
   */
  private spillBatch(batch: [number, Page][]): void {
    const store = this.store!;
    const bs = this.blockSize;
    const whole: [number, Page][] = [];
    for (const [p, page] of batch) {
      if (page.spilled === 0) {
        if (page.slot < 0) page.slot = this.freeSlots.pop() ?? this.nextSlot++;
        whole.push([p, page]);
        continue;
      }
      const done = this.startSpill(p, page);
      const writes: Promise<unknown>[] = [];
      forEachRun(page.mask, 0, BLOCKS_PER_PAGE, (b, e) => {
        writes.push(store.write(page.slot * this.pageSize + b * bs, page.data!.slice(b * bs, e * bs).buffer, (e - b) * bs));
      });
      Promise.all(writes).then(() => done(true), (e) => done(false, e)).then(() => this.trim());
    }
    whole.sort((x, y) => x[1].slot - y[1].slot);
    const perRun = Math.max(1, Math.floor(RUN_BYTES / this.pageSize));
    for (let i = 0; i < whole.length; ) {
      let j = i + 1;
      while (j < whole.length && j - i < perRun && whole[j][1].slot === whole[j - 1][1].slot + 1) j++;
      const run = whole.slice(i, j);
      const size = Math.max(RUN_BYTES, this.pageSize);
      const buffer = this.runBuffers.pop() ?? new ArrayBuffer(size);
      const bytes = new Uint8Array(buffer);
      run.forEach(([, page], k) => bytes.set(page.data!, k * this.pageSize));
      const dones = run.map(([p, page]) => this.startSpill(p, page));
      store.write(run[0][1].slot * this.pageSize, buffer, run.length * this.pageSize).then(
        (back) => {
          if (back?.byteLength === size && this.runBuffers.length < MAX_SPILLING / size) this.runBuffers.push(back);
          dones.forEach((d) => d(true));
        },
        (e) => dones.forEach((d) => d(false, e)),
      ).then(() => this.trim()); // once per batch's run, so the next batch is as large
      i = j;
    }
  }

  /** Marks a page as spilling; the returned function settles it once the store answered (then trim again). */
  private startSpill(p: number, page: Page): (ok: boolean, e?: unknown) => void {
    const mask = page.mask;
    const version = page.version;
    const epoch = this.epoch;
    page.spilling = true;
    page.gen++;
    return (ok, e) => {
      this.spillingBytes -= this.pageSize;
      const live = epoch === this.epoch && this.pages.get(p) === page;
      if (live) {
        page.spilling = false;
        if (ok && page.version === version) {
          page.spilled = (page.spilled | mask) >>> 0;
          page.mask = 0;
          if (this.pageBuffers.length < MAX_SPILLING / this.pageSize) this.pageBuffers.push(page.data!);
          page.data = undefined;
          this.resident.delete(p);
        }
        this.freeSlotIfUnused(page);
        if (page.mask === 0 && page.spilled === 0) this.pages.delete(p);
      }
      if (!ok) this.stopSpilling(`writing to the spill store failed: ${e instanceof Error ? e.message : String(e)}`);
    };
  }

  private stopSpilling(why: string): void {
    if (this.spillState === "off") return;
    this.spillState = "off";
    this.log("warn", `v86-nvme overlay: ${why}; from now on every write stays in memory (nothing written was lost)`);
  }

  /** Written blocks of page p, in memory or spilled. */
  private written(p: number): number {
    const page = this.pages.get(p);
    return page ? (page.mask | page.spilled) >>> 0 : 0;
  }

  /** True when every block of the range was written or zeroed: the base is not needed. */
  covers(offset: number, length: number): boolean {
    this.check(offset, length);
    if (this.zeros.covers(offset, length)) return true;
    let all = true;
    this.walk(offset, length, (p, lo, hi) => {
      if (!all) return;
      const missing = bits(lo, hi) & ~this.written(p);
      if (missing === 0) return;
      for (let b = lo; b < hi; b++) {
        if ((missing >>> b) & 1) {
          const s = p * this.pageSize + b * this.blockSize;
          if (!this.zeros.covers(s, this.blockSize)) {
            all = false;
            return;
          }
        }
      }
    });
    return all;
  }

  /** True when some block of the range was written or zeroed. */
  touches(offset: number, length: number): boolean {
    this.check(offset, length);
    if (this.zeros.intersects(offset, length)) return true;
    let any = false;
    this.walk(offset, length, (p, lo, hi) => {
      if (!any && (this.written(p) & bits(lo, hi)) !== 0) any = true;
    });
    return any;
  }

  /** True when no block of the range is spilled: apply() can lay the overlay over it now. */
  inMemory(offset: number, length: number): boolean {
    if (this.spilledBytes === 0) return true;
    let all = true;
    this.walk(offset, length, (p, lo, hi) => {
      if (all && ((this.pages.get(p)?.spilled ?? 0) & bits(lo, hi)) !== 0) all = false;
    });
    return all;
  }

  /**
   * Lays the overlay's blocks over `dst`, which holds the base's bytes from `offset` (or anything,
   * where covered). Only for ranges inMemory(); applyAll() takes any range.
   */
  apply(offset: number, dst: Uint8Array): void {
    this.lay(offset, dst, undefined);
  }

  /** apply(), with the bytes of spilled pages read back. */
  private lay(offset: number, dst: Uint8Array, spilled: Map<Page, Uint8Array> | undefined): void {
    this.check(offset, dst.length);
    const end = offset + dst.length;
    this.zeros.forEachOverlap(offset, dst.length, (s, e) => dst.fill(0, Math.max(s, offset) - offset, Math.min(e, end) - offset));
    if (this.pages.size === 0) return;
    this.walk(offset, dst.length, (p, lo, hi, done) => {
      const page = this.pages.get(p);
      if (!page) return;
      if (page.spilled & bits(lo, hi)) {
        const slot = spilled?.get(page);
        if (!slot) throw new Error("overlay: apply() over spilled blocks (use applyAll)");
        this.copyRuns(page.spilled & bits(lo, hi), lo, hi, slot, dst, done);
      }
      if (page.data) this.copyRuns(page.mask & bits(lo, hi), lo, hi, page.data, dst, done);
    });
  }

  /** Copies runs of the blocks set in `m` (within lo..hi) from a page's bytes to dst. */
  private copyRuns(m: number, lo: number, hi: number, from: Uint8Array, dst: Uint8Array, done: number): void {
    if (m === 0) return;
    forEachRun(m, lo, hi, (b, e) => dst.set(from.subarray(b * this.blockSize, e * this.blockSize), done + (b - lo) * this.blockSize));
  }

  /** apply() for any range: spilled pages are read back first (again, if spilled anew meanwhile). */
  async applyAll(offset: number, dst: Uint8Array): Promise<void> {
    for (;;) {
      const wanted: { page: Page; gen: number; slot: number }[] = [];
      if (this.spilledBytes > 0) {
        this.walk(offset, dst.length, (p, lo, hi) => {
          const page = this.pages.get(p);
          if (page && page.spilled & bits(lo, hi)) wanted.push({ page, gen: page.gen, slot: page.slot });
        });
      }
      if (wanted.length === 0) return this.apply(offset, dst);
      const store = this.store;
      if (!store) throw new BackendError("overlay: spilled blocks without a spill store", "read");
      let got: Uint8Array[];
      try {
        got = await Promise.all(wanted.map((w) => store.read(w.slot * this.pageSize, this.pageSize, this.readBuffers.pop())));
      } catch (e) {
        throw new BackendError(`overlay: reading spilled blocks back failed: ${e instanceof Error ? e.message : String(e)}`, "read");
      }
      // Current if no spill of the range's pages was posted after the reads (a rewrite moves blocks to memory).
      const read = new Map(wanted.map((w, i) => [w.page, { ...w, bytes: got[i] }]));
      let current = true;
      this.walk(offset, dst.length, (p, lo, hi) => {
        const page = this.pages.get(p);
        if (!page || (page.spilled & bits(lo, hi)) === 0) return;
        const r = read.get(page);
        if (!r || r.gen !== page.gen || r.slot !== page.slot) current = false;
      });
      if (current) this.lay(offset, dst, new Map([...read].map(([page, r]) => [page, r.bytes])));
      // lay() copied what it needed: the buffers go back to the pool.
      for (const g of got) if (g.buffer.byteLength === this.pageSize && this.readBuffers.length < MAX_SPILLING / this.pageSize) this.readBuffers.push(g.buffer as ArrayBuffer);
      if (current) return;
    }
  }
}
