// The chunk cache's read-ahead: sequential reading detected by byte offset, whatever the read size
// and alignment, and how far ahead of a sequential reader to fetch.

/** A read that starts at most this many bytes after the previous one ended continues a streak. */
const SEQUENTIAL_GAP = 64 * 1024;

export class ReadAhead {
  /** The previous read. */
  private lastStart = NaN;
  private lastEnd = NaN;
  /** Reads in the current sequential streak after its first (0: no streak). */
  private streak = 0;
  /** Where the current sequential streak began. */
  private streakStart = 0;

  constructor(
    readonly byteLength: number,
    readonly chunkSize: number,
    /** Window cap in chunks (0: off). */
    readonly chunks: number,
  ) {}

  /**
   * Notes a read of [offset, offset+length): starting where the last read ended (or a small gap
   * after it) continues a streak; reading within the last read again is neutral; anything else is
   * a jump, and then true is returned (read-ahead not yet sent is no longer wanted).
   */
  note(offset: number, length: number): boolean {
    const end = offset + length;
    const within = offset >= this.lastStart && offset < this.lastEnd;
    let jump = false;
    if (offset >= this.lastEnd && offset <= this.lastEnd + SEQUENTIAL_GAP) this.streak++;
    else if (!within) {
      this.streak = 0;
      this.streakStart = offset;
      jump = true;
    }
    this.lastStart = offset;
    this.lastEnd = within ? Math.max(this.lastEnd, end) : end;
    return jump;
  }

  /** Ends the streak (read-ahead resumes with the next sequential read). */
  reset(): void {
    this.streak = 0;
  }

  /**
   * The byte offset to read ahead to after a read that ended at `end`, or undefined when there is
   * no streak (or read-ahead is off). The window is a chunk, or twice what the streak has read so
   * far, up to the cap (so a short run costs little and a long one soon streams); its end is
   * rounded down to a chunk boundary, so read-ahead goes out in whole chunks however small the
   * reads that move it.
   */
  reach(end: number): number | undefined {
    if (this.chunks === 0 || this.streak === 0) return undefined;
    const window = Math.min(this.chunks * this.chunkSize, Math.max(this.chunkSize, 2 * (end - this.streakStart)));
    return end + window >= this.byteLength ? this.byteLength : Math.floor((end + window) / this.chunkSize) * this.chunkSize;
  }
}
