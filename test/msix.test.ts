// MSI-X: the capability in config space, message delivery into v86's local APIC (against a fake
// APIC struct, then the layout of the real one in v86 with ACPI on), and the table's masking,
// pending bits and snapshot.

import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { V86 } from "v86";
import { buildNvmeConfigSpace, listCapabilities } from "../src/pci/config-space.ts";
import {
  CAP_ID_MSIX, MSIX_CAP_OFFSET, MSIX_FLAGS_ENABLE, MSIX_FLAGS_MASKALL, MSIX_PBA_OFFSET, MSIX_TABLE_OFFSET, writeMsixCapability,
} from "../src/pci/msix-capability.ts";
import { apicAccess, deliverMessage, destinationMatches } from "../src/v86/apic-message.ts";
import type { ApicAccess } from "../src/v86/apic-message.ts";
import { MsixVectors } from "../src/v86/msix.ts";
import { NvmeAttachment } from "../src/v86/attachment.ts";
import type { AttachableDevice, DeviceHost } from "../src/v86/attachment.ts";
import type { V86Cpu } from "../src/v86/v86-types.ts";

const BIOS_DIR = process.env.V86_BIOS_DIR ?? join(import.meta.dirname, "..", "public", "bios");
const HAVE_BIOS = existsSync(join(BIOS_DIR, "bios-256k.bin"));
const WASM = createRequire(import.meta.url).resolve("v86/build/v86.wasm");

/** A wasm-memory stand-in with v86's Apic struct at 1024, reset values as apic.rs has them. */
function fakeApic(acpi = 1) {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const apic = new Uint32Array(memory.buffer, 1024, 46);
  apic[40] = 0x1fe; // SVR: software enabled (Linux sets bit 8), spurious vector 0xfe
  apic[41] = 0xffffffff; // DFR: flat
  let irqChecks = 0;
  const cpu = { wasm_memory: memory, get_apic_addr: () => 1024, handle_irqs: () => void irqChecks++, acpi_enabled: [acpi] };
  const access = apicAccess(cpu as unknown as V86Cpu)!;
  return { apic, access, checks: () => irqChecks };
}

const bit = (regs: Uint32Array, base: number, v: number) => (regs[base + (v >> 5)] >>> (v & 31)) & 1;

describe("MSI-X capability", () => {
  it("chains after PCI Express with the table at 0x2000 and the PBA at 0x3000 of BAR0", () => {
    const space = buildNvmeConfigSpace({ bar0Address: 0xf0000000, bar0Size: 0x4000, msixVectors: 1 });
    expect(listCapabilities(space)).toEqual([[0x01, 0x40], [0x10, 0x50], [CAP_ID_MSIX, MSIX_CAP_OFFSET]]);
    const dv = new DataView(space.buffer);
    expect(dv.getUint16(MSIX_CAP_OFFSET + 2, true)).toBe(0); // table size 1, disabled, unmasked
    expect(dv.getUint32(MSIX_CAP_OFFSET + 4, true)).toBe(MSIX_TABLE_OFFSET); // BIR 0
    expect(dv.getUint32(MSIX_CAP_OFFSET + 8, true)).toBe(MSIX_PBA_OFFSET);
    expect(listCapabilities(buildNvmeConfigSpace({ bar0Address: 0xf0000000, bar0Size: 0x4000 })).map(([id]) => id)).toEqual([0x01, 0x10]);
    expect(() => writeMsixCapability(new Uint8Array(256), 129)).toThrow(/1\.\.128/);
  });
});

describe("message delivery into v86's local APIC", () => {
  it("sets IRR and clears TMR for a fixed edge message, then lets v86 look at once", () => {
    const { apic, access, checks } = fakeApic();
    apic[32 + 1] = 1 << (0x22 & 31); // a stale level bit for the vector
    expect(deliverMessage(access, 0xfee00000, 0, 0x22, false)).toBe("delivered");
    expect(bit(apic, 16, 0x22)).toBe(1);
    expect(bit(apic, 32, 0x22)).toBe(0);
    expect(checks()).toBe(1);
    // Already pending: the APIC holds one request per vector.
    expect(deliverMessage(access, 0xfee00000, 0, 0x22, false)).toBe("coalesced");
  });

  it("inside an MMIO handler only sets IRR: v86 takes it at its next check", () => {
    const { apic, access, checks } = fakeApic();
    expect(deliverMessage(access, 0xfee00000, 0, 0x41, true)).toBe("delivered");
    expect(bit(apic, 16, 0x41)).toBe(1);
    expect(checks()).toBe(0);
  });

  it("drops what no APIC would take", () => {
    const { apic, access } = fakeApic();
    expect(deliverMessage(access, 0xfee00000, 1, 0x30, false)).toBe("not-apic-address");
    expect(deliverMessage(access, 0x00100000, 0, 0x30, false)).toBe("not-apic-address");
    expect(deliverMessage(access, 0xfee00000, 0, 0x30 | (4 << 8), false)).toBe("unsupported-mode"); // NMI
    expect(deliverMessage(access, 0xfee00000, 0, 0x0f, false)).toBe("unsupported-mode"); // reserved vector
    expect(deliverMessage(access, 0xfee01000, 0, 0x30, false)).toBe("no-destination"); // physical id 1
    expect(deliverMessage(access, 0xfee00000, 0, 0x30 | (1 << 8), false)).toBe("delivered"); // lowest priority
    apic[40] = 0xfe; // software disabled
    expect(deliverMessage(access, 0xfee00000, 0, 0x31, false)).toBe("no-apic");
    expect(deliverMessage(fakeApic(0).access, 0xfee00000, 0, 0x31, false)).toBe("no-apic"); // ACPI off
    expect(apicAccess({} as V86Cpu)).toBeUndefined();
  });

  it("matches physical, broadcast, flat and cluster logical destinations", () => {
    const apic = new Uint32Array(46);
    apic[0] = 2 << 24;
    apic[41] = 0xffffffff;
    apic[42] = 0x04 << 24;
    expect(destinationMatches(apic, 2, false)).toBe(true);
    expect(destinationMatches(apic, 0, false)).toBe(false);
    expect(destinationMatches(apic, 0xff, false)).toBe(true);
    expect(destinationMatches(apic, 0x05, true)).toBe(true);
    expect(destinationMatches(apic, 0x03, true)).toBe(false);
    apic[41] = 0x0fffffff; // cluster model
    apic[42] = 0x21 << 24; // cluster 2, member 1
    expect(destinationMatches(apic, 0x21, true)).toBe(true);
    expect(destinationMatches(apic, 0xf1, true)).toBe(true);
    expect(destinationMatches(apic, 0x11, true)).toBe(false);
    expect(destinationMatches(apic, 0x22, true)).toBe(false);
  });
});

describe("MSI-X table", () => {
  function setup() {
    const f = fakeApic();
    const space = new Int32Array(64);
    space.set(new Int32Array(buildNvmeConfigSpace({ bar0Address: 0xf0000000, bar0Size: 0x4000, msixVectors: 1 }).buffer));
    const logs: string[] = [];
    let inMmio = false;
    const msix = new MsixVectors(f.access as ApicAccess, space, 1, () => inMmio, (m) => logs.push(m));
    const control = (bits: number) => (space[MSIX_CAP_OFFSET >> 2] = (space[MSIX_CAP_OFFSET >> 2] & 0xffff) | (bits << 16));
    const program = (data: number) => {
      msix.write32(MSIX_TABLE_OFFSET, 0xfee00000);
      msix.write32(MSIX_TABLE_OFFSET + 4, 0);
      msix.write32(MSIX_TABLE_OFFSET + 8, data);
    };
    return { ...f, space, msix, logs, control, program, setMmio: (v: boolean) => (inMmio = v) };
  }

  it("starts masked; sends nothing while disabled; holds a masked vector's message in the PBA", () => {
    const { apic, msix, control, program } = setup();
    expect(msix.read32(MSIX_TABLE_OFFSET + 12)).toBe(1);
    expect(msix.covers(MSIX_TABLE_OFFSET + 12) && msix.covers(MSIX_PBA_OFFSET) && !msix.covers(0x1000) && !msix.covers(MSIX_TABLE_OFFSET + 16)).toBe(true);
    program(0x23);
    msix.signal(0);
    expect(msix.enabled()).toBe(false);
    expect(msix.read32(MSIX_PBA_OFFSET)).toBe(0);
    control(MSIX_FLAGS_ENABLE);
    msix.signal(0);
    expect(msix.read32(MSIX_PBA_OFFSET)).toBe(1);
    expect(bit(apic, 16, 0x23)).toBe(0);
    msix.write32(MSIX_PBA_OFFSET, 0); // read only
    expect(msix.read32(MSIX_PBA_OFFSET)).toBe(1);
    msix.write32(MSIX_TABLE_OFFSET + 12, 0xfffffffe); // unmask: only bit 0 is writable
    expect(msix.read32(MSIX_TABLE_OFFSET + 12)).toBe(0);
    expect(msix.read32(MSIX_PBA_OFFSET)).toBe(0);
    expect(bit(apic, 16, 0x23)).toBe(1);
    expect(msix.counters).toMatchObject({ messages: 1, held: 1 });
  });

  it("Function Mask holds messages until a poll finds it cleared (config writes are not seen)", () => {
    const { apic, msix, control, program } = setup();
    program(0x24);
    msix.write32(MSIX_TABLE_OFFSET + 12, 0);
    control(MSIX_FLAGS_ENABLE | MSIX_FLAGS_MASKALL);
    msix.signal(0);
    msix.poll();
    expect(bit(apic, 16, 0x24)).toBe(0);
    control(MSIX_FLAGS_ENABLE);
    msix.poll();
    expect(bit(apic, 16, 0x24)).toBe(1);
    msix.functionReset();
    expect(msix.enabled()).toBe(false);
    expect(msix.read32(MSIX_TABLE_OFFSET + 12)).toBe(1);
  });

  it("logs a message dropped for its address once", () => {
    const { msix, control, logs } = setup();
    msix.write32(MSIX_TABLE_OFFSET + 12, 0);
    control(MSIX_FLAGS_ENABLE);
    msix.signal(0);
    msix.signal(0);
    expect(msix.counters.dropped).toBe(2);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/vector 0 .* dropped: not-apic-address/);
  });

  it("saves table and PBA; a malformed saved table resets the vectors (masked)", () => {
    const a = setup();
    a.program(0x25);
    a.control(MSIX_FLAGS_ENABLE);
    a.msix.signal(0);
    const saved = a.msix.saveState();
    const b = setup();
    b.control(MSIX_FLAGS_ENABLE);
    b.msix.restoreState(structuredClone(saved));
    expect(b.msix.read32(MSIX_TABLE_OFFSET + 8)).toBe(0x25);
    expect(b.msix.read32(MSIX_PBA_OFFSET)).toBe(1);
    b.msix.restoreState({ table: [1, 2, 3], pending: [0] });
    expect(b.msix.read32(MSIX_TABLE_OFFSET + 8)).toBe(0);
    expect(b.msix.read32(MSIX_TABLE_OFFSET + 12)).toBe(1);
    expect(b.logs.at(-1)).toMatch(/malformed/);
    b.msix.restoreState({ table: [0xfee00000, 0, 0x26, 0xfffffffe], pending: [0xffffffff] });
    expect(b.msix.read32(MSIX_TABLE_OFFSET + 12)).toBe(0); // reserved bits dropped
    expect(b.msix.read32(MSIX_PBA_OFFSET)).toBe(1); // bits beyond the table size dropped
  });
});

describe.skipIf(!HAVE_BIOS)("v86's local APIC (acpi: true)", () => {
  let emulator: V86 | undefined;
  afterEach(async () => {
    await emulator?.destroy();
    emulator = undefined;
  });

  /** v86 with SeaBIOS and ACPI on (so with its local APIC), loaded and not started. */
  async function loadedV86(): Promise<V86> {
    const bios = readFileSync(join(BIOS_DIR, "bios-256k.bin"));
    const e = (emulator = new V86({ wasm_path: WASM, bios: { buffer: bios.buffer.slice(bios.byteOffset, bios.byteOffset + bios.length) }, memory_size: 32 << 20, autostart: false, disable_speaker: true, acpi: true } as never));
    await new Promise<void>((resolve) => e.add_listener("emulator-loaded", () => resolve()));
    return e;
  }

  it("has the exports and the struct layout delivery relies on", async () => {
    const e = await loadedV86();
    const cpu = (e as unknown as { v86: { cpu: V86Cpu & { get_state_apic(): Uint8Array } } }).v86.cpu;
    const access = apicAccess(cpu);
    expect(access).toBeDefined();
    expect(cpu.get_state_apic().length).toBe(46 * 4);
    const apic = new Uint32Array(cpu.wasm_memory.buffer, access!.cpu.get_apic_addr(), 46);
    // Reset values at the dwords apic-message.ts reads: SVR 0xfe, DFR all ones, LVT timer masked.
    expect([apic[40], apic[41], apic[8]]).toEqual([0xfe, 0xffffffff, 0x10000]);
    apic[40] = 0x1fe;
    expect(deliverMessage(access!, 0xfee00000, 0, 0x51, true)).toBe("delivered");
    // v86's own view of the registers (its MMIO read of IRR at 0xFEE00200 + 0x10 * (vector >> 5)).
    expect((cpu.get_state_apic()[16 * 4 + (0x51 >> 5) * 4 + ((0x51 & 31) >> 3)] >> (0x51 & 7)) & 1).toBe(1);
  }, 60_000);

  it("wires the table into BAR0, messages to pulse() and keeps INTx low while MSI-X is enabled", async () => {
    const e = await loadedV86();
    const cpu = (e as unknown as { v86: { cpu: V86Cpu & { mmap_read32(a: number): number; mmap_write32(a: number, v: number): void; get_apic_addr(): number } } }).v86.cpu;
    const att = new NvmeAttachment(e as never, { msix: true, log: () => {} });
    const writes: number[] = [];
    const dev: AttachableDevice & { host: DeviceHost } = {
      name: "nvme0", bar0Size: 0x4000, counters: {}, host: att.host,
      mmioRead32: () => 0x12345678, mmioWrite32: (off) => void writes.push(off),
      tick: () => {}, reset: () => {}, saveState: () => null, restoreState: () => {},
    };
    att.plug(dev);
    const space = cpu.devices.pci.device_spaces[4 << 3]!;
    expect((space[MSIX_CAP_OFFSET >> 2] & 0xff)).toBe(CAP_ID_MSIX);
    const bar = 0xf0000000;
    space[1] |= 2; // Memory Space on, as the BIOS sets it: BAR0 decodes
    expect(cpu.mmap_read32(bar + MSIX_TABLE_OFFSET + 12)).toBe(1); // masked at reset
    expect(cpu.mmap_read32(bar + 0x1000)).toBe(0x12345678); // doorbells stay the controller's
    cpu.mmap_write32(bar + MSIX_TABLE_OFFSET, 0xfee00000 | 0);
    cpu.mmap_write32(bar + MSIX_TABLE_OFFSET + 8, 0x61);
    cpu.mmap_write32(bar + MSIX_TABLE_OFFSET + 12, 0);
    cpu.mmap_write32(bar + 0x1008, 1);
    expect(writes).toEqual([0x1008]);
    new Uint32Array(cpu.wasm_memory.buffer, cpu.get_apic_addr(), 46)[40] = 0x1fe; // as Linux sets SVR
    space[MSIX_CAP_OFFSET >> 2] |= MSIX_FLAGS_ENABLE << 16; // the guest's config write lands here
    att.host.setIrq(true);
    att.host.pulse!();
    expect(att.intx!.level).toBe(false);
    expect(att.msix!.counters.messages).toBe(1);
    expect(bit(new Uint32Array(cpu.wasm_memory.buffer, cpu.get_apic_addr(), 46), 16, 0x61)).toBe(1);
    space[MSIX_CAP_OFFSET >> 2] &= ~(MSIX_FLAGS_ENABLE << 16); // disabled again: INTx follows the level at the next tick
    cpu.run_hardware_timers(true, performance.now());
    expect(att.intx!.level).toBe(true);
  }, 60_000);
});
