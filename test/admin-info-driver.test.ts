// Identify, features, log pages and asynchronous events end to end: the software host driver
// talks to a whole controller through registers, doorbells and queues in guest memory.

import { describe, expect, it } from "vitest";
import { HostDriver, type Cqe } from "./driver/host-driver.ts";
import { DeferredBackend } from "./driver/deferred-backend.ts";
import { MemoryBackend } from "../src/backends/memory.ts";
import type { NvmeOptions } from "../src/state/options.ts";
import * as O from "../src/spec/opcodes.ts";
import * as I from "../src/spec/identify.ts";
import * as F from "../src/spec/features.ts";
import * as LOG from "../src/spec/logs.ts";
import * as S from "../src/spec/status.ts";
import { deviceOf } from "../src/controller/controller.ts";

const INVALID_FIELD = S.SCT_GENERIC | S.SC_INVALID_FIELD | S.STATUS_DNR;

function options(o: Partial<NvmeOptions> = {}): NvmeOptions {
  return {
    serial: "E2E0001",
    namespaces: [
      { backend: new MemoryBackend(1 << 20) },
      { backend: new MemoryBackend(2 << 20), logicalBlockSize: 4096 },
    ],
    ...o,
  };
}

async function up(o: Partial<NvmeOptions> = {}): Promise<HostDriver> {
  const d = await HostDriver.create(options(o));
  await d.bringUp({ pairs: 1 });
  return d;
}

async function getLog(d: HostDriver, lid: number, bytes: number, extra: { nsid?: number; rae?: boolean } = {}): Promise<[Cqe, Uint8Array]> {
  const buf = d.mem.alloc(bytes + 4096);
  const numd = bytes / 4 - 1;
  const c = await d.admin({ opcode: O.ADMIN_GET_LOG_PAGE, nsid: extra.nsid ?? 0xffffffff, prp1: buf, prp2: bytes > 4096 ? buf + 4096 : 0, cdw10: lid | (extra.rae ? LOG.CDW10_RAE : 0) | ((numd & 0xffff) << 16), cdw11: numd >>> 16 });
  return [c, d.mem.bytes(buf, bytes)];
}

function getFeature(d: HostDriver, fid: number, cdw11 = 0, sel = 0): Promise<Cqe> {
  return d.admin({ opcode: O.ADMIN_GET_FEATURES, cdw10: fid | (sel << 8), cdw11 });
}

function setFeature(d: HostDriver, fid: number, cdw11: number, prp1 = 0): Promise<Cqe> {
  return d.admin({ opcode: O.ADMIN_SET_FEATURES, cdw10: fid, cdw11, prp1 });
}

const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** A doorbell write for a queue that does not exist (SQ 9 tail). */
function badDoorbell(d: HostDriver): void {
  d.setReg(0x1000 + 9 * 2 * 4, 1);
}

describe("admin information end to end", () => {
  it("identifies controller, namespace list, namespaces and their identifiers", async () => {
    const d = await up();
    const [ctrl, c1] = await d.identify(I.CNS_CONTROLLER);
    expect(c1.status).toBe(0);
    expect(dv(ctrl).getUint32(I.IDC_NN, true)).toBe(32);
    expect(String.fromCharCode(...ctrl.subarray(I.IDC_SN, I.IDC_SN + 20))).toBe("E2E0001".padEnd(20));
    const [list] = await d.identify(I.CNS_ACTIVE_NS_LIST, 0);
    expect([0, 1, 2].map((i) => dv(list).getUint32(i * 4, true))).toEqual([1, 2, 0]);
    const [ns2, c2] = await d.identify(I.CNS_NAMESPACE, 2);
    expect(c2.status).toBe(0);
    expect(dv(ns2).getUint32(I.IDN_NSZE, true)).toBe(512);
    const flbas = ns2[I.IDN_FLBAS] & I.FLBAS_FORMAT_MASK; // the format in use
    expect((dv(ns2).getUint32(I.IDN_LBAF0 + flbas * I.LBAF_SIZE, true) >>> 16) & 0xff).toBe(12);
    const [desc, c3] = await d.identify(I.CNS_NS_DESCRIPTORS, 1);
    expect(c3.status).toBe(0);
    expect([desc[0], desc[1], desc[12], desc[13], desc[32], desc[33]]).toEqual([1, 8, 2, 16, 3, 16]);
    const [, bad] = await d.identify(I.CNS_NAMESPACE, 33);
    expect(bad.status).toBe(S.SCT_GENERIC | S.SC_INVALID_NAMESPACE | S.STATUS_DNR);
  });

  it("records failed commands in the error log and counts them in SMART", async () => {
    const d = await up();
    const [, failed] = await d.identify(0x14);
    expect(failed.status).toBe(INVALID_FIELD);
    const [c, log] = await getLog(d, LOG.LID_ERROR_INFO, 4096);
    expect(c.status).toBe(0);
    expect(dv(log).getUint32(LOG.ERR_COUNT, true)).toBeGreaterThanOrEqual(1);
    expect(dv(log).getUint16(LOG.ERR_CID, true)).toBe(failed.cid);
    expect(dv(log).getUint16(LOG.ERR_SQID, true)).toBe(0);
    expect(dv(log).getUint16(LOG.ERR_STATUS, true) >>> 1).toBe(INVALID_FIELD);
    const [, smart] = await getLog(d, LOG.LID_SMART, 512);
    expect(dv(smart).getUint32(LOG.SMART_ERROR_ENTRIES, true)).toBe(dv(log).getUint32(LOG.ERR_COUNT, true));
  });

  it("counts host reads and writes in the SMART log", async () => {
    const d = await up();
    await d.write(1, 1, 0, new Uint8Array(4096));
    await d.read(1, 1, 0, 8);
    await d.read(1, 1, 0, 1);
    const [c, smart] = await getLog(d, LOG.LID_SMART, 512, { nsid: 1 });
    expect(c.status).toBe(0);
    const v = dv(smart);
    expect(v.getUint32(LOG.SMART_HOST_WRITES, true)).toBe(1);
    expect(v.getUint32(LOG.SMART_HOST_READS, true)).toBe(2);
    expect(v.getUint32(LOG.SMART_DATA_UNITS_READ, true)).toBe(1);
    expect(v.getUint32(LOG.SMART_DATA_UNITS_WRITTEN, true)).toBe(1);
    expect(v.getUint16(LOG.SMART_COMPOSITE_TEMP, true)).toBe(308);
  });

  it("answers Number of Queues, the effects log and the firmware log", async () => {
    const d = await up({ maxIoQueuePairs: 4 });
    expect((await getFeature(d, F.FID_NUMBER_OF_QUEUES)).dw0).toBe(0); // bringUp asked for 1 pair
    expect((await d.setNumQueues(2)).status).toBe(S.SCT_GENERIC | S.SC_COMMAND_SEQUENCE_ERROR | S.STATUS_DNR);
    const [c, eff] = await getLog(d, LOG.LID_CMD_EFFECTS, 4096, { nsid: 0 });
    expect(c.status).toBe(0);
    expect(dv(eff).getUint32(O.ADMIN_DOORBELL_BUFFER_CONFIG * 4, true) & LOG.EFF_CSUPP).toBe(1);
    expect(dv(eff).getUint32(1024 + O.IO_WRITE * 4, true)).toBe(LOG.EFF_CSUPP | LOG.EFF_LBCC);
    const [c2, fw] = await getLog(d, LOG.LID_FW_SLOT, 512);
    expect(c2.status).toBe(0);
    expect(fw[LOG.FW_AFI]).toBe(1);
    expect((await getLog(d, 0x42, 512))[0].status).toBe(S.SCT_COMMAND_SPECIFIC | S.SC_INVALID_LOG_PAGE | S.STATUS_DNR);
  });

  it("sets and reads back the timestamp through PRPs", async () => {
    const d = await up();
    const buf = d.mem.alloc(4096);
    const now = Date.UTC(2026, 0, 1);
    d.mem.write64(buf, now);
    expect((await setFeature(d, F.FID_TIMESTAMP, 0, buf)).status).toBe(0);
    const out = d.mem.alloc(4096);
    const c = await d.admin({ opcode: O.ADMIN_GET_FEATURES, cdw10: F.FID_TIMESTAMP, prp1: out });
    expect(c.status).toBe(0);
    const ms = d.mem.read32(out) + (d.mem.read32(out + 4) & 0xffff) * 2 ** 32;
    expect(ms - now).toBeGreaterThanOrEqual(0);
    expect(ms - now).toBeLessThan(5000);
    expect((d.mem.read32(out + 4) >>> 16) & 0xff).toBe(F.TS_ORIGIN_HOST << 1);
  });

  it("programs interrupt coalescing into the hot path and resets it with the controller", async () => {
    const d = await up();
    expect((await setFeature(d, F.FID_INTERRUPT_COALESCING, 0x0203)).status).toBe(0);
    expect(deviceOf(d.ctrl).hotPath.coalescing).toEqual({ threshold: 3, time: 2 });
    expect((await getFeature(d, F.FID_INTERRUPT_COALESCING)).dw0).toBe(0x0203);
    d.disable();
    d.enable();
    expect((await getFeature(d, F.FID_INTERRUPT_COALESCING)).dw0).toBe(0);
    expect(deviceOf(d.ctrl).hotPath.coalescing).toEqual({ threshold: 0, time: 0 });
  });

  it("reports an invalid doorbell write through a parked AER, once until the error log is read", async () => {
    const d = await up();
    const cidA = d.submit(0, { opcode: O.ADMIN_ASYNC_EVENT_REQUEST });
    const cidB = d.submit(0, { opcode: O.ADMIN_ASYNC_EVENT_REQUEST });
    expect(d.reap(0)).toEqual([]);
    badDoorbell(d);
    const first = d.reap(0);
    expect(first.map((c) => [c.cid, c.status, c.dw0])).toEqual([[cidA, 0, (LOG.AE_ERR_INVALID_DB_REGISTER << 8) | (LOG.LID_ERROR_INFO << 16)]]);
    badDoorbell(d); // same type: masked until the log is read
    expect(d.reap(0)).toEqual([]);
    const buf = d.mem.alloc(4096);
    d.submit(0, { opcode: O.ADMIN_GET_LOG_PAGE, prp1: buf, cdw10: LOG.LID_ERROR_INFO | (15 << 16) });
    for (let i = 0; i < 5; i++) d.ctrl.tick();
    const after = d.reap(0);
    expect(after.map((c) => c.status)).toEqual([0, 0]);
    expect(after.find((c) => c.cid === cidB)?.dw0).toBe((LOG.AE_ERR_INVALID_DB_REGISTER << 8) | (LOG.LID_ERROR_INFO << 16));
  });

  it("raises the SMART temperature event when a threshold is set below the temperature", async () => {
    const d = await up();
    const aer = d.submit(0, { opcode: O.ADMIN_ASYNC_EVENT_REQUEST });
    const set = d.submit(0, { opcode: O.ADMIN_SET_FEATURES, cdw10: F.FID_TEMPERATURE_THRESHOLD, cdw11: 300 });
    const smartEvent = LOG.AE_TYPE_SMART | (LOG.AE_SMART_TEMPERATURE << 8) | (LOG.LID_SMART << 16);
    expect(d.reap(0).map((c) => [c.cid, c.status, c.dw0])).toEqual([[aer, 0, smartEvent], [set, 0, 0]]);
    const [c, smart] = await getLog(d, LOG.LID_SMART, 512);
    expect(c.status).toBe(0);
    expect(smart[LOG.SMART_CRITICAL_WARNING] & LOG.CW_TEMPERATURE).toBe(LOG.CW_TEMPERATURE);
    expect((await getFeature(d, F.FID_TEMPERATURE_THRESHOLD)).dw0).toBe(300);
  });

  it("follows Linux's AEN setup: namespace notices only, so SMART stays quiet and errors still report", async () => {
    const d = await up();
    const [ctrl] = await d.identify(I.CNS_CONTROLLER);
    const oaes = dv(ctrl).getUint32(I.IDC_OAES, true);
    expect((await setFeature(d, F.FID_ASYNC_EVENT_CONFIG, oaes & F.AEC_NS_ATTR)).status).toBe(0);
    const aer = d.submit(0, { opcode: O.ADMIN_ASYNC_EVENT_REQUEST });
    expect((await setFeature(d, F.FID_TEMPERATURE_THRESHOLD, 300)).status).toBe(0);
    expect(d.reap(0)).toEqual([]);
    badDoorbell(d);
    expect(d.reap(0).map((c) => [c.cid, c.dw0 & 0xff])).toEqual([[aer, LOG.AE_TYPE_ERROR]]);
  });

  it("limits outstanding AERs to four and drops them on reset without completions", async () => {
    const d = await up();
    for (let i = 0; i < 4; i++) d.submit(0, { opcode: O.ADMIN_ASYNC_EVENT_REQUEST });
    const fifth = await d.admin({ opcode: O.ADMIN_ASYNC_EVENT_REQUEST });
    expect(fifth.status).toBe(S.SCT_COMMAND_SPECIFIC | S.SC_AER_LIMIT_EXCEEDED);
    expect(d.ctrl.counters.aersOutstanding).toBe(4);
    d.disable();
    expect(d.ctrl.counters.aersOutstanding).toBe(0);
    d.enable();
    badDoorbell(d);
    expect(d.reap(0)).toEqual([]);
  });

  it("flushes the backends when the write cache is turned off, completing when they are done", async () => {
    const disk = new DeferredBackend(1 << 20);
    const d = await HostDriver.create({ namespaces: [{ backend: disk }] });
    await d.bringUp({ pairs: 1 });
    expect((await getFeature(d, F.FID_VOLATILE_WRITE_CACHE)).dw0).toBe(1);
    const data = new Uint8Array(512).fill(0x5a);
    const [p1, , addr] = d.buffer(512);
    d.mem.fill(addr, data);
    d.submit(1, { opcode: O.IO_WRITE, nsid: 1, prp1: p1, cdw10: 0, cdw12: 0 });
    await disk.release();
    expect(d.reap(1).map((c) => c.status)).toEqual([0]);
    const cid = d.submit(0, { opcode: O.ADMIN_SET_FEATURES, cdw10: F.FID_VOLATILE_WRITE_CACHE, cdw11: 0 });
    expect(d.reap(0)).toEqual([]);
    expect(disk.pending).toBe(1);
    await disk.release();
    expect(d.reap(0).map((c) => [c.cid, c.status])).toEqual([[cid, 0]]);
    const durable = new Uint8Array(512);
    disk.durable.tryRead(0, durable);
    expect(durable).toEqual(data);
    expect((await getFeature(d, F.FID_VOLATILE_WRITE_CACHE)).dw0).toBe(0);
  });
});
