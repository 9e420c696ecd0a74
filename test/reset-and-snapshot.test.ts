// Resets and snapshots are ordinary events: the device forgets every guest address it held, and
// nothing it acknowledged is lost; commands in flight in a snapshot run again after restore.
import { SAVED_STATE } from "../src/hotpath-state.ts";
import { Command } from "../src/command.ts";
import type { ControllerSnapshot } from "../src/controller/controller.ts";
import { describe, it, expect } from "vitest";
import { HostDriver, pattern, same } from "./driver/host-driver.ts";
import { DeferredBackend } from "./driver/deferred-backend.ts";
import { MemoryBackend } from "../src/backends/memory.ts";
import { NvmeController } from "../src/controller/controller.ts";
import type { NvmeOptions } from "../src/state/options.ts";
import * as O from "../src/spec/opcodes.ts";
import * as R from "../src/spec/registers.ts";

describe("reset", () => {
  it("mid-I/O: acknowledged writes are kept, late completions of the old queues are dropped", async () => {
    const disk = new DeferredBackend(1 << 20);
    const d = await HostDriver.create({ namespaces: [{ backend: disk }] });
    await d.bringUp();
    // One write acknowledged, one in flight when the host resets the controller.
    const a = pattern(4096, 1);
    const wa = d.write(1, 1, 0, a);
    await disk.release();
    expect((await wa).status).toBe(0);
    const b = pattern(4096, 2);
    const [p1, p2, addr] = d.buffer(4096);
    d.mem.fill(addr, b);
    d.submit(1, { opcode: O.IO_WRITE, nsid: 1, prp1: p1, prp2: p2, cdw10: 8, cdw12: 7 });
    expect(disk.pending).toBe(1);
    const oldCq = d.cqs.get(1)!;
    const before = d.mem.bytes(oldCq.base, 64 * 16);
    d.disable();
    await disk.release(); // the old write finishes after the reset: its completion must not land
    expect(d.mem.bytes(oldCq.base, 64 * 16)).toEqual(before);
    await d.bringUp();
    const [c, back] = await Promise.all([d.read(1, 1, 0, 8), disk.release().then(() => disk.release())]).then(([r]) => r);
    expect(c.status).toBe(0);
    expect(back).toEqual(a);
    expect(d.brokenCanaries()).toEqual([]);
  });

  it("machine reset (reboot) returns the registers to power-on values and drops the interrupt", async () => {
    const d = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(1 << 20) }] });
    await d.bringUp();
    d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 });
    expect(d.host.level).toBe(true);
    d.ctrl.reset();
    expect(d.host.level).toBe(false);
    expect(d.reg(R.REG_CC)).toBe(0);
    expect(d.reg(R.REG_CSTS)).toBe(0);
    expect(d.reg(R.REG_ASQ)).toBe(0);
    // Ticks after the reboot never touch the old kernel's memory.
    const snapshot = d.mem.bytes(0, d.mem.ramSize);
    for (let i = 0; i < 10; i++) d.ctrl.tick();
    expect(same(d.mem.bytes(0, d.mem.ramSize), snapshot)).toBe(true);
  });
});

describe("snapshots", () => {
  it("restore into a new controller resumes queues and replays in-flight commands", async () => {
    const disk = new DeferredBackend(1 << 20);
    const d = await HostDriver.create({ namespaces: [{ backend: disk }] });
    await d.bringUp({ shadow: true, pairs: 2 });
    const w = pattern(8192, 3);
    const done = d.write(1, 1, 16, w);
    await disk.release();
    expect((await done).status).toBe(0);
    // In flight at save time: a read on SQ 2.
    const [p1, p2, addr] = d.buffer(4096);
    const cid = d.submit(2, { opcode: O.IO_READ, nsid: 1, prp1: p1, prp2: p2, cdw10: 16, cdw12: 7 });
    expect(disk.pending).toBe(1);
    const state = structuredClone(d.ctrl.saveState());
    // The old device goes away with its pending work; a new one takes over the same memory.
    const old = d.ctrl;
    d.ctrl = await NvmeController.create({ namespaces: [{ backend: disk }] }, d.mem, d.host);
    old.reset();
    d.ctrl.restoreState(state);
    await disk.release();
    await disk.release();
    const got = d.reap(2);
    expect(got.map((c) => [c.cid, c.status])).toEqual([[cid, 0]]);
    expect(d.mem.bytes(addr, 4096)).toEqual(w.subarray(0, 4096));
    // Queues, shadow doorbells and the CQ phase carry on.
    for (let i = 0; i < 70; i++) {
      const r = d.read(1, 1, 16, 8);
      await disk.release();
      const [c, data] = await r;
      expect(c.status).toBe(0);
      expect(data).toEqual(w.subarray(0, 4096));
    }
    expect(d.brokenCanaries()).toEqual([]);
  });

  it("rejects a snapshot it does not understand", async () => {
    const d = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(1 << 20) }] });
    expect(() => d.ctrl.restoreState({ version: 9 } as never)).toThrow(/snapshot/);
  });

  it("refuses a snapshot of a controller configured differently, naming the field", async () => {
    const d = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(1 << 20) }] });
    await d.bringUp({ pairs: 2 });
    const state = structuredClone(d.ctrl.saveState());
    const ns = (bytes: number, lbs: 512 | 4096 = 512) => ({ backend: new MemoryBackend(bytes), logicalBlockSize: lbs });
    const cases: [string, NvmeOptions][] = [
      ["maxIoQueuePairs", { namespaces: [ns(1 << 20)], maxIoQueuePairs: 4 }],
      ["maxQueueEntries", { namespaces: [ns(1 << 20)], maxQueueEntries: 256 }],
      ["mdts", { namespaces: [ns(1 << 20)], mdts: 5 }],
      ["shadowDoorbells", { namespaces: [ns(1 << 20)], shadowDoorbells: false }],
    ];
    for (const [field, options] of cases) {
      const other = await NvmeController.create(options, d.mem, d.host);
      expect(() => other.restoreState(state), field).toThrow(new RegExp(`snapshot was taken with ${field} `));
    }
    // The namespace table: each namespace must be there with its size and block size.
    const tables: [RegExp, NvmeOptions][] = [
      [/controller has namespace 2 .*which the snapshot lacks/, { namespaces: [ns(1 << 20), ns(1 << 20)] }],
      [/snapshot has namespace 1 \(1048576 bytes in 512-byte blocks.*controller has namespace 1 \(2097152 bytes/, { namespaces: [ns(2 << 20)] }],
      [/snapshot has namespace 1 .*controller has namespace 1 \(1048576 bytes in 4096-byte blocks/, { namespaces: [ns(1 << 20, 4096)] }],
    ];
    for (const [message, options] of tables) {
      const other = await NvmeController.create(options, d.mem, d.host);
      expect(() => other.restoreState(state)).toThrow(message);
    }
    // Run-time choices are not part of it: another name and doorbell policy restore fine.
    const same = await NvmeController.create({ namespaces: [ns(1 << 20)], name: "nvme1", doorbellPolicy: "eager" }, d.mem, d.host);
    d.ctrl.reset();
    same.restoreState(state);
    d.ctrl = same;
    const [c] = await d.read(1, 1, 0, 8);
    expect(c.status).toBe(0);
  });

  it("refuses a snapshot whose queues, shadow pages or commands in flight the guest could not have made, and stays as it was", async () => {
    const d = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(1 << 20) }] });
    await d.bringUp({ pairs: 2 });
    const good = structuredClone(d.ctrl.saveState());
    const hot = (edit: (dv: DataView) => void) => {
      const s = structuredClone(good);
      edit(new DataView(s.hot.buffer, s.hot.byteOffset, s.hot.byteLength));
      return s;
    };
    const sq1 = SAVED_STATE.sq(1);
    const cq1 = SAVED_STATE.cq(1);
    const cases: Array<[RegExp, ControllerSnapshot]> = [
      [/SQ 1 at 0x3ff800 \(64 entries\) lies outside guest RAM/, hot((dv) => dv.setUint32(sq1.base, d.mem.ramSize - 2048, true))],
      [/CQ 1 at .* lies outside guest RAM/, hot((dv) => dv.setUint32(cq1.base + 4, 1, true))],
      [/SQ 1 head 64 is past/, hot((dv) => dv.setUint32(sq1.head, 64, true))],
      [/SQ 1 completes into CQ 7/, hot((dv) => dv.setUint32(sq1.cqid, 7, true))],
      [/shadow doorbell page .* is not a page inside guest RAM/, hot((dv) => dv.setUint32(SAVED_STATE.shadowAddress, d.mem.ramSize, true))],
      [/queue id limits/, hot((dv) => dv.setUint32(SAVED_STATE.sqLimit, 1000, true))],
      [/state is not/, { ...good, hot: good.hot.subarray(0, 100) }],
      [/register intms/, { ...good, regs: { ...good.regs, intms: 7 } }],
      [/register cc is/, { ...good, regs: { ...good.regs, cc: "1" as never } }],
      [/command 5 of SQ 1 is on no queue/, { ...good, inflight: [{ ...new Command(), sqid: 1, cqid: 2, cid: 5 } as Command] }],
      [/CQ 1 reserves 0 slots for 1 commands/, { ...good, inflight: [{ ...new Command(), sqid: 1, cqid: 1, cid: 5 } as Command] }],
      [/command 0 in flight has prp1Lo -1/, { ...good, inflight: [{ ...new Command(), sqid: 1, cqid: 1, prp1Lo: -1 } as Command] }],
      [/error log position 64/, { ...good, errors: { ...good.errors!, next: 64 } }],
      [/features field coalesceTime/, { ...good, features: { ...good.features, coalesceTime: 256 } }],
    ];
    for (const [message, bad] of cases) {
      expect(() => d.ctrl.restoreState(bad), String(message)).toThrow(new RegExp(`nvme0: snapshot refused: .*${message.source}`));
    }
    expect(d.brokenCanaries()).toEqual([]);
    // Refused whole: the controller carries on with its own queues.
    const [c] = await d.read(1, 1, 0, 8);
    expect(c.status).toBe(0);
  });
});

describe("bus mastering", () => {
  it("does no DMA while Bus Master Enable is clear, and finishes what it held once it is set again", async () => {
    const disk = new DeferredBackend(1 << 20);
    const d = await HostDriver.create({ namespaces: [{ backend: disk }] });
    await d.bringUp();
    const buf = d.mem.alloc(4096);
    d.submit(1, { opcode: O.IO_READ, nsid: 1, prp1: buf, cdw12: 7 }); // held by the slow disk
    d.host.bus = false;
    const fetched = d.ctrl.counters.sqesFetched;
    d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 }); // the doorbell is stored, nothing fetched
    const ram = d.mem.bytes(0, d.mem.ramSize);
    await disk.release(); // the read's data arrives
    d.ctrl.tick();
    expect(d.ctrl.counters.sqesFetched).toBe(fetched);
    expect(same(d.mem.bytes(0, d.mem.ramSize), ram)).toBe(true);
    d.host.bus = true;
    d.ctrl.tick();
    await disk.release();
    d.ctrl.tick();
    expect(d.reap(1).map((c) => c.status)).toEqual([0, 0]);
    expect(d.ctrl.counters.sqesFetched).toBe(fetched + 1);
  });
});
