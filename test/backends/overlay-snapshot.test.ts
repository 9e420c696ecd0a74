// Saving and restoring a copy-on-write overlay: a restored disk reads exactly as it did when
// saved, whatever was written or zeroed since, and a snapshot can be restored again and again.
import { describe, expect, it } from "vitest";
import { Overlay } from "../../src/backends/overlay.ts";
import { CowBackend } from "../../src/backends/cow-disk.ts";
import { MemoryBackend } from "../../src/backends/memory.ts";
import { patternBytes } from "./conformance.ts";

const SIZE = 1 << 20;

function bytes(d: CowBackend): Uint8Array {
  const out = new Uint8Array(d.byteLength);
  expect(d.tryRead(0, out)).toBe(true);
  return out;
}

/** Byte equality without a per-element diff (vitest's toEqual is slow on megabytes). */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function filled(len: number, v: number): Uint8Array {
  return new Uint8Array(len).fill(v);
}

describe("overlay snapshots", () => {
  it("puts back writes and zeroings, repeatably", () => {
    const d = new CowBackend(MemoryBackend.fromBuffer(patternBytes(0, SIZE)));
    d.write(4096, filled(8192, 1));
    d.writeZeroes(65536, 131072);
    d.write(65536 + 512, filled(512, 2)); // a page written inside a zeroed range
    const saved = d.saveOverlay();
    const then = bytes(d);

    d.write(0, filled(SIZE, 9));
    d.discard(0, SIZE / 2);
    expect(same(bytes(d), then)).toBe(false);
    d.restoreOverlay(saved);
    expect(same(bytes(d), then)).toBe(true);

    d.write(8192, filled(4096, 7)); // changing the disk again does not change the snapshot
    d.restoreOverlay(saved);
    expect(same(bytes(d), then)).toBe(true);
    expect(d.overlay.residentBytes).toBe(saved.pageIndex.length * d.overlay.pageSize);
  });

  it("is compact: written pages and zero ranges only", () => {
    const o = new Overlay(1 << 30, 512);
    expect(o.save().pageData.byteLength).toBe(0);
    o.zero(0, 1 << 30);
    o.write(12345 * 512, filled(1024, 3));
    const s = o.save();
    expect(s.pageIndex.length).toBe(1);
    expect(s.pageData.byteLength).toBe(o.pageSize);
    expect(Array.from(s.zeros)).toEqual([0, 1 << 30]);
  });

  it("an empty snapshot gives the base back", () => {
    const base = patternBytes(0, SIZE);
    const d = new CowBackend(MemoryBackend.fromBuffer(base));
    const empty = d.saveOverlay();
    d.write(0, filled(SIZE, 5));
    d.restoreOverlay(empty);
    expect(d.overlay.isEmpty).toBe(true);
    expect(same(bytes(d), base)).toBe(true);
  });

  it("survives a structured clone", () => {
    const d = new CowBackend(MemoryBackend.fromBuffer(patternBytes(0, SIZE)));
    d.write(512, filled(1024, 4));
    d.writeZeroes(32768, 4096);
    const then = bytes(d);
    const copy = structuredClone(d.saveOverlay());
    d.reset();
    d.restoreOverlay(copy);
    expect(same(bytes(d), then)).toBe(true);
  });

  it("refuses a snapshot of another disk size or block size, and malformed ones", () => {
    const d = new CowBackend(MemoryBackend.fromBuffer(patternBytes(0, SIZE)));
    d.write(0, filled(512, 1));
    const good = d.saveOverlay();
    const other = new CowBackend(new MemoryBackend(SIZE * 2)).saveOverlay();
    expect(() => d.restoreOverlay(other)).toThrow(/2097152-byte disk .* this one has 1048576 bytes/);
    expect(() => d.restoreOverlay(new CowBackend(new MemoryBackend(SIZE), { blockSize: 4096 }).saveOverlay())).toThrow(/4096-byte blocks/);
    expect(() => d.restoreOverlay({ ...good, pageIndex: Float64Array.from([1e9]) })).toThrow(/malformed/);
    expect(() => d.restoreOverlay({ ...good, pageData: new Uint8Array(3) })).toThrow(/malformed/);
    expect(() => d.restoreOverlay({ ...good, zeros: Float64Array.from([4096, 512]) })).toThrow(/malformed/);
    // A refused snapshot leaves the disk as it was.
    expect(same(bytes(d).subarray(0, 512), filled(512, 1))).toBe(true);
  });
});
