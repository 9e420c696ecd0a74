// The overlay's memory budget: past it, least recently written pages go to a spill store (here an
// in-memory stand-in that answers in order, a tick later, and can fail) and come back through
// async reads; contents match a byte model throughout, whatever spills, rewrites and zeroings
// race with reads. The real store (OPFS through the disk worker) is tested in Chromium
// (e2e/browser/spill.spec.ts).
import { afterEach, describe, expect, it, vi } from "vitest";
import { Overlay } from "../../src/backends/overlay.ts";
import { CowBackend } from "../../src/backends/cow-disk.ts";
import { MemoryBackend } from "../../src/backends/memory.ts";
import type { SpillStore } from "../../src/backends/spill.ts";
import { conformance, expectBytes, patternBytes, readBack } from "./conformance.ts";

const KiB = 1024;
const PAGE = 16 * KiB; // 32 blocks of 512 bytes

/** An ordered, asynchronous store in memory; `fail` makes writes fail from then on. */
class FakeStore implements SpillStore {
  bytes = new Uint8Array(0);
  writes = 0;
  reads = 0;
  fail = false;
  closed = false;
  private queue: Promise<unknown> = Promise.resolve();

  private later<T>(f: () => T): Promise<T> {
    const p = this.queue.then(() => new Promise<T>((resolve, reject) => setTimeout(() => {
      try {
        resolve(f());
      } catch (e) {
        reject(e);
      }
    }, 0)));
    this.queue = p.catch(() => undefined);
    return p;
  }

  write(offset: number, buffer: ArrayBuffer, length: number): Promise<ArrayBuffer | undefined> {
    const copy = new Uint8Array(buffer, 0, length).slice();
    new Uint8Array(buffer).fill(0xee); // handed over: what comes back holds nothing of use
    return this.later(() => {
      if (this.fail) throw new Error("QuotaExceededError: no room");
      this.writes++;
      if (offset + copy.length > this.bytes.length) {
        const grown = new Uint8Array(Math.max(offset + copy.length, this.bytes.length * 2));
        grown.set(this.bytes);
        this.bytes = grown;
      }
      this.bytes.set(copy, offset);
      return buffer;
    });
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    return this.later(() => {
      this.reads++;
      const out = new Uint8Array(length);
      out.set(this.bytes.subarray(offset, Math.min(offset + length, this.bytes.length)));
      return out;
    });
  }

  close(): Promise<void> {
    return this.later(() => {
      this.closed = true;
    });
  }
}

const settle = () => new Promise((r) => setTimeout(r, 20));

/** A small deterministic PRNG so failures repeat. */
function rng(seed: number) {
  return () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

conformance("copy-on-write spilling past a 64 KiB budget", async (size) => {
  const store = new FakeStore();
  return {
    backend: new CowBackend(MemoryBackend.fromBuffer(patternBytes(0, size)), { memoryBudget: 64 * KiB, spill: async () => store }),
    patterned: true,
    chunk: PAGE,
    volatileWriteCache: false,
  };
});

describe("overlay memory budget", () => {
  afterEach(() => vi.restoreAllMocks());

  it("keeps at most the budget in memory, spills the rest, and reads back what a byte model says", async () => {
    const size = 4 * 1024 * KiB;
    const store = new FakeStore();
    const disk = new CowBackend(MemoryBackend.fromBuffer(patternBytes(0, size)), { memoryBudget: 128 * KiB, spill: async () => store });
    const model = patternBytes(0, size);
    const r = rng(7);
    let asyncReads = 0;
    for (let step = 0; step < 1200; step++) {
      const blocks = 1 + Math.floor(r() * (r() < 0.1 ? 300 : 40));
      const off = Math.floor(r() * (size / 512 - blocks)) * 512;
      const len = blocks * 512;
      const what = r();
      if (what < 0.6) {
        const d = new Uint8Array(len).map(() => Math.floor(r() * 256));
        disk.write(off, d, false);
        model.set(d, off);
      } else if (what < 0.7) {
        disk.writeZeroes(off, len);
        model.fill(0, off, off + len);
      } else {
        // Checked before the next write (spills in flight go on meanwhile); races with writes are the next test's.
        const want = model.slice(off, off + len);
        const dst = new Uint8Array(len);
        if (disk.tryRead(off, dst)) expectBytes(dst, want, `sync read at ${off}`);
        else {
          expectBytes(await disk.read(off, len), want, `async read at ${off}+${len}`);
          asyncReads++;
        }
        // Let spills and reads make progress now and then, so they interleave with writes.
        if (step % 21 === 0) await settle();
      }
    }
    await vi.waitFor(() => expect(disk.overlay.residentBytes).toBeLessThanOrEqual(128 * KiB));
    expect(disk.overlay.spilledBytes).toBeGreaterThan(1024 * KiB);
    expect(store.writes).toBeGreaterThan(0);
    expect(asyncReads).toBeGreaterThan(10);
    expectBytes(await readBack(disk, 0, size), model, "whole disk");
  });

  it("reads a page again when it was spilled anew while its read was under way", async () => {
    const store = new FakeStore();
    const o = new Overlay(1024 * KiB, 512, { memoryBudget: PAGE, spill: async () => store });
    o.write(0, new Uint8Array(PAGE).fill(1));
    o.write(PAGE, new Uint8Array(PAGE).fill(2)); // over budget: page 0 spills
    await settle();
    expect(o.inMemory(0, PAGE)).toBe(false);
    const dst = new Uint8Array(PAGE);
    const reading = o.applyAll(0, dst);
    // Before the read is answered: page 0 half rewritten (in memory), then spilled again.
    o.write(0, new Uint8Array(PAGE / 2).fill(3));
    o.write(2 * PAGE, new Uint8Array(PAGE).fill(4));
    o.write(3 * PAGE, new Uint8Array(PAGE).fill(5));
    await reading;
    await settle();
    const want = new Uint8Array(PAGE).fill(1);
    want.fill(3, 0, PAGE / 2);
    expectBytes(dst, want);
    const again = new Uint8Array(PAGE);
    await o.applyAll(0, again);
    expectBytes(again, want);
  });

  it("frees a spilled page's slot once every block of it is rewritten or zeroed", async () => {
    const store = new FakeStore();
    const o = new Overlay(1024 * KiB, 512, { memoryBudget: PAGE, spill: async () => store });
    o.write(0, new Uint8Array(PAGE).fill(1));
    o.write(PAGE, new Uint8Array(PAGE).fill(2));
    await settle();
    const spilled = o.spilledBytes;
    expect(o.inMemory(0, PAGE)).toBe(false);
    o.zero(0, PAGE);
    expect(o.spilledBytes).toBe(spilled - PAGE);
    expect(o.covers(0, PAGE)).toBe(true);
    const dst = new Uint8Array(PAGE).fill(9);
    await o.applyAll(0, dst);
    expectBytes(dst, new Uint8Array(PAGE));
  });

  it("refuses a snapshot once pages were spilled, saying why", async () => {
    const store = new FakeStore();
    const disk = new CowBackend(MemoryBackend.fromBuffer(new Uint8Array(1024 * KiB)), { memoryBudget: PAGE, spill: async () => store });
    disk.write(0, new Uint8Array(PAGE).fill(1), false);
    expect(disk.saveOverlay().pageIndex.length).toBe(1);
    disk.write(PAGE, new Uint8Array(PAGE).fill(2), false);
    await settle();
    expect(() => disk.saveOverlay()).toThrow(/spilled out of memory.*raise memoryBudget/);
    // A restore replaces everything, spilled pages included.
    const fresh = new CowBackend(MemoryBackend.fromBuffer(new Uint8Array(1024 * KiB)));
    fresh.write(512, new Uint8Array(512).fill(7), false);
    disk.restoreOverlay(fresh.saveOverlay());
    expect(disk.overlay.spilledBytes).toBe(0);
    expectBytes(await readBack(disk, 0, 1024), new Uint8Array(1024).fill(7, 512));
    await disk.close();
    expect(store.closed).toBe(true);
  });

  it("loses nothing when the store fails: the pages stay in memory and spilling stops, with a warning", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const store = new FakeStore();
    const o = new Overlay(1024 * KiB, 512, { memoryBudget: PAGE, spill: async () => store });
    store.fail = true;
    for (let i = 0; i < 8; i++) o.write(i * PAGE, new Uint8Array(PAGE).fill(i + 1));
    await vi.waitFor(() => expect(warn).toHaveBeenCalled());
    await settle();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0][0])).toMatch(/spill store failed.*nothing written was lost/);
    expect(o.spilledBytes).toBe(0);
    expect(o.residentBytes).toBe(8 * PAGE);
    for (let i = 0; i < 8; i++) {
      const dst = new Uint8Array(PAGE);
      o.apply(i * PAGE, dst);
      expectBytes(dst, new Uint8Array(PAGE).fill(i + 1));
    }
  });

  it("without a spill store (Node) keeps everything in memory and says so once, in its log", async () => {
    const seen: string[] = [];
    const o = new Overlay(1024 * KiB, 512, { memoryBudget: 2 * PAGE, log: (level, msg) => void seen.push(`${level} ${msg}`) });
    o.write(0, new Uint8Array(2 * PAGE));
    expect(seen).toEqual([]); // at the budget, not past it
    for (let i = 0; i < 4; i++) o.write(i * PAGE, new Uint8Array(PAGE).fill(1));
    expect(o.residentBytes).toBe(4 * PAGE);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/^warn .*no Origin Private File System.*not enforced/);
  });

  it("refuses a budget that is not a positive number", () => {
    expect(() => new Overlay(1024 * KiB, 512, { memoryBudget: 0 })).toThrow(/memoryBudget/);
    expect(() => new Overlay(1024 * KiB, 512, { memoryBudget: -1 })).toThrow(/memoryBudget/);
    expect(() => new Overlay(1024 * KiB, 512, { memoryBudget: Number.NaN })).toThrow(/memoryBudget/);
  });
});
