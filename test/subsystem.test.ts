// Two controllers in one NVM subsystem (NvmeController.create's `sharedWith`), driven by two host
// drivers and no emulator: what Identify says through each (CNTLID, CMIC, NMIC, the subsystem NQN
// and namespace identifiers Linux's multipath compares), data written through one read through the
// other, Namespace Management and Attachment with controller lists and the notice on each
// controller whose namespaces changed, host addNamespace/removeNamespace, a reset of one leaving
// the other's queues alone, and snapshots of both (checked as untrusted input).

import { describe, expect, it, vi } from "vitest";
import { HostDriver, pattern, same } from "./driver/host-driver.ts";
import { MemoryBackend } from "../src/backends/memory.ts";
import { DeferredBackend } from "./driver/deferred-backend.ts";
import { NvmeController } from "../src/controller/controller.ts";
import * as O from "../src/spec/opcodes.ts";
import * as I from "../src/spec/identify.ts";
import * as F from "../src/spec/features.ts";
import * as LOG from "../src/spec/logs.ts";
import * as S from "../src/spec/status.ts";

const MiB = 1 << 20;
const cs = (code: number) => S.SCT_COMMAND_SPECIFIC | code | S.STATUS_DNR;
const NOTICE_DW0 = LOG.AE_TYPE_NOTICE | (LOG.AE_NOTICE_NS_ATTR << 8) | (LOG.LID_CHANGED_NS_LIST << 16);

/** Two controllers of one subsystem over namespace 1 (1 MiB), both enabled with one I/O queue pair. */
async function pair(): Promise<[HostDriver, HostDriver]> {
  const a = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(MiB) }], serial: "SUBSYS1", guestCapacity: 8 * MiB }, 16 << 20);
  const b = new HostDriver(16 << 20);
  b.ctrl = await NvmeController.create({ sharedWith: a.ctrl, name: "nvme1" }, b.mem, b.host);
  await a.bringUp();
  await b.bringUp();
  return [a, b];
}

async function identifyData(d: HostDriver, cns: number, nsid = 0, cntid = 0): Promise<DataView> {
  const buf = d.mem.alloc(4096, 4096);
  const c = await d.admin({ opcode: O.ADMIN_IDENTIFY, nsid, prp1: buf, cdw10: cns | (cntid << 16) });
  expect(c.status).toBe(0);
  return new DataView(d.mem.bytes(buf, 4096).buffer);
}

async function identifyLog(d: HostDriver, lid: number): Promise<DataView> {
  const buf = d.mem.alloc(4096, 4096);
  const c = await d.admin({ opcode: O.ADMIN_GET_LOG_PAGE, nsid: 0xffffffff, prp1: buf, cdw10: lid | (1023 << 16) });
  expect(c.status).toBe(0);
  return new DataView(d.mem.bytes(buf, 4096).buffer);
}

async function controllerList(d: HostDriver, cns: number, nsid = 0, from = 0): Promise<number[]> {
  const v = await identifyData(d, cns, nsid, from);
  return Array.from({ length: v.getUint16(0, true) }, (_, i) => v.getUint16(2 + i * 2, true));
}

async function activeList(d: HostDriver): Promise<number[]> {
  const v = await identifyData(d, I.CNS_ACTIVE_NS_LIST);
  const out: number[] = [];
  for (let i = 0; v.getUint32(i * 4, true); i++) out.push(v.getUint32(i * 4, true));
  return out;
}

const text = (v: DataView, off: number, len: number) => new TextDecoder().decode(new Uint8Array(v.buffer, off, len)).replace(/[\0 ]+$/, "");

function attach(d: HostDriver, nsid: number, on: boolean, ids: number[]) {
  const buf = d.mem.alloc(4096, 4096);
  const list = new DataView(new ArrayBuffer(4096));
  list.setUint16(0, ids.length, true);
  ids.forEach((id, i) => list.setUint16(2 + i * 2, id, true));
  d.mem.fill(buf, new Uint8Array(list.buffer));
  return d.admin({ opcode: O.ADMIN_NS_ATTACHMENT, nsid, prp1: buf, cdw10: on ? 0 : 1 });
}

function create(d: HostDriver, blocks: number, nmic = 0) {
  const buf = d.mem.alloc(4096, 4096);
  const data = new DataView(new ArrayBuffer(4096));
  data.setUint32(I.IDN_NSZE, blocks, true);
  data.setUint32(I.IDN_NCAP, blocks, true);
  data.setUint8(I.IDN_NMIC, nmic);
  d.mem.fill(buf, new Uint8Array(data.buffer));
  return d.admin({ opcode: O.ADMIN_NS_MANAGEMENT, prp1: buf, cdw10: 0 });
}

/** Arms the Namespace Attribute notice with one parked Asynchronous Event Request. */
async function arm(d: HostDriver): Promise<void> {
  expect((await d.admin({ opcode: O.ADMIN_SET_FEATURES, cdw10: F.FID_ASYNC_EVENT_CONFIG, cdw11: F.AEC_NS_ATTR })).status).toBe(0);
  d.submit(0, { opcode: O.ADMIN_ASYNC_EVENT_REQUEST });
}

/** The notices each driver got since (after a few ticks). */
async function notices(...ds: HostDriver[]): Promise<number[]> {
  for (let i = 0; i < 5; i++) {
    for (const d of ds) d.ctrl.tick();
    await new Promise((r) => setTimeout(r, 0));
  }
  return ds.map((d) => d.reap(0).filter((c) => c.dw0 === NOTICE_DW0).length);
}

describe("two controllers in one NVM subsystem", () => {
  it("identify as controllers 1 and 2 of one subsystem (CMIC), with the same NQN, serial and shared namespace identifiers", async () => {
    const [a, b] = await pair();
    const [ca, cb] = [await identifyData(a, I.CNS_CONTROLLER), await identifyData(b, I.CNS_CONTROLLER)];
    expect([ca.getUint16(I.IDC_CNTLID, true), cb.getUint16(I.IDC_CNTLID, true)]).toEqual([1, 2]);
    expect([a.ctrl.controllerId, b.ctrl.controllerId]).toEqual([1, 2]);
    expect([ca.getUint8(I.IDC_CMIC), cb.getUint8(I.IDC_CMIC)]).toEqual([I.CMIC_MULTI_CONTROLLER, I.CMIC_MULTI_CONTROLLER]);
    expect(text(cb, I.IDC_SUBNQN, 256)).toBe("nqn.2024-01.io.github.v86-nvme:SUBSYS1");
    expect(text(cb, I.IDC_SUBNQN, 256)).toBe(text(ca, I.IDC_SUBNQN, 256));
    expect([text(cb, I.IDC_SN, 20), text(cb, I.IDC_MN, 40)]).toEqual([text(ca, I.IDC_SN, 20), text(ca, I.IDC_MN, 40)]);
    const [na, nb] = [await identifyData(a, I.CNS_NAMESPACE, 1), await identifyData(b, I.CNS_NAMESPACE, 1)];
    expect([na.getUint8(I.IDN_NMIC), nb.getUint8(I.IDN_NMIC)]).toEqual([I.NMIC_SHARED, I.NMIC_SHARED]);
    expect(same(new Uint8Array(na.buffer), new Uint8Array(nb.buffer))).toBe(true); // NGUID, EUI64 and all
    const [da, db] = [await identifyData(a, I.CNS_NS_DESCRIPTORS, 1), await identifyData(b, I.CNS_NS_DESCRIPTORS, 1)];
    expect(same(new Uint8Array(da.buffer), new Uint8Array(db.buffer))).toBe(true); // the UUID too
    expect(await controllerList(b, I.CNS_CONTROLLER_LIST)).toEqual([1, 2]);
    expect(await controllerList(a, I.CNS_CONTROLLER_LIST, 0, 2)).toEqual([2]);
    expect(await controllerList(a, I.CNS_NS_CONTROLLER_LIST, 1)).toEqual([1, 2]);
  });

  it("answer the second controller's Identify Controller once the first has I/O queues (Linux names the disks after the first)", async () => {
    const a = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(MiB) }] }, 16 << 20);
    const b = new HostDriver(16 << 20);
    b.ctrl = await NvmeController.create({ sharedWith: a.ctrl }, b.mem, b.host);
    a.enable();
    b.enable();
    const buf = b.mem.alloc(4096, 4096);
    const cid = b.submit(0, { opcode: O.ADMIN_IDENTIFY, prp1: buf, cdw10: I.CNS_CONTROLLER });
    const settle = async () => {
      for (let i = 0; i < 4; i++) await new Promise((r) => setTimeout(r, 10));
      b.ctrl.tick();
      return b.reap(0);
    };
    expect(await settle()).toEqual([]); // the first's host has not set it up yet
    expect((await identifyData(b, I.CNS_NAMESPACE, 1)).getUint8(I.IDN_NMIC)).toBe(I.NMIC_SHARED); // other Identify data is not held
    a.disable();
    await a.bringUp();
    const done = await settle();
    expect(done.map((c) => [c.cid, c.status])).toEqual([[cid, 0]]);
    expect(new DataView(b.mem.bytes(buf, 4096).buffer).getUint16(I.IDC_CNTLID, true)).toBe(2);
  });

  it("take the boot firmware's polled I/O queues on the first controller as set up for the firmware, not for the OS after it (SeaBIOS leaves them to Linux)", async () => {
    const a = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(MiB) }] }, 16 << 20);
    const b = new HostDriver(16 << 20);
    b.ctrl = await NvmeController.create({ sharedWith: a.ctrl }, b.mem, b.host);
    const settle = async () => {
      for (let i = 0; i < 4; i++) await new Promise((r) => setTimeout(r, 10));
      b.ctrl.tick();
      return b.reap(0);
    };
    // The firmware: both controllers, polled I/O queues (IEN clear), no wait.
    a.enable();
    expect((await a.createCq(1, 16, false)).status).toBe(0);
    expect((await a.createSq(1, 16, 1)).status).toBe(0);
    b.enable();
    expect((await b.identify(1))[1].status).toBe(0);
    // The OS resets the second controller before the first: its Identify Controller waits.
    b.disable();
    b.enable();
    const cid = b.submit(0, { opcode: O.ADMIN_IDENTIFY, prp1: b.mem.alloc(4096, 4096), cdw10: I.CNS_CONTROLLER });
    expect(await settle()).toEqual([]);
    a.disable();
    await a.bringUp(); // the OS's queues interrupt
    expect((await settle()).map((c) => [c.cid, c.status])).toEqual([[cid, 0]]);
  });

  it("answer it after 10 s, with a warning, when no host sets the first controller up", async () => {
    const a = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(MiB) }] }, 16 << 20);
    const b = new HostDriver(16 << 20);
    b.ctrl = await NvmeController.create({ sharedWith: a.ctrl }, b.mem, b.host);
    b.enable();
    vi.useFakeTimers({ toFake: ["setTimeout", "performance"] });
    try {
      const cid = b.submit(0, { opcode: O.ADMIN_IDENTIFY, prp1: b.mem.alloc(4096, 4096), cdw10: I.CNS_CONTROLLER });
      await vi.advanceTimersByTimeAsync(9_900);
      b.ctrl.tick();
      expect(b.reap(0)).toEqual([]);
      await vi.advanceTimersByTimeAsync(200);
      b.ctrl.tick();
      expect(b.reap(0).map((c) => [c.cid, c.status])).toEqual([[cid, 0]]);
      expect(b.host.logs.some((l) => /^warn: .*Identify Controller answered after 10000 ms/.test(l))).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it("read through one what was written through the other", async () => {
    const [a, b] = await pair();
    const data = pattern(8 * 512, 7);
    expect((await a.write(1, 1, 16, data)).status).toBe(0);
    const [c, back] = await b.read(1, 1, 16, 8);
    expect([c.status, same(back, data)]).toEqual([0, true]);
  });

  it("attach a created namespace to the controllers a list names, telling each whose namespaces changed", async () => {
    const [a, b] = await pair();
    await arm(a);
    await arm(b);
    expect((await create(a, 64, I.NMIC_SHARED | 2)).status).toBe(S.INVALID_FIELD);
    const made = await create(a, 64, I.NMIC_SHARED);
    expect(made.status).toBe(0);
    const nsid = made.dw0;
    expect((await attach(b, nsid, true, [3])).status).toBe(cs(S.SC_CONTROLLER_LIST_INVALID));
    expect((await attach(b, nsid, true, [2, 2])).status).toBe(cs(S.SC_CONTROLLER_LIST_INVALID));
    expect((await attach(a, nsid, true, [2])).status).toBe(0); // sent through 1, for 2 only
    expect(await notices(a, b)).toEqual([0, 1]);
    expect([await activeList(a), await activeList(b)]).toEqual([[1], [1, nsid]]);
    expect(await controllerList(a, I.CNS_NS_CONTROLLER_LIST, nsid)).toEqual([2]);
    expect((await attach(a, nsid, true, [1, 2])).status).toBe(cs(S.SC_NS_ALREADY_ATTACHED));
    expect((await attach(a, nsid, false, [1, 2])).status).toBe(cs(S.SC_NS_NOT_ATTACHED));
    expect((await a.read(1, nsid, 0, 1))[0].status).toBe(S.INVALID_FIELD);
    expect((await b.read(1, nsid, 0, 1))[0].status).toBe(0);
    expect((await attach(b, nsid, true, [1])).status).toBe(0);
    expect(await notices(a, b)).toEqual([1, 0]);
    expect(await controllerList(b, I.CNS_NS_CONTROLLER_LIST, nsid)).toEqual([1, 2]);
    // Deleted through 2: gone from both, and 1 (its log read, the notice re-armed) is told too.
    await a.admin({ opcode: O.ADMIN_GET_LOG_PAGE, nsid: 0xffffffff, prp1: a.mem.alloc(4096, 4096), cdw10: LOG.LID_CHANGED_NS_LIST | (1023 << 16) });
    a.submit(0, { opcode: O.ADMIN_ASYNC_EVENT_REQUEST });
    expect((await b.admin({ opcode: O.ADMIN_NS_MANAGEMENT, nsid, cdw10: 1 })).status).toBe(0);
    expect((await notices(a))[0]).toBe(1);
    expect([await activeList(a), await activeList(b)]).toEqual([[1], [1]]);
    expect(a.ctrl.namespaces().map((n) => n.nsid)).toEqual([1]);
  });

  it("tell the other controller when a namespace is formatted through one: it lists the namespace and rescans", async () => {
    const [a, b] = await pair();
    await arm(a);
    await arm(b);
    expect((await a.admin({ opcode: O.ADMIN_FORMAT_NVM, nsid: 1, cdw10: 1 })).status).toBe(0); // LBA format 1: 4096-byte blocks
    expect(await notices(a, b)).toEqual([0, 1]);
    expect((await identifyData(b, I.CNS_NAMESPACE, 1)).getUint8(I.IDN_FLBAS) & 0xf).toBe(1);
    const log = b.mem.alloc(4096, 4096);
    expect((await b.admin({ opcode: O.ADMIN_GET_LOG_PAGE, nsid: 0xffffffff, prp1: log, cdw10: LOG.LID_CHANGED_NS_LIST | (1023 << 16) })).status).toBe(0);
    expect(new DataView(b.mem.bytes(log, 8).buffer).getUint32(0, true)).toBe(1);
  });

  it("share a sanitize: the other controller refuses I/O while it runs and reports it in its log", async () => {
    const slow = new DeferredBackend(MiB);
    const a = await HostDriver.create({ namespaces: [{ backend: slow }] }, 16 << 20);
    const b = new HostDriver(16 << 20);
    b.ctrl = await NvmeController.create({ sharedWith: a.ctrl }, b.mem, b.host);
    await a.bringUp();
    await b.bringUp();
    const sanitizeLog = async () => {
      const v = await identifyLog(b, LOG.LID_SANITIZE_STATUS);
      return { sprog: v.getUint16(LOG.SAN_SPROG, true), sstat: v.getUint16(LOG.SAN_SSTAT, true) & 7 };
    };
    expect((await a.admin({ opcode: O.ADMIN_SANITIZE, cdw10: 2 })).status).toBe(0); // block erase, through 1
    expect((await sanitizeLog()).sstat).toBe(LOG.SSTAT_IN_PROGRESS);
    expect((await b.read(1, 1, 0, 1))[0].status).toBe(S.SANITIZE_IN_PROGRESS);
    for (let i = 0; i < 80 && (await sanitizeLog()).sprog !== 0xffff; i++) await slow.release();
    expect(await sanitizeLog()).toEqual({ sprog: 0xffff, sstat: LOG.SSTAT_DONE });
  });

  it("share the host's addNamespace and removeNamespace, each controller told", async () => {
    const [a, b] = await pair();
    await arm(a);
    await arm(b);
    const nsid = b.ctrl.addNamespace({ backend: new MemoryBackend(MiB) });
    expect(nsid).toBe(2);
    expect(await notices(a, b)).toEqual([1, 1]);
    expect(a.ctrl.namespaces().map((n) => [n.nsid, n.attached])).toEqual([[1, true], [2, true]]);
    expect((await a.write(1, 2, 0, pattern(512, 2))).status).toBe(0);
    await a.ctrl.removeNamespace(2);
    expect([await activeList(a), await activeList(b)]).toEqual([[1], [1]]);
  });

  it("keep one's queues and the namespaces' data when the other is reset or powered off", async () => {
    const [a, b] = await pair();
    const data = pattern(4 * 512, 9);
    expect((await b.write(1, 1, 0, data)).status).toBe(0);
    a.disable();
    a.ctrl.reset();
    const [c, back] = await b.read(1, 1, 0, 4);
    expect([c.status, same(back, data)]).toEqual([0, true]);
    await a.bringUp();
    expect(same((await a.read(1, 1, 0, 4))[1], data)).toBe(true);
  });

  it("save and restore both controllers; a snapshot fits only the controller it was taken of", async () => {
    const [a, b] = await pair();
    const nsid = (await create(a, 64, I.NMIC_SHARED)).dw0;
    expect((await attach(a, nsid, true, [2])).status).toBe(0);
    const [sa, sb] = [structuredClone(a.ctrl.saveState()), structuredClone(b.ctrl.saveState())];
    expect([sa.namespaces?.cntlid, sb.namespaces?.cntlid, sb.namespaces?.controllers]).toEqual([1, 2, 2]);
    expect((await attach(a, nsid, false, [2])).status).toBe(0);
    a.ctrl.restoreState(sa);
    b.ctrl.restoreState(sb);
    expect(b.ctrl.namespaces().map((n) => [n.nsid, n.attached])).toEqual([[1, true], [nsid, true]]);
    expect(a.ctrl.namespaces().map((n) => [n.nsid, n.attached])).toEqual([[1, true], [nsid, false]]);
    expect((await b.read(1, nsid, 0, 1))[0].status).toBe(0);
    expect(() => a.ctrl.restoreState(sb)).toThrow(/snapshot is of controller 2 of 2 in its subsystem, this is controller 1 of 2/);
    for (const [cntlid, controllers] of [[1, 1], ["2", 2], [2, null]] as const) {
      expect(() => b.ctrl.restoreState({ ...sb, namespaces: { ...sb.namespaces!, cntlid, controllers } as never })).toThrow(/snapshot refused/);
    }
    const single = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(MiB) }] });
    expect(() => single.ctrl.restoreState(sa)).toThrow(/controller 1 of 2 .* this is controller 1 of 1/);
  });

  it("refuses options the subsystem decides, and a sharedWith that is no controller", async () => {
    const [a] = await pair();
    const d = new HostDriver();
    for (const k of ["serial", "nn", "namespaces"]) {
      await expect(NvmeController.create({ sharedWith: a.ctrl, [k]: k === "serial" ? "X" : k === "nn" ? 4 : [] } as never, d.mem, d.host)).rejects.toThrow(new RegExp(`${k} comes from the controller it shares with`));
    }
    await expect(NvmeController.create({ sharedWith: {} } as never, d.mem, d.host)).rejects.toThrow(/sharedWith must be an NvmeController/);
  });
});
