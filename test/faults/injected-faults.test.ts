// Faults the host injects (NvmeController.injectFault, the adapter's nvme.inject) through the real
// controller, hot path and guest memory with the software host driver: statuses the host sees,
// SMART media errors and the error log counting them, delays, hung commands that only Abort, a
// controller reset or a restore end (and those that refuse Abort: only a reset ends them), seeded probabilities, and what the command trace records.
import { describe, it, expect } from "vitest";
import { HostDriver, pattern, type Cqe } from "../driver/host-driver.ts";
import { MemoryBackend } from "../../src/backends/memory.ts";
import type { NvmeOptions } from "../../src/state/options.ts";
import * as O from "../../src/spec/opcodes.ts";
import * as R from "../../src/spec/registers.ts";
import { formatTrace } from "../../src/index.ts";
import { ST, errorLog, sc, smart } from "./helpers.ts";

const ABORT_REQUESTED = 0x007;
const ABORTED_SQ_DELETION = 0x008;

async function driver(o: Partial<NvmeOptions> = {}): Promise<HostDriver> {
  const d = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(1 << 20) }], doorbellPolicy: "eager", ...o });
  await d.bringUp();
  return d;
}

/** Submits a read of `blocks` blocks at `slba` into a buffer of 0xEE bytes; returns its CID and buffer address. */
function submitRead(d: HostDriver, slba: number, blocks = 1, qid = 1): { cid: number; addr: number } {
  const [p1, p2, addr] = d.buffer(blocks * 512);
  d.mem.fill(addr, new Uint8Array(blocks * 512).fill(0xee));
  const cid = d.submit(qid, { opcode: O.IO_READ, nsid: 1, prp1: p1, prp2: p2, cdw10: slba, cdw12: blocks - 1 });
  return { cid, addr };
}

/** Ticks and lets timers run until CQ `cq` has a completion or `ms` passed. */
async function waitFor(d: HostDriver, cq: number, ms: number): Promise<Cqe[]> {
  const end = performance.now() + ms;
  for (;;) {
    d.ctrl.tick();
    const got = d.reap(cq);
    if (got.length || performance.now() > end) return got;
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe("fault specs", () => {
  it("refuses a bad spec with an Error naming the field", async () => {
    const d = await driver();
    const bad: [unknown, RegExp][] = [
      [undefined, /must be an object/],
      [{ op: "erase" }, /op must be one of "read", "write", "flush", "any"/],
      [{ op: "read", nsid: 0 }, /nsid must be an integer/],
      [{ op: "read", lba: [5] }, /lba must be \[start, count\]/],
      [{ op: "read", lba: [5, 0] }, /lba count must be an integer in 1\.\./],
      [{ op: "flush", lba: [0, 1] }, /lba cannot go with op "flush"/],
      [{ op: "read", status: "bad-sector" }, /status must be one of "media-error"/],
      [{ op: "read", delayMs: -1 }, /delayMs must be/],
      [{ op: "read", hang: true, status: "media-error" }, /hang cannot go with status or delayMs/],
      [{ op: "read", hang: 1 }, /hang must be true/],
      [{ op: "read", refuseAbort: true }, /refuseAbort needs hang: true/],
      [{ op: "read", delayMs: 5, refuseAbort: true }, /refuseAbort needs hang: true/],
      [{ op: "read", hang: true, refuseAbort: "yes" }, /refuseAbort must be true/],
      [{ op: "read", count: 0 }, /count must be an integer/],
      [{ op: "read", probability: 1.5 }, /probability must be a number in 0\.\.1/],
      [{ op: "read", seed: -3 }, /seed must be an integer/],
      [{ op: "read", lbas: [0, 1] }, /lbas is no fault field/],
    ];
    for (const [spec, msg] of bad) expect(() => d.ctrl.injectFault(spec as never), JSON.stringify(spec)).toThrow(msg);
    expect(d.ctrl.faults()).toEqual([]);
    expect(() => d.ctrl.clearFaults(7)).toThrow(/no injected fault 7/);
    expect(d.ctrl.injectFault({ op: "read" }).id).toBe(1); // refused specs took no id
  });
});

describe("injected statuses", () => {
  it("a read of an injected LBA range gets Unrecovered Read Error, counted in SMART and the error log; other commands run", async () => {
    const d = await driver();
    expect((await d.write(1, 1, 100, pattern(4096, 7))).status).toBe(0);
    const before = await smart(d);
    const f = d.ctrl.injectFault({ op: "read", nsid: 1, lba: [102, 2] });
    expect(f).toEqual({ op: "read", nsid: 1, lba: [102, 2], id: 1, fired: 0 });

    const { cid, addr } = submitRead(d, 100, 8); // 100..107 overlaps 102..103
    const [hit] = d.reap(1);
    expect(hit.cid).toBe(cid);
    expect(hit.status).toBe(ST.UNRECOVERED_READ);
    expect(d.mem.bytes(addr, 8)).toEqual(new Uint8Array(8).fill(0xee)); // no data moved
    const [miss, data] = await d.read(1, 1, 104, 4); // 104..107: outside
    expect(miss.status).toBe(0);
    expect(data).toEqual(pattern(4096, 7).subarray(2048));
    expect((await d.write(1, 1, 102, pattern(512, 9))).status).toBe(0); // a write: not this fault's op

    const after = await smart(d);
    expect(after.mediaErrors - before.mediaErrors).toBe(1);
    const log = await errorLog(d);
    expect(log[0]).toMatchObject({ sqid: 1, cid, status: ST.UNRECOVERED_READ, lba: 100, nsid: 1 });
    expect(d.ctrl.faults()).toEqual([{ ...f, fired: 1 }]);
    const io = d.ctrl.trace().filter((e) => e.sqid === 1);
    expect(io.map((e) => [e.opName, e.slba, e.nlb, e.statusName, e.injected])).toEqual([
      ["Read", 100, 8, "Unrecovered Read Error", 1], // recorded from the first fault on
      ["Read", 104, 4, "Success", undefined],
      ["Write", 102, 1, "Success", undefined],
    ]);
  });

  it("a write fault leaves the blocks as they were; named statuses and count", async () => {
    const d = await driver();
    expect((await d.write(1, 1, 10, pattern(512, 1))).status).toBe(0);
    d.ctrl.injectFault({ op: "write", count: 1 });
    expect((await d.write(1, 1, 10, pattern(512, 2))).status).toBe(ST.WRITE_FAULT);
    expect((await d.write(1, 1, 11, pattern(512, 3))).status).toBe(0); // count spent
    expect((await d.read(1, 1, 10, 1))[1]).toEqual(pattern(512, 1));
    d.ctrl.clearFaults();

    const named: [string, number][] = [["data-transfer-error", 0x4004], ["internal-error", 0x006], ["aborted", 0x007], ["capacity-exceeded", 0x4081], ["namespace-not-ready", 0x082], ["unrecovered-read", 0x281]];
    for (const [status, code] of named) {
      const f = d.ctrl.injectFault({ op: "any", status: status as never, count: 1 });
      expect((await d.read(1, 1, 0, 1))[0].status, status).toBe(code);
      expect(d.ctrl.faults().find((x) => x.id === f.id)!.fired).toBe(1);
    }
    // A flush gets a write fault as its media error.
    d.ctrl.injectFault({ op: "flush", nsid: 1 });
    expect((await d.run(1, { opcode: O.IO_FLUSH, nsid: 1 })).status).toBe(ST.WRITE_FAULT);
  });

  it("never touches admin commands", async () => {
    const d = await driver();
    d.ctrl.injectFault({ op: "any", hang: true });
    const [, c] = await d.identify(1);
    expect(c.status).toBe(0);
    expect(d.ctrl.faults()[0].fired).toBe(0);
  });

  it("a probability with a seed hits the same commands every time", async () => {
    const run = async (seed: number) => {
      const d = await driver();
      d.ctrl.injectFault({ op: "read", probability: 0.3, seed });
      const hits: number[] = [];
      for (let i = 0; i < 60; i++) if ((await d.read(1, 1, i, 1))[0].status !== 0) hits.push(i);
      expect(d.ctrl.faults()[0].fired).toBe(hits.length);
      return hits;
    };
    const a = await run(42);
    expect(await run(42)).toEqual(a);
    expect(await run(43)).not.toEqual(a);
    expect(a.length).toBeGreaterThan(5);
    expect(a.length).toBeLessThan(35);
  });
});

describe("delays and hung commands", () => {
  it("a delayed read completes later with its data; a delayed error with the status", async () => {
    const d = await driver();
    await d.write(1, 1, 0, pattern(512, 5));
    d.ctrl.injectFault({ op: "read", delayMs: 40, count: 1 });
    const { cid, addr } = submitRead(d, 0);
    d.ctrl.tick();
    expect(d.reap(1)).toEqual([]);
    const [c] = await waitFor(d, 1, 5000);
    expect([c.cid, c.status]).toEqual([cid, 0]);
    expect(d.mem.bytes(addr, 512)).toEqual(pattern(512, 5));
    const entry = d.ctrl.trace().at(-1)!;
    expect(entry).toMatchObject({ opName: "Read", status: 0, injected: 1 });
    expect(entry.latencyMs).toBeGreaterThanOrEqual(39);

    d.ctrl.injectFault({ op: "read", delayMs: 20, status: "unrecovered-read", count: 1 });
    const before = (await smart(d)).mediaErrors;
    submitRead(d, 0);
    expect(d.reap(1)).toEqual([]);
    expect((await waitFor(d, 1, 5000))[0].status).toBe(ST.UNRECOVERED_READ);
    expect((await smart(d)).mediaErrors).toBe(before + 1);
  });

  it("a hung read completes only when aborted; the retry reads the data", async () => {
    const d = await driver();
    await d.write(1, 1, 8, pattern(512, 8));
    const f = d.ctrl.injectFault({ op: "read", lba: [8, 1], hang: true, count: 1 });
    const { cid, addr } = submitRead(d, 8);
    expect(await waitFor(d, 1, 50)).toEqual([]);
    expect(d.ctrl.counters.inflight).toBe(1);
    const abort = await d.admin({ opcode: O.ADMIN_ABORT, cdw10: 1 | (cid << 16) });
    expect(abort.dw0 & 1).toBe(0); // aborted
    const [c] = d.reap(1);
    expect([c.cid, c.status]).toEqual([cid, ABORT_REQUESTED]);
    expect(d.mem.bytes(addr, 512)).toEqual(new Uint8Array(512).fill(0xee));
    expect((await d.read(1, 1, 8, 1))[1]).toEqual(pattern(512, 8));
    expect(d.ctrl.faults()).toEqual([{ ...f, fired: 1 }]);
    const trace = d.ctrl.trace();
    expect(trace.find((e) => e.cid === cid && e.sqid === 1 && e.injected === f.id)).toMatchObject({ statusName: "Abort Requested" });
    expect(trace.some((e) => e.sqid === 0 && e.opName === "Abort")).toBe(true);
  });

  it("a hung read that refuses Abort: the Abort succeeds with \"not aborted\" and the read stays hung until a controller reset", async () => {
    const d = await driver();
    await d.write(1, 1, 8, pattern(512, 8));
    const f = d.ctrl.injectFault({ op: "read", lba: [8, 1], hang: true, refuseAbort: true, count: 1 });
    expect(f).toMatchObject({ hang: true, refuseAbort: true });
    const { cid, addr } = submitRead(d, 8);
    expect(await waitFor(d, 1, 30)).toEqual([]);
    for (let i = 0; i < 2; i++) {
      const abort = await d.admin({ opcode: O.ADMIN_ABORT, cdw10: 1 | (cid << 16) });
      expect([abort.status, abort.dw0 & 1]).toEqual([0, 1]); // not aborted
      expect(await waitFor(d, 1, 20)).toEqual([]);
      expect(d.ctrl.counters.inflight).toBe(1);
    }
    d.disable();
    expect(d.ctrl.counters.inflight).toBe(0);
    expect(d.ctrl.trace().find((e) => e.sqid === 1 && e.cid === cid)).toMatchObject({ statusName: "not completed: controller reset", injected: f.id });
    expect(d.ctrl.trace().filter((e) => e.opName === "Abort").map((e) => e.status)).toEqual([0, 0]);
    await d.bringUp();
    expect(d.mem.bytes(addr, 512)).toEqual(new Uint8Array(512).fill(0xee));
    expect((await d.read(1, 1, 8, 1))[1]).toEqual(pattern(512, 8)); // the fault is spent: the retry reads
    expect(d.ctrl.faults()).toEqual([{ ...f, fired: 1 }]);
  });

  it("a hung command that refuses Abort ends with its SQ's deletion or an NVM subsystem reset; other hangs still abort", async () => {
    const d = await driver();
    d.ctrl.injectFault({ op: "read", lba: [0, 1], hang: true, refuseAbort: true });
    d.ctrl.injectFault({ op: "read", lba: [1, 1], hang: true });
    const refusing = submitRead(d, 0).cid;
    const plain = submitRead(d, 1).cid;
    expect(await waitFor(d, 1, 20)).toEqual([]);
    expect((await d.admin({ opcode: O.ADMIN_ABORT, cdw10: 1 | (refusing << 16) })).dw0 & 1).toBe(1);
    expect((await d.admin({ opcode: O.ADMIN_ABORT, cdw10: 1 | (plain << 16) })).dw0 & 1).toBe(0);
    expect(d.reap(1).map((c) => [c.cid, c.status])).toEqual([[plain, ABORT_REQUESTED]]);
    expect((await d.deleteSq(1)).status).toBe(0);
    expect(d.reap(1).map((c) => [c.cid, c.status])).toEqual([[refusing, ABORTED_SQ_DELETION]]);

    expect((await d.createSq(1, 64, 1)).status).toBe(0);
    const again = submitRead(d, 0).cid;
    d.ctrl.tick();
    expect(await waitFor(d, 1, 20)).toEqual([]);
    expect((await d.admin({ opcode: O.ADMIN_ABORT, cdw10: 1 | (again << 16) })).dw0 & 1).toBe(1);
    d.setReg(R.REG_NSSR, R.NSSR_RESET_VALUE);
    expect(d.ctrl.counters.inflight).toBe(0);
    expect(d.ctrl.trace().filter((e) => e.sqid === 1 && e.cid === again).at(-1)).toMatchObject({ statusName: "not completed: controller reset" });
  });

  it("a controller reset forgets hung and delayed commands: nothing completes into the new queues, acknowledged data stays", async () => {
    const d = await driver();
    await d.write(1, 1, 0, pattern(4096, 3));
    d.ctrl.injectFault({ op: "write", hang: true, count: 1 });
    d.ctrl.injectFault({ op: "read", delayMs: 30, count: 1 });
    d.submit(0, { opcode: O.ADMIN_ASYNC_EVENT_REQUEST }); // parked: dropped by the reset, as always, without an entry
    const [p1, p2, addr] = d.buffer(4096);
    d.mem.fill(addr, pattern(4096, 4));
    d.submit(1, { opcode: O.IO_WRITE, nsid: 1, prp1: p1, prp2: p2, cdw10: 0, cdw12: 7 }); // hangs: never written
    submitRead(d, 0, 8); // delayed
    expect(d.ctrl.counters.inflight).toBe(2);
    d.disable();
    expect(d.ctrl.counters.inflight).toBe(0);
    const forgotten = d.ctrl.trace().filter((e) => e.status === -1);
    expect(forgotten.map((e) => [e.opName, e.statusName, e.injected])).toEqual([
      ["Write", "not completed: controller reset", 1],
      ["Read", "not completed: controller reset", 2],
    ]);
    await d.bringUp();
    await new Promise((r) => setTimeout(r, 60)); // the delayed read's timer runs out: it must do nothing
    d.ctrl.tick();
    expect(d.reap(1)).toEqual([]);
    const [c, data] = await d.read(1, 1, 0, 8);
    expect(c.status).toBe(0);
    expect(data).toEqual(pattern(4096, 3));
  });

  it("a delayed command on a deleted SQ completes as aborted once; removeNamespace does not wait for a hung one", async () => {
    const d = await driver({ namespaces: [{ backend: new MemoryBackend(1 << 20) }, { backend: new MemoryBackend(1 << 20) }] });
    d.ctrl.injectFault({ op: "read", nsid: 1, delayMs: 30 });
    const { cid } = submitRead(d, 0);
    expect((await d.deleteSq(1)).status).toBe(0);
    const got = d.reap(1);
    expect(got.map((c) => [c.cid, c.status])).toEqual([[cid, ABORTED_SQ_DELETION]]);
    await new Promise((r) => setTimeout(r, 60));
    d.ctrl.tick();
    expect(d.reap(1)).toEqual([]);

    expect((await d.createSq(1, 64, 1)).status).toBe(0);
    d.ctrl.injectFault({ op: "read", nsid: 2, hang: true });
    const [p1] = d.buffer(512);
    d.submit(1, { opcode: O.IO_READ, nsid: 2, prp1: p1, cdw12: 0 });
    d.ctrl.tick(); // the new SQ's first entry came through the shadow doorbell
    expect(d.ctrl.counters.inflight).toBe(1);
    await expect(d.ctrl.removeNamespace(2)).resolves.toBeInstanceOf(MemoryBackend);
  });

  it("a snapshot restore forgets a hung command and runs the snapshot's again without faults; faults stay injected", async () => {
    const d = await driver();
    await d.write(1, 1, 16, pattern(512, 16));
    const f = d.ctrl.injectFault({ op: "read", lba: [16, 1], hang: true });
    const snap = structuredClone(d.ctrl.saveState()); // no command in flight yet
    const { cid } = submitRead(d, 16);
    expect(await waitFor(d, 1, 30)).toEqual([]);
    const inFlight = structuredClone(d.ctrl.saveState()); // the hung read in flight
    d.ctrl.restoreState(snap);
    expect(d.ctrl.counters.inflight).toBe(0);
    expect(d.ctrl.trace().at(-1)).toMatchObject({ cid, status: -2, statusName: "not completed: snapshot restored", injected: f.id });
    d.ctrl.restoreState(inFlight); // the read runs again: as fetched before the snapshot, without faults
    const [c] = d.reap(1);
    expect([c.cid, c.status]).toEqual([cid, 0]);
    expect(d.ctrl.faults()).toEqual([{ ...f, fired: 1 }]);
  });
});

describe("the command trace", () => {
  it("keeps the last traceLength commands, oldest first; 0 keeps none; formatTrace prints one line each", async () => {
    const d = await driver({ traceLength: 4 });
    for (let i = 0; i < 6; i++) await d.read(1, 1, i, 1);
    const t = d.ctrl.trace();
    expect(t.map((e) => e.slba)).toEqual([2, 3, 4, 5]);
    expect(t[0]).toMatchObject({ sqid: 1, opcode: O.IO_READ, opName: "Read", nsid: 1, nlb: 1, status: 0, statusName: "Success", latencyMs: 0 });
    const text = formatTrace(t).split("\n");
    expect(text).toHaveLength(5);
    expect(text[0]).toMatch(/^\s*at ms\s+latency ms\s+SQ\s+CID\s+command\s+NSID\s+LBA\+blocks\s+status\s+injected$/);
    expect(text[1]).toMatch(/\bRead\s+1\s+2\+1\s+Success \(0x0\)$/);

    const off = await driver({ traceLength: 0 });
    await off.read(1, 1, 0, 1);
    expect(off.ctrl.trace()).toEqual([]);
    await expect(driver({ traceLength: -1 })).rejects.toThrow(/traceLength must be an integer/);
  });

  it("records from the first injected fault unless traceLength is given", async () => {
    const d = await driver();
    await d.read(1, 1, 0, 1);
    expect(d.ctrl.trace()).toEqual([]);
    d.ctrl.injectFault({ op: "flush" });
    await d.read(1, 1, 1, 1);
    expect(d.ctrl.trace().map((e) => e.slba)).toEqual([1]);
    const none = await driver({ traceLength: 0 });
    none.ctrl.injectFault({ op: "flush" });
    await none.read(1, 1, 0, 1);
    expect(none.ctrl.trace()).toEqual([]);
  });

  it("names admin commands and statuses it has no name for by number", async () => {
    const d = await driver({ traceLength: 1000 });
    await d.admin({ opcode: 0x3f });
    const e = d.ctrl.trace().at(-1)!;
    expect([e.sqid, e.opName, sc(e.status), e.statusName]).toEqual([0, "opcode 0x3f", 0x001, "Invalid Opcode"]);
    expect(d.ctrl.trace().some((x) => x.opName === "Identify" && x.nsid === 0 && x.slba === undefined)).toBe(true);
  });
});
