// The Error Information log: the last ELPE + 1 errors, newest first, each numbered by a 64-bit
// error count that only grows (the host tells entries apart by it; 0 marks an unused entry).

import type { Command } from "../command.ts";
import * as LOG from "../spec/logs.ts";
import { statusField, type Status } from "../spec/status.ts";

/** ELPE + 1: entries kept (Identify Controller reports ELPE = ERROR_LOG_ENTRIES - 1). */
export const ERROR_LOG_ENTRIES = 64;

export interface ErrorDetail {
  lba?: number;
  nsid?: number;
  /** Byte (0..63) and bit (0..7) of the SQE field that caused the error. */
  paramByte?: number;
  paramBit?: number;
}

function setU64(dv: DataView, off: number, v: number): void {
  dv.setUint32(off, v >>> 0, true);
  dv.setUint32(off + 4, Math.floor(v / 2 ** 32) >>> 0, true);
}

/** What a snapshot keeps of the log. */
export interface ErrorLogState {
  ring: Uint8Array;
  next: number;
  count: number;
}

export class ErrorLog {
  /** Entries in log page layout; `next` is where the next one goes (the ring's newest is next - 1). */
  private readonly ring = new Uint8Array(ERROR_LOG_ENTRIES * LOG.ERROR_ENTRY_SIZE);
  private next = 0;
  private errorCount = 0;

  /** Errors recorded since creation (or the last reset); the newest entry carries this number. */
  get count(): number {
    return this.errorCount;
  }

  /** Records a failed command (or, with `cmd` undefined, an error not tied to one; pass sqid 0xffff then). */
  record(cmd: Command | undefined, sqid: number, status: Status, detail: ErrorDetail = {}): void {
    this.errorCount++;
    const off = this.next * LOG.ERROR_ENTRY_SIZE;
    this.next = (this.next + 1) % ERROR_LOG_ENTRIES;
    const e = this.ring.subarray(off, off + LOG.ERROR_ENTRY_SIZE);
    e.fill(0);
    const dv = new DataView(e.buffer, e.byteOffset, e.byteLength);
    setU64(dv, LOG.ERR_COUNT, this.errorCount);
    dv.setUint16(LOG.ERR_SQID, sqid & 0xffff, true);
    dv.setUint16(LOG.ERR_CID, cmd ? cmd.cid : LOG.ERR_NOT_APPLICABLE_16, true);
    // The status field as posted: status in bits 15:1, the phase tag (not known here) in bit 0.
    dv.setUint16(LOG.ERR_STATUS, statusField(status) << 1, true);
    dv.setUint16(LOG.ERR_PARAM_LOC, paramLocation(detail), true);
    setU64(dv, LOG.ERR_LBA, detail.lba ?? 0);
    dv.setUint32(LOG.ERR_NSID, (detail.nsid ?? cmd?.nsid ?? 0) >>> 0, true);
  }

  /** The log page: ERROR_LOG_ENTRIES entries, newest first, unused ones zero. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.ring.length);
    const used = Math.min(this.errorCount, ERROR_LOG_ENTRIES);
    for (let i = 0; i < used; i++) {
      const slot = (this.next - 1 - i + ERROR_LOG_ENTRIES) % ERROR_LOG_ENTRIES;
      out.set(this.ring.subarray(slot * LOG.ERROR_ENTRY_SIZE, (slot + 1) * LOG.ERROR_ENTRY_SIZE), i * LOG.ERROR_ENTRY_SIZE);
    }
    return out;
  }

  save(): ErrorLogState {
    return { ring: this.ring.slice(), next: this.next, count: this.errorCount };
  }

  restore(s: ErrorLogState): void {
    this.ring.set(s.ring.subarray(0, this.ring.length));
    this.next = s.next % ERROR_LOG_ENTRIES;
    this.errorCount = s.count;
  }

  /** Forgets every entry and restarts the count (a power cycle; controller resets keep the log). */
  reset(): void {
    this.ring.fill(0);
    this.next = 0;
    this.errorCount = 0;
  }
}

function paramLocation(d: ErrorDetail): number {
  if (d.paramByte === undefined) return LOG.ERR_NOT_APPLICABLE_16;
  return (d.paramByte & 0xff) | ((d.paramBit ?? 0) & 0x7) << 8;
}
