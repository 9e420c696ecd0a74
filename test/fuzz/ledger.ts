// Every fetched command gets exactly one completion, or is dropped by a controller reset. The
// ledger sees each fetch (the SQE the controller loads) and each completion it posts, and at the
// end of every step compares what it counts as outstanding with what the controller says is
// still pending (in flight at a backend, or a parked Asynchronous Event Request).

import { deviceOf, type NvmeController } from "../../src/controller/controller.ts";
import type { Command } from "../../src/command.ts";
import type { Status } from "../../src/spec/status.ts";
import type { Region } from "./prp-model.ts";

interface Outstanding {
  count: number;
  /** Guest bytes the command may still store into (a Read whose data arrives later), as fetched. */
  regions: Region[];
}


export class CommandLedger {
  private readonly outstanding = new Map<string, Outstanding>();
  /** Regions of commands fetched since the last `takeStepRegions` (completed or not). */
  private stepRegions: Region[] = [];
  fetched = 0;
  completed = 0;
  /** Completions by status (coverage: how many distinct answers the run provoked). */
  readonly statuses = new Map<number, number>();

  constructor(
    private readonly ctrl: NvmeController,
    private readonly regionsOf: (cmd: Command) => Region[],
    private readonly violation: (msg: string) => void,
  ) {
    // Test-only spies on the controller's inside, never changed in behaviour: every fetched
    // command is executed once, every completion goes through post().
    const c = deviceOf(ctrl);
    const execute = c.execute.bind(c);
    c.execute = (cmd: Command) => {
      this.onFetch(cmd);
      execute(cmd);
    };
    const post = c.post.bind(c);
    c.post = (command: Command, status: Status) => {
      this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
      this.onPost(command);
      post(command, status);
    };
    const resetQueues = c.resetQueues.bind(c);
    c.resetQueues = () => {
      resetQueues();
      this.outstanding.clear();
    };
  }

  private onFetch(cmd: Command): void {
    this.fetched++;
    const key = `${cmd.sqid}:${cmd.cid}`;
    const regions = this.regionsOf(cmd);
    for (const r of regions) this.stepRegions.push(r);
    const o = this.outstanding.get(key);
    if (o) {
      o.count++;
      for (const r of regions) o.regions.push(r);
    } else {
      this.outstanding.set(key, { count: 1, regions });
    }
  }

  private onPost(cmd: Command): void {
    this.completed++;
    const key = `${cmd.sqid}:${cmd.cid}`;
    const o = this.outstanding.get(key);
    if (!o) {
      this.violation(`completion for SQ ${cmd.sqid} CID ${cmd.cid} (opcode 0x${cmd.opcode.toString(16)}) that is not outstanding: never fetched, or completed twice`);
      return;
    }
    if (!deviceOf(this.ctrl).hotPath.cqExists(cmd.cqid)) this.violation(`completion for SQ ${cmd.sqid} CID ${cmd.cid} into CQ ${cmd.cqid}, which does not exist`);
    if (--o.count === 0) this.outstanding.delete(key);
  }

  /**
   * Guest regions commands may store into right now: those fetched this step and those still
   * pending, as their PRPs described them when fetched (a slow read must not follow a PRP list
   * the host rewrote meanwhile).
   */
  allowedRegions(): Region[] {
    const out = this.stepRegions.slice();
    for (const o of this.outstanding.values()) for (const r of o.regions) out.push(r);
    return out;
  }

  endStep(): void {
    this.stepRegions = [];
  }

  /** Outstanding commands must be exactly those the controller still holds. */
  check(): void {
    const c = deviceOf(this.ctrl);
    const held = new Map<string, number>();
    for (const cmd of [...c.inflight.all(), ...c.events.parkedRequests()]) {
      const key = `${cmd.sqid}:${cmd.cid}`;
      held.set(key, (held.get(key) ?? 0) + 1);
    }
    for (const [key, o] of this.outstanding) {
      const h = held.get(key) ?? 0;
      if (h !== o.count) this.violation(`command SQ:CID ${key} fetched ${o.count}x without completion, but the controller holds ${h}: a completion was lost`);
    }
    for (const [key, h] of held) {
      if (!this.outstanding.has(key)) this.violation(`the controller holds ${h} command(s) SQ:CID ${key} that were never fetched or already completed`);
    }
  }

  get pending(): number {
    let n = 0;
    for (const o of this.outstanding.values()) n += o.count;
    return n;
  }
}
