// The File backend: lazy Blob reads, a small chunk cache served synchronously, writes in the overlay.
import { describe, it, expect } from "vitest";
import { FileBackend } from "../../src/backends/file.ts";
import { conformance, expectBytes, patternBytes, readBack } from "./conformance.ts";
import { VirtualBlob } from "./virtual-blob.ts";

conformance("file", async (size) => {
  const blob = new VirtualBlob(size);
  return {
    backend: new FileBackend(blob, { chunkSize: 16 * 1024, cacheBytes: 64 * 1024 }),
    patterned: true,
    chunk: 16 * 1024,
    volatileWriteCache: false,
    failReads: (on) => {
      blob.failing = on;
    },
  };
});

describe("file backend", () => {
  it("reads a real Blob lazily and serves repeat reads synchronously", async () => {
    const bytes = patternBytes(0, 256 * 1024);
    const disk = new FileBackend(new Blob([bytes]), { chunkSize: 64 * 1024 });
    const dst = new Uint8Array(4096);
    expect(disk.tryRead(8192, dst)).toBe(false);
    expectBytes(await disk.read(8192, 4096), bytes.subarray(8192, 12288));
    expect(disk.tryRead(8192, dst)).toBe(true);
    expectBytes(dst, bytes.subarray(8192, 12288));
    expect(disk.tryRead(60 * 1024, new Uint8Array(8192))).toBe(false); // the next chunk is not cached
  });

  it("keeps the cache within its budget", async () => {
    const blob = new VirtualBlob(1 << 20);
    const disk = new FileBackend(blob, { chunkSize: 16 * 1024, cacheBytes: 64 * 1024, readAhead: 0 });
    for (let o = 0; o < 1 << 20; o += 16 * 1024) await disk.read(o, 512);
    expect(disk.base.cache.residentBytes).toBeLessThanOrEqual(64 * 1024);
    expect(blob.slices).toBe(64);
  });

  it("reads one chunk once for concurrent readers and reads ahead sequentially", async () => {
    const blob = new VirtualBlob(1 << 20);
    const disk = new FileBackend(blob, { chunkSize: 16 * 1024, cacheBytes: 256 * 1024, readAhead: 2 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => disk.read(i * 512, 512)));
    expect(disk.base.stats.fetches).toBe(1);
    for (let o = 16 * 1024; o < 64 * 1024; o += 4096) await disk.read(o, 4096);
    await new Promise((r) => setTimeout(r, 5));
    // Sequential access: the chunks after the last one read were fetched ahead.
    expect(disk.tryRead(64 * 1024, new Uint8Array(512))).toBe(true);
    expect(disk.base.stats.prefetches).toBeGreaterThan(0);
  });

  it("pads a file whose size is not a multiple of 512 with zeros", async () => {
    const disk = new FileBackend(new Blob([new Uint8Array(1000).fill(1)]));
    expect(disk.byteLength).toBe(1024);
    const back = await disk.read(0, 1024);
    expect(back.subarray(0, 1000).every((x) => x === 1)).toBe(true);
    expect(back.subarray(1000).every((x) => x === 0)).toBe(true);
  });

  it("works past 2 GiB with no typed array per disk", async () => {
    const size = 3 * 1024 ** 3;
    const blob = new VirtualBlob(size);
    const disk = new FileBackend(blob);
    const far = size - 64 * 1024 - 512;
    expectBytes(await disk.read(far, 1024), patternBytes(far, 1024));
    const at = 2 ** 31 + 512; // past every 32-bit offset
    const w = new Uint8Array(1024).fill(0xee);
    disk.write(at, w);
    expectBytes(await readBack(disk, at - 512, 2048), new Uint8Array([...patternBytes(at - 512, 512), ...w, ...patternBytes(at + 1024, 512)]));
    disk.discard(0, size);
    expect((await disk.read(size - 4096, 4096)).every((x) => x === 0)).toBe(true);
    expect(disk.overlay.residentBytes).toBe(0); // a whole-disk discard costs no pages
    expect(blob.bytesRead).toBeLessThan(4 << 20);
  });
});
