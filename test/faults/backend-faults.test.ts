// Backend failures of every shape (synchronous throw, asynchronous rejection, a promise that never
// settles; BackendError kinds read/write/capacity and plain bugs) through the real controller:
// each becomes one completion with the NVMe status the spec gives it, an Error Information log
// entry naming the command, and never a hang of anything else.
import { describe, it, expect, afterEach } from "vitest";
import { HostDriver, pattern, type Cqe } from "../driver/host-driver.ts";
import { OpfsBackend } from "../../src/backends/opfs.ts";
import * as O from "../../src/spec/opcodes.ts";
import { FakeOpfs, fakeWorker } from "../backends/fake-opfs.ts";
import { FaultyBackend, ST, errorLog, findEntry, smart, until, reapAll, settle, type Failure, type Op } from "./helpers.ts";

const MiB = 1 << 20;

async function setup(o: { volatileWriteCache?: boolean; pairs?: number; policy?: "eager" | "awake" } = {}) {
  const disk = new FaultyBackend(MiB, { volatileWriteCache: o.volatileWriteCache });
  const d = await HostDriver.create({ namespaces: [{ backend: disk }], doorbellPolicy: o.policy, volatileWriteCache: o.volatileWriteCache }, 8 * MiB);
  await d.bringUp({ pairs: o.pairs ?? 2 });
  return { d, disk };
}

/** Fails `op` (only) the given way for offsets in [from, to). */
function failOnly(disk: FaultyBackend, op: Op | Op[], f: Failure, from = 0, to = Infinity): void {
  const ops = Array.isArray(op) ? op : [op];
  disk.fault = (o, offset) => (ops.includes(o) && offset >= from && offset < to ? f : undefined);
}

/** Catches unhandled rejections while `fn` runs (plus a few turns after). */
async function unhandledDuring(fn: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const on = (e: unknown) => seen.push(e);
  process.on("unhandledRejection", on);
  try {
    await fn();
    await settle(20);
  } finally {
    process.off("unhandledRejection", on);
  }
  return seen;
}

/** Checks the error log's newest entry and the SMART media error count after a failed command. */
async function expectLogged(d: HostDriver, qid: number, c: Cqe, status: number, mediaBefore: number, media: boolean): Promise<void> {
  expect(c.status).toBe(status);
  const log = await errorLog(d);
  const e = findEntry(log, qid, c.cid);
  expect(e, "an error log entry for the command").toBeDefined();
  expect(e).toBe(log[0]);
  expect(e!.status).toBe(status);
  expect(e!.nsid).toBe(1);
  const s = await smart(d);
  expect(s.mediaErrors).toBe(mediaBefore + (media ? 1 : 0));
  expect(s.errorEntries).toBe(log[0].count);
}

describe("read failures", () => {
  const cases: [string, boolean, Op, Failure][] = [
    ["tryRead throws a BackendError", false, "tryRead", { how: "throw" }],
    ["tryRead throws a plain Error", false, "tryRead", { how: "throw", plain: true }],
    ["read() rejects", true, "read", { how: "reject" }],
    ["read() rejects with a plain Error", true, "read", { how: "reject", plain: true }],
    ["read() throws synchronously", true, "read", { how: "throw" }],
    ["read() throws a plain Error synchronously", true, "read", { how: "throw", plain: true }],
  ];
  it.each(cases)("%s: Unrecovered Read Error, logged, counted, nothing left in flight", async (_, async, op, f) => {
    const { d, disk } = await setup();
    disk.disk.write(0, pattern(64 * 1024, 9));
    disk.async = async;
    const before = (await smart(d)).mediaErrors;
    failOnly(disk, op, f, 8192, 16384);
    const [c, buf] = await d.read(1, 1, 16, 8);
    await expectLogged(d, 1, c, ST.UNRECOVERED_READ, before, true);
    expect(buf.every((b) => b === 0)).toBe(true); // the buffer as the host left it
    expect(d.ctrl.counters.inflight).toBe(0);
    expect(d.ctrl.saveState().inflight).toEqual([]); // a snapshot would not run it again
    // Other blocks, and the same blocks once the disk recovers, read fine.
    const [ok, data] = await d.read(2, 1, 0, 8);
    expect(ok.status).toBe(0);
    expect(data).toEqual(pattern(64 * 1024, 9).subarray(0, 4096));
    disk.fault = () => undefined;
    const [again, back] = await d.read(1, 1, 16, 8);
    expect(again.status).toBe(0);
    expect(back).toEqual(pattern(64 * 1024, 9).subarray(8192, 12288));
  });

  it("Compare: a read failure is Unrecovered Read Error, whether it throws or rejects", async () => {
    const { d, disk } = await setup();
    for (const [async, op, f] of [[false, "tryRead", { how: "throw" }], [true, "read", { how: "reject" }], [true, "read", { how: "throw" }]] as [boolean, Op, Failure][]) {
      disk.async = async;
      failOnly(disk, op, f);
      const [p1, , addr] = d.buffer(4096);
      d.mem.fill(addr, new Uint8Array(4096));
      const c = await d.run(1, { opcode: O.IO_COMPARE, nsid: 1, prp1: p1, cdw10: 0, cdw12: 7 });
      expect(c.status, `${f.how}, async ${async}`).toBe(ST.UNRECOVERED_READ);
      expect(findEntry(await errorLog(d), 1, c.cid)?.status).toBe(ST.UNRECOVERED_READ);
      expect(d.ctrl.counters.inflight).toBe(0);
    }
  });
});

describe("the error log entry's LBA", () => {
  // Needs a change in the controller: post() records every error without detail, so the LBA
  // field stays 0. For a media error of a command with an LBA range it should name the first LBA
  // (NVMe base spec, Error Information log entry bytes 23:16).
  it("names the first LBA of a read or write that failed on the medium", async () => {
    const { d, disk } = await setup();
    disk.fault = (op) => (op === "tryRead" ? { how: "throw" } : op === "write" ? { how: "throw" } : undefined);
    const [r] = await d.read(1, 1, 0x345, 8);
    expect(r.status).toBe(ST.UNRECOVERED_READ);
    expect(findEntry(await errorLog(d), 1, r.cid)?.lba).toBe(0x345);
    const w = await d.write(1, 1, 0x200, pattern(4096, 1));
    expect(w.status).toBe(ST.WRITE_FAULT);
    expect(findEntry(await errorLog(d), 1, w.cid)?.lba).toBe(0x200);
  });
});

describe("write failures", () => {
  const cases: [string, boolean, Failure, number, boolean][] = [
    ["a synchronous BackendError", false, { how: "throw" }, ST.WRITE_FAULT, true],
    ["a synchronous plain Error", false, { how: "throw", plain: true }, ST.WRITE_FAULT, true],
    ["an asynchronous rejection", true, { how: "reject" }, ST.WRITE_FAULT, true],
    ["a synchronous quota error", false, { how: "throw", kind: "capacity" }, ST.CAPACITY_EXCEEDED, false],
    ["an asynchronous quota error", true, { how: "reject", kind: "capacity" }, ST.CAPACITY_EXCEEDED, false],
  ];
  it.each(cases)("%s: the status the spec gives it, in the error log", async (_, async, f, status, media) => {
    const { d, disk } = await setup();
    disk.async = async;
    const before = (await smart(d)).mediaErrors;
    failOnly(disk, "write", f);
    const c = await d.write(1, 1, 100, pattern(8192, 1));
    await expectLogged(d, 1, c, status, before, media);
    expect(d.ctrl.counters.inflight).toBe(0);
    disk.fault = () => undefined;
    expect((await d.write(1, 1, 100, pattern(8192, 2))).status).toBe(0);
    const [r, back] = await d.read(1, 1, 100, 16);
    expect(r.status).toBe(0);
    expect(back).toEqual(pattern(8192, 2));
  });

  it("a write over scattered pages whose first part rejects later and second part throws: one Write Fault, no unhandled rejection", async () => {
    const { d, disk } = await setup();
    let n = 0;
    disk.fault = (op) => (op !== "write" ? undefined : n++ === 0 ? { how: "reject" } : { how: "throw" });
    // Two pages that are not adjacent in guest RAM: two segments, two backend writes.
    const a = d.mem.alloc(4096);
    d.mem.alloc(4096);
    const b = d.mem.alloc(4096);
    let c: Cqe | undefined;
    const stray = await unhandledDuring(async () => {
      c = await d.run(1, { opcode: O.IO_WRITE, nsid: 1, prp1: a, prp2: b, cdw10: 0, cdw12: 15 });
    });
    expect(n).toBe(2);
    expect(c!.status).toBe(ST.WRITE_FAULT);
    expect(stray).toEqual([]);
  });

  it("Flush, Write Zeroes and Dataset Management failures are Write Faults", async () => {
    const { d, disk } = await setup({ volatileWriteCache: true });
    for (const [op, sqe] of [
      ["flush", { opcode: O.IO_FLUSH, nsid: 1 }],
      ["writeZeroes", { opcode: O.IO_WRITE_ZEROES, nsid: 1, cdw10: 8, cdw12: 7 }],
    ] as const) {
      for (const how of ["throw", "reject"] as const) {
        failOnly(disk, op, { how });
        const c = await d.run(1, sqe);
        expect(c.status, `${op} ${how}`).toBe(ST.WRITE_FAULT);
        expect(findEntry(await errorLog(d), 1, c.cid)?.status).toBe(ST.WRITE_FAULT);
      }
    }
    const ranges = d.mem.alloc(4096);
    d.mem.write32(ranges + 4, 8); // NLB
    d.mem.write32(ranges + 8, 64); // SLBA
    for (const how of ["throw", "reject"] as const) {
      failOnly(disk, "discard", { how });
      const c = await d.run(1, { opcode: O.IO_DATASET_MANAGEMENT, nsid: 1, prp1: ranges, cdw10: 0, cdw11: 4 });
      expect(c.status, `discard ${how}`).toBe(ST.WRITE_FAULT);
    }
    expect(d.ctrl.counters.inflight).toBe(0);
  });

  it("the persistent disk's full quota: Capacity Exceeded in the CQE and the error log; unwritten blocks read as errors", async () => {
    const fs = new FakeOpfs();
    const disk = await OpfsBackend.open({ name: "ns1", size: 4 * MiB, worker: fakeWorker(fs).endpoint });
    const d = await HostDriver.create({ namespaces: [{ backend: disk }] }, 8 * MiB);
    await d.bringUp({ pairs: 1 });
    expect((await d.write(1, 1, 0, pattern(4096, 5), 512, true)).status).toBe(0);
    fs.quota = 0;
    const c = await d.write(1, 1, 2048, pattern(4096, 6), 512, true);
    expect(c.status).toBe(ST.CAPACITY_EXCEEDED);
    const e = findEntry(await errorLog(d), 1, c.cid);
    expect(e?.status).toBe(ST.CAPACITY_EXCEEDED);
    expect(e?.nsid).toBe(1);
    const [r] = await d.read(1, 1, 2048, 8);
    expect(r.status).toBe(ST.UNRECOVERED_READ);
    expect(findEntry(await errorLog(d), 1, r.cid)?.status).toBe(ST.UNRECOVERED_READ);
    // What was written before the quota ran out is still there.
    const [ok, back] = await d.read(1, 1, 0, 8);
    expect(ok.status).toBe(0);
    expect(back).toEqual(pattern(4096, 5));
  });
});

describe("a backend that never settles", () => {
  it("blocks no other queue; Abort completes the command exactly once; reset clears it", async () => {
    const { d, disk } = await setup({ pairs: 3, policy: "eager" });
    disk.async = true;
    failOnly(disk, ["read", "write"], { how: "hang" }, 0, 4096);
    const [p1] = d.buffer(4096);
    const hungRead = d.submit(1, { opcode: O.IO_READ, nsid: 1, prp1: p1, cdw10: 0, cdw12: 7 });
    const [p2, , a2] = d.buffer(4096);
    d.mem.fill(a2, pattern(4096, 3));
    const hungWrite = d.submit(2, { opcode: O.IO_WRITE, nsid: 1, prp1: p2, cdw10: 0, cdw12: 7 });
    expect(disk.hung).toBe(2);
    // Queue 3, and the hung queues themselves, go on.
    for (const q of [3, 1, 2]) {
      expect((await d.write(q, 1, 64 + q * 8, pattern(4096, q))).status).toBe(0);
      const [c, back] = await d.read(q, 1, 64 + q * 8, 8);
      expect(c.status).toBe(0);
      expect(back).toEqual(pattern(4096, q));
    }
    // The host aborts the read: it completes once, as aborted.
    const ab = await d.admin({ opcode: O.ADMIN_ABORT, cdw10: 1 | (hungRead << 16) });
    expect(ab.dw0 & 1).toBe(0);
    const all: (Cqe & { cq: number })[] = [];
    await until(d, () => reapAll(d, all) >= 0 && all.length >= 1, 200);
    expect(all.map((c) => [c.cq, c.cid, c.status])).toEqual([[1, hungRead, ST.ABORT_REQUESTED]]);
    expect(d.ctrl.counters.inflight).toBe(1); // the write
    // A controller reset forgets the hung write: nothing completes, and the device works again.
    const old = [...d.cqs.values()].map((q) => [q.base, d.mem.bytes(q.base, q.size * 16)] as const);
    d.disable();
    expect(d.ctrl.counters.inflight).toBe(0);
    await d.bringUp({ pairs: 3 });
    for (const [base, bytes] of old) expect(d.mem.bytes(base, bytes.length)).toEqual(bytes);
    disk.fault = () => undefined;
    const [c, back] = await d.read(2, 1, 80, 8);
    expect(c.status).toBe(0);
    expect(back).toEqual(pattern(4096, 2));
    expect(hungWrite).toBeGreaterThanOrEqual(0);
  });
});
