// What an overlay (overlay.ts) holds: written blocks in small pages (32 blocks each) allocated on
// first write, and zeroed or discarded ranges kept as byte intervals, so discarding a whole
// multi-gigabyte disk (mkfs does) costs a few bytes rather than a page per block. A page written
// after a zeroing wins over it; a zeroing after a write clears that page's blocks so the interval
// answers for them. Pages whose blocks were moved out of memory (spill-pager.ts) say which.

import { RangeSet } from "./range-set.ts";

export const BLOCKS_PER_PAGE = 32;

export interface Page {
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

export interface OverlayMapHooks {
  /** A page-sized buffer for a page's bytes (a reused one may hold old bytes). */
  buffer(): Uint8Array;
  /** A page's blocks were written or zeroed. */
  changed(page: Page): void;
}

/** Bits lo..hi-1 of a 32-bit mask. */
export const bits = (lo: number, hi: number) => (hi - lo === 32 ? 0xffffffff : ((1 << (hi - lo)) - 1) << lo) >>> 0;

/** Calls fn(b, e) for each run [b, e) of set bits of `mask` within lo..hi-1. */
export function forEachRun(mask: number, lo: number, hi: number, fn: (b: number, e: number) => void): void {
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

export class OverlayMap {
  readonly pageSize: number;
  /** Every page with written blocks (in memory or spilled), or a spill of it in flight. */
  readonly pages = new Map<number, Page>();
  /** Pages holding bytes in memory, least recently written first. */
  readonly resident = new Map<number, Page>();
  /** Sorted, disjoint, non-adjacent [start, end) byte ranges that read as zeros. */
  readonly zeros = new RangeSet();

  constructor(
    readonly byteLength: number,
    readonly blockSize: number,
    private readonly hooks: OverlayMapHooks,
  ) {
    this.pageSize = blockSize * BLOCKS_PER_PAGE;
  }

  /** Bytes of page memory held. */
  get residentBytes(): number {
    return this.resident.size * this.pageSize;
  }

  /** True when nothing was ever written or zeroed. */
  get isEmpty(): boolean {
    return this.pages.size === 0 && this.zeros.size === 0;
  }

  /** Forgets every page and zeroed range. */
  clear(): void {
    this.pages.clear();
    this.resident.clear();
    this.zeros.clear();
  }

  newPage(p: number): Page {
    const page: Page = { data: undefined, mask: 0, spilled: 0, slot: -1, gen: 0, version: 0, spilling: false };
    this.pages.set(p, page);
    return page;
  }

  check(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.byteLength) {
      throw new RangeError(`overlay: range ${offset}+${length} outside ${this.byteLength} bytes`);
    }
    if (offset % this.blockSize !== 0 || length % this.blockSize !== 0) {
      throw new RangeError(`overlay: range ${offset}+${length} is not aligned to ${this.blockSize}-byte blocks`);
    }
  }

  /** Walks [offset, offset+length) page by page: fn(pageIndex, firstBlock, endBlock, doneBytes). */
  walk(offset: number, length: number, fn: (p: number, lo: number, hi: number, done: number) => void): void {
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

  /** Copies `src` into the pages (now: `src` may be a view of guest RAM). */
  write(offset: number, src: Uint8Array): void {
    this.check(offset, src.length);
    this.walk(offset, src.length, (p, lo, hi, done) => {
      const page = this.pages.get(p) ?? this.newPage(p);
      // A reused buffer holds old bytes, but only the blocks in mask are ever read.
      page.data ??= this.hooks.buffer();
      page.data.set(src.subarray(done, done + (hi - lo) * this.blockSize), lo * this.blockSize);
      const m = bits(lo, hi);
      page.mask = (page.mask | m) >>> 0;
      page.spilled = (page.spilled & ~m) >>> 0;
      page.version++;
      this.hooks.changed(page);
      // Most recently written last.
      this.resident.delete(p);
      this.resident.set(p, page);
    });
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
      this.hooks.changed(page);
      if (page.mask === 0) {
        page.data = undefined;
        this.resident.delete(p);
      }
      if (page.mask === 0 && page.spilled === 0 && !page.spilling) this.pages.delete(p);
    });
    this.zeros.add(offset, length);
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

  /** True when some block of the range is spilled. */
  spilledIn(offset: number, length: number): boolean {
    let any = false;
    this.walk(offset, length, (p, lo, hi) => {
      if (!any && ((this.pages.get(p)?.spilled ?? 0) & bits(lo, hi)) !== 0) any = true;
    });
    return any;
  }

  /**
   * Lays the written blocks and zeroed ranges over `dst`, which holds the base's bytes from
   * `offset`; the bytes of spilled pages come from `spilled` (read back), which must hold every
   * page with spilled blocks in the range.
   */
  lay(offset: number, dst: Uint8Array, spilled: Map<Page, Uint8Array> | undefined): void {
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
}
