// Declarative disk specs: each kind opens the right backend; a persistent disk over another kind
// takes that source's description as its base identity.
import { describe, it, expect, afterEach } from "vitest";
import { openDisk, describeDisk } from "../../src/backends/open.ts";
import { MemoryBackend } from "../../src/backends/memory.ts";
import { FileBackend } from "../../src/backends/file.ts";
import { HttpBackend } from "../../src/backends/http.ts";
import { OpfsBackend, OpfsMismatchError } from "../../src/backends/opfs.ts";
import { expectBytes, patternBytes } from "./conformance.ts";
import { imageServer, type ImageServer } from "./image-server.ts";
import { FakeOpfs, fakeWorker } from "./fake-opfs.ts";

let server: ImageServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("openDisk", () => {
  it("opens memory, file and http disks", async () => {
    expect(await openDisk({ kind: "memory", size: 4096 })).toBeInstanceOf(MemoryBackend);
    const f = await openDisk({ kind: "file", file: new Blob([patternBytes(0, 8192)]), chunkSize: 4096 });
    expect(f).toBeInstanceOf(FileBackend);
    expectBytes(await f.read(4096, 512), patternBytes(4096, 512));
    server = await imageServer({ size: 1 << 20 });
    const h = await openDisk({ kind: "http", url: server.url, chunkSize: 16 * 1024 });
    expect(h).toBeInstanceOf(HttpBackend);
    expectBytes(await h.read(512, 512), patternBytes(512, 512));
  });

  it("hands the overlay's options to http and file disks", async () => {
    server = await imageServer({ size: 1 << 20 });
    const spill = () => Promise.reject(new Error("no spill store here"));
    const h = (await openDisk({ kind: "http", url: server.url, memoryBudget: 64 * 1024, blockSize: 4096, spill })) as HttpBackend;
    expect(h.overlay.memoryBudget).toBe(64 * 1024);
    expect(h.overlay.pageSize).toBe(4096 * 32);
    const f = (await openDisk({ kind: "file", file: new Blob([patternBytes(0, 8192)]), memoryBudget: 8192 })) as FileBackend;
    expect(f.overlay.memoryBudget).toBe(8192);
  });

  it("opens a persistent overlay identified by its base", async () => {
    server = await imageServer({ size: 1 << 20 });
    const fs = new FakeOpfs();
    const base = { kind: "http" as const, url: server.url };
    const w = fakeWorker(fs);
    const d = (await openDisk({ kind: "opfs", name: "root", base, worker: w.endpoint })) as OpfsBackend;
    expect(d.map.header.baseId).toBe(describeDisk(base));
    d.write(0, new Uint8Array(512).fill(1), false);
    await d.close();
    const other = { kind: "http" as const, url: server.url + "?v=2" };
    await expect(openDisk({ kind: "opfs", name: "root", base: other, worker: fakeWorker(fs).endpoint })).rejects.toBeInstanceOf(OpfsMismatchError);
    const again = await openDisk({ kind: "opfs", name: "root", base, worker: fakeWorker(fs).endpoint });
    expectBytes(await again.read(0, 1024), new Uint8Array([...new Uint8Array(512).fill(1), ...patternBytes(512, 512)]));
  });
});
