// The NVM subsystem's sanitize status: whether a sanitize runs and how far it got, how the last one
// ended, and whether user data was written since (Global Data Erased). It is the device's, not the
// controller's: a controller reset leaves it (and a running sanitize) alone.

import * as LOG from "../spec/logs.ts";

/** What a snapshot keeps of it. */
export interface SanitizeSaved {
  sstat: number;
  scdw10: number;
  /** Progress of the one running, in 65536ths (restarted from 0 on restore). */
  sprog: number;
}

const SSTAT_STATUS_MASK = 0x7;

export class SanitizeState {
  /** SSTAT bits 2:0 and Global Data Erased. */
  sstat = LOG.SSTAT_NEVER;
  scdw10 = 0;
  sprog = LOG.SPROG_IDLE;
  /** Bumped at every start, so a run overtaken by a restore or a newer run stops touching the state. */
  generation = 0;

  get running(): boolean {
    return (this.sstat & SSTAT_STATUS_MASK) === LOG.SSTAT_IN_PROGRESS;
  }

  /** Marks a sanitize with `cdw10` as started; returns its generation. */
  begin(cdw10: number): number {
    this.sstat = LOG.SSTAT_IN_PROGRESS;
    this.scdw10 = cdw10 >>> 0;
    this.sprog = 0;
    return ++this.generation;
  }

  progress(fraction: number): void {
    this.sprog = Math.min(0xfffe, Math.floor(fraction * 0x10000));
  }

  finish(noDeallocate: boolean): void {
    this.sstat = (noDeallocate ? LOG.SSTAT_DONE_NO_DEALLOCATE : LOG.SSTAT_DONE) | LOG.SSTAT_GLOBAL_DATA_ERASED;
    this.sprog = LOG.SPROG_IDLE;
  }

  /**
   * A sanitize with `cdw10` completed before this device came up (a persistent disk remembers it).
   * Global Data Erased only when it completed as the disk reopened: nothing was written since.
   */
  completedBefore(cdw10: number, noDeallocate: boolean, justNow: boolean): void {
    if (this.running || (this.sstat & SSTAT_STATUS_MASK) !== LOG.SSTAT_NEVER) return;
    this.finish(noDeallocate);
    if (!justNow) this.written();
    this.scdw10 = cdw10 >>> 0;
  }

  fail(): void {
    this.sstat = LOG.SSTAT_FAILED;
    this.sprog = LOG.SPROG_IDLE;
  }

  /** User data was written: the subsystem no longer holds only erased data. */
  written(): void {
    this.sstat &= ~LOG.SSTAT_GLOBAL_DATA_ERASED;
  }

  /** The Sanitize Status log page. Erasing is as fast as the backends' discard: no estimates. */
  bytes(): Uint8Array {
    const out = new Uint8Array(LOG.SANITIZE_LOG_SIZE);
    const dv = new DataView(out.buffer);
    dv.setUint16(LOG.SAN_SPROG, this.sprog, true);
    dv.setUint16(LOG.SAN_SSTAT, this.sstat, true);
    dv.setUint32(LOG.SAN_SCDW10, this.scdw10, true);
    for (const at of [LOG.SAN_ET_OVERWRITE, LOG.SAN_ET_BLOCK_ERASE, LOG.SAN_ET_CRYPTO_ERASE, LOG.SAN_ET_OVERWRITE_ND, LOG.SAN_ET_BLOCK_ERASE_ND, LOG.SAN_ET_CRYPTO_ERASE_ND]) {
      dv.setUint32(at, 0xffffffff, true);
    }
    return out;
  }

  save(): SanitizeSaved {
    return { sstat: this.sstat, scdw10: this.scdw10, sprog: this.sprog };
  }

  /** Checks a saved status as untrusted input; throws naming what is wrong. */
  static check(saved: unknown): SanitizeSaved {
    const s = saved as Partial<SanitizeSaved> | null;
    if (!s || typeof s !== "object") throw new Error("sanitize status missing");
    const int = (v: unknown, max: number) => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;
    if (!int(s.sstat, 0xffff) || (s.sstat! & SSTAT_STATUS_MASK) > LOG.SSTAT_DONE_NO_DEALLOCATE || (s.sstat! & ~(SSTAT_STATUS_MASK | LOG.SSTAT_GLOBAL_DATA_ERASED)) !== 0) {
      throw new Error(`sanitize status ${String(s.sstat)}`);
    }
    if (!int(s.scdw10, 0xffffffff)) throw new Error(`sanitize CDW10 ${String(s.scdw10)}`);
    if (!int(s.sprog, 0xffff)) throw new Error(`sanitize progress ${String(s.sprog)}`);
    return { sstat: s.sstat!, scdw10: s.scdw10!, sprog: s.sprog! };
  }

  restore(s: SanitizeSaved): void {
    this.generation++;
    this.sstat = s.sstat;
    this.scdw10 = s.scdw10;
    this.sprog = s.sprog;
  }
}
