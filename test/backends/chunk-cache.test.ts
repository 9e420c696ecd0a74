// The chunk cache: LRU order under a byte budget, one fetch per granule, read-ahead only for
// sequential readers (whatever their read size), a prefetch plan behind the reader's own fetches,
// and updates that keep a cache over a changing source coherent.
import { describe, it, expect } from "vitest";
import { BackendError } from "../../src/backends/block-backend.ts";
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

  /** Reads `size`-byte pieces back to back over 8 MiB through a cache shaped like the HTTP disk's. */
  async function sequential(size: number) {
    const s = source(8 << 20);
    let running = 0;
    let most = 0;
    const fetch = async (i: number, start: number, length: number) => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 2)); // a round trip
      running--;
      return s.fetch(i, start, length);
    };
    const c = new ChunkCache(s.bytes.length, fetch, { chunkSize: 256 * 1024, granule: 16 * 1024, cacheBytes: 32 << 20, readAhead: 16, maxFetches: 4 });
    let waited = 0;
    for (let o = 0; o + size <= s.bytes.length; o += size) {
      const dst = new Uint8Array(size);
      if (!c.tryRead(o, dst)) {
        waited++;
        dst.set(await c.read(o, size));
      }
      expectBytes(dst, s.bytes.subarray(o, o + size));
    }
    return { ...c.stats, waited, most };
  }

  it("reads ahead of sequential reads whatever their size and alignment (65,024-byte reads as well as 64 KiB ones)", async () => {
    // Before, 65,024-byte reads straddling chunks never counted as sequential: 32 fetches, 0 prefetches.
    for (const size of [65024, 64 * 1024]) {
      const st = await sequential(size);
      expect(st.fetches, `${size}: fetches on demand`).toBeLessThanOrEqual(2);
      expect(st.prefetches, `${size}: fetched ahead`).toBeGreaterThanOrEqual(8);
      expect(st.most, `${size}: in flight`).toBeLessThanOrEqual(4);
      expect(st.bytesFetched, `${size}: nothing fetched twice`).toBeLessThanOrEqual(8 << 20);
    }
  });

  it("fetches just the granules a scattered reader misses, and the reader's fetch jumps the prefetch queue", async () => {
    const s = source(64 << 20);
    const sizes: number[] = [];
    s.manual = true;
    const fetch = (i: number, start: number, length: number) => {
      sizes.push(length);
      return s.fetch(i, start, length);
    };
    const c = new ChunkCache(s.bytes.length, fetch, { chunkSize: 256 * 1024, granule: 16 * 1024, cacheBytes: 32 << 20, maxFetches: 4 });
    // A plan of 80 chunks: 3 of them go out (one slot stays free for a reader), the rest wait.
    c.prefetchPlan([[32 << 20, 20 << 20]]);
    expect(s.fetched.length).toBe(3);
    const r = c.read(5_000_000 & ~511, 4096); // scattered: one granule, sent at once
    expect(s.fetched.length).toBe(4);
    expect(sizes).toEqual([256 * 1024, 256 * 1024, 256 * 1024, 16 * 1024]);
    s.release();
    expectBytes(await r, s.bytes.subarray(5_000_000 & ~511, (5_000_000 & ~511) + 4096));
    expect(c.stats.fetches).toBe(1);
    // The plan streams on, never more than cacheBytes / 2 ahead of the reader.
    for (let k = 0; k < 100 && s.fetched.length < 200; k++) {
      s.release();
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(c.stats.prefetches * 256 * 1024).toBeLessThanOrEqual(16 << 20);
    expect(c.planRemaining).toBeGreaterThan(0);
    // The reader reading what was fetched ahead lets it go on.
    for (let at = 32 << 20, k = 0; k < 2000 && c.planRemaining > 0; k++) {
      const r = c.read(at, 1 << 20);
      s.release();
      await r;
      at = Math.min(at + (1 << 20), (52 << 20) - (1 << 20));
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(c.planRemaining).toBe(0);
    expect(c.stats.maxInFlight).toBeLessThanOrEqual(4);
    expect(c.stats.bytesFetched).toBeLessThanOrEqual((20 << 20) + 16 * 1024); // nothing twice
  });

  it("keeps a plan within the cache when the reader strays from its order", async () => {
    const s = source(64 << 20);
    const c = new ChunkCache(s.bytes.length, (i, start, length) => s.fetch(i, start, length), { chunkSize: 256 * 1024, granule: 16 * 1024, cacheBytes: 8 << 20, maxFetches: 4 });
    // A 48 MiB plan, six times the cache; the reader reads its last granule first, then the plan
    // in order.
    c.prefetchPlan([[0, 48 << 20]]);
    expectBytes(await c.read((48 << 20) - 4096, 4096), s.bytes.subarray((48 << 20) - 4096, 48 << 20));
    for (let at = 0; at < 48 << 20; at += 1 << 20) {
      expectBytes(await c.read(at, 1 << 20), s.bytes.subarray(at, at + (1 << 20)));
      await new Promise((r) => setTimeout(r, 5)); // a reader slower than the source
      // Never more fetched ahead and unread than the lead (half the cache) plus what is under way.
      expect(c.stats.unreadBytes).toBeLessThanOrEqual((4 << 20) + 4 * 256 * 1024);
    }
    // Each granule of the plan fetched once: the plan never ran so far ahead that the cache dropped it unread.
    expect(c.stats.bytesFetched).toBeLessThanOrEqual((48 << 20) + 256 * 1024);
  });

  it("holds a plan's lead on top of the budget until it was read, then shrinks back", async () => {
    const s = source(64 << 20);
    const c = new ChunkCache(s.bytes.length, (i, start, length) => s.fetch(i, start, length), { chunkSize: 256 * 1024, granule: 16 * 1024, cacheBytes: 4 << 20, maxFetches: 4 });
    // A 24 MiB plan with 24 MiB of room: while the reader is busy elsewhere, all of it comes in.
    c.prefetchPlan([[8 << 20, 24 << 20]], 24 << 20, 24 << 20);
    for (let k = 0; k < 500 && c.planRemaining + c.pendingFetches > 0; k++) await new Promise((r) => setTimeout(r, 1));
    expect(c.planRemaining).toBe(0);
    expect(c.residentBytes).toBe(24 << 20);
    expect(c.stats.unreadBytes).toBe(24 << 20);
    // Read in order: no request more, and once all was read the cache is back to its budget.
    const before = c.stats.bytesFetched;
    for (let at = 8 << 20; at < 32 << 20; at += 1 << 20) expectBytes(await c.read(at, 1 << 20), s.bytes.subarray(at, at + (1 << 20)));
    expect(c.stats.bytesFetched).toBe(before);
    expect(c.stats.unreadBytes).toBe(0);
    expect(c.residentBytes).toBeLessThanOrEqual(4 << 20);
  });

  it("evicts what was read before what was fetched ahead and waits to be read", async () => {
    const s = source(64 << 20);
    const c = new ChunkCache(s.bytes.length, (i, start, length) => s.fetch(i, start, length), { chunkSize: 256 * 1024, granule: 16 * 1024, cacheBytes: 4 << 20, maxFetches: 4 });
    c.prefetchPlan([[0, 24 << 20]], 24 << 20, 24 << 20);
    for (let k = 0; k < 500 && c.planRemaining + c.pendingFetches > 0; k++) await new Promise((r) => setTimeout(r, 1));
    // The reader works through the plan and reads as much elsewhere: what it read becomes recent,
    // what waits for it is older, and must not be what goes when the cache is full.
    for (let k = 0; k < 24; k++) {
      expectBytes(await c.read(k << 20, 1 << 20), s.bytes.subarray(k << 20, (k + 1) << 20));
      expectBytes(await c.read((40 + k) << 20, 1 << 20), s.bytes.subarray((40 + k) << 20, (41 + k) << 20));
    }
    expect(c.stats.bytesFetched).toBe(48 << 20);
    expect(c.stats.unreadBytes).toBe(0);
  });

  it("does not let read-ahead that was never read crowd out what was read", async () => {
    const s = source(64 << 20);
    const c = new ChunkCache(s.bytes.length, (i, start, length) => s.fetch(i, start, length), { chunkSize: 256 * 1024, granule: 16 * 1024, cacheBytes: 4 << 20, readAhead: 4, maxFetches: 4 });
    // A working set of 1 MiB in scattered granules, read twice.
    const set = Array.from({ length: 64 }, (_, k) => (32 << 20) + k * 64 * 1024);
    for (const at of set) await c.read(at, 16 * 1024);
    // Many short sequential streaks, each abandoned after it set read-ahead going.
    for (let k = 0; k < 40; k++) {
      const at = k << 20;
      for (let j = 0; j < 3; j++) await c.read(at + j * 65536, 65536);
      for (let w = 0; w < 20 && c.pendingFetches > 0; w++) await new Promise((r) => setTimeout(r, 1));
      for (const at2 of set.slice(0, 8)) c.tryRead(at2, new Uint8Array(16 * 1024)); // some of the set stays in use
    }
    const before = c.stats.bytesFetched;
    for (const at of set.slice(0, 8)) expect(c.tryRead(at, new Uint8Array(16 * 1024))).toBe(true);
    expect(c.stats.bytesFetched).toBe(before);
  });

  it("answers a reader whose prefetch failed with a fetch of its own, and stops prefetching", async () => {
    const s = source(4 << 20);
    let failing = true;
    const fetch = (i: number, start: number, length: number) =>
      failing && length > 16 * 1024 ? Promise.reject(new BackendError("reset", "read")) : s.fetch(i, start, length);
    const c = new ChunkCache(s.bytes.length, fetch, { chunkSize: 256 * 1024, granule: 16 * 1024, cacheBytes: 8 << 20, maxFetches: 4 });
    c.prefetchPlan([[0, 4 << 20]]);
    expectBytes(await c.read(0, 65024), s.bytes.subarray(0, 65024)); // joined the failed prefetch, then fetched again
    expect(c.planRemaining).toBe(0);
    failing = false;
    expectBytes(await c.read(1 << 20, 4096), s.bytes.subarray(1 << 20, (1 << 20) + 4096));
    expect(c.pendingFetches).toBe(0);
  });
});
