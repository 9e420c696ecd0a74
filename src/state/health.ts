// SMART / Health counters and the 512-byte SMART log built from them. The device has no sensor:
// the composite temperature is a fixed 308 K (35 °C) unless a test sets another.

import * as LOG from "../spec/logs.ts";

export const DEFAULT_TEMPERATURE_K = 308;
const UNITS_PER_DATA_UNIT = 1000; // a reported data unit is 1000 units of 512 bytes

function setU128(dv: DataView, off: number, v: number): void {
  // Counters stay far below 2^53, so the upper 64 bits are always zero.
  dv.setUint32(off, v >>> 0, true);
  dv.setUint32(off + 4, Math.floor(v / 2 ** 32) >>> 0, true);
}

export class Health {
  criticalWarning = 0;
  temperature = DEFAULT_TEMPERATURE_K;
  bytesRead = 0;
  bytesWritten = 0;
  hostReads = 0;
  hostWrites = 0;
  busyMs = 0;
  powerCycles = 1;
  unsafeShutdowns = 0;
  mediaErrors = 0;
  availableSpare = 100;
  spareThreshold = 10;
  private readonly poweredOnAt: number;

  /** `now` in milliseconds (monotonic); power-on hours count from construction. */
  constructor(private readonly now: () => number = () => performance.now()) {
    this.poweredOnAt = now();
  }

  /** A completed read-type command (Read, Compare) that moved `bytes`. */
  read(bytes: number): void {
    this.hostReads++;
    this.bytesRead += bytes;
  }

  /** A completed write-type command that moved `bytes`. */
  write(bytes: number): void {
    this.hostWrites++;
    this.bytesWritten += bytes;
  }

  mediaError(): void {
    this.mediaErrors++;
  }

  unsafeShutdown(): void {
    this.unsafeShutdowns++;
  }

  /** Time the controller spent busy with I/O, in milliseconds (reported in whole minutes). */
  addBusyTime(ms: number): void {
    this.busyMs += ms;
  }

  setTemperature(kelvin: number): void {
    this.temperature = kelvin;
  }

  /**
   * Re-evaluates the temperature critical warning against the thresholds (0 disables a
   * threshold); returns true when the warning was newly set, i.e. an event is due.
   */
  updateTemperatureWarning(over: number, under: number): boolean {
    const beyond = (over !== 0 && this.temperature > over) || (under !== 0 && this.temperature < under);
    const was = (this.criticalWarning & LOG.CW_TEMPERATURE) !== 0;
    if (beyond) this.criticalWarning |= LOG.CW_TEMPERATURE;
    else this.criticalWarning &= ~LOG.CW_TEMPERATURE;
    return beyond && !was;
  }

  /** The SMART / Health Information log page; the error log's entry count comes from its owner. */
  bytes(errorLogEntries = 0): Uint8Array {
    const out = new Uint8Array(LOG.SMART_LOG_SIZE);
    const dv = new DataView(out.buffer);
    out[LOG.SMART_CRITICAL_WARNING] = this.criticalWarning;
    dv.setUint16(LOG.SMART_COMPOSITE_TEMP, this.temperature, true);
    out[LOG.SMART_AVAIL_SPARE] = this.availableSpare;
    out[LOG.SMART_SPARE_THRESH] = this.spareThreshold;
    setU128(dv, LOG.SMART_DATA_UNITS_READ, dataUnits(this.bytesRead));
    setU128(dv, LOG.SMART_DATA_UNITS_WRITTEN, dataUnits(this.bytesWritten));
    setU128(dv, LOG.SMART_HOST_READS, this.hostReads);
    setU128(dv, LOG.SMART_HOST_WRITES, this.hostWrites);
    setU128(dv, LOG.SMART_BUSY_TIME, Math.floor(this.busyMs / 60_000));
    setU128(dv, LOG.SMART_POWER_CYCLES, this.powerCycles);
    // A snapshot restored in another page carries a start time from a different clock origin.
    setU128(dv, LOG.SMART_POWER_ON_HOURS, Math.max(0, Math.floor((this.now() - this.poweredOnAt) / 3_600_000)));
    setU128(dv, LOG.SMART_UNSAFE_SHUTDOWNS, this.unsafeShutdowns);
    setU128(dv, LOG.SMART_MEDIA_ERRORS, this.mediaErrors);
    setU128(dv, LOG.SMART_ERROR_ENTRIES, errorLogEntries);
    return out;
  }
}

/** Thousands of 512-byte units, rounded up (so any data at all reads as at least 1). */
function dataUnits(bytes: number): number {
  return Math.ceil(bytes / 512 / UNITS_PER_DATA_UNIT);
}
