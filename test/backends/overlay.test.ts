// The copy-on-write overlay: random writes and zeroings against a byte model, coverage queries,
// memory bounded by what is written.
import { describe, it, expect } from "vitest";
import { Overlay } from "../../src/backends/overlay.ts";
import { CowBackend } from "../../src/backends/cow-disk.ts";
import { MemoryBackend } from "../../src/backends/memory.ts";
import { conformance, expectBytes, patternBytes } from "./conformance.ts";

conformance("copy-on-write over memory", async (size) => ({
  backend: new CowBackend(MemoryBackend.fromBuffer(patternBytes(0, size))),
  patterned: true,
  chunk: 16 * 1024,
  volatileWriteCache: false,
}));

/** A small deterministic PRNG so failures repeat. */
function rng(seed: number) {
  return () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

describe("overlay", () => {
  it("matches a byte model under random writes and zeroings", () => {
    const size = 256 * 1024;
    const bs = 512;
    const o = new Overlay(size, bs);
    const model = new Uint8Array(size); // what the overlay says, base = 0xff where not covered
    const covered = new Uint8Array(size / bs);
    model.fill(0xff);
    const r = rng(42);
    for (let step = 0; step < 2000; step++) {
      const blocks = 1 + Math.floor(r() * (r() < 0.2 ? 200 : 12));
      const start = Math.floor(r() * (size / bs - blocks));
      const off = start * bs;
      const len = blocks * bs;
      if (r() < 0.7) {
        const d = new Uint8Array(len).map(() => Math.floor(r() * 256));
        o.write(off, d);
        model.set(d, off);
      } else {
        o.zero(off, len);
        model.fill(0, off, off + len);
      }
      covered.fill(1, start, start + blocks);
      if (step % 50 === 0) {
        const qb = 1 + Math.floor(r() * 64);
        const qs = Math.floor(r() * (size / bs - qb));
        const dst = new Uint8Array(qb * bs).fill(0xff);
        o.apply(qs * bs, dst);
        expectBytes(dst, model.subarray(qs * bs, (qs + qb) * bs));
        expect(o.covers(qs * bs, qb * bs)).toBe(covered.subarray(qs, qs + qb).every((x) => x === 1));
        expect(o.touches(qs * bs, qb * bs)).toBe(covered.subarray(qs, qs + qb).some((x) => x === 1));
      }
    }
    const all = new Uint8Array(size).fill(0xff);
    o.apply(0, all);
    expectBytes(all, model);
  });

  it("costs memory only for written pages, and nothing for zeroed ranges", () => {
    const o = new Overlay(8 * 1024 ** 3);
    expect(o.isEmpty).toBe(true);
    o.write(5 * 1024 ** 3, new Uint8Array(512).fill(1));
    expect(o.residentBytes).toBe(16 * 1024);
    o.zero(0, 8 * 1024 ** 3);
    expect(o.residentBytes).toBe(0);
    expect(o.covers(123 * 512, 4096)).toBe(true);
    o.clear();
    expect(o.isEmpty).toBe(true);
  });

  it("refuses unaligned and out-of-range requests", () => {
    const o = new Overlay(1 << 20);
    expect(() => o.write(100, new Uint8Array(512))).toThrow(RangeError);
    expect(() => o.write(0, new Uint8Array(100))).toThrow(RangeError);
    expect(() => o.zero((1 << 20) - 512, 1024)).toThrow(RangeError);
  });

  it("reads the base only where the overlay does not cover", async () => {
    const base = MemoryBackend.fromBuffer(patternBytes(0, 1 << 16));
    let reads = 0;
    const counting = { byteLength: base.byteLength, tryRead: () => false, read: (o: number, l: number) => (reads++, base.read(o, l)) };
    const cow = new CowBackend(counting);
    cow.write(0, new Uint8Array(4096).fill(3));
    expectBytes(await cow.read(0, 4096), new Uint8Array(4096).fill(3));
    expect(reads).toBe(0);
    expect(cow.tryRead(0, new Uint8Array(1024))).toBe(true);
    expect(cow.tryRead(0, new Uint8Array(8192))).toBe(false);
    const got = await cow.read(0, 8192);
    expect(reads).toBe(1);
    expectBytes(got.subarray(4096), patternBytes(4096, 4096));
    cow.reset();
    expectBytes(await cow.read(0, 4096), patternBytes(0, 4096));
  });
});
