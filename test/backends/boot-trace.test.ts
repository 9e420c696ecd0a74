// Boot traces: ranges in first-touch order, coalesced, and checked against the image they claim.
import { describe, it, expect } from "vitest";
import { BootTraceRecorder, checkBootTrace } from "../../src/backends/boot-trace.ts";

describe("boot trace", () => {
  it("keeps the granules a boot read in the order first read, adjacent ones coalesced, the image's tail short", () => {
    const r = new BootTraceRecorder(10 * 4096 + 1024);
    r.note(8192, 512); // granule 2
    r.note(8192 + 4096, 8192); // 3, 4: run on from 2
    r.note(0, 4096); // 0: a jump back
    r.note(8192, 4096 * 3); // all seen
    r.note(10 * 4096, 1024); // the tail
    expect(r.ranges).toEqual([[8192, 3 * 4096], [0, 4096], [10 * 4096, 1024]]);
    expect(r.bytes).toBe(5 * 4096);
    const t = r.trace({ lastModified: "Tue, 01 Dec 2026 23:05:52 GMT" });
    expect(checkBootTrace(JSON.parse(JSON.stringify(t)), { size: 10 * 4096 + 1024 })).toEqual(r.ranges);
    // Same date in another spelling matches; another date does not.
    expect(checkBootTrace(t, { size: t.image.size, lastModified: "Tuesday, 01-Dec-26 23:05:52 GMT" })).toEqual(r.ranges);
    expect(checkBootTrace(t, { size: t.image.size, lastModified: "Tue, 01 Dec 2026 23:05:53 GMT" })).toMatch(/recorded for the image of/);
    expect(checkBootTrace({ ...t, ranges: [[40960, 2048]] }, { size: t.image.size })).toMatch(/inside the image/);
    expect(checkBootTrace(null, { size: 1 })).toMatch(/not a boot trace/);
  });
});
