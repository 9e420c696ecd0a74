// When the device looks into its submission queues: the doorbell policy. A rung SQ is served at
// once; with "eager" it is polled to empty (writing its EventIdx when empty), with "awake" it is
// left awake and the next timer tick polls it again, arming it (EventIdx) only once it idles, so a
// host that keeps a queue busy submits through the shadow page without MMIO writes.

import { Command } from "../command.ts";
import { MAX_QUEUES, type HotPath } from "../hotpath.ts";
import type { ControllerConfig, DoorbellPolicy } from "../state/options.ts";
import * as LOG from "../spec/logs.ts";

/** What polling asks of the device (Device): its state stays there, changed through these calls only. */
export interface PolledDevice {
  readonly config: ControllerConfig;
  readonly hotPath: HotPath;
  /** The clock of this round of work (ms). */
  readonly clockMs: number;
  dmaAllowed(): boolean;
  resumeDma(): void;
  holdDoorbell(idx: number, value: number): void;
  takeHeldDoorbells(): Array<[number, number]> | undefined;
  execute(cmd: Command): void;
  afterWork(): void;
  invalidDoorbell(idx: number, info: number, value: number): void;
}

export class Polling {
  policy: DoorbellPolicy;
  /** With the awake policy: how long a queue must have idled before a poll arms it. */
  idleUs: number;
  /** With the awake policy: entries found by one poll that keep a queue awake (a deep queue). */
  private readonly deepQueueEntries: number;
  /** When each SQ last had an entry (ms). */
  private readonly lastBusy = new Float64Array(MAX_QUEUES);
  /** Most entries one poll of each SQ found since the previous tick, and in the tick before. */
  private readonly mostFoundThisTick = new Uint32Array(MAX_QUEUES);
  private readonly mostFoundLastTick = new Uint32Array(MAX_QUEUES);
  /** Entries each SQ gave in the current runQueues call. */
  private readonly foundThisRun = new Uint32Array(MAX_QUEUES);
  /** The fetch slot: one Command object reused for every fetched entry. */
  private readonly cmd = new Command();

  constructor(private readonly device: PolledDevice) {
    this.policy = device.config.doorbellPolicy;
    this.idleUs = device.config.doorbellIdleUs;
    this.deepQueueEntries = device.config.doorbellBatch;
  }

  /** An MMIO doorbell write: index `idx` (2 * qid, + 1 for a CQ head) within the doorbell area. */
  doorbellWritten(idx: number, value: number): void {
    const device = this.device;
    // Bus mastering off: the doorbell is a register like any other, and takes effect (shadow page
    // store, fetch) once the host turns it back on.
    if (!device.dmaAllowed()) {
      device.holdDoorbell(idx, value);
      return;
    }
    this.applyHeldDoorbells();
    switch (device.hotPath.writeDoorbell(idx, value)) {
      case "sq-tail": return this.kick(idx >>> 1);
      case "cq-head": return this.runQueues(false); // room in the CQ may let waiting SQs go on; the line may drop
      case "no-queue": return device.invalidDoorbell(idx, LOG.AE_ERR_INVALID_DB_REGISTER, value);
      case "bad-value": return device.invalidDoorbell(idx, LOG.AE_ERR_INVALID_DB_VALUE, value);
    }
  }

  /** Timer tick: a new round of the deep-queue bookkeeping, then every queue is served and polled. */
  tick(): void {
    const device = this.device;
    if (!device.dmaAllowed()) return;
    device.resumeDma();
    this.applyHeldDoorbells();
    this.mostFoundLastTick.set(this.mostFoundThisTick);
    this.mostFoundThisTick.fill(0);
    this.runQueues(true);
  }

  private applyHeldDoorbells(): void {
    const held = this.device.takeHeldDoorbells();
    if (held) for (const [idx, value] of held) this.doorbellWritten(idx, value);
  }

  /** An SQ tail doorbell was rung. */
  private kick(qid: number): void {
    const arm = this.policy === "eager";
    let n = 0;
    while (this.device.hotPath.fetch(qid, arm, this.cmd)) {
      this.execute();
      n++;
    }
    if (n > this.mostFoundThisTick[qid]) this.mostFoundThisTick[qid] = n;
    this.device.afterWork();
  }

  /**
   * Serves every SQ round-robin until none has an entry; with `arm`, a last pass polls each queue
   * idle for the grace time, which writes its EventIdx when it is empty (and serves whatever
   * raced in).
   */
  private runQueues(arm: boolean): void {
    const found = this.foundThisRun;
    found.fill(0);
    const hp = this.device.hotPath;
    for (;;) {
      while (hp.fetchNext(this.cmd)) {
        found[this.cmd.sqid]++;
        this.execute();
      }
      if (!arm || !this.pollIdleQueues()) break;
    }
    const most = this.mostFoundThisTick;
    for (let q = 0; q < found.length; q++) if (found[q] > most[q]) most[q] = found[q];
    this.device.afterWork();
  }

  /**
   * Polls (arming) every queue that is not kept awake; true when one had an entry after all. With
   * the awake policy a queue stays awake (probed, not armed) while it is busy: it had an entry
   * within doorbellIdleUs, or one poll since the previous tick found doorbellBatch entries at
   * once (the host keeps a deep queue: it would otherwise ring MMIO for every batch).
   */
  private pollIdleQueues(): boolean {
    const hp = this.device.hotPath;
    const limit = hp.sqLimit;
    const awake = this.policy === "awake";
    const idleMs = this.idleUs / 1000;
    const now = this.device.clockMs;
    const deep = this.deepQueueEntries;
    let found = false;
    for (let q = 0; q < limit; q++) {
      if (awake && (now - this.lastBusy[q] < idleMs || this.mostFoundLastTick[q] >= deep || this.foundThisRun[q] >= deep)) continue;
      if (hp.fetch(q, true, this.cmd)) {
        this.execute();
        found = true;
      }
    }
    return found;
  }

  private execute(): void {
    this.lastBusy[this.cmd.sqid] = this.device.clockMs;
    this.device.execute(this.cmd);
  }
}
