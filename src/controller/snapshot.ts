// Snapshots: everything needed to resume a controller. Registers, the hot path's state region
// (queues, doorbells, shadow addresses, reservations), features, health, the error log, and the
// commands still in flight, which are executed again on restore (none of them has completed, so
// nothing acknowledged is lost). A snapshot fits only a controller configured the same way: its
// queue ids, namespace sizes and limits are baked into the guest's state. Injected faults and the
// command trace are the host's and stay out: a restore keeps them and forgets the commands a
// fault holds at the time (the snapshot's own commands in flight run again, without faults).

import { Command } from "../command.ts";
import { MAX_QUEUES } from "../hotpath.ts";
import { AER_LIMIT } from "../state/async-events.ts";
import { ERROR_LOG_ENTRIES, type ErrorLogState } from "../state/error-log.ts";
import type { ControllerConfig } from "../state/options.ts";
import { applyCoalescing } from "../admin/features.ts";
import { resumeSanitize } from "../admin/sanitize.ts";
import { checkDataState, restoreDataState, saveDataState, type DataState } from "../state/data-state.ts";
import { CSTS_RDY } from "../spec/registers.ts";
import { ERROR_ENTRY_SIZE } from "../spec/logs.ts";
import * as O from "../spec/opcodes.ts";
import { checkRegisters, Registers, type RegisterHooks, type RegisterState } from "./registers.ts";
import { plainFields, assignPlainFields, type PlainFields } from "./plain-fields.ts";
import type { Device } from "./device.ts";
import { optionName } from "../backends/option-names.ts";
import { checkNamespaces, saveNamespaces, type SavedNamespaces } from "../state/namespaces.ts";

/** The configuration a snapshot depends on, named like the options of 0.1 that set it (the snapshot format keeps these names). */
export interface SnapshotConfig {
  max_ioqpairs: number;
  mqes: number;
  mdts: number;
  shadow_doorbells: boolean;
  volatile_write_cache: boolean;
}

export interface ControllerSnapshot {
  version: 1;
  /** Absent in snapshots from before it was recorded: not checked then. */
  config?: SnapshotConfig;
  regs: RegisterState;
  hot: Uint8Array;
  features: PlainFields;
  health: PlainFields;
  errors?: ErrorLogState;
  /** Formats, uncorrectable blocks, sanitize status; absent in older snapshots. */
  data?: DataState;
  inflight: Command[];
  aers: Command[];
  telemetry: Record<string, number>;
  /** Absent in snapshots from before namespaces could change: the table then stays as it is. */
  namespaces?: SavedNamespaces;
}

const U32 = 0xffffffff;
const NO_HOOKS: RegisterHooks = { enable: () => false, reset() {}, shutdown() {}, maskChanged() {} };

function snapshotConfig(d: Device): SnapshotConfig {
  const c: ControllerConfig = d.config;
  return {
    max_ioqpairs: c.maxIoQueues,
    mqes: c.mqes,
    mdts: c.mdts,
    shadow_doorbells: c.shadowDoorbells,
    volatile_write_cache: c.volatileWriteCache,
  };
}

/** Throws, naming the first field where the snapshot's configuration differs from `d`'s. */
function checkConfig(d: Device, saved: SnapshotConfig): void {
  const ours = snapshotConfig(d);
  for (const key of Object.keys(ours) as (keyof SnapshotConfig)[]) {
    const a = JSON.stringify(saved[key]);
    const b = JSON.stringify(ours[key]);
    if (a !== b) throw new Error(`${d.name}: the snapshot was taken with ${optionName("controller", key)} ${a}, this controller has ${b}`);
  }
}

export function saveSnapshot(d: Device): ControllerSnapshot {
  return {
    version: 1,
    config: snapshotConfig(d),
    regs: d.regs.save(),
    hot: d.hotPath.saveState(),
    features: plainFields(d.features),
    health: plainFields(d.health),
    errors: d.errors.save(),
    data: saveDataState(d),
    inflight: d.inflight.all().map((c) => c.clone()),
    aers: d.events.parkedRequests().map((c) => c.clone()),
    telemetry: d.telemetry.snapshot(),
    namespaces: saveNamespaces(d.nsTable),
  };
}

/** Command fields a snapshot keeps, with the largest value each can hold. */
const COMMAND_FIELDS: Array<[keyof Command, number]> = [
  ["sqid", MAX_QUEUES - 1], ["cqid", MAX_QUEUES - 1], ["opcode", 0xff], ["flags", 0xff], ["cid", 0xffff],
  ["nsid", U32], ["cdw10", U32], ["cdw11", U32], ["cdw12", U32], ["cdw13", U32], ["cdw14", U32], ["cdw15", U32],
  ["prp1Lo", U32], ["prp1Hi", U32], ["prp2Lo", U32], ["prp2Hi", U32], ["dw0", U32], ["dw1", U32], ["mptrLo", U32], ["mptrHi", U32],
];
/** Fields older snapshots lack: 0 when absent. */
const NEWER_COMMAND_FIELDS = new Set<keyof Command>(["mptrLo", "mptrHi"]);

/** A saved command's fields, each an integer in range; nothing else is taken from it. */
function checkCommand(saved: unknown, what: string): Command {
  if (!saved || typeof saved !== "object") throw new Error(`${what} is not a command`);
  const c = new Command();
  const fields = c as unknown as Record<string, number>;
  for (const [k, max] of COMMAND_FIELDS) {
    const v = (saved as Record<string, unknown>)[k] ?? (NEWER_COMMAND_FIELDS.has(k) ? 0 : undefined);
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) throw new Error(`${what} has ${k} ${String(v)}`);
    fields[k] = v;
  }
  return c;
}

/** Small state objects (features, health): known fields of the same type, numbers finite and not negative. */
function checkPlain(saved: unknown, target: object, what: string): void {
  if (!saved || typeof saved !== "object") throw new Error(`${what} missing`);
  const t = target as Record<string, unknown>;
  for (const [k, v] of Object.entries(saved)) {
    if (!(k in t) || typeof t[k] !== typeof v) continue; // another version's field: ignored, as assignPlainFields does
    if (typeof v === "number" && !(Number.isFinite(v) && v >= 0)) throw new Error(`${what} field ${k} is ${v}`);
  }
}

interface CheckedSnapshot {
  regs: RegisterState;
  data?: DataState;
  inflight: Command[];
  aers: Command[];
  namespaces: () => void;
}

/**
 * Checks every field of a snapshot as if the guest had written it, before anything is taken: the
 * registers, the hot path's queues and shadow pages (inside guest RAM, consistent with the
 * registers), features, health, the error log, and the commands in flight (on existing queues,
 * command ids unique, each holding the CQ slot its queue has reserved). Throws naming what is wrong.
 */
function checkSnapshot(d: Device, s: ControllerSnapshot): CheckedSnapshot {
  if (!s || typeof s !== "object" || s.version !== 1) throw new Error("unknown snapshot version");
  if (s.config) checkConfig(d, s.config);
  const regs = checkRegisters(s.regs);
  const hot = d.hotPath.checkState(s.hot, { maxQueueId: d.config.maxIoQueues, mqes: d.config.mqes, adminEntries: 4096 });
  const ready = (regs.csts & CSTS_RDY) !== 0;
  const admin = hot.sqs.get(0);
  const adminCq = hot.cqs.get(0);
  if (!ready && (hot.sqs.size || hot.cqs.size || hot.shadow)) throw new Error("queues exist on a controller that is not ready");
  if (ready) {
    const r = new Registers(d.config, NO_HOOKS);
    r.restore(regs);
    if (!admin || !adminCq || admin.size !== r.adminSqSize || adminCq.size !== r.adminCqSize) {
      throw new Error("the admin queues differ from AQA on a ready controller");
    }
  }
  checkPlain(s.features, d.features, "features");
  checkPlain(s.health, d.health, "health");
  const f = s.features as Record<string, unknown>;
  for (const k of ["coalesceThreshold", "coalesceTime"]) if (typeof f[k] === "number" && (f[k] as number) > 0xff) throw new Error(`features field ${k} is ${f[k]}`);
  if (s.errors !== undefined) checkErrorLog(s.errors);
  if (s.telemetry !== undefined && (s.telemetry === null || typeof s.telemetry !== "object")) throw new Error("telemetry is not a record");
  if (!Array.isArray(s.inflight) || !Array.isArray(s.aers)) throw new Error("commands in flight missing");
  if (s.aers.length > AER_LIMIT) throw new Error(`${s.aers.length} parked Asynchronous Event Requests (at most ${AER_LIMIT})`);
  const inflight = s.inflight.map((c, i) => checkCommand(c, `command ${i} in flight`));
  const aers = s.aers.map((c, i) => checkCommand(c, `parked request ${i}`));
  const ids = new Set<string>();
  const held = new Map<number, number>();
  for (const [c, parked] of [...inflight.map((c) => [c, false] as const), ...aers.map((c) => [c, true] as const)]) {
    const what = `command ${c.cid} of SQ ${c.sqid}`;
    const sq = hot.sqs.get(c.sqid);
    if (!sq || sq.cqid !== c.cqid) throw new Error(`${what} is on no queue of the snapshot`);
    if (parked && (c.sqid !== 0 || c.opcode !== O.ADMIN_ASYNC_EVENT_REQUEST)) throw new Error(`${what} is parked but no Asynchronous Event Request`);
    const id = `${c.sqid}:${c.cid}`;
    if (ids.has(id)) throw new Error(`${what} is in flight twice`);
    ids.add(id);
    held.set(c.cqid, (held.get(c.cqid) ?? 0) + 1);
  }
  for (const [q, cq] of hot.cqs) {
    if (cq.reserved !== (held.get(q) ?? 0)) throw new Error(`CQ ${q} reserves ${cq.reserved} slots for ${held.get(q) ?? 0} commands in flight`);
  }
  const namespaces = checkNamespaces(d.nsTable, s.namespaces);
  const data = s.data === undefined ? undefined : checkDataState(d, s.data);
  return { regs, inflight, aers, namespaces, data };
}

function checkErrorLog(e: unknown): void {
  const s = e as Partial<ErrorLogState> | null;
  if (!s || !(s.ring instanceof Uint8Array) || s.ring.length !== ERROR_LOG_ENTRIES * ERROR_ENTRY_SIZE) throw new Error("error log entries missing");
  if (!Number.isInteger(s.next) || s.next! < 0 || s.next! >= ERROR_LOG_ENTRIES) throw new Error(`error log position ${String(s.next)}`);
  if (!Number.isSafeInteger(s.count) || s.count! < 0) throw new Error(`error count ${String(s.count)}`);
}

/**
 * Restores a snapshot checked whole first: a refused one (throws, naming the field) leaves the
 * controller as it was. The commands in flight run again through the same path as fetched ones.
 */
export function restoreSnapshot(d: Device, s: ControllerSnapshot): void {
  let c: CheckedSnapshot;
  try {
    c = checkSnapshot(d, s);
  } catch (e) {
    throw new Error(`${d.name}: snapshot refused: ${e instanceof Error ? e.message : String(e)}`);
  }
  // Commands outstanding now belong to a past the restore replaces (a hung one too): forgotten.
  if (d.trace.on) d.trace.forget("snapshot restored", d.preciseNow());
  d.inflight.clear();
  d.events.reset();
  c.namespaces();
  d.regs.restore(c.regs);
  d.hotPath.restoreState(s.hot);
  assignPlainFields(d.features, s.features);
  assignPlainFields(d.health, s.health);
  if (s.errors) d.errors.restore(s.errors);
  if (c.data) restoreDataState(d, c.data);
  d.telemetry.restore(s.telemetry);
  // What the registers and features decide is taken from them, not from the saved region.
  d.hotPath.pageSize = d.regs.enabled ? d.regs.pageSize : 4096;
  d.hotPath.interruptMasked = (d.regs.intms & 1) !== 0;
  applyCoalescing(d);
  d.irq = false;
  d.enables = 2; // snapshots are taken of running machines: the host is past its boot firmware
  for (const aer of c.aers) d.events.request(aer);
  if (c.data) resumeSanitize(d);
  d.afterDma(() => {
    for (const cmd of c.inflight) d.run(cmd);
    d.afterWork();
  });
  d.resendIrq();
}
