// A block backend for fault tests: it passes everything to another backend, except reads or
// writes that touch a byte range the test has armed, which fail. A fault either throws from the
// synchronous call (tryRead / write) or makes the call asynchronous and rejects its Promise, so
// both of the device's failure paths are exercised. The test arms and clears faults at run time
// while the guest runs:
//
//   const disk = new FaultyBackend(new MemoryBackend(64 << 20));
//   disk.fail({ op: "read", offset: 48 << 20, length: 4096, mode: "throw" });
//   ... the guest reads there and gets an I/O error ...
//   disk.clear();
//
// `latencyMs` makes every read and write asynchronous and slow, so commands stay in flight inside
// the device (a memory disk completes each command during its doorbell write otherwise), e.g.
// while the guest resets the controller.

import type { BlockBackend } from "../../src/backends/block-backend.ts";

/** A Promise that rejects on a later turn of the event loop, as a real asynchronous store would. */
function later<T>(e: Error): Promise<T> {
  return new Promise((_, reject) => setTimeout(() => reject(e), 1));
}

export type FaultMode = "throw" | "reject";

export interface Fault {
  op: "read" | "write";
  /** Byte range [offset, offset + length) of the backend. */
  offset: number;
  length: number;
  mode: FaultMode;
}

export class FaultyBackend implements BlockBackend {
  readonly byteLength: number;
  readonly volatileWriteCache: boolean;
  readonly discardZeroes: boolean;
  private faults: Fault[] = [];
  /** Calls that failed because of an armed fault, by operation. */
  readonly failures = { read: 0, write: 0 };
  /** When > 0, every read and write completes asynchronously this many milliseconds later. */
  latencyMs = 0;
  /** Reads and writes started but not finished (only while latencyMs > 0). */
  pending = 0;

  constructor(readonly inner: BlockBackend) {
    this.byteLength = inner.byteLength;
    this.volatileWriteCache = inner.volatileWriteCache;
    this.discardZeroes = inner.discardZeroes;
  }

  /** Arms a fault (in addition to those armed already). */
  fail(fault: Fault): void {
    this.faults.push({ ...fault });
  }

  /** Disarms every fault. */
  clear(): void {
    this.faults = [];
  }

  private hit(op: Fault["op"], offset: number, length: number): Fault | undefined {
    return this.faults.find((f) => f.op === op && offset < f.offset + f.length && f.offset < offset + length);
  }

  private error(op: Fault["op"], offset: number, length: number): Error {
    this.failures[op]++;
    return new Error(`injected ${op} fault at bytes ${offset}+${length}`);
  }

  tryRead(offset: number, dst: Uint8Array): boolean {
    const f = this.hit("read", offset, dst.length);
    if (f?.mode === "throw") throw this.error("read", offset, dst.length);
    if (f || this.latencyMs > 0) return false; // read() will reject or take its time
    return this.inner.tryRead(offset, dst);
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    if (this.hit("read", offset, length)) return later(this.error("read", offset, length));
    if (this.latencyMs > 0) return this.delayed(() => this.inner.read(offset, length));
    return this.inner.read(offset, length);
  }

  /** Runs `op` latencyMs from now. */
  private delayed<T>(op: () => T | Promise<T>): Promise<T> {
    this.pending++;
    return new Promise<T>((resolve, reject) => {
      setTimeout(() => {
        this.pending--;
        try {
          Promise.resolve(op()).then(resolve, reject);
        } catch (e) {
          reject(e);
        }
      }, this.latencyMs);
    });
  }

  write(offset: number, src: Uint8Array, fua: boolean): void | Promise<void> {
    const f = this.hit("write", offset, src.length);
    if (f?.mode === "throw") throw this.error("write", offset, src.length);
    if (f) {
      return later(this.error("write", offset, src.length));
    }
    if (this.latencyMs > 0) {
      const copy = src.slice(); // src views guest RAM only during this call
      return this.delayed(() => this.inner.write(offset, copy, fua));
    }
    return this.inner.write(offset, src, fua);
  }

  flush(): void | Promise<void> {
    return this.inner.flush();
  }

  discard(offset: number, length: number): void | Promise<void> {
    if (this.hit("write", offset, length)) throw this.error("write", offset, length);
    return this.inner.discard(offset, length);
  }

  writeZeroes(offset: number, length: number): void | Promise<void> {
    if (this.hit("write", offset, length)) throw this.error("write", offset, length);
    return this.inner.writeZeroes(offset, length);
  }
}
