// A set of positions on a disk (blocks, or bytes) kept as sorted, disjoint, non-adjacent
// [start, end) intervals, so marking or clearing a range of any length costs one entry: a
// namespace's uncorrectable blocks (bounded), an overlay's zeroed bytes (unbounded).

export class RangeSet {
  /** Flattened [start, end) pairs, ascending. */
  private r: number[] = [];

  constructor(readonly limit = Infinity) {}

  get size(): number {
    return this.r.length / 2;
  }

  /** Index of the first interval whose end is at or after `pos`. */
  private firstEndingAtOrAfter(pos: number): number {
    let lo = 0;
    let hi = this.r.length / 2;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.r[2 * mid + 1] < pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** True when some block of [start, start + count) is in the set. */
  intersects(start: number, count: number): boolean {
    if (count <= 0 || this.r.length === 0) return false;
    const i = this.firstEndingAtOrAfter(start + 1);
    return i < this.size && this.r[2 * i] < start + count;
  }

  /** True when all of [start, start + count) lies inside one interval. */
  covers(start: number, count: number): boolean {
    const i = this.firstEndingAtOrAfter(start + count);
    return i < this.size && this.r[2 * i] <= start;
  }

  /** Calls `fn` with each interval that overlaps [start, start + count), in order. */
  forEachOverlap(start: number, count: number, fn: (s: number, e: number) => void): void {
    const end = start + count;
    for (let i = this.firstEndingAtOrAfter(start + 1); i < this.size && this.r[2 * i] < end; i++) fn(this.r[2 * i], this.r[2 * i + 1]);
  }

  /** Adds [start, start + count); false (and nothing changed) when that would pass the limit. */
  add(start: number, count: number): boolean {
    if (count <= 0) return true;
    let end = start + count;
    const i = this.firstEndingAtOrAfter(start); // touching intervals merge
    let j = i;
    while (j < this.size && this.r[2 * j] <= end) {
      start = Math.min(start, this.r[2 * j]);
      end = Math.max(end, this.r[2 * j + 1]);
      j++;
    }
    if (this.size - (j - i) + 1 > this.limit) return false;
    this.r.splice(2 * i, 2 * (j - i), start, end);
    return true;
  }

  /** Removes [start, start + count). */
  remove(start: number, count: number): void {
    if (count <= 0 || this.r.length === 0) return;
    const end = start + count;
    const i = this.firstEndingAtOrAfter(start + 1);
    const keep: number[] = [];
    let j = i;
    while (j < this.size && this.r[2 * j] < end) {
      const [s, e] = [this.r[2 * j], this.r[2 * j + 1]];
      if (s < start) keep.push(s, start);
      if (e > end) keep.push(end, e);
      j++;
    }
    this.r.splice(2 * i, 2 * (j - i), ...keep);
  }

  clear(): void {
    this.r = [];
  }

  /** The intervals, flattened, for a snapshot. */
  save(): number[] {
    return this.r.slice();
  }

  /**
   * Takes saved intervals as untrusted input: integers, ascending, disjoint and non-adjacent,
   * inside [0, blocks), at most `limit` of them. Throws naming what is wrong; nothing changes then.
   */
  static check(saved: unknown, blocks: number, limit: number, what: string): number[] {
    if (!Array.isArray(saved) || saved.length % 2 !== 0) throw new Error(`${what} is not a list of ranges`);
    if (saved.length / 2 > limit) throw new Error(`${what} has ${saved.length / 2} ranges (at most ${limit})`);
    for (let i = 0; i < saved.length; i++) {
      const v = saved[i] as unknown;
      const min = i === 0 ? 0 : (saved[i - 1] as number) + 1; // ends after starts, gaps between intervals
      if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > blocks) throw new Error(`${what} has a bad bound ${String(v)}`);
    }
    return saved as number[];
  }

  restore(checked: number[]): void {
    this.r = checked.slice();
  }
}
