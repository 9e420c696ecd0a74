// A read-only byte source fetched in aligned chunks: an LRU cache of recently used chunks held to
// a byte budget, one fetch per chunk however many readers want it at once, and read-ahead of the
// next chunks when access is sequential. Cached bytes are served synchronously by tryRead().
// Where the chunks come from (a Blob, HTTP ranges, part files) is the fetcher's business.

import { BackendError } from "./block-backend.ts";

/** Fetches `length` bytes at `start` (chunk `index`); resolves with exactly that many bytes. */
export type ChunkFetcher = (index: number, start: number, length: number) => Promise<Uint8Array>;

/** What a copy-on-write overlay or an export needs from a disk it only reads. */
export interface ReadSource {
  readonly byteLength: number;
  /** Fills `dst` from `offset` now and returns true, or returns false when read() must fetch. */
  tryRead(offset: number, dst: Uint8Array): boolean;
  /** Resolves with a fresh array of `length` bytes from `offset` (the caller may keep or modify it). */
  read(offset: number, length: number): Promise<Uint8Array>;
}

export interface ChunkCacheOptions {
  /** Bytes per chunk (a multiple of 512). */
  chunkSize: number;
  /** Most bytes of chunks kept; at least one chunk is always kept. */
  cacheBytes: number;
  /** Chunks fetched ahead once access looks sequential; 0 turns read-ahead off. */
  readAhead?: number;
}

export interface ChunkCacheStats {
  /** Chunks fetched because a reader needed them. */
  fetches: number;
  /** Chunks fetched ahead of need. */
  prefetches: number;
  /** Reads served wholly from the cache. */
  hits: number;
  /** Reads that had to wait for at least one chunk. */
  misses: number;
  /** Bytes delivered by the fetcher. */
  bytesFetched: number;
}

export class ChunkCache implements ReadSource {
  readonly chunkSize: number;
  readonly cacheBytes: number;
  readonly readAhead: number;
  readonly stats: ChunkCacheStats = { fetches: 0, prefetches: 0, hits: 0, misses: 0, bytesFetched: 0 };
  /** Insertion order is recency order: the first entry is the least recently used. */
  private readonly chunks = new Map<number, Uint8Array>();
  /** Fetches under way; one marked stale (the bytes changed meanwhile) is answered but not cached. */
  private readonly inflight = new Map<number, { promise: Promise<Uint8Array>; stale: boolean }>();
  private cachedBytes = 0;
  /** Chunk after the last one a reader touched, for sequential detection. */
  private nextExpected = -1;
  private streak = 0;

  constructor(readonly byteLength: number, private readonly fetcher: ChunkFetcher, o: ChunkCacheOptions) {
    if (!Number.isSafeInteger(byteLength) || byteLength < 0) throw new Error(`chunk cache: bad size ${byteLength}`);
    if (!Number.isSafeInteger(o.chunkSize) || o.chunkSize < 512 || o.chunkSize % 512 !== 0) {
      throw new Error(`chunk cache: chunk size ${o.chunkSize} is not a positive multiple of 512`);
    }
    this.chunkSize = o.chunkSize;
    this.cacheBytes = Math.max(0, o.cacheBytes);
    // Prefetched chunks must not push each other (or the chunk being read) out of the budget.
    const fit = Math.floor(this.cacheBytes / this.chunkSize) - 1;
    this.readAhead = Math.max(0, Math.min(Math.floor(o.readAhead ?? 0), fit));
  }

  /** Bytes held by cached chunks now. */
  get residentBytes(): number {
    return this.cachedBytes;
  }

  /** Chunks being fetched now. */
  get pendingFetches(): number {
    return this.inflight.size;
  }

  private check(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.byteLength) {
      throw new RangeError(`range ${offset}+${length} outside ${this.byteLength} bytes`);
    }
  }

  private chunkLength(index: number): number {
    return Math.min(this.chunkSize, this.byteLength - index * this.chunkSize);
  }

  tryRead(offset: number, dst: Uint8Array): boolean {
    this.check(offset, dst.length);
    if (dst.length === 0) return true;
    const first = Math.floor(offset / this.chunkSize);
    const last = Math.floor((offset + dst.length - 1) / this.chunkSize);
    for (let i = first; i <= last; i++) if (!this.chunks.has(i)) return false;
    for (let i = first; i <= last; i++) {
      const c = this.touch(i)!;
      const base = i * this.chunkSize;
      const from = Math.max(offset, base);
      const to = Math.min(offset + dst.length, base + c.length);
      dst.set(c.subarray(from - base, to - base), from - offset);
    }
    this.stats.hits++;
    this.accessed(first, last);
    return true;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.check(offset, length);
    const out = new Uint8Array(length);
    if (length === 0) return out;
    const first = Math.floor(offset / this.chunkSize);
    const last = Math.floor((offset + length - 1) / this.chunkSize);
    let missing = false;
    const parts: Promise<Uint8Array>[] = [];
    for (let i = first; i <= last; i++) {
      const c = this.touch(i);
      if (c) parts.push(Promise.resolve(c));
      else {
        missing = true;
        parts.push(this.chunk(i, false));
      }
    }
    if (missing) this.stats.misses++;
    else this.stats.hits++;
    this.accessed(first, last);
    const got = await Promise.all(parts);
    for (let i = first; i <= last; i++) {
      const c = got[i - first];
      const base = i * this.chunkSize;
      const from = Math.max(offset, base);
      const to = Math.min(offset + length, base + c.length);
      out.set(c.subarray(from - base, to - base), from - offset);
    }
    return out;
  }

  /** Drops every cached chunk (in-flight fetches still complete and are cached). */
  clear(): void {
    this.chunks.clear();
    this.cachedBytes = 0;
  }

  /** The cached chunk `i`, marked most recently used, or undefined. */
  private touch(i: number): Uint8Array | undefined {
    const c = this.chunks.get(i);
    if (c) {
      this.chunks.delete(i);
      this.chunks.set(i, c);
    }
    return c;
  }

  /** Chunk `i` from the cache, the fetch already under way, or a new fetch. */
  private chunk(i: number, ahead: boolean): Promise<Uint8Array> {
    const c = this.touch(i);
    if (c) return Promise.resolve(c);
    const running = this.inflight.get(i);
    if (running) return running.promise;
    const start = i * this.chunkSize;
    const length = this.chunkLength(i);
    if (ahead) this.stats.prefetches++;
    else this.stats.fetches++;
    const entry = { promise: undefined as unknown as Promise<Uint8Array>, stale: false };
    const done = () => {
      if (this.inflight.get(i) === entry) this.inflight.delete(i);
    };
    entry.promise = this.fetcher(i, start, length).then(
      (data) => {
        done();
        if (data.length !== length) throw new BackendError(`chunk at ${start}: got ${data.length} bytes, expected ${length}`, "read");
        this.stats.bytesFetched += length;
        if (!entry.stale) this.insert(i, data);
        return data;
      },
      (e) => {
        done();
        throw e;
      },
    );
    this.inflight.set(i, entry);
    return entry.promise;
  }

  /**
   * The bytes at [offset, offset+length) changed to `src` (null: zeros, undefined: unknown).
   * Cached chunks are patched (or dropped when the new bytes are unknown); fetches under way
   * were asked too early, so later readers start new ones and their answers are not cached.
   * For sources that are not read-only: the fetcher must see every change made before it is called.
   */
  update(offset: number, length: number, src?: Uint8Array | null): void {
    if (length <= 0) return;
    const end = offset + length;
    const overlaps = (i: number) => i * this.chunkSize < end && (i + 1) * this.chunkSize > offset;
    for (const [i, e] of this.inflight) {
      if (!overlaps(i)) continue;
      e.stale = true;
      this.inflight.delete(i);
    }
    for (const [i, c] of this.chunks) {
      if (!overlaps(i)) continue;
      if (src === undefined) {
        this.chunks.delete(i);
        this.cachedBytes -= c.length;
        continue;
      }
      const base = i * this.chunkSize;
      const from = Math.max(offset, base);
      const to = Math.min(end, base + c.length);
      if (src === null) c.fill(0, from - base, to - base);
      else c.set(src.subarray(from - offset, to - offset), from - base);
    }
  }

  private insert(i: number, data: Uint8Array): void {
    const old = this.chunks.get(i);
    if (old) {
      this.chunks.delete(i);
      this.cachedBytes -= old.length;
    }
    this.chunks.set(i, data);
    this.cachedBytes += data.length;
    for (const [k, v] of this.chunks) {
      if (this.cachedBytes <= this.cacheBytes || this.chunks.size <= 1) break;
      this.chunks.delete(k);
      this.cachedBytes -= v.length;
    }
  }

  /** Notes an access to chunks first..last and prefetches ahead of a sequential reader. */
  private accessed(first: number, last: number): void {
    // Moving on to the next chunk is evidence of a sequential reader; staying in the last one is
    // neutral; anything else is a jump.
    if (first === this.nextExpected) this.streak++;
    else if (first !== this.nextExpected - 1) this.streak = 0;
    this.nextExpected = last + 1;
    if (this.readAhead === 0 || this.streak === 0) return;
    const end = Math.min(last + this.readAhead, Math.ceil(this.byteLength / this.chunkSize) - 1);
    for (let i = last + 1; i <= end; i++) {
      if (this.chunks.has(i) || this.inflight.has(i)) continue;
      // A failed prefetch is forgotten: the reader that needs the chunk fetches it again and sees the error.
      this.chunk(i, true).catch(() => {});
    }
  }
}
