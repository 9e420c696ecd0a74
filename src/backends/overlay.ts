// The overlay of a copy-on-write disk (cow-disk.ts): every written block, in memory up to a
// budget, read over the base. Its pages and zeroed ranges are an OverlayMap (overlay-map.ts);
// past the budget a SpillPager (spill-pager.ts) moves the least recently written pages to a spill
// store and reads them back. Snapshots copy the map while it is all in memory.

import { consoleLog, type Log } from "./log.ts";
import { OverlayMap } from "./overlay-map.ts";
import { MiB, SpillPager } from "./spill-pager.ts";
import { openSpillStore, type SpillStore } from "./spill.ts";

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

export interface OverlayOptions {
  /** Bytes of written pages held in memory before the least recently written spill (default 128 MiB; Infinity: never). */
  memoryBudget?: number;
  /** Opens the spill store (default: a file in the Origin Private File System, where there is one). */
  spill?: () => Promise<SpillStore>;
  /** Where a budget that cannot be kept is reported (default: the console). */
  log?: Log;
}

export class Overlay {
  readonly pageSize: number;
  readonly memoryBudget: number;
  private readonly map: OverlayMap;
  private readonly pager: SpillPager;

  constructor(readonly byteLength: number, readonly blockSize = 512, o: OverlayOptions = {}) {
    if (!Number.isSafeInteger(blockSize) || blockSize < 1) throw new Error(`overlay: bad block size ${blockSize}`);
    const budget = o.memoryBudget ?? 128 * MiB;
    if (typeof budget !== "number" || !(budget > 0)) throw new Error(`overlay: memoryBudget must be a positive number of bytes (or Infinity), not ${String(budget)}`);
    this.map = new OverlayMap(byteLength, blockSize, {
      buffer: () => this.pager.buffer(),
      changed: (page) => this.pager.freeSlotIfUnused(page),
    });
    this.pageSize = this.map.pageSize;
    this.memoryBudget = budget;
    this.pager = new SpillPager(this.map, budget, o.spill ?? openSpillStore(), o.log ?? consoleLog);
  }

  /** Bytes of page memory held (what the overlay costs in RAM). */
  get residentBytes(): number {
    return this.map.residentBytes;
  }

  /** Bytes of slots in the spill store in use. */
  get spilledBytes(): number {
    return this.pager.spilledBytes;
  }

  /** True when nothing was ever written or zeroed. */
  get isEmpty(): boolean {
    return this.map.isEmpty;
  }

  /** Forgets every write. */
  clear(): void {
    this.map.clear();
    this.pager.reset();
  }

  /** Releases the spill store (its file is removed). The overlay is empty afterwards. */
  async close(): Promise<void> {
    this.clear();
    await this.pager.close();
  }

  /** A copy of everything written or zeroed so far (refused once pages were spilled: they are not at hand). */
  save(): OverlaySnapshot {
    if (this.spilledBytes > 0 || this.pager.inFlightBytes > 0) {
      throw new Error(`overlay: ${Math.ceil(this.spilledBytes / MiB)} MiB of the written data were spilled out of memory (memoryBudget ${Math.round(this.memoryBudget / MiB)} MiB): a snapshot of this disk cannot be taken; raise memoryBudget to snapshot disks written this much`);
    }
    const pages = this.map.pages;
    const index = [...pages.keys()].sort((a, b) => a - b);
    const pageMask = new Uint32Array(index.length);
    const pageData = new Uint8Array(index.length * this.pageSize);
    index.forEach((p, i) => {
      const page = pages.get(p)!;
      pageMask[i] = page.mask;
      pageData.set(page.data!, i * this.pageSize);
    });
    return {
      byteLength: this.byteLength,
      blockSize: this.blockSize,
      pageIndex: Float64Array.from(index),
      pageMask,
      pageData,
      zeros: Float64Array.from(this.map.zeros.save()),
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
      const page = this.map.newPage(s.pageIndex[i]);
      page.data = s.pageData.slice(i * this.pageSize, (i + 1) * this.pageSize);
      page.mask = s.pageMask[i];
      this.map.resident.set(s.pageIndex[i], page);
    }
    this.map.zeros.restore(Array.from(s.zeros));
    this.pager.trim();
  }

  /** Copies `src` into the overlay (now: `src` may be a view of guest RAM). */
  write(offset: number, src: Uint8Array): void {
    this.map.write(offset, src);
    this.pager.trim();
  }

  /** Makes a range read as zeros. */
  zero(offset: number, length: number): void {
    this.map.zero(offset, length);
  }

  /** True when every block of the range was written or zeroed: the base is not needed. */
  covers(offset: number, length: number): boolean {
    return this.map.covers(offset, length);
  }

  /** True when some block of the range was written or zeroed. */
  touches(offset: number, length: number): boolean {
    return this.map.touches(offset, length);
  }

  /** True when no block of the range is spilled: apply() can lay the overlay over it now. */
  inMemory(offset: number, length: number): boolean {
    return this.spilledBytes === 0 || !this.map.spilledIn(offset, length);
  }

  /**
   * Lays the overlay's blocks over `dst`, which holds the base's bytes from `offset` (or anything,
   * where covered). Only for ranges inMemory(); applyAll() takes any range.
   */
  apply(offset: number, dst: Uint8Array): void {
    this.map.lay(offset, dst, undefined);
  }

  /** apply() for any range: spilled pages are read back first (again, if spilled anew meanwhile). */
  applyAll(offset: number, dst: Uint8Array): Promise<void> {
    return this.pager.applyAll(offset, dst);
  }
}
