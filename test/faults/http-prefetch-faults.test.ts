// A server that fails while the HTTP disk streams a boot trace and reads ahead: the guest's reads
// give the image's bytes or a read error, never other bytes and never a hang; prefetching stops,
// and once the server is back every read succeeds on demand.
import { describe, it, expect, afterEach } from "vitest";
import { BackendError } from "../../src/backends/block-backend.ts";
import { HttpBackend } from "../../src/backends/http.ts";
import { expectBytes, patternBytes } from "../backends/conformance.ts";
import { faultServer, type FaultServer, type Mode } from "./fault-server.ts";

const MiB = 1 << 20;
const SIZE = 8 * MiB;
const TRACED = 4 * MiB;
const READ = 65024; // what the boot loader reads at a time

let server: FaultServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Resolves with the read's bytes or its error; fails the test when it takes longer than `ms`. */
function settle(p: Promise<Uint8Array>, ms: number): Promise<Uint8Array | Error> {
  return Promise.race([
    p.catch((e: Error) => e),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`read hung for ${ms} ms`)), ms)),
  ]);
}

describe("HTTP disk: the server fails mid-prefetch", () => {
  const modes: Mode[] = ["reset", "500", "cut", "short", "stall", "stall-headers"];

  it.each(modes)("%s: right bytes or read errors, no hang, prefetching stops, reads recover on demand", async (mode) => {
    server = await faultServer(SIZE);
    server.trace = JSON.stringify({ version: 1, image: { size: SIZE }, granule: 4096, ranges: [[0, TRACED]] });
    let broken = true;
    // The first Range request (the trace's first chunk) is answered, then the server breaks.
    server.modeFor = (n) => (n <= 1 || !broken ? "ok" : mode);
    // Warm the connection pool: a cold first request can take longer than the short timeout below.
    await fetch(server.url, { method: "HEAD" });
    const disk = await HttpBackend.open(server.url, { retries: 0, timeoutMs: 500 });
    expect(await disk.base.bootTrace, JSON.stringify(server.log)).toBe(true);
    let ok = 0;
    let failed = 0;
    const reads = 6;
    for (let o = 0; o < reads * READ; o += READ) {
      const r = await settle(disk.read(o, READ), 5000);
      if (r instanceof Error) {
        expect(r, r.message).toBeInstanceOf(BackendError);
        failed++;
      } else {
        expectBytes(r, patternBytes(o, READ), `at ${o}`);
        ok++;
      }
    }
    expect(failed).toBeGreaterThan(0);
    expect(ok + failed).toBe(reads);
    expect(disk.base.cache.planRemaining).toBe(0); // the trace was dropped
    expect(disk.stats.prefetches).toBeLessThanOrEqual(8); // and no read-ahead into a broken server
    broken = false;
    for (let o = 0; o + READ <= TRACED; o += 7 * READ) {
      const r = await settle(disk.read(o, READ), 5000);
      expect(r instanceof Error ? r.message : "", `at ${o}`).toBe("");
      expectBytes(r as Uint8Array, patternBytes(o, READ), `at ${o}`);
    }
  }, 30_000);
});
