// The v86 adapter: MMIO composition, INTx and state encoding against fakes, then the real
// emulator (npm v86, SeaBIOS from public/bios/) with a stand-in controller: enumeration by the
// BIOS, BAR answers, IRQ routing and level, the timer hook, reboot and save/restore.

import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { V86 } from "v86";
import { IntxLine } from "../src/v86/intx.ts";
import { createMmioHandlers } from "../src/v86/mmio.ts";
import { decodeValue, encodeValue, joinSaveState, STATE_INDEX } from "../src/v86/state.ts";
import { NvmeAttachment } from "../src/v86/attachment.ts";
import { attachNvme } from "../src/v86/attach.ts";
import { MemoryBackend } from "../src/backends/memory.ts";
import type { AttachableDevice, DeviceHost } from "../src/v86/attachment.ts";
import type { V86Cpu } from "../src/v86/v86-types.ts";

const BIOS_DIR = process.env.V86_BIOS_DIR ?? join(import.meta.dirname, "..", "public", "bios");
const HAVE_BIOS = existsSync(join(BIOS_DIR, "bios-256k.bin"));
const WASM = createRequire(import.meta.url).resolve("v86/build/v86.wasm");
const BASE = 0xf0000000;
const quiet = { log: () => {} };

/** A register file that answers like an NVMe 1.4 controller and follows CC.EN with CSTS.RDY. */
class StandIn implements AttachableDevice {
  readonly name = "nvme0";
  readonly bar0Size = 16384;
  readonly counters: Record<string, number> = {};
  regs = new Map<number, number>();
  reads: number[] = [];
  ticks = 0;
  resets = 0;
  wantIrq = false;
  restored: unknown = undefined;
  host: DeviceHost;
  constructor(host: DeviceHost) {
    this.host = host;
  }
  mmioRead32(off: number): number {
    this.reads.push(off);
    if (off === 0x00) return 63 | (1 << 16) | (10 << 24); // MQES 64, CQR, TO 5 s
    if (off === 0x04) return 1 << 5; // CSS: NVM command set
    if (off === 0x08) return 0x00010400;
    if (off === 0x1c) return (this.regs.get(0x14) ?? 0) & 1;
    return this.regs.get(off) ?? 0;
  }
  mmioWrite32(off: number, value: number): void {
    this.regs.set(off, value >>> 0);
  }
  tick(): void {
    this.ticks++;
    this.host.setIrq(this.wantIrq);
  }
  due = Infinity;
  nextDueMs(): number {
    return this.due;
  }
  reset(): void {
    this.resets++;
    this.regs.clear();
  }
  saveState(): unknown {
    return { regs: new Map(this.regs), words: new Uint32Array([1, 2, 0xffffffff]), note: "x", n: 12n };
  }
  restoreState(s: unknown): void {
    this.restored = s;
  }
}

describe("state encoding", () => {
  it("round-trips structured-clone-able values through arrays, primitives and byte arrays", () => {
    class Cmd {
      cid = 7;
      data = new Uint16Array([1, 65535]);
    }
    const value = {
      a: [1, "two", null, undefined, true, NaN, -Infinity], m: new Map<unknown, unknown>([[1, { x: 2 }], ["k", new Set([3])]]),
      big: 2n ** 70n, f: new Float64Array([0.5]), dv: new DataView(new Uint8Array([9, 8]).buffer), ab: new Uint8Array([5]).buffer,
      d: new Date(1000), cmds: [new Cmd()],
    };
    const enc = encodeValue(value);
    // Only what v86's save_object accepts: arrays, primitives and typed arrays (all Uint8Array here).
    const walk = (t: unknown): void => {
      if (Array.isArray(t)) t.forEach(walk);
      else if (t !== null && typeof t === "object") expect(t).toBeInstanceOf(Uint8Array);
    };
    walk(enc);
    const viaJson = JSON.parse(JSON.stringify(enc, (_k, v) => (v instanceof Uint8Array ? { u8: [...v] } : v)), (_k, v) => (v && v.u8 ? new Uint8Array(v.u8) : v));
    expect(decodeValue(viaJson)).toEqual({ ...value, cmds: [{ cid: 7, data: new Uint16Array([1, 65535]) }] });
    expect(() => encodeValue({ f: () => 1 })).toThrow(TypeError);
  });

  it("restores each device from its own entry and resets one the file does not know", () => {
    let saved: unknown[] = [];
    const cpu = { get_state: () => ["cpu"], set_state: (s: unknown[]) => { saved = s; } } as unknown as V86Cpu;
    const log: string[] = [];
    joinSaveState(cpu, { name: "nvme0", save: () => ({ q: 1 }), restore: (s) => log.push(`restore ${JSON.stringify(s)}`), missing: () => log.push("missing nvme0") });
    joinSaveState(cpu, { name: "nvme1", save: () => 2, restore: () => log.push("restore nvme1"), missing: () => log.push("missing nvme1") });
    const state = cpu.get_state();
    expect(state[0]).toBe("cpu");
    const entry = state[STATE_INDEX] as unknown[];
    cpu.set_state([...state.slice(0, STATE_INDEX), ["v86-nvme", 1, entry[2]]]);
    expect(saved[0]).toBe("cpu");
    expect(log).toEqual(['restore {"q":1}', "missing nvme1"]);
    expect(() => joinSaveState(cpu, { name: "nvme0", save: () => 0, restore() {}, missing() {} })).toThrow(/already attached/);
  });
});

describe("BAR0 MMIO composition", () => {
  function setup() {
    const regs = new Map<number, number>([[0x14, 0x00460001], [0x0c, 0x5]]);
    const writes: Array<[number, number]> = [];
    const target = {
      bar0Size: 16384,
      mmioRead32: (o: number) => regs.get(o) ?? 0,
      mmioWrite32: (o: number, v: number) => { writes.push([o, v >>> 0]); regs.set(o, v >>> 0); },
    };
    const counters = { mmioReads: 0, mmioWrites: 0, mmioByteAccesses: 0, mmioErrors: 0 };
    const h = createMmioHandlers(BASE, target, undefined, () => {}, counters);
    return { h, writes, counters, a: (o: number) => (BASE + o) | 0 };
  }

  it("reads bytes and misaligned dwords out of the dword, all ones beyond the BAR", () => {
    const { h, a } = setup();
    expect(h.read8(a(0x16))).toBe(0x46);
    expect(h.read32(a(0x14))).toBe(0x00460001);
    expect(h.read32(a(0x15)) >>> 0).toBe(0x00004600);
    expect(h.read32(a(0x4000)) >>> 0).toBe(0xffffffff);
    expect(h.read8(a(0x1ffff))).toBe(0xff);
  });

  it("merges a byte write into the dword, but writes W1S/W1C bytes alone", () => {
    const { h, writes, a } = setup();
    h.write8(a(0x15), 0x12); // CC byte 1
    expect(writes.at(-1)).toEqual([0x14, 0x00461201]);
    h.write8(a(0x0c), 0x02); // INTMS: set bit 1 only, never re-set bit 0 and 2 by writing them back
    expect(writes.at(-1)).toEqual([0x0c, 0x02]);
    h.write8(a(0x11), 0x01); // INTMC byte 1
    expect(writes.at(-1)).toEqual([0x10, 0x100]);
  });

  it("passes dwords through, splits misaligned ones and drops writes beyond the BAR", () => {
    const { h, writes, a, counters } = setup();
    h.write32(a(0x1008), 7);
    expect(writes.at(-1)).toEqual([0x1008, 7]);
    h.write32(a(0x5000), 1);
    expect(writes.length).toBe(1);
    h.write32(a(0x26), 0xaabbccdd); // bytes 0x26,0x27 of AQA and 0x28,0x29 of ASQ
    expect(writes.slice(1).map((w) => w[0])).toEqual([0x24, 0x24, 0x28, 0x28]);
    expect(counters.mmioErrors).toBe(0);
  });
});

describe("INTx line", () => {
  function setup(route: number, flags: number) {
    const calls: string[] = [];
    const space = new Int32Array(64);
    space[0x3c >> 2] = 1 << 8; // pin A
    const isa = new Uint8Array(256);
    isa[0x63] = route; // slot 4 pin A -> PIRQD
    const memory = new WebAssembly.Memory({ initial: 1 });
    new Int32Array(memory.buffer, 120, 1)[0] = flags;
    const cpu = {
      wasm_memory: memory, flags: { byteOffset: 120 },
      devices: { pci: { isa_bridge_space8: isa, raise_irq: (id: number) => calls.push(`raise ${id}`), lower_irq: (id: number) => calls.push(`lower ${id}`) } },
      device_lower_irq: (irq: number) => calls.push(`lower irq ${irq}`),
    } as unknown as V86Cpu;
    return { line: new IntxLine(cpu, 4 << 3, space), calls, isa, space };
  }

  it("waits for the BIOS to route the pin, then calls the PIC only on changes", () => {
    const { line, calls, isa } = setup(0x80, 0);
    line.set(true);
    expect(calls).toEqual([]);
    expect(line.counters.unrouted).toBe(1);
    isa[0x63] = 11;
    line.sync();
    line.set(true);
    line.set(false);
    line.set(false);
    expect(calls).toEqual(["raise 32", "lower 32"]);
    expect(line.route()).toBe(11);
  });

  it("defers a raise from inside MMIO while the guest has IF set, not with IF clear", () => {
    const on = setup(11, 0x202);
    on.line.inMmio = true;
    on.line.set(true);
    expect(on.calls).toEqual([]);
    expect(on.line.counters.deferred).toBe(1);
    on.line.inMmio = false;
    on.line.sync();
    expect(on.calls).toEqual(["raise 32"]);
    const off = setup(11, 0x002);
    off.line.inMmio = true;
    off.line.set(true);
    expect(off.calls).toEqual(["raise 32"]);
  });

  it("saves its state as named fields and still restores the older [level, asserted, irq] tuple", () => {
    const { line } = setup(11, 0);
    line.set(true);
    expect(line.saveState()).toEqual({ level: true, asserted: true, assertedIrq: 11 });
    const older = setup(11, 0).line;
    older.restoreState([true, true, 11]);
    expect(older.saveState()).toEqual({ level: true, asserted: true, assertedIrq: 11 });
  });

  it("honours INTx Disable and mirrors the level in Status.IS", () => {
    const { line, calls, space } = setup(11, 0);
    space[1] = 1 << 10;
    line.set(true);
    expect(calls).toEqual([]);
    expect(space[1] & (1 << 19)).not.toBe(0);
    space[1] = 0;
    line.sync();
    expect(calls).toEqual(["raise 32"]);
  });
});

describe("INTx lines sharing an IRQ", () => {
  /** A CPU whose PIC keeps one level per IRQ, as v86's does; PCI functions route as v86's PCI does. */
  function board(flags: number) {
    const pic = new Set<number>();
    const isa = new Uint8Array(256);
    isa.set([10, 10, 11, 11], 0x60); // SeaBIOS's PIRQ A..D
    const memory = new WebAssembly.Memory({ initial: 1 });
    new Int32Array(memory.buffer, 120, 1)[0] = flags;
    const spaces = new Map<number, Int32Array>();
    const irqOf = (id: number) => isa[0x60 + (((spaces.get(id)![0x3c >> 2] >> 8) - 1 + (id >> 3) - 1) & 3)];
    const cpu = {
      wasm_memory: memory, flags: { byteOffset: 120 },
      device_raise_irq: (irq: number) => pic.add(irq),
      device_lower_irq: (irq: number) => pic.delete(irq),
      devices: { pci: { isa_bridge_space8: isa, raise_irq: (id: number) => cpu.device_raise_irq(irqOf(id)), lower_irq: (id: number) => cpu.device_lower_irq(irqOf(id)) } },
    };
    const line = (slot: number) => {
      const space = new Int32Array(64);
      space[0x3c >> 2] = 1 << 8; // pin A
      spaces.set(slot << 3, space);
      return new IntxLine(cpu as unknown as V86Cpu, slot << 3, space);
    };
    return { pic, cpu, line };
  }

  it("raises the IRQ again at once when another device lowers it and the guest has IF clear", () => {
    const { pic, cpu, line } = board(0x002);
    const nvme = line(4);
    nvme.set(true);
    expect(pic.has(11)).toBe(true);
    cpu.device_lower_irq(11); // v86's virtio reading its ISR
    expect(pic.has(11)).toBe(true);
    expect(nvme.counters.reasserted).toBe(1);
    nvme.set(false);
    expect(pic.has(11)).toBe(false);
    cpu.device_lower_irq(11);
    expect(nvme.counters.reasserted).toBe(1); // low already: nothing to hold
  });

  it("with IF set, raises it again from the next sync (the timer hook), never inside the lower", () => {
    const { pic, cpu, line } = board(0x202);
    const nvme = line(4);
    nvme.set(true);
    cpu.device_lower_irq(11);
    expect(pic.has(11)).toBe(false);
    nvme.sync();
    expect(pic.has(11)).toBe(true);
    expect(nvme.counters.raises).toBe(2);
  });

  it("keeps the IRQ high while either of two functions on it asks, and lets it go with the last", () => {
    const { pic, line } = board(0x002);
    const a = line(4); // PIRQD: IRQ 11
    const b = line(8); // (0 + 7) & 3: PIRQD too
    a.set(true);
    b.set(true);
    a.set(false);
    expect(pic.has(11)).toBe(true);
    expect(b.counters.reasserted).toBe(1);
    b.set(false);
    expect(pic.has(11)).toBe(false);
    expect(a.counters.reasserted).toBe(0);
  });
});

describe.skipIf(!HAVE_BIOS)("in v86 with SeaBIOS (bios-256k.bin)", () => {
  let emulator: V86 | undefined;
  afterEach(async () => {
    await emulator?.destroy();
    emulator = undefined;
  });

  /** Starts v86 with SeaBIOS; `plug` attaches the device at emulator-loaded. */
  async function start(plug: (e: V86) => unknown) {
    const bios = readFileSync(join(BIOS_DIR, "bios-256k.bin"));
    emulator = new V86({ wasm_path: WASM, bios: { buffer: bios.buffer.slice(bios.byteOffset, bios.byteOffset + bios.length) }, memory_size: 32 << 20, autostart: false, disable_speaker: true });
    const e = emulator;
    await new Promise<void>((resolve) => e.add_listener("emulator-loaded", () => resolve()));
    const cpu = (e as unknown as { v86: { cpu: V86Cpu } }).v86.cpu;
    const biosLog: string[] = [""];
    cpu.io.register_read(0x402, null, () => 0xe9); // SeaBIOS writes its debug log to port 0x402 when it reads 0xe9 there
    cpu.io.register_write(0x402, null, (b: number) => (b === 10 ? biosLog.push("") : (biosLog[biosLog.length - 1] += String.fromCharCode(b))));
    await plug(e);
    e.run();
    return { e, cpu, biosLog };
  }

  async function boot() {
    let att: NvmeAttachment | undefined;
    let dev: StandIn | undefined;
    const r = await start((e) => {
      att = new NvmeAttachment(e as never, quiet);
      dev = new StandIn(att.host);
      att.plug(dev);
    });
    return { ...r, att: att!, dev: dev! };
  }

  async function until(what: string, cond: () => boolean, ms = 15000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  // Config cycles through ports 0xCF8/0xCFC; v86 latches the answer when 0xCF8 is written.
  function config32(cpu: V86Cpu, reg: number, write?: number): number {
    const select = () => cpu.io.port_write32(0xcf8, (0x80000000 | (4 << 11) | reg) | 0);
    select();
    if (write !== undefined) {
      cpu.io.port_write32(0xcfc, write | 0);
      select();
    }
    return cpu.io.port_read32(0xcfc) >>> 0;
  }

  // The PIC lives in the wasm module (its ports never reach JS io handlers): read its state.
  // Slave: [irq_mask, irq_map, isr, irr, ..., 10: elcr, 11: irq_value].
  const slavePic = (cpu: V86Cpu) => (cpu as unknown as { get_state_pic(): number[][] }).get_state_pic()[5];

  it("is enumerated by SeaBIOS as a 16 KiB 64-bit BAR, answers where SeaBIOS put it, routed to level IRQ 11", async () => {
    const { cpu, att, dev, biosLog } = await boot();
    await until("the BIOS NVMe probe", () => dev.reads.includes(0x08) && dev.reads.includes(0x00));
    const placed = /PCI: map device bdf=00:04\.0 +bar 0, addr ([0-9a-f]+), size 00004000 \[mem\]/.exec(biosLog.join("\n"));
    expect(placed?.[1]).toBe("febf0000"); // below the IOAPIC, not the power-on 0xF0000000
    expect(biosLog.join("\n")).toMatch(/PCI: init bdf=00:04\.0 id=1234:4e56/);
    expect(config32(cpu, 0x10)).toBe(0xfebf0004);
    expect(config32(cpu, 0x14)).toBe(0);
    expect(att.bar0Address()).toBe(0xfebf0000); // the BIOS's NVMe probe above went there
    expect(config32(cpu, 0x10, 0xffffffff)).toBe(0xffffc004);
    expect(config32(cpu, 0x14, 0xffffffff)).toBe(0xffffffff);
    expect(config32(cpu, 0x14, 0)).toBe(0);
    expect(config32(cpu, 0x10, 0xfebf0000)).toBe(0xfebf0004);
    expect(att.bar0Address()).toBe(0xfebf0000);
    expect(config32(cpu, 0x08) >>> 8).toBe(0x010802);
    expect(att.irq()).toBe(11);
    expect(slavePic(cpu)[10] & (1 << 3)).not.toBe(0); // ELCR: IRQ 11 level-triggered
    expect(att.counters.mmioErrors + att.counters.tickErrors).toBe(0);
  });

  it("calls tick from the timer hook and drives INTx as a level on IRQ 11", async () => {
    const { cpu, att, dev } = await boot();
    await until("routing", () => att.irq() === 11);
    const before = att.counters.timerHookCalls;
    await until("timer hook calls", () => att.counters.timerHookCalls > before + 50);
    expect(dev.ticks).toBe(att.counters.timerHookCalls);
    dev.wantIrq = true;
    await until("a raise", () => att.counters.raises === 1);
    expect(slavePic(cpu)[11] & (1 << 3)).not.toBe(0); // line high
    expect(slavePic(cpu)[3] & (1 << 3)).not.toBe(0); // requested (masked by SeaBIOS, so still pending)
    dev.wantIrq = false;
    await until("a lower", () => att.counters.lowers === 1);
    expect(slavePic(cpu)[11] & (1 << 3)).toBe(0);
    expect(slavePic(cpu)[3] & (1 << 3)).toBe(0); // level mode: the request goes with the line
    expect(att.counters.raises).toBe(1); // called on changes only, though tick sets it every time
  });

  it("raises IRQ 11 again when another device lowers it while the controller holds it (v86's virtio does on each ISR read)", async () => {
    const { cpu, att, dev } = await boot();
    await until("routing", () => att.irq() === 11);
    dev.wantIrq = true;
    await until("a raise", () => att.counters.raises === 1);
    cpu.device_lower_irq(11);
    await until("the line raised again", () => (slavePic(cpu)[11] & (1 << 3)) !== 0);
    expect(att.counters.reasserted).toBeGreaterThanOrEqual(1);
    expect(slavePic(cpu)[3] & (1 << 3)).not.toBe(0); // requested again
  });

  it("lets v86 sleep in HLT no longer than the device's next due time", async () => {
    const { cpu, dev } = await boot();
    const own = cpu.run_hardware_timers(false, performance.now());
    expect(own).toBeGreaterThan(0.5); // v86's own next timer event
    dev.due = 0.25;
    expect(cpu.run_hardware_timers(false, performance.now())).toBe(0.25);
    dev.due = Infinity;
  });

  it("resets the controller on a guest reboot, and the BIOS probes it again", async () => {
    const { e, att, dev } = await boot();
    await until("the BIOS NVMe probe", () => dev.reads.includes(0x08));
    dev.reads.length = 0;
    e.restart();
    expect(att.counters.reboots).toBe(1);
    expect(dev.resets).toBe(1);
    await until("the second probe", () => dev.reads.includes(0x08));
  });

  it("lets SeaBIOS boot from namespace 1 through attachNvme, with nvme-read-end bus events", async () => {
    // Boot sector: ds=0; print "BOOTED-FROM-NVME" on COM1 byte by byte; cli; hlt.
    const mbr = new Uint8Array(512);
    mbr.set([0x31, 0xc0, 0x8e, 0xd8, 0xba, 0xf8, 0x03, 0xbe, 0x14, 0x7c, 0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, 0xfa, 0xf4]);
    mbr.set(new TextEncoder().encode("BOOTED-FROM-NVME"), 0x14);
    mbr.set([0x55, 0xaa], 510);
    const disk = new MemoryBackend(8 << 20);
    disk.write(0, mbr);
    let serial = "";
    const reads: unknown[] = [];
    let nvme: Awaited<ReturnType<typeof attachNvme>> | undefined;
    await start(async (e) => {
      e.add_listener("serial0-output-byte", (b: number) => (serial += String.fromCharCode(b)));
      // Not in v86.d.ts's event map: listen through the untyped signature.
      (e as unknown as { add_listener(n: string, f: (a: unknown) => void): void }).add_listener("nvme-read-end", (a) => reads.push(a));
      nvme = await attachNvme(e, { drive: disk, name: "nvme9", ...quiet });
    });
    await until("the boot sector's message", () => serial.includes("BOOTED-FROM-NVME"), 30000);
    expect(reads[0]).toEqual([1, 512, 1, "nvme9"]);
    expect(nvme!.counters.readEvents).toBe(reads.length);
    expect(nvme!.counters.mmioErrors + nvme!.counters.tickErrors).toBe(0);
  });

  it("travels inside v86's save_state and comes back with restore_state", async () => {
    const { e, dev } = await boot();
    await until("a register write", () => dev.regs.size > 0);
    const file = await e.save_state();
    expect(file.byteLength).toBeGreaterThan(32 << 20 >> 8);
    await e.restore_state(file);
    const s = dev.restored as { regs: Map<number, number>; words: Uint32Array; note: string; n: bigint };
    expect(s.words).toEqual(new Uint32Array([1, 2, 0xffffffff]));
    expect([s.note, s.n]).toEqual(["x", 12n]);
    expect(s.regs).toBeInstanceOf(Map);
    expect(s.regs.size).toBeGreaterThan(0);
  });
});
