// The PCI function of the NVMe controller, independent of any emulator: a 256-byte type-0
// configuration space with one 64-bit memory BAR, INTx pin A and a capability list of PCI Power
// Management (D0 only) and PCI Express (endpoint, version 2, link x1), and MSI-X when asked for
// (msix-capability.ts; v86 itself decodes no MSI: src/v86/apic-message.ts delivers them).

// Header offsets (PCI Local Bus 3.0, "Type 00h Configuration Space Header").
import { MSIX_CAP_OFFSET, writeMsixCapability } from "./msix-capability.ts";

export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_STATUS = 0x06;
export const PCI_REVISION_ID = 0x08;
export const PCI_PROG_IF = 0x09;
export const PCI_SUBCLASS = 0x0a;
export const PCI_CLASS = 0x0b;
export const PCI_HEADER_TYPE = 0x0e;
export const PCI_BAR0 = 0x10;
export const PCI_BAR1 = 0x14;
export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
export const PCI_SUBSYSTEM_ID = 0x2e;
export const PCI_CAPABILITY_LIST = 0x34;
export const PCI_INTERRUPT_LINE = 0x3c;
export const PCI_INTERRUPT_PIN = 0x3d;

export const PCI_COMMAND_BUS_MASTER = 1 << 2;
export const PCI_COMMAND_INTX_DISABLE = 1 << 10;
export const PCI_STATUS_INTERRUPT = 1 << 3;
export const PCI_STATUS_CAP_LIST = 1 << 4;

// Mass storage controller / Non-Volatile memory controller / NVM Express.
export const NVME_CLASS = 0x01;
export const NVME_SUBCLASS = 0x08;
export const NVME_PROG_IF = 0x02;

// Memory BAR low bits: bit 0 = 0 (memory), bits 2:1 = 10b (64-bit), bit 3 = prefetchable.
export const BAR_MEM_TYPE_64 = 0x4;

// Capabilities: ids and where this function places them.
export const CAP_ID_PM = 0x01;
export const CAP_ID_EXP = 0x10;
export const PM_CAP_OFFSET = 0x40;
export const EXP_CAP_OFFSET = 0x50;

// Inside the PM capability.
export const PM_PMC = 2; // version in bits 2:0; no D1/D2, no PME
export const PM_PMCSR = 4; // PowerState in bits 1:0, No_Soft_Reset bit 3
export const PM_VERSION_1_2 = 3;
export const PMCSR_NO_SOFT_RESET = 1 << 3;

// Inside the PCI Express capability (PCIe Base 2.x, "PCI Express Capability Structure").
export const EXP_FLAGS = 2; // version bits 3:0, device/port type bits 7:4
export const EXP_DEVCAP = 4;
export const EXP_DEVCTL = 8;
export const EXP_LNKCAP = 0x0c;
export const EXP_LNKSTA = 0x12;
export const EXP_LNKCAP2 = 0x2c;
export const EXP_LNKCTL2 = 0x30;
export const EXP_TYPE_ENDPOINT = 0;
export const EXP_VERSION_2 = 2;
export const DEVCAP_RBER = 1 << 15; // role-based error reporting, required since 1.1
// Relaxed ordering + no snoop enabled, max read request 512 bytes: the reset value of real parts.
export const DEVCTL_DEFAULT = (1 << 4) | (1 << 11) | (2 << 12);
export const LINK_SPEED_2_5GT = 1;
export const LINK_WIDTH_X1 = 1 << 4;
export const LNKCAP2_SPEED_2_5GT = 1 << 1;

// Default ids. Red Hat's QEMU NVMe id 1b36:0010 and Intel's 8086:5845 both carry quirks in Linux's
// nvme_id_table (BOGUS_NID; IDENTIFY_CNS and more), so the default is 1234, the unregistered
// vendor id that emulated devices already use (QEMU's bochs display and "edu" devices), with a
// device id in no quirk table. Linux and SeaBIOS bind NVMe by class code, not by id.
export const DEFAULT_VENDOR_ID = 0x1234;
export const DEFAULT_DEVICE_ID = 0x4e56; // "NV"
export const DEFAULT_REVISION = 0x01;

export interface NvmeFunctionOptions {
  /** Guest-physical address of BAR0; fixed (the emulator ignores relocation). Aligned to `bar0Size`. */
  bar0Address: number;
  /** BAR0 size in bytes: a power of two, at least 16 KiB (the NVMe register file + doorbells). */
  bar0Size: number;
  vendorId?: number;
  deviceId?: number;
  subsystemVendorId?: number;
  subsystemId?: number;
  revision?: number;
  /** 1 = INTA# … 4 = INTD#. */
  interruptPin?: number;
  /** MSI-X vectors (table and PBA in BAR0); 0 or absent: no MSI-X capability. */
  msixVectors?: number;
}

function checkU16(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`pci: ${name} ${v} is not a 16-bit value`);
  return v;
}

/** The value BAR0 holds: its address and memory type bits. */
export function bar0Value(bar0Address: number): number {
  return ((bar0Address >>> 0) | BAR_MEM_TYPE_64) >>> 0;
}

/** What a BAR0 size probe (all ones written) reads back on real hardware: size mask plus type bits. */
export function bar0ProbeValue(bar0Size: number): number {
  return ((~(bar0Size - 1) >>> 0) | BAR_MEM_TYPE_64) >>> 0;
}

/** Builds the 256-byte configuration space, little-endian as the guest reads it. */
export function buildNvmeConfigSpace(o: NvmeFunctionOptions): Uint8Array {
  const size = o.bar0Size;
  if (!Number.isInteger(size) || size < 16384 || size > 0x40000000 || (size & (size - 1)) !== 0) {
    throw new RangeError(`pci: BAR0 size ${size} is not a power of two between 16 KiB and 1 GiB`);
  }
  const addr = o.bar0Address;
  if (!Number.isInteger(addr) || addr <= 0 || addr + size > 0x100000000 || addr % size !== 0) {
    throw new RangeError(`pci: BAR0 address 0x${addr.toString(16)} is not a ${size}-aligned address below 4 GiB`);
  }
  const pin = o.interruptPin ?? 1;
  if (!Number.isInteger(pin) || pin < 1 || pin > 4) throw new RangeError(`pci: interrupt pin ${pin} is not 1..4`);

  const space = new Uint8Array(256);
  const dv = new DataView(space.buffer);
  dv.setUint16(PCI_VENDOR_ID, checkU16("vendor id", o.vendorId ?? DEFAULT_VENDOR_ID), true);
  dv.setUint16(PCI_DEVICE_ID, checkU16("device id", o.deviceId ?? DEFAULT_DEVICE_ID), true);
  dv.setUint16(PCI_COMMAND, 0, true); // the BIOS enables memory decoding and bus mastering
  dv.setUint16(PCI_STATUS, PCI_STATUS_CAP_LIST, true);
  space[PCI_REVISION_ID] = (o.revision ?? DEFAULT_REVISION) & 0xff;
  space[PCI_PROG_IF] = NVME_PROG_IF;
  space[PCI_SUBCLASS] = NVME_SUBCLASS;
  space[PCI_CLASS] = NVME_CLASS;
  space[PCI_HEADER_TYPE] = 0x00; // type 0, single function
  dv.setUint32(PCI_BAR0, bar0Value(addr), true);
  dv.setUint32(PCI_BAR1, 0, true); // upper half: the BAR sits below 4 GiB
  dv.setUint16(PCI_SUBSYSTEM_VENDOR_ID, checkU16("subsystem vendor id", o.subsystemVendorId ?? o.vendorId ?? DEFAULT_VENDOR_ID), true);
  dv.setUint16(PCI_SUBSYSTEM_ID, checkU16("subsystem id", o.subsystemId ?? o.deviceId ?? DEFAULT_DEVICE_ID), true);
  space[PCI_CAPABILITY_LIST] = PM_CAP_OFFSET;
  space[PCI_INTERRUPT_LINE] = 0; // written by the BIOS
  space[PCI_INTERRUPT_PIN] = pin;

  // Power Management: D0 only (no D1/D2 support bits, no PME), so a write of another state is
  // stored but changes nothing; No_Soft_Reset says the device keeps its state through D3hot.
  space[PM_CAP_OFFSET] = CAP_ID_PM;
  space[PM_CAP_OFFSET + 1] = EXP_CAP_OFFSET;
  dv.setUint16(PM_CAP_OFFSET + PM_PMC, PM_VERSION_1_2, true);
  dv.setUint16(PM_CAP_OFFSET + PM_PMCSR, PMCSR_NO_SOFT_RESET, true);

  // PCI Express: an endpoint with a 2.5 GT/s x1 link. Function Level Reset is not offered:
  // config-space writes never reach the device in v86, so it could not be honoured.
  const e = EXP_CAP_OFFSET;
  space[e] = CAP_ID_EXP;
  space[e + 1] = o.msixVectors ? MSIX_CAP_OFFSET : 0; // else the end of the list
  dv.setUint16(e + EXP_FLAGS, EXP_VERSION_2 | (EXP_TYPE_ENDPOINT << 4), true);
  dv.setUint32(e + EXP_DEVCAP, DEVCAP_RBER, true); // max payload 128 bytes
  dv.setUint16(e + EXP_DEVCTL, DEVCTL_DEFAULT, true);
  dv.setUint32(e + EXP_LNKCAP, LINK_SPEED_2_5GT | LINK_WIDTH_X1, true);
  dv.setUint16(e + EXP_LNKSTA, LINK_SPEED_2_5GT | LINK_WIDTH_X1, true);
  dv.setUint32(e + EXP_LNKCAP2, LNKCAP2_SPEED_2_5GT, true);
  dv.setUint16(e + EXP_LNKCTL2, LINK_SPEED_2_5GT, true);
  if (o.msixVectors) writeMsixCapability(space, o.msixVectors);
  return space;
}

/** Walks the capability list: [id, offset] pairs in order (for tests and diagnostics). */
export function listCapabilities(space: Uint8Array): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  if (!(space[PCI_STATUS] & PCI_STATUS_CAP_LIST)) return out;
  let at = space[PCI_CAPABILITY_LIST] & 0xfc;
  while (at !== 0 && out.length < 48) {
    out.push([space[at], at]);
    at = space[at + 1] & 0xfc;
  }
  return out;
}
