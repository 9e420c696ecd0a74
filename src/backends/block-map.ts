// Which blocks of a persistent disk live in its data file, which read as zeros, and which still
// come from the base image: two bitmaps behind a small header, kept in memory as the bytes of
// the map file itself so that persisting it means writing the pages that changed.
//
// Map file layout (little endian):
//   0    "v86-nvme-opfs\0\0\0"   magic, 16 bytes
//   16   u32 format version (1)
//   20   u32 block size (granule) in bytes
//   24   f64 disk size in bytes
//   32   u32 flags: 1 = has a base image, 2 = detached (every block copied, base no longer needed)
//   36   u32 length of the base identity in bytes, then the identity (UTF-8) from 40, < 4040 bytes
//   4080 u32 erase under way: 0 none, 1 Format NVM, 2 sanitize (durable before the erase starts,
//        cleared in the same header write that follows the erased bitmaps: see EraseJournal)
//   4084 u32 CDW10 of the sanitize under way
//   4088 u32 1 when a sanitize completed on this disk, then 4092 u32 its CDW10
//   4096 present bitmap: bit b of byte b>>3 (LSB first) = block b is in the data file
//   ...  zeroed bitmap, same size: block b reads as zeros (discarded or zeroed over a base)
// Each bitmap is padded to a whole number of 4 KiB pages. A block present and zeroed at once reads
// from the data file: a page written with both its old and new bits set (opfs-protocol.ts does,
// before clearing bits) shows each block as it was or as it becomes, never as the base.

const MAGIC = "v86-nvme-opfs\0\0\0";
const VERSION = 1;
export const MAP_PAGE = 4096;
const HEADER = MAP_PAGE;
const FLAG_BASE = 1;
const FLAG_DETACHED = 2;
const JOURNAL_AT = 4080;
const MAX_BASE_ID = JOURNAL_AT - 40;

/** Where a block's bytes come from. */
export const FROM_BASE = 0;
export const FROM_FILE = 1;
export const FROM_ZERO = 2;
export type BlockSource = typeof FROM_BASE | typeof FROM_FILE | typeof FROM_ZERO;

/** An erase a crash may cut short, and the last sanitize this disk went through. */
export interface EraseJournal {
  underway: "none" | "format" | "sanitize";
  /** CDW10 of the sanitize under way. */
  cdw10: number;
  /** CDW10 of the last sanitize that completed here, if any. */
  sanitized?: number;
}

const UNDERWAY = ["none", "format", "sanitize"] as const;

export interface MapHeader {
  blockSize: number;
  byteLength: number;
  hasBase: boolean;
  detached: boolean;
  baseId: string;
}

/** A map page to persist: its offset in the map file and a copy of its bytes. */
export interface MapPageWrite {
  offset: number;
  data: ArrayBuffer;
}

export class BlockMap {
  readonly blocks: number;
  readonly bitmapBytes: number;
  /** The whole map file. */
  readonly bytes: Uint8Array;
  private readonly dirty = new Set<number>();
  private readonly presentAt = HEADER;
  private readonly zeroedAt: number;
  private j: EraseJournal = { underway: "none", cdw10: 0 };

  private constructor(readonly header: MapHeader, bytes?: Uint8Array) {
    if (!Number.isSafeInteger(header.blockSize) || header.blockSize < 512 || header.blockSize % 512 !== 0) {
      throw new Error(`block map: bad block size ${header.blockSize}`);
    }
    if (!Number.isSafeInteger(header.byteLength) || header.byteLength <= 0 || header.byteLength % header.blockSize !== 0) {
      throw new Error(`block map: size ${header.byteLength} is not a positive multiple of ${header.blockSize}`);
    }
    this.blocks = header.byteLength / header.blockSize;
    this.bitmapBytes = Math.ceil(Math.ceil(this.blocks / 8) / MAP_PAGE) * MAP_PAGE;
    this.zeroedAt = HEADER + this.bitmapBytes;
    const size = HEADER + 2 * this.bitmapBytes;
    if (bytes) {
      if (bytes.length < size) throw new Error(`block map: file holds ${bytes.length} bytes, expected ${size}`);
      this.bytes = bytes.length === size ? bytes : bytes.slice(0, size);
      this.j = this.readJournal();
    } else {
      this.bytes = new Uint8Array(size);
      this.writeHeader();
      for (let p = 0; p < size / MAP_PAGE; p++) this.dirty.add(p);
    }
  }

  /** A new, empty map. */
  static create(h: MapHeader): BlockMap {
    if (new TextEncoder().encode(h.baseId).length > MAX_BASE_ID) throw new Error("block map: base identity too long");
    return new BlockMap({ ...h });
  }

  /** Reads a map file; undefined when it holds no map (a new disk). */
  static parse(bytes: Uint8Array): BlockMap | undefined {
    // No header yet: a new disk, or one whose creation a crash cut short (the header is written last).
    if (bytes.length < HEADER || bytes.subarray(0, 16).every((x) => x === 0)) return undefined;
    const magic = new TextDecoder().decode(bytes.subarray(0, 16));
    if (magic !== MAGIC) throw new Error("block map: not a v86-nvme disk map");
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const version = dv.getUint32(16, true);
    if (version !== VERSION) throw new Error(`block map: format version ${version}, expected ${VERSION}`);
    const flags = dv.getUint32(32, true);
    const idLength = dv.getUint32(36, true);
    if (idLength > HEADER - 40) throw new Error("block map: corrupt header");
    return new BlockMap(
      {
        blockSize: dv.getUint32(20, true),
        byteLength: dv.getFloat64(24, true),
        hasBase: (flags & FLAG_BASE) !== 0,
        detached: (flags & FLAG_DETACHED) !== 0,
        baseId: new TextDecoder().decode(bytes.subarray(40, 40 + idLength)),
      },
      bytes,
    );
  }

  /** Disks made before the journal hold zeros there (nothing under way); a longer base identity left no room for it. */
  private readJournal(): EraseJournal {
    const dv = new DataView(this.bytes.buffer, this.bytes.byteOffset, HEADER);
    if (dv.getUint32(36, true) > MAX_BASE_ID) return { underway: "none", cdw10: 0 };
    const kind = UNDERWAY[dv.getUint32(JOURNAL_AT, true)];
    if (!kind) throw new Error("block map: corrupt erase journal");
    const done = dv.getUint32(JOURNAL_AT + 8, true) === 1;
    return { underway: kind, cdw10: dv.getUint32(JOURNAL_AT + 4, true), ...(done ? { sanitized: dv.getUint32(JOURNAL_AT + 12, true) } : {}) };
  }

  /** The erase journal as the map holds it (persisted with the header page, which goes last). */
  get journal(): EraseJournal {
    return { ...this.j };
  }

  set journal(j: EraseJournal) {
    this.j = { ...j };
    this.writeHeader();
  }

  private writeHeader(): void {
    const h = this.header;
    this.bytes.fill(0, 0, HEADER);
    this.bytes.set(new TextEncoder().encode(MAGIC), 0);
    const dv = new DataView(this.bytes.buffer, this.bytes.byteOffset, HEADER);
    dv.setUint32(16, VERSION, true);
    dv.setUint32(20, h.blockSize, true);
    dv.setFloat64(24, h.byteLength, true);
    dv.setUint32(32, (h.hasBase ? FLAG_BASE : 0) | (h.detached ? FLAG_DETACHED : 0), true);
    const id = new TextEncoder().encode(h.baseId);
    dv.setUint32(36, id.length, true);
    this.bytes.set(id, 40);
    dv.setUint32(JOURNAL_AT, UNDERWAY.indexOf(this.j.underway), true);
    dv.setUint32(JOURNAL_AT + 4, this.j.cdw10 >>> 0, true);
    dv.setUint32(JOURNAL_AT + 8, this.j.sanitized === undefined ? 0 : 1, true);
    dv.setUint32(JOURNAL_AT + 12, (this.j.sanitized ?? 0) >>> 0, true);
    this.dirty.add(0);
  }

  /** Marks the disk as no longer needing its base (every block copied). */
  detach(): void {
    this.header.detached = true;
    this.writeHeader();
  }

  private bit(at: number, b: number): boolean {
    return ((this.bytes[at + (b >>> 3)] >>> (b & 7)) & 1) === 1;
  }

  /** Sets or clears bits [first, first+count) of the bitmap at `at`, marking pages dirty. */
  private setBits(at: number, first: number, count: number, on: boolean): void {
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(count) || first < 0 || count < 0 || first + count > this.blocks) {
      throw new RangeError(`block map: blocks ${first}+${count} outside ${this.blocks}`);
    }
    if (count === 0) return;
    const end = first + count;
    let b = first;
    const one = (x: number) => {
      const i = at + (x >>> 3);
      const m = 1 << (x & 7);
      this.bytes[i] = on ? this.bytes[i] | m : this.bytes[i] & ~m;
    };
    while (b < end && (b & 7) !== 0) one(b++);
    const fullEnd = end - (end & 7);
    if (b < fullEnd) {
      this.bytes.fill(on ? 0xff : 0, at + (b >>> 3), at + (fullEnd >>> 3));
      b = fullEnd;
    }
    while (b < end) one(b++);
    const p0 = Math.floor((at + (first >>> 3)) / MAP_PAGE);
    const p1 = Math.floor((at + ((end - 1) >>> 3)) / MAP_PAGE);
    for (let p = p0; p <= p1; p++) this.dirty.add(p);
  }

  /** Where block `b` is read from. */
  source(b: number): BlockSource {
    if (this.bit(this.presentAt, b)) return FROM_FILE;
    if (!this.header.hasBase || this.header.detached || this.bit(this.zeroedAt, b)) return FROM_ZERO;
    return FROM_BASE;
  }

  /** Blocks [first, first+count) now live in the data file. */
  setFile(first: number, count: number): void {
    this.setBits(this.presentAt, first, count, true);
    if (this.header.hasBase) this.setBits(this.zeroedAt, first, count, false);
  }

  /** Blocks [first, first+count) now read as zeros. */
  setZero(first: number, count: number): void {
    this.setBits(this.presentAt, first, count, false);
    if (this.header.hasBase && !this.header.detached) this.setBits(this.zeroedAt, first, count, true);
  }

  /** Blocks [first, first+count) come from the base again (a copy of them failed). */
  setBase(first: number, count: number): void {
    this.setBits(this.presentAt, first, count, false);
    this.setBits(this.zeroedAt, first, count, false);
  }

  /** Calls fn for each run of blocks in [first, first+count) with one source. */
  runs(first: number, count: number, fn: (src: BlockSource, start: number, n: number) => void): void {
    let start = first;
    let cur = count > 0 ? this.source(first) : FROM_ZERO;
    for (let b = first + 1; b <= first + count; b++) {
      const s = b < first + count ? this.source(b) : -1;
      if (s !== cur) {
        fn(cur, start, b - start);
        start = b;
        cur = s as BlockSource;
      }
    }
  }

  /** Number of blocks in [first, first+count) whose source is `src`. */
  count(first: number, count: number, src: BlockSource): number {
    let n = 0;
    this.runs(first, count, (s, _st, k) => {
      if (s === src) n += k;
    });
    return n;
  }

  /** Whether any map page changed since the last takeDirty(). */
  get isDirty(): boolean {
    return this.dirty.size > 0;
  }

  /** Copies of every changed page (forgotten as changed); give them back with markDirty() if persisting fails. */
  takeDirty(): MapPageWrite[] {
    const out = [...this.dirty].sort((a, b) => a - b).map((p) => ({ offset: p * MAP_PAGE, data: this.bytes.slice(p * MAP_PAGE, (p + 1) * MAP_PAGE).buffer }));
    this.dirty.clear();
    return out;
  }

  /** Marks pages (by their writes) as changed again. */
  markDirty(pages: readonly { offset: number }[]): void {
    for (const p of pages) this.dirty.add(p.offset / MAP_PAGE);
  }
}
