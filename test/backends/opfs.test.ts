// The persistent disk's protocol and block map in Node: the real worker-side file server over a
// fake access handle that loses unflushed data on crash(), against the shared contract and the
// persistence promises (flush, FUA, map after data, quota, seeding by overlay or copy).
import { describe, it, expect } from "vitest";
import { OpfsBackend, OpfsMismatchError, type OpfsDiskOptions } from "../../src/backends/opfs.ts";
import { Channel } from "../../src/backends/disk-worker.ts";
import { BlockMap, FROM_BASE, FROM_FILE, FROM_ZERO } from "../../src/backends/block-map.ts";
import { BackendError } from "../../src/backends/block-backend.ts";
import { MemoryBackend } from "../../src/backends/memory.ts";
import type { ReadSource } from "../../src/backends/block-backend.ts";
import { conformance, expectBytes, patternBytes, readBack } from "./conformance.ts";
import { FakeOpfs, fakeWorker } from "./fake-opfs.ts";

/** A base image that can be made to fail, counting reads. */
function patternBase(size: number) {
  const mem = MemoryBackend.fromBuffer(patternBytes(0, size));
  const b = {
    failing: false,
    reads: 0,
    byteLength: size,
    tryRead: (_o: number, _d: Uint8Array) => false,
    read: async (o: number, l: number) => {
      b.reads++;
      await new Promise((r) => setTimeout(r, 0));
      if (b.failing) throw new BackendError("base unreachable", "read");
      return mem.read(o, l);
    },
  };
  return b;
}

async function openDisk(fs: FakeOpfs, o: Omit<OpfsDiskOptions, "worker" | "name"> & { name?: string }) {
  const w = fakeWorker(fs);
  const disk = await OpfsBackend.open({ name: "disk", chunkSize: 16 * 1024, cacheBytes: 64 * 1024, ...o, worker: w.endpoint });
  return { disk, worker: w };
}

/** A reload after a crash: unflushed data is gone, the old page's disk object is abandoned. */
async function reload(fs: FakeOpfs, o: Omit<OpfsDiskOptions, "worker" | "name"> & { name?: string }, old?: { kill: () => void }) {
  old?.kill();
  fs.crash();
  return (await openDisk(fs, o)).disk;
}

conformance("opfs (empty)", async (size) => {
  const fs = new FakeOpfs();
  const { disk, worker } = await openDisk(fs, { size });
  return { backend: disk, patterned: false, chunk: 16 * 1024, volatileWriteCache: true, reopen: () => reload(fs, {}, worker) };
});

conformance("opfs (overlay over a base)", async (size) => {
  const fs = new FakeOpfs();
  const base = patternBase(size);
  const { disk, worker } = await openDisk(fs, { base, baseId: "pattern" });
  return {
    backend: disk,
    patterned: true,
    chunk: 16 * 1024,
    volatileWriteCache: true,
    failReads: (on) => {
      base.failing = on;
    },
    reopen: () => reload(fs, { base, baseId: "pattern" }, worker),
  };
});

conformance("opfs (copying a base in)", async (size) => {
  const fs = new FakeOpfs();
  const base = patternBase(size);
  const o = { base, baseId: "pattern", seed: "copy" as const };
  const { disk, worker } = await openDisk(fs, o);
  return { backend: disk, patterned: true, chunk: 16 * 1024, volatileWriteCache: true, reopen: () => reload(fs, o, worker) };
});

describe("block map", () => {
  it("tracks sources per block and round-trips through its file bytes", () => {
    const m = BlockMap.create({ blockSize: 512, byteLength: 3 * 1024 ** 3, hasBase: true, detached: false, baseId: "https://x/disk.img" });
    expect(m.bitmapBytes).toBe(786432);
    m.takeDirty();
    m.setFile(10, 7);
    m.setZero(12, 2);
    m.setZero(2 ** 22, 2 ** 20);
    m.setFile(2 ** 22 + 5, 1);
    const seen: string[] = [];
    m.runs(8, 12, (s, st, n) => seen.push(`${s}:${st}+${n}`));
    expect(seen).toEqual([`${FROM_BASE}:8+2`, `${FROM_FILE}:10+2`, `${FROM_ZERO}:12+2`, `${FROM_FILE}:14+3`, `${FROM_BASE}:17+3`]);
    expect(() => m.setFile(m.blocks - 1, 2)).toThrow(RangeError);
    const dirty = m.takeDirty();
    expect(dirty.length).toBeGreaterThan(0);
    expect(dirty.length).toBeLessThan(200); // pages of changed bits only
    const again = BlockMap.parse(m.bytes.slice())!;
    expect(again.header).toEqual(m.header);
    for (const b of [9, 10, 12, 14, 17, 2 ** 22, 2 ** 22 + 5, 2 ** 22 + 2 ** 20, 2 ** 22 + 2 ** 20 - 1]) expect(again.source(b), `block ${b}`).toBe(m.source(b));
    expect(BlockMap.parse(new Uint8Array(0))).toBeUndefined();
    expect(() => BlockMap.parse(new Uint8Array(8192).fill(1))).toThrow(/not a v86-nvme/);
  });

  it("reads zeros for unwritten blocks of an empty disk and after detaching", () => {
    const m = BlockMap.create({ blockSize: 4096, byteLength: 1 << 20, hasBase: true, detached: false, baseId: "" });
    expect(m.source(3)).toBe(FROM_BASE);
    m.detach();
    expect(m.source(3)).toBe(FROM_ZERO);
    expect(BlockMap.parse(m.bytes)!.header.detached).toBe(true);
  });
});

describe("persistent disk", () => {
  it("keeps flushed and FUA writes across a crash; unflushed ones may go", async () => {
    const fs = new FakeOpfs();
    const { disk, worker } = await openDisk(fs, { size: 1 << 20 });
    expect(disk.volatileWriteCache).toBe(true);
    expect(disk.write(0, new Uint8Array(4096).fill(1), false)).toBeUndefined(); // completes at once: volatile cache
    await disk.flush();
    await disk.write(8192, new Uint8Array(512).fill(2), true);
    disk.write(16384, new Uint8Array(512).fill(3), false); // never flushed
    await new Promise((r) => setTimeout(r, 10));
    const after = await reload(fs, {}, worker);
    expectBytes(await after.read(0, 4096), new Uint8Array(4096).fill(1));
    expectBytes(await after.read(8192, 512), new Uint8Array(512).fill(2));
    expectBytes(await after.read(16384, 512), new Uint8Array(512)); // lost, and its map bit with it
  });

  it("persists the map only after the data it names", async () => {
    const fs = new FakeOpfs();
    const { disk } = await openDisk(fs, { size: 1 << 20 });
    const order: string[] = [];
    const data = fs.files.get("disk.data")!;
    const map = fs.files.get("disk.map")!;
    const df = data.flush.bind(data);
    const mf = map.flush.bind(map);
    data.flush = () => (order.push("data"), df());
    map.flush = () => (order.push("map"), mf());
    disk.write(4096, new Uint8Array(512).fill(7), false);
    await disk.flush();
    expect(order).toEqual(["data", "map"]);
  });

  it("answers reads from the right place while writes are queued", async () => {
    const fs = new FakeOpfs();
    const base = patternBase(1 << 20);
    const { disk } = await openDisk(fs, { base, baseId: "p" });
    const r1 = disk.read(0, 32768); // posted before the write: old bytes
    disk.write(4096, new Uint8Array(4096).fill(0xaa), false);
    const r2 = disk.read(0, 32768); // after: new bytes, though the worker has not written yet
    const dst = new Uint8Array(4096);
    const want = patternBytes(0, 32768);
    expectBytes(await r1, want);
    want.fill(0xaa, 4096, 8192);
    expectBytes(await r2, want);
    expect(disk.tryRead(4096, dst)).toBe(true); // cached after the read, patched by writes
    expectBytes(dst, new Uint8Array(4096).fill(0xaa));
    disk.discard(0, 1 << 20);
    expect(disk.tryRead(0, dst)).toBe(true);
    expectBytes(dst, new Uint8Array(4096));
  });

  it("turns quota exhaustion into capacity errors and never returns what was not stored", async () => {
    const fs = new FakeOpfs();
    const { disk } = await openDisk(fs, { size: 1 << 20 });
    fs.quota = 2 * 4096 + 64 * 1024; // the map file and a little data
    await disk.write(0, new Uint8Array(4096).fill(1), true);
    const e = await Promise.resolve(disk.write(512 * 1024, new Uint8Array(4096).fill(2), true)).catch((x) => x);
    expect(e).toBeInstanceOf(BackendError);
    expect(e.kind).toBe("capacity");
    disk.write(768 * 1024, new Uint8Array(4096).fill(3), false); // completes, fails in the worker
    const f = await disk.flush().catch((x) => x);
    expect(f).toBeInstanceOf(BackendError);
    expect(f.kind).toBe("capacity");
    for (const o of [512 * 1024, 768 * 1024]) {
      const r = await disk.read(o, 4096).catch((x) => x);
      expect(r).toBeInstanceOf(BackendError);
      expect(r.kind).toBe("read");
    }
    await disk.flush(); // reported once
    // Written again (after space was freed), the blocks are good again.
    fs.quota = Infinity;
    await disk.write(512 * 1024, new Uint8Array(4096).fill(4), true);
    expectBytes(await disk.read(512 * 1024, 4096), new Uint8Array(4096).fill(4));
    expectBytes(await disk.read(0, 4096), new Uint8Array(4096).fill(1));
  });

  it("never persists map bits for a failed write, even from a flush posted before the failure was known", async () => {
    const fs = new FakeOpfs();
    const base = patternBase(1 << 20);
    const { disk, worker } = await openDisk(fs, { base, baseId: "p" });
    fs.failWrites = true;
    disk.write(8192, new Uint8Array(4096).fill(0xee), false); // completes now, fails in the worker
    const f = await disk.flush().catch((x) => x); // its map pages were copied before the failure was heard of
    expect(f).toBeInstanceOf(BackendError);
    expect(f.kind).toBe("write");
    expect(await disk.read(8192, 4096).catch((x) => x)).toBeInstanceOf(BackendError);
    const after = await reload(fs, { base, baseId: "p" }, worker);
    expectBytes(await after.read(8192, 4096), patternBytes(8192, 4096)); // the base, not the data file's hole
    // Heard of in time, the next flush persists the corrected map: zeros, never the failed bytes.
    fs.failWrites = true;
    after.write(8192, new Uint8Array(4096).fill(0xee), false);
    await new Promise((r) => setTimeout(r, 10));
    expect(await after.flush().catch((x) => x)).toBeInstanceOf(BackendError);
    fs.failWrites = false;
    await after.flush();
    const third = await reload(fs, { base, baseId: "p" });
    expectBytes(await third.read(8192, 4096), new Uint8Array(4096));
  });

  it("reports other write failures as write errors", async () => {
    const fs = new FakeOpfs();
    const { disk } = await openDisk(fs, { size: 1 << 20 });
    fs.failWrites = true;
    const e = await Promise.resolve(disk.write(0, new Uint8Array(512), true)).catch((x) => x);
    expect(e.kind).toBe("write");
  });

  it("reopens an overlay only over the same base, and starts afresh with reset", async () => {
    const fs = new FakeOpfs();
    const base = patternBase(1 << 20);
    const { disk, worker } = await openDisk(fs, { base, baseId: "a.img" });
    disk.write(0, new Uint8Array(512).fill(5), false);
    disk.discard(65536, 65536);
    await disk.flush();
    worker.kill();
    fs.crash();
    await expect(openDisk(fs, { base, baseId: "b.img" })).rejects.toBeInstanceOf(OpfsMismatchError);
    await expect(openDisk(fs, {})).rejects.toThrow(/not given/);
    await expect(openDisk(fs, { base: patternBase(2 << 20), baseId: "a.img" })).rejects.toThrow(/does not fit/);
    const again = (await openDisk(fs, { base, baseId: "a.img" })).disk;
    expectBytes(await again.read(0, 1024), new Uint8Array([...new Uint8Array(512).fill(5), ...patternBytes(512, 512)]));
    expectBytes(await again.read(65536, 65536), new Uint8Array(65536));
    expectBytes(await again.read(131072, 4096), patternBytes(131072, 4096));
    await again.close();
    const fresh = (await openDisk(fs, { base, baseId: "b.img", reset: true })).disk;
    expectBytes(await fresh.read(0, 1024), patternBytes(0, 1024));
  });

  it("copies a base in with progress, skipping zero blocks, letting newer writes win, then drops it", async () => {
    const fs = new FakeOpfs();
    const size = 4 << 20;
    const bytes = patternBytes(0, size);
    bytes.fill(0, 1 << 20, 3 << 20); // a sparse middle
    const mem = MemoryBackend.fromBuffer(bytes);
    let reads = 0;
    const base: ReadSource = { byteLength: size, tryRead: () => false, read: (o, l) => (reads++, mem.read(o, l)) };
    const progress: number[] = [];
    const { disk, worker } = await openDisk(fs, { base, baseId: "img", seed: "copy", onProgress: (d) => progress.push(d) });
    disk.write(size - 4096, new Uint8Array(4096).fill(9), false); // the guest writes while copying
    await disk.copied;
    expect(progress[0]).toBe(0);
    expect(progress.at(-1)).toBe(size);
    expect(progress.every((p, i) => i === 0 || p > progress[i - 1])).toBe(true);
    expect(disk.map.header.detached).toBe(true);
    expect(fs.calls.bytesWritten - 2 * 4096).toBeLessThan(size / 2 + 16 * 4096); // zero megabytes not stored
    const after = await reload(fs, {}, worker); // no base needed any more
    const want = bytes.slice();
    want.fill(9, size - 4096);
    expectBytes(await after.read(0, size), want);
    expect(reads).toBeLessThanOrEqual(size / (1 << 20));
  });

  it("holds writes back when the worker falls behind", async () => {
    const fs = new FakeOpfs();
    const { disk } = await openDisk(fs, { size: 4 << 20, maxQueuedBytes: 256 * 1024 });
    const results = [];
    for (let i = 0; i < 16; i++) results.push(disk.write(i * 65536, new Uint8Array(65536).fill(i), false));
    expect(results.some((r) => r instanceof Promise)).toBe(true);
    await Promise.all(results);
    await disk.flush();
    expect(disk.queued).toBe(0);
  });

  it("transfers buffers to and from the worker", async () => {
    const fs = new FakeOpfs();
    const { disk, worker } = await openDisk(fs, { size: 1 << 20 });
    const before = worker.stats.transferred;
    disk.write(0, new Uint8Array(512).fill(1), false);
    expect(worker.stats.transferred).toBe(before + 1);
    await disk.flush();
    expectBytes(await disk.read(0, 512), new Uint8Array(512).fill(1));
  });

  it("works past 2 GiB with a sparse data file", async () => {
    const fs = new FakeOpfs();
    const size = 3 * 1024 ** 3;
    const { disk, worker } = await openDisk(fs, { size });
    const at = 2 ** 31 + 4096;
    await disk.write(at, patternBytes(at, 8192), true);
    await disk.write(size - 512, new Uint8Array(512).fill(1), true);
    const after = await reload(fs, {}, worker);
    expect(after.byteLength).toBe(size);
    expectBytes(await readBack(after, at - 512, 9216), new Uint8Array([...new Uint8Array(512), ...patternBytes(at, 8192), ...new Uint8Array(512)]));
    expectBytes(await after.read(size - 1024, 1024), new Uint8Array([...new Uint8Array(512), ...new Uint8Array(512).fill(1)]));
    expectBytes(await after.read(1 << 30, 4096), new Uint8Array(4096)); // never written: zeros without a file read
  });

  it("refuses a second open of the same disk", async () => {
    const fs = new FakeOpfs();
    await openDisk(fs, { size: 1 << 20 });
    await expect(openDisk(fs, { size: 1 << 20 })).rejects.toThrow(/locked/);
  });
});

describe("persistent disk worker failures", () => {
  it("fails pending and later requests when the worker dies, instead of waiting forever", async () => {
    const fs = new FakeOpfs();
    const w = fakeWorker(fs);
    const endpoint = Object.assign(w.endpoint, { onerror: null as ((e: ErrorEvent) => void) | null });
    const disk = await OpfsBackend.open({ name: "disk", size: 1 << 20, worker: endpoint });
    disk.write(0, new Uint8Array(4096).fill(1), false);
    const pending = disk.read(0, 4096); // from the data file: a worker request
    w.kill();
    endpoint.onerror!({ message: "boom", preventDefault() {} } as ErrorEvent);
    await expect(pending).rejects.toThrow(/worker failed: boom/);
    await expect(disk.flush()).rejects.toThrow(/worker failed/);
  });
});

describe("disk worker: reads into a buffer handed over for reuse", () => {
  it("answers in that buffer, zeros past the end of the file however dirty it was", async () => {
    const fs = new FakeOpfs();
    const ch = new Channel(fakeWorker(fs).endpoint);
    expect((await ch.call({ op: "open", name: "reuse" })).ok).toBe(true);
    const data = patternBytes(0, 8192);
    expect((await ch.call({ op: "write", offset: 0, data: data.slice().buffer, fua: false, map: [], seen: 0 })).ok).toBe(true);
    // A dirty 64 KiB buffer for a 16 KiB read that runs 8 KiB past the end of the file.
    const into = new Uint8Array(65536).fill(0xee).buffer;
    const r = await ch.call({ op: "read", offset: 0, length: 16384, into }, [into]);
    expect(r.ok && r.data?.byteLength).toBe(65536); // the same buffer came back
    const got = new Uint8Array(r.ok ? r.data! : new ArrayBuffer(0), 0, 16384);
    expectBytes(got.subarray(0, 8192), data);
    expect(got.subarray(8192).every((b) => b === 0)).toBe(true);
    // Too small a buffer: a fresh one instead.
    const small = new ArrayBuffer(512);
    const r2 = await ch.call({ op: "read", offset: 0, length: 4096, into: small }, [small]);
    expect(r2.ok && r2.data?.byteLength).toBe(4096);
  });
});
