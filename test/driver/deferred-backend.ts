// A disk whose every operation waits until the test releases it: the asynchronous path of a slow
// backend (network, OPFS), with the moment of completion under the test's control.

import { MemoryBackend } from "../../src/backends/memory.ts";
import type { BlockBackend } from "../../src/backends/block-backend.ts";

export class DeferredBackend implements BlockBackend {
  readonly volatileWriteCache = true;
  readonly discardZeroes = true;
  readonly disk: MemoryBackend;
  private waiting: (() => void)[] = [];
  /** Durable content: what a flush has made safe (what survives a power loss). */
  readonly durable: MemoryBackend;

  constructor(readonly byteLength: number) {
    this.disk = new MemoryBackend(byteLength);
    this.durable = new MemoryBackend(byteLength);
  }

  get pending(): number {
    return this.waiting.length;
  }

  /** Completes every operation waiting so far. */
  async release(): Promise<void> {
    const w = this.waiting;
    this.waiting = [];
    w.forEach((f) => f());
    await new Promise((r) => setTimeout(r, 0));
  }

  private later<T>(fn: () => T): Promise<T> {
    return new Promise((resolve) => this.waiting.push(() => resolve(fn())));
  }

  tryRead(): boolean {
    return false;
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    return this.later(() => {
      const out = new Uint8Array(length);
      this.disk.tryRead(offset, out);
      return out;
    });
  }

  write(offset: number, src: Uint8Array, fua: boolean): Promise<void> {
    const copy = src.slice();
    return this.later(() => {
      this.disk.write(offset, copy);
      if (fua) this.durable.write(offset, copy);
    });
  }

  flush(): Promise<void> {
    return this.later(() => {
      const all = new Uint8Array(this.byteLength);
      this.disk.tryRead(0, all);
      this.durable.write(0, all);
    });
  }

  discard(offset: number, length: number): Promise<void> {
    return this.later(() => this.disk.discard(offset, length));
  }

  writeZeroes(offset: number, length: number): Promise<void> {
    return this.later(() => this.disk.writeZeroes(offset, length));
  }
}
