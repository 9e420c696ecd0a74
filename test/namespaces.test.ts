// Namespace Management, Namespace Attachment, the Identify lists they change, capacity
// accounting, the Changed Namespace List with its notice, host addNamespace/removeNamespace, and
// the namespace table in snapshots: every status path, through the controller's registers.

import { describe, expect, it } from "vitest";
import { HostDriver, pattern, same, type Cqe } from "./driver/host-driver.ts";
import { DeferredBackend } from "./driver/deferred-backend.ts";
import { MemoryBackend } from "../src/backends/memory.ts";
import { NvmeController, deviceOf } from "../src/controller/controller.ts";
import * as O from "../src/spec/opcodes.ts";
import * as I from "../src/spec/identify.ts";
import * as LOG from "../src/spec/logs.ts";
import * as F from "../src/spec/features.ts";
import * as S from "../src/spec/status.ts";
import type { NvmeOptions } from "../src/state/options.ts";

const MiB = 1 << 20;
const sc = (sct: number, code: number) => sct | code | S.STATUS_DNR;
const INVALID_FIELD = sc(S.SCT_GENERIC, S.SC_INVALID_FIELD);
const INVALID_NS = sc(S.SCT_GENERIC, S.SC_INVALID_NAMESPACE);
const cs = (code: number) => sc(S.SCT_COMMAND_SPECIFIC, code);

async function up(o: Partial<NvmeOptions> = {}): Promise<HostDriver> {
  const d = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(MiB) }], guestCapacity: 8 * MiB, ...o }, 16 << 20);
  await d.bringUp();
  return d;
}

/** Namespace Management create with the given NSZE/NCAP/FLBAS; the new NSID is in dw0. */
async function createNs(d: HostDriver, blocks: number, o: { ncap?: number; flbas?: number; dps?: number; cdw11?: number } = {}): Promise<Cqe> {
  const buf = d.mem.alloc(4096, 4096);
  const dv = new DataView(new ArrayBuffer(4096));
  dv.setUint32(I.IDN_NSZE, blocks % 2 ** 32, true);
  dv.setUint32(I.IDN_NSZE + 4, Math.floor(blocks / 2 ** 32), true);
  const ncap = o.ncap ?? blocks;
  dv.setUint32(I.IDN_NCAP, ncap % 2 ** 32, true);
  dv.setUint32(I.IDN_NCAP + 4, Math.floor(ncap / 2 ** 32), true);
  dv.setUint8(I.IDN_FLBAS, o.flbas ?? 0);
  dv.setUint8(I.IDN_DPS, o.dps ?? 0);
  d.mem.fill(buf, new Uint8Array(dv.buffer));
  return d.admin({ opcode: O.ADMIN_NS_MANAGEMENT, prp1: buf, cdw10: 0, cdw11: o.cdw11 ?? 0 });
}

const deleteNs = (d: HostDriver, nsid: number) => d.admin({ opcode: O.ADMIN_NS_MANAGEMENT, nsid, cdw10: 1 });

function attachSqe(d: HostDriver, nsid: number, attach: boolean, ids: number[] = [1]) {
  const buf = d.mem.alloc(4096, 4096);
  const list = new DataView(new ArrayBuffer(4096));
  list.setUint16(0, ids.length, true);
  ids.forEach((id, i) => list.setUint16(2 + i * 2, id, true));
  d.mem.fill(buf, new Uint8Array(list.buffer));
  return { opcode: O.ADMIN_NS_ATTACHMENT, nsid, prp1: buf, cdw10: attach ? 0 : 1 };
}

const attachNs = (d: HostDriver, nsid: number, attach: boolean, ids?: number[]): Promise<Cqe> => d.admin(attachSqe(d, nsid, attach, ids));

/**
 * Submits an attach or detach with an Asynchronous Event Request parked: the notice may complete
 * before the command that raised it. Returns both completions by CID.
 */
async function attachWithNotice(d: HostDriver, nsid: number, attach: boolean): Promise<Map<number, Cqe>> {
  d.submit(0, attachSqe(d, nsid, attach));
  await ticks(d);
  return new Map(d.reap(0).map((c) => [c.cid, c]));
}

async function nsidList(d: HostDriver, cns: number, from = 0): Promise<number[]> {
  const [b, c] = await d.identify(cns, from);
  expect(c.status).toBe(0);
  const dv = new DataView(b.buffer, b.byteOffset);
  const out: number[] = [];
  for (let i = 0; i < 1024 && dv.getUint32(i * 4, true); i++) out.push(dv.getUint32(i * 4, true));
  return out;
}

async function capacity(d: HostDriver): Promise<{ nn: number; total: number; free: number; oacs: number }> {
  const [b] = await d.identify(I.CNS_CONTROLLER);
  const dv = new DataView(b.buffer, b.byteOffset);
  const u64 = (off: number) => dv.getUint32(off, true) + dv.getUint32(off + 4, true) * 2 ** 32;
  return { nn: dv.getUint32(I.IDC_NN, true), total: u64(I.IDC_TNVMCAP), free: u64(I.IDC_UNVMCAP), oacs: dv.getUint16(I.IDC_OACS, true) };
}

async function changedLog(d: HostDriver, rae = false): Promise<number[]> {
  const buf = d.mem.alloc(4096, 4096);
  const c = await d.admin({ opcode: O.ADMIN_GET_LOG_PAGE, nsid: 0xffffffff, prp1: buf, cdw10: LOG.LID_CHANGED_NS_LIST | (rae ? LOG.CDW10_RAE : 0) | (1023 << 16) });
  expect(c.status).toBe(0);
  const dv = new DataView(d.mem.bytes(buf, 4096).buffer);
  const out: number[] = [];
  for (let i = 0; i < 1024 && dv.getUint32(i * 4, true); i++) out.push(dv.getUint32(i * 4, true));
  return out;
}

/** Enables the Namespace Attribute notice and parks one Asynchronous Event Request (its CID). */
async function armNotice(d: HostDriver): Promise<number> {
  expect((await d.admin({ opcode: O.ADMIN_SET_FEATURES, cdw10: F.FID_ASYNC_EVENT_CONFIG, cdw11: F.AEC_NS_ATTR })).status).toBe(0);
  return d.submit(0, { opcode: O.ADMIN_ASYNC_EVENT_REQUEST });
}

async function ticks(d: HostDriver, n = 5): Promise<void> {
  for (let i = 0; i < n; i++) {
    d.ctrl.tick();
    await new Promise((r) => setTimeout(r, 0));
  }
}

const NOTICE_DW0 = LOG.AE_TYPE_NOTICE | (LOG.AE_NOTICE_NS_ATTR << 8) | (LOG.LID_CHANGED_NS_LIST << 16);

describe("Namespace Management and Attachment", () => {
  it("advertises NN, OACS bit 3 and capacity, and accounts for what is created and deleted", async () => {
    const d = await up();
    expect(await capacity(d)).toEqual({ nn: 32, total: 9 * MiB, free: 8 * MiB, oacs: I.OACS_FORMAT | I.OACS_DBBUF_CONFIG | I.OACS_NS_MGMT });
    const c = await createNs(d, 2048);
    expect([c.status, c.dw0]).toEqual([0, 2]);
    expect((await capacity(d)).free).toBe(7 * MiB);
    const c4 = await createNs(d, 256, { flbas: 1 });
    expect([c4.status, c4.dw0]).toEqual([0, 3]);
    expect((await capacity(d)).free).toBe(6 * MiB);
    expect((await deleteNs(d, 2)).status).toBe(0);
    expect((await capacity(d)).free).toBe(7 * MiB);
    // The freed NSID is the next one given out.
    expect((await createNs(d, 8)).dw0).toBe(2);
  });

  it("refuses creation past the unallocated capacity, bad sizes, formats and command sets", async () => {
    const d = await up();
    expect((await createNs(d, 8 * 2048 + 1)).status).toBe(cs(S.SC_NS_INSUFFICIENT_CAPACITY));
    expect((await createNs(d, 2 ** 40, { flbas: 1 })).status).toBe(cs(S.SC_NS_INSUFFICIENT_CAPACITY));
    expect((await createNs(d, 0)).status).toBe(INVALID_FIELD);
    expect((await createNs(d, 8, { ncap: 9 })).status).toBe(INVALID_FIELD);
    expect((await createNs(d, 8, { ncap: 4 })).status).toBe(cs(S.SC_THIN_PROVISIONING_NOT_SUPPORTED));
    expect((await createNs(d, 8, { flbas: 6 })).status).toBe(cs(S.SC_INVALID_FORMAT)); // no seventh format
    expect((await createNs(d, 8, { flbas: 0x20 })).status).toBe(cs(S.SC_INVALID_FORMAT)); // a reserved bit
    expect((await createNs(d, 8, { dps: 1 })).status).toBe(cs(S.SC_INVALID_FORMAT)); // PI without metadata
    expect((await createNs(d, 8, { flbas: 2, dps: 0x10 })).status).toBe(cs(S.SC_INVALID_FORMAT)); // a reserved DPS bit
    expect((await createNs(d, 8, { cdw11: 3 << 24 })).status).toBe(INVALID_FIELD); // neither NVM nor Zoned Namespace
    expect((await d.admin({ opcode: O.ADMIN_NS_MANAGEMENT, cdw10: 2 })).status).toBe(INVALID_FIELD);
    expect((await capacity(d)).free).toBe(8 * MiB);
  });

  it("runs out of namespace IDs with Namespace Identifier Unavailable", async () => {
    const d = await up({ nn: 3 });
    expect((await createNs(d, 8)).dw0).toBe(2);
    expect((await createNs(d, 8)).dw0).toBe(3);
    expect((await createNs(d, 8)).status).toBe(cs(S.SC_NS_ID_UNAVAILABLE));
  });

  it("attaches and detaches with a controller list naming this controller, with the spec's statuses", async () => {
    const d = await up();
    const nsid = (await createNs(d, 64)).dw0;
    expect(await nsidList(d, I.CNS_ACTIVE_NS_LIST)).toEqual([1]);
    expect(await nsidList(d, I.CNS_ALLOCATED_NS_LIST)).toEqual([1, 2]);
    expect((await attachNs(d, nsid, false)).status).toBe(cs(S.SC_NS_NOT_ATTACHED));
    expect((await attachNs(d, nsid, true, [])).status).toBe(cs(S.SC_CONTROLLER_LIST_INVALID));
    expect((await attachNs(d, nsid, true, [2])).status).toBe(cs(S.SC_CONTROLLER_LIST_INVALID));
    expect((await attachNs(d, nsid, true, [1, 1])).status).toBe(cs(S.SC_CONTROLLER_LIST_INVALID));
    expect((await attachNs(d, nsid, true)).status).toBe(0);
    expect((await attachNs(d, nsid, true)).status).toBe(cs(S.SC_NS_ALREADY_ATTACHED));
    expect(await nsidList(d, I.CNS_ACTIVE_NS_LIST)).toEqual([1, 2]);
    expect(await nsidList(d, I.CNS_ACTIVE_NS_LIST, 1)).toEqual([2]);
    expect((await attachNs(d, 7, true)).status).toBe(INVALID_FIELD); // valid, not allocated
    expect((await attachNs(d, 33, true)).status).toBe(INVALID_NS);
    expect((await attachNs(d, 0xffffffff, true)).status).toBe(INVALID_NS);
    expect((await d.admin({ opcode: O.ADMIN_NS_ATTACHMENT, nsid, cdw10: 2 })).status).toBe(INVALID_FIELD);
    expect((await attachNs(d, nsid, false)).status).toBe(0);
    expect(await nsidList(d, I.CNS_ACTIVE_NS_LIST)).toEqual([1]);
  });

  it("identifies allocated namespaces (11h) and attached ones (00h), zeros where none is, and the controller lists", async () => {
    const d = await up();
    const nsid = (await createNs(d, 64, { flbas: 1 })).dw0;
    const [active, a] = await d.identify(I.CNS_NAMESPACE, nsid);
    expect([a.status, active.every((b) => b === 0)]).toEqual([0, true]);
    const [alloc, b] = await d.identify(I.CNS_ALLOCATED_NAMESPACE, nsid);
    const dv = new DataView(alloc.buffer, alloc.byteOffset);
    expect([b.status, dv.getUint32(I.IDN_NSZE, true), dv.getUint32(I.IDN_NVMCAP, true), alloc[I.IDN_FLBAS] & 0xf, (dv.getUint32(I.IDN_LBAF0 + 4, true) >>> 16) & 0xff]).toEqual([0, 64, 64 * 4096, 1, 12]);
    const [none] = await d.identify(I.CNS_ALLOCATED_NAMESPACE, 9);
    expect(none.every((x) => x === 0)).toBe(true);
    expect((await d.identify(I.CNS_ALLOCATED_NAMESPACE, 33))[1].status).toBe(INVALID_NS);
    expect((await d.identify(I.CNS_ALLOCATED_NS_LIST, 0xfffffffe))[1].status).toBe(INVALID_NS);
    const ctrls = async (cns: number, ns: number, from = 0) => {
      const buf = d.mem.alloc(4096, 4096);
      const c = await d.admin({ opcode: O.ADMIN_IDENTIFY, nsid: ns, prp1: buf, cdw10: cns | (from << 16) });
      const v = new DataView(d.mem.bytes(buf, 4).buffer);
      return [c.status, v.getUint16(0, true), v.getUint16(2, true)];
    };
    expect(await ctrls(I.CNS_NS_CONTROLLER_LIST, nsid)).toEqual([0, 0, 0]);
    expect(await ctrls(I.CNS_NS_CONTROLLER_LIST, 1)).toEqual([0, 1, 1]);
    expect(await ctrls(I.CNS_NS_CONTROLLER_LIST, 33)).toEqual([INVALID_NS, 0, 0]);
    expect(await ctrls(I.CNS_CONTROLLER_LIST, 0)).toEqual([0, 1, 1]);
    expect(await ctrls(I.CNS_CONTROLLER_LIST, 0, 2)).toEqual([0, 0, 0]);
  });

  it("refuses I/O to a detached namespace with Invalid Field, and keeps its data across detach and attach", async () => {
    const d = await up();
    const nsid = (await createNs(d, 64)).dw0;
    expect((await d.read(1, nsid, 0, 1))[0].status).toBe(INVALID_FIELD);
    await attachNs(d, nsid, true);
    const data = pattern(4096, 7);
    expect((await d.write(1, nsid, 8, data)).status).toBe(0);
    await attachNs(d, nsid, false);
    expect((await d.write(1, nsid, 8, data)).status).toBe(INVALID_FIELD);
    await attachNs(d, nsid, true);
    const [c, back] = await d.read(1, nsid, 8, 8);
    expect([c.status, same(back, data)]).toEqual([0, true]);
  });

  it("deletes one namespace, refuses unallocated and invalid NSIDs, and deletes all with FFFFFFFFh", async () => {
    const d = await up();
    await createNs(d, 8);
    await createNs(d, 8);
    expect((await deleteNs(d, 5)).status).toBe(INVALID_FIELD);
    expect((await deleteNs(d, 0)).status).toBe(INVALID_NS);
    expect((await deleteNs(d, 40)).status).toBe(INVALID_NS);
    await attachNs(d, 3, true);
    expect((await deleteNs(d, 3)).status).toBe(0);
    expect(await nsidList(d, I.CNS_ALLOCATED_NS_LIST)).toEqual([1, 2]);
    expect((await deleteNs(d, 0xffffffff)).status).toBe(0);
    expect(await nsidList(d, I.CNS_ALLOCATED_NS_LIST)).toEqual([]);
    expect(await nsidList(d, I.CNS_ACTIVE_NS_LIST)).toEqual([]);
  });
});

describe("capacity: TNVMCAP stays, deleted namespaces give theirs back", () => {
  it("gives a deleted host namespace's capacity back to the guest, TNVMCAP unchanged", async () => {
    const d = await up();
    expect(await capacity(d)).toMatchObject({ total: 9 * MiB, free: 8 * MiB });
    expect((await deleteNs(d, 1)).status).toBe(0);
    expect(await capacity(d)).toMatchObject({ total: 9 * MiB, free: 9 * MiB });
    // The whole capacity in one namespace of the full size, then nothing is left.
    const c = await createNs(d, (9 * MiB) / 512);
    expect([c.status, c.dw0]).toEqual([0, 1]);
    expect(await capacity(d)).toMatchObject({ total: 9 * MiB, free: 0 });
    expect((await createNs(d, 1)).status).toBe(cs(S.SC_NS_INSUFFICIENT_CAPACITY));
  });

  it("lets a host delete everything and re-create full-size namespaces, again and again", async () => {
    const d = await up();
    for (let round = 0; round < 3; round++) {
      expect((await deleteNs(d, 0xffffffff)).status).toBe(0);
      expect(await capacity(d)).toMatchObject({ total: 9 * MiB, free: 9 * MiB });
      expect((await createNs(d, (6 * MiB) / 512)).status).toBe(0);
      expect((await createNs(d, (3 * MiB) / 512)).status).toBe(0);
      expect(await capacity(d)).toMatchObject({ total: 9 * MiB, free: 0 });
    }
  });

  it("grows TNVMCAP by what addNamespace brings and shrinks it by what removeNamespace takes away", async () => {
    const d = await up();
    const nsid = d.ctrl.addNamespace({ backend: new MemoryBackend(2 * MiB) });
    expect(await capacity(d)).toMatchObject({ total: 11 * MiB, free: 8 * MiB });
    await d.ctrl.removeNamespace(nsid);
    expect(await capacity(d)).toMatchObject({ total: 9 * MiB, free: 8 * MiB });
    // The host taking away a namespace the guest made frees its capacity for the guest.
    const g = (await createNs(d, 2048)).dw0;
    await d.ctrl.removeNamespace(g);
    expect(await capacity(d)).toMatchObject({ total: 9 * MiB, free: 8 * MiB });
  });

  it("offers 16 GiB to the guest by default, and a 10 GiB namespace costs no memory until written", async () => {
    const d = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(MiB) }] }, 16 << 20);
    await d.bringUp();
    expect(await capacity(d)).toMatchObject({ total: 16 * 1024 * MiB + MiB, free: 16 * 1024 * MiB });
    const before = process.memoryUsage().arrayBuffers;
    const c = await createNs(d, (10 * 1024 * MiB) / 4096, { flbas: 1 });
    expect(c.status).toBe(0);
    await attachNs(d, c.dw0, true);
    const last = (10 * 1024 * MiB) / 4096 - 1;
    expect((await d.write(1, c.dw0, last, pattern(4096, 4), 4096)).status).toBe(0);
    const [r, back] = await d.read(1, c.dw0, last, 1, 4096);
    expect([r.status, same(back, pattern(4096, 4))]).toEqual([0, true]);
    const [r0, zero] = await d.read(1, c.dw0, 0, 1, 4096);
    expect([r0.status, zero.every((b) => b === 0)]).toEqual([0, true]);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * MiB);
  });

  it("keeps TNVMCAP in snapshots, checked like the rest", async () => {
    const d = await up();
    await deleteNs(d, 1);
    const saved = structuredClone(d.ctrl.saveState());
    const fresh = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(MiB) }], guestCapacity: 8 * MiB }, 16 << 20);
    await fresh.ctrl.removeNamespace(1);
    expect(deviceOf(fresh.ctrl).nsTable.totalBytes).toBe(8 * MiB);
    fresh.ctrl.restoreState(saved);
    const t = deviceOf(fresh.ctrl).nsTable;
    expect([t.totalBytes, t.unallocatedBytes]).toEqual([9 * MiB, 9 * MiB]);
    for (const total of [-1, 1.5, "9", 2 ** 60]) {
      const s = structuredClone(saved);
      (s.namespaces as unknown as Record<string, unknown>).total = total;
      expect(() => d.ctrl.restoreState(s), String(total)).toThrow(/snapshot refused: total NVM capacity/);
    }
  });
});

describe("Changed Namespace List and the Namespace Attribute Changed notice", () => {
  it("reports attachment changes once, masked until the log is read, which clears it unless RAE", async () => {
    const d = await up();
    const aer = await armNotice(d);
    const nsid = (await createNs(d, 8)).dw0;
    await ticks(d);
    expect(d.reap(0)).toEqual([]); // creation changes no active namespace
    const first = await attachWithNotice(d, nsid, true);
    expect(first.size).toBe(2);
    expect([first.get(aer)!.status, first.get(aer)!.dw0]).toEqual([0, NOTICE_DW0]);
    // Masked: the next change raises nothing until the log is read.
    const aer2 = d.submit(0, { opcode: O.ADMIN_ASYNC_EVENT_REQUEST });
    expect((await attachWithNotice(d, nsid, false)).has(aer2)).toBe(false);
    expect(await changedLog(d, true)).toEqual([nsid]);
    await ticks(d);
    expect(d.reap(0)).toEqual([]); // RAE: still masked
    expect(await changedLog(d)).toEqual([nsid]);
    expect(await changedLog(d)).toEqual([]);
    const third = await attachWithNotice(d, nsid, true);
    expect(third.get(aer2)?.dw0).toBe(NOTICE_DW0);
    expect(await changedLog(d)).toEqual([nsid]);
  });

  it("sends no notice while Asynchronous Event Configuration bit 8 is clear, but still lists the change", async () => {
    const d = await up();
    d.submit(0, { opcode: O.ADMIN_ASYNC_EVENT_REQUEST });
    d.ctrl.addNamespace({ backend: new MemoryBackend(MiB) });
    await ticks(d);
    expect(d.reap(0)).toEqual([]);
    expect(await changedLog(d)).toEqual([2]);
  });

  it("lists every changed NSID of a 1024-namespace controller at once", async () => {
    const d = await up({ nn: 1024 });
    for (let i = 0; i < 1023; i++) d.ctrl.addNamespace({ backend: new MemoryBackend(512) });
    await d.ctrl.removeNamespace(1);
    const list = await changedLog(d);
    expect([list.length, list[0], list[1023]]).toEqual([1024, 1, 1024]);
    expect(await changedLog(d)).toEqual([]);
  });
});

describe("host addNamespace / removeNamespace", () => {
  it("adds an attached namespace at the lowest free NSID, tells the guest, and removes it again", async () => {
    const d = await up();
    const aer = await armNotice(d);
    const image = MemoryBackend.fromBuffer(pattern(2 * MiB, 3));
    const nsid = d.ctrl.addNamespace({ backend: image, logicalBlockSize: 4096 });
    expect(nsid).toBe(2);
    await ticks(d);
    expect(d.reap(0).map((c) => [c.cid, c.dw0])).toEqual([[aer, NOTICE_DW0]]);
    expect(await changedLog(d)).toEqual([2]);
    const [c, back] = await d.read(1, nsid, 1, 1, 4096);
    expect([c.status, same(back, pattern(2 * MiB, 3).subarray(4096, 8192))]).toEqual([0, true]);
    // Host namespaces add their size to TNVMCAP, not to what the guest allocated.
    expect(await capacity(d)).toMatchObject({ total: 11 * MiB, free: 8 * MiB });
    expect(d.ctrl.namespaces().map((n) => [n.nsid, n.bytes, n.logicalBlockSize, n.attached, n.origin])).toEqual([[1, MiB, 512, true, "host"], [2, 2 * MiB, 4096, true, "host"]]);
    d.submit(0, { opcode: O.ADMIN_ASYNC_EVENT_REQUEST });
    expect(await d.ctrl.removeNamespace(nsid)).toBe(image);
    await ticks(d);
    expect(d.reap(0).map((c) => c.dw0)).toEqual([NOTICE_DW0]);
    expect(await nsidList(d, I.CNS_ACTIVE_NS_LIST)).toEqual([1]);
    expect((await d.read(1, nsid, 0, 1))[0].status).toBe(INVALID_FIELD);
  });

  it("refuses bad options, taken NSIDs, unknown namespaces, and a full table", async () => {
    const d = await up({ nn: 2 });
    expect(() => d.ctrl.addNamespace({ backend: new MemoryBackend(1000) })).toThrow(/not a positive multiple of 512/);
    expect(() => d.ctrl.addNamespace({ backend: new MemoryBackend(MiB), nsid: 1 })).toThrow(/namespace ID 1 is taken/);
    expect(() => d.ctrl.addNamespace({ backend: new MemoryBackend(MiB), nsid: 3 })).toThrow(/outside 1\.\.2/);
    d.ctrl.addNamespace({ backend: new MemoryBackend(MiB) });
    expect(() => d.ctrl.addNamespace({ backend: new MemoryBackend(MiB) })).toThrow(/no free namespace ID/);
    await expect(d.ctrl.removeNamespace(9)).rejects.toThrow(/no namespace 9/);
    await expect(NvmeController.create({ namespaces: [{ backend: new MemoryBackend(MiB) }], nn: 0 }, d.mem, d.host)).rejects.toThrow(/nn must be/);
    await expect(NvmeController.create({ namespaces: [{ backend: new MemoryBackend(MiB) }, { backend: new MemoryBackend(MiB) }], nn: 1 }, d.mem, d.host)).rejects.toThrow(/2 namespaces but nn is 1/);
  });

  it("lets a write in flight on a removed namespace finish and flushes before the removal resolves", async () => {
    const d = await up();
    const slow = new DeferredBackend(MiB);
    const nsid = d.ctrl.addNamespace({ backend: slow });
    const data = pattern(4096, 9);
    const [p1, p2, addr] = d.buffer(4096);
    d.mem.fill(addr, data);
    const cid = d.submit(1, { opcode: O.IO_WRITE, nsid, prp1: p1, prp2: p2, cdw10: 0, cdw12: 7 });
    await ticks(d, 2);
    expect(slow.pending).toBe(1);
    let removed = false;
    const removal = d.ctrl.removeNamespace(nsid).then(() => (removed = true));
    // New commands are refused at once.
    expect((await d.read(1, nsid, 0, 1))[0].status).toBe(INVALID_FIELD);
    await ticks(d, 2);
    expect(removed).toBe(false);
    await slow.release();
    await ticks(d, 3);
    const done = d.reap(1);
    expect(done.map((c) => [c.cid, c.status])).toEqual([[cid, 0]]);
    for (let i = 0; i < 20 && !removed; i++) {
      await slow.release();
      await ticks(d, 1);
    }
    await removal;
    const durable = new Uint8Array(4096);
    slow.durable.tryRead(0, durable);
    expect(same(durable, data)).toBe(true);
  });

  it("completes a create when an asynchronous createBackend settles, and fails it with Internal Error when it rejects", async () => {
    let fail = false;
    const d = await up({ createBackend: async (_nsid, bytes) => {
      await new Promise((r) => setTimeout(r, 5));
      if (fail) throw new Error("no room in browser storage");
      return new MemoryBackend(bytes);
    } });
    const c = await createNs(d, 2048);
    expect([c.status, c.dw0]).toEqual([0, 2]);
    expect((await capacity(d)).free).toBe(7 * MiB);
    fail = true;
    expect((await createNs(d, 2048)).status).toBe(S.INTERNAL_ERROR);
    expect((await capacity(d)).free).toBe(7 * MiB);
    expect(await nsidList(d, I.CNS_ALLOCATED_NS_LIST)).toEqual([1, 2]);
    expect(d.host.logs.some((l) => /making its backend failed: no room/.test(l))).toBe(true);
  });

  it("backs guest-created namespaces with createBackend", async () => {
    const made: [number, number][] = [];
    const d = await up({ createBackend: (nsid, bytes) => (made.push([nsid, bytes]), new MemoryBackend(bytes)) });
    await createNs(d, 16);
    expect(made).toEqual([[2, 8192]]);
    expect(d.ctrl.namespaces()[1]).toMatchObject({ nsid: 2, origin: "guest", attached: false, bytes: 8192 });
  });
});

describe("the namespace table in snapshots", () => {
  it("restores attachment and the changed list, drops namespaces the guest made since, and refuses what does not match", async () => {
    const d = await up();
    const nsid = (await createNs(d, 64)).dw0;
    await attachNs(d, nsid, true);
    const saved = structuredClone(d.ctrl.saveState());
    const table = deviceOf(d.ctrl).nsTable;
    table.setAttached(nsid, false);
    table.createGuest(8, 512);
    table.clearChanged();
    d.ctrl.restoreState(saved);
    expect(d.ctrl.namespaces().map((n) => [n.nsid, n.attached])).toEqual([[1, true], [2, true]]);
    expect(table.changedList()).toEqual([2]);
    const [c] = await d.read(1, nsid, 0, 1);
    expect(c.status).toBe(0);
    // A controller without the guest's namespace cannot take it: its data is not in the snapshot.
    const fresh = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(MiB) }], guestCapacity: 8 * MiB }, 16 << 20);
    expect(() => fresh.ctrl.restoreState(saved)).toThrow(/snapshot has namespace 2 \(32768 bytes in 512-byte blocks, made by the guest\), this controller has none/);
    // A host namespace the snapshot lacks is refused, not dropped.
    fresh.ctrl.addNamespace({ backend: new MemoryBackend(MiB), nsid: 3 });
    const s2 = structuredClone(saved);
    s2.namespaces!.table = s2.namespaces!.table.filter((n) => n.nsid === 1);
    expect(() => fresh.ctrl.restoreState(s2)).toThrow(/controller has namespace 3 .*which the snapshot lacks; remove it/);
  });

  it("checks the saved table as untrusted input", async () => {
    const d = await up();
    const good = structuredClone(d.ctrl.saveState());
    const bad: [string, unknown][] = [
      ["missing", null],
      ["entry", { table: [{ nsid: 1, bytes: MiB, block_size: 512, attached: "yes", origin: "host" }], changed: [] }],
      ["entry", { table: [{ nsid: 0, bytes: MiB, block_size: 512, attached: true, origin: "host" }], changed: [] }],
      ["entry", { table: [{ nsid: 1, bytes: MiB, block_size: 512, attached: true, origin: "host" }, { nsid: 1, bytes: MiB, block_size: 512, attached: true, origin: "host" }], changed: [] }],
      ["changed", { table: good.namespaces!.table, changed: [99] }],
      ["larger than nn", { table: new Array(40).fill(good.namespaces!.table[0]), changed: [] }],
    ];
    for (const [what, ns] of bad) {
      expect(() => d.ctrl.restoreState({ ...good, namespaces: ns as never }), what).toThrow(/snapshot refused/);
    }
    expect(d.ctrl.namespaces().length).toBe(1);
  });
});

describe("the README's namespace snippet", () => {
  it("adds an image as a namespace of the running controller, lists the namespaces, and removes it", async () => {
    const d = await up();
    const nvme = d.ctrl; // attachNvme's result has the same three methods
    const image = pattern(4 * MiB, 5);
    const lines: string[] = [];
    const log = (s: string) => lines.push(s);
    // README snippet: namespaces
    // A disk image becomes namespace 2 while the guest runs: Linux shows /dev/nvme0n2, no rescan.
    const nsid = nvme.addNamespace({ backend: MemoryBackend.fromBuffer(image), logical_block_size: 512 });
    for (const n of nvme.namespaces()) {
      log(`nsid ${n.nsid}: ${n.bytes} bytes, ${n.attached ? "attached" : "detached"}, made by the ${n.origin}`);
    }
    // Gone for the guest at once; resolves with the backend once commands in flight on it have
    // finished and it has been flushed.
    const backend = await nvme.removeNamespace(nsid);
    // README snippet end
    expect(nsid).toBe(2);
    expect(lines).toEqual(["nsid 1: 1048576 bytes, attached, made by the host", "nsid 2: 4194304 bytes, attached, made by the host"]);
    expect(backend.byteLength).toBe(4 * MiB);
    expect(nvme.namespaces().length).toBe(1);
  });
});
