// Registers the NVMe PCI function on v86's bus and gives its 64-bit BAR0 the register behaviour
// of hardware: the guest may move it.
//
// v86's own BAR handling (src/pci.js pci_write32): a memory BAR keeps the value it was registered
// with (relocation is ignored), a size probe reads back ~(size-1) without the type bits, and a BAR
// with no pci_bars entry reads 0 after any write. For the upper half of a 64-bit BAR that last
// rule makes SeaBIOS size BAR0 as 0xffffffff00004000 bytes, and a pci_bars entry for BAR1 does not
// help: after a probe v86 takes bit 0 of the stored all-ones value for "I/O BAR". Byte writes to a
// BAR are stored as they come and word writes dropped. So the adapter wraps the bus's
// pci_write8/16/32 on the instance and answers BAR0/BAR1 of its own functions itself: BAR0 keeps
// the address bits above its size (a probe reads ~(size-1) | type bits), BAR1 is all writable, and
// after each write the function's Bar0Decoder moves the MMIO window (bar-decoder.ts).

import { bar0Value, buildNvmeConfigSpace, PCI_BAR0, PCI_BAR1 } from "../pci/config-space.ts";
import type { NvmeFunctionOptions } from "../pci/config-space.ts";
import type { V86Cpu, V86Pci } from "./v86-types.ts";
import { RESERVED } from "./bar-decoder.ts";

export interface PciFunctionPlacement extends NvmeFunctionOptions {
  /** PCI device number on bus 0 (function 0). */
  slot: number;
  name: string;
}

interface OwnedFunction {
  bar0Size: number;
  /** BAR0 or BAR1 was written (the new value is in config space). */
  onBarWrite(): void;
}

const owned = new WeakMap<V86Pci, Map<number, OwnedFunction>>();

function checkPlacement(cpu: V86Cpu, p: PciFunctionPlacement): void {
  if (!Number.isInteger(p.slot) || p.slot < 1 || p.slot > 31) throw new RangeError(`${p.name}: PCI slot ${p.slot} is not 1..31`);
  const pciId = p.slot << 3;
  if (cpu.devices.pci.device_spaces[pciId]) {
    throw new Error(`${p.name}: PCI slot ${p.slot} is taken (v86 uses 0, 1, 5, 6, 7, 0x0a-0x0c, 0x12, 0x1e depending on its options)`);
  }
  const start = p.bar0Address;
  const ramSize = cpu.memory_size[0];
  if (start < ramSize) throw new RangeError(`${p.name}: barAddress 0x${start.toString(16)} lies inside guest RAM (${ramSize} bytes)`);
  for (const [lo, hi, what] of RESERVED) {
    if (start < hi && start + p.bar0Size > lo) throw new RangeError(`${p.name}: BAR0 window overlaps ${what}`);
  }
}

function installBarWrapper(pci: V86Pci): Map<number, OwnedFunction> {
  let mine = owned.get(pci);
  if (mine) return mine;
  const functions = new Map<number, OwnedFunction>();
  mine = functions;
  owned.set(pci, functions);
  // The dword write, for BAR0/BAR1 of an owned function: stored as the register keeps it.
  const writeBar = (fn: OwnedFunction, space: Int32Array, reg: number, value: number): void => {
    if (reg === PCI_BAR0) space[PCI_BAR0 >> 2] = bar0Value((value & ~(fn.bar0Size - 1)) >>> 0) | 0;
    else space[PCI_BAR1 >> 2] = value | 0;
    fn.onBarWrite();
  };
  const target = (pciObj: V86Pci, address: number) => {
    const bdf = (address >> 8) & 0xffff;
    const reg = address & 0xfc;
    const fn = functions.get(bdf);
    const space = pciObj.device_spaces[bdf];
    return fn && space && (reg === PCI_BAR0 || reg === PCI_BAR1) ? { fn, space, reg } : undefined;
  };
  const write32 = pci.pci_write32;
  pci.pci_write32 = function (this: V86Pci, address: number, value: number): void {
    const t = target(this, address);
    if (t) writeBar(t.fn, t.space, t.reg, value);
    else write32.call(this, address, value);
  };
  // Narrow writes to a BAR: merged into the dword, then as a dword write.
  for (const [key, width] of [["pci_write8", 1], ["pci_write16", 2]] as const) {
    const bus = pci as V86Pci & Partial<Record<typeof key, (address: number, value: number) => void>>;
    const narrow = bus[key];
    if (typeof narrow !== "function") continue;
    bus[key] = function (this: V86Pci, address: number, value: number): void {
      const t = target(this, address);
      if (!t) return narrow.call(this, address, value);
      const shift = (address & 3) * 8;
      const mask = (width === 1 ? 0xff : 0xffff) << shift;
      writeBar(t.fn, t.space, t.reg, (t.space[t.reg >> 2] & ~mask) | ((value << shift) & mask));
    };
  }
  return functions;
}

/**
 * Registers the function and returns its pci_id and live config space (v86's Int32Array: the
 * guest's config writes land there, the device is not told). `onBarWrite` runs after every write
 * to BAR0 or BAR1.
 */
export function registerNvmeFunction(
  cpu: V86Cpu,
  p: PciFunctionPlacement,
  onBarWrite: () => void,
): { pciId: number; space: Int32Array } {
  checkPlacement(cpu, p);
  const pci = cpu.devices.pci;
  const pciId = p.slot << 3;
  const bytes = buildNvmeConfigSpace(p);
  installBarWrapper(pci).set(pciId, { bar0Size: p.bar0Size, onBarWrite });
  const space = pci.register_device({
    pci_id: pciId,
    pci_space: Array.from(bytes),
    // Only consulted if the wrapper above is bypassed: v86 then still answers BAR0 probes.
    pci_bars: [{ size: p.bar0Size }],
    name: p.name,
  });
  return { pciId, space };
}
