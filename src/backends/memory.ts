// A disk in memory, kept in chunks of at most 256 MiB so disks larger than one typed array work.
// All operations complete synchronously; there is no cache to flush.

import type { BlockBackend } from "./block-backend.ts";

const CHUNK = 256 * 1024 * 1024;

export class MemoryBackend implements BlockBackend {
  readonly volatileWriteCache = false;
  readonly discardZeroes = true;
  private readonly chunks: Uint8Array[] = [];

  /** A zeroed disk of `byteLength` bytes, or one over `data` (copied only as far as it is written). */
  constructor(readonly byteLength: number, data?: ArrayBuffer | Uint8Array) {
    if (!Number.isSafeInteger(byteLength) || byteLength <= 0) throw new Error(`memory disk: bad size ${byteLength}`);
    const src = data instanceof Uint8Array ? data : data ? new Uint8Array(data) : undefined;
    for (let off = 0; off < byteLength; off += CHUNK) {
      const len = Math.min(CHUNK, byteLength - off);
      // A buffer that fits in one chunk is used in place: no copy of a multi-megabyte image.
      if (src && off === 0 && src.length === byteLength && len === byteLength) this.chunks.push(src);
      else {
        const c = new Uint8Array(len);
        if (src && off < src.length) c.set(src.subarray(off, Math.min(off + len, src.length)));
        this.chunks.push(c);
      }
    }
  }

  static fromBuffer(data: ArrayBuffer | Uint8Array): MemoryBackend {
    return new MemoryBackend(data.byteLength, data);
  }

  private each(offset: number, length: number, fn: (chunk: Uint8Array, at: number, len: number, done: number) => void): void {
    if (offset < 0 || length < 0 || offset + length > this.byteLength) {
      throw new RangeError(`memory disk: range ${offset}+${length} outside ${this.byteLength} bytes`);
    }
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const ci = Math.floor(pos / CHUNK);
      const at = pos - ci * CHUNK;
      const len = Math.min(length - done, CHUNK - at);
      fn(this.chunks[ci], at, len, done);
      done += len;
    }
  }

  tryRead(offset: number, dst: Uint8Array): boolean {
    const ci = Math.floor(offset / CHUNK);
    if (offset >= 0 && offset + dst.length <= this.byteLength && offset + dst.length <= (ci + 1) * CHUNK) {
      const at = offset - ci * CHUNK;
      dst.set(this.chunks[ci].subarray(at, at + dst.length));
      return true;
    }
    this.each(offset, dst.length, (c, at, len, done) => dst.set(c.subarray(at, at + len), done));
    return true;
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    this.tryRead(offset, out);
    return Promise.resolve(out);
  }

  write(offset: number, src: Uint8Array, _fua = false): void {
    this.each(offset, src.length, (c, at, len, done) => c.set(src.subarray(done, done + len), at));
  }

  flush(): void {}

  discard(offset: number, length: number): void {
    this.writeZeroes(offset, length);
  }

  writeZeroes(offset: number, length: number): void {
    this.each(offset, length, (c, at, len) => c.fill(0, at, at + len));
  }
}
