// Copy-on-write: a read-only base disk (a File, an HTTP image) plus an overlay in memory that
// holds every written block. Reads see the overlay first, then the base.
//
// The overlay is sparse and bounded only by what is written: blocks live in small pages (32
// blocks each) allocated on first write, and zeroed or discarded ranges are kept as byte
// intervals, so discarding a whole multi-gigabyte disk (mkfs does) costs a few bytes rather
// than a page per block. A page written after a zeroing wins over it; a zeroing after a write
// clears that page's blocks so the interval answers for them.

import type { BlockBackend } from "./block-backend.ts";
import type { ReadSource } from "./chunk-cache.ts";

export type { ReadSource } from "./chunk-cache.ts";

const BLOCKS_PER_PAGE = 32;

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
  data: Uint8Array;
  /** Bit b set: block b of the page holds written data. */
  mask: number;
}

/** Bits lo..hi-1 of a 32-bit mask. */
const bits = (lo: number, hi: number) => (hi - lo === 32 ? 0xffffffff : ((1 << (hi - lo)) - 1) << lo) >>> 0;

export class Overlay {
  readonly pageSize: number;
  private readonly pages = new Map<number, Page>();
  /** Sorted, disjoint, non-adjacent [start, end) byte ranges that read as zeros. */
  private zeros: number[] = [];

  constructor(readonly byteLength: number, readonly blockSize = 512) {
    if (!Number.isSafeInteger(blockSize) || blockSize < 1) throw new Error(`overlay: bad block size ${blockSize}`);
    this.pageSize = blockSize * BLOCKS_PER_PAGE;
  }

  /** Bytes of page memory held (what the overlay costs). */
  get residentBytes(): number {
    return this.pages.size * this.pageSize;
  }

  /** True when nothing was ever written or zeroed. */
  get isEmpty(): boolean {
    return this.pages.size === 0 && this.zeros.length === 0;
  }

  /** Forgets every write. */
  clear(): void {
    this.pages.clear();
    this.zeros = [];
  }

  /** A copy of everything written or zeroed so far. */
  save(): OverlaySnapshot {
    const index = [...this.pages.keys()].sort((a, b) => a - b);
    const pageMask = new Uint32Array(index.length);
    const pageData = new Uint8Array(index.length * this.pageSize);
    index.forEach((p, i) => {
      const page = this.pages.get(p)!;
      pageMask[i] = page.mask;
      pageData.set(page.data, i * this.pageSize);
    });
    return {
      byteLength: this.byteLength,
      blockSize: this.blockSize,
      pageIndex: Float64Array.from(index),
      pageMask,
      pageData,
      zeros: Float64Array.from(this.zeros),
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
    this.pages.clear();
    for (let i = 0; i < n; i++) {
      if (s.pageMask[i] === 0) continue;
      this.pages.set(s.pageIndex[i], { data: s.pageData.slice(i * this.pageSize, (i + 1) * this.pageSize), mask: s.pageMask[i] });
    }
    this.zeros = Array.from(s.zeros);
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
      let page = this.pages.get(p);
      if (!page) {
        page = { data: new Uint8Array(this.pageSize), mask: 0 };
        this.pages.set(p, page);
      }
      page.data.set(src.subarray(done, done + (hi - lo) * this.blockSize), lo * this.blockSize);
      page.mask = (page.mask | bits(lo, hi)) >>> 0;
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
      if (page.mask === 0) this.pages.delete(p);
    });
    this.addZeros(offset, offset + length);
  }

  private addZeros(start: number, end: number): void {
    const z = this.zeros;
    // First range that ends at or after `start` (touching ranges merge).
    let i = this.firstEndingAtOrAfter(start);
    let j = i;
    while (j < z.length / 2 && z[2 * j] <= end) {
      start = Math.min(start, z[2 * j]);
      end = Math.max(end, z[2 * j + 1]);
      j++;
    }
    z.splice(2 * i, 2 * (j - i), start, end);
  }

  /** Index of the first zero range whose end is >= pos. */
  private firstEndingAtOrAfter(pos: number): number {
    let lo = 0;
    let hi = this.zeros.length / 2;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.zeros[2 * mid + 1] < pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** True when [start, end) lies inside one zero range. */
  private zeroed(start: number, end: number): boolean {
    const i = this.firstEndingAtOrAfter(end);
    return i < this.zeros.length / 2 && this.zeros[2 * i] <= start;
  }

  /** True when every block of the range was written or zeroed: the base is not needed. */
  covers(offset: number, length: number): boolean {
    this.check(offset, length);
    if (this.zeroed(offset, offset + length)) return true;
    let all = true;
    this.walk(offset, length, (p, lo, hi) => {
      if (!all) return;
      const mask = this.pages.get(p)?.mask ?? 0;
      const missing = bits(lo, hi) & ~mask;
      if (missing === 0) return;
      for (let b = lo; b < hi; b++) {
        if ((missing >>> b) & 1) {
          const s = p * this.pageSize + b * this.blockSize;
          if (!this.zeroed(s, s + this.blockSize)) {
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
    const i = this.firstEndingAtOrAfter(offset + 1);
    if (i < this.zeros.length / 2 && this.zeros[2 * i] < offset + length) return true;
    let any = false;
    this.walk(offset, length, (p, lo, hi) => {
      if (!any && ((this.pages.get(p)?.mask ?? 0) & bits(lo, hi)) !== 0) any = true;
    });
    return any;
  }

  /** Lays the overlay's blocks over `dst`, which holds the base's bytes from `offset` (or anything, where covered). */
  apply(offset: number, dst: Uint8Array): void {
    this.check(offset, dst.length);
    const end = offset + dst.length;
    for (let i = this.firstEndingAtOrAfter(offset + 1); i < this.zeros.length / 2 && this.zeros[2 * i] < end; i++) {
      dst.fill(0, Math.max(this.zeros[2 * i], offset) - offset, Math.min(this.zeros[2 * i + 1], end) - offset);
    }
    if (this.pages.size === 0) return;
    this.walk(offset, dst.length, (p, lo, hi, done) => {
      const page = this.pages.get(p);
      if (!page) return;
      const m = page.mask & bits(lo, hi);
      if (m === 0) return;
      // Copy runs of consecutive written blocks at once.
      let b = lo;
      while (b < hi) {
        if (((m >>> b) & 1) === 0) {
          b++;
          continue;
        }
        let e = b + 1;
        while (e < hi && ((m >>> e) & 1) === 1) e++;
        dst.set(page.data.subarray(b * this.blockSize, e * this.blockSize), done + (b - lo) * this.blockSize);
        b = e;
      }
    });
  }
}

export interface CowOptions {
  /** Granularity of the overlay in bytes (default 512: every logical block size NVMe offers). */
  blockSize?: number;
}

/**
 * A writable disk over a read-only base. Writes, zeroes and discards land in the in-memory overlay
 * and complete at once; nothing outlives the page, so there is no volatile cache to flush
 * (volatileWriteCache is false: every completed write is as durable as this disk ever gets).
 * Discarded ranges read as zeros.
 */
export class CowBackend implements BlockBackend {
  readonly volatileWriteCache = false;
  readonly discardZeroes = true;
  readonly byteLength: number;
  readonly overlay: Overlay;

  constructor(readonly base: ReadSource, o: CowOptions = {}) {
    this.byteLength = base.byteLength;
    this.overlay = new Overlay(base.byteLength, o.blockSize ?? 512);
  }

  tryRead(offset: number, dst: Uint8Array): boolean {
    if (this.overlay.covers(offset, dst.length)) {
      this.overlay.apply(offset, dst);
      return true;
    }
    if (!this.base.tryRead(offset, dst)) return false;
    this.overlay.apply(offset, dst);
    return true;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (this.overlay.covers(offset, length)) {
      const out = new Uint8Array(length);
      this.overlay.apply(offset, out);
      return out;
    }
    const data = await this.base.read(offset, length);
    // Laid over when the base answers, so a write completed meanwhile is seen too.
    this.overlay.apply(offset, data);
    return data;
  }

  write(offset: number, src: Uint8Array, _fua = false): void {
    this.overlay.write(offset, src);
  }

  flush(): void {}

  discard(offset: number, length: number): void {
    this.overlay.zero(offset, length);
  }

  writeZeroes(offset: number, length: number): void {
    this.overlay.zero(offset, length);
  }

  /** Forgets every write: the disk is the base again. */
  reset(): void {
    this.overlay.clear();
  }

  /** A copy of every write so far (the base is not in it). */
  saveOverlay(): OverlaySnapshot {
    return this.overlay.save();
  }

  /** Puts the disk back to what it was when `s` was saved over the same base. */
  restoreOverlay(s: OverlaySnapshot): void {
    this.overlay.restore(s);
  }
}
