import { describe, expect, it } from "vitest";
import {
  bar0ProbeValue,
  bar0Value,
  buildNvmeConfigSpace,
  CAP_ID_EXP,
  CAP_ID_PM,
  DEFAULT_DEVICE_ID,
  DEFAULT_VENDOR_ID,
  EXP_CAP_OFFSET,
  listCapabilities,
  PM_CAP_OFFSET,
} from "../src/pci/config-space.ts";

const base = { bar0Address: 0xf0000000, bar0Size: 16384 };
const u16 = (s: Uint8Array, o: number) => s[o] | (s[o + 1] << 8);
const u32 = (s: Uint8Array, o: number) => (s[o] | (s[o + 1] << 8) | (s[o + 2] << 16) | (s[o + 3] << 24)) >>> 0;

// Linux 6.1 nvme_id_table entries that carry quirks, by vendor:device (the ones an emulator
// author might be tempted to copy). The default must match none of them.
const QUIRKED = ["8086:0953", "8086:0a53", "8086:0a54", "8086:0a55", "8086:f1a5", "8086:f1a6", "8086:5845", "1b36:0010"];

describe("NVMe PCI config space", () => {
  it("is a 256-byte type-0 header of class 01/08/02", () => {
    const s = buildNvmeConfigSpace(base);
    expect(s.length).toBe(256);
    expect(s[0x0e]).toBe(0);
    expect([s[0x0b], s[0x0a], s[0x09]]).toEqual([0x01, 0x08, 0x02]);
    expect(u16(s, 0x04)).toBe(0); // command: left to the BIOS
    expect(u16(s, 0x06) & 0x10).toBe(0x10); // capability list present
  });

  it("uses ids outside Linux's NVMe quirk table by default, and takes others as options", () => {
    const s = buildNvmeConfigSpace(base);
    const id = `${u16(s, 0).toString(16).padStart(4, "0")}:${u16(s, 2).toString(16).padStart(4, "0")}`;
    expect(id).toBe(`${DEFAULT_VENDOR_ID.toString(16)}:${DEFAULT_DEVICE_ID.toString(16)}`);
    expect(QUIRKED).not.toContain(id);
    expect(u16(s, 0x2c)).toBe(DEFAULT_VENDOR_ID);
    const o = buildNvmeConfigSpace({ ...base, vendorId: 0x1b36, deviceId: 0x0010, subsystemVendorId: 0x1af4, subsystemId: 0x1100, revision: 2 });
    expect([u16(o, 0), u16(o, 2), u16(o, 0x2c), u16(o, 0x2e), o[8]]).toEqual([0x1b36, 0x0010, 0x1af4, 0x1100, 2]);
    expect(() => buildNvmeConfigSpace({ ...base, vendorId: 0x10000 })).toThrow(RangeError);
  });

  it("has one 64-bit non-prefetchable memory BAR0 at the given address, BAR1 its zero upper half", () => {
    const s = buildNvmeConfigSpace({ bar0Address: 0xfebf0000, bar0Size: 65536 });
    expect(u32(s, 0x10)).toBe(0xfebf0004);
    expect(u32(s, 0x10) & 0x1).toBe(0); // memory
    expect((u32(s, 0x10) >> 1) & 0x3).toBe(0x2); // 64-bit
    expect(u32(s, 0x10) & 0x8).toBe(0); // not prefetchable
    expect(u32(s, 0x14)).toBe(0);
    for (let o = 0x18; o < 0x28; o += 4) expect(u32(s, o)).toBe(0);
    expect(bar0Value(0xf0000000)).toBe(0xf0000004);
    expect(bar0ProbeValue(16384)).toBe(0xffffc004);
  });

  it("rejects BAR sizes and addresses a PCI BAR cannot have", () => {
    expect(() => buildNvmeConfigSpace({ ...base, bar0Size: 8192 })).toThrow(RangeError);
    expect(() => buildNvmeConfigSpace({ ...base, bar0Size: 20000 })).toThrow(RangeError);
    expect(() => buildNvmeConfigSpace({ ...base, bar0Address: 0xf0001000 })).toThrow(RangeError);
    expect(() => buildNvmeConfigSpace({ ...base, bar0Address: 0xfffff000 + 0x1000 })).toThrow(RangeError);
    expect(() => buildNvmeConfigSpace({ ...base, interruptPin: 5 })).toThrow(RangeError);
  });

  it("asks for INTx pin A and leaves the line to the BIOS", () => {
    const s = buildNvmeConfigSpace(base);
    expect(s[0x3d]).toBe(1);
    expect(s[0x3c]).toBe(0);
    expect(buildNvmeConfigSpace({ ...base, interruptPin: 2 })[0x3d]).toBe(2);
  });

  it("lists Power Management then PCI Express, and nothing else (no MSI/MSI-X)", () => {
    const s = buildNvmeConfigSpace(base);
    expect(listCapabilities(s)).toEqual([
      [CAP_ID_PM, PM_CAP_OFFSET],
      [CAP_ID_EXP, EXP_CAP_OFFSET],
    ]);
    expect(s[0x34] & 3).toBe(0); // pointers are dword aligned
  });

  it("describes a D0-only PM capability", () => {
    const s = buildNvmeConfigSpace(base);
    const pmc = u16(s, PM_CAP_OFFSET + 2);
    expect(pmc & 7).toBe(3); // PM spec 1.2
    expect(pmc & (3 << 9)).toBe(0); // no D1/D2
    expect(pmc >> 11).toBe(0); // no PME from any state
    expect(u16(s, PM_CAP_OFFSET + 4) & 3).toBe(0); // in D0
  });

  it("describes a PCIe v2 endpoint with a 2.5 GT/s x1 link and no FLR", () => {
    const s = buildNvmeConfigSpace(base);
    const e = EXP_CAP_OFFSET;
    const flags = u16(s, e + 2);
    expect(flags & 0xf).toBe(2);
    expect((flags >> 4) & 0xf).toBe(0); // PCI Express Endpoint
    expect(flags & (1 << 8)).toBe(0); // no slot
    const devcap = u32(s, e + 4);
    expect(devcap & 7).toBe(0); // 128-byte max payload
    expect(devcap & (1 << 28)).toBe(0); // no Function Level Reset
    const lnkcap = u32(s, e + 0x0c);
    expect(lnkcap & 0xf).toBe(1);
    expect((lnkcap >> 4) & 0x3f).toBe(1);
    const lnksta = u16(s, e + 0x12);
    expect([lnksta & 0xf, (lnksta >> 4) & 0x3f]).toEqual([1, 1]);
    expect(u32(s, e + 0x2c) & 0xfe).toBe(0x2); // supported speeds: 2.5 GT/s
    expect(e + 0x3c).toBeLessThanOrEqual(256);
    for (let o = e + 0x3c; o < 256; o++) expect(s[o]).toBe(0);
  });
});
