// Zoned namespaces (Zoned Namespace Command Set, CSI 02h) through the controller's registers with
// the software host driver: the Identify structures for I/O command sets, the effects log for
// CSI 02h, Zone Management Send and Receive, Zone Append, the write pointer rules and every zone
// status, reads across zone boundaries, open and active limits, controller reset, snapshots,
// format, and zoned namespaces the guest creates with Namespace Management.

import { describe, expect, it } from "vitest";
import { HostDriver, pattern, same, type Cqe } from "./driver/host-driver.ts";
import { MemoryBackend } from "../src/backends/memory.ts";
import { deviceOf } from "../src/controller/controller.ts";
import * as O from "../src/spec/opcodes.ts";
import * as I from "../src/spec/identify.ts";
import * as LOG from "../src/spec/logs.ts";
import * as R from "../src/spec/registers.ts";
import * as S from "../src/spec/status.ts";
import * as Z from "../src/spec/zns.ts";
import type { NvmeOptions, ZonedOptions } from "../src/state/options.ts";

const MiB = 1 << 20;
const ZONE = 256; // blocks of 512 bytes: 128 KiB zones
const cs = (code: number) => S.SCT_COMMAND_SPECIFIC | code | S.STATUS_DNR;
const INVALID_FIELD = S.SC_INVALID_FIELD | S.STATUS_DNR;
const INVALID_OPCODE = S.SC_INVALID_OPCODE | S.STATUS_DNR;
const u64 = (dv: DataView, off: number) => dv.getUint32(off, true) + dv.getUint32(off + 4, true) * 2 ** 32;

/** A controller with namespace 1 (NVM) and namespace 2 zoned: 16 zones of ZONE blocks. */
async function up(zoned: Partial<ZonedOptions> = {}, o: Partial<NvmeOptions> = {}): Promise<HostDriver> {
  const d = await HostDriver.create({
    namespaces: [{ backend: new MemoryBackend(MiB) }, { backend: new MemoryBackend(16 * ZONE * 512), zoned: { zoneSizeBlocks: ZONE, ...zoned } }],
    guestCapacity: 8 * MiB,
    ...o,
  }, 16 << 20);
  await d.bringUp();
  return d;
}

const lbaDw = (slba: number) => ({ cdw10: slba % 2 ** 32, cdw11: Math.floor(slba / 2 ** 32) });

function zms(d: HostDriver, slba: number, action: number, all = false, nsid = 2): Promise<Cqe> {
  return d.run(1, { opcode: Z.IO_ZONE_MGMT_SEND, nsid, ...lbaDw(slba), cdw13: action | (all ? Z.ZMS_SELECT_ALL : 0) });
}

interface Zone { state: number; type: number; cap: number; slba: number; wp: number }

/** Report Zones from `slba` into a buffer of `bytes`: the header's count and the descriptors. */
async function report(d: HostDriver, slba = 0, o: { filter?: number; partial?: boolean; bytes?: number; action?: number } = {}): Promise<{ c: Cqe; n: number; zones: Zone[] }> {
  const bytes = o.bytes ?? 4096;
  const [p1, p2, addr] = d.buffer(bytes);
  const c = await d.run(1, {
    opcode: Z.IO_ZONE_MGMT_RECV, nsid: 2, prp1: p1, prp2: p2, ...lbaDw(slba), cdw12: bytes / 4 - 1,
    cdw13: (o.action ?? Z.ZRA_REPORT) | ((o.filter ?? 0) << Z.ZRASF_SHIFT) | (o.partial ? Z.ZMR_PARTIAL : 0),
  });
  const b = d.mem.bytes(addr, bytes);
  const dv = new DataView(b.buffer, b.byteOffset);
  const n = u64(dv, 0);
  const zones: Zone[] = [];
  for (let off = 64; off + 64 <= bytes && zones.length < n; off += 64) {
    zones.push({ type: b[off], state: b[off + 1] >> 4, cap: u64(dv, off + 8), slba: u64(dv, off + 16), wp: u64(dv, off + 24) });
  }
  return { c, n, zones };
}

async function append(d: HostDriver, zslba: number, data: Uint8Array): Promise<Cqe> {
  const [p1, p2, addr] = d.buffer(data.length);
  d.mem.fill(addr, data);
  return d.run(1, { opcode: Z.IO_ZONE_APPEND, nsid: 2, prp1: p1, prp2: p2, ...lbaDw(zslba), cdw12: data.length / 512 - 1 });
}

const zoneOf = async (d: HostDriver, z: number) => (await report(d, z * ZONE, { bytes: 128 })).zones[0];

describe("zoned namespaces: identify", () => {
  it("offers all I/O command sets (CAP.CSS bit 6) and takes CC.CSS 110b", async () => {
    const d = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(MiB) }] });
    expect(d.reg(R.REG_CAP + 4) & R.CAP_HI_CSS_IOCS).toBe(R.CAP_HI_CSS_IOCS);
    d.setReg(R.REG_CC, R.CC_CSS_IOCS << R.CC_CSS_SHIFT);
    d.enable();
    expect(d.reg(R.REG_CSTS) & R.CSTS_RDY).toBe(R.CSTS_RDY);
  });

  it("describes the command sets (CNS 1Ch), each namespace's (CNS 03h CSI descriptor, 05h, 06h, 07h)", async () => {
    const d = await up({ zoneCapacityBlocks: 200, maxOpen: 3, maxActive: 5 });
    const [sets] = await d.identify(Z.CNS_IO_COMMAND_SETS);
    expect(new DataView(sets.buffer, sets.byteOffset).getUint32(0, true)).toBe(0b101);
    expect(sets.subarray(8).every((b) => b === 0)).toBe(true);

    const descriptor = async (nsid: number) => {
      const [b] = await d.identify(I.CNS_NS_DESCRIPTORS, nsid);
      for (let off = 0; b[off + 1]; off += 4 + b[off + 1]) if (b[off] === I.NIDT_CSI) return [b[off + 1], b[off + 4]];
    };
    expect(await descriptor(1)).toEqual([1, I.CSI_NVM]);
    expect(await descriptor(2)).toEqual([1, Z.CSI_ZNS]);

    const csiIdentify = async (cns: number, nsid: number, csi: number) => {
      const buf = d.mem.alloc(4096, 4096);
      const c = await d.admin({ opcode: O.ADMIN_IDENTIFY, nsid, prp1: buf, cdw10: cns, cdw11: csi << 24 });
      return [c.status, d.mem.bytes(buf, 4096)] as const;
    };
    const [s, zn] = await csiIdentify(Z.CNS_CSI_NAMESPACE, 2, Z.CSI_ZNS);
    expect(s).toBe(0);
    const dv = new DataView(zn.buffer, zn.byteOffset);
    expect([dv.getUint16(Z.IDZN_ZOC, true), dv.getUint16(Z.IDZN_OZCS, true), dv.getUint32(Z.IDZN_MAR, true), dv.getUint32(Z.IDZN_MOR, true)]).toEqual([0, 0, 4, 2]);
    // Zone size per LBA format: 256 blocks of 512 bytes, 32 of 4096.
    expect([u64(dv, Z.IDZN_LBAFE), u64(dv, Z.IDZN_LBAFE + Z.LBAFE_SIZE)]).toEqual([ZONE, ZONE / 8]);
    expect((await csiIdentify(Z.CNS_CSI_NAMESPACE, 1, Z.CSI_ZNS))[0]).toBe(cs(Z.SC_INVALID_IOCS));
    expect((await csiIdentify(Z.CNS_CSI_NAMESPACE, 1, I.CSI_NVM))[0]).toBe(0);
    expect((await csiIdentify(Z.CNS_CSI_NAMESPACE, 2, 5))[0]).toBe(INVALID_FIELD);
    expect((await csiIdentify(Z.CNS_CSI_NAMESPACE, 99, Z.CSI_ZNS))[0]).toBe(S.SC_INVALID_NAMESPACE | S.STATUS_DNR);
    const [sc, zc] = await csiIdentify(I.CNS_CSI_CONTROLLER, 0, Z.CSI_ZNS);
    expect([sc, zc[Z.IDZC_ZASL]]).toEqual([0, 0]); // Zone Append up to MDTS
    const list = async (csi: number) => {
      const [st, b] = await csiIdentify(Z.CNS_CSI_ACTIVE_NS_LIST, 0, csi);
      expect(st).toBe(0);
      const v = new DataView(b.buffer, b.byteOffset);
      return [v.getUint32(0, true), v.getUint32(4, true)];
    };
    expect(await list(Z.CSI_ZNS)).toEqual([2, 0]);
    expect(await list(I.CSI_NVM)).toEqual([1, 0]);
    // Identify Namespace (CNS 00h) of the zoned namespace: its size, as for any namespace.
    const [ns] = await d.identify(I.CNS_NAMESPACE, 2);
    expect(u64(new DataView(ns.buffer, ns.byteOffset), I.IDN_NSZE)).toBe(16 * ZONE);
  });

  it("lists the zone commands in the effects log for CSI 02h only, and refuses them on an NVM namespace", async () => {
    const d = await up();
    const effects = async (csi: number) => {
      const buf = d.mem.alloc(4096, 4096);
      const c = await d.admin({ opcode: O.ADMIN_GET_LOG_PAGE, prp1: buf, cdw10: LOG.LID_CMD_EFFECTS | (1023 << 16), cdw14: csi << 24 });
      const dv = new DataView(d.mem.bytes(buf, 4096).buffer);
      return [c.status, ...[Z.IO_ZONE_APPEND, Z.IO_ZONE_MGMT_SEND, Z.IO_ZONE_MGMT_RECV, O.IO_WRITE, O.IO_COPY].map((op) => dv.getUint32(LOG.EFFECTS_IOCS + op * 4, true) & 1)];
    };
    expect(await effects(Z.CSI_ZNS)).toEqual([0, 1, 1, 1, 1, 0]);
    expect(await effects(I.CSI_NVM)).toEqual([0, 0, 0, 0, 1, 1]);
    expect((await zms(d, 0, Z.ZSA_OPEN, false, 1)).status).toBe(INVALID_OPCODE);
    // Copy is no command of a zoned namespace.
    expect((await d.run(1, { opcode: O.IO_COPY, nsid: 2 })).status).toBe(INVALID_OPCODE);
    // The I/O Command Set Profile: index 0 only.
    expect((await d.admin({ opcode: O.ADMIN_GET_FEATURES, cdw10: Z.FID_IO_COMMAND_SET_PROFILE })).dw0).toBe(0);
    expect((await d.admin({ opcode: O.ADMIN_SET_FEATURES, cdw10: Z.FID_IO_COMMAND_SET_PROFILE, cdw11: 1 })).status).toBe(S.COMMAND_SEQUENCE_ERROR);
  });
});

describe("zoned namespaces: writes, appends and the write pointer", () => {
  it("writes sequentially at the write pointer, opens implicitly, fills to Full, and refuses what breaks the rules", async () => {
    const d = await up({ zoneCapacityBlocks: 16 });
    const data = pattern(8 * 512, 1);
    expect((await d.write(1, 2, 0, data)).status).toBe(0);
    expect(await zoneOf(d, 0)).toEqual({ type: Z.ZONE_TYPE_SEQ_WRITE_REQUIRED, state: Z.ZS_IMPLICITLY_OPENED, cap: 16, slba: 0, wp: 8 });
    expect((await d.write(1, 2, 4, pattern(512, 2))).status).toBe(cs(Z.SC_ZONE_INVALID_WRITE));
    expect((await d.write(1, 2, 12, pattern(512, 2))).status).toBe(cs(Z.SC_ZONE_INVALID_WRITE));
    // Past the zone's capacity (16 of 256 blocks writable).
    expect((await d.write(1, 2, 8, pattern(9 * 512, 3))).status).toBe(cs(Z.SC_ZONE_BOUNDARY_ERROR));
    expect((await d.write(1, 2, 8, pattern(8 * 512, 3))).status).toBe(0);
    expect((await zoneOf(d, 0)).state).toBe(Z.ZS_FULL);
    // Past MDTS (512 KiB; ZASL 0) an append is refused like a write, and the zone stays as it was.
    const big = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(4 * MiB), zoned: { zoneSizeBlocks: 4096 } }] }, 16 << 20);
    await big.bringUp();
    const [p1, p2, addr] = big.buffer(1536 * 512);
    big.mem.fill(addr, pattern(1536 * 512, 9));
    expect((await big.run(1, { opcode: Z.IO_ZONE_APPEND, nsid: 1, prp1: p1, prp2: p2, cdw12: 1535 })).status).toBe(INVALID_FIELD);
    expect(deviceOf(big.ctrl).nsTable.entry(1)!.ns.zones!.wp(0)).toBe(0);
    expect((await d.write(1, 2, 16, pattern(512, 4))).status).toBe(cs(Z.SC_ZONE_IS_FULL));
    const [r, back] = await d.read(1, 2, 0, 8);
    expect([r.status, same(back, data)]).toEqual([0, true]);
    // Write Zeroes follows the same rules.
    expect((await d.run(1, { opcode: O.IO_WRITE_ZEROES, nsid: 2, ...lbaDw(ZONE), cdw12: 3 })).status).toBe(0);
    expect((await zoneOf(d, 1)).wp).toBe(ZONE + 4);
    expect((await d.run(1, { opcode: O.IO_WRITE_ZEROES, nsid: 2, ...lbaDw(ZONE), cdw12: 0 })).status).toBe(cs(Z.SC_ZONE_INVALID_WRITE));
    expect((await d.write(1, 2, 16 * ZONE, pattern(512, 4))).status).toBe(S.LBA_OUT_OF_RANGE);
  });

  it("appends at the write pointer and says where in DW0/DW1, from the zone's start LBA only", async () => {
    const d = await up();
    const a = await append(d, ZONE * 3, pattern(2 * 512, 5));
    expect([a.status, a.dw0, a.dw1]).toEqual([0, ZONE * 3, 0]);
    const b = await append(d, ZONE * 3, pattern(3 * 512, 6));
    expect([b.status, b.dw0]).toEqual([0, ZONE * 3 + 2]);
    expect((await zoneOf(d, 3)).wp).toBe(ZONE * 3 + 5);
    const [r, back] = await d.read(1, 2, ZONE * 3 + 2, 3);
    expect([r.status, same(back, pattern(3 * 512, 6))]).toEqual([0, true]);
    expect((await append(d, ZONE * 3 + 1, pattern(512, 7))).status).toBe(INVALID_FIELD);
    expect((await append(d, ZONE * 3, pattern((ZONE - 4) * 512, 7))).status).toBe(cs(Z.SC_ZONE_BOUNDARY_ERROR));
    // A whole zone in one append fills it.
    expect((await append(d, 0, pattern(ZONE * 512, 8))).status).toBe(0);
    expect((await zoneOf(d, 0)).state).toBe(Z.ZS_FULL);
  });

  it("limits open and active zones: Too Many Open Zones, Too Many Active Zones", async () => {
    const d = await up({ maxOpen: 2, maxActive: 3 });
    expect((await d.write(1, 2, 0, pattern(512, 1))).status).toBe(0);
    expect((await d.write(1, 2, ZONE, pattern(512, 1))).status).toBe(0);
    expect((await d.write(1, 2, 2 * ZONE, pattern(512, 1))).status).toBe(cs(Z.SC_TOO_MANY_OPEN_ZONES));
    expect((await zms(d, 0, Z.ZSA_CLOSE)).status).toBe(0);
    expect((await d.write(1, 2, 2 * ZONE, pattern(512, 1))).status).toBe(0);
    // Three active (one closed, two open): a fourth zone may not open, explicitly or by a write.
    expect((await zms(d, 0, Z.ZSA_CLOSE)).status).toBe(0);
    expect((await zms(d, ZONE, Z.ZSA_CLOSE)).status).toBe(0);
    expect((await zms(d, 3 * ZONE, Z.ZSA_OPEN)).status).toBe(cs(Z.SC_TOO_MANY_ACTIVE_ZONES));
    expect((await d.write(1, 2, 3 * ZONE, pattern(512, 1))).status).toBe(cs(Z.SC_TOO_MANY_ACTIVE_ZONES));
    expect((await zms(d, 3 * ZONE, Z.ZSA_FINISH)).status).toBe(cs(Z.SC_TOO_MANY_ACTIVE_ZONES));
    // Closed zones reopen by a write (open resources: 1 of 2 in use).
    expect((await d.write(1, 2, 1, pattern(512, 1))).status).toBe(0);
    // Open all closed zones needs room for all of them.
    expect((await zms(d, 0, Z.ZSA_OPEN, true)).status).toBe(cs(Z.SC_TOO_MANY_OPEN_ZONES));
    expect((await zms(d, 0, Z.ZSA_FINISH)).status).toBe(0);
    expect((await zms(d, 0, Z.ZSA_OPEN, true)).status).toBe(0);
    const r = await report(d);
    expect(r.zones.slice(0, 4).map((z) => z.state)).toEqual([Z.ZS_FULL, Z.ZS_EXPLICITLY_OPENED, Z.ZS_IMPLICITLY_OPENED, Z.ZS_EMPTY]);
  });
});

describe("zoned namespaces: Zone Management Send and Receive", () => {
  it("opens, closes, finishes and resets zones with the spec's transitions, one or all", async () => {
    const d = await up();
    expect((await zms(d, 0, Z.ZSA_OPEN)).status).toBe(0);
    expect((await zoneOf(d, 0)).state).toBe(Z.ZS_EXPLICITLY_OPENED);
    expect((await zms(d, 0, Z.ZSA_OPEN)).status).toBe(0);
    // An open zone nothing was written to closes to empty.
    expect((await zms(d, 0, Z.ZSA_CLOSE)).status).toBe(0);
    expect((await zoneOf(d, 0)).state).toBe(Z.ZS_EMPTY);
    expect((await zms(d, 0, Z.ZSA_CLOSE)).status).toBe(cs(Z.SC_INVALID_ZONE_STATE_TRANSITION));
    await d.write(1, 2, 0, pattern(4 * 512, 9));
    expect((await zms(d, 0, Z.ZSA_CLOSE)).status).toBe(0);
    expect(await zoneOf(d, 0)).toMatchObject({ state: Z.ZS_CLOSED, wp: 4 });
    expect((await zms(d, 0, Z.ZSA_FINISH)).status).toBe(0);
    expect((await zoneOf(d, 0)).state).toBe(Z.ZS_FULL);
    expect((await zms(d, 0, Z.ZSA_OPEN)).status).toBe(cs(Z.SC_INVALID_ZONE_STATE_TRANSITION));
    expect((await zms(d, 0, Z.ZSA_OFFLINE)).status).toBe(cs(Z.SC_INVALID_ZONE_STATE_TRANSITION));
    // Reset: empty, write pointer at the start, the data gone.
    expect((await zms(d, 0, Z.ZSA_RESET)).status).toBe(0);
    expect(await zoneOf(d, 0)).toMatchObject({ state: Z.ZS_EMPTY, wp: 0 });
    const [, zeros] = await d.read(1, 2, 0, 4);
    expect(zeros.every((b) => b === 0)).toBe(true);
    // Not a zone's start LBA, an unknown action, past the namespace.
    expect((await zms(d, 1, Z.ZSA_OPEN)).status).toBe(INVALID_FIELD);
    expect((await zms(d, 0, Z.ZSA_SET_DESCRIPTOR_EXTENSION)).status).toBe(INVALID_FIELD);
    expect((await zms(d, 16 * ZONE, Z.ZSA_OPEN)).status).toBe(S.LBA_OUT_OF_RANGE);
    // Select All: close all open, finish all active, reset all.
    for (const z of [1, 2, 3]) await d.write(1, 2, z * ZONE, pattern(512, z));
    await zms(d, 5 * ZONE, Z.ZSA_OPEN);
    expect((await zms(d, 0, Z.ZSA_CLOSE, true)).status).toBe(0);
    expect((await report(d)).zones.slice(0, 6).map((z) => z.state)).toEqual([1, 4, 4, 4, 1, 1].map((s) => s === 4 ? Z.ZS_CLOSED : Z.ZS_EMPTY));
    expect((await zms(d, 0, Z.ZSA_FINISH, true)).status).toBe(0);
    expect((await report(d, 0, { filter: Z.ZRASF_FULL })).n).toBe(3);
    expect((await zms(d, 0, Z.ZSA_RESET, true)).status).toBe(0);
    expect((await report(d, 0, { filter: Z.ZRASF_EMPTY })).n).toBe(16);
  });

  it("reports zones from an LBA, filtered, partial or counting all, and refuses extended reports", async () => {
    const d = await up();
    await d.write(1, 2, 2 * ZONE, pattern(512, 1));
    const all = await report(d);
    expect([all.c.status, all.n, all.zones.length]).toEqual([0, 16, 16]);
    expect(all.zones[2]).toEqual({ type: 2, state: Z.ZS_IMPLICITLY_OPENED, cap: ZONE, slba: 2 * ZONE, wp: 2 * ZONE + 1 });
    // From an LBA inside zone 2; a buffer with room for 3 descriptors.
    const some = await report(d, 2 * ZONE + 7, { bytes: 64 + 3 * 64 });
    expect([some.n, some.zones.map((z) => z.slba)]).toEqual([14, [2, 3, 4].map((z) => z * ZONE)]);
    const partial = await report(d, 2 * ZONE + 7, { bytes: 64 + 3 * 64, partial: true });
    expect(partial.n).toBe(3);
    const open = await report(d, 0, { filter: Z.ZRASF_IMPLICITLY_OPENED });
    expect([open.n, open.zones[0].slba]).toEqual([1, 2 * ZONE]);
    expect((await report(d, 0, { filter: 9 })).c.status).toBe(INVALID_FIELD);
    expect((await report(d, 0, { action: Z.ZRA_EXTENDED_REPORT })).c.status).toBe(INVALID_FIELD);
    expect((await report(d, 16 * ZONE)).c.status).toBe(S.LBA_OUT_OF_RANGE);
  });

  it("keeps read-only zones from being written and takes them offline; offline zones cannot be read", async () => {
    const d = await up();
    await d.write(1, 2, ZONE, pattern(512, 1));
    deviceOf(d.ctrl).nsTable.entry(2)!.ns.zones!.setReadOnly(1);
    expect((await d.write(1, 2, ZONE + 1, pattern(512, 1))).status).toBe(cs(Z.SC_ZONE_IS_READ_ONLY));
    expect((await append(d, ZONE, pattern(512, 1))).status).toBe(cs(Z.SC_ZONE_IS_READ_ONLY));
    expect((await zms(d, ZONE, Z.ZSA_RESET)).status).toBe(cs(Z.SC_INVALID_ZONE_STATE_TRANSITION));
    expect((await d.read(1, 2, ZONE, 1))[0].status).toBe(0);
    expect((await zms(d, ZONE, Z.ZSA_OFFLINE)).status).toBe(0);
    expect((await zoneOf(d, 1)).state).toBe(Z.ZS_OFFLINE);
    expect((await d.read(1, 2, ZONE, 1))[0].status).toBe(cs(Z.SC_ZONE_IS_OFFLINE));
    expect((await d.write(1, 2, ZONE, pattern(512, 1))).status).toBe(cs(Z.SC_ZONE_IS_OFFLINE));
    // A reset of all zones leaves the offline one as it is.
    expect((await zms(d, 0, Z.ZSA_RESET, true)).status).toBe(0);
    expect((await zoneOf(d, 1)).state).toBe(Z.ZS_OFFLINE);
  });

  it("refuses reads across zone boundaries unless the namespace allows them (OZCS bit 0)", async () => {
    const strict = await up();
    expect((await strict.read(1, 2, ZONE - 1, 2))[0].status).toBe(cs(Z.SC_ZONE_BOUNDARY_ERROR));
    expect((await strict.run(1, { opcode: O.IO_VERIFY, nsid: 2, ...lbaDw(ZONE - 1), cdw12: 1 })).status).toBe(cs(Z.SC_ZONE_BOUNDARY_ERROR));
    expect((await strict.read(1, 2, ZONE, 2))[0].status).toBe(0);
    const relaxed = await up({ crossZoneReads: true });
    expect((await relaxed.read(1, 2, ZONE - 1, 2))[0].status).toBe(0);
  });
});

describe("zoned namespaces: resets, snapshots, formats, options and the guest's own", () => {
  it("closes open zones at a controller reset, keeping their write pointers", async () => {
    const d = await up();
    await d.write(1, 2, 0, pattern(512, 1));
    await zms(d, ZONE, Z.ZSA_OPEN);
    d.disable();
    await d.bringUp();
    const r = await report(d);
    expect(r.zones.slice(0, 2).map((z) => [z.state, z.wp])).toEqual([[Z.ZS_CLOSED, 1], [Z.ZS_EMPTY, ZONE]]);
  });

  it("keeps zone states and write pointers in snapshots, checked as untrusted input", async () => {
    const d = await up({ maxOpen: 2 });
    await d.write(1, 2, 0, pattern(3 * 512, 1));
    await zms(d, ZONE, Z.ZSA_FINISH);
    const saved = structuredClone(d.ctrl.saveState());
    await zms(d, 0, Z.ZSA_RESET, true);
    d.ctrl.restoreState(saved);
    const zones = deviceOf(d.ctrl).nsTable.entry(2)!.ns.zones!;
    expect([zones.stateOf(0), zones.wp(0), zones.stateOf(1), zones.openZones, zones.activeZones]).toEqual([Z.ZS_IMPLICITLY_OPENED, 3, Z.ZS_FULL, 1, 1]);
    const entry = (s: typeof saved) => s.namespaces!.table.find((n) => n.nsid === 2)!;
    const bad: [string, (s: typeof saved) => void][] = [
      ["missing", (s) => delete entry(s).zones],
      ["state", (s) => (entry(s).zones!.state[3] = 7)],
      ["length", (s) => entry(s).zones!.state.pop()],
      ["fill", (s) => (entry(s).zones!.fill[0] = 100)],
      ["fill past capacity", (s) => (entry(s).zones!.fill[0] = (ZONE + 1) * 512)],
      ["empty with data", (s) => (entry(s).zones!.fill[4] = 512)],
      ["too many open", (s) => (entry(s).zones!.state.fill(Z.ZS_EXPLICITLY_OPENED, 4, 8))],
      ["geometry", (s) => (entry(s).zones!.geometry.zoneBytes *= 2)],
      ["not an object", (s) => ((entry(s) as unknown as Record<string, unknown>).zones = 5)],
    ];
    for (const [what, spoil] of bad) {
      const s = structuredClone(saved);
      spoil(s);
      expect(() => d.ctrl.restoreState(s), what).toThrow(/snapshot refused: namespace 2/);
    }
    // A zoned namespace does not restore into an NVM one.
    const nvm = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(MiB) }, { backend: new MemoryBackend(16 * ZONE * 512) }], guestCapacity: 8 * MiB }, 16 << 20);
    expect(() => nvm.ctrl.restoreState(saved)).toThrow(/namespace 2 is not zoned here/);
  });

  it("empties every zone at a format, and formats to 4096-byte blocks only when the zones take them", async () => {
    const d = await up();
    await d.write(1, 2, 0, pattern(8 * 512, 1));
    expect((await d.admin({ opcode: O.ADMIN_FORMAT_NVM, nsid: 2, cdw10: 1 })).status).toBe(0);
    const r = await report(d, 0, { bytes: 128 });
    expect([r.zones[0].state, r.zones[0].wp, r.zones[0].cap]).toEqual([Z.ZS_EMPTY, 0, ZONE / 8]);
    const odd = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(16 * 12 * 512), zoned: { zoneSizeBlocks: 12 } }] }, 16 << 20);
    await odd.bringUp();
    expect((await odd.admin({ opcode: O.ADMIN_FORMAT_NVM, nsid: 1, cdw10: 1 })).status).toBe(cs(S.SC_INVALID_FORMAT));
  });

  it("refuses bad zoned options with a clear error", async () => {
    const make = (zoned: ZonedOptions, bytes = 16 * ZONE * 512) => HostDriver.create({ namespaces: [{ backend: new MemoryBackend(bytes), zoned }] });
    await expect(make({ zoneSizeBlocks: 0 })).rejects.toThrow(/namespace 1: zoned.zoneSizeBlocks must be a positive integer/);
    await expect(make({ zoneSizeBlocks: ZONE, zoneCapacityBlocks: ZONE + 1 })).rejects.toThrow(/zoneCapacityBlocks must be .* at most zoneSizeBlocks/);
    await expect(make({ zoneSizeBlocks: ZONE, maxOpen: 4, maxActive: 2 })).rejects.toThrow(/maxOpen \(4\) exceeds maxActive \(2\)/);
    await expect(make({ zoneSizeBlocks: ZONE, maxOpen: 1.5 })).rejects.toThrow(/maxOpen and maxActive must be positive integers/);
    await expect(make({ zoneSizeBlocks: 300 })).rejects.toThrow(/not a whole number of 153600-byte zones/);
  });

  it("creates a zoned namespace for Namespace Management with CSI 02h, the controller choosing the zone size", async () => {
    const d = await up();
    const buf = d.mem.alloc(4096, 4096);
    const dv = new DataView(new ArrayBuffer(4096));
    dv.setUint32(I.IDN_NSZE, 8192, true);
    dv.setUint32(I.IDN_NCAP, 8192, true);
    d.mem.fill(buf, new Uint8Array(dv.buffer));
    const c = await d.admin({ opcode: O.ADMIN_NS_MANAGEMENT, prp1: buf, cdw10: 0, cdw11: Z.CSI_ZNS << 24 });
    expect([c.status, c.dw0]).toEqual([0, 3]);
    const list = d.mem.alloc(4096, 4096);
    d.mem.fill(list, Uint8Array.of(1, 0, 1, 0));
    expect((await d.admin({ opcode: O.ADMIN_NS_ATTACHMENT, nsid: 3, prp1: list, cdw10: 0 })).status).toBe(0);
    const zones = deviceOf(d.ctrl).nsTable.entry(3)!.ns.zones!;
    // 4 MiB: four zones of 1 MiB (the largest power of two dividing it, at least four zones).
    expect([zones.count, zones.zoneBlocks]).toEqual([4, 2048]);
    const [p1, p2] = d.buffer(512);
    const a = await d.run(1, { opcode: Z.IO_ZONE_APPEND, nsid: 3, prp1: p1, prp2: p2, ...lbaDw(2048), cdw12: 0 });
    expect([a.status, a.dw0]).toEqual([0, 2048]);
  });

  it("the README's zoned snippet: a zoned namespace added while the guest runs", async () => {
    const d = await up();
    const nvme = d.ctrl; // attachNvme's result has the same addNamespace
    // README snippet: zoned
    // 16 zones of 4 MiB (8192 blocks of 512 bytes), each 3 MiB writable, at most 6 open and 8 active:
    // Linux shows a host-managed zoned block device (`nvme zns report-zones`, fio --zonemode=zbd).
    const nsid = nvme.addNamespace({
      backend: new MemoryBackend(64 << 20),
      zoned: { zoneSizeBlocks: 8192, zoneCapacityBlocks: 6144, maxOpen: 6, maxActive: 8 },
    });
    // README snippet end
    expect(nsid).toBe(3);
    const zones = deviceOf(d.ctrl).nsTable.entry(3)!.ns.zones!;
    expect([zones.count, zones.zoneBlocks, zones.capacityBlocks, zones.geometry.maxOpen, zones.geometry.maxActive]).toEqual([16, 8192, 6144, 6, 8]);
  });
});
