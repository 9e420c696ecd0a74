// Registers the NVMe PCI function on v86's bus and makes its 64-bit BAR0 answer size probes the
// way hardware does.
//
// v86's own BAR handling (src/pci.js pci_write32): a memory BAR keeps the value it was registered
// with (relocation is ignored), a size probe reads back ~(size-1) without the type bits, and a BAR
// with no pci_bars entry reads 0 after any write. For the upper half of a 64-bit BAR that last
// rule makes SeaBIOS size BAR0 as 0xffffffff00004000 bytes (and then misplace other devices'
// BARs), and a pci_bars entry for BAR1 does not help: after a probe v86 takes bit 0 of the stored
// all-ones value for "I/O BAR" and BAR1 ends up reading 1. So the adapter wraps the bus's
// pci_write32 on the instance and answers BAR0/BAR1 of its own functions itself: a probe reads
// ~(size-1) | type bits and 0xffffffff for the upper half; any other write restores the fixed address.

import { bar0ProbeValue, bar0Value, buildNvmeConfigSpace, PCI_BAR0, PCI_BAR1 } from "../pci/config-space.ts";
import type { NvmeFunctionOptions } from "../pci/config-space.ts";
import type { V86Cpu, V86Pci } from "./v86-types.ts";
import { MMAP_BLOCK_SIZE } from "./v86-types.ts";

export interface PciFunctionPlacement extends NvmeFunctionOptions {
  /** PCI device number on bus 0 (function 0). */
  slot: number;
  name: string;
}

interface OwnedFunction {
  bar0Address: number;
  bar0Size: number;
  onMoveAttempt(kind: "BAR0" | "BAR1", value: number): void;
}

const owned = new WeakMap<V86Pci, Map<number, OwnedFunction>>();

// Address ranges v86 decodes itself above guest RAM (VGA LFB, IOAPIC, APIC, BIOS ROM).
const RESERVED: Array<[number, number, string]> = [
  [0xe0000000, 0xe8000000, "the VGA linear framebuffer"],
  [0xfec00000, 0xfec01000, "the IOAPIC"],
  [0xfee00000, 0xfee01000, "the local APIC"],
  [0xfff00000, 0x100000000, "the BIOS ROM"],
];

/** The byte range v86 maps for the BAR: whole 128 KiB blocks. */
export function mmioWindow(bar0Address: number, bar0Size: number): { start: number; size: number } {
  return { start: bar0Address, size: Math.ceil(bar0Size / MMAP_BLOCK_SIZE) * MMAP_BLOCK_SIZE };
}

function checkPlacement(cpu: V86Cpu, p: PciFunctionPlacement): void {
  if (!Number.isInteger(p.slot) || p.slot < 1 || p.slot > 31) throw new RangeError(`${p.name}: PCI slot ${p.slot} is not 1..31`);
  const pciId = p.slot << 3;
  if (cpu.devices.pci.device_spaces[pciId]) {
    throw new Error(`${p.name}: PCI slot ${p.slot} is taken (v86 uses 0, 1, 5, 6, 7, 0x0a-0x0c, 0x12, 0x1e depending on its options)`);
  }
  if (p.bar0Address % MMAP_BLOCK_SIZE !== 0) {
    throw new RangeError(`${p.name}: barAddress 0x${p.bar0Address.toString(16)} must be 128 KiB aligned (v86 maps MMIO in 128 KiB blocks)`);
  }
  const w = mmioWindow(p.bar0Address, p.bar0Size);
  const ramSize = cpu.memory_size[0];
  if (w.start < ramSize) throw new RangeError(`${p.name}: barAddress 0x${w.start.toString(16)} lies inside guest RAM (${ramSize} bytes)`);
  for (const [lo, hi, what] of RESERVED) {
    if (w.start < hi && w.start + w.size > lo) throw new RangeError(`${p.name}: BAR0 window overlaps ${what}`);
  }
}

function installBarWrapper(pci: V86Pci): Map<number, OwnedFunction> {
  let mine = owned.get(pci);
  if (mine) return mine;
  const functions = new Map<number, OwnedFunction>();
  mine = functions;
  owned.set(pci, functions);
  const original = pci.pci_write32;
  pci.pci_write32 = function (this: V86Pci, address: number, value: number): void {
    const bdf = (address >> 8) & 0xffff;
    const reg = address & 0xfc;
    const fn = functions.get(bdf);
    const space = this.device_spaces[bdf];
    if (!fn || !space || (reg !== PCI_BAR0 && reg !== PCI_BAR1)) {
      original.call(this, address, value);
      return;
    }
    if (reg === PCI_BAR0) {
      if ((value | (fn.bar0Size - 1) | 0xf) === -1) space[PCI_BAR0 >> 2] = bar0ProbeValue(fn.bar0Size) | 0;
      else {
        if (((value ^ fn.bar0Address) & ~0xf) !== 0) fn.onMoveAttempt("BAR0", value >>> 0);
        space[PCI_BAR0 >> 2] = bar0Value(fn.bar0Address) | 0;
      }
    } else {
      if (value === -1 || value === 0xffffffff) space[PCI_BAR1 >> 2] = -1;
      else {
        if (value !== 0) fn.onMoveAttempt("BAR1", value >>> 0);
        space[PCI_BAR1 >> 2] = 0;
      }
    }
  };
  return functions;
}

/**
 * Registers the function and returns its pci_id and live config space (v86's Int32Array: the
 * guest's config writes land there, the device is not told).
 */
export function registerNvmeFunction(
  cpu: V86Cpu,
  p: PciFunctionPlacement,
  log: (msg: string) => void,
): { pciId: number; space: Int32Array } {
  checkPlacement(cpu, p);
  const pci = cpu.devices.pci;
  const pciId = p.slot << 3;
  const bytes = buildNvmeConfigSpace(p);
  const functions = installBarWrapper(pci);
  const warned = new Set<string>();
  functions.set(pciId, {
    bar0Address: p.bar0Address,
    bar0Size: p.bar0Size,
    onMoveAttempt(kind, value) {
      if (warned.has(kind)) return;
      warned.add(kind);
      log(`guest wrote 0x${value.toString(16)} to ${kind}; it stays at 0x${p.bar0Address.toString(16)} (v86 cannot relocate memory BARs)`);
    },
  });
  const space = pci.register_device({
    pci_id: pciId,
    pci_space: Array.from(bytes),
    // Only consulted if the wrapper above is bypassed: v86 then still answers BAR0 probes.
    pci_bars: [{ size: p.bar0Size }],
    name: p.name,
  });
  return { pciId, space };
}
