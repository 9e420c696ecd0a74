// Snapshot and restore with commands in flight: no acknowledged write is lost, and every command
// the host submitted completes exactly once in the restored machine — those in flight (run again
// from the snapshot), those still waiting in an SQ, and completions posted but not yet reaped.
import { describe, it, expect } from "vitest";
import { HostDriver, pattern, type Cqe } from "../driver/host-driver.ts";
import { DeferredBackend } from "../driver/deferred-backend.ts";
import { NvmeController, type ControllerSnapshot } from "../../src/controller/controller.ts";
import type { NvmeOptions } from "../../src/state/options.ts";
import * as O from "../../src/spec/opcodes.ts";
import { FaultyBackend, ST, errorLog, placeIo, reapAll, settle, smart, type Placed } from "./helpers.ts";

const RAM = 8 << 20;
const QUEUES = 3;

type Tagged = Cqe & { cq: number };
type DriverState = Pick<HostDriver, "sqs" | "cqs" | "shadow" | "eventIdx" | "pageSize"> & { next: number };

/** What the host driver itself knows (its queue positions, allocations): part of the machine's state. */
function saveDriver(d: HostDriver): DriverState {
  return structuredClone({ sqs: d.sqs, cqs: d.cqs, shadow: d.shadow, eventIdx: d.eventIdx, pageSize: d.pageSize, next: (d.mem as unknown as { next: number }).next });
}

function loadDriver(d: HostDriver, s: DriverState): void {
  const c = structuredClone(s);
  d.sqs.clear();
  for (const [k, v] of c.sqs) d.sqs.set(k, v);
  d.cqs.clear();
  for (const [k, v] of c.cqs) d.cqs.set(k, v);
  d.shadow = c.shadow;
  d.eventIdx = c.eventIdx;
  d.pageSize = c.pageSize;
  (d.mem as unknown as { next: number }).next = c.next;
}

/** The whole machine at one instant: guest RAM, the driver's own state, the controller's snapshot. */
interface Machine {
  ram: Uint8Array;
  driver: DriverState;
  ctrl: ControllerSnapshot;
}

function save(d: HostDriver): Machine {
  return { ram: d.mem.bytes(0, d.mem.ramSize), driver: saveDriver(d), ctrl: structuredClone(d.ctrl.saveState()) };
}

/** Restores `m` into a new machine: fresh memory, fresh controller, the same disk. */
async function restoreFresh(m: Machine, options: NvmeOptions): Promise<HostDriver> {
  const d = new HostDriver(RAM);
  d.mem.fill(0, m.ram);
  loadDriver(d, m.driver);
  d.ctrl = await NvmeController.create(options, d.mem, d.host);
  d.ctrl.restoreState(structuredClone(m.ctrl));
  return d;
}

/** Releases the backend and ticks until `n` completions were reaped (or nothing more comes). */
async function drain(d: HostDriver, disk: DeferredBackend, into: Tagged[], n: number): Promise<void> {
  for (let i = 0; i < 50 && into.length < n; i++) {
    d.ctrl.tick();
    await disk.release();
    reapAll(d, into);
  }
  // Anything beyond n would be a duplicate: give it the chance to show.
  for (let i = 0; i < 3; i++) {
    d.ctrl.tick();
    await disk.release();
    await settle();
    reapAll(d, into);
  }
}

const key = (sqid: number, cid: number) => `${sqid}:${cid}`;

/** Every write acknowledged so far reads back through `d`. */
async function expectAcked(d: HostDriver, disk: DeferredBackend, acked: Map<number, Uint8Array>): Promise<void> {
  for (const [slba, data] of acked) {
    const r = d.read(1, 1, slba, data.length / 512);
    await disk.release();
    const [c, got] = await r;
    expect(c.status, `read of LBA ${slba}`).toBe(0);
    expect(got, `LBA ${slba}`).toEqual(data);
  }
}

describe("snapshot and restore with commands in flight", () => {
  it("into a fresh controller on a copy of the memory: acknowledged writes kept, every command completes exactly once", async () => {
    const disk = new DeferredBackend(4 << 20);
    const options: NvmeOptions = { namespaces: [{ backend: disk }] };
    const d = await HostDriver.create(options, RAM);
    await d.bringUp({ pairs: QUEUES, queueSize: 32 });
    const acked = new Map<number, Uint8Array>();
    // Acknowledged: two writes per queue.
    for (let q = 1; q <= QUEUES; q++) {
      for (let i = 0; i < 2; i++) {
        const slba = (q * 2 + i) * 16;
        const data = pattern(8192, slba);
        const w = d.write(q, 1, slba, data);
        await disk.release();
        expect((await w).status).toBe(0);
        acked.set(slba, data);
      }
    }
    // At the snapshot, on every queue: a write and a read in flight, a write whose completion is
    // posted but not reaped, and a read the host placed but the device has not fetched yet.
    const expected = new Map<string, Placed | "flush" | "aer">();
    const reads: { p: Placed; want: Uint8Array }[] = [];
    for (let q = 1; q <= QUEUES; q++) {
      const inWrite = placeIo(d, q, "write", 1000 + q * 16, 16, pattern(8192, 1000 + q));
      const src = (q * 2) * 16;
      const inRead = placeIo(d, q, "read", src, 16, 0xee);
      d.ring(q, d.sqs.get(q)!.tail - 2);
      d.ctrl.tick();
      expected.set(key(q, inWrite.cid), inWrite);
      expected.set(key(q, inRead.cid), inRead);
      reads.push({ p: inRead, want: acked.get(src)! });
    }
    const flush = d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 });
    d.ctrl.tick();
    expected.set(key(1, flush), "flush");
    expect(disk.pending).toBe(2 * QUEUES + 1);
    // Posted, not reaped: a write the backend finishes before the snapshot (the CQE sits in the CQ).
    // It is acknowledged only once the host reaps it, so its data is checked as an in-flight write's.
    const posted = placeIo(d, 2, "write", 3000, 8, pattern(4096, 3000));
    d.ring(2, d.sqs.get(2)!.tail - 1);
    d.ctrl.tick();
    expected.set(key(2, posted.cid), posted);
    // Release just that one: the newest waiter in the deferred backend.
    const waiting = (disk as unknown as { waiting: (() => void)[] }).waiting;
    waiting.pop()!();
    await settle();
    // Placed but not fetched: the shadow tail is written, no MMIO, no tick before the snapshot.
    d.shadowMode = "always";
    const unfetched = placeIo(d, 3, "read", 2 * 16 * 3, 16, 0xee);
    d.mem.write32(d.shadow + 3 * 2 * 4, d.sqs.get(3)!.tail);
    expected.set(key(3, unfetched.cid), unfetched);
    reads.push({ p: unfetched, want: acked.get(96)! });
    // An AER parked.
    const aer = d.submit(0, { opcode: O.ADMIN_ASYNC_EVENT_REQUEST });
    const m = save(d);
    expect(m.ctrl.inflight.length).toBe(2 * QUEUES + 1);
    expect(m.ctrl.aers.length).toBe(1);

    // The old machine goes away with its pending backend work (never to complete).
    d.ctrl.reset();
    const r = await restoreFresh(m, options);
    const got: Tagged[] = [];
    await drain(r, disk, got, expected.size);
    expect(got.map((c) => key(c.sqid, c.cid)).sort()).toEqual([...expected.keys()].sort());
    expect(got.every((c) => c.status === 0)).toBe(true);
    for (const { p, want } of reads) expect(r.mem.bytes(p.addr, p.bytes), `read ${p.qid}:${p.cid}`).toEqual(want);
    // The AER still waits, and answers the next event once.
    r.setReg(0x1000 + 2 * 100 * 4, 1); // a write to a doorbell of no queue: an error event
    const events: Tagged[] = [];
    reapAll(r, events);
    expect(events.map((c) => [c.cq, c.cid])).toEqual([[0, aer]]);
    expect((await errorLog(r)).length).toBeGreaterThan(0);
    // Everything acknowledged before the snapshot, and every write that completed after it, reads back.
    for (const p of expected.values()) if (typeof p !== "string" && p.sqe.opcode === O.IO_WRITE) acked.set(p.sqe.cdw10!, m.ram.slice(p.addr, p.addr + p.bytes));
    await expectAcked(r, disk, acked);
    expect(r.brokenCanaries()).toEqual([]);
  });

  it("restored in place (v86's restore_state): late results from before the restore are dropped, the snapshot's commands complete once", async () => {
    const disk = new DeferredBackend(4 << 20);
    const d = await HostDriver.create({ namespaces: [{ backend: disk }] }, RAM);
    await d.bringUp({ pairs: 2, queueSize: 32 });
    const acked = new Map<number, Uint8Array>();
    const w = d.write(1, 1, 0, pattern(8192, 1));
    await disk.release();
    expect((await w).status).toBe(0);
    acked.set(0, pattern(8192, 1));
    // In flight at the snapshot.
    const inRead = placeIo(d, 1, "read", 0, 16, 0xee);
    const inWrite = placeIo(d, 2, "write", 64, 16, pattern(8192, 2));
    d.ring(1);
    d.ring(2);
    d.ctrl.tick();
    expect(disk.pending).toBe(2);
    const m = save(d);
    // The machine runs on: the write completes and is reaped, the read is still in the backend
    // (its old result arrives after the restore), and a new read goes in flight.
    (disk as unknown as { waiting: (() => void)[] }).waiting.pop()!();
    await settle();
    const live: Tagged[] = [];
    reapAll(d, live);
    expect(live.map((c) => key(c.sqid, c.cid))).toEqual([key(2, inWrite.cid)]);
    const later = placeIo(d, 1, "read", 0, 16, 0xcc);
    d.ring(1, d.sqs.get(1)!.tail - 1);
    d.ctrl.tick();
    expect(disk.pending).toBe(2);
    // Restore: memory and driver back to the snapshot, the same controller restores its state.
    d.mem.fill(0, m.ram);
    loadDriver(d, m.driver);
    d.ctrl.restoreState(structuredClone(m.ctrl));
    const laterBuf = d.mem.bytes(later.addr, later.bytes);
    const got: Tagged[] = [];
    await drain(d, disk, got, 2);
    expect(got.map((c) => [key(c.sqid, c.cid), c.status]).sort()).toEqual([[key(1, inRead.cid), 0], [key(2, inWrite.cid), 0]].sort());
    expect(d.mem.bytes(inRead.addr, inRead.bytes)).toEqual(pattern(8192, 1));
    // The read from after the snapshot left no trace in the restored memory.
    expect(d.mem.bytes(later.addr, later.bytes)).toEqual(laterBuf);
    acked.set(64, pattern(8192, 2));
    await expectAcked(d, disk, acked);
  });
});

describe("snapshot and restore of the error history", () => {
  // Needs a change in the controller: ControllerSnapshot carries no error log, so a restored
  // controller starts an empty log whose error count restarts at 1 (the host sees the count,
  // which must only grow, go backwards, and SMART's error entry count drop to 0).
  it("keeps the Error Information log and its count across a snapshot", async () => {
    const disk = new FaultyBackend(1 << 20);
    const options: NvmeOptions = { namespaces: [{ backend: disk }] };
    const d = await HostDriver.create(options, RAM);
    await d.bringUp({ pairs: 1 });
    disk.fault = (op) => (op === "tryRead" ? { how: "throw" } : undefined);
    const [c] = await d.read(1, 1, 0, 8);
    expect(c.status).toBe(ST.UNRECOVERED_READ);
    disk.fault = () => undefined;
    const before = await errorLog(d);
    expect(before.length).toBe(1);
    const r = await restoreFresh(save(d), options);
    const after = await errorLog(r);
    expect(after).toEqual(before);
    expect((await smart(r)).errorEntries).toBe(before[0].count);
  });
});
