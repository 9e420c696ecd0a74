// A namespace's metadata: `size` bytes per logical block, kept in memory beside the data (the
// backends store data only). Sparse: chunks of CHUNK_BLOCKS blocks exist once written; a block
// never written, deallocated or formatted reads as all ones, whose Application Tag FFFFh turns the
// protection checks off (a device's deallocated blocks carry such escape tags).

/** Blocks per chunk: at most 64 KiB of metadata each. */
export const CHUNK_BLOCKS = 4096;
const UNWRITTEN = 0xff;

/** A saved chunk: its index and its CHUNK_BLOCKS * size bytes (fewer for the last chunk). */
export interface SavedChunk {
  chunk: number;
  bytes: Uint8Array;
}

export class MetadataStore {
  private readonly chunks = new Map<number, Uint8Array>();

  constructor(readonly size: number, readonly blocks: number) {}

  private chunkBytes(chunk: number): number {
    return Math.min(CHUNK_BLOCKS, this.blocks - chunk * CHUNK_BLOCKS) * this.size;
  }

  /** Calls `fn` for each piece of [slba, slba + nlb) inside one chunk: (chunk, byte offset in it, byte offset in the range, bytes). */
  private each(slba: number, nlb: number, fn: (chunk: number, at: number, off: number, len: number) => void): void {
    for (let b = slba, end = slba + nlb; b < end;) {
      const chunk = Math.floor(b / CHUNK_BLOCKS);
      const n = Math.min(end, (chunk + 1) * CHUNK_BLOCKS) - b;
      fn(chunk, (b - chunk * CHUNK_BLOCKS) * this.size, (b - slba) * this.size, n * this.size);
      b += n;
    }
  }

  /** The metadata of blocks [slba, slba + nlb). */
  read(slba: number, nlb: number): Uint8Array {
    const out = new Uint8Array(nlb * this.size).fill(UNWRITTEN);
    this.each(slba, nlb, (chunk, at, off, len) => {
      const c = this.chunks.get(chunk);
      if (c) out.set(c.subarray(at, at + len), off);
    });
    return out;
  }

  /** Stores `bytes` (nlb * size of them) as the metadata of blocks from `slba`. */
  write(slba: number, bytes: Uint8Array): void {
    this.each(slba, bytes.length / this.size, (chunk, at, off, len) => {
      let c = this.chunks.get(chunk);
      if (!c) this.chunks.set(chunk, (c = new Uint8Array(this.chunkBytes(chunk)).fill(UNWRITTEN)));
      c.set(bytes.subarray(off, off + len), at);
    });
  }

  /** Blocks [slba, slba + nlb) read as unwritten again (deallocated, erased). */
  erase(slba: number, nlb: number): void {
    this.each(slba, nlb, (chunk, at, _off, len) => {
      const c = this.chunks.get(chunk);
      if (!c) return;
      if (len === c.length) this.chunks.delete(chunk);
      else c.fill(UNWRITTEN, at, at + len);
    });
  }

  save(): SavedChunk[] {
    return [...this.chunks].map(([chunk, bytes]) => ({ chunk, bytes: bytes.slice() }));
  }

  /** Saved chunks checked against `size` and `blocks`: each index in range once, each of its exact length. Throws naming what is wrong. */
  static check(saved: unknown, size: number, blocks: number, what: string): SavedChunk[] {
    if (!Array.isArray(saved)) throw new Error(`${what}: metadata is not a list`);
    const probe = new MetadataStore(size, blocks);
    const seen = new Set<number>();
    return saved.map((raw: unknown, i) => {
      const e = raw as Partial<SavedChunk> | null;
      const chunk = e?.chunk;
      if (typeof chunk !== "number" || !Number.isInteger(chunk) || chunk < 0 || chunk * CHUNK_BLOCKS >= blocks || seen.has(chunk)) {
        throw new Error(`${what}: metadata chunk ${i} has index ${String(chunk)}`);
      }
      seen.add(chunk);
      if (!(e?.bytes instanceof Uint8Array) || e.bytes.length !== probe.chunkBytes(chunk)) throw new Error(`${what}: metadata chunk ${chunk} is not ${probe.chunkBytes(chunk)} bytes`);
      return { chunk, bytes: e.bytes };
    });
  }

  restore(checked: SavedChunk[]): void {
    this.chunks.clear();
    for (const { chunk, bytes } of checked) this.chunks.set(chunk, bytes.slice());
  }
}
