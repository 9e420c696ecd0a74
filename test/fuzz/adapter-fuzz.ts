// The v86-facing layer as a hostile guest reaches it: attachNvme on a v86-shaped host (the parts
// of the CPU, PCI bus and MMIO map the adapter hooks, over a memory with canaries around guest
// RAM), then byte, word, dword and qword MMIO at every BAR0 offset (unaligned, across register
// boundaries, past the doorbells and the BAR), PCI config writes (command register with INTx
// Disable and Bus Master Enable flipped mid-I/O, BAR sizing sequences, capability registers,
// read-only fields), timer ticks, reboots and slow completions, mixed with a driver that keeps
// I/O going. Invariants: no exception escapes into v86 and none is swallowed by the adapter
// (its error counters stay 0); no byte outside guest RAM changes and every dirty range lies
// inside it; while Bus Master Enable is clear the device fetches, posts and stores nothing; the
// PIC is never raised while INTx Disable is set; and a reset and bring-up at the end of each
// episode gets a normal Identify.

import { attachNvme, type NvmeV86 } from "../../src/v86/attach.ts";
import type { V86Cpu } from "../../src/v86/v86-types.ts";
import { GuestMemory } from "../driver/guest-memory.ts";
import { DeferredBackend } from "../driver/deferred-backend.ts";
import { MemoryBackend } from "../../src/backends/memory.ts";
import { Rng } from "../driver/rng.ts";
import { sqeBytes } from "../driver/host-driver.ts";
import * as R from "../../src/spec/registers.ts";
import * as O from "../../src/spec/opcodes.ts";
import { DOORBELL_BASE } from "../../src/spec/queue.ts";
import { PCI_BAR0, PCI_BAR1, PCI_COMMAND_BUS_MASTER, PCI_COMMAND_INTX_DISABLE, PM_CAP_OFFSET, EXP_CAP_OFFSET } from "../../src/pci/config-space.ts";

export interface AdapterFuzzReport {
  seed: number;
  inputs: number;
  mmio: number;
  configWrites: number;
  busMasterOff: number;
  violations: string[];
}

const RAM = 256 << 10;
const BAR = 0xf0000000;
const SLOT = 4;
const ADMIN_SQ = 0x1000;
const ADMIN_CQ = 0x2000;
const IO_SQ = 0x3000;
const IO_CQ = 0x4000;
const DATA = 0x10000;
const ID_BUF = 0x8000;
const SERIAL = "ADAPTER1";

/** The parts of v86 the adapter hooks, as plain objects; `raised` follows the PIC line. */
function fakeV86(mem: GuestMemory, onDirty: (s: number, e: number) => void) {
  const spaces: Array<Int32Array | undefined> = [];
  const isa = new Uint8Array(256);
  isa[0x60 + ((SLOT - 1) & 3)] = 11; // PIRQD (slot 4, pin A) -> IRQ 11
  const pic = { raised: false, raises: 0 };
  // v86's per-128 KiB-block dispatch arrays (what the adapter's BAR0 decoder reads and fills),
  // every block unmapped at start; the guest's accesses go through them as in v86.
  type R = (a: number) => number;
  type W = (a: number, v: number) => void;
  const maps = { r8: [] as R[], w8: [] as W[], r32: [] as R[], w32: [] as W[] };
  const mmio = {
    r8: (a: number) => (maps.r8[a >>> 17] ?? (() => 0xff))(a),
    w8: (a: number, v: number) => maps.w8[a >>> 17]?.(a, v),
    r32: (a: number) => (maps.r32[a >>> 17] ?? (() => -1))(a),
    w32: (a: number, v: number) => maps.w32[a >>> 17]?.(a, v),
  };
  const cpu = {
    wasm_memory: mem.memory,
    mem8: new Uint8Array(mem.memory.buffer, mem.ramBase, mem.ramSize),
    memory_size: new Uint32Array([mem.ramSize]),
    flags: { byteOffset: 0 }, // a canary word: IF reads as set
    jit_dirty_cache: onDirty,
    device_lower_irq: () => { pic.raised = false; },
    run_hardware_timers: () => 100,
    reboot_internal: () => {},
    get_state: () => [] as unknown[],
    set_state: () => {},
    stop_idling: () => {},
    memory_map_read8: maps.r8, memory_map_write8: maps.w8, memory_map_read32: maps.r32, memory_map_write32: maps.w32,
    io: {
      mmap_register(s: number, n: number, r8: R, w8: W, r32: R, w32: W) {
        for (let b = s >>> 17; n > 0; b++, n -= 0x20000) [maps.r8[b], maps.w8[b], maps.r32[b], maps.w32[b]] = [r8, w8, r32, w32];
      },
    },
    devices: {
      pci: {
        device_spaces: spaces,
        isa_bridge_space8: isa,
        register_device(d: { pci_id: number; pci_space: number[] }) {
          const s = new Int32Array(64);
          new Uint8Array(s.buffer).set(d.pci_space);
          spaces[d.pci_id] = s;
          return s;
        },
        raise_irq: () => { pic.raised = true; pic.raises++; },
        lower_irq: () => { pic.raised = false; },
        // v86 stores config writes as they come (BARs are answered by the adapter's wrapper).
        pci_write32(address: number, value: number) {
          const s = spaces[(address >> 8) & 0xffff];
          if (s) s[(address & 0xfc) >> 2] = value;
        },
      },
    },
  };
  const emulator = { v86: { cpu }, add_listener: () => {}, emulator_bus: { send: () => {} }, is_running: () => false };
  return { emulator, cpu: cpu as unknown as V86Cpu, mmio, pic, spaces };
}

export async function fuzzAdapter(seed: number, inputs: number, episodeSteps = 300): Promise<AdapterFuzzReport> {
  const r = new Rng(seed * 104729 + 3);
  const mem = new GuestMemory(RAM, 64 << 10, 64 << 10);
  const report: AdapterFuzzReport = { seed, inputs: 0, mmio: 0, configWrites: 0, busMasterOff: 0, violations: [] };
  const seen = new Set<string>();
  const violation = (msg: string) => {
    const key = msg.replace(/0x[0-9a-f]+|\d+/g, "#");
    if (seen.has(key) || report.violations.length >= 10) return;
    seen.add(key);
    report.violations.push(`adapter fuzz seed ${seed}, input ${report.inputs}: ${msg}`);
  };
  let dirtyWhileOff = 0;
  const fake = fakeV86(mem, (s, e) => {
    if (!(s >= 0 && s < e && e <= RAM)) violation(`dirty range [0x${s.toString(16)}, 0x${e.toString(16)}) outside guest RAM`);
    if (!busMaster()) dirtyWhileOff++;
  });
  const slow = new DeferredBackend(64 << 10);
  const nvme: NvmeV86 = await attachNvme(fake.emulator, {
    serial: SERIAL, log: () => {},
    namespaces: [{ backend: new MemoryBackend(128 << 10) }, { backend: slow }],
  });
  const space = fake.spaces[SLOT << 3]!;
  const cpu = fake.cpu;
  const { r8, w8, r32, w32 } = fake.mmio;
  // Where BAR0 decodes now (the guest moves it with config writes); the firmware's address otherwise.
  const at = (off: number) => (nvme.bar0Address() ?? BAR) + off;
  const busMaster = () => (space[1] & PCI_COMMAND_BUS_MASTER) !== 0;
  const guard = <T>(what: string, fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (e) {
      violation(`exception escaped into v86 (${what}): ${e instanceof Error ? e.stack : String(e)}`);
      return undefined;
    }
  };
  const write = (off: number, v: number) => guard("MMIO write", () => w32(at(off), v | 0));
  const read = (off: number) => guard("MMIO read", () => r32(at(off))) ?? 0;
  const config32 = (reg: number, v: number) => {
    report.configWrites++;
    guard("config write", () => cpu.devices.pci.pci_write32((SLOT << 11) | reg, v | 0));
  };
  const setCommand = (bits: number) => config32(4, (space[1] & ~0xffff) | bits);
  let clock = 0;
  const tick = () => guard("timer hook", () => cpu.run_hardware_timers(false, (clock += r.below(3))));

  // ---- the driver keeping I/O going ----
  let sqTail = 0;
  let ioTail = 0;
  let cid = 0;
  const submitAdmin = (e: Parameters<typeof sqeBytes>[0]) => {
    mem.fill(ADMIN_SQ + sqTail * 64, sqeBytes(e, cid++ & 0xffff));
    sqTail = (sqTail + 1) % 16;
    write(DOORBELL_BASE, sqTail);
  };
  const bringUp = () => {
    write(R.REG_CC, 0);
    for (let i = 0; i < 0x4000; i += 4) mem.write32(ADMIN_SQ + i, 0);
    sqTail = ioTail = 0;
    write(R.REG_AQA, (15 << 16) | 15);
    write(R.REG_ASQ, ADMIN_SQ);
    write(R.REG_ASQ + 4, 0);
    write(R.REG_ACQ, ADMIN_CQ);
    write(R.REG_ACQ + 4, 0);
    write(R.REG_CC, R.CC_EN | (6 << R.CC_IOSQES_SHIFT) | (4 << R.CC_IOCQES_SHIFT));
    submitAdmin({ opcode: O.ADMIN_CREATE_CQ, prp1: IO_CQ, cdw10: (63 << 16) | 1, cdw11: 3 });
    submitAdmin({ opcode: O.ADMIN_CREATE_SQ, prp1: IO_SQ, cdw10: (63 << 16) | 1, cdw11: (1 << 16) | 1 });
  };
  const io = () => {
    const nsid = 1 + r.below(2);
    const op = r.pick([O.IO_READ, O.IO_WRITE, O.IO_FLUSH]);
    mem.fill(IO_SQ + ioTail * 64, sqeBytes({ opcode: op, nsid, prp1: DATA + r.below(16) * 4096, cdw10: r.below(64), cdw12: r.below(8) }, cid++ & 0xffff));
    ioTail = (ioTail + 1) % 64;
    write(DOORBELL_BASE + 8, ioTail);
  };

  // ---- the hostile moves ----
  const offset = () => {
    switch (r.below(6)) {
      case 0: return r.below(0x40);
      case 1: return DOORBELL_BASE + r.below(0x408);
      case 2: return r.pick([0x3c, 0x3d, 0x3e, 0x3f, 0xffc, 0xffd, 0xfff, 0x1000, 0x13fd, 0x3ffc, 0x3ffd, 0x3fff, 0x4000, 0x1fffc, 0x1ffff]);
      case 3: return r.below(0x4000);
      default: return r.below(0x20000);
    }
  };
  const value = () => r.chance(60) ? r.pick([0, 1, 2, 3, 0xff, 0xffff, 0xffffffff, 0x80000000, R.NSSR_RESET_VALUE, R.CC_EN | (6 << 16) | (4 << 20), r.below(64)]) : r.u32();
  const mmioMove = () => {
    report.mmio++;
    const off = offset();
    const v = value();
    switch (r.below(8)) {
      case 0: guard("byte read", () => r8(at(off))); return;
      case 1: guard("byte write", () => w8(at(off), v & 0xff)); return;
      case 2: guard("word read", () => { r8(at(off)); r8(at(off + 1)); }); return;
      case 3: guard("word write", () => { w8(at(off), v & 0xff); w8(at(off + 1), (v >>> 8) & 0xff); }); return;
      case 4: guard("qword write", () => { w32(at(off), v | 0); w32(at(off + 4), r.u32() | 0); }); return;
      case 5: read(off); return;
      default: write(off, v);
    }
  };
  const configMove = () => {
    switch (r.below(7)) {
      case 0: case 1: { // the command register: memory space, bus master, INTx Disable
        const bits = 2 | (r.chance(75) ? PCI_COMMAND_BUS_MASTER : 0) | (r.chance(25) ? PCI_COMMAND_INTX_DISABLE : 0);
        if (!(bits & PCI_COMMAND_BUS_MASTER) && busMaster()) report.busMasterOff++;
        setCommand(bits);
        return;
      }
      case 2: { // a BAR sizing sequence, as a BIOS does it (sometimes left half done)
        const bar = r.pick([PCI_BAR0, PCI_BAR1]);
        const old = space[bar >> 2];
        config32(bar, -1);
        const probe = space[bar >> 2];
        if (bar === PCI_BAR0 && (probe & ~0xf) !== (~(0x4000 - 1) & ~0xf)) violation(`BAR0 size probe read 0x${(probe >>> 0).toString(16)}`);
        if (r.chance(90)) config32(bar, r.chance(80) ? old : r.u32());
        return;
      }
      case 3: config32(PM_CAP_OFFSET + 4, r.pick([0, 3, 0x8103, r.u32()])); return; // PMCSR: D3hot and back
      case 4: config32(EXP_CAP_OFFSET + 8, r.u32()); return; // Device Control (Function Level Reset is not offered)
      case 5: { // read-only fields: ids, class, header type, capability pointer, interrupt pin
        const reg = r.pick([0x00, 0x08, 0x0c, 0x2c, 0x34, 0x3c, 0x40, 0x50]);
        const old = space[reg >> 2];
        config32(reg, r.u32());
        tick();
        space[reg >> 2] = old; // v86 keeps what was written; the firmware's view is restored for the next moves
        return;
      }
      default: config32(r.below(64) * 4, r.u32() & 0xffff_fff0); // anywhere (BAR writes go through the adapter)
    }
  };
  const actions: Array<[number, () => unknown]> = [
    [30, mmioMove],
    [20, () => { if (busMaster()) io(); else write(DOORBELL_BASE + 8, r.below(64)); }],
    [10, configMove],
    [15, tick],
    [5, () => { for (let i = 0; i < 0x400; i += 16) read(0); }],
    [3, () => (slow.pending ? slow.release() : undefined)],
    [1, () => guard("reboot hook", () => cpu.reboot_internal())],
    [3, () => { if (busMaster()) bringUp(); }],
  ];
  const weights = actions.map(([w]) => w);
  const total = weights.reduce((a, b) => a + b, 0);

  setCommand(2 | PCI_COMMAND_BUS_MASTER);
  while (report.inputs < inputs && report.violations.length < 10) {
    bringUp();
    for (let i = 0; i < episodeSteps && report.inputs < inputs; i++) {
      report.inputs++;
      const wasOff = !busMaster();
      const before = wasOff ? mem.bytes(0, RAM) : undefined;
      const counted = wasOff ? fetchedPosted(nvme) : 0;
      dirtyWhileOff = 0;
      const raisesBefore = fake.pic.raises;
      const pending = actions[r.weighted(weights, total)][1]();
      if (pending instanceof Promise) await pending;
      const stillOff = !busMaster();
      if (wasOff && stillOff) {
        if (dirtyWhileOff) violation("the device stored into guest RAM with Bus Master Enable clear");
        if (fetchedPosted(nvme) !== counted) violation("the device fetched or posted with Bus Master Enable clear");
        const after = mem.bytes(0, RAM);
        for (let a = 0; a < RAM; a++) {
          if (after[a] !== before![a]) {
            violation(`guest RAM at 0x${a.toString(16)} changed with Bus Master Enable clear`);
            break;
          }
        }
      }
      if ((space[1] & PCI_COMMAND_INTX_DISABLE) && fake.pic.raises !== raisesBefore) violation("the PIC was raised with INTx Disable set");
      if (report.inputs % 16 === 0) canaries();
    }
    canaries();
    // Bus mastering back on and BAR0 where the firmware put it: what was held goes out, and a
    // driver gets the controller back.
    config32(PCI_BAR0, BAR);
    config32(PCI_BAR1, 0);
    if (nvme.bar0Address() !== BAR) violation(`BAR0 written back to 0x${BAR.toString(16)} decodes at ${nvme.bar0Address()?.toString(16)}`);
    setCommand(2 | PCI_COMMAND_BUS_MASTER);
    if (slow.pending) await slow.release();
    tick();
    const status = identify();
    if (status) violation(status);
    const c = nvme.counters;
    if (c.mmioErrors || c.tickErrors) violation(`the adapter caught ${c.mmioErrors} MMIO and ${c.tickErrors} tick exceptions`);
  }
  return report;

  function canaries(): void {
    const broken = mem.brokenCanaries();
    if (broken.length) violation(`bytes outside guest RAM changed at ${broken.slice(0, 8).join(", ")}`);
  }

  function identify(): string | undefined {
    bringUp();
    for (let i = 0; i < 4096; i += 4) mem.write32(ID_BUF + i, 0);
    const slotBefore = (sqTail + 15) % 16; // the last admin command
    submitAdmin({ opcode: O.ADMIN_IDENTIFY, prp1: ID_BUF, cdw10: 1 });
    tick();
    const sn = new TextDecoder().decode(mem.bytes(ID_BUF + 4, SERIAL.length));
    const dw3 = mem.read32(ADMIN_CQ + (slotBefore + 1) * 16 + 12);
    if (sn !== SERIAL || dw3 >>> 17 !== 0) return `after a reset and bring-up, Identify answered 0x${dw3.toString(16)} with serial "${sn}"`;
    return undefined;
  }
}

function fetchedPosted(nvme: NvmeV86): number {
  const c = nvme.controller.counters;
  return c.sqesFetched * 65536 + c.cqesPosted;
}
