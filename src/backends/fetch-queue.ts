// The chunk cache's fetches (chunk-cache.ts): one fetch per granule however many readers want it,
// at most `maxFetches` running at once, taken from a priority queue: the reader's own misses first,
// then the prefetch plan, then read-ahead. Prefetches use at most maxFetches - 1 slots, so a miss
// never waits behind prefetches alone. Queued fetches hold no bytes.

import { BackendError } from "./block-backend.ts";

/** Fetches `length` bytes at `start` (`index` = start / chunkSize, rounded down); resolves with exactly that many bytes. */
export type ChunkFetcher = (index: number, start: number, length: number) => Promise<Uint8Array>;

export enum Priority {
  Demand = 0,
  Plan = 1,
  Ahead = 2,
}

/** One fetch of granules first..first+count-1, queued or running. */
export interface Fetch {
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

/** The counters the queue keeps (the cache's stats). */
interface FetchStats {
  fetches: number;
  prefetches: number;
  bytesFetched: number;
  maxInFlight: number;
}

export interface FetchQueueHooks {
  /** The next run [a, b) of the prefetch plan to fetch, given the granules being fetched ahead now. */
  planned(aheadInFlight: number): [number, number] | undefined;
  /** Granule `i` arrived (fetched ahead of need, or not) and nothing changed it since the fetch was sent. */
  deliver(i: number, data: Uint8Array, ahead: boolean): void;
  /** A prefetch failed (the source may be going away). */
  prefetchFailed(): void;
  /** A fetch settled and the queue started what it could. */
  settled(): void;
}

export class FetchQueue {
  /** The fetch (queued or running) that will deliver each granule. */
  private readonly pending = new Map<number, Fetch>();
  private readonly queues: Fetch[][] = [[], [], []];
  private running = 0;
  private runningAhead = 0;
  /** Granules being fetched ahead now. */
  private aheadInFlight = 0;
  /** A prefetch failed and no fetch succeeded since. */
  private failing = false;

  constructor(
    readonly byteLength: number,
    readonly granule: number,
    readonly chunkSize: number,
    readonly maxFetches: number,
    private readonly fetcher: ChunkFetcher,
    private readonly stats: FetchStats,
    private readonly hooks: FetchQueueHooks,
  ) {}

  /** Fetches queued or under way now. */
  get size(): number {
    return new Set(this.pending.values()).size;
  }

  /** A prefetch failed and no fetch succeeded since (the source may be going away). */
  get ailing(): boolean {
    return this.failing;
  }

  /** The fetch (queued or running) that will deliver granule `i`. */
  get(i: number): Fetch | undefined {
    return this.pending.get(i);
  }

  has(i: number): boolean {
    return this.pending.has(i);
  }

  /** Queues fetches for granules [from, to) (none cached or pending), split at chunk boundaries. */
  enqueue(from: number, to: number, priority: Priority): Fetch[] {
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

  /** A queued prefetch a reader now waits for: it goes with the misses. */
  promote(f: Fetch): void {
    const q = this.queues[f.priority];
    q.splice(q.indexOf(f), 1);
    f.priority = Priority.Demand;
    this.queues[Priority.Demand].push(f);
  }

  /** Starts queued fetches while slots are free: misses first, then the plan, then read-ahead. */
  pump(): void {
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

  private nextPlanned(): Fetch | undefined {
    const run = this.hooks.planned(this.aheadInFlight);
    return run && this.fetchOf(run[0], run[1], Priority.Plan);
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
        this.failing = false;
        for (let i = f.first; i < f.first + f.count; i++) {
          if (this.pending.get(i) !== f || f.stale?.has(i)) continue;
          const at = (i - f.first) * this.granule;
          const g = f.count === 1 ? data : data.slice(at, at + Math.min(this.granule, this.byteLength - i * this.granule));
          this.hooks.deliver(i, g, ahead);
        }
        settle();
        f.resolve(data);
      })
      .catch((e) => {
        settle();
        if (ahead) {
          this.failing = true;
          this.hooks.prefetchFailed();
        }
        f.reject(e);
      })
      .finally(() => {
        this.pump();
        this.hooks.settled();
      });
  }

  /** Drops the fetches queued at priority `p` (those waiting for them fetch again). */
  dropQueued(p: Priority): void {
    for (const f of this.queues[p].splice(0)) {
      for (let i = f.first; i < f.first + f.count; i++) if (this.pending.get(i) === f) this.pending.delete(i);
      f.reject(new BackendError("prefetch dropped", "read"));
    }
  }

  /**
   * Granules first..last changed: fetches under way for them were sent too early, so their
   * answers are not cached and later readers start new ones.
   */
  markStale(first: number, last: number): void {
    for (const [i, f] of this.pending) {
      if (i < first || i > last || !f.started) continue;
      (f.stale ??= new Set()).add(i);
      this.pending.delete(i);
    }
  }
}
