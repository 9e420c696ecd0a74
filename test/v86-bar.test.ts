// BAR0 relocation in the real v86 (npm v86), without running a guest: config cycles through ports
// 0xCF8/0xCFC as a guest issues them, MMIO through v86's own dispatch (cpu.mmap_read32 & co.), and
// save_state/restore_state. The firmware's own placement is in v86-adapter.test.ts.

import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { V86 } from "v86";
import { NvmeAttachment } from "../src/v86/attachment.ts";
import type { AttachableDevice } from "../src/v86/attachment.ts";
import type { V86Cpu } from "../src/v86/v86-types.ts";

const WASM = createRequire(import.meta.url).resolve("v86/build/v86.wasm");
const BIOS_DIR = process.env.V86_BIOS_DIR ?? join(import.meta.dirname, "..", "public", "bios");
const HAVE_BIOS = existsSync(join(BIOS_DIR, "bios-256k.bin")) && existsSync(join(BIOS_DIR, "vgabios-stdvga.bin"));
const RAM = 32 << 20;
const FIRST = 0xf0000000;
const MOVED = 0x08000000; // where Linux puts it on a rescan: the first free address above RAM
/** BAR0's value for a base: the 64-bit memory type bits. */
const bar = (base: number) => (base | 4) >>> 0;

/** Answers each dword read with 0x5A000000 | offset; records writes. */
class Regs implements AttachableDevice {
  readonly bar0Size = 16384;
  readonly counters: Record<string, number> = {};
  writes: Array<[number, number]> = [];
  constructor(readonly name: string) {}
  mmioRead32(off: number): number {
    return 0x5a000000 | off;
  }
  mmioWrite32(off: number, value: number): void {
    this.writes.push([off, value >>> 0]);
  }
  tick(): void {}
  reset(): void {}
  saveState(): unknown {
    return null;
  }
  restoreState(): void {}
}

interface Cpu extends V86Cpu {
  mmap_read32(addr: number): number;
  mmap_write32(addr: number, value: number): void;
  mmap_read8(addr: number): number;
  memory_map_read8: unknown[];
}

describe("BAR0 follows the guest's config writes", () => {
  const emulators: V86[] = [];
  afterEach(async () => {
    for (const e of emulators.splice(0)) await e.destroy();
  });

  const file = (name: string) => {
    const b = readFileSync(join(BIOS_DIR, name));
    return { buffer: b.buffer.slice(b.byteOffset, b.byteOffset + b.length) };
  };

  async function machine(slots: Array<[number, number?]> = [[4]], bios = false) {
    const roms = bios ? { bios: file("bios-256k.bin"), vga_bios: file("vgabios-stdvga.bin") } : {};
    const e = new V86({ wasm_path: WASM, memory_size: RAM, autostart: false, disable_speaker: true, ...roms });
    emulators.push(e);
    await new Promise<void>((resolve) => e.add_listener("emulator-loaded", () => resolve()));
    const cpu = (e as unknown as { v86: { cpu: Cpu } }).v86.cpu;
    const unmapped = cpu.memory_map_read8[FIRST >>> 17];
    const logs: string[] = [];
    const fns = slots.map(([slot, barAddress]) => {
      const att = new NvmeAttachment(e as never, { slot, barAddress, name: `nvme${slot}`, log: (l, m) => logs.push(`${l} ${m}`) });
      att.plug(new Regs(att.name));
      const cfg = (reg: number, write?: number, width: 1 | 2 | 4 = 4): number => {
        const select = () => cpu.io.port_write32(0xcf8, (0x80000000 | (slot << 11) | reg) | 0);
        select();
        if (write !== undefined) {
          const port = 0xcfc + (reg & 3);
          if (width === 4) cpu.io.port_write32(0xcfc, write | 0);
          else if (width === 2) (cpu.io as unknown as { port_write16(p: number, v: number): void }).port_write16(port, write);
          else cpu.io.port_write8(port, write);
          select();
        }
        return cpu.io.port_read32(0xcfc) >>> 0;
      };
      cfg(0x04, 0x0006, 2); // Memory Space and Bus Master on, as the BIOS leaves them
      return { att, cfg };
    });
    return { e, cpu, unmapped, logs, fns };
  }

  it("moves the registers to the new address; the old range answers as unclaimed memory again", async () => {
    const { cpu, unmapped, fns: [{ att, cfg }] } = await machine();
    expect(cpu.mmap_read32(FIRST + 0x1c)).toBe(0x5a00001c);
    expect(cfg(0x10, MOVED)).toBe(bar(MOVED));
    expect(att.bar0Address()).toBe(MOVED);
    expect(cpu.mmap_read32(MOVED + 0x1c)).toBe(0x5a00001c);
    cpu.mmap_write32(MOVED + 0x1008, 7); // a doorbell
    expect((att.controller as Regs).writes).toEqual([[0x1008, 7]]);
    expect(cpu.mmap_read32(FIRST + 0x1c)).toBe(-1);
    cpu.mmap_write32(FIRST + 0x1008, 9);
    expect((att.controller as Regs).writes).toHaveLength(1);
    // v86's own handlers are back in the old block, not a stand-in.
    expect(cpu.memory_map_read8[FIRST >>> 17]).toBe(unmapped);
    // The rest of the new 128 KiB block still reads as unclaimed.
    expect(cpu.mmap_read32(MOVED + 0x4000)).toBe(-1);
    expect(cpu.mmap_read8(MOVED + 0x1f)).toBe(0x5a);
  });

  it("answers a size probe of either half, decodes nothing meanwhile, and is back after the restore", async () => {
    const { cpu, logs, fns: [{ att, cfg }] } = await machine();
    expect(cfg(0x10, 0xffffffff)).toBe(0xffffc004);
    expect(att.bar0Address()).toBeUndefined();
    expect(cpu.mmap_read32(FIRST)).toBe(-1);
    expect(cpu.mmap_read32(0xffffc000)).not.toBe(0x5a000000);
    expect(cfg(0x10, FIRST)).toBe(bar(FIRST));
    expect(cpu.mmap_read32(FIRST)).toBe(0x5a000000);
    expect(cfg(0x14, 0xffffffff)).toBe(0xffffffff);
    expect(cpu.mmap_read32(FIRST)).toBe(-1);
    expect(cfg(0x14, 0)).toBe(0);
    expect(cpu.mmap_read32(FIRST)).toBe(0x5a000000);
    expect(logs.filter((l) => l.startsWith("warn"))).toEqual([]); // probes are not worth a warning
  });

  it("decodes only while Memory Space is enabled in the command register", async () => {
    const { cpu, fns: [{ cfg }] } = await machine();
    cfg(0x04, 0x0004, 2);
    expect(cpu.mmap_read32(FIRST)).toBe(-1);
    cfg(0x10, MOVED);
    expect(cpu.mmap_read32(MOVED)).toBe(-1);
    cfg(0x04, 0x0006, 2);
    expect(cpu.mmap_read32(MOVED)).toBe(0x5a000000);
  });

  it("stores a value nothing may decode (RAM, v86's own ranges, above 4 GiB) and decodes nothing", async () => {
    const { cpu, logs, fns: [{ att, cfg }] } = await machine();
    for (const [lo, hi, where] of [[0x00100000, 0, /inside guest RAM/], [0xfec00000, 0, /over the IOAPIC/], [0xfee00000, 0, /over the local APIC/], [MOVED, 1, /above 4 GiB/]] as const) {
      cfg(0x14, hi);
      expect(cfg(0x10, lo)).toBe(bar(lo)); // reads back as written, as on hardware
      expect(att.bar0Address()).toBeUndefined();
      expect(logs.pop()).toMatch(where);
    }
    expect(cpu.mmap_read32(FIRST)).toBe(-1);
    expect(cpu.mmap_read32(MOVED)).toBe(-1);
    // Low bits below the BAR's size are not writable.
    cfg(0x14, 0);
    expect(cfg(0x10, MOVED | 0x1ff7)).toBe(bar(MOVED));
    expect(cpu.mmap_read32(MOVED + 4)).toBe(0x5a000004);
  });

  it("merges byte writes to BAR0 into the dword (v86 would store them as they come)", async () => {
    const { cpu, fns: [{ att, cfg }] } = await machine();
    cfg(0x13, 0x08, 1);
    expect(cfg(0x10)).toBe(0x08000004);
    expect(att.bar0Address()).toBe(MOVED);
    cfg(0x10, 0xff, 1);
    expect(cfg(0x10)).toBe(0x08000004);
    cfg(0x12, 0x0801, 2);
    expect(cfg(0x10)).toBe(0x08010004);
    expect(cpu.mmap_read32(0x08010000)).toBe(0x5a000000);
  });

  it("keeps two functions apart: one cannot move over the other, both share a 128 KiB block", async () => {
    const { cpu, logs, fns: [a, b] } = await machine([[4], [3, 0xf0100000]]);
    expect(b.cfg(0x10, FIRST + 0x2000)).toBe(bar(FIRST)); // aligned down to 16 KiB: over function 4
    expect(b.att.bar0Address()).toBeUndefined();
    expect(logs.pop()).toMatch(/over another function's BAR/);
    expect(cpu.mmap_read32(FIRST)).toBe(0x5a000000); // still function 4's
    b.cfg(0x10, FIRST + 0x4000);
    expect(b.att.bar0Address()).toBe(FIRST + 0x4000);
    cpu.mmap_write32(FIRST + 0x1000, 1);
    cpu.mmap_write32(FIRST + 0x5000, 2);
    expect((a.att.controller as Regs).writes).toEqual([[0x1000, 1]]);
    expect((b.att.controller as Regs).writes).toEqual([[0x1000, 2]]);
    a.cfg(0x10, MOVED);
    expect(cpu.mmap_read32(FIRST)).toBe(-1);
    expect(cpu.mmap_read32(FIRST + 0x4000)).toBe(0x5a000000);
    expect(cpu.mmap_read32(0xf0100000)).toBe(-1);
  });

  it.skipIf(!HAVE_BIOS)("shares the VGA ROM's block where SeaBIOS puts it, and takes it back when a reboot maps the ROM again", async () => {
    const { cpu, fns: [{ cfg }] } = await machine([[4]], true);
    const ROM_BLOCK = 0xfebe0000; // in the 1 MiB v86 maps for the VGA ROM at 0xFEB00000
    expect(cpu.mmap_read32(ROM_BLOCK)).toBe(0); // the ROM handler: zeros past the image
    cfg(0x10, 0xfebf0000);
    const check = () => {
      expect(cpu.mmap_read32(0xfebf0010)).toBe(0x5a000010);
      expect(cpu.mmap_read32(ROM_BLOCK)).toBe(0); // still the ROM's, not unclaimed (-1)
      expect(cpu.mmap_read8(0xfeb00000) | (cpu.mmap_read8(0xfeb00001) << 8)).toBe(0xaa55); // the ROM's signature
    };
    check();
    cpu.reboot_internal(); // v86's load_bios registers the ROM's 1 MiB again
    check();
  });

  it("answers after save_state/restore_state where the guest last put BAR0, also in a new machine", async () => {
    const one = await machine();
    one.fns[0].cfg(0x10, MOVED);
    // As after the BIOS: v86 cannot restore its IDE function's power-on BARs (I/O BARs it has no entry for).
    const ide = (one.cpu.devices.pci.device_spaces[0xf0])!;
    ide[4] = ide[5] = 0;
    const file = await one.e.save_state();
    one.fns[0].cfg(0x10, 0x09000000);
    expect(one.cpu.mmap_read32(0x09000000)).toBe(0x5a000000);
    await one.e.restore_state(file);
    expect(one.fns[0].att.bar0Address()).toBe(MOVED);
    expect(one.cpu.mmap_read32(MOVED)).toBe(0x5a000000);
    expect(one.cpu.mmap_read32(0x09000000)).toBe(-1);

    const two = await machine();
    await two.e.restore_state(file);
    expect(two.fns[0].cfg(0x10)).toBe(bar(MOVED));
    expect(two.cpu.mmap_read32(MOVED + 8)).toBe(0x5a000008);
    expect(two.cpu.mmap_read32(FIRST)).toBe(-1);
    expect(two.cpu.memory_map_read8[FIRST >>> 17]).toBe(two.unmapped);
  });
});
