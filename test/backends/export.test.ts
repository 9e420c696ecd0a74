// Export: the current disk (base + overlay) streamed as a raw image, memory bounded, with progress.
import { describe, it, expect } from "vitest";
import { exportBlob, exportStream, saveDisk } from "../../src/backends/export.ts";
import { FileBackend } from "../../src/backends/file.ts";
import { MemoryBackend } from "../../src/backends/memory.ts";
import { expectBytes, patternBytes } from "./conformance.ts";
import { VirtualBlob } from "./virtual-blob.ts";

describe("export", () => {
  it("streams base and overlay as one raw image, with progress", async () => {
    const size = 3 << 20;
    const disk = new FileBackend(new VirtualBlob(size), { chunkSize: 64 * 1024 });
    disk.write(1 << 20, new Uint8Array(4096).fill(0xee));
    disk.discard(2 << 20, 1 << 20);
    const progress: number[] = [];
    const blob = await exportBlob(disk, { chunkSize: 256 * 1024, onProgress: (d, t) => (expect(t).toBe(size), progress.push(d)) });
    const want = patternBytes(0, size);
    want.fill(0xee, 1 << 20, (1 << 20) + 4096);
    want.fill(0, 2 << 20);
    expectBytes(new Uint8Array(await blob.arrayBuffer()), want);
    expect(progress).toEqual(Array.from({ length: 13 }, (_, i) => i * 256 * 1024));
  });

  it("reads only as fast as the consumer pulls", async () => {
    const blob = new VirtualBlob(1 << 30);
    const disk = new FileBackend(blob, { chunkSize: 1 << 20, cacheBytes: 1 << 20, readAhead: 0 });
    const reader = exportStream(disk, { chunkSize: 1 << 20 }).getReader();
    for (let i = 0; i < 4; i++) expectBytes((await reader.read()).value, patternBytes(i << 20, 1 << 20));
    await new Promise((r) => setTimeout(r, 20));
    expect(blob.bytesRead).toBeLessThanOrEqual(6 << 20); // not the whole gigabyte
    await reader.cancel();
  });

  it("saves through the file picker when there is one", async () => {
    const g = globalThis as Record<string, unknown>;
    const written: Uint8Array[] = [];
    g.showSaveFilePicker = async (o: { suggestedName: string }) => {
      expect(o.suggestedName).toBe("mine.img");
      return { createWritable: async () => new WritableStream<Uint8Array>({ write: (c) => void written.push(c) }) };
    };
    try {
      const disk = MemoryBackend.fromBuffer(patternBytes(0, 1 << 20));
      expect(await saveDisk(disk, { suggestedName: "mine.img", chunkSize: 65536 })).toBe("file");
      expectBytes(new Uint8Array(Buffer.concat(written)), patternBytes(0, 1 << 20));
      g.showSaveFilePicker = async () => {
        throw Object.assign(new Error("closed"), { name: "AbortError" });
      };
      expect(await saveDisk(disk)).toBe("cancelled");
    } finally {
      delete g.showSaveFilePicker;
    }
  });

  it("refuses a Blob download of a disk larger than the limit", async () => {
    const disk = new FileBackend(new VirtualBlob(3 * 1024 ** 3));
    await expect(saveDisk(disk)).rejects.toThrow(/too large/);
  });
});
