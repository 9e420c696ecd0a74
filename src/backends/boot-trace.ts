// A boot trace: the byte ranges of an image that a boot read, in the order it first read them,
// with the image's identity. Written next to the image as `<image>.boot-trace.json`; an HTTP disk
// that finds it streams those ranges ahead of the guest. A trace that does not match the image
// (size, ETag, Last-Modified) or does not parse is ignored with a warning: it only ever costs
// bandwidth, never correctness, since every byte still comes from the image itself.

/** What identifies an image across the recording and the server that serves it. */
export interface ImageIdentity {
  size: number;
  /** HTTP date of the file's modification (servers send it as Last-Modified). */
  lastModified?: string;
  /** A strong ETag, when recorded from a server. */
  etag?: string;
  /** The image's SHA-256 (informative: a server cannot be asked for it). */
  sha256?: string;
}

export interface BootTrace {
  version: 1;
  image: ImageIdentity;
  /** Granule of the recording: every range is a multiple of it (but the image's tail). */
  granule: number;
  /** [offset, length] in first-touch order, adjacent ones coalesced. */
  ranges: [number, number][];
}

/** Notes reads and keeps the granules they touched, in the order first touched. */
export class BootTraceRecorder {
  private readonly seen = new Set<number>();
  readonly ranges: [number, number][] = [];

  constructor(readonly imageSize: number, readonly granule = 4096) {}

  note(offset: number, length: number): void {
    if (length <= 0) return;
    const last = Math.floor((Math.min(offset + length, this.imageSize) - 1) / this.granule);
    for (let i = Math.floor(offset / this.granule); i <= last; i++) {
      if (this.seen.has(i)) continue;
      this.seen.add(i);
      const start = i * this.granule;
      const len = Math.min(this.granule, this.imageSize - start);
      const prev = this.ranges[this.ranges.length - 1];
      if (prev && prev[0] + prev[1] === start) prev[1] += len;
      else this.ranges.push([start, len]);
    }
  }

  /** Bytes recorded. */
  get bytes(): number {
    return this.seen.size * this.granule;
  }

  trace(image: Omit<ImageIdentity, "size">): BootTrace {
    return { version: 1, image: { size: this.imageSize, ...image }, granule: this.granule, ranges: this.ranges };
  }
}

/** The trace's ranges when `json` is a valid trace of `image`, else why not. */
export function checkBootTrace(json: unknown, image: ImageIdentity): [number, number][] | string {
  const t = json as Partial<BootTrace> | null;
  if (!t || typeof t !== "object" || t.version !== 1 || !t.image || typeof t.image !== "object" || !Array.isArray(t.ranges)) {
    return "not a boot trace (version 1 with image and ranges)";
  }
  const size = t.image.size;
  if (size !== image.size) return `it was recorded for an image of ${size} bytes, this one has ${image.size}`;
  if (t.image.etag && image.etag && t.image.etag !== image.etag) return `it was recorded for ETag ${t.image.etag}, the image has ${image.etag}`;
  if (t.image.lastModified && image.lastModified && Date.parse(t.image.lastModified) !== Date.parse(image.lastModified)) {
    return `it was recorded for the image of ${t.image.lastModified}, the server has ${image.lastModified}`;
  }
  for (const r of t.ranges) {
    if (!Array.isArray(r) || r.length !== 2 || !Number.isSafeInteger(r[0]) || !Number.isSafeInteger(r[1]) || r[0] < 0 || r[1] <= 0 || r[0] + r[1] > size) {
      return `range ${JSON.stringify(r)} is not [offset, length] inside the image`;
    }
  }
  return t.ranges as [number, number][];
}
