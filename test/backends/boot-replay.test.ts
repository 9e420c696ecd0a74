// The default image's boot, replayed: the reads a real boot made (recorded once with
// `npm run trace:boot -- --reads`), in order, each waiting for the one before, through the HTTP
// disk against a local server with a slow link (20 ms per request, 100 Mbit/s shared). Compares
// whole 256 KiB chunks with two read ahead (the former behaviour), the defaults (granules sized
// to the reads, read-ahead in chunks), and the defaults with the boot trace next to the image.
// Figures are printed; the assertions hold for any timing.
import { readFileSync } from "node:fs";
import { describe, it, expect, afterEach } from "vitest";
import { BootTraceRecorder } from "../../src/backends/boot-trace.ts";
import { HttpBackend, type HttpDiskOptions } from "../../src/backends/http.ts";
import { expectBytes, patternBytes } from "./conformance.ts";
import { imageServer, type ImageServer } from "./image-server.ts";

const reads: [number, number][] = JSON.parse(readFileSync(new URL("./fixtures/default-boot-reads.json", import.meta.url), "utf8"));
const SIZE = 202375168; // the default image's size when recorded
const KiB = 1024;

/** Distinct bytes the boot read (in 512-byte sectors). */
function distinctBytes(): number {
  const sectors = new Set<number>();
  for (const [o, n] of reads) for (let s = o / 512; s < (o + n) / 512; s++) sectors.add(s);
  return sectors.size * 512;
}

let server: ImageServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function replay(o: HttpDiskOptions, trace?: string) {
  server = await imageServer({ size: SIZE, latencyMs: 20, bytesPerSecond: 12.5e6, trace });
  const disk = await HttpBackend.open(server.url, o);
  await disk.base.bootTrace;
  const started = performance.now();
  let waitedReads = 0;
  for (const [offset, length] of reads) {
    const dst = new Uint8Array(length);
    if (!disk.tryRead(offset, dst)) {
      waitedReads++;
      dst.set(await disk.read(offset, length));
    }
    expectBytes(dst, patternBytes(offset, length), `at ${offset}`);
  }
  const ms = performance.now() - started;
  while (disk.base.cache.pendingFetches > 0) await new Promise((r) => setTimeout(r, 10));
  const st = disk.stats;
  return {
    requests: server.requests,
    maxInFlight: server.maxActive,
    demand: st.fetches,
    prefetch: st.prefetches,
    waitedReads,
    fetchedKiB: Math.round(st.bytesFetched / KiB),
    neverReadKiB: Math.round((st.bytesFetched - distinctBytes()) / KiB),
    replayMs: Math.round(ms),
  };
}

describe("the default image's boot, replayed over a slow link", () => {
  it("keeps ≤ 4 requests in flight, and with the boot trace prefetches nearly everything and wastes little", async () => {
    const former = await replay({ granule: 256 * KiB, readAhead: 2, maxRequests: 64, bootTrace: false });
    const adaptive = await replay({ bootTrace: false });
    const recorder = new BootTraceRecorder(SIZE);
    for (const [o, n] of reads) recorder.note(o, n);
    const traced = await replay({}, JSON.stringify(recorder.trace({})));
    console.log(
      `${reads.length} reads, ${Math.round(distinctBytes() / KiB)} KiB distinct\n` +
        `former (256 KiB chunks, 2 ahead): ${JSON.stringify(former)}\n` +
        `adaptive:                         ${JSON.stringify(adaptive)}\n` +
        `adaptive + boot trace:            ${JSON.stringify(traced)}`,
    );
    // Only what holds whatever the machine's speed: the request limit, and with the trace nearly
    // every byte prefetched and nearly none wasted.
    for (const r of [adaptive, traced]) expect(r.maxInFlight).toBeLessThanOrEqual(4);
    expect(traced.neverReadKiB).toBeLessThan(former.neverReadKiB / 2);
    expect(traced.demand).toBeLessThanOrEqual(traced.prefetch / 4);
  }, 120_000);
});
