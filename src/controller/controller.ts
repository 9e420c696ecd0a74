// The NVMe controller: BAR0 registers and doorbells, the enable/reset/shutdown sequence, command
// dispatch between the hot path (asm/: rings, doorbells, PRPs, interrupts) and the handlers
// (admin/, io/), in-flight tracking for asynchronous completions, and snapshots. It knows nothing
// of any emulator: a ControllerHost gives it an interrupt line and a dirty-memory sink.

import { HotPath, type GuestRam } from "../hotpath.ts";
import { Dma } from "../dma.ts";
import { Command } from "../command.ts";
import { PENDING, type Device } from "../device.ts";
import { Namespace } from "../io/namespace.ts";
import { executeIo } from "../io/nvm.ts";
import { executeAdmin } from "../admin/index.ts";
import { applyCoalescing } from "../admin/features.ts";
import { FeatureState } from "../admin/feature-state.ts";
import { AsyncEvents } from "./async-events.ts";
import { ErrorLog, type ErrorLogState } from "./error-log.ts";
import { Health } from "./health.ts";
import { Registers, type RegisterState } from "./registers.ts";
import { normalizeOptions, type ControllerConfig, type DoorbellPolicy, type NvmeOptions } from "./options.ts";
import { Telemetry } from "./telemetry.ts";
import { RateLimitedLog } from "./rate-limited-log.ts";
import { InflightCommands } from "./inflight.ts";
import { plainFields, assignPlainFields, type PlainFields } from "./plain-fields.ts";
import * as L from "../../asm/layout.ts";
import * as S from "../spec/status.ts";
import * as O from "../spec/opcodes.ts";
import * as LOG from "../spec/logs.ts";
import { DOORBELL_BASE } from "../spec/queue.ts";

export interface ControllerHost {
  /** INTx line level; called on every change. */
  setIrq(level: boolean): void;
  /** The device stored into guest-physical [start, end): stale JIT code there must go. */
  markDirty(start: number, end: number): void;
  /** Messages already carry the device name. */
  log(level: "info" | "warn" | "error", msg: string): void;
  /** Run a tick soon (an emulator whose guest halted may be asleep until its next timer event). */
  wake?(): void;
  /** A data transfer finished (for bus events). */
  ioDone?(kind: "read" | "write", bytes: number, sectors: number, nsid: number): void;
}

export type { GuestRam, NvmeOptions };

export interface ControllerSnapshot {
  version: 1;
  regs: RegisterState;
  hot: Uint8Array;
  features: PlainFields;
  health: PlainFields;
  errors?: ErrorLogState;
  inflight: Command[];
  aers: Command[];
  telemetry: Record<string, number>;
}

export const BAR0_SIZE = 0x4000;

export class NvmeController implements Device {
  readonly config: ControllerConfig;
  readonly name: string;
  readonly bar0Size = BAR0_SIZE;
  readonly dma: Dma;
  readonly namespaces: Namespace[];
  readonly features: FeatureState;
  readonly events: AsyncEvents;
  readonly errors = new ErrorLog();
  readonly health = new Health();
  readonly telemetry = new Telemetry();
  private readonly regs: Registers;
  private readonly cmd = new Command();
  private readonly inflight = new InflightCommands();
  private irq = false;
  private policy: DoorbellPolicy;
  private idleUs: number;
  /** When each SQ last had an entry (ms): the awake policy arms a queue only after it idled. */
  private readonly lastBusy = new Float64Array(L.MAX_QUEUES);
  /** Most entries one poll of each SQ found since the previous tick, and in the tick before. */
  private readonly batch = new Uint32Array(L.MAX_QUEUES);
  private readonly deep = new Uint32Array(L.MAX_QUEUES);
  private readonly roundFound = new Uint32Array(L.MAX_QUEUES);
  private batchThreshold: number;
  private readonly badDoorbellLog: RateLimitedLog;

  private constructor(options: NvmeOptions, readonly hp: HotPath, private readonly host: ControllerHost) {
    this.config = normalizeOptions(options);
    this.name = this.config.name;
    this.policy = this.config.doorbellPolicy;
    this.idleUs = this.config.doorbellIdleUs;
    this.batchThreshold = this.config.doorbellBatch;
    this.dma = new Dma(hp);
    this.namespaces = options.namespaces.map((o, i) => new Namespace(i + 1, o, this.config.serial));
    this.features = new FeatureState(this.config);
    // Parked AERs complete straight away; a reset drops them inside AsyncEvents.
    this.events = new AsyncEvents((c, s) => {
      this.post(c, s);
      this.afterWork();
    }, (l, m) => this.log(l, m), () => this.features.asyncEventConfig);
    this.regs = new Registers(this.config, {
      enable: () => this.enable(),
      reset: () => this.resetQueues(),
      shutdown: () => this.shutdown(),
      maskChanged: (m) => {
        this.hp.setU32(L.ST_INT_MASKED, m ? 1 : 0);
        this.updateIrq();
      },
    });
    this.badDoorbellLog = new RateLimitedLog((m) => this.log("warn", m));
  }

  static async create(options: NvmeOptions, ram: GuestRam, host: ControllerHost): Promise<NvmeController> {
    normalizeOptions(options); // fail on bad options before touching the memory
    return new NvmeController(options, await HotPath.create(ram, options.wasm), host);
  }

  // ---- Device (what handlers see) ----

  get ioSqEntryShift(): number {
    return this.regs.ioSqEntryShift;
  }

  get ioCqEntryShift(): number {
    return this.regs.ioCqEntryShift;
  }

  now(): number {
    return performance.now();
  }

  log(level: "info" | "warn" | "error", msg: string): void {
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

  complete(cmd: Command, status: number): void {
    if (!this.inflight.release(cmd)) return; // reset, aborted or its SQ deleted since
    this.post(cmd, status);
    this.afterWork();
    // Completed outside any tick with its interrupt held back for aggregation: a halted guest
    // would otherwise sleep until its next timer event.
    if (!this.irq && this.nextDueMs(this.roundMs) !== Infinity) this.host.wake?.();
  }

  /** Abort (admin 08h): an in-flight command completes now as aborted; its late result is dropped. */
  abort(sqid: number, cid: number): boolean {
    const c = this.inflight.take(sqid, cid) ?? (sqid === 0 ? this.events.abort(cid) : undefined);
    if (!c) return false;
    this.post(c, S.SCT_GENERIC | S.SC_ABORT_REQUESTED);
    return true;
  }

  abortSqCommands(sqid: number): void {
    for (const c of this.inflight.takeSq(sqid)) this.post(c, S.SCT_GENERIC | S.SC_ABORTED_SQ_DELETION);
  }

  // ---- BAR0 ----

  mmioRead32(off: number): number {
    if (off >= DOORBELL_BASE) return 0; // doorbells read back nothing defined
    return this.regs.read(off) >>> 0;
  }

  mmioWrite32(off: number, value: number): void {
    if (off >= DOORBELL_BASE) this.doorbell(off, value >>> 0);
    else this.regs.write(off, value >>> 0);
  }

  private doorbell(off: number, value: number): void {
    if (!this.regs.enabled || (off & 3) !== 0) return;
    const idx = (off - DOORBELL_BASE) >>> 2;
    const qid = idx >>> 1;
    const isCq = (idx & 1) === 1;
    const exists = qid < L.MAX_QUEUES && (isCq ? this.hp.x.cqExists(qid) : this.hp.x.sqExists(qid));
    if (!exists) return this.invalidDoorbell(idx, LOG.AE_ERR_INVALID_DB_REGISTER, value);
    const size = isCq ? this.hp.x.cqSize(qid) : this.hp.x.sqSize(qid);
    if (value >= size) return this.invalidDoorbell(idx, LOG.AE_ERR_INVALID_DB_VALUE, value);
    this.hp.x.dbStoreMmio(idx, value);
    if (isCq) this.runQueues(false); // room in the CQ may let waiting SQs go on; the line may drop
    else this.kick(qid);
  }

  private invalidDoorbell(idx: number, info: number, value: number): void {
    const what = info === LOG.AE_ERR_INVALID_DB_REGISTER ? "write to invalid doorbell" : "invalid doorbell value";
    this.badDoorbellLog.note(`${what} ${idx} (${idx & 1 ? "CQ" : "SQ"} ${idx >>> 1}) value ${value}`);
    this.telemetry.invalidDoorbellWrites++;
    // The async event points the host at the error log: give it an entry to find there.
    this.errors.record(undefined, 0xffff, S.SCT_GENERIC | S.SC_INVALID_FIELD);
    this.events.raise(LOG.AE_TYPE_ERROR, info, LOG.LID_ERROR_INFO);
  }

  // ---- Processing ----

  /** An SQ tail doorbell was rung. */
  private kick(qid: number): void {
    const arm = this.policy === "eager";
    let n = 0;
    for (;; n++) {
      const r = this.hp.x.sqFetch(qid, arm ? 1 : 0);
      if (r > 0) this.execute(qid, r & 0xffff);
      else break;
    }
    if (n > this.batch[qid]) this.batch[qid] = n;
    this.afterWork();
  }

  /**
   * Serves every SQ round-robin until none has an entry; with `arm`, a last pass polls each queue
   * idle for the grace time, which writes its EventIdx when it is empty (and serves whatever
   * raced in).
   */
  private runQueues(arm: boolean): void {
    const found = this.roundFound;
    found.fill(0);
    for (;;) {
      let q: number;
      while ((q = this.hp.x.fetchNext(0)) >= 0) {
        found[q & 0xffff]++;
        this.execute(q & 0xffff, q >>> 16);
      }
      if (!arm || !this.pollIdleQueues()) break;
    }
    for (let q = 0; q < found.length; q++) if (found[q] > this.batch[q]) this.batch[q] = found[q];
    this.afterWork();
  }

  /**
   * Polls (arming) every queue that is not kept awake; true when one had an entry after all. With
   * the awake policy a queue stays awake (probed, not armed) while it is busy: it had an entry
   * within doorbell_idle_us, or one poll since the previous tick found doorbell_batch entries at
   * once (the host keeps a deep queue: it would otherwise ring MMIO for every batch).
   */
  private pollIdleQueues(): boolean {
    const limit = this.hp.u32(L.ST_SQ_LIMIT);
    const awake = this.policy === "awake";
    const idleMs = this.idleUs / 1000;
    let found = false;
    for (let q = 0; q < limit; q++) {
      if (awake && (this.roundMs - this.lastBusy[q] < idleMs || this.deep[q] >= this.batchThreshold || this.roundFound[q] >= this.batchThreshold)) continue;
      const r = this.hp.x.sqFetch(q, 1);
      if (r > 0) {
        this.execute(q, r & 0xffff);
        found = true;
      }
    }
    return found;
  }

  /**
   * Milliseconds until the device next needs a tick (Infinity: nothing due): when an aggregated
   * interrupt falls due. An emulator whose guest halts sleeps no longer. (Queues kept awake need
   * nothing here: a halting guest's HLT runs a tick at once, which finds what it left in them.)
   */
  nextDueMs(nowMs: number): number {
    if (!this.regs.enabled) return Infinity;
    const time = this.hp.u32(L.ST_COALESCE_TIME);
    if (time === 0) return Infinity;
    let due = Infinity;
    const limit = this.hp.u32(L.ST_CQ_LIMIT);
    for (let q = 1; q < limit; q++) {
      const c = L.ST_CQ + q * L.CQ_ENTRY;
      if (this.hp.u32(c + L.CQ_UNSIGNALLED) === 0 || this.hp.u32(c + L.CQ_SIGNALLED) !== 0) continue;
      due = Math.min(due, (this.hp.u32(c + L.CQ_FIRST_POST) + time) / 10 - nowMs);
    }
    return Math.max(0, due);
  }

  /** Switches the polling policy at run time (the page's shadow doorbell switch). */
  setDoorbellPolicy(policy: DoorbellPolicy, idleUs = this.idleUs): void {
    if (policy !== "eager" && policy !== "awake") throw new Error(`${this.name}: unknown doorbell policy ${policy}`);
    if (!(idleUs >= 0 && idleUs <= 1_000_000)) throw new Error(`${this.name}: doorbell idle time out of range`);
    this.policy = policy;
    this.idleUs = idleUs;
  }

  get doorbellPolicy(): DoorbellPolicy {
    return this.policy;
  }

  /** Sets Interrupt Coalescing from outside the guest (as its Set Features 08h would). */
  setInterruptCoalescing(threshold: number, time: number): void {
    this.features.coalesceThreshold = threshold & 0xff;
    this.features.coalesceTime = time & 0xff;
    applyCoalescing(this);
  }

  /** A poll found a doorbell (shadow slot) holding a value no queue position can have. */
  private reportBadDoorbell(): void {
    const idx = this.hp.u32(L.ST_BAD_DB) - 1;
    this.hp.setU32(L.ST_BAD_DB, 0);
    this.invalidDoorbell(idx, LOG.AE_ERR_INVALID_DB_VALUE, this.hp.x.dbValue(idx));
  }

  private execute(sqid: number, cqid: number): void {
    this.lastBusy[sqid] = this.roundMs;
    const cmd = this.cmd.load(this.hp, sqid, cqid);
    this.telemetry.command(sqid === 0, cmd.opcode);
    let status: number;
    try {
      status = this.cidInUse(cmd) ? S.SCT_GENERIC | S.SC_CID_CONFLICT | S.STATUS_DNR
        : sqid === 0 ? executeAdmin(this, this, cmd) : executeIo(this, cmd);
    } catch (e) {
      this.log("error", `command ${cmd.opcode.toString(16)} on SQ ${sqid} failed: ${e instanceof Error ? e.stack : e}`);
      status = S.SCT_GENERIC | S.SC_INTERNAL_ERROR;
    }
    if (status !== PENDING) this.post(cmd, status);
  }

  /**
   * A command whose CID is still outstanding on its SQ: the two could not be told apart in the
   * completion (or by Abort), and the second would replace the first in flight, losing it.
   */
  private cidInUse(cmd: Command): boolean {
    if (this.inflight.size !== 0 && this.inflight.has(cmd.sqid, cmd.cid)) return true;
    return cmd.sqid === 0 && this.events.outstanding !== 0 && this.events.isParked(cmd.cid);
  }

  private post(cmd: Command, status: number): void {
    if (status !== 0) this.errors.record(cmd, cmd.sqid, status, errorLba(cmd, status));
    this.hp.x.cqPost(cmd.cqid, cmd.sqid, cmd.cid, status, cmd.dw0, cmd.dw1, this.roundTicks);
  }

  /** After a batch: set the interrupt line, handing the emulator every range stored into first. */
  private afterWork(): void {
    if (this.hp.u32(L.ST_BAD_DB) !== 0) this.reportBadDoorbell();
    this.updateIrq();
  }

  private updateIrq(): void {
    const level = this.hp.x.irqLevel(this.roundTicks) !== 0;
    // irqLevel may have written CQ head EventIdx slots: those are dirty ranges too.
    this.hp.drainDirty((s, e) => this.host.markDirty(s, e));
    if (level === this.irq) return;
    this.irq = level;
    if (level) this.telemetry.interrupts++;
    this.host.setIrq(level);
  }

  /**
   * The device's clock: read at each timer tick (every ~100k guest instructions in v86), not per
   * command. Aggregation time (in 100 us ticks) and the awake policy's idle time only need that
   * resolution, and a clock read per doorbell costs more than the rest of a small command.
   */
  private roundTicks = 0;
  private roundMs = 0;
  private startRound(nowMs = performance.now()): void {
    this.roundMs = nowMs;
    this.roundTicks = Math.floor(nowMs * 10) >>> 0;
  }

  /**
   * Timer hook: poll every queue (writing EventIdx where one is found empty), run coalescing
   * timers. `nowMs` is the emulator's clock (default performance.now()).
   */
  tick(nowMs?: number): void {
    if (!this.regs.enabled) return;
    this.telemetry.ticks++;
    this.startRound(nowMs);
    this.deep.set(this.batch);
    this.batch.fill(0);
    this.runQueues(true);
  }

  // ---- Enable, reset, shutdown ----

  private enable(): boolean {
    const r = this.regs;
    const css = (r.cc >>> 4) & 7;
    const mps = (r.cc >>> 7) & 0xf;
    const ams = (r.cc >>> 11) & 7;
    if (css !== 0 || ams !== 0 || mps > 4) {
      this.log("error", `cannot enable: CC 0x${r.cc.toString(16)} asks for an unsupported command set, arbitration or page size`);
      return false;
    }
    this.hp.setU32(L.ST_PAGE_SIZE, r.pageSize);
    const okSq = this.hp.x.sqCreate(0, r.asqLo, r.asqHi, r.adminSqSize, 0);
    const okCq = this.hp.x.cqCreate(0, r.acqLo, r.acqHi, r.adminCqSize, 1);
    if (!okSq || !okCq) {
      this.log("error", `cannot enable: admin queues (ASQ 0x${r.asqHi.toString(16)}_${r.asqLo.toString(16)}, ACQ 0x${r.acqHi.toString(16)}_${r.acqLo.toString(16)}, AQA 0x${r.aqa.toString(16)}) lie outside guest RAM or are too small`);
      this.resetQueues();
      return false;
    }
    return true;
  }

  /** Controller reset: every queue, shadow page and in-flight command is forgotten. */
  private resetQueues(): void {
    this.inflight.clear();
    this.events.reset();
    this.features.reset();
    const masked = this.regs.intms & 1;
    this.hp.x.reset();
    this.hp.setU32(L.ST_INT_MASKED, masked);
    this.updateIrq();
  }

  private shutdown(): void {
    const waits = this.namespaces.map((ns) => ns.backend.flush()).filter((r): r is Promise<void> => r instanceof Promise);
    if (waits.length === 0) this.regs.shutdownDone();
    else Promise.all(waits).then(() => this.regs.shutdownDone(), (e) => {
      this.log("error", `flush at shutdown failed: ${e}`);
      this.regs.shutdownDone();
    });
  }

  /** Machine reset (power cycle, guest reboot): registers to power-on values, all state gone. */
  reset(): void {
    this.resetQueues();
    this.regs.powerOn();
    this.hp.setU32(L.ST_INT_MASKED, 0);
    this.health.powerCycles++;
    this.updateIrq();
  }

  // ---- Snapshots ----

  /**
   * Everything needed to resume: registers, the hot path's state region (queues, doorbells,
   * shadow addresses, reservations), features, and the commands still in flight, which are
   * executed again on restore (none of them has completed, so nothing acknowledged is lost).
   */
  saveState(): ControllerSnapshot {
    return {
      version: 1,
      regs: this.regs.save(),
      hot: this.hp.saveState(),
      features: plainFields(this.features),
      health: plainFields(this.health),
      errors: this.errors.save(),
      inflight: this.inflight.all().map((c) => c.clone()),
      aers: this.events.parkedRequests().map((c) => c.clone()),
      telemetry: this.telemetry.snapshot(),
    };
  }

  restoreState(s: ControllerSnapshot): void {
    if (!s || s.version !== 1) throw new Error(`${this.name}: unknown snapshot version`);
    this.inflight.clear();
    this.events.reset();
    this.regs.restore(s.regs);
    this.hp.restoreState(s.hot);
    assignPlainFields(this.features, s.features);
    assignPlainFields(this.health, s.health);
    if (s.errors) this.errors.restore(s.errors);
    this.telemetry.restore(s.telemetry);
    this.irq = false;
    for (const saved of s.aers) this.events.request(Object.assign(new Command(), saved));
    for (const saved of s.inflight) {
      const c = Object.assign(new Command(), saved);
      const status = c.sqid === 0 ? executeAdmin(this, this, c) : executeIo(this, c);
      if (status !== PENDING) this.post(c, status);
    }
    this.afterWork();
    this.host.setIrq(this.irq);
  }

  get counters(): Record<string, number> {
    return { ...this.hp.counters(), ...this.telemetry.snapshot(), inflight: this.inflight.size, aersOutstanding: this.events.outstanding, irq: this.irq ? 1 : 0 };
  }
}

const MEDIA_LBA_OPCODES = new Set([O.IO_READ, O.IO_WRITE, O.IO_COMPARE, O.IO_WRITE_ZEROES, O.IO_WRITE_UNCORRECTABLE]);

/** The Error Information entry's LBA: the first LBA of an I/O command that failed on the medium. */
function errorLba(cmd: Command, status: number): { lba: number } | undefined {
  if (cmd.sqid === 0 || (status & S.SCT_MASK) !== S.SCT_MEDIA || !MEDIA_LBA_OPCODES.has(cmd.opcode)) return undefined;
  return { lba: cmd.cdw10 + cmd.cdw11 * 2 ** 32 };
}
