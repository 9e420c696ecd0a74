// The parts of v86 0.5.462 (npm `v86`, commit 5f9a90f) the adapter touches, typed structurally.
// None of these are public API: the names were checked to survive in the minified build, and
// test/v86-adapter.test.ts boots the real emulator so a v86 update that renames one fails there.

/** An entry of `pci_bars`: v86 answers size probes of BAR n from `pci_bars[n].size`. */
export interface V86PciBar {
  size: number;
}

/** What `pci.register_device` takes. `pci_id` is bus 0 device<<3 | function. */
export interface V86PciDevice {
  pci_id: number;
  pci_space: number[];
  pci_bars: Array<V86PciBar | undefined>;
  name: string;
}

export interface V86Pci {
  /** Copies `pci_space` into a 64-dword Int32Array (the live config space) and returns it. */
  register_device(device: V86PciDevice): Int32Array;
  raise_irq(pci_id: number): void;
  lower_irq(pci_id: number): void;
  /** Config space of every function, by pci_id; dwords, little-endian. */
  device_spaces: Array<Int32Array | undefined>;
  /** The PIIX3 ISA bridge's config space as bytes: PIRQA..D routing at 0x60..0x63. */
  isa_bridge_space8: Uint8Array;
  /** Config-space dword write from port 0xCFC; `address` is the 0xCF8 value (bdf << 8 | offset). */
  pci_write32(address: number, value: number): void;
}

export interface V86Io {
  /** Maps [addr, addr+size) in 128 KiB blocks; handlers receive absolute (possibly signed) addresses. */
  mmap_register(
    addr: number,
    size: number,
    read8: (addr: number) => number,
    write8: (addr: number, value: number) => void,
    read32: (addr: number) => number,
    write32: (addr: number, value: number) => void,
  ): void;
  register_read(port: number, device: unknown, read8?: (port: number) => number): void;
  register_write(port: number, device: unknown, write8?: (value: number) => void): void;
  port_read8(port: number): number;
  port_write8(port: number, value: number): void;
  port_read32(port: number): number;
  port_write32(port: number, value: number): void;
}

/** A v86 "view": a Proxy that builds a fresh typed array over the wasm memory on every access. */
export interface V86View {
  readonly [index: number]: number;
  readonly byteOffset: number;
}

export interface V86Cpu {
  wasm_memory: WebAssembly.Memory;
  mem8: V86View;
  memory_size: V86View;
  /** EFLAGS; bit 9 is IF. */
  flags: V86View;
  /** 1 while the guest is halted (HLT), waiting for an interrupt. */
  in_hlt?: V86View;
  devices: { pci: V86Pci };
  io: V86Io;
  jit_dirty_cache(start: number, end: number): void;
  device_lower_irq(irq: number): void;
  /** Called by the wasm main loop after every batch of ~100k instructions and from HLT. */
  run_hardware_timers(acpi_enabled: boolean, now: number): number;
  /** Wakes v86's main loop if it sleeps while the guest halts (given to the CPU by v86's constructor). */
  stop_idling?(): void;
  /** Guest reboot (keyboard controller, port 0xCF9/0xCF8 trick, emulator.restart()). */
  reboot_internal(): void;
  /** save_state: an array of device states; v86 uses indices 0..89. */
  get_state(): unknown[];
  set_state(state: unknown[]): void;
}

export interface V86BusConnector {
  send(name: string, value?: unknown): void;
  register(name: string, fn: (value: unknown) => void, thisValue: unknown): void;
}

/** The `V86` object from `import { V86 } from "v86"`. */
export interface V86Emulator {
  v86: { cpu: V86Cpu };
  /** The device side of the bus pair: what is sent here reaches `add_listener` listeners. */
  emulator_bus: V86BusConnector;
  add_listener(name: string, fn: (value: unknown) => void): void;
}

/** The v86 release the adapter is developed and tested with (package.json's devDependency). */
export const TESTED_V86_VERSION = "0.5.462";

/**
 * The v86 releases the adapter works with: package.json's peer range (a unit test keeps them
 * equal; src/guest/machine.ts says it too). Every 0.5 release tried boots the project's guest
 * (scripts/try-v86.ts); npm run test:v86-oldest runs a Node guest test on the oldest.
 */
export const SUPPORTED_V86_RANGE = ">=0.5.10 <0.6.0";

/**
 * Every member of a V86 object that the adapter uses, as a path from the object and what it must
 * be: the interfaces above, checked at attach time so that another v86 build fails with a list of
 * what it lacks instead of somewhere later inside the guest.
 */
export const V86_PARTS: ReadonlyArray<readonly [path: string, kind: "function" | "number" | "object" | "memory"]> = [
  ["emulator_bus.send", "function"],
  ["v86.cpu.wasm_memory", "memory"],
  ["v86.cpu.mem8.byteOffset", "number"],
  ["v86.cpu.memory_size.0", "number"],
  ["v86.cpu.flags.byteOffset", "number"],
  ["v86.cpu.jit_dirty_cache", "function"],
  ["v86.cpu.device_lower_irq", "function"],
  ["v86.cpu.run_hardware_timers", "function"],
  ["v86.cpu.reboot_internal", "function"],
  ["v86.cpu.get_state", "function"],
  ["v86.cpu.set_state", "function"],
  ["v86.cpu.io.mmap_register", "function"],
  ["v86.cpu.devices.pci.register_device", "function"],
  ["v86.cpu.devices.pci.raise_irq", "function"],
  ["v86.cpu.devices.pci.lower_irq", "function"],
  ["v86.cpu.devices.pci.pci_write32", "function"],
  ["v86.cpu.devices.pci.device_spaces", "object"],
  ["v86.cpu.devices.pci.isa_bridge_space8", "object"],
];

export const FLAG_INTERRUPT = 1 << 9;
export const MMAP_BLOCK_SIZE = 0x20000;
