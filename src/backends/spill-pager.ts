// Keeps an overlay's page memory (overlay-map.ts) within a budget: past it, the least recently
// written pages move to a spill store (spill.ts: a file in the Origin Private File System) and
// come back through async reads. A page keeps its bytes until the store confirmed their write, so
// a failed spill loses nothing (the pager then stops spilling). Its slot in the store is
// page-sized and blocks keep their place in it, so spilling a page again writes only the blocks
// written since. Counters tell late answers from current ones: the epoch (bumped when the
// overlay is cleared or restored), each page's gen (spill writes posted) and version (changes).

import { BackendError } from "./block-backend.ts";
import type { Log } from "./log.ts";
import { BLOCKS_PER_PAGE, bits, forEachRun, type OverlayMap, type Page } from "./overlay-map.ts";
import type { SpillStore } from "./spill.ts";

export const MiB = 1024 * 1024;
/** Spill writes in flight at most (each holds a copy of its bytes until confirmed). */
const MAX_SPILLING = 8 * MiB;
/**
 * Bytes per spill write of whole pages. The buffers come back from the worker and are reused, as
 * are the bytes of spilled pages: a steady stream of fresh buffers would leave garbage that both
 * sides' collectors reclaim only in large steps (about 100 MiB more memory than the budget).
 */
const RUN_BYTES = MiB;

export class SpillPager {
  private store: SpillStore | undefined;
  /** "off": no spilling (no store here, or it failed); "opening": the store is being opened. */
  private spillState: "idle" | "opening" | "open" | "off" = "idle";
  private freeSlots: number[] = [];
  private nextSlot = 0;
  private spillingBytes = 0;
  /** Bumped by reset(): confirmations of spills posted before are stale. */
  private epoch = 0;
  /** Reusable spill-write buffers (RUN_BYTES each) and page buffers. */
  private readonly runBuffers: ArrayBuffer[] = [];
  private readonly pageBuffers: Uint8Array[] = [];
  /** Page-sized buffers spilled pages are read back into, reused like the spill writes' (garbage otherwise). */
  private readonly readBuffers: ArrayBuffer[] = [];

  constructor(
    private readonly map: OverlayMap,
    readonly memoryBudget: number,
    private readonly openStore: (() => Promise<SpillStore>) | undefined,
    private readonly log: Log,
  ) {
    if (memoryBudget === Infinity) this.spillState = "off";
  }

  private get pageSize(): number {
    return this.map.pageSize;
  }

  /** Bytes of slots in the spill store in use. */
  get spilledBytes(): number {
    return (this.nextSlot - this.freeSlots.length) * this.pageSize;
  }

  /** Bytes of pages whose spill write is in flight. */
  get inFlightBytes(): number {
    return this.spillingBytes;
  }

  /** A page-sized buffer for a page's bytes: a reused one (holding old bytes) where there is one. */
  buffer(): Uint8Array {
    return this.pageBuffers.pop() ?? new Uint8Array(this.pageSize);
  }

  /** The overlay was cleared: every slot is free, spills posted before are stale. */
  reset(): void {
    this.freeSlots = [];
    this.nextSlot = 0;
    this.epoch++;
  }

  /** Releases the spill store (its file is removed); no spilling afterwards. */
  async close(): Promise<void> {
    const store = this.store;
    this.store = undefined;
    this.spillState = "off";
    await store?.close();
  }

  /** Gives back a page's slot once it holds nothing of it and no spill of it is in flight. */
  freeSlotIfUnused(page: Page): void {
    if (page.slot >= 0 && page.spilled === 0 && !page.spilling) {
      this.freeSlots.push(page.slot);
      page.slot = -1;
    }
  }

  /** Spills least recently written pages while memory is over budget. */
  trim(): void {
    // The store is opened at half the budget, so that it is ready when the budget is reached.
    const opensEarly = this.spillState === "idle" && this.openStore;
    if (this.spillState === "off" || this.map.residentBytes <= (opensEarly ? this.memoryBudget / 2 : this.memoryBudget)) return;
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
    let over = this.map.residentBytes - (this.memoryBudget - Math.min(this.memoryBudget / 8, 8 * MiB));
    const batch: [number, Page][] = [];
    for (const entry of this.map.resident) {
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
    const bs = this.map.blockSize;
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
      const live = epoch === this.epoch && this.map.pages.get(p) === page;
      if (live) {
        page.spilling = false;
        if (ok && page.version === version) {
          page.spilled = (page.spilled | mask) >>> 0;
          page.mask = 0;
          if (this.pageBuffers.length < MAX_SPILLING / this.pageSize) this.pageBuffers.push(page.data!);
          page.data = undefined;
          this.map.resident.delete(p);
        }
        this.freeSlotIfUnused(page);
        if (page.mask === 0 && page.spilled === 0) this.map.pages.delete(p);
      }
      if (!ok) this.stopSpilling(`writing to the spill store failed: ${e instanceof Error ? e.message : String(e)}`);
    };
  }

  private stopSpilling(why: string): void {
    if (this.spillState === "off") return;
    this.spillState = "off";
    this.log("warn", `v86-nvme overlay: ${why}; from now on every write stays in memory (nothing written was lost)`);
  }

  /** Lays the overlay over `dst` for any range: spilled pages are read back first (again, if spilled anew meanwhile). */
  async applyAll(offset: number, dst: Uint8Array): Promise<void> {
    const map = this.map;
    for (;;) {
      const wanted: { page: Page; gen: number; slot: number }[] = [];
      if (this.spilledBytes > 0) {
        map.walk(offset, dst.length, (p, lo, hi) => {
          const page = map.pages.get(p);
          if (page && page.spilled & bits(lo, hi)) wanted.push({ page, gen: page.gen, slot: page.slot });
        });
      }
      if (wanted.length === 0) return map.lay(offset, dst, undefined);
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
      map.walk(offset, dst.length, (p, lo, hi) => {
        const page = map.pages.get(p);
        if (!page || (page.spilled & bits(lo, hi)) === 0) return;
        const r = read.get(page);
        if (!r || r.gen !== page.gen || r.slot !== page.slot) current = false;
      });
      if (current) map.lay(offset, dst, new Map([...read].map(([page, r]) => [page, r.bytes])));
      // lay() copied what it needed: the buffers go back to the pool.
      for (const g of got) if (g.buffer.byteLength === this.pageSize && this.readBuffers.length < MAX_SPILLING / this.pageSize) this.readBuffers.push(g.buffer as ArrayBuffer);
      if (current) return;
    }
  }
}
