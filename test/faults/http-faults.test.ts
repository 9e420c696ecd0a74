// An HTTP image behind a namespace, served by a local server that misbehaves on demand: every
// failed read reaches the guest as Unrecovered Read Error (SCT 2, SC 81h) with an Error
// Information log entry and a SMART media error, the guest buffer never receives bytes from the
// wrong offset, and the first read after the server recovers succeeds.
import { describe, it, expect, afterEach } from "vitest";
import { HostDriver, type Cqe } from "../driver/host-driver.ts";
import { HttpBackend } from "../../src/backends/http.ts";
import * as O from "../../src/spec/opcodes.ts";
import { patternBytes, expectBytes } from "../backends/conformance.ts";
import { faultServer, type FaultServer, type Mode } from "./fault-server.ts";
import { ST, errorLog, findEntry, smart, until } from "./helpers.ts";

const KiB = 1024;
const CHUNK = 64 * KiB;
const SENTINEL = 0xee;

let server: FaultServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function setup(o: { etag?: string; timeoutMs?: number; retries?: number } = {}) {
  server = await faultServer(4 << 20, o.etag);
  const disk = await HttpBackend.open(server.url, { chunkSize: CHUNK, readAhead: 0, retries: o.retries ?? 1, retryDelayMs: 1, timeoutMs: o.timeoutMs });
  const d = await HostDriver.create({ namespaces: [{ backend: disk }] }, 8 << 20);
  await d.bringUp({ pairs: 2 });
  return { d, disk, server };
}

/** A read of `blocks` at `slba` into a buffer filled with SENTINEL; resolves with the completion and the buffer. */
async function read(d: HostDriver, slba: number, blocks: number, qid = 1): Promise<[Cqe, Uint8Array]> {
  const bytes = blocks * 512;
  const [prp1, prp2, addr] = d.buffer(bytes);
  d.mem.fill(addr, new Uint8Array(bytes).fill(SENTINEL));
  const c = await d.run(qid, { opcode: O.IO_READ, nsid: 1, prp1, prp2, cdw10: slba, cdw12: blocks - 1 }, 5000);
  return [c, d.mem.bytes(addr, bytes)];
}

/** Every sector of `buf` (read from `slba`) is either untouched or the image's own bytes for that sector. */
function expectNoWrongBytes(buf: Uint8Array, slba: number, what: string): void {
  for (let s = 0; s < buf.length / 512; s++) {
    const got = buf.subarray(s * 512, (s + 1) * 512);
    if (got.every((b) => b === SENTINEL)) continue;
    expectBytes(got, patternBytes((slba + s) * 512, 512), `${what}: sector ${s}`);
  }
}

describe("HTTP image faults reach the guest as read errors", () => {
  const modes: Mode[] = ["500", "503", "404", "reset", "cut", "short", "short-range", "shifted", "ignore-range"];

  it.each(modes)("server answer %s: Unrecovered Read Error, logged and counted; the next read after recovery succeeds", async (mode) => {
    const { d, server } = await setup();
    // Warm one chunk, so the failing read below starts from cached bytes in its first sectors.
    const [warm] = await read(d, 0, 8);
    expect(warm.status).toBe(0);
    const before = await smart(d);
    server.mode = mode;
    // Sectors 120..135 straddle chunks 0 (cached) and 1 (must be fetched).
    const slba = CHUNK / 512 - 8;
    const [c, buf] = await read(d, slba, 16);
    expect(c.status, `status for ${mode}`).toBe(ST.UNRECOVERED_READ);
    expect(c.status & 0x4000, "DNR clear: a retry may succeed").toBe(0);
    expectNoWrongBytes(buf, slba, mode);
    const log = await errorLog(d);
    const e = findEntry(log, 1, c.cid);
    expect(e, "error log entry").toBeDefined();
    expect(e!.status).toBe(ST.UNRECOVERED_READ);
    expect(e!.nsid).toBe(1);
    expect(e!).toBe(log[0]); // the newest
    expect([0, slba]).toContain(e!.lba); // filled with the first LBA, if at all
    const after = await smart(d);
    expect(after.mediaErrors).toBe(before.mediaErrors + 1);
    expect(after.errorEntries).toBe(log[0].count);
    // The server recovers: the same read succeeds with the right bytes (the failed chunk was not cached).
    server.mode = "ok";
    const [c2, again] = await read(d, slba, 16);
    expect(c2.status).toBe(0);
    expectBytes(again, patternBytes(slba * 512, 16 * 512));
    expect(d.brokenCanaries()).toEqual([]);
  });

  it("an image changed on the server (new ETag) fails reads until the original is back", async () => {
    const { d, server } = await setup({ etag: '"v1"' });
    expect((await read(d, 0, 8))[0].status).toBe(0);
    server.etag = '"v2"';
    const [c, buf] = await read(d, 1000, 8);
    expect(c.status).toBe(ST.UNRECOVERED_READ);
    expectNoWrongBytes(buf, 1000, "etag");
    expect(findEntry(await errorLog(d), 1, c.cid)?.status).toBe(ST.UNRECOVERED_READ);
    // Bytes fetched before the change are still served: they belong to the image as opened.
    expect((await read(d, 0, 8))[0].status).toBe(0);
    server.etag = '"v1"';
    const [c2, again] = await read(d, 1000, 8);
    expect(c2.status).toBe(0);
    expectBytes(again, patternBytes(1000 * 512, 4096));
  });

  it("a failed read on one queue leaves reads and writes on another queue alone", async () => {
    const { d, server } = await setup({ retries: 0 });
    server.mode = "500";
    const bad = read(d, 4000, 8, 1);
    // Queue 2: writes land in the overlay and read back without the server.
    const w = patternBytes(77, 4096);
    expect((await d.write(2, 1, 6000, w)).status).toBe(0);
    const [c2, got] = await d.read(2, 1, 6000, 8);
    expect(c2.status).toBe(0);
    expectBytes(got, w);
    expect((await bad)[0].status).toBe(ST.UNRECOVERED_READ);
  });

  it("a stalled answer can be aborted, and times out so that a later read of the same bytes succeeds", async () => {
    const { d, server } = await setup({ timeoutMs: 300, retries: 1 });
    server.mode = "stall";
    const slba = 2048;
    const [prp1] = d.buffer(4096);
    const cid = d.submit(1, { opcode: O.IO_READ, nsid: 1, prp1, cdw10: slba, cdw12: 7 });
    expect(await until(d, () => server.log.length === 1)).toBe(true);
    // The stalled read blocks nothing: queue 2 goes on (this chunk is fetched while the other stalls).
    server.mode = "ok";
    const [ok] = await read(d, 6000, 8, 2);
    expect(ok.status).toBe(0);
    expect(d.reap(1)).toEqual([]);
    // The host gives up on it (Linux's timeout handler sends Abort).
    const abort = await d.admin({ opcode: O.ADMIN_ABORT, cdw10: 1 | (cid << 16) });
    expect(abort.status).toBe(0);
    expect(abort.dw0 & 1).toBe(0); // aborted
    const done: Cqe[] = [];
    expect(await until(d, () => (done.push(...d.reap(1)), done.length > 0), 1000)).toBe(true);
    expect(done.map((c) => [c.cid, c.status])).toEqual([[cid, ST.ABORT_REQUESTED]]);
    // Linux resubmits it: that read joins the stalled request, which times out and is retried
    // (the server answers again by now), rather than waiting on it forever.
    const [again, data] = await read(d, slba, 8);
    expect(again.status).toBe(0);
    expectBytes(data, patternBytes(slba * 512, 4096));
    await new Promise((r) => setTimeout(r, 400)); // the stalled fetch times out: no second completion
    expect(d.reap(1)).toEqual([]);
  });

  it("a server that stalls before answering times out as a read error, never a hang", async () => {
    const { d, server } = await setup({ timeoutMs: 200, retries: 1 });
    server.mode = "stall-headers";
    const [c, buf] = await read(d, 3000, 8);
    expect(c.status).toBe(ST.UNRECOVERED_READ);
    expectNoWrongBytes(buf, 3000, "stall");
    expect(server.log.length).toBe(2); // one retry
    server.mode = "ok";
    expect((await read(d, 3000, 8))[0].status).toBe(0);
  });
});
