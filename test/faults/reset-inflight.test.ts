// Controller reset (CC.EN 1 → 0 → 1) with many commands in flight on several queues: no command
// completes twice, nothing from before the reset lands in the new queues (late backend results
// are dropped), and every write acknowledged before the reset reads back afterwards.
import { describe, it, expect } from "vitest";
import { HostDriver, pattern, type Cqe } from "../driver/host-driver.ts";
import { DeferredBackend } from "../driver/deferred-backend.ts";
import * as O from "../../src/spec/opcodes.ts";
import * as R from "../../src/spec/registers.ts";
import { ST, placeIo, reapAll, settle, type Placed } from "./helpers.ts";

const QUEUES = 3;
const SENTINEL = 0x5a;

type Tagged = Cqe & { cq: number };

/** The I/O SQs' tails now: where the next ringAll starts from (shadow doorbells need it). */
function tails(d: HostDriver): Map<number, number> {
  return new Map([...d.sqs.values()].map((sq) => [sq.qid, sq.tail]));
}

/** Rings every I/O SQ's tail doorbell for the entries placed since `from`, then the timer ticks. */
function ringAll(d: HostDriver, from: Map<number, number>): void {
  for (let q = 1; q <= QUEUES; q++) d.ring(q, from.get(q));
  d.ctrl.tick(); // a queue kept awake is polled at the timer tick, not woken by MMIO
}

/** Snapshot of guest bytes at each placed command's buffer and at each CQ. */
function memoryOf(d: HostDriver, placed: Placed[]): [number, Uint8Array][] {
  const out: [number, Uint8Array][] = placed.map((p) => [p.addr, d.mem.bytes(p.addr, p.bytes)]);
  for (const cq of d.cqs.values()) out.push([cq.base, d.mem.bytes(cq.base, cq.size * 16)]);
  return out;
}

describe("controller reset with commands in flight", () => {
  it("drops every old command's late result, keeps acknowledged writes, and the new queues see only new commands", async () => {
    const disk = new DeferredBackend(4 << 20);
    const d = await HostDriver.create({ namespaces: [{ backend: disk }] }, 16 << 20);
    await d.bringUp({ pairs: QUEUES, queueSize: 64 });
    // Acknowledged before the reset: 8 writes per queue, 4 KiB each, at LBAs 0.. (queue-major).
    const acked: { slba: number; data: Uint8Array }[] = [];
    const first: Placed[] = [];
    let from = tails(d);
    for (let q = 1; q <= QUEUES; q++) {
      for (let i = 0; i < 8; i++) {
        const slba = ((q - 1) * 8 + i) * 8;
        const data = pattern(4096, slba + 1);
        first.push(placeIo(d, q, "write", slba, 8, data));
        acked.push({ slba, data });
      }
    }
    ringAll(d, from);
    expect(disk.pending).toBe(first.length);
    await disk.release();
    const got: Tagged[] = [];
    reapAll(d, got);
    expect(got.length).toBe(first.length);
    expect(got.every((c) => c.status === 0)).toBe(true);
    // In flight at the reset: on every queue, writes over the acknowledged LBAs' neighbours and
    // reads of the acknowledged data into buffers holding a sentinel.
    const inflight: Placed[] = [];
    from = tails(d);
    for (let q = 1; q <= QUEUES; q++) {
      for (let i = 0; i < 12; i++) {
        inflight.push(placeIo(d, q, "write", 1024 + ((q - 1) * 12 + i) * 8, 8, pattern(4096, 1000 + i)));
        inflight.push(placeIo(d, q, "read", ((q - 1) * 8 + (i % 8)) * 8, 8, SENTINEL));
      }
    }
    ringAll(d, from);
    expect(disk.pending).toBe(inflight.length);
    expect(d.ctrl.counters.inflight).toBe(inflight.length);
    reapAll(d, got);
    expect(got.length).toBe(first.length); // nothing completed yet
    const oldCqs = [...d.cqs.values()].map((cq) => [cq.base, d.mem.bytes(cq.base, cq.size * 16)] as const);

    d.disable();
    expect(d.reg(R.REG_CSTS) & R.CSTS_RDY).toBe(0);
    expect(d.ctrl.counters.inflight).toBe(0);
    await d.bringUp({ pairs: QUEUES, queueSize: 64 });
    // New commands reuse the old CIDs (the driver numbers from 0 again) and wait behind the old
    // ones in the backend: the old results arrive first and must not complete the new commands.
    const fresh: Placed[] = [];
    from = tails(d);
    for (let q = 1; q <= QUEUES; q++) {
      for (let i = 0; i < 4; i++) fresh.push(placeIo(d, q, "read", ((q - 1) * 8 + i) * 8, 8, SENTINEL));
      fresh.push(placeIo(d, q, "write", 2048 + q * 8, 8, pattern(4096, 5000 + q)));
    }
    ringAll(d, from);
    expect(disk.pending).toBe(inflight.length + fresh.length);
    await disk.release();
    await settle();
    const after: Tagged[] = [];
    reapAll(d, after);
    // Exactly the new commands, once each, on their own queues.
    const key = (q: number, cid: number) => `${q}:${cid}`;
    expect(after.map((c) => key(c.sqid, c.cid)).sort()).toEqual(fresh.map((p) => key(p.qid, p.cid)).sort());
    expect(after.every((c) => c.status === 0 && c.cq === c.sqid)).toBe(true);
    // New reads got the acknowledged data.
    for (const p of fresh.filter((p) => p.sqe.opcode === O.IO_READ)) {
      const want = acked.find((a) => a.slba === p.sqe.cdw10)!.data;
      expect(d.mem.bytes(p.addr, p.bytes)).toEqual(want);
    }
    // The old queues' memory was not touched after the reset.
    for (const [base, bytes] of oldCqs) expect(d.mem.bytes(base, bytes.length)).toEqual(bytes);
    // Every acknowledged write reads back (the old in-flight writes to other LBAs changed nothing here).
    for (const a of acked) {
      const r = d.read(1 + (a.slba % QUEUES), 1, a.slba, 8);
      await disk.release();
      const [c, data] = await r;
      expect(c.status).toBe(0);
      expect(data).toEqual(a.data);
    }
    // Nothing more arrives later.
    await disk.release();
    expect(reapAll(d, after)).toBe(0);
    expect(d.brokenCanaries()).toEqual([]);
  });

  it("with an Abort and AERs outstanding: each completes at most once, old AERs never answer new events", async () => {
    const disk = new DeferredBackend(1 << 20);
    const d = await HostDriver.create({ namespaces: [{ backend: disk }], doorbellPolicy: "eager" }, 8 << 20);
    await d.bringUp({ pairs: 2 });
    const r1 = placeIo(d, 1, "read", 0, 8, SENTINEL);
    const r2 = placeIo(d, 2, "read", 8, 8, SENTINEL);
    d.ring(1);
    d.ring(2);
    expect(disk.pending).toBe(2);
    const aer1 = d.submit(0, { opcode: O.ADMIN_ASYNC_EVENT_REQUEST });
    const aer2 = d.submit(0, { opcode: O.ADMIN_ASYNC_EVENT_REQUEST });
    const abort = d.submit(0, { opcode: O.ADMIN_ABORT, cdw10: 1 | (r1.cid << 16) });
    // The reset comes before the host has reaped anything.
    const before: Tagged[] = [];
    reapAll(d, before);
    expect(before.map((c) => [c.cq, c.cid, c.status]).sort()).toEqual([[0, abort, 0], [1, r1.cid, ST.ABORT_REQUESTED]].sort());
    expect(d.ctrl.counters.aersOutstanding).toBe(2);
    const oldQueues = [...d.cqs.values()].map((cq) => [cq.base, d.mem.bytes(cq.base, cq.size * 16)] as const);
    d.disable();
    expect(d.ctrl.counters.aersOutstanding).toBe(0);
    await d.bringUp({ pairs: 2 });
    await disk.release(); // r1 (aborted) and r2 (reset) finish now: both dropped
    // An error event after re-enable: no old AER may carry it into the new admin CQ.
    d.setReg(0x1000 + 2 * 100 * 4, 1); // SQ 100 tail doorbell: no such queue
    const after: Tagged[] = [];
    reapAll(d, after);
    expect(after).toEqual([]);
    // A new AER gets the event, with its own CID.
    const aer3 = d.submit(0, { opcode: O.ADMIN_ASYNC_EVENT_REQUEST });
    reapAll(d, after);
    expect(after.map((c) => [c.cq, c.cid, c.status])).toEqual([[0, aer3, 0]]);
    expect(after[0].dw0 & 7).toBe(0); // event type: error status
    for (const [base, bytes] of oldQueues) expect(d.mem.bytes(base, bytes.length)).toEqual(bytes);
    expect([aer1, aer2]).not.toContain(undefined);
    void r2;
  });

  it("an aborted read's late data is not copied into the buffer the host got back", async () => {
    // An aborted command's buffer belongs to the host again (Linux frees or reuses it at once):
    // the late result of the backend read must be dropped before it is copied, not only before
    // its completion is posted.
    const disk = new DeferredBackend(1 << 20);
    disk.disk.write(0, pattern(8192, 7));
    const d = await HostDriver.create({ namespaces: [{ backend: disk }], doorbellPolicy: "eager" }, 8 << 20);
    await d.bringUp({ pairs: 1 });
    const aborted = placeIo(d, 1, "read", 0, 8, SENTINEL);
    d.ring(1);
    expect((await d.admin({ opcode: O.ADMIN_ABORT, cdw10: 1 | (aborted.cid << 16) })).dw0 & 1).toBe(0);
    expect(d.reap(1).map((c) => [c.cid, c.status])).toEqual([[aborted.cid, ST.ABORT_REQUESTED]]);
    const untouched = memoryOf(d, [aborted]);
    await disk.release();
    expect(d.reap(1)).toEqual([]);
    for (const [addr, bytes] of untouched) expect(d.mem.bytes(addr, bytes.length), `guest memory at 0x${addr.toString(16)}`).toEqual(bytes);
  });

  it("a read in flight at a reset does not copy its late data into the old driver's buffer", async () => {
    // After a reset the old driver's memory may hold anything (the new driver reuses it).
    const disk = new DeferredBackend(1 << 20);
    disk.disk.write(0, pattern(8192, 7));
    const d = await HostDriver.create({ namespaces: [{ backend: disk }], doorbellPolicy: "eager" }, 8 << 20);
    await d.bringUp({ pairs: 1 });
    const old = placeIo(d, 1, "read", 8, 8, SENTINEL);
    d.ring(1);
    d.disable();
    await d.bringUp({ pairs: 1 });
    const untouched = memoryOf(d, [old]);
    await disk.release();
    expect(d.reap(1)).toEqual([]);
    for (const [addr, bytes] of untouched) expect(d.mem.bytes(addr, bytes.length), `guest memory at 0x${addr.toString(16)}`).toEqual(bytes);
  });
});
