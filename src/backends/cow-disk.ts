// A writable disk over a read-only base (a File, an HTTP image): every write, zeroing and
// discard lands in an Overlay (overlay.ts), reads see the overlay over the base.

import type { BlockBackend, ReadSource } from "./block-backend.ts";
import { Overlay, type OverlayOptions, type OverlaySnapshot } from "./overlay.ts";

export interface CowOptions extends OverlayOptions {
  /** Granularity of the overlay in bytes (default 512: every logical block size NVMe offers). */
  blockSize?: number;
}

/**
 * A writable disk over a read-only base. Writes, zeroes and discards land in the overlay (in
 * memory up to its budget, then spilled) and complete at once; nothing outlives the page, so there
 * is no volatile cache to flush (volatileWriteCache is false: every completed write is as durable
 * as this disk ever gets). Discarded ranges read as zeros.
 */
export class CowBackend implements BlockBackend {
  readonly volatileWriteCache = false;
  readonly discardZeroes = true;
  readonly byteLength: number;
  readonly overlay: Overlay;

  constructor(readonly base: ReadSource, o: CowOptions = {}) {
    this.byteLength = base.byteLength;
    this.overlay = new Overlay(base.byteLength, o.blockSize ?? 512, o);
  }

  tryRead(offset: number, dst: Uint8Array): boolean {
    if (!this.overlay.inMemory(offset, dst.length)) return false;
    if (this.overlay.covers(offset, dst.length)) {
      this.overlay.apply(offset, dst);
      return true;
    }
    if (!this.base.tryRead(offset, dst)) return false;
    this.overlay.apply(offset, dst);
    return true;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const data = this.overlay.covers(offset, length) ? new Uint8Array(length) : await this.base.read(offset, length);
    // Laid over when the base answers, so a write completed meanwhile is seen too.
    await this.overlay.applyAll(offset, data);
    return data;
  }

  write(offset: number, src: Uint8Array, _fua = false): void {
    this.overlay.write(offset, src);
  }

  flush(): void {}

  discard(offset: number, length: number): void {
    this.overlay.zero(offset, length);
  }

  writeZeroes(offset: number, length: number): void {
    this.overlay.zero(offset, length);
  }

  /** Forgets every write: the disk is the base again. */
  reset(): void {
    this.overlay.clear();
  }

  /** A copy of every write so far (the base is not in it). */
  saveOverlay(): OverlaySnapshot {
    return this.overlay.save();
  }

  /** Puts the disk back to what it was when `s` was saved over the same base. */
  restoreOverlay(s: OverlaySnapshot): void {
    this.overlay.restore(s);
  }

  /** Releases the overlay's spill file; the disk forgets its writes. */
  close(): Promise<void> {
    return this.overlay.close();
  }
}
