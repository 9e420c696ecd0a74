// The command trace: the last N commands the controller completed, oldest first, each with when it
// was fetched, its latency, its status and the injected fault that hit it. A ring of doubles,
// written at every completion without allocating; entries are built only when asked for. A
// command still outstanding when the controller resets (or a snapshot is restored) gets an entry
// too, with a negative status: the guest never saw it complete. It records from the start when
// its length was given, else from the first injected fault: its stores cost a few percent of a
// small command in the device benchmark, which a guest nobody injects faults into need not pay.
// Host-side debugging state, not in snapshots.

import type { Command } from "../command.ts";
import { lbaRange } from "./faults.ts";
import { opName, statusName } from "./command-names.ts";
import { ADMIN_ASYNC_EVENT_REQUEST } from "../spec/opcodes.ts";

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
const FIELDS = 10;

export class CommandTrace {
  /** Whether it records: the device calls nothing here otherwise. */
  on: boolean;
  /** Where the next entry goes; whether the ring went round once. */
  private next = 0;
  private full = false;
  /**
   * FIELDS numbers per entry: fetched at, latency, sqid * 65536 + cid, opcode, nsid, cdw10, cdw11,
   * cdw12, status, fault id. One array of doubles: the fewest checks and no conversions per store.
   */
  private readonly ring: Float64Array;
  /** The command being executed now (fetched, not yet completed or left outstanding), and the fault that hit it. */
  private open: Command | undefined = undefined;
  private openInjected = 0;
  /** Commands that left execution without completing (held, hung, parked), by SQ and CID. */
  private readonly outstanding = new Map<number, Outstanding>();

  constructor(readonly length: number, fromStart: boolean) {
    this.on = fromStart && length > 0;
    this.ring = new Float64Array(length * FIELDS);
  }

  /** Records from now on (unless its length is 0). */
  start(): void {
    this.on = this.length > 0;
  }

  /** The device is executing `cmd`, just fetched (the fetch slot: compared by identity). */
  begin(cmd: Command): void {
    this.open = cmd;
  }

  /** Fault `id` hit the command begun. */
  mark(id: number): void {
    this.openInjected = id;
  }

  /** Execution of the command begun at `atMs` is over: if it did not complete, it is outstanding. */
  leave(atMs: number): void {
    const cmd = this.open;
    if (!cmd) return;
    this.open = undefined;
    const { sqid, cid, opcode, nsid, cdw10, cdw11, cdw12 } = cmd;
    this.outstanding.set(keyOf(sqid, cid), { at: atMs, injected: this.openInjected, sqid, cid, opcode, nsid, cdw10, cdw11, cdw12 });
    this.openInjected = 0;
  }

  /**
   * `cmd` completed with `status`: the command being executed at `atMs` (the device's clock does
   * not move while it runs), or one outstanding, with `now()` read then.
   */
  end(cmd: Command, status: number, atMs: number, now: () => number): void {
    const key = keyOf(cmd.sqid, cmd.cid);
    let at = atMs;
    let latency = 0;
    let injected = 0;
    if (cmd === this.open) {
      this.open = undefined;
      injected = this.openInjected;
      if (injected) this.openInjected = 0;
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

  /**
   * Every outstanding command is dropped (controller reset, restore): an entry each, saying so,
   * but for Asynchronous Event Requests, which wait for ever by design and go with every reset.
   */
  forget(reason: ForgetReason, nowMs: number): void {
    this.open = undefined;
    this.openInjected = 0;
    const code = -1 - NEVER_COMPLETED.indexOf(reason);
    for (const [key, o] of this.outstanding) {
      if (o.sqid === 0 && o.opcode === ADMIN_ASYNC_EVENT_REQUEST) continue;
      this.push(key, o.opcode, o.nsid, o.cdw10, o.cdw11, o.cdw12, code, o.at, Math.max(0, nowMs - o.at), o.injected);
    }
    this.outstanding.clear();
  }

  private push(key: number, opcode: number, nsid: number, cdw10: number, cdw11: number, cdw12: number, status: number, at: number, latency: number, injected: number): void {
    const o = this.next;
    const r = this.ring;
    r[o] = at;
    r[o + 1] = latency;
    r[o + 2] = key;
    r[o + 3] = opcode;
    r[o + 4] = nsid;
    r[o + 5] = cdw10;
    r[o + 6] = cdw11;
    r[o + 7] = cdw12;
    r[o + 8] = status;
    r[o + 9] = injected;
    if (o + FIELDS < r.length) this.next = o + FIELDS;
    else {
      this.next = 0;
      this.full = true;
    }
  }

  /** The entries kept, oldest first (in the order the commands completed). */
  entries(): CommandTraceEntry[] {
    const out: CommandTraceEntry[] = [];
    const r = this.ring;
    const from = this.full ? this.next : 0;
    const n = this.full ? this.length : this.next / FIELDS;
    for (let k = 0; k < n; k++) {
      const o = (from + k * FIELDS) % r.length;
      const sqid = Math.floor(r[o + 2] / 0x10000);
      const opcode = r[o + 3];
      const status = r[o + 8];
      const e: CommandTraceEntry = {
        at: r[o], sqid, cid: r[o + 2] % 0x10000, opcode, opName: opName(sqid, opcode), nsid: r[o + 4],
        status, statusName: status < 0 ? `not completed: ${NEVER_COMPLETED[-1 - status]}` : statusName(status), latencyMs: r[o + 1],
      };
      const range = sqid === 0 ? undefined : lbaRange(opcode, r[o + 5], r[o + 6], r[o + 7]);
      if (range) [e.slba, e.nlb] = range;
      if (r[o + 9]) e.injected = r[o + 9];
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
