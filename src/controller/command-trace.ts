// The command trace: the last N commands the controller completed, oldest first, each with when it
// was fetched, its latency, its status and the injected fault that hit it. A ring of typed arrays,
// written at every completion without allocating; entries are built only when asked for. A
// command still outstanding when the controller resets (or a snapshot is restored) gets an entry
// too, with status -1: the guest never saw it complete. Host-side debugging state, not in snapshots.

import type { Command } from "../command.ts";
import { lbaRange } from "./faults.ts";
import { opName, statusName } from "./command-names.ts";

export interface CommandTraceEntry {
  /** When the device fetched the command (ms, the controller's clock: the emulator's, read at each timer tick). */
  at: number;
  sqid: number;
  cid: number;
  opcode: number;
  opName: string;
  nsid: number;
  /** The first block and block count, for commands with an LBA range. */
  slba?: number;
  nlb?: number;
  /** The completion's status field (0: success); -1: never completed (controller reset, snapshot restored). */
  status: number;
  statusName: string;
  /** Fetch to completion (0: completed while the doorbell was handled). */
  latencyMs: number;
  /** The id of the injected fault that hit it. */
  injected?: number;
}

export type ForgetReason = "controller reset" | "snapshot restored";
/** Status -1, -2, ...: why a command never completed. */
const NEVER_COMPLETED: readonly ForgetReason[] = ["controller reset", "snapshot restored"];

/** A command still outstanding: what its entry needs. */
interface Outstanding {
  at: number;
  injected: number;
  sqid: number;
  cid: number;
  opcode: number;
  nsid: number;
  cdw10: number;
  cdw11: number;
  cdw12: number;
}

const keyOf = (sqid: number, cid: number) => sqid * 0x10000 + cid;
const WORDS = 8;

export class CommandTrace {
  /** False with length 0: the device then calls nothing here. */
  readonly on: boolean;
  /** Entries written so far, and where the next goes. */
  private total = 0;
  private next = 0;
  /** Per entry: fetched at, latency (ms). */
  private readonly times: Float64Array;
  /** Per entry, WORDS words: sqid << 16 | cid, opcode, nsid, cdw10, cdw11, cdw12, status (signed), fault id. */
  private readonly words: Int32Array;
  /** The command being executed now (fetched, not yet completed or left outstanding). */
  private open = false;
  private openKey = 0;
  private openAt = 0;
  private openInjected = 0;
  /** Commands that left execution without completing (held, hung, parked), by SQ and CID. */
  private readonly outstanding = new Map<number, Outstanding>();

  constructor(readonly length: number) {
    this.on = length > 0;
    this.times = new Float64Array(length * 2);
    this.words = new Int32Array(length * WORDS);
  }

  /** The device fetched `cmd` at `atMs`. */
  begin(cmd: Command, atMs: number): void {
    this.open = true;
    this.openKey = keyOf(cmd.sqid, cmd.cid);
    this.openAt = atMs;
    this.openInjected = 0;
  }

  /** Fault `id` hit the command begun. */
  mark(id: number): void {
    this.openInjected = id;
  }

  /** Execution of the command begun is over: if it did not complete, it is outstanding. */
  leave(cmd: Command): void {
    if (!this.open) return;
    this.open = false;
    const { sqid, cid, opcode, nsid, cdw10, cdw11, cdw12 } = cmd;
    this.outstanding.set(this.openKey, { at: this.openAt, injected: this.openInjected, sqid, cid, opcode, nsid, cdw10, cdw11, cdw12 });
  }

  /** `cmd` completed with `status`; `now()` is read only for a command that completed later. */
  end(cmd: Command, status: number, now: () => number): void {
    const key = keyOf(cmd.sqid, cmd.cid);
    let at: number;
    let latency = 0;
    let injected = 0;
    if (this.open && key === this.openKey) {
      this.open = false;
      at = this.openAt;
      injected = this.openInjected;
    } else {
      const t = now();
      const o = this.outstanding.get(key);
      at = t;
      if (o) {
        this.outstanding.delete(key);
        at = o.at;
        latency = Math.max(0, t - o.at);
        injected = o.injected;
      }
    }
    this.push(key, cmd.opcode, cmd.nsid, cmd.cdw10, cmd.cdw11, cmd.cdw12, status, at, latency, injected);
  }

  /** Every outstanding command is dropped (controller reset, restore): an entry each, saying so. */
  forget(reason: ForgetReason, nowMs: number): void {
    this.open = false;
    const code = -1 - NEVER_COMPLETED.indexOf(reason);
    for (const [key, o] of this.outstanding) {
      this.push(key, o.opcode, o.nsid, o.cdw10, o.cdw11, o.cdw12, code, o.at, Math.max(0, nowMs - o.at), o.injected);
    }
    this.outstanding.clear();
  }

  private push(key: number, opcode: number, nsid: number, cdw10: number, cdw11: number, cdw12: number, status: number, at: number, latency: number, injected: number): void {
    const i = this.next;
    this.next = i + 1 === this.length ? 0 : i + 1;
    this.total++;
    const w = this.words;
    const o = i * WORDS;
    w[o] = key;
    w[o + 1] = opcode;
    w[o + 2] = nsid;
    w[o + 3] = cdw10;
    w[o + 4] = cdw11;
    w[o + 5] = cdw12;
    w[o + 6] = status;
    w[o + 7] = injected;
    this.times[i * 2] = at;
    this.times[i * 2 + 1] = latency;
  }

  /** The entries kept, oldest first (in the order the commands completed). */
  entries(): CommandTraceEntry[] {
    const out: CommandTraceEntry[] = [];
    const kept = Math.min(this.total, this.length);
    const w = this.words;
    for (let n = 0; n < kept; n++) {
      const i = (this.next - kept + n + this.length) % this.length;
      const o = i * WORDS;
      const sqid = w[o] >>> 16;
      const opcode = w[o + 1];
      const status = w[o + 6];
      const e: CommandTraceEntry = {
        at: this.times[i * 2], sqid, cid: w[o] & 0xffff, opcode, opName: opName(sqid, opcode), nsid: w[o + 2] >>> 0,
        status, statusName: status < 0 ? `not completed: ${NEVER_COMPLETED[-1 - status]}` : statusName(status), latencyMs: this.times[i * 2 + 1],
      };
      const range = sqid === 0 ? undefined : lbaRange(opcode, w[o + 3] >>> 0, w[o + 4] >>> 0, w[o + 5]);
      if (range) [e.slba, e.nlb] = range;
      if (w[o + 7]) e.injected = w[o + 7];
      out.push(e);
    }
    return out;
  }
}

const ms = (v: number) => v.toFixed(1);

/** A readable table of trace entries: a header, then one line per command. */
export function formatTrace(entries: readonly CommandTraceEntry[]): string {
  const rows = entries.map((e) => [
    ms(e.at), ms(e.latencyMs), String(e.sqid), String(e.cid), e.opName, e.sqid === 0 && e.nsid === 0 ? "-" : String(e.nsid),
    e.slba === undefined ? "-" : `${e.slba}+${e.nlb}`,
    e.status < 0 ? e.statusName : `${e.statusName} (0x${e.status.toString(16)})`,
    e.injected ? `fault ${e.injected}` : "",
  ]);
  const head = ["at ms", "latency ms", "SQ", "CID", "command", "NSID", "LBA+blocks", "status", "injected"];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const right = new Set([0, 1, 2, 3, 5]);
  const line = (r: string[]) => r.map((v, c) => (right.has(c) ? v.padStart(widths[c]) : v.padEnd(widths[c]))).join("  ").trimEnd();
  return [line(head), ...rows.map(line)].join("\n");
}
