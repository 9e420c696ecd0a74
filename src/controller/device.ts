// The controller's inside: the hot path, the register file and the enable/reset/shutdown sequence,
// command dispatch to the handlers (admin/, io/), in-flight commands, completions and the INTx
// line. It is the context handlers are given (HandlerContext); users see NvmeController instead.

import { HotPath, type GuestRam } from "../hotpath.ts";
import { Dma } from "../dma.ts";
import { Command } from "../command.ts";
import type { HandlerContext, LogLevel } from "../state/context.ts";
import type { Namespace } from "../state/namespace.ts";
import { NamespaceTable } from "../state/namespaces.ts";
import { FeatureState } from "../state/feature-state.ts";
import { AsyncEvents } from "../state/async-events.ts";
import { ErrorLog } from "../state/error-log.ts";
import { Health } from "../state/health.ts";
import { SanitizeState } from "../state/sanitize-state.ts";
import type { ControllerConfig, NvmeOptions } from "../state/options.ts";
import { executeIo } from "../io/nvm.ts";
import { executeAdmin } from "../admin/index.ts";
import { raiseNamespaceNotice } from "../admin/namespace-management.ts";
import { Registers, ccUnsupported } from "./registers.ts";
import { Telemetry } from "./telemetry.ts";
import { RateLimitedLog } from "./rate-limited-log.ts";
import { InflightCommands } from "./inflight.ts";
import { FaultTable, type FaultHit } from "./faults.ts";
import { applyFault, type FaultedDevice } from "./fault-effects.ts";
import { CommandTrace } from "./command-trace.ts";
import * as S from "../spec/status.ts";
import type { HandlerResult, Status } from "../spec/status.ts";
import * as O from "../spec/opcodes.ts";
import * as LOG from "../spec/logs.ts";

export interface ControllerHost {
  /** INTx line level; called on every change. */
  setIrq(level: boolean): void;
  /** Edge-signalled hosts (MSI-X): the line rose, or completions were posted while it stayed up. */ pulse?(): void;
  /** The device stored into guest-physical [start, end): stale JIT code there must go. */
  markDirty(start: number, end: number): void;
  /** Messages already carry the device name. */
  log(level: LogLevel, msg: string): void;
  /** Run a tick soon (an emulator whose guest halted may be asleep until its next timer event). */
  wake?(): void;
  /** A data transfer finished (for bus events). */
  ioDone?(kind: "read" | "write", bytes: number, sectors: number, nsid: number): void;
  /** PCI Bus Master Enable: while false the device must not touch guest RAM (default: true). */
  busMaster?(): boolean;
}

export class Device implements HandlerContext, FaultedDevice {
  readonly name: string;
  readonly dma: Dma;
  readonly nsTable: NamespaceTable;
  readonly features: FeatureState;
  readonly events: AsyncEvents;
  readonly errors = new ErrorLog();
  readonly health = new Health();
  readonly sanitize: SanitizeState;
  readonly telemetry = new Telemetry();
  readonly regs: Registers;
  readonly inflight = new InflightCommands();
  /** Injected faults and the command trace: the host's, not the guest's (not in snapshots). */
  readonly faults = new FaultTable();
  readonly trace: CommandTrace;
  /** Commands held by a fault (delayed, hung): no backend work of theirs is under way. */
  readonly faultHeld = new WeakSet<Command>();
  /** Hung commands whose fault refuses Abort: only a reset, their SQ's deletion or a restore ends them. */
  readonly abortRefused = new WeakSet<Command>();
  irq = false; // the INTx level last handed to the host
  /** Enables since power-on: the first is the boot firmware's (see src/admin/subsystem-order.ts). */
  enables = 0;
  private pulsedAt = -1; // cqesPosted at the last pulse()
  /** Doorbell writes that arrived while bus mastering was off, by doorbell index (the last value counts). */
  private readonly heldDoorbells = new Map<number, number>();
  /** Work that touches guest RAM, held while bus mastering is off. */
  private waitingForDma: Array<() => void> = [];
  private readonly badDoorbellLog: RateLimitedLog;

  /**
   * The device's clock: read at each timer tick (every ~100k guest instructions in v86), not per
   * command. Aggregation time (in 100 us ticks) and the awake policy's idle time only need that
   * resolution, and a clock read per doorbell costs more than the rest of a small command.
   */
  clockMs = 0;
  clockTicks = 0;
  /** The device's clock minus performance.now() at the last tick: the clock between ticks. */
  private clockOffset = 0;
  /** The device's clock now, between ticks too (for completions that come later). */
  readonly preciseNow = (): number => performance.now() + this.clockOffset;

  constructor(
    readonly config: ControllerConfig,
    options: NvmeOptions,
    readonly hotPath: HotPath,
    private readonly host: ControllerHost,
    peer?: Device, // another controller: this one joins its NVM subsystem (its namespaces and sanitize status)
  ) {
    this.name = config.name;
    this.trace = new CommandTrace(config.traceLength, options.traceLength !== undefined);
    this.dma = new Dma(hotPath);
    this.nsTable = peer ? NamespaceTable.join(peer.nsTable) : new NamespaceTable(config.nn, config.guestCapacity, config.serial, options.createBackend);
    if (!peer) for (const o of options.namespaces) this.nsTable.addHost(o);
    this.nsTable.clearChanged();
    Object.assign(this.nsTable, {
      notice: () => raiseNamespaceNotice(this),
      hostUp: (polledCounts: boolean) => this.hotPath.hasInterruptingIoCq() || (polledCounts && this.hotPath.hasIoQueues()),
      firmwareTurn: () => this.enables <= 1,
    });
    this.sanitize = peer?.sanitize ?? new SanitizeState(); // Sanitize acts on the whole subsystem
    this.features = new FeatureState(config);
    // Parked AERs complete straight away; a reset drops them inside AsyncEvents.
    this.events = new AsyncEvents((c, s) => this.afterDma(() => {
      this.post(c, s);
      this.afterWork();
    }), (l, m) => this.log(l, m), () => this.features.asyncEventConfig);
    this.regs = new Registers(config, {
      enable: () => this.enable(),
      reset: () => this.resetQueues(),
      shutdown: () => this.shutdown(),
      maskChanged: (m) => {
        this.hotPath.interruptMasked = m;
        this.updateIrq();
      },
    });
    this.badDoorbellLog = new RateLimitedLog((m) => this.log("warn", m));
  }

  static async create(config: ControllerConfig, options: NvmeOptions, ram: GuestRam, host: ControllerHost, peer?: Device): Promise<Device> {
    return new Device(config, options, await HotPath.create(ram, options.wasm), host, peer);
  }

  // ---- HandlerContext ----

  get namespaces(): readonly Namespace[] {
    return this.nsTable.active;
  }

  get ioSqEntryShift(): number { return this.regs.ioSqEntryShift; }
  get ioCqEntryShift(): number { return this.regs.ioCqEntryShift; }

  now(): number {
    return performance.now();
  }

  log(level: LogLevel, msg: string): void {
    this.host.log(level, `${this.name}: ${msg}`);
  }

  ioDone(kind: "read" | "write", bytes: number, nsid: number): void {
    this.telemetry.io(kind, bytes);
    this.host.ioDone?.(kind, bytes, bytes >>> 9, nsid);
  }

  hold(cmd: Command): Command {
    return this.inflight.hold(cmd);
  }

  isHeld(cmd: Command): boolean {
    return this.inflight.holds(cmd);
  }

  complete(cmd: Command, status: Status): void {
    if (!this.dmaAllowed()) return this.afterDma(() => this.complete(cmd, status));
    if (!this.inflight.release(cmd)) return; // reset, aborted or its SQ deleted since
    this.post(cmd, status);
    this.finishedLater();
  }

  /** Runs a command a fault held back (its delay is over) as if fetched now, unless it was aborted or dropped since. */
  runHeld(cmd: Command): void {
    if (!this.dmaAllowed()) return this.afterDma(() => this.runHeld(cmd));
    if (!this.inflight.release(cmd)) return;
    this.run(cmd);
    this.finishedLater();
  }

  private finishedLater(): void {
    this.afterWork();
    // Completed outside any tick with its interrupt held back for aggregation: a halted guest
    // would otherwise sleep until its next timer event.
    if (!this.irq && this.nextDueMs(this.clockMs) !== Infinity) this.host.wake?.();
  }

  /** True while the host lets the device master the bus (PCI command register bit 2). */
  dmaAllowed(): boolean {
    return this.host.busMaster?.() ?? true;
  }

  afterDma(fn: () => void): void {
    if (this.dmaAllowed()) fn();
    else this.waitingForDma.push(fn);
  }

  /** Keeps a doorbell write that arrived while bus mastering was off (a later one to the same doorbell replaces it). */
  holdDoorbell(idx: number, value: number): void {
    this.heldDoorbells.set(idx, value);
  }

  /** The doorbell writes held, in the order their doorbells were first written, and forgets them. */
  takeHeldDoorbells(): Array<[number, number]> | undefined {
    if (this.heldDoorbells.size === 0) return undefined;
    const held = [...this.heldDoorbells];
    this.heldDoorbells.clear();
    return held;
  }

  /** Runs the work held while bus mastering was off, once it is back on. */
  resumeDma(): void {
    if (this.waitingForDma.length === 0 || !this.dmaAllowed()) return;
    const work = this.waitingForDma;
    this.waitingForDma = [];
    for (const fn of work) fn();
  }

  abort(sqid: number, cid: number): boolean {
    const held = this.inflight.get(sqid, cid);
    if (held && this.abortRefused.has(held)) return false; // "not aborted": it stays hung
    const c = this.inflight.take(sqid, cid) ?? (sqid === 0 ? this.events.abort(cid) : undefined);
    if (!c) return false;
    this.post(c, S.ABORT_REQUESTED);
    return true;
  }

  abortSqCommands(sqid: number): void {
    for (const c of this.inflight.takeSq(sqid)) this.post(c, S.ABORTED_SQ_DELETION);
  }

  // ---- Commands ----

  /** Runs a fetched command and posts its completion unless it completes later. */
  execute(cmd: Command): void {
    this.telemetry.command(cmd.sqid === 0, cmd.opcode);
    const trace = this.trace;
    if (trace.on) trace.begin(cmd);
    const hit = this.faults.armed !== 0 ? this.faultFor(cmd) : undefined;
    if (hit) applyFault(this, cmd, hit);
    else this.run(cmd);
    if (trace.on) trace.leave(this.clockMs);
  }

  /** The injected fault that hits `cmd`, if any (none for a command refused for its CID). */
  private faultFor(cmd: Command): FaultHit | undefined {
    if (this.cidInUse(cmd)) return undefined;
    const hit = this.faults.match(cmd);
    if (hit && this.trace.on) this.trace.mark(hit.id);
    return hit;
  }

  /** Checks and runs a command (fetched, or in flight in a restored snapshot); posts unless it completes later. */
  run(cmd: Command): void {
    let result: HandlerResult;
    try {
      result = this.cidInUse(cmd) ? S.CID_CONFLICT : this.dispatch(cmd);
    } catch (e) {
      this.log("error", `command ${cmd.opcode.toString(16)} on SQ ${cmd.sqid} failed: ${e instanceof Error ? e.stack : e}`);
      result = S.INTERNAL_ERROR;
    }
    if (result !== S.LATER) this.post(cmd, result);
  }

  /** Hands a command to its handler. */
  dispatch(cmd: Command): HandlerResult {
    return cmd.sqid === 0 ? executeAdmin(this, cmd) : executeIo(this, cmd);
  }

  /**
   * A command whose CID is still outstanding on its SQ: the two could not be told apart in the
   * completion (or by Abort), and the second would replace the first in flight, losing it.
   */
  private cidInUse(cmd: Command): boolean {
    if (this.inflight.size !== 0 && this.inflight.has(cmd.sqid, cmd.cid)) return true;
    return cmd.sqid === 0 && this.events.outstanding !== 0 && this.events.isParked(cmd.cid);
  }

  post(cmd: Command, status: Status): void {
    if (status !== S.SUCCESS) this.errors.record(cmd, cmd.sqid, status, errorLba(cmd, status));
    this.hotPath.post(cmd, status, this.clockTicks);
    if (this.trace.on) this.trace.end(cmd, status, this.clockMs, this.preciseNow);
  }

  // ---- Doorbells and interrupts ----

  /** A write to a doorbell of no queue, or a value no queue position can have: logged, reported to the host. */
  invalidDoorbell(idx: number, info: number, value: number): void {
    const what = info === LOG.AE_ERR_INVALID_DB_REGISTER ? "write to invalid doorbell" : "invalid doorbell value";
    this.badDoorbellLog.note(`${what} ${idx} (${idx & 1 ? "CQ" : "SQ"} ${idx >>> 1}) value ${value}`);
    this.telemetry.invalidDoorbellWrites++;
    // The async event points the host at the error log: give it an entry to find there.
    this.errors.record(undefined, 0xffff, S.INVALID_FIELD);
    this.events.raise(LOG.AE_TYPE_ERROR, info, LOG.LID_ERROR_INFO);
  }

  /** After a batch: report a bad doorbell a poll found, set the interrupt line. */
  afterWork(): void {
    const bad = this.hotPath.takeBadDoorbell();
    if (bad >= 0) this.invalidDoorbell(bad, LOG.AE_ERR_INVALID_DB_VALUE, this.hotPath.doorbellValue(bad));
    this.updateIrq();
  }

  /**
   * Sets the interrupt line, handing the emulator every range stored into first. `nowTicks`: the
   * time aggregation is judged at (default the device's clock).
   */
  updateIrq(nowTicks = this.clockTicks): void {
    // Without bus mastering the host's CQ heads in the shadow page cannot be read, nor EventIdx
    // written: the line then keeps its level (a mask still drops it).
    const level = this.dmaAllowed() || this.hotPath.shadowPages() === undefined
      ? this.hotPath.irqLevel(nowTicks)
      : this.irq && !this.hotPath.interruptMasked;
    // irqLevel may have written CQ head EventIdx slots: those are dirty ranges too.
    this.hotPath.drainDirty((s, e) => this.host.markDirty(s, e));
    const posted = level && this.host.pulse ? this.hotPath.counters().cqesPosted : -1;
    if (posted >= 0 && (posted !== this.pulsedAt || !this.irq)) { this.pulsedAt = posted; this.host.pulse!(); }
    if (level === this.irq) return;
    this.irq = level;
    if (level) this.telemetry.interrupts++;
    this.host.setIrq(level);
  }

  /** Tells the host the line's level again (after a restore). */
  resendIrq(): void {
    this.host.setIrq(this.irq);
  }

  /** Milliseconds until an aggregated interrupt falls due (Infinity: none). */
  nextDueMs(nowMs: number): number {
    if (!this.regs.serving) return Infinity;
    return Math.max(0, this.hotPath.nextDueTick() / 10 - nowMs);
  }

  /**
   * The host idles until an interrupt comes (a halted guest): interrupts held back for
   * aggregation are signalled now. The aggregation time is the longest they may wait; waiting it
   * out here would only wait for a host timer.
   */
  releaseHeldInterrupts(): void {
    const due = this.hotPath.nextDueTick();
    if (due !== Infinity) this.updateIrq(due >>> 0);
  }

  /** Reads the clock for this round of work (`nowMs`: the emulator's, default performance.now()). */
  startRound(nowMs?: number): void {
    const real = performance.now();
    nowMs ??= real;
    this.clockOffset = nowMs - real;
    this.clockMs = nowMs;
    this.clockTicks = Math.floor(nowMs * 10) >>> 0;
  }

  // ---- Enable, reset, shutdown ----

  private enable(): boolean {
    const r = this.regs;
    if (ccUnsupported(r.cc)) {
      this.log("error", `cannot enable: CC 0x${r.cc.toString(16)} asks for an unsupported command set, arbitration or page size`);
      return false;
    }
    this.hotPath.pageSize = r.pageSize;
    const okSq = this.hotPath.createSq(0, r.asqLo, r.asqHi, r.adminSqSize, 0);
    const okCq = this.hotPath.createCq(0, r.acqLo, r.acqHi, r.adminCqSize, true);
    if (!okSq || !okCq) {
      this.log("error", `cannot enable: admin queues (ASQ 0x${r.asqHi.toString(16)}_${r.asqLo.toString(16)}, ACQ 0x${r.acqHi.toString(16)}_${r.acqLo.toString(16)}, AQA 0x${r.aqa.toString(16)}) lie outside guest RAM or are too small`);
      this.resetQueues();
      return false;
    }
    this.enables++;
    return true;
  }

  /** Controller reset: every queue, shadow page and in-flight command is forgotten. */
  resetQueues(): void {
    if (this.trace.on) this.trace.forget("controller reset", this.preciseNow());
    this.inflight.clear();
    this.heldDoorbells.clear();
    this.waitingForDma = [];
    this.events.reset();
    this.features.reset();
    this.nsTable.controllerReset();
    const masked = (this.regs.intms & 1) !== 0;
    this.hotPath.reset();
    this.hotPath.interruptMasked = masked;
    this.updateIrq();
  }

  private shutdown(): void {
    // Every allocated namespace: a detached one may still hold writes in its backend's cache.
    const waits = this.nsTable.entries().map((e) => e.ns.backend.flush()).filter((r): r is Promise<void> => r instanceof Promise);
    if (waits.length === 0) this.regs.shutdownDone();
    else Promise.all(waits).then(() => this.regs.shutdownDone(), (e) => {
      this.log("error", `flush at shutdown failed: ${e}`);
      this.regs.shutdownDone();
    });
  }

  /** Machine reset (power cycle, guest reboot): registers to power-on values, all state gone. */
  powerCycle(): void {
    this.resetQueues();
    this.regs.powerOn();
    this.hotPath.interruptMasked = false;
    this.enables = 0;
    this.health.powerCycles++;
    this.updateIrq();
  }
}

const MEDIA_LBA_OPCODES = new Set([O.IO_READ, O.IO_WRITE, O.IO_COMPARE, O.IO_WRITE_ZEROES, O.IO_WRITE_UNCORRECTABLE]);

/** The Error Information entry's LBA: the first LBA of an I/O command that failed on the medium. */
function errorLba(cmd: Command, status: Status): { lba: number } | undefined {
  if (cmd.sqid === 0 || S.statusCodeType(status) !== S.SCT_MEDIA || !MEDIA_LBA_OPCODES.has(cmd.opcode)) return undefined;
  return { lba: cmd.cdw10 + cmd.cdw11 * 2 ** 32 };
}
