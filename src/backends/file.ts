// A disk over a user-picked File (or any Blob): read lazily with blob.slice(a, b).arrayBuffer(),
// recently read chunks kept in a small cache so repeated reads complete synchronously, and
// writes kept in a copy-on-write overlay in memory. The file itself is never modified.

import { BackendError, type ReadSource } from "./block-backend.ts";
import { ChunkCache, type ChunkCacheStats } from "./chunk-cache.ts";
import { CowBackend, type CowOptions } from "./cow-disk.ts";

/** The part of Blob this backend uses (a File, a Blob, or a virtual stand-in in tests). */
export interface BlobLike {
  readonly size: number;
  slice(start: number, end: number): { arrayBuffer(): Promise<ArrayBuffer> };
}

/** With the overlay's options (memoryBudget, spill, blockSize): the disk is a CowBackend. */
export interface FileBackendOptions extends CowOptions {
  /** Bytes per read from the file and per cached chunk (default 64 KiB). */
  chunkSize?: number;
  /** Budget of the chunk cache (default 4 MiB). */
  cacheBytes?: number;
  /** Chunks read ahead on sequential access (default 4). */
  readAhead?: number;
}

/** The file's bytes, rounded up to whole 512-byte sectors (the tail reads as zeros). */
export class BlobSource implements ReadSource {
  readonly byteLength: number;
  readonly cache: ChunkCache;

  constructor(readonly blob: BlobLike, o: FileBackendOptions = {}) {
    this.byteLength = Math.ceil(blob.size / 512) * 512;
    if (this.byteLength === 0) throw new Error("file disk: the file is empty");
    this.cache = new ChunkCache(this.byteLength, (_i, start, length) => this.fetch(start, length), {
      chunkSize: o.chunkSize ?? 64 * 1024,
      cacheBytes: o.cacheBytes ?? 4 * 1024 * 1024,
      readAhead: o.readAhead ?? 4,
    });
  }

  get stats(): ChunkCacheStats {
    return this.cache.stats;
  }

  private async fetch(start: number, length: number): Promise<Uint8Array> {
    const end = Math.min(start + length, this.blob.size);
    let buf: ArrayBuffer;
    try {
      buf = await this.blob.slice(start, end).arrayBuffer();
    } catch (e) {
      // Browsers fail reads of a File that changed on disk after it was picked (NotReadableError).
      throw new BackendError(`file disk: reading ${start}+${length} failed: ${e instanceof Error ? e.message : String(e)}`, "read");
    }
    if (buf.byteLength !== end - start) {
      throw new BackendError(`file disk: read ${buf.byteLength} bytes at ${start}, expected ${end - start} (did the file change?)`, "read");
    }
    if (end - start === length) return new Uint8Array(buf);
    const out = new Uint8Array(length); // the zero tail past the end of the file
    out.set(new Uint8Array(buf));
    return out;
  }

  tryRead(offset: number, dst: Uint8Array): boolean {
    return this.cache.tryRead(offset, dst);
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    return this.cache.read(offset, length);
  }
}

/** A File as a writable disk; writes stay in memory (see CowBackend for the guarantees). */
export class FileBackend extends CowBackend {
  declare readonly base: BlobSource;

  constructor(blob: BlobLike, o: FileBackendOptions = {}) {
    super(new BlobSource(blob, o), o);
  }
}
