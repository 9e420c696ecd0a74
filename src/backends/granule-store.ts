// The chunk cache's granules (chunk-cache.ts): an LRU of what readers have read, held to a byte
// budget, and apart from it what was fetched ahead and not read yet. Granules fetched ahead wait
// outside the recency order until first read, and are evicted only after every granule already
// read: a reader working through what was fetched ahead makes it recent, and what waits for it
// would otherwise be the oldest and go first.

export interface GranuleStoreHooks {
  /** Bytes the store may hold beyond its budget now (the prefetch plan's room while it runs). */
  room(): number;
  /** Granule `i` fetched ahead became unread (+1), or stopped being so: read or dropped (-1). */
  unread(i: number, delta: 1 | -1): void;
}

export class GranuleStore {
  /** Granules a reader has read; insertion order is recency order: the first is the least recently used. */
  private readonly granules = new Map<number, Uint8Array>();
  /** Granules fetched ahead and not read yet, oldest first. */
  private readonly ahead = new Map<number, Uint8Array>();
  private aheadBytes = 0;
  private cachedBytes = 0;

  constructor(
    readonly byteLength: number,
    readonly granule: number,
    /** Most bytes of granules kept (plus the hooks' room); at least one granule is always kept. */
    readonly cacheBytes: number,
    /** Where the prefetched bytes no reader has read (yet) are counted (the cache's stats). */
    private readonly stats: { unreadBytes: number },
    private readonly hooks: GranuleStoreHooks,
  ) {}

  /** Bytes held by cached granules now. */
  get residentBytes(): number {
    return this.cachedBytes;
  }

  /** Granules fetched ahead and not read yet. */
  get aheadCount(): number {
    return this.ahead.size;
  }

  /** Bytes of granule `i` (the last one may be short). */
  granuleLength(i: number): number {
    return Math.min(this.granule, this.byteLength - i * this.granule);
  }

  /** Copies the part of granule `i` (bytes `g`) inside [offset, offset + out.length) into `out`. */
  copy(i: number, g: Uint8Array, offset: number, out: Uint8Array): void {
    const base = i * this.granule;
    const from = Math.max(offset, base);
    const to = Math.min(offset + out.length, base + g.length);
    out.set(g.subarray(from - base, to - base), from - offset);
  }

  has(i: number): boolean {
    return this.granules.has(i) || this.ahead.has(i);
  }

  /** The cached granule `i`, marked read and most recently used, or undefined. */
  touch(i: number): Uint8Array | undefined {
    let g = this.granules.get(i);
    if (g) this.granules.delete(i);
    else {
      g = this.ahead.get(i);
      if (!g) return undefined;
      this.ahead.delete(i);
      this.aheadBytes -= g.length;
      this.stats.unreadBytes -= g.length;
      this.hooks.unread(i, -1);
    }
    this.granules.set(i, g);
    return g;
  }

  /** Caches granule `i` as read, or (`ahead`) as fetched ahead and not read yet; evicts down to the capacity. */
  insert(i: number, data: Uint8Array, ahead: boolean): void {
    const old = this.granules.get(i);
    if (old) this.drop(this.granules, i, old);
    const oldAhead = this.ahead.get(i);
    if (oldAhead) {
      this.drop(this.ahead, i, oldAhead);
      this.stats.unreadBytes -= oldAhead.length; // replaced, not lost
    }
    if (ahead) {
      this.ahead.set(i, data);
      this.aheadBytes += data.length;
      this.stats.unreadBytes += data.length;
      this.hooks.unread(i, 1);
    } else this.granules.set(i, data);
    this.cachedBytes += data.length;
    this.evict();
  }

  /** Drops every granule (those dropped unread stay counted in unreadBytes). */
  clear(): void {
    this.granules.clear();
    this.ahead.clear();
    this.aheadBytes = 0;
    this.cachedBytes = 0;
  }

  /**
   * The bytes at [offset, offset+length) of granules first..last changed to `src` (null: zeros,
   * undefined: unknown): cached granules are patched, or dropped when the new bytes are unknown.
   */
  patch(first: number, last: number, offset: number, length: number, src: Uint8Array | null | undefined): void {
    const end = offset + length;
    for (const map of [this.granules, this.ahead]) {
      for (const [i, g] of map) {
        if (i < first || i > last) continue;
        if (src === undefined) {
          this.drop(map, i, g);
          continue;
        }
        const base = i * this.granule;
        const from = Math.max(offset, base);
        const to = Math.min(end, base + g.length);
        if (src === null) g.fill(0, from - base, to - base);
        else g.set(src.subarray(from - offset, to - offset), from - base);
      }
    }
  }

  /** Forgets cached granule `i` (bytes `g`) of `map`; one dropped unread stays counted in unreadBytes. */
  private drop(map: Map<number, Uint8Array>, i: number, g: Uint8Array): void {
    map.delete(i);
    this.cachedBytes -= g.length;
    if (map !== this.ahead) return;
    this.aheadBytes -= g.length;
    this.hooks.unread(i, -1);
  }

  /**
   * Drops granules down to the capacity (the budget plus the room): read ones, least recently used
   * first, then (only when no read one is left) the oldest of those fetched ahead. What was fetched
   * ahead is held to half the budget plus the room first: read-ahead that was never read must not
   * crowd out the cache over time. At least one granule is always kept.
   */
  evict(): void {
    const room = this.hooks.room();
    for (const [k, v] of this.ahead) {
      if (this.aheadBytes <= this.cacheBytes / 2 + room || this.granules.size + this.ahead.size <= 1) break;
      this.drop(this.ahead, k, v);
    }
    for (const map of [this.granules, this.ahead]) {
      for (const [k, v] of map) {
        if (this.cachedBytes <= this.cacheBytes + room || this.granules.size + this.ahead.size <= 1) return;
        this.drop(map, k, v);
      }
    }
  }
}
