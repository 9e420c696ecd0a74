// The HTTP backend against local servers on 127.0.0.1: one honouring Range, one ignoring it, and
// ones failing, cutting or falsifying answers. The backend must report errors, never wrong bytes,
// and send a bounded, predictable number of requests.
import { describe, it, expect, afterEach, vi } from "vitest";
import { HttpBackend, HttpImageError, HttpSource } from "../../src/backends/http.ts";
import { BackendError } from "../../src/backends/block-backend.ts";
import { conformance, expectBytes, patternBytes, readBack } from "./conformance.ts";
import { imageServer, type Fault, type ImageServer, type ImageServerOptions } from "./image-server.ts";

const KiB = 1024;
const servers: ImageServer[] = [];
async function serve(o: ImageServerOptions): Promise<ImageServer> {
  const s = await imageServer(o);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** The error a promise rejects with (fails when it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  const r = await p.then(
    (v) => ({ ok: true as const, v }),
    (e: unknown) => ({ ok: false as const, e }),
  );
  if (r.ok) expect.fail(`expected a rejection, got ${r.v instanceof Uint8Array ? `${r.v.length} bytes` : String(r.v)}`);
  return r.e as Error;
}

const tick = () => new Promise((r) => setTimeout(r, 20));

conformance("http", async (size) => {
  let failing = false;
  const server = await serve({ size, fault: () => (failing ? "500" : undefined) });
  const backend = await HttpBackend.open(server.url, { chunkSize: 16 * KiB, cacheBytes: 64 * KiB, retries: 1, retryDelayMs: 1 });
  return {
    backend,
    patterned: true,
    chunk: 16 * KiB,
    volatileWriteCache: false,
    failReads: (on) => {
      failing = on;
      backend.base.cache.clear();
    },
  };
});

describe("http backend", () => {
  it("learns the size with one ranged probe, looks for a boot trace once, and reads lazily, a granule at a time", async () => {
    const s = await serve({ size: 1 << 20, etag: () => '"v1"' });
    const disk = await HttpBackend.open(s.url, { chunkSize: 64 * KiB });
    expect(disk.byteLength).toBe(1 << 20);
    expect(await disk.base.bootTrace).toBe(false);
    expect(s.log.sort()).toEqual(["GET /disk.img bytes=0-511", "GET /disk.img.boot-trace.json"]);
    expectBytes(await disk.read(100 * 512, 4096), patternBytes(100 * 512, 4096));
    expect(s.log[2]).toBe("GET /disk.img bytes=49152-65535"); // the 16 KiB granule around it
    const dst = new Uint8Array(1024);
    expect(disk.tryRead(100 * 512, dst)).toBe(true); // a cache hit completes synchronously
    expectBytes(dst, patternBytes(100 * 512, 1024));
    expect(disk.tryRead(0, dst)).toBe(false);
    expect(s.requests).toBe(3);
  });

  it("falls back to HEAD when Content-Range is not visible", async () => {
    const s = await serve({ size: 3 * 512 * 1000, hideContentRange: true });
    const disk = await HttpBackend.open(s.url, { chunkSize: 16 * KiB, bootTrace: false });
    expect(disk.byteLength).toBe(3 * 512 * 1000);
    expect(s.log).toEqual(["GET /disk.img bytes=0-511", "HEAD /disk.img"]);
    expectBytes(await disk.read(disk.byteLength - 2048, 2048), patternBytes(disk.byteLength - 2048, 2048));
  });

  it("probes without downloading the image from a server that reads an end of 0 as the file's end (vite's sirv)", async () => {
    const s = await serve({ size: 8 << 20, zeroEndMeansAll: true });
    const disk = await HttpBackend.open(s.url, { chunkSize: 64 * KiB, readAhead: 0 });
    expect(disk.byteLength).toBe(8 << 20);
    expect(s.bytesSent).toBe(512);
  });

  it("opens an image smaller than the probe, padded to a whole sector", async () => {
    const s = await serve({ size: 300 });
    const disk = await HttpBackend.open(s.url);
    expect(disk.byteLength).toBe(512);
    const got = await disk.read(0, 512);
    expectBytes(got.subarray(0, 300), patternBytes(0, 300));
    expect(got.subarray(300).every((x) => x === 0)).toBe(true);
  });

  it("refuses a server that ignores Range, clearly and at once", async () => {
    const s = await serve({ size: 256 * KiB, ignoreRange: true });
    const e = await rejection(HttpBackend.open(s.url, { bootTrace: false }));
    expect(e).toBeInstanceOf(HttpImageError);
    expect(e.message).toMatch(/ignores HTTP Range/);
    // Told the size, it opens, but no read returns the misplaced bytes.
    const disk = await HttpBackend.open(s.url, { size: 256 * KiB, chunkSize: 16 * KiB, bootTrace: false });
    const r = await rejection(disk.read(32 * KiB, 512));
    expect(r).toBeInstanceOf(BackendError);
    expect(r.message).toMatch(/ignored the Range request/);
    expect(s.requests).toBe(2);
  });

  it("names a web page answered for the image (a dev server's index page for an unknown path) as such", async () => {
    const page = "<!doctype html><title>app</title>";
    const fetchPage: typeof fetch = async () => new Response(page, { status: 200, headers: { "content-type": "text/html; charset=utf-8" } });
    const e = await rejection(HttpBackend.open("http://127.0.0.1:9/guest/typo.img", { fetch: fetchPage, bootTrace: false }));
    expect(e).toBeInstanceOf(HttpImageError);
    expect(e.message).toContain("http://127.0.0.1:9/guest/typo.img serves a web page, not a disk image");
  });

  it("reports an image missing or failing at open", async () => {
    const s = await serve({ size: 64 * KiB });
    expect(await rejection(HttpBackend.open(s.url.replace("disk.img", "nothing.img")))).toBeInstanceOf(HttpImageError);
    const dead = s.url;
    await s.close();
    servers.length = 0;
    expect(await rejection(HttpBackend.open(dead))).toBeInstanceOf(HttpImageError);
  });

  it("retries transient failures a bounded number of times, then reports a read error", async () => {
    let mode: Fault = "500";
    let faults = 0;
    const s = await serve({
      size: 1 << 20,
      fault: (n) => {
        if (n === 1 || mode === undefined) return undefined;
        faults++;
        return faults % 2 === 1 ? mode : undefined; // every other request fails
      },
    });
    const disk = await HttpBackend.open(s.url, { chunkSize: 64 * KiB, retries: 2, retryDelayMs: 1, readAhead: 0, bootTrace: false });
    expectBytes(await disk.read(0, 128 * KiB), patternBytes(0, 128 * KiB));
    expect(disk.stats.retries).toBeGreaterThan(0);
    expect(s.requests).toBeLessThanOrEqual(1 + 2 * 3);
    mode = "cut";
    expectBytes(await disk.read(256 * KiB, 64 * KiB), patternBytes(256 * KiB, 64 * KiB));
    // Always failing: 1 + retries attempts, then a BackendError of kind "read".
    const always = await serve({ size: 1 << 20, fault: (n) => (n === 1 ? undefined : "500") });
    const d2 = await HttpBackend.open(always.url, { chunkSize: 64 * KiB, retries: 2, retryDelayMs: 1, readAhead: 0, bootTrace: false });
    const e = await rejection(d2.read(0, 4096));
    expect(e).toBeInstanceOf(BackendError);
    expect((e as BackendError).kind).toBe("read");
    expect(always.requests).toBe(1 + 3);
  });

  it("never returns bytes from a falsified answer", async () => {
    for (const f of ["wrong-range", "wrong-total", "too-long"] as Fault[]) {
      const s = await serve({ size: 1 << 20, fault: (n) => (n === 2 ? f : undefined) });
      const disk = await HttpBackend.open(s.url, { chunkSize: 64 * KiB, retries: 3, retryDelayMs: 1, readAhead: 0, bootTrace: false });
      const e = await rejection(disk.read(64 * KiB, 4096));
      expect(e, f).toBeInstanceOf(BackendError);
      expect(s.requests, `${f}: not retried`).toBe(2);
      // The chunk was not cached: the next read asks again and gets the right bytes.
      expectBytes(await disk.read(64 * KiB, 4096), patternBytes(64 * KiB, 4096), f);
    }
  });

  it("detects an image that changed on the server", async () => {
    let etag = '"v1"';
    const s = await serve({ size: 1 << 20, etag: () => etag });
    const disk = await HttpBackend.open(s.url, { chunkSize: 64 * KiB, readAhead: 0 });
    await disk.read(0, 512);
    etag = '"v2"';
    expect((await rejection(disk.read(512 * KiB, 512))).message).toMatch(/changed on the server/);
  });

  it("names the version it opened (size and validator): a persistent overlay over it is refused over a rebuilt image", async () => {
    let etag = '"v1"';
    const s = await serve({ size: 1 << 20, etag: () => etag, lastModified: "Mon, 07 Dec 2026 00:00:00 GMT" });
    const first = (await HttpBackend.open(s.url, { bootTrace: false })).identity;
    expect(first).toBe(`${s.url} (1048576 bytes, ETag "v1")`);
    expect((await HttpBackend.open(s.url, { bootTrace: false })).identity).toBe(first);
    etag = '"v2"';
    expect((await HttpBackend.open(s.url, { bootTrace: false })).identity).not.toBe(first);
    // Without a strong ETag, Last-Modified names the version.
    const weak = await serve({ size: 1 << 20, etag: () => 'W/"x"', lastModified: "Mon, 07 Dec 2026 00:00:00 GMT" });
    expect((await HttpBackend.open(weak.url, { bootTrace: false })).identity).toBe(`${weak.url} (1048576 bytes, modified Mon, 07 Dec 2026 00:00:00 GMT)`);
  });

  it("sends one request for a granule however many readers want it", async () => {
    const s = await serve({ size: 1 << 20 });
    const disk = await HttpBackend.open(s.url, { chunkSize: 64 * KiB, granule: 64 * KiB, readAhead: 0, bootTrace: false });
    const reads = await Promise.all(Array.from({ length: 20 }, (_, i) => disk.read((i % 8) * 4096, 4096)));
    reads.forEach((r, i) => expectBytes(r, patternBytes((i % 8) * 4096, 4096)));
    expect(s.requests).toBe(2);
  });

  it("keeps the cache within its byte budget", async () => {
    const s = await serve({ size: 2 << 20 });
    const disk = await HttpBackend.open(s.url, { chunkSize: 64 * KiB, cacheBytes: 256 * KiB, readAhead: 0, bootTrace: false });
    for (let o = 0; o < 2 << 20; o += 64 * KiB) await disk.read(o, 64 * KiB);
    expect(disk.base.cache.residentBytes).toBeLessThanOrEqual(256 * KiB);
    expect(disk.tryRead(0, new Uint8Array(512))).toBe(false); // evicted
    expect(disk.tryRead((2 << 20) - 512, new Uint8Array(512))).toBe(true);
    expect(s.requests).toBe(1 + 32);
  });

  it("reads ahead for a sequential reader, within bounds", async () => {
    const s = await serve({ size: 4 << 20 });
    const disk = await HttpBackend.open(s.url, { chunkSize: 64 * KiB, cacheBytes: 1 << 20, readAhead: 3, bootTrace: false });
    const chunks = 16;
    let sync = 0;
    for (let o = 0; o < chunks * 64 * KiB; o += 32 * KiB) {
      const dst = new Uint8Array(32 * KiB);
      if (disk.tryRead(o, dst)) sync++;
      else dst.set(await disk.read(o, 32 * KiB));
      expectBytes(dst, patternBytes(o, 32 * KiB));
      await tick();
    }
    expect(sync).toBeGreaterThan(chunks * 2 - 4); // nearly every read found its chunk fetched ahead
    expect(disk.stats.prefetches).toBeGreaterThan(0);
    // The probe, the first chunk in two misses (the streak starts with the second read), the rest
    // in whole chunks, and at most 3 chunks read ahead past the end.
    expect(s.requests).toBeLessThanOrEqual(1 + 1 + chunks + 3);
    // A random reader gets no read-ahead.
    const before = s.requests;
    for (const o of [3 << 20, 1 << 20, (5 << 19) + 4096]) await disk.read(o, 512);
    await tick();
    expect(s.requests - before).toBeLessThanOrEqual(3);
  });

  it("serves a 5 GiB image past every 32-bit offset, with writes in the overlay", async () => {
    const size = 5 * 1024 ** 3;
    const s = await serve({ size });
    const disk = await HttpBackend.open(s.url);
    expect(disk.byteLength).toBe(size);
    for (const o of [2 ** 31 - 512, 2 ** 32 - 4096 + 512, size - 512]) expectBytes(await disk.read(o, 512), patternBytes(o, 512), `at ${o}`);
    const w = new Uint8Array(4096).fill(0x77);
    disk.write(2 ** 32 - 1024, w.subarray(0, 2048), false);
    const back = await readBack(disk, 2 ** 32 - 4096, 8192);
    expectBytes(back.subarray(3072, 5120), w.subarray(0, 2048));
    expectBytes(back.subarray(0, 3072), patternBytes(2 ** 32 - 4096, 3072));
    expectBytes(back.subarray(5120), patternBytes(2 ** 32 + 1024, 3072));
    expect(s.requests).toBeLessThan(12);
  });

  it("reads pre-split part files on a host without Range", async () => {
    const chunk = 64 * KiB;
    const size = 5 * chunk + 1536; // a short last part
    let fail = 0;
    const s = await serve({ size, parts: { chunk }, fault: () => (fail-- > 0 ? "500" : undefined) });
    const base = s.url;
    const disk = await HttpBackend.open(base, { size, parts: "disk.img.{start}-{end}", chunkSize: chunk, readAhead: 0, retries: 0, bootTrace: false });
    expect(s.requests).toBe(0);
    expectBytes(await disk.read(chunk - 1024, chunk + 2048), patternBytes(chunk - 1024, chunk + 2048));
    expectBytes(await disk.read(size - 1536, 1536), patternBytes(size - 1536, 1536));
    expect(s.log).toEqual([`GET /disk.img.0-${chunk - 1}`, `GET /disk.img.${chunk}-${2 * chunk - 1}`, `GET /disk.img.${2 * chunk}-${3 * chunk - 1}`, `GET /disk.img.${5 * chunk}-${size - 1}`]);
    fail = 1;
    expect(await rejection(disk.read(3 * chunk, 512))).toBeInstanceOf(BackendError);
    // Parts need the size, and a part of the wrong size is refused.
    expect(await rejection(HttpSource.open(base, { parts: "disk.img.{start}-{end}" }))).toBeInstanceOf(HttpImageError);
    const wrong = await HttpBackend.open(base, { size, parts: "disk.img.{start}-{end}", chunkSize: chunk / 2, readAhead: 0, retries: 0 });
    expect(await rejection(wrong.read(0, 512))).toBeInstanceOf(BackendError);
  });
});

describe("http backend: boot trace", () => {
  const MiB = 1 << 20;
  const size = 16 * MiB;
  const LM = "Tue, 01 Dec 2026 23:05:52 GMT";
  /** A trace of 4 MiB in three pieces, out of order, as a boot reads. */
  const ranges: [number, number][] = [[0, 4096], [8 * MiB, 2 * MiB], [MiB, 2 * MiB - 4096]];
  const trace = (image: object = { size, lastModified: LM }) => JSON.stringify({ version: 1, image, granule: 4096, ranges });
  const warnings = () => {
    const seen: string[] = [];
    const spy = vi.spyOn(console, "warn").mockImplementation((...a: unknown[]) => void seen.push(a.join(" ")));
    return { seen, restore: () => spy.mockRestore() };
  };

  it("streams the trace's ranges ahead of the guest, in order, a few requests at a time", async () => {
    const s = await serve({ size, trace: trace(), lastModified: LM, latencyMs: 5 });
    const disk = await HttpBackend.open(s.url);
    expect(await disk.base.bootTrace).toBe(true);
    await until(() => disk.base.cache.planRemaining === 0 && disk.base.cache.pendingFetches === 0);
    // Requests after the probe and the trace, in the trace's order, four whole chunks where it runs on.
    const got = s.log.slice(2).map((l) => l.replace("GET /disk.img bytes=", ""));
    expect(got[0]).toBe("0-16383");
    expect(got.slice(1, 3)).toEqual([`${8 * MiB}-${9 * MiB - 1}`, `${9 * MiB}-${10 * MiB - 1}`]);
    expect(s.maxActive).toBeLessThanOrEqual(3); // one slot stays free for the guest
    for (const [o, n] of ranges) {
      const dst = new Uint8Array(n);
      expect(disk.tryRead(o, dst), `${o}+${n} at hand`).toBe(true);
      expectBytes(dst, patternBytes(o, n));
    }
    expect(disk.stats.fetches).toBe(0);
    expect(disk.stats.unreadBytes).toBeLessThan(64 * KiB); // granule rounding only
  });

  it("streams the trace only once traceAfter settles (a state first on a shared link)", async () => {
    const s = await serve({ size, trace: trace(), lastModified: LM, latencyMs: 5 });
    let go = (): void => {};
    const disk = await HttpBackend.open(s.url, { traceAfter: new Promise<void>((r) => (go = r)) });
    await new Promise((r) => setTimeout(r, 100));
    expect(s.log.length).toBe(2); // the probe and the trace, no range of it yet
    go();
    expect(await disk.base.bootTrace).toBe(true);
    await until(() => disk.base.cache.planRemaining === 0 && disk.base.cache.pendingFetches === 0);
    expect(s.log.length).toBeGreaterThan(2);
    const dst = new Uint8Array(4096);
    expect(disk.tryRead(8 * MiB, dst)).toBe(true);
  });

  it("ignores a trace of another image, or one that does not parse, with one warning naming it", async () => {
    const cases: [string, string | undefined, RegExp][] = [
      ["size", trace({ size: size + 512 }), /16777728 bytes/],
      ["date", trace({ size, lastModified: "Mon, 30 Nov 2026 10:00:00 GMT" }), /recorded for the image of/],
      ["etag", trace({ size, etag: '"old"' }), /ETag "old"/],
      ["json", "{ not json", /not JSON/],
      ["shape", JSON.stringify({ version: 1, image: { size }, ranges: [[0, -5]] }), /not \[offset, length\]/],
      ["version", JSON.stringify({ version: 2, image: { size }, ranges: [] }), /not a boot trace/],
    ];
    for (const [what, body, why] of cases) {
      const s = await serve({ size, trace: body, lastModified: LM, etag: () => '"new"' });
      const w = warnings();
      try {
        const disk = await HttpBackend.open(s.url);
        expect(await disk.base.bootTrace, what).toBe(false);
        expect(w.seen, what).toHaveLength(1);
        expect(w.seen[0], what).toContain(`${s.url}.boot-trace.json`);
        expect(w.seen[0], what).toMatch(why);
        await tick();
        expect(s.requests, `${what}: no prefetch`).toBe(2);
        expectBytes(await disk.read(MiB, 4096), patternBytes(MiB, 4096));
      } finally {
        w.restore();
      }
    }
  });

  it("asks for no trace when told not to, or at the URL given, and says nothing when there is none", async () => {
    const s = await serve({ size });
    const w = warnings();
    try {
      await HttpBackend.open(s.url, { bootTrace: false });
      expect(s.log).toEqual(["GET /disk.img bytes=0-511"]);
      const disk = await HttpBackend.open(s.url, { bootTrace: "elsewhere.json" });
      expect(await disk.base.bootTrace).toBe(false);
      expect(s.log).toContain("GET /elsewhere.json");
      expect(w.seen).toEqual([]); // 404: none
    } finally {
      w.restore();
    }
  });
});

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 5));
  }
}
