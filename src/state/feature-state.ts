// Current values of every feature Get/Set Features offers. Nothing is saveable, so a controller
// reset (or a new FeatureState, which is how the defaults are read) brings back the defaults.

import type { ControllerConfig } from "./options.ts";
import { ARB_AB_NO_LIMIT, TS_ORIGIN_HOST, TS_ORIGIN_RESET } from "../spec/features.ts";
import { CW_SPARE, CW_TEMPERATURE, CW_RELIABILITY, CW_READ_ONLY, CW_VOLATILE_BACKUP } from "../spec/logs.ts";

/** Warning and critical composite temperature thresholds reported in Identify Controller (kelvin). */
export const WCTEMP_K = 343;
export const CCTEMP_K = 373;

/** Async Event Configuration default: every SMART critical warning NVMe 1.4 defines for controllers. */
export const DEFAULT_AEC = CW_SPARE | CW_TEMPERATURE | CW_RELIABILITY | CW_READ_ONLY | CW_VOLATILE_BACKUP;

export class FeatureState {
  /** Arbitration (01h) dword as set: burst in bits 2:0, weights above (round robin ignores them). */
  arbitration = 0;
  powerState = 0;
  workloadHint = 0;
  /** Composite temperature thresholds (kelvin); 0 under-threshold means none. */
  tempOver = 0;
  tempUnder = 0;
  /** Error Recovery time limit, 100 ms units. */
  timeLimitedErrorRecovery = 0;
  writeCacheEnabled = false;
  /** Allocated I/O submission / completion queues, 0's based. */
  nsqa = 0;
  ncqa = 0;
  /** Interrupt Coalescing: aggregation threshold (0's based entries) and time (100 us units). */
  coalesceThreshold = 0;
  coalesceTime = 0;
  /** Interrupt Vector Configuration CD for vector 0, the only vector (INTx). */
  coalesceDisabled = false;
  /** Write Atomicity Normal: DN. */
  atomicityDisabled = false;
  asyncEventConfig = 0;
  /** Timestamp: milliseconds `timestampBase` at device time `timestampAt`, and how it was set. */
  timestampBase = 0;
  timestampAt = 0;
  timestampOrigin = TS_ORIGIN_RESET;

  /** `now`: the device's monotonic clock in milliseconds, for the Timestamp feature. */
  constructor(
    readonly config: ControllerConfig,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.reset();
  }

  /** Controller reset: every feature back to its default. */
  reset(): void {
    this.arbitration = ARB_AB_NO_LIMIT;
    this.powerState = 0;
    this.workloadHint = 0;
    this.tempOver = WCTEMP_K;
    this.tempUnder = 0;
    this.timeLimitedErrorRecovery = 0;
    this.writeCacheEnabled = this.config.volatileWriteCache;
    this.nsqa = this.config.maxIoQueues - 1;
    this.ncqa = this.config.maxIoQueues - 1;
    this.coalesceThreshold = 0;
    this.coalesceTime = 0;
    this.coalesceDisabled = false;
    this.atomicityDisabled = false;
    // SMART critical warnings are reported unless the host turns them off: Linux never sets
    // this feature for them, and events nobody can enable would be worthless.
    this.asyncEventConfig = DEFAULT_AEC;
    this.timestampBase = 0;
    this.timestampAt = this.now();
    this.timestampOrigin = TS_ORIGIN_RESET;
  }

  /** The Timestamp feature's current value in milliseconds (48 bits). */
  timestamp(): number {
    return (this.timestampBase + Math.max(0, Math.floor(this.now() - this.timestampAt))) % 2 ** 48;
  }

  setTimestamp(ms: number): void {
    this.timestampBase = ms;
    this.timestampAt = this.now();
    this.timestampOrigin = TS_ORIGIN_HOST;
  }

  /** Aggregation threshold and time the hot path must use (0/0 signals every completion). */
  effectiveCoalescing(): { threshold: number; time: number } {
    if (this.coalesceDisabled) return { threshold: 0, time: 0 };
    return { threshold: this.coalesceThreshold, time: this.coalesceTime };
  }
}
