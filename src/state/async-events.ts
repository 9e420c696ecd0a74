// Asynchronous Event Requests: the host parks up to AERL + 1 requests; each event completes one.
// Once an event of some type was reported, that type is masked until the host reads the log
// page the event named (without Retain Asynchronous Event); events raised meanwhile wait.

import type { Command } from "../command.ts";
import { AER_LIMIT_EXCEEDED, LATER, SUCCESS, type HandlerResult, type Status } from "../spec/status.ts";
import * as LOG from "../spec/logs.ts";
import { AEC_SMART_MASK, AEC_NOTICE_SHIFT } from "../spec/features.ts";

/** AERL + 1: requests the host may have outstanding (Identify Controller reports AERL = 3). */
export const AER_LIMIT = 4;
/** Distinct events kept while their type is masked or no request is parked. */
const MAX_QUEUED = 16;

export interface AsyncEvent {
  type: number;
  info: number;
  logPage: number;
}

type LogFn = (level: "info" | "warn" | "error", msg: string) => void;

export class AsyncEvents {
  /** The Async Event Configuration feature's current value (wired to FeatureState by the controller). */
  config: () => number;
  private parked: Command[] = [];
  private queued: AsyncEvent[] = [];
  /** Masked event types and the log page whose read unmasks each. */
  private readonly masked = new Map<number, number>();

  constructor(
    private readonly complete: (cmd: Command, status: Status) => void,
    private readonly log: LogFn,
    config: () => number = () => AEC_SMART_MASK,
  ) {
    this.config = config;
  }

  /** Parked requests. */
  get outstanding(): number {
    return this.parked.length;
  }

  /** Events raised but not reported yet. */
  get queuedEvents(): readonly AsyncEvent[] {
    return this.queued;
  }

  isParked(cid: number): boolean {
    return this.parked.some((c) => c.cid === cid);
  }

  /** The parked requests, oldest first (for snapshots). */
  parkedRequests(): readonly Command[] {
    return this.parked;
  }

  /**
   * Handles an Asynchronous Event Request command: answers it at once when an event is waiting
   * (never completing it from inside the handler), else parks a copy of it (the caller's object
   * is reused for the next command); fails it past the limit.
   */
  request(cmd: Command): HandlerResult {
    if (this.parked.length >= AER_LIMIT) return AER_LIMIT_EXCEEDED;
    const e = this.takeReportable();
    if (e) {
      fill(cmd, e);
      return SUCCESS;
    }
    this.parked.push(cmd.clone());
    return LATER;
  }

  /** Abort of a parked request: removes it and returns it for the caller to complete, if found. */
  abort(cid: number): Command | undefined {
    const i = this.parked.findIndex((c) => c.cid === cid);
    return i < 0 ? undefined : this.parked.splice(i, 1)[0];
  }

  /** Queues an event (unless its configuration disables it) and reports it when it can. */
  raise(type: number, info: number, logPage: number): void {
    if (!this.enabled(type, info)) return;
    if (this.queued.some((e) => e.type === type && e.info === info && e.logPage === logPage)) return;
    if (this.queued.length >= MAX_QUEUED) {
      this.log("warn", `async event type ${type} info ${info} dropped: ${MAX_QUEUED} events already waiting`);
      return;
    }
    this.queued.push({ type, info, logPage });
    this.deliver();
  }

  /** The host read log page `lid`; without RAE that clears (unmasks) the events that named it. */
  logRead(lid: number, rae: boolean): void {
    if (rae) return;
    let changed = false;
    for (const [type, page] of this.masked) {
      if (page === lid) {
        this.masked.delete(type);
        changed = true;
      }
    }
    if (changed) this.deliver();
  }

  /** Drops waiting events that point at log page `lid`: the host just read what they would announce. */
  discard(lid: number): void {
    this.queued = this.queued.filter((e) => e.logPage !== lid);
  }

  /** Controller reset: parked requests vanish without completions, waiting events are dropped. */
  reset(): void {
    this.parked = [];
    this.queued = [];
    this.masked.clear();
  }

  /** Error events always go out; SMART and notice events follow the configuration bits. */
  private enabled(type: number, info: number): boolean {
    const aec = this.config();
    if (type === LOG.AE_TYPE_SMART) return (aec & (LOG.SMART_INFO_AEC_BITS[info] ?? 0)) !== 0;
    if (type === LOG.AE_TYPE_NOTICE) return info <= 6 && (aec & (1 << (AEC_NOTICE_SHIFT + info))) !== 0;
    return true;
  }

  /** The oldest waiting event whose type is not masked, removed from the queue; its type is masked. */
  private takeReportable(): AsyncEvent | undefined {
    const i = this.queued.findIndex((e) => !this.masked.has(e.type));
    if (i < 0) return undefined;
    const [e] = this.queued.splice(i, 1);
    this.masked.set(e.type, e.logPage);
    return e;
  }

  /** Pairs the oldest reportable events with the oldest parked requests. */
  private deliver(): void {
    while (this.parked.length > 0) {
      const e = this.takeReportable();
      if (!e) return;
      const cmd = this.parked.shift()!;
      fill(cmd, e);
      this.complete(cmd, SUCCESS);
    }
  }
}

function fill(cmd: Command, e: AsyncEvent): void {
  cmd.dw0 = (e.type | (e.info << LOG.AE_INFO_SHIFT) | (e.logPage << LOG.AE_LOG_PAGE_SHIFT)) >>> 0;
  cmd.dw1 = 0;
}
