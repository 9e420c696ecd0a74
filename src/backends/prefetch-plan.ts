// The chunk cache's prefetch plan (a boot trace): granules in the order a reader is expected to
// want them, handed out in runs ahead of the furthest point of the plan a reader reached, and the
// room the cache gets on top of its budget while the plan runs.

export class PrefetchPlan {
  /** Granules in the order a reader is expected to want them. */
  private plan: number[] = [];
  /** Each planned granule's place in the plan. */
  private readonly pos = new Map<number, number>();
  /** Next plan entry to fetch. */
  private next = 0;
  /** One past the furthest entry a reader touched. */
  private reached = 0;
  /** Granules the plan runs ahead of the reader, and most granules fetched ahead and not read yet. */
  private lead = 0;
  /** Bytes the cache may hold beyond its budget while the plan runs. */
  private extra = 0;
  /** Granules of the plan fetched ahead, cached and not read yet. */
  private unread = 0;

  constructor(
    readonly byteLength: number,
    readonly granule: number,
    /** Granules per chunk. */
    private readonly perChunk: number,
    /** Chunks one run may span where the plan runs on along the disk. */
    private readonly span: number,
  ) {}

  /** Granules of the plan still to fetch. */
  get remaining(): number {
    return this.plan.length - this.next;
  }

  /** Bytes the cache may hold beyond its budget now. */
  get room(): number {
    return this.extra;
  }

  /**
   * Plans `ranges` (byte offset and length, in order), at most `leadBytes` ahead of the reader,
   * with `extraBytes` of room while it runs. Replaces any earlier plan.
   */
  set(ranges: readonly (readonly [number, number])[], leadBytes: number, extraBytes: number): void {
    this.plan = [];
    this.pos.clear();
    this.unread = 0;
    for (const [start, length] of ranges) {
      if (!(length > 0) || !(start >= 0) || start >= this.byteLength) continue;
      const last = Math.floor((Math.min(start + length, this.byteLength) - 1) / this.granule);
      for (let i = Math.floor(start / this.granule); i <= last; i++) {
        if (this.pos.has(i)) continue;
        this.pos.set(i, this.plan.length);
        this.plan.push(i);
      }
    }
    this.next = this.reached = 0;
    this.lead = Math.max(1, Math.floor(leadBytes / this.granule));
    this.extra = this.plan.length ? Math.max(0, extraBytes) : 0;
  }

  /** Drops the plan (a prefetch failed: it is for one boot) and its room. */
  drop(): void {
    this.plan = [];
    this.pos.clear();
    this.next = this.reached = 0;
    this.extra = 0;
    this.unread = 0;
  }

  /** The cache dropped every granule: none of the plan waits unread. */
  forgetUnread(): void {
    this.unread = 0;
  }

  /** Granule `i` fetched ahead became unread (+1) or stopped being so (-1). */
  noteUnread(i: number, delta: 1 | -1): void {
    if (this.pos.has(i)) this.unread += delta;
  }

  /** The plan is done once all of it was fetched and read (or dropped): true when its room goes now. */
  settle(): boolean {
    if (this.extra === 0 || this.next < this.plan.length || this.unread > 0) return false;
    this.extra = 0;
    return true;
  }

  /** Notes a read of granules first..last; true when the plan foresaw some of them. */
  reach(first: number, last: number): boolean {
    if (!this.plan.length) return false;
    let planned = false;
    let reached = this.reached;
    for (let i = first; i <= last; i++) {
      const p = this.pos.get(i);
      if (p === undefined) continue;
      planned = true;
      if (p >= reached) reached = p + 1;
    }
    this.reached = reached;
    return planned;
  }

  /**
   * The next run [a, b) of planned granules not `busy` (cached or being fetched), within the lead.
   * The lead also caps what was fetched ahead and not read yet (`aheadNow` granules): a reader that
   * strays from the plan's order (or jumps far into it) must not make the plan outrun the cache,
   * which would evict prefetched granules unread and fetch them twice.
   */
  nextRun(aheadNow: number, busy: (i: number) => boolean): [number, number] | undefined {
    if (aheadNow >= this.lead) return undefined;
    while (this.next < this.plan.length && this.next < this.reached + this.lead) {
      const a = this.plan[this.next++];
      if (busy(a)) continue;
      let b = a + 1;
      const end = (Math.floor(a / this.perChunk) + this.span) * this.perChunk;
      while (b < end && this.plan[this.next] === b && !busy(b)) {
        b++;
        this.next++;
      }
      return [a, b];
    }
    return undefined;
  }
}
