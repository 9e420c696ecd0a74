// A byte source fetched in pieces, kept in a cache: granules in an LRU held to a byte budget
// (granule-store.ts), one fetch per granule however many readers want it at once, from a
// prioritised queue (fetch-queue.ts), read-ahead of a sequential reader (read-ahead.ts) and a
// prefetch plan (prefetch-plan.ts, a boot trace). Cached bytes are served synchronously by
// tryRead(). Where the bytes come from (a Blob, HTTP ranges, part files, the persistent disk's
// file) is the fetcher's business; update() keeps the cache right for sources that change (the
// persistent disk's writes).
//
// Fetch sizes adapt to the access pattern: a reader's miss fetches just the granules it lacks, so
// scattered small reads do not pull whole chunks; read-ahead for a sequential reader and the plan
// fetch up to a chunk per request (the plan up to planSpan chunks where it runs on along the disk).
// Fetches never cross a chunk boundary otherwise, so with granule = chunk and planSpan 1 every fetch
// is exactly one aligned chunk (what pre-split part files need).
//
// Memory is bounded by cacheBytes (cached granules) plus maxFetches × chunkSize × planSpan
// (fetches under way), plus the plan's own room while a plan runs; queued fetches hold no bytes.

import type { ReadSource } from "./block-backend.ts";
import { FetchQueue, Priority, type ChunkFetcher, type Fetch } from "./fetch-queue.ts";
import { GranuleStore } from "./granule-store.ts";
import { PrefetchPlan } from "./prefetch-plan.ts";
import { ReadAhead } from "./read-ahead.ts";

export interface ChunkCacheOptions {
  /** Most bytes per fetch, a multiple of 512 (and of `granule`); fetches never cross a multiple of it. */
  chunkSize: number;
  /** Cache unit and smallest fetch, a multiple of 512 dividing chunkSize (default: chunkSize). */
  granule?: number;
  /** Most bytes of granules kept; at least one granule is always kept. */
  cacheBytes: number;
  /**
   * Chunks a sequential reader is read ahead at most: the window is one chunk, or twice what the
   * reader has read sequentially so far, up to this many chunks; 0 turns read-ahead off.
   */
  readAhead?: number;
  /** Fetches running at once (default: no limit). */
  maxFetches?: number;
  /**
   * Chunks one fetch of the prefetch plan may span where the plan runs on along the disk (default
   * 1): fewer, larger requests where each costs a round trip. Only for sources that can fetch any
   * range (not pre-split parts).
   */
  planSpan?: number;
}

export interface ChunkCacheStats {
  /** Fetches because a reader needed the bytes. */
  fetches: number;
  /** Fetches ahead of need (read-ahead and the prefetch plan). */
  prefetches: number;
  /** Reads served wholly from the cache. */
  hits: number;
  /** Reads that had to wait for at least one fetch. */
  misses: number;
  /** Bytes delivered by the fetcher. */
  bytesFetched: number;
  /** Prefetched bytes no reader has read (yet): evicted unread, or still cached unread. */
  unreadBytes: number;
  /** Most fetches running at once so far. */
  maxInFlight: number;
}

export class ChunkCache implements ReadSource {
  readonly chunkSize: number;
  readonly granule: number;
  readonly cacheBytes: number;
  /** Read-ahead window cap in chunks (clamped so prefetches do not evict what is being read). */
  readonly readAhead: number;
  readonly maxFetches: number;
  readonly planSpan: number;
  readonly stats: ChunkCacheStats = { fetches: 0, prefetches: 0, hits: 0, misses: 0, bytesFetched: 0, unreadBytes: 0, maxInFlight: 0 };
  private readonly store: GranuleStore;
  private readonly queue: FetchQueue;
  private readonly plan: PrefetchPlan;
  private readonly sequential: ReadAhead;

  constructor(readonly byteLength: number, fetcher: ChunkFetcher, o: ChunkCacheOptions) {
    if (!Number.isSafeInteger(byteLength) || byteLength < 0) throw new Error(`chunk cache: bad size ${byteLength}`);
    if (!Number.isSafeInteger(o.chunkSize) || o.chunkSize < 512 || o.chunkSize % 512 !== 0) {
      throw new Error(`chunk cache: chunk size ${o.chunkSize} is not a positive multiple of 512`);
    }
    const g = o.granule ?? o.chunkSize;
    if (!Number.isSafeInteger(g) || g < 512 || g % 512 !== 0 || o.chunkSize % g !== 0) {
      throw new Error(`chunk cache: granule ${g} is not a multiple of 512 dividing the chunk size ${o.chunkSize}`);
    }
    this.chunkSize = o.chunkSize;
    this.granule = g;
    this.cacheBytes = Math.max(0, o.cacheBytes);
    const fit = Math.floor(this.cacheBytes / this.chunkSize) - 1;
    this.readAhead = Math.max(0, Math.min(Math.floor(o.readAhead ?? 0), fit));
    this.maxFetches = Math.max(1, Math.floor(o.maxFetches ?? Infinity));
    this.planSpan = Math.max(1, Math.floor(o.planSpan ?? 1));
    this.plan = new PrefetchPlan(byteLength, g, this.chunkSize / g, this.planSpan);
    this.store = new GranuleStore(byteLength, g, this.cacheBytes, this.stats, {
      room: () => this.plan.room,
      unread: (i, delta) => this.plan.noteUnread(i, delta),
    });
    this.queue = new FetchQueue(byteLength, g, this.chunkSize, this.maxFetches, fetcher, this.stats, {
      planned: (aheadInFlight) => this.plan.nextRun(this.store.aheadCount + aheadInFlight, (i) => this.store.has(i) || this.queue.has(i)),
      deliver: (i, data, ahead) => this.store.insert(i, data, ahead),
      prefetchFailed: () => this.prefetchFailed(),
      settled: () => this.planSettled(),
    });
    this.sequential = new ReadAhead(byteLength, this.chunkSize, this.readAhead);
  }

  /** Bytes held by cached granules now. */
  get residentBytes(): number {
    return this.store.residentBytes;
  }

  /** Fetches queued or under way now. */
  get pendingFetches(): number {
    return this.queue.size;
  }

  /** Granules of the plan still to fetch. */
  get planRemaining(): number {
    return this.plan.remaining;
  }

  private check(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.byteLength) {
      throw new RangeError(`range ${offset}+${length} outside ${this.byteLength} bytes`);
    }
  }

  tryRead(offset: number, dst: Uint8Array): boolean {
    this.check(offset, dst.length);
    if (dst.length === 0) return true;
    const first = Math.floor(offset / this.granule);
    const last = Math.floor((offset + dst.length - 1) / this.granule);
    for (let i = first; i <= last; i++) if (!this.store.has(i)) return false;
    for (let i = first; i <= last; i++) this.store.copy(i, this.store.touch(i)!, offset, dst);
    this.stats.hits++;
    this.accessed(offset, dst.length, first, last);
    return true;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.check(offset, length);
    const out = new Uint8Array(length);
    if (length === 0) return out;
    const first = Math.floor(offset / this.granule);
    const last = Math.floor((offset + length - 1) / this.granule);
    const waits = this.gather(first, last, offset, out, true);
    if (waits.length) this.stats.misses++;
    else this.stats.hits++;
    this.accessed(offset, length, first, last);
    // A failed read answers once all its fetches settled, so a retry never joins one of them.
    const failed = (await Promise.allSettled(waits)).find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    return out;
  }

  /**
   * Copies the cached granules first..last into `out` and returns promises for the others,
   * fetching what nobody fetches yet. A granule a failed prefetch was to bring is fetched again
   * (when `retry`), so a broken prefetch costs the reader a request, never its read.
   */
  private gather(first: number, last: number, offset: number, out: Uint8Array, retry: boolean): Promise<void>[] {
    const waits: Promise<void>[] = [];
    let run = -1;
    const flush = (end: number) => {
      if (run < 0) return;
      for (const f of this.queue.enqueue(run, end, Priority.Demand)) waits.push(this.await(f, offset, out, false));
      run = -1;
    };
    for (let i = first; i <= last; i++) {
      const g = this.store.touch(i);
      if (g) {
        flush(i);
        this.store.copy(i, g, offset, out);
        continue;
      }
      const f = this.queue.get(i);
      if (f) {
        flush(i);
        if (!f.started && f.priority !== Priority.Demand) this.queue.promote(f);
        waits.push(this.await(f, offset, out, retry, i));
      } else if (run < 0) run = i;
    }
    flush(last + 1);
    this.queue.pump();
    return waits;
  }

  /** Copies fetch `f`'s granules (or just granule `only`) into `out`; refetches after a failed prefetch. */
  private await(f: Fetch, offset: number, out: Uint8Array, retry: boolean, only?: number): Promise<void> {
    const lo = only ?? f.first;
    const hi = only ?? f.first + f.count - 1;
    return f.promise.then(
      (data) => {
        for (let i = lo; i <= hi; i++) {
          const at = (i - f.first) * this.granule;
          this.store.copy(i, data.subarray(at, at + this.store.granuleLength(i)), offset, out);
          this.store.touch(i); // a prefetch the reader joined: read now
        }
      },
      async (e) => {
        if (!retry || !f.ahead) throw e;
        await Promise.all(this.gather(lo, hi, offset, out, false));
      },
    );
  }

  /** Drops every cached granule (fetches under way still complete and are cached). */
  clear(): void {
    this.store.clear(); // those dropped unread stay counted in unreadBytes
    this.plan.forgetUnread();
    this.planSettled();
  }

  /**
   * Streams `ranges` (byte offset and length, in the order a reader is expected to want them)
   * ahead of the reader: fetched after the reader's misses and before read-ahead, at most
   * `leadBytes` ahead of the furthest point of the plan a reader reached, and never more than
   * that fetched ahead and not read yet. `extraBytes`: room the cache gets on top of cacheBytes
   * until the plan is done, so that what it fetched ahead waits there to be read (default 0: the
   * plan's lead comes out of the cache's own budget). Replaces any earlier plan.
   */
  prefetchPlan(ranges: readonly (readonly [number, number])[], leadBytes = this.cacheBytes / 2, extraBytes = 0): void {
    this.plan.set(ranges, leadBytes, extraBytes);
    this.queue.pump();
  }

  /** The plan is done once all of it was fetched and read (or dropped): its room goes. */
  private planSettled(): void {
    if (this.plan.settle()) this.store.evict();
  }

  /**
   * A prefetch failed (the source may be going away): drop the plan (it is for one boot) and pause
   * read-ahead until a fetch succeeds again; readers fetch on demand meanwhile.
   */
  private prefetchFailed(): void {
    this.plan.drop();
    this.store.evict();
    this.sequential.reset();
    this.queue.dropQueued(Priority.Ahead);
  }

  /**
   * The bytes at [offset, offset+length) changed to `src` (null: zeros, undefined: unknown).
   * Cached granules are patched (or dropped when the new bytes are unknown); fetches under way
   * were asked too early, so later readers start new ones and their answers are not cached.
   * For sources that are not read-only: the fetcher must see every change made before it is called.
   */
  update(offset: number, length: number, src?: Uint8Array | null): void {
    if (length <= 0) return;
    const first = Math.floor(offset / this.granule);
    const last = Math.floor((offset + length - 1) / this.granule);
    this.queue.markStale(first, last);
    this.store.patch(first, last, offset, length, src);
  }

  /** Notes a read of [offset, offset+length) (granules first..last): plan progress, sequential streak, read-ahead. */
  private accessed(offset: number, length: number, first: number, last: number): void {
    // Progress, or a prefetched granule read (which frees room under the lead).
    const planned = this.plan.reach(first, last);
    if (planned) {
      this.queue.pump();
      this.planSettled();
    }
    if (this.sequential.note(offset, length)) this.queue.dropQueued(Priority.Ahead);
    // Reads the plan foresaw need no guessing.
    if (this.queue.ailing || planned) return;
    const reach = this.sequential.reach(offset + length);
    if (reach === undefined) return;
    const stop = Math.ceil(reach / this.granule);
    let run = -1;
    for (let i = last + 1; i <= stop; i++) {
      const have = i === stop || this.store.has(i) || this.queue.has(i);
      if (have && run >= 0) {
        this.queue.enqueue(run, i, Priority.Ahead);
        run = -1;
      } else if (!have && run < 0) run = i;
    }
    this.queue.pump();
  }
}
