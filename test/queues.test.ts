// Queue management and the rings: creation checks, shared completion queues, full-CQ backpressure.
import { describe, it, expect } from "vitest";
import { HostDriver } from "./driver/host-driver.ts";
import { MemoryBackend } from "../src/backends/memory.ts";
import * as O from "../src/spec/opcodes.ts";

const make = (o: object = {}) => HostDriver.create({ namespaces: [{ backend: new MemoryBackend(1 << 20) }], maxQueueEntries: 256, ...o });
const sc = (status: number) => status & 0x7ff; // SCT and SC, without DNR/More

describe("queue creation and deletion", () => {
  it("checks ids, sizes, CQ references and contiguity", async () => {
    const d = await make({ maxIoQueuePairs: 4 });
    d.enable();
    await d.setNumQueues(4);
    expect(sc((await d.createCq(0, 16)).status)).toBe(0x101); // admin id: Invalid Queue Identifier
    expect(sc((await d.createCq(5, 16)).status)).toBe(0x101); // beyond allocated queues
    expect(sc((await d.createCq(1, 257)).status)).toBe(0x102); // beyond MQES: Invalid Queue Size
    expect(sc((await d.createCq(1, 1)).status)).toBe(0x102);
    expect((await d.createCq(1, 16)).status).toBe(0);
    expect(sc((await d.createCq(1, 16)).status)).toBe(0x101); // exists
    expect(sc((await d.createSq(1, 16, 2)).status)).toBe(0x100); // CQ 2 missing: Completion Queue Invalid
    expect(sc((await d.createSq(1, 16, 0)).status)).toBe(0x100); // the admin CQ cannot take I/O
    const nc = await d.admin({ opcode: O.ADMIN_CREATE_SQ, prp1: 0x40000, cdw10: (15 << 16) | 1, cdw11: 1 << 16 }); // PC = 0
    expect(sc(nc.status)).toBe(0x002);
    const misaligned = await d.admin({ opcode: O.ADMIN_CREATE_CQ, prp1: 0x40010, cdw10: (15 << 16) | 2, cdw11: 3 });
    expect(sc(misaligned.status)).toBe(0x013);
    const outside = await d.admin({ opcode: O.ADMIN_CREATE_CQ, prp1: d.mem.ramSize, cdw10: (15 << 16) | 2, cdw11: 3 });
    expect(sc(outside.status)).toBe(0x002);
    const vector = await d.admin({ opcode: O.ADMIN_CREATE_CQ, prp1: 0x40000, cdw10: (15 << 16) | 2, cdw11: (1 << 16) | 3 });
    expect(sc(vector.status)).toBe(0x108); // Invalid Interrupt Vector: pin-based only
    expect((await d.createSq(1, 16, 1)).status).toBe(0);
    expect(d.brokenCanaries()).toEqual([]);
  });

  it("refuses to delete a CQ that an SQ still uses, then deletes in order", async () => {
    const d = await make();
    d.enable();
    await d.setNumQueues(2);
    await d.createCq(1, 16);
    expect((await d.createSq(1, 16, 1)).status).toBe(0);
    expect((await d.createSq(2, 16, 1)).status).toBe(0);
    expect(sc((await d.deleteCq(1)).status)).toBe(0x10c); // Invalid Queue Deletion
    expect((await d.deleteSq(1)).status).toBe(0);
    expect(sc((await d.deleteCq(1)).status)).toBe(0x10c);
    expect((await d.deleteSq(2)).status).toBe(0);
    expect((await d.deleteCq(1)).status).toBe(0);
    expect(sc((await d.deleteSq(1)).status)).toBe(0x101);
    expect(sc((await d.deleteCq(0)).status)).toBe(0x101);
  });

  it("rejects Number of Queues changes once I/O queues exist and 0xFFFF requests", async () => {
    const d = await make({ maxIoQueuePairs: 8 });
    d.enable();
    const all = await d.admin({ opcode: O.ADMIN_SET_FEATURES, cdw10: 0x07, cdw11: 0xffff });
    expect(sc(all.status)).toBe(0x002);
    const c = await d.setNumQueues(32);
    expect(c.status).toBe(0);
    expect(c.dw0).toBe((7 << 16) | 7); // capped at maxIoQueuePairs, 0's based
    await d.createCq(1, 16);
    expect(sc((await d.setNumQueues(2)).status)).toBe(0x00c); // Command Sequence Error
  });
});

describe("several submission queues sharing one completion queue", () => {
  it("lands interleaved completions in order with the right SQ id and SQ head", async () => {
    const d = await make();
    d.enable();
    await d.setNumQueues(3);
    await d.createCq(1, 64);
    for (const q of [1, 2, 3]) expect((await d.createSq(q, 8, 1)).status).toBe(0);
    const expected: [number, number][] = [];
    for (let round = 0; round < 5; round++) {
      for (const q of [2, 1, 3]) {
        const cid = d.submit(q, { opcode: O.IO_FLUSH, nsid: 1 });
        expected.push([q, cid]);
      }
    }
    const got = d.reap(1);
    expect(got.map((c) => [c.sqid, c.cid])).toEqual(expected);
    const heads = new Map<number, number>();
    for (const c of got) {
      heads.set(c.sqid, ((heads.get(c.sqid) ?? 0) + 1) % 8);
      expect(c.sqHead).toBe(heads.get(c.sqid));
      expect(c.status).toBe(0);
    }
  });

  it("never overruns a full CQ: commands wait in their SQs until the host frees room", async () => {
    const d = await make();
    d.enable();
    await d.setNumQueues(2);
    await d.createCq(1, 4); // 3 usable slots
    await d.createSq(1, 16, 1);
    await d.createSq(2, 16, 1);
    for (let i = 0; i < 5; i++) d.place(1, { opcode: O.IO_FLUSH, nsid: 1 });
    for (let i = 0; i < 5; i++) d.place(2, { opcode: O.IO_FLUSH, nsid: 1 });
    d.ring(1);
    d.ring(2);
    d.ctrl.tick();
    let got = d.reap(1);
    expect(got).toHaveLength(3);
    const all = [...got];
    for (let i = 0; i < 10 && all.length < 10; i++) {
      d.ctrl.tick();
      got = d.reap(1);
      expect(got.length).toBeLessThanOrEqual(3);
      all.push(...got);
    }
    expect(all).toHaveLength(10);
    expect(all.filter((c) => c.sqid === 1)).toHaveLength(5);
    expect(all.filter((c) => c.sqid === 2)).toHaveLength(5);
    expect(d.brokenCanaries()).toEqual([]);
  });

  it("wraps rings many times with correct phase tags", async () => {
    const d = await make();
    await d.bringUp({ queueSize: 4 });
    for (let i = 0; i < 50; i++) expect((await d.run(1, { opcode: O.IO_FLUSH, nsid: 1 })).status).toBe(0);
  });
});
