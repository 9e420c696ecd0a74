// The chunk cache: LRU order under a byte budget, one fetch per chunk, read-ahead only for
// sequential readers, and updates that keep a cache over a changing source coherent.
import { describe, it, expect } from "vitest";
import { ChunkCache } from "../../src/backends/chunk-cache.ts";
import { expectBytes } from "./conformance.ts";

/** A source whose bytes can change, with fetches released by hand. */
function source(size: number) {
  const bytes = new Uint8Array(size).map((_, i) => i & 0xff);
  const waiting: (() => void)[] = [];
  const s = {
    bytes,
    fetched: [] as number[],
    manual: false,
    release: () => waiting.splice(0).forEach((f) => f()),
    fetch: (i: number, start: number, length: number) =>
      new Promise<Uint8Array>((resolve) => {
        s.fetched.push(i);
        // The bytes as of the moment of the call, like a request posted then.
        const snap = bytes.slice(start, start + length);
        if (s.manual) waiting.push(() => resolve(snap));
        else setTimeout(() => resolve(snap), 0);
      }),
  };
  return s;
}

describe("chunk cache", () => {
  it("evicts the least recently used chunk first", async () => {
    const s = source(64 * 1024);
    const c = new ChunkCache(s.bytes.length, s.fetch, { chunkSize: 4096, cacheBytes: 3 * 4096 });
    for (const i of [0, 1, 2]) await c.read(i * 4096, 512);
    expect(c.tryRead(0, new Uint8Array(512))).toBe(true); // 0 is now the most recent
    await c.read(3 * 4096, 512); // evicts 1
    expect(c.tryRead(4096, new Uint8Array(512))).toBe(false);
    expect(c.tryRead(0, new Uint8Array(512))).toBe(true);
    expect(c.residentBytes).toBe(3 * 4096);
  });

  it("does not cache or share a fetch that was overtaken by a change", async () => {
    const s = source(64 * 1024);
    s.manual = true;
    const c = new ChunkCache(s.bytes.length, s.fetch, { chunkSize: 4096, cacheBytes: 64 * 1024 });
    const early = c.read(0, 4096);
    s.bytes.fill(0xaa, 1024, 2048);
    c.update(1024, 1024, s.bytes.subarray(1024, 2048));
    const late = c.read(0, 4096); // must not join the early fetch
    expect(s.fetched).toEqual([0, 0]);
    s.release();
    const [e, l] = await Promise.all([early, late]);
    expect(e[1024]).toBe(0); // as of its request
    expect(l[1024]).toBe(0xaa);
    const dst = new Uint8Array(4096);
    expect(c.tryRead(0, dst)).toBe(true);
    expectBytes(dst, s.bytes.subarray(0, 4096));
  });

  it("patches cached chunks, zeroes them, or drops them when the new bytes are unknown", async () => {
    const s = source(16 * 1024);
    const c = new ChunkCache(s.bytes.length, s.fetch, { chunkSize: 4096, cacheBytes: 16 * 1024 });
    await c.read(0, 16 * 1024);
    c.update(4096 - 512, 1024, new Uint8Array(1024).fill(7));
    c.update(8192, 512, null);
    c.update(12288, 512);
    const dst = new Uint8Array(8192 + 512);
    expect(c.tryRead(0, dst)).toBe(true);
    expect([dst[4095 - 512], dst[4096 - 512], dst[4096 + 511], dst[4096 + 512]]).toEqual([(4095 - 512) & 0xff, 7, 7, (4096 + 512) & 0xff]);
    expect(dst[8192]).toBe(0);
    expect(c.tryRead(12288, new Uint8Array(512))).toBe(false);
  });

  it("reads ahead for a sequential reader only, within the budget", async () => {
    const s = source(1 << 20);
    const c = new ChunkCache(s.bytes.length, s.fetch, { chunkSize: 4096, cacheBytes: 4 * 4096, readAhead: 8 });
    expect(c.readAhead).toBe(3); // clamped so prefetches do not evict what is being read
    for (const o of [40960, 8192, 200000 & ~511, 90000 & ~511]) await c.read(o, 512);
    expect(c.stats.prefetches).toBe(0);
    for (let o = 0; o < 4 * 4096; o += 1024) await c.read(o, 1024);
    expect(c.stats.prefetches).toBeGreaterThan(0);
  });
});
