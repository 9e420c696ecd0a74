// One NVMe function plugged into a running v86: PCI registration, BAR0 MMIO, INTx, JIT
// invalidation, the timer and reboot hooks, save/restore and bus events. Independent of how the
// controller is built: `host` is handed to the controller, `plug()` takes the controller.
//
// Hooks are installed by wrapping methods on the CPU instance (v86 looks them up on the object
// at every call), each wrapper calling the one it replaced:
// - run_hardware_timers(acpi, now): called by the wasm main loop after every batch of ~100k
//   guest instructions and from HLT, right before v86 delivers pending IRQs. The device's tick
//   runs there, and INTx raises deferred out of MMIO handlers are applied (see intx.ts). Its
//   return value (ms until the next timer event) bounds how long v86 sleeps in HLT.
//   `counters.timerHookCalls` lets a test prove the hook still fires on a new v86.
// - reboot_internal(): every guest reboot (keyboard controller reset, port 0xCF9, the
//   0xCF8 write trick) and emulator.restart(). v86 resets only its own devices and keeps guest
//   RAM, so the controller must forget every guest address here.
// - get_state()/set_state(): v86's save_state() serialises the array cpu.get_state() returns
//   (JSON plus a block of typed arrays) and restore_state() hands it back to cpu.set_state().
//   The wrappers add one entry (index 256) holding every attached device's saveState() and,
//   after v86 restored CPU, RAM, PIC and PCI config spaces, restore each device from it; a file
//   without the entry resets the device. Details in state.ts. Disk contents are not in it.

import type { IntxCounters, IntxState } from "./intx.ts";
import { IntxLine } from "./intx.ts";
import type { MmioCounters, MmioTarget } from "./mmio.ts";
import { createMmioHandlers } from "./mmio.ts";
import { apicAccess } from "./apic-message.ts";
import { MsixVectors } from "./msix.ts";
import { registerNvmeFunction } from "./pci-function.ts";
import { Bar0Decoder } from "./bar-decoder.ts";
import { joinSaveState } from "./state.ts";
import { PCI_COMMAND_BUS_MASTER } from "../pci/config-space.ts";
import type { LogLevel } from "../state/context.ts";
import type { ControllerHost, GuestRam } from "../controller/controller.ts";
import { consoleLog } from "../backends/log.ts";
import { normalizeOptionNames } from "../backends/option-names.ts";
import { SUPPORTED_V86_RANGE, TESTED_V86_VERSION, V86_PARTS, type V86Cpu, type V86Emulator } from "./v86-types.ts";

/** What the controller gets from the emulator: its ControllerHost with every hook present. */
export type DeviceHost = Required<ControllerHost>;

/** The controller as the adapter drives it. */
export interface AttachableDevice extends MmioTarget {
  readonly name: string;
  tick(nowMs: number): void;
  /** Milliseconds until the device needs its next tick (Infinity: nothing due). */
  nextDueMs?(nowMs: number): number;
  /** The guest halted: signal what is held back for a due time now. */
  idle?(): void;
  reset(): void;
  saveState(): unknown;
  restoreState(state: unknown): void;
  readonly counters: Record<string, number>;
}

export interface PlacementOptions extends DeprecatedPlacementOptions {
  /** Device name for logs, bus events and the save-state entry (default "nvme0"). */
  name?: string;
  /** PCI device number on bus 0 (default 4: INTA routes to IRQ 11, shared with nothing). */
  slot?: number;
  /**
   * BAR0's guest-physical address at power-on, above guest RAM (default 0xF0000000). The firmware
   * and the guest may move it (SeaBIOS puts it at 0xFEBF0000); MMIO follows (bar-decoder.ts).
   */
  barAddress?: number;
  /** PCI vendor ID, also Identify Controller's VID (default 0x1D1D). */
  vendorId?: number;
  deviceId?: number;
  /** PCI subsystem vendor ID, also Identify Controller's SSVID (default: vendorId). */
  subsystemVendorId?: number;
  subsystemId?: number;
  revision?: number;
  /**
   * Offer MSI-X (one vector, all queues) as well as INTx (default false). Needs v86's `acpi: true`
   * (without it the guest sees no local APIC and keeps INTx) and a v86 whose wasm exports
   * get_apic_addr and handle_irqs; on one without them it is ignored with a warning.
   */
  msix?: boolean;
  /** Where messages go (default: console). */
  log?: (level: LogLevel, msg: string) => void;
}

/** The names of 0.1: they work until the next release, with a deprecation notice (option-names.ts). */
export interface DeprecatedPlacementOptions {
  /** @deprecated Use barAddress. */
  bar_address?: number;
  /** @deprecated Use vendorId. */
  vendor_id?: number;
  /** @deprecated Use deviceId. */
  device_id?: number;
  /** @deprecated Use subsystemVendorId. */
  subsystem_vendor_id?: number;
  /** @deprecated Use subsystemId. */
  subsystem_id?: number;
}

export interface AdapterCounters extends IntxCounters, MmioCounters {
  timerHookCalls: number;
  tickErrors: number;
  reboots: number;
  dirtyRanges: number;
  readEvents: number;
  writeEvents: number;
}

export const DEFAULT_SLOT = 4;
export const DEFAULT_BAR_ADDRESS = 0xf0000000;

/** The paths of V86_PARTS that `emulator` lacks or has with the wrong type. */
export function missingV86Parts(emulator: unknown): string[] {
  return V86_PARTS.filter(([path, kind]) => {
    let v: unknown = emulator;
    for (const key of path.split(".")) v = v == null ? undefined : (v as Record<string, unknown>)[key];
    if (kind === "memory") return !(v instanceof WebAssembly.Memory);
    if (kind === "object") return v === null || typeof v !== "object";
    return typeof v !== kind;
  }).map(([path]) => path);
}

/** The emulator's CPU, once `emulator` is a loaded V86 with everything the adapter hooks. */
function checkV86(emulator: V86Emulator): V86Cpu {
  if (emulator === null || typeof emulator !== "object" || typeof emulator.add_listener !== "function") {
    throw new TypeError("attachNvme: the first argument must be a V86 emulator (new V86({...}) from the v86 package)");
  }
  if (!emulator.v86?.cpu) throw new Error("attachNvme: call it at the emulator-loaded event (emulator.v86.cpu is not set up)");
  const missing = missingV86Parts(emulator);
  if (missing.length > 0) {
    throw new Error(
      `attachNvme: this v86 lacks what the NVMe adapter hooks: ${missing.join(", ")} ` +
        `(v86-nvme works with v86 ${SUPPORTED_V86_RANGE} and is tested with v86 ${TESTED_V86_VERSION}; install one of those)`,
    );
  }
  return emulator.v86.cpu;
}

export class NvmeAttachment<D extends AttachableDevice = AttachableDevice> {
  readonly name: string;
  readonly emulator: V86Emulator;
  readonly cpu: V86Cpu;
  readonly options: PlacementOptions;
  readonly counters: AdapterCounters;
  readonly host: DeviceHost;
  device: D | undefined;
  pciId = -1;
  intx: IntxLine | undefined;
  msix: MsixVectors | undefined;
  /** The function's live config space (v86's; the guest's config writes land there). */
  private configSpace: Int32Array | undefined;
  private decoder: Bar0Decoder | undefined;
  private pendingLevel = false;
  /** The controller's interrupt level (INTx follows it unless MSI-X is enabled). */
  private level = false;
  private hltView: Uint8Array | undefined;
  private readonly logFn: (level: LogLevel, msg: string) => void;

  constructor(emulator: V86Emulator, options: PlacementOptions = {}) {
    const cpu = checkV86(emulator);
    if ((emulator as { is_running?: () => boolean }).is_running?.()) {
      throw new Error("attachNvme: the emulator is already running; create it with autostart: false and call run() after attaching");
    }
    this.emulator = emulator;
    this.cpu = cpu;
    this.options = normalizeOptionNames("controller", options, "attachNvme");
    this.name = options.name ?? "nvme0";
    this.logFn = options.log ?? consoleLog;
    this.counters = {
      raises: 0, lowers: 0, deferred: 0, unrouted: 0, reasserted: 0,
      mmioReads: 0, mmioWrites: 0, mmioByteAccesses: 0, mmioErrors: 0,
      timerHookCalls: 0, tickErrors: 0, reboots: 0, dirtyRanges: 0, readEvents: 0, writeEvents: 0,
    };
    const self = this;
    this.host = {
      setIrq(level) {
        self.level = level;
        if (self.intx) self.intx.set(level && !self.msix?.enabled()); // PCI: no INTx while MSI-X is on
        else self.pendingLevel = level; // before plug(): remembered, applied once routed
      },
      pulse() {
        self.msix?.signal(0);
      },
      markDirty(start, end) {
        if (end > start) {
          self.counters.dirtyRanges++;
          cpu.jit_dirty_cache(start, end);
        }
      },
      // v86 sleeps while the guest halts: its idle wake-up makes the main loop (and our tick) run now.
      wake: () => cpu.stop_idling?.(),
      log: (level, msg) => this.logFn(level, msg),
      ioDone(kind, bytes, sectors, nsid) {
        if (kind === "read") self.counters.readEvents++;
        else self.counters.writeEvents++;
        // Shaped like v86's ide-read-end/ide-write-end: [unit, bytes, sectors] (+ device name).
        emulator.emulator_bus.send(kind === "read" ? "nvme-read-end" : "nvme-write-end", [nsid, bytes, sectors, self.name]);
      },
      // Config writes never reach the device in v86: the command register is read where it lives.
      busMaster: () => self.configSpace === undefined || (self.configSpace[1] & PCI_COMMAND_BUS_MASTER) !== 0,
    };
  }

  /** Guest RAM inside v86's wasm memory, read now (never hard-coded: both depend on the build). */
  guestRam(): GuestRam {
    return { memory: this.cpu.wasm_memory, ramBase: this.cpu.mem8.byteOffset, ramSize: this.cpu.memory_size[0] };
  }

  private say(level: LogLevel, msg: string): void {
    this.logFn(level, `${this.name}: ${msg}`);
  }

  /** Puts the device on the bus. Call once, before the emulator runs. */
  plug(device: D): this {
    if (this.device) throw new Error(`${this.name}: already plugged`);
    const o = this.options;
    const bar0Address = o.barAddress ?? DEFAULT_BAR_ADDRESS;
    const apic = o.msix ? apicAccess(this.cpu) : undefined;
    if (o.msix && !apic) this.say("warn", "msix: this v86 exports no get_apic_addr/handle_irqs; INTx only");
    let decoder: Bar0Decoder | undefined;
    const { pciId, space } = registerNvmeFunction(
      this.cpu,
      {
        name: this.name,
        slot: o.slot ?? DEFAULT_SLOT,
        bar0Address,
        bar0Size: device.bar0Size,
        vendorId: o.vendorId,
        deviceId: o.deviceId,
        subsystemVendorId: o.subsystemVendorId,
        subsystemId: o.subsystemId,
        revision: o.revision,
        msixVectors: apic ? 1 : 0,
      },
      () => decoder?.follow(),
    );
    this.device = device;
    this.pciId = pciId;
    this.configSpace = space;
    // One counter object: the INTx and MMIO layers count straight into it.
    const intx = new IntxLine(this.cpu, pciId, space, this.counters);
    this.intx = intx;
    const msix = apic ? new MsixVectors(apic, space, 1, () => intx.inMmio, (m) => this.say("warn", m)) : undefined;
    this.msix = msix;
    // The MSI-X table and PBA share BAR0 with the controller (its method looked up at each access).
    const target: MmioTarget = !msix ? device : {
      bar0Size: device.bar0Size,
      mmioRead32: (off) => (msix.covers(off) ? msix.read32(off) : device.mmioRead32(off)),
      mmioWrite32: (off, v) => (msix.covers(off) ? msix.write32(off, v) : device.mmioWrite32(off, v)),
    };
    // Offsets into BAR0: the decoder puts the window where BAR0 says and passes offsets.
    const h = createMmioHandlers(0, target, intx, (l, m) => this.say(l, m), this.counters);
    decoder = new Bar0Decoder(this.cpu, device.bar0Size, space, h, (l, m) => this.say(l, m));
    this.decoder = decoder;
    decoder.follow();
    if (this.pendingLevel) intx.set(true);
    this.installHooks();
    joinSaveState(this.cpu, {
      name: this.name,
      save: () => ({ intx: intx.saveState(), device: device.saveState(), ...(msix ? { msix: msix.saveState() } : {}) }),
      restore: (s) => {
        // v86 restored the config space first: BAR0 answers where the guest last put it.
        decoder.follow();
        const st = s as { intx: IntxState; device: unknown; msix?: unknown } | null;
        msix?.restoreState(st?.msix);
        try {
          device.restoreState(st?.device);
        } catch (e) {
          // The rest of the machine is already the snapshot's: the device must not keep addresses
          // of the one before. It comes up reset, and the refusal goes to the caller.
          this.say("error", `${e instanceof Error ? e.message : String(e)}: the device is reset`);
          device.reset();
          intx.restoreState({ level: false, asserted: false, assertedIrq: -1 });
          throw e;
        }
        intx.restoreState(st!.intx);
      },
      missing: () => {
        this.say("warn", "restored state has no entry for this device: resetting it");
        decoder.follow();
        device.reset();
        msix?.reset();
        intx.restoreState({ level: false, asserted: false, assertedIrq: -1 });
      },
    });
    return this;
  }

  /** The plugged controller. */
  get controller(): D {
    if (!this.device) throw new Error(`${this.name}: no controller plugged yet`);
    return this.device;
  }

  /** Where BAR0 is decoded now (undefined: nowhere, e.g. mid size probe), memory space enabled or not. */
  bar0Address(): number | undefined {
    return this.decoder?.address;
  }

  /** The IRQ the BIOS routed INTA to (-1 before routing). */
  irq(): number {
    return this.intx ? this.intx.route() : -1;
  }

  private onTick(now: number): void {
    this.counters.timerHookCalls++;
    try {
      this.device!.tick(now);
    } catch (e) {
      this.counters.tickErrors++;
      this.say("error", `tick failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    }
    if (this.msix) {
      // The guest may have flipped MSI-X Enable since (config writes are not reported).
      this.msix.poll();
      const intx = this.level && !this.msix.enabled();
      if (intx !== this.intx!.level) this.intx!.set(intx);
    }
    this.intx!.sync();
  }

  /** Whether the guest is halted (HLT) right now. */
  private halted(): boolean {
    const v = this.cpu.in_hlt;
    if (!v) return false;
    const buf = this.cpu.wasm_memory.buffer;
    if (!this.hltView || this.hltView.buffer !== buf) this.hltView = new Uint8Array(buf, v.byteOffset, 1);
    return this.hltView[0] !== 0;
  }

  private onReboot(): void {
    this.counters.reboots++;
    this.device!.reset();
    this.intx!.reset();
    this.msix?.functionReset();
  }

  private installHooks(): void {
    const cpu = this.cpu;
    const timers = cpu.run_hardware_timers;
    const reboot = cpu.reboot_internal;
    const self = this;
    // The return value is how long v86 may sleep when the guest halts: no longer than the device
    // needs. An interrupt held back for aggregation is not waited for while the guest halts: v86
    // would sleep until a host timer or the next turn of the event loop, which on a loaded host
    // comes milliseconds late (at QD 1 every I/O paid it), and a halted guest has nothing to
    // aggregate with. It is signalled at once and delivered right after this hook.
    cpu.run_hardware_timers = function (this: V86Cpu, acpi: boolean, now: number): number {
      const next = timers.call(this, acpi, now);
      self.onTick(now);
      let due = self.device!.nextDueMs?.(now) ?? Infinity;
      if (due !== Infinity && self.device!.idle && self.halted()) {
        self.device!.idle();
        self.intx!.sync();
        due = self.device!.nextDueMs!(now);
      }
      return due < next ? due : next;
    };
    cpu.reboot_internal = function (this: V86Cpu): void {
      self.onReboot();
      reboot.call(this);
      self.decoder?.reclaim(); // v86's load_bios may have mapped over BAR0's block
    };
  }
}
