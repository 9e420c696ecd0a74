// The NVMe controller as its users see it: BAR0 (registers and doorbells), the timer tick, reset,
// snapshots, counters and the run-time switches. It knows nothing of any emulator: it is given a
// WebAssembly.Memory holding guest RAM and a ControllerHost (interrupt line, dirty-memory sink,
// log). Its inside is a Device (device.ts), whose SQs Polling (polling.ts) serves.

import type { GuestRam } from "../hotpath.ts";
import type { HotPath } from "../hotpath.ts";
import { normalizeNvmeOptionNames, normalizeOptions, type ControllerConfig, type DoorbellPolicy, type NvmeOptions } from "../state/options.ts";
import { applyCoalescing } from "../admin/features.ts";
import { DOORBELL_BASE } from "../spec/queue.ts";
import { Device, type ControllerHost } from "./device.ts";
import { Polling } from "./polling.ts";
import type { NamespaceOptions } from "../state/options.ts";
import type { NamespaceInfo, NamespaceTable } from "../state/namespaces.ts";
import type { BlockBackend } from "../backends/block-backend.ts";
import { normalizeOptionNames } from "../backends/option-names.ts";
import { namespacesChanged } from "../admin/namespace-management.ts";
import { saveSnapshot, restoreSnapshot, type ControllerSnapshot } from "./snapshot.ts";
import type { FaultSpec, InjectedFault } from "./faults.ts";
import type { CommandTraceEntry } from "./command-trace.ts";

export type { ControllerHost, ControllerSnapshot, GuestRam, NvmeOptions, NamespaceInfo };

/** What a further controller of an NVM subsystem takes from the controller it shares with. */
const SUBSYSTEM_OPTIONS = ["namespaces", "serial", "model", "firmware", "nn", "guestCapacity", "createBackend", "vendorId", "subsystemVendorId"] as const;
type SubsystemOptions = (typeof SUBSYSTEM_OPTIONS)[number];

/**
 * A further controller in `sharedWith`'s NVM subsystem: the same namespaces (attached to both),
 * subsystem NQN, serial, model, firmware, NN and capacity; its own registers, queues, interrupts,
 * features, logs and CNTLID (the next free one).
 */
export interface SharedControllerOptions extends Omit<NvmeOptions, SubsystemOptions | "guest_capacity" | "vendor_id" | "subsystem_vendor_id"> {
  sharedWith: NvmeController;
}

export const BAR0_SIZE = 0x4000;

const devices = new WeakMap<NvmeController, Device>();
/** Each controller's inside by its namespace table: the controllers of a subsystem find each other. */
const byTable = new WeakMap<NamespaceTable, Device>();

/** The controller's inside, for tests that check the hot path's state (not part of the public API). */
export function deviceOf(c: NvmeController): Device {
  return devices.get(c)!;
}

/** The controller's hot path, for tests (not part of the public API). */
export function hotPathOf(c: NvmeController): HotPath {
  return deviceOf(c).hotPath;
}

export class NvmeController {
  readonly config: ControllerConfig;
  readonly name: string;
  readonly bar0Size = BAR0_SIZE;
  readonly #device: Device;
  readonly #polling: Polling;

  private constructor(device: Device) {
    this.#device = device;
    this.#polling = new Polling(device);
    this.config = device.config;
    this.name = device.name;
    devices.set(this, device);
    byTable.set(device.nsTable, device);
  }

  /** A controller with its namespaces, or (`sharedWith`) a further controller of another's NVM subsystem. */
  static async create(options: NvmeOptions | SharedControllerOptions, ram: GuestRam, host: ControllerHost): Promise<NvmeController> {
    const peer = options && "sharedWith" in options ? devices.get(options.sharedWith) : undefined;
    if (options && "sharedWith" in options && !peer) throw new Error("NvmeController.create: sharedWith must be an NvmeController");
    const named = normalizeNvmeOptionNames(peer ? subsystemOptions(options as SharedControllerOptions, peer) : (options as NvmeOptions), "NvmeController.create");
    const config = normalizeOptions(named); // fail on bad options before touching the memory
    return new NvmeController(await Device.create(config, named, ram, host, peer));
  }

  // ---- BAR0 ----

  mmioRead32(off: number): number {
    if (off >= DOORBELL_BASE) return 0; // doorbells read back nothing defined
    return this.#device.regs.read(off) >>> 0;
  }

  mmioWrite32(off: number, value: number): void {
    if (off < DOORBELL_BASE) this.#device.regs.write(off, value >>> 0);
    else if (this.#device.regs.enabled && (off & 3) === 0) this.#polling.doorbellWritten((off - DOORBELL_BASE) >>> 2, value >>> 0);
  }

  // ---- Time ----

  /**
   * Timer hook: poll every queue (writing EventIdx where one is found empty), run coalescing
   * timers. `nowMs` is the emulator's clock (default performance.now()).
   */
  tick(nowMs?: number): void {
    const d = this.#device;
    if (!d.regs.serving) return;
    d.telemetry.ticks++;
    d.startRound(nowMs);
    this.#polling.tick();
  }

  /**
   * Milliseconds until the device next needs a tick (Infinity: nothing due): when an aggregated
   * interrupt falls due. An emulator whose guest halts sleeps no longer. (Queues kept awake need
   * nothing here: a halting guest's HLT runs a tick at once, which finds what it left in them.)
   */
  nextDueMs(nowMs: number): number {
    return this.#device.nextDueMs(nowMs);
  }

  /**
   * The emulator's guest halted, waiting for an interrupt: interrupts held back for aggregation
   * are signalled now instead of when their time runs out (nextDueMs), which would wait for a
   * host timer that a loaded host fires late.
   */
  idle(): void {
    if (this.#device.regs.serving) this.#device.releaseHeldInterrupts();
  }

  /** Machine reset (power cycle, guest reboot): registers to power-on values, all state gone. */
  reset(): void {
    this.#device.powerCycle();
  }

  // ---- Run-time switches ----

  /** Switches the polling policy at run time (the page's shadow doorbell switch). */
  setDoorbellPolicy(policy: DoorbellPolicy, idleUs = this.#polling.idleUs): void {
    if (policy !== "eager" && policy !== "awake") throw new Error(`${this.name}: unknown doorbell policy ${policy}`);
    if (!(idleUs >= 0 && idleUs <= 1_000_000)) throw new Error(`${this.name}: doorbell idle time out of range`);
    this.#polling.policy = policy;
    this.#polling.idleUs = idleUs;
  }

  get doorbellPolicy(): DoorbellPolicy {
    return this.#polling.policy;
  }

  /** Sets Interrupt Coalescing from outside the guest (as its Set Features 08h would). */
  setInterruptCoalescing(threshold: number, time: number): void {
    const d = this.#device;
    d.features.coalesceThreshold = threshold & 0xff;
    d.features.coalesceTime = time & 0xff;
    applyCoalescing(d);
  }

  /** The aggregation threshold (0's based entries) and time (100 us units) in effect; 0/0 = off. */
  get interruptCoalescing(): { threshold: number; time: number } {
    return this.#device.features.effectiveCoalescing();
  }

  // ---- Namespaces ----

  /**
   * Adds a namespace on `o.backend` at the lowest free NSID (or `o.nsid`), attached, and tells
   * the guest (Namespace Attribute Changed notice): Linux shows it as a new block device without
   * a rescan. Returns the NSID; throws on bad options or when all NN NSIDs are taken.
   */
  addNamespace(o: NamespaceOptions & { nsid?: number }): number {
    const { nsid, ...ns } = normalizeOptionNames("namespace", o, "addNamespace");
    const d = this.#device;
    const id = d.nsTable.addHost(ns, nsid);
    d.log("info", `namespace ${id} added: ${ns.backend.byteLength} bytes`);
    namespacesChanged(d);
    return id;
  }

  /**
   * Detaches and frees namespace `nsid`, telling the guest. New commands to it are refused at
   * once (Invalid Field); commands already in flight on it run to their end, then the backend is
   * flushed, so every write the guest was told about is on it when the promise resolves with it.
   * In a subsystem of several controllers it leaves all of them, each telling its host.
   */
  async removeNamespace(nsid: number): Promise<BlockBackend> {
    const d = this.#device;
    const e = d.nsTable.remove(nsid);
    if (!e) throw new Error(`${this.name}: no namespace ${nsid}`);
    d.log("info", `namespace ${nsid} removed`);
    namespacesChanged(d);
    // A command a fault holds (delayed, hung) has nothing under way on the backend: not waited for.
    const busy = (x: Device) => x.inflight.all().some((c) => c.sqid !== 0 && c.nsid === nsid && !x.faultHeld.has(c));
    while (d.nsTable.controllers.some((t) => { const x = byTable.get(t); return x !== undefined && busy(x); })) await new Promise((r) => setTimeout(r, 1));
    await e.ns.backend.flush();
    return e.ns.backend;
  }

  /** This controller's ID in its NVM subsystem (Identify Controller CNTLID: 1, then 2, ... for controllers sharing it). */
  get controllerId(): number {
    return this.#device.nsTable.cntlid;
  }

  /** Every allocated namespace: NSID, size, block size, whether attached (to this controller), who made it, its backend. */
  namespaces(): NamespaceInfo[] {
    return this.#device.nsTable.info();
  }

  // ---- Fault injection and the command trace (the host's: not in snapshots) ----

  /** Injects a fault into the I/O commands that match it (the trace records from now on); throws naming a bad field. */
  injectFault(spec: FaultSpec): InjectedFault {
    const d = this.#device;
    const f = d.faults.inject(spec);
    d.trace.start();
    d.log("info", `fault ${f.id} injected: ${JSON.stringify(spec)}`);
    return f;
  }

  /** The faults injected and not cleared, with how often each fired. */
  faults(): InjectedFault[] {
    return this.#device.faults.list();
  }

  /** Clears fault `id` (throws for an unknown one), or every fault. */
  clearFaults(id?: number): void {
    this.#device.faults.clear(id);
  }

  /** The last commands completed, oldest first: from the start with traceLength given, else since the first fault injected. */
  trace(): CommandTraceEntry[] {
    return this.#device.trace.entries();
  }

  // ---- Snapshots and counters ----

  saveState(): ControllerSnapshot {
    return saveSnapshot(this.#device);
  }

  /** Refuses (throws) a snapshot of another version or of a controller configured differently. */
  restoreState(s: ControllerSnapshot): void {
    restoreSnapshot(this.#device, s);
  }

  get counters(): Record<string, number> {
    const d = this.#device;
    return { ...d.hotPath.counters(), ...d.telemetry.snapshot(), inflight: d.inflight.size, aersOutstanding: d.events.outstanding, irq: d.irq ? 1 : 0 };
  }
}

/** A sharing controller's options: its own, and the subsystem's from the controller it shares with (namespaces stand in for the check only). */
function subsystemOptions(o: SharedControllerOptions, peer: Device): NvmeOptions {
  for (const k of SUBSYSTEM_OPTIONS) {
    if ((o as unknown as Record<string, unknown>)[k] !== undefined) throw new Error(`NvmeController.create: ${k} comes from the controller it shares with (sharedWith)`);
  }
  const { sharedWith: _s, ...own } = o;
  const c = peer.config;
  const namespaces = peer.nsTable.entries().map((e) => ({ backend: e.ns.backend }));
  return { volatileWriteCache: c.volatileWriteCache, ...own, namespaces, serial: c.serial, model: c.model, firmware: c.firmware, vendorId: c.vendorId, subsystemVendorId: c.subsystemVendorId, nn: c.nn, guestCapacity: c.guestCapacity };
}
