// Faults the host injects into I/O commands (a storage test lab): an error status instead of the
// command's work, extra latency, or a command that never completes until the guest aborts it or
// resets the controller (or one that refuses the Abort too, so that only a reset ends it). Each fault filters by operation, namespace and LBA range, fires at most
// `count` times with a seeded probability (the same commands give the same fires), and counts its
// fires. Admin commands are never touched: the guest's recovery (Abort, reset) must keep working.
// Faults are host-side debugging state: not in snapshots, kept until clear().

import { mulberry32 } from "../rng.ts";
import type { Command } from "../command.ts";
import * as O from "../spec/opcodes.ts";
import * as S from "../spec/status.ts";

export type FaultOp = "read" | "write" | "flush" | "any";

/** Statuses a fault can complete a command with. "media-error": Unrecovered Read Error for reads, Write Fault for the rest. */
export type FaultStatus =
  | "media-error" | "unrecovered-read" | "write-fault" | "data-transfer-error" | "internal-error" | "aborted"
  | "capacity-exceeded" | "namespace-not-ready";

export interface FaultSpec {
  /** Only commands to this namespace (default: any; a Flush to every namespace matches any). */
  nsid?: number;
  /** read: Read, Compare, Verify; write: Write, Write Zeroes, Zone Append; flush: Flush; any: every I/O command. */
  op: FaultOp;
  /** Only commands whose blocks overlap [start, start + count) (commands without an LBA range never match). */
  lba?: [start: number, count: number];
  /** The status to complete with; default "media-error" unless the fault only delays or hangs. */
  status?: FaultStatus;
  /** Complete this much later: with `status` if given, else the command runs after the delay. */
  delayMs?: number;
  /** Never complete: until the guest aborts the command or resets the controller. */
  hang?: true;
  /**
   * With `hang`: refuse the guest's Abort of the hung command (the Abort succeeds with DW0 bit 0
   * set, "not aborted", and the command stays hung), so that only a controller reset, its SQ's
   * deletion or a restore ends it. Linux's driver then resets the controller at the next timeout.
   */
  refuseAbort?: true;
  /** Fire at most this many times (default: unlimited). */
  count?: number;
  /** Chance that a matching command is hit, 0..1 (default 1). */
  probability?: number;
  /** Seed of the fault's own random sequence for `probability` (default: its id). */
  seed?: number;
}

export interface InjectedFault extends FaultSpec {
  id: number;
  /** Commands it has hit. */
  fired: number;
}

/** What a fault that fired does to one command. */
export interface FaultHit {
  id: number;
  /** Complete with this status (undefined: run the command, after the delay). */
  status?: S.Status;
  delayMs: number;
  hang: boolean;
  /** The hung command refuses Abort. */
  refuseAbort: boolean;
}

const OPS: Record<FaultOp, ReadonlySet<number> | undefined> = {
  read: new Set([O.IO_READ, O.IO_COMPARE, O.IO_VERIFY]),
  write: new Set([O.IO_WRITE, O.IO_WRITE_ZEROES, 0x7d /* Zone Append */]),
  flush: new Set([O.IO_FLUSH]),
  any: undefined,
};

/** I/O commands with SLBA in CDW11:10 and a 0's based block count in CDW12 15:0. */
const LBA_COMMANDS = new Set([O.IO_READ, O.IO_WRITE, O.IO_WRITE_UNCORRECTABLE, O.IO_COMPARE, O.IO_WRITE_ZEROES, O.IO_VERIFY, 0x7d]);

/** The blocks an I/O command touches, or undefined for one without an LBA range. */
export function lbaRange(opcode: number, cdw10: number, cdw11: number, cdw12: number): [slba: number, nlb: number] | undefined {
  return LBA_COMMANDS.has(opcode) ? [cdw10 + cdw11 * 2 ** 32, (cdw12 & 0xffff) + 1] : undefined;
}

const STATUSES: Record<Exclude<FaultStatus, "media-error">, S.Status> = {
  "unrecovered-read": S.UNRECOVERED_READ_ERROR,
  "write-fault": S.WRITE_FAULT,
  "data-transfer-error": S.DATA_TRANSFER_ERROR,
  "internal-error": S.INTERNAL_ERROR,
  aborted: S.ABORT_REQUESTED,
  "capacity-exceeded": S.CAPACITY_EXCEEDED,
  "namespace-not-ready": S.status(S.SCT_GENERIC, S.SC_NAMESPACE_NOT_READY, false),
};

export const FAULT_STATUSES: readonly FaultStatus[] = ["media-error", ...(Object.keys(STATUSES) as FaultStatus[])];
const FIELDS = new Set(["nsid", "op", "lba", "status", "delayMs", "hang", "refuseAbort", "count", "probability", "seed"]);
const MAX_DELAY_MS = 3_600_000;
const BROADCAST_NSID = 0xffffffff;

function fail(field: string, msg: string): never {
  throw new Error(`inject: ${field} ${msg}`);
}

function integer(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) fail(field, `must be an integer in ${min}..${max} (got ${String(v)})`);
  return v;
}

/** A copy of `spec` with every field checked; throws an Error naming the first bad field. */
export function checkFaultSpec(spec: unknown): FaultSpec {
  if (!spec || typeof spec !== "object" || Array.isArray(spec)) throw new Error("inject: the fault must be an object like { op: \"read\" }");
  const o = spec as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!FIELDS.has(k) && o[k] !== undefined) fail(k, `is no fault field (fields: ${[...FIELDS].join(", ")})`);
  if (typeof o.op !== "string" || !(o.op in OPS)) fail("op", `must be one of ${Object.keys(OPS).map((k) => `"${k}"`).join(", ")} (got ${JSON.stringify(o.op)})`);
  const out: FaultSpec = { op: o.op as FaultOp };
  if (o.nsid !== undefined) out.nsid = integer(o.nsid, "nsid", 1, BROADCAST_NSID - 1);
  if (o.lba !== undefined) {
    if (!Array.isArray(o.lba) || o.lba.length !== 2) fail("lba", "must be [start, count]");
    if (out.op === "flush") fail("lba", "cannot go with op \"flush\": a Flush touches no blocks");
    out.lba = [integer(o.lba[0], "lba start", 0, Number.MAX_SAFE_INTEGER), integer(o.lba[1], "lba count", 1, Number.MAX_SAFE_INTEGER)];
  }
  if (o.status !== undefined) {
    if (typeof o.status !== "string" || !FAULT_STATUSES.includes(o.status as FaultStatus)) {
      fail("status", `must be one of ${FAULT_STATUSES.map((s) => `"${s}"`).join(", ")} (got ${JSON.stringify(o.status)})`);
    }
    out.status = o.status as FaultStatus;
  }
  if (o.delayMs !== undefined) {
    if (typeof o.delayMs !== "number" || !(o.delayMs >= 0 && o.delayMs <= MAX_DELAY_MS)) fail("delayMs", `must be a number of milliseconds in 0..${MAX_DELAY_MS} (got ${String(o.delayMs)})`);
    out.delayMs = o.delayMs;
  }
  if (o.hang !== undefined && o.hang !== false) {
    if (o.hang !== true) fail("hang", `must be true (got ${String(o.hang)})`);
    if (out.status !== undefined || out.delayMs !== undefined) fail("hang", "cannot go with status or delayMs: a hung command never completes");
    out.hang = true;
  }
  if (o.refuseAbort !== undefined && o.refuseAbort !== false) {
    if (o.refuseAbort !== true) fail("refuseAbort", `must be true (got ${String(o.refuseAbort)})`);
    if (!out.hang) fail("refuseAbort", "needs hang: true: only a hung command can refuse Abort (the others complete by themselves)");
    out.refuseAbort = true;
  }
  if (o.count !== undefined) out.count = integer(o.count, "count", 1, Number.MAX_SAFE_INTEGER);
  if (o.probability !== undefined) {
    if (typeof o.probability !== "number" || !(o.probability >= 0 && o.probability <= 1)) fail("probability", `must be a number in 0..1 (got ${String(o.probability)})`);
    out.probability = o.probability;
  }
  if (o.seed !== undefined) out.seed = integer(o.seed, "seed", 0, 0xffffffff);
  return out;
}

/** One fault and its random sequence (seeded: the same everywhere). */
class Fault {
  fired = 0;
  /** The next number of the fault's sequence in [0, 1). */
  private readonly next: () => number;
  readonly ops: ReadonlySet<number> | undefined;
  /** The status it completes with; undefined: the command runs (after the delay) or hangs. */
  private readonly status: FaultStatus | undefined;

  constructor(readonly id: number, readonly spec: FaultSpec) {
    this.next = mulberry32(spec.seed ?? id);
    this.ops = OPS[spec.op];
    this.status = spec.status ?? (spec.delayMs !== undefined || spec.hang ? undefined : "media-error");
  }

  get spent(): boolean {
    return this.spec.count !== undefined && this.fired >= this.spec.count;
  }

  matches(cmd: Command): boolean {
    const s = this.spec;
    if (this.ops && !this.ops.has(cmd.opcode)) return false;
    if (s.nsid !== undefined && cmd.nsid !== s.nsid && !(cmd.opcode === O.IO_FLUSH && cmd.nsid === BROADCAST_NSID)) return false;
    if (s.lba) {
      const r = lbaRange(cmd.opcode, cmd.cdw10, cmd.cdw11, cmd.cdw12);
      if (!r || r[0] >= s.lba[0] + s.lba[1] || r[0] + r[1] <= s.lba[0]) return false;
    }
    return s.probability === undefined || s.probability >= 1 || this.next() < s.probability;
  }

  /** The status for `cmd`: the named one, or the media error that fits what the command does. */
  statusFor(cmd: Command): S.Status | undefined {
    if (this.status !== "media-error") return this.status && STATUSES[this.status];
    return OPS.read!.has(cmd.opcode) ? S.UNRECOVERED_READ_ERROR : S.WRITE_FAULT;
  }

  view(): InjectedFault {
    const s = this.spec;
    return { ...s, ...(s.lba ? { lba: [s.lba[0], s.lba[1]] } : {}), id: this.id, fired: this.fired };
  }
}

export class FaultTable {
  private faults: Fault[] = [];
  private nextId = 1;
  /** Faults that can still fire: the hot path looks at this number only. */
  armed = 0;

  inject(spec: unknown): InjectedFault {
    const checked = checkFaultSpec(spec); // a refused spec takes no id
    const f = new Fault(this.nextId++, checked);
    this.faults.push(f);
    this.armed++;
    return f.view();
  }

  list(): InjectedFault[] {
    return this.faults.map((f) => f.view());
  }

  /** Removes fault `id`, or every fault. */
  clear(id?: number): void {
    if (id === undefined) this.faults = [];
    else {
      const i = this.faults.findIndex((f) => f.id === id);
      if (i < 0) throw new Error(`clear: no injected fault ${String(id)} (ids: ${this.faults.map((f) => f.id).join(", ") || "none"})`);
      this.faults.splice(i, 1);
    }
    this.armed = this.faults.filter((f) => !f.spent).length;
  }

  /** The first fault, in the order injected, that hits I/O command `cmd` (counted as fired). */
  match(cmd: Command): FaultHit | undefined {
    if (cmd.sqid === 0) return undefined;
    for (const f of this.faults) {
      if (f.spent || !f.matches(cmd)) continue;
      f.fired++;
      if (f.spent) this.armed--;
      return { id: f.id, status: f.statusFor(cmd), delayMs: f.spec.delayMs ?? 0, hang: f.spec.hang === true, refuseAbort: f.spec.refuseAbort === true };
    }
    return undefined;
  }
}
