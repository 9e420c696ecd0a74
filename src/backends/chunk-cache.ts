// A read-only byte source fetched in pieces: an LRU cache of granules held to a byte budget, one
// fetch per granule however many readers want it at once, and prefetching ahead of the reader.
// Granules fetched ahead wait apart from the recency order until first read, and are evicted
// only after every granule already read. Cached bytes are served synchronously by tryRead().
// Where the bytes come from (a Blob, HTTP ranges, part files) is the fetcher's business.
//
// Fetch sizes adapt to the access pattern: a reader's miss fetches just the granules it lacks, so
// scattered small reads do not pull whole chunks; read-ahead for a sequential reader (detected by
// byte offset, whatever the read size and alignment) and a prefetch plan (a boot trace) fetch up
// to a chunk per request (the plan up to planSpan chunks where it runs on along the disk). Fetches
// never cross a chunk boundary otherwise, so with granule = chunk and planSpan 1 every fetch is
// exactly one aligned chunk (what pre-split part files need).
//
// At most `maxFetches` fetches run at once, taken from a priority queue: the reader's own misses
// first, then the plan, then read-ahead; prefetches use at most maxFetches - 1 slots, so a miss
// never waits behind prefetches alone. Memory is bounded by cacheBytes (cached granules) plus
// maxFetches × chunkSize × planSpan (fetches under way), plus the plan's own room while a plan
// runs; queued fetches hold no bytes.

import { BackendError, type ReadSource } from "./block-backend.ts";

/** Fetches `length` bytes at `start` (`index` = start / chunkSize, rounded down); resolves with exactly that many bytes. */
export type ChunkFetcher = (index: number, start: number, length: number) => Promise<Uint8Array>;

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

const enum Priority {
  Demand = 0,
  Plan = 1,
  Ahead = 2,
}

/** One fetch of granules first..first+count-1, queued or running. */
interface Fetch {
  first: number;
  count: number;
  priority: Priority;
  /** Asked for ahead of need: a failure is not the reader's, who then fetches again. */
  readonly ahead: boolean;
  started: boolean;
  /** Granules changed since the fetch was sent: answered to those waiting, not cached. */
  stale?: Set<number>;
  promise: Promise<Uint8Array>;
  resolve(data: Uint8Array): void;
  reject(e: unknown): void;
}

/** A read that starts at most this many bytes after the previous one ended continues a streak. */
const SEQUENTIAL_GAP = 64 * 1024;

export class ChunkCache implements ReadSource {
  readonly chunkSize: number;
  readonly granule: number;
  readonly cacheBytes: number;
  /** Read-ahead window cap in chunks (clamped so prefetches do not evict what is being read). */
  readonly readAhead: number;
  readonly maxFetches: number;
  readonly planSpan: number;
  readonly stats: ChunkCacheStats = { fetches: 0, prefetches: 0, hits: 0, misses: 0, bytesFetched: 0, unreadBytes: 0, maxInFlight: 0 };
  /** Granules a reader has read; insertion order is recency order: the first is the least recently used. */
  private readonly granules = new Map<number, Uint8Array>();
  /**
   * Granules fetched ahead and not read yet, oldest first. Kept apart from the recency order: a
   * reader working through what was fetched ahead makes it recent, and what waits for it would
   * otherwise be the oldest and go first.
   */
  private readonly ahead = new Map<number, Uint8Array>();
  private aheadBytes = 0;
  /** The fetch (queued or running) that will deliver each granule. */
  private readonly pending = new Map<number, Fetch>();
  private readonly queues: Fetch[][] = [[], [], []];
  private running = 0;
  private runningAhead = 0;
  /** Granules being fetched ahead now. */
  private aheadInFlight = 0;
  private cachedBytes = 0;
  /** The previous read, for sequential detection. */
  private lastStart = NaN;
  private lastEnd = NaN;
  private streak = 0;
  /** Where the current sequential streak began. */
  private streakStart = 0;
  /** A prefetch failed and no fetch succeeded since: no read-ahead (the source may be going away). */
  private ailing = false;
  /** The prefetch plan: granules in the order a reader is expected to want them. */
  private plan: number[] = [];
  private planPos = new Map<number, number>();
  /** Next plan entry to fetch; one past the furthest entry a reader touched. */
  private planNext = 0;
  private planReached = 0;
  private planLead = 0;
  /** Bytes the cache may hold beyond cacheBytes while the plan runs. */
  private planRoom = 0;
  /** Granules of the plan fetched ahead, cached and not read yet. */
  private planUnread = 0;

  constructor(readonly byteLength: number, private readonly fetcher: ChunkFetcher, o: ChunkCacheOptions) {
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
  }

  /** Bytes held by cached granules now. */
  get residentBytes(): number {
    return this.cachedBytes;
  }

  /** Fetches queued or under way now. */
  get pendingFetches(): number {
    return new Set(this.pending.values()).size;
  }

  private check(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.byteLength) {
      throw new RangeError(`range ${offset}+${length} outside ${this.byteLength} bytes`);
    }
  }

  private granuleLength(i: number): number {
    return Math.min(this.granule, this.byteLength - i * this.granule);
  }

  /** Copies the part of granule `i` (bytes `g`) inside [offset, offset + out.length) into `out`. */
  private copy(i: number, g: Uint8Array, offset: number, out: Uint8Array): void {
    const base = i * this.granule;
    const from = Math.max(offset, base);
    const to = Math.min(offset + out.length, base + g.length);
    out.set(g.subarray(from - base, to - base), from - offset);
  }

  private has(i: number): boolean {
    return this.granules.has(i) || this.ahead.has(i);
  }

  tryRead(offset: number, dst: Uint8Array): boolean {
    this.check(offset, dst.length);
    if (dst.length === 0) return true;
    const first = Math.floor(offset / this.granule);
    const last = Math.floor((offset + dst.length - 1) / this.granule);
    for (let i = first; i <= last; i++) if (!this.has(i)) return false;
    for (let i = first; i <= last; i++) this.copy(i, this.touch(i)!, offset, dst);
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
      for (const f of this.enqueue(run, end, Priority.Demand)) waits.push(this.await(f, offset, out, false));
      run = -1;
    };
    for (let i = first; i <= last; i++) {
      const g = this.touch(i);
      if (g) {
        flush(i);
        this.copy(i, g, offset, out);
        continue;
      }
      const f = this.pending.get(i);
      if (f) {
        flush(i);
        if (!f.started && f.priority !== Priority.Demand) this.promote(f);
        waits.push(this.await(f, offset, out, retry, i));
      } else if (run < 0) run = i;
    }
    flush(last + 1);
    this.pump();
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
          this.copy(i, data.subarray(at, at + this.granuleLength(i)), offset, out);
          this.touch(i); // a prefetch the reader joined: read now
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
    this.granules.clear();
    this.ahead.clear(); // dropped unread: stays counted in unreadBytes
    this.aheadBytes = 0;
    this.planUnread = 0;
    this.cachedBytes = 0;
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
    this.plan = [];
    this.planPos.clear();
    this.planUnread = 0;
    for (const [start, length] of ranges) {
      if (!(length > 0) || !(start >= 0) || start >= this.byteLength) continue;
      const last = Math.floor((Math.min(start + length, this.byteLength) - 1) / this.granule);
      for (let i = Math.floor(start / this.granule); i <= last; i++) {
        if (this.planPos.has(i)) continue;
        this.planPos.set(i, this.plan.length);
        this.plan.push(i);
      }
    }
    this.planNext = this.planReached = 0;
    this.planLead = Math.max(1, Math.floor(leadBytes / this.granule));
    this.planRoom = this.plan.length ? Math.max(0, extraBytes) : 0;
    this.pump();
  }

  /** Most bytes of granules kept now: the budget, plus the plan's room while it runs. */
  private get capacity(): number {
    return this.cacheBytes + this.planRoom;
  }

  /** The plan is done once all of it was fetched and read (or dropped): its room goes. */
  private planSettled(): void {
    if (this.planRoom === 0 || this.planNext < this.plan.length || this.planUnread > 0) return;
    this.planRoom = 0;
    this.evict();
  }

  /** Granules of the plan still to fetch. */
  get planRemaining(): number {
    return this.plan.length - this.planNext;
  }

  /** The cached granule `i`, marked read and most recently used, or undefined. */
  private touch(i: number): Uint8Array | undefined {
    let g = this.granules.get(i);
    if (g) this.granules.delete(i);
    else {
      g = this.ahead.get(i);
      if (!g) return undefined;
      this.ahead.delete(i);
      this.aheadBytes -= g.length;
      this.stats.unreadBytes -= g.length;
      if (this.planPos.has(i)) this.planUnread--;
    }
    this.granules.set(i, g);
    return g;
  }

  /** Queues fetches for granules [from, to) (none cached or pending), split at chunk boundaries. */
  private enqueue(from: number, to: number, priority: Priority): Fetch[] {
    const perChunk = this.chunkSize / this.granule;
    const made: Fetch[] = [];
    for (let a = from; a < to; ) {
      const b = Math.min(to, (Math.floor(a / perChunk) + 1) * perChunk);
      const f = this.fetchOf(a, b, priority);
      this.queues[priority].push(f);
      made.push(f);
      a = b;
    }
    return made;
  }

  /** A fetch of granules [a, b), noted as pending for each (not queued). */
  private fetchOf(a: number, b: number, priority: Priority): Fetch {
    let resolve!: (d: Uint8Array) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<Uint8Array>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => {}); // a prefetch nobody waits for may fail unseen
    const f: Fetch = { first: a, count: b - a, priority, ahead: priority !== Priority.Demand, started: false, promise, resolve, reject };
    for (let i = a; i < b; i++) this.pending.set(i, f);
    return f;
  }

  private promote(f: Fetch): void {
    const q = this.queues[f.priority];
    q.splice(q.indexOf(f), 1);
    f.priority = Priority.Demand;
    this.queues[Priority.Demand].push(f);
  }

  /** Starts queued fetches while slots are free: misses first, then the plan, then read-ahead. */
  private pump(): void {
    for (;;) {
      if (this.running >= this.maxFetches) return;
      let f = this.queues[Priority.Demand].shift();
      if (!f) {
        const aheadSlots = this.maxFetches > 1 ? this.maxFetches - 1 : 1;
        if (this.runningAhead >= aheadSlots) return;
        f = this.queues[Priority.Plan].shift() ?? this.nextPlanned() ?? this.queues[Priority.Ahead].shift();
        if (!f) return;
      }
      this.start(f);
    }
  }

  /**
   * The next run of planned granules not cached or pending, within the lead. The lead also caps
   * what was fetched ahead and not read yet: a reader that strays from the plan's order (or jumps
   * far into it) must not make the plan outrun the cache, which would evict prefetched granules
   * unread and fetch them twice.
   */
  private nextPlanned(): Fetch | undefined {
    const perChunk = this.chunkSize / this.granule;
    if (this.ahead.size + this.aheadInFlight >= this.planLead) return undefined;
    while (this.planNext < this.plan.length && this.planNext < this.planReached + this.planLead) {
      const a = this.plan[this.planNext++];
      if (this.has(a) || this.pending.has(a)) continue;
      let b = a + 1;
      const end = (Math.floor(a / perChunk) + this.planSpan) * perChunk;
      while (b < end && this.plan[this.planNext] === b && !this.has(b) && !this.pending.has(b)) {
        b++;
        this.planNext++;
      }
      return this.fetchOf(a, b, Priority.Plan);
    }
    return undefined;
  }

  private start(f: Fetch): void {
    f.started = true;
    const ahead = f.priority !== Priority.Demand;
    this.running++;
    if (ahead) {
      this.runningAhead++;
      this.aheadInFlight += f.count;
    }
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.running);
    if (ahead) this.stats.prefetches++;
    else this.stats.fetches++;
    const start = f.first * this.granule;
    const length = Math.min(f.count * this.granule, this.byteLength - start);
    const settle = () => {
      this.running--;
      if (ahead) {
        this.runningAhead--;
        this.aheadInFlight -= f.count;
      }
      for (let i = f.first; i < f.first + f.count; i++) if (this.pending.get(i) === f) this.pending.delete(i);
    };
    let call: Promise<Uint8Array>;
    try {
      call = this.fetcher(Math.floor(start / this.chunkSize), start, length);
    } catch (e) {
      call = Promise.reject(e);
    }
    call
      .then((data) => {
        if (data.length !== length) throw new BackendError(`bytes ${start}+${length}: got ${data.length} bytes`, "read");
        this.stats.bytesFetched += length;
        this.ailing = false;
        for (let i = f.first; i < f.first + f.count; i++) {
          if (this.pending.get(i) !== f || f.stale?.has(i)) continue;
          const at = (i - f.first) * this.granule;
          const g = f.count === 1 ? data : data.slice(at, at + this.granuleLength(i));
          this.insert(i, g, ahead);
        }
        settle();
        f.resolve(data);
      })
      .catch((e) => {
        settle();
        if (ahead) this.prefetchFailed();
        f.reject(e);
      })
      .finally(() => {
        this.pump();
        this.planSettled();
      });
  }

  /**
   * A prefetch failed (the source may be going away): drop the plan (it is for one boot) and pause
   * read-ahead until a fetch succeeds again; readers fetch on demand meanwhile.
   */
  private prefetchFailed(): void {
    this.ailing = true;
    this.plan = [];
    this.planPos.clear();
    this.planNext = this.planReached = 0;
    this.planRoom = 0;
    this.planUnread = 0;
    this.evict();
    this.streak = 0;
    this.dropQueued(Priority.Ahead);
  }

  private dropQueued(p: Priority): void {
    for (const f of this.queues[p].splice(0)) {
      for (let i = f.first; i < f.first + f.count; i++) if (this.pending.get(i) === f) this.pending.delete(i);
      f.reject(new BackendError("prefetch dropped", "read"));
    }
  }

  /**
   * The bytes at [offset, offset+length) changed to `src` (null: zeros, undefined: unknown).
   * Cached granules are patched (or dropped when the new bytes are unknown); fetches under way
   * were asked too early, so later readers start new ones and their answers are not cached.
   * For sources that are not read-only: the fetcher must see every change made before it is called.
   */
  update(offset: number, length: number, src?: Uint8Array | null): void {
    if (length <= 0) return;
    const end = offset + length;
    const first = Math.floor(offset / this.granule);
    const last = Math.floor((end - 1) / this.granule);
    for (const [i, f] of this.pending) {
      if (i < first || i > last || !f.started) continue;
      (f.stale ??= new Set()).add(i);
      this.pending.delete(i);
    }
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
    if (this.planPos.has(i)) this.planUnread--;
  }

  private insert(i: number, data: Uint8Array, ahead: boolean): void {
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
      if (this.planPos.has(i)) this.planUnread++;
    } else this.granules.set(i, data);
    this.cachedBytes += data.length;
    this.evict();
  }

  /**
   * Drops granules down to the capacity: read ones, least recently used first, then (only when no
   * read one is left) the oldest of those fetched ahead. What was fetched ahead is held to half the
   * budget plus the plan's room first: read-ahead that was never read must not crowd out the
   * cache over time. At least one granule is always kept.
   */
  private evict(): void {
    for (const [k, v] of this.ahead) {
      if (this.aheadBytes <= this.cacheBytes / 2 + this.planRoom || this.granules.size + this.ahead.size <= 1) break;
      this.drop(this.ahead, k, v);
    }
    for (const map of [this.granules, this.ahead]) {
      for (const [k, v] of map) {
        if (this.cachedBytes <= this.capacity || this.granules.size + this.ahead.size <= 1) return;
        this.drop(map, k, v);
      }
    }
  }

  /** Notes a read of [offset, offset+length) (granules first..last): plan progress, sequential streak, read-ahead. */
  private accessed(offset: number, length: number, first: number, last: number): void {
    let planned = false;
    if (this.plan.length) {
      let reached = this.planReached;
      for (let i = first; i <= last; i++) {
        const p = this.planPos.get(i);
        if (p === undefined) continue;
        planned = true;
        if (p >= reached) reached = p + 1;
      }
      // Progress, or a prefetched granule read (which frees room under the lead).
      if (reached !== this.planReached || planned) {
        this.planReached = reached;
        this.pump();
        this.planSettled();
      }
    }
    const end = offset + length;
    // Starting where the last read ended (or a small gap after it) continues a streak; reading
    // within the last read again is neutral; anything else is a jump.
    const within = offset >= this.lastStart && offset < this.lastEnd;
    if (offset >= this.lastEnd && offset <= this.lastEnd + SEQUENTIAL_GAP) this.streak++;
    else if (!within) {
      this.streak = 0;
      this.streakStart = offset;
      this.dropQueued(Priority.Ahead);
    }
    this.lastStart = offset;
    this.lastEnd = within ? Math.max(this.lastEnd, end) : end;
    // Reads the plan foresaw need no guessing.
    if (this.readAhead === 0 || this.streak === 0 || this.ailing || planned) return;
    // The window is a chunk, or twice what the streak has read so far, up to the cap (so a short
    // run costs little and a long one soon streams); its end is rounded down to a chunk boundary,
    // so read-ahead goes out in whole chunks however small the reads that move it.
    const window = Math.min(this.readAhead * this.chunkSize, Math.max(this.chunkSize, 2 * (end - this.streakStart)));
    const reach = end + window >= this.byteLength ? this.byteLength : Math.floor((end + window) / this.chunkSize) * this.chunkSize;
    const stop = Math.ceil(reach / this.granule);
    let run = -1;
    for (let i = last + 1; i <= stop; i++) {
      const have = i === stop || this.has(i) || this.pending.has(i);
      if (have && run >= 0) {
        this.enqueue(run, i, Priority.Ahead);
        run = -1;
      } else if (!have && run < 0) run = i;
    }
    this.pump();
  }
}
