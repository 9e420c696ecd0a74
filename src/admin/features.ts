// Get Features / Set Features. Every feature is controller wide, changeable and not saveable;
// Select "saved" therefore answers the default. The table maps each feature to its handlers.

import type { Device } from "../device.ts";
import type { Command } from "../command.ts";
import { PENDING, sendToHost, receiveFromHost } from "../device.ts";
import { FeatureState } from "./feature-state.ts";
import * as F from "../spec/features.ts";
import * as L from "../../asm/layout.ts";
import { AE_TYPE_SMART, AE_SMART_TEMPERATURE, LID_SMART } from "../spec/logs.ts";
import { NSID_BROADCAST } from "../spec/identify.ts";
import {
  SCT_GENERIC, SCT_COMMAND_SPECIFIC, SC_INVALID_FIELD, SC_INVALID_NAMESPACE, SC_COMMAND_SEQUENCE_ERROR,
  SC_INTERNAL_ERROR, SC_FEATURE_NOT_SAVEABLE, SC_FEATURE_NOT_NS_SPECIFIC, STATUS_DNR,
} from "../spec/status.ts";

const INVALID_FIELD = SCT_GENERIC | SC_INVALID_FIELD | STATUS_DNR;
const INVALID_NAMESPACE = SCT_GENERIC | SC_INVALID_NAMESPACE | STATUS_DNR;
const SEQUENCE_ERROR = SCT_GENERIC | SC_COMMAND_SEQUENCE_ERROR | STATUS_DNR;
const INTERNAL_ERROR = SCT_GENERIC | SC_INTERNAL_ERROR;
const NOT_SAVEABLE = SCT_COMMAND_SPECIFIC | SC_FEATURE_NOT_SAVEABLE | STATUS_DNR;
const NOT_NS_SPECIFIC = SCT_COMMAND_SPECIFIC | SC_FEATURE_NOT_NS_SPECIFIC | STATUS_DNR;
const NPSS = 0; // highest power state (Identify Controller NPSS)
const ARBITRATION_BITS = 0xffffff07; // AB 2:0, LPW, MPW, HPW
const AEC_SUPPORTED = F.AEC_SMART_MASK | F.AEC_NS_ATTR;

interface Feature {
  /** Answers from `st` (current values, or a fresh state for the defaults); sets cmd.dw0. */
  get(dev: Device, cmd: Command, st: FeatureState): number;
  set(dev: Device, cmd: Command): number;
}

export function getFeatures(dev: Device, cmd: Command): number {
  const fid = cmd.cdw10 & F.CDW10_FID_MASK;
  const sel = (cmd.cdw10 >>> F.CDW10_SEL_SHIFT) & F.CDW10_SEL_MASK;
  const f = featureFor(dev, fid);
  if (!f || sel > F.SEL_SUPPORTED) return INVALID_FIELD;
  if (!nsidAccepted(dev, cmd.nsid)) return INVALID_NAMESPACE;
  if (sel === F.SEL_SUPPORTED) {
    cmd.dw0 = F.CAP_CHANGEABLE;
    return 0;
  }
  const st = sel === F.SEL_CURRENT ? dev.features : new FeatureState(dev.config, () => dev.now());
  return f.get(dev, cmd, st);
}

export function setFeatures(dev: Device, cmd: Command): number {
  const f = featureFor(dev, cmd.cdw10 & F.CDW10_FID_MASK);
  if (!f) return INVALID_FIELD;
  if (!nsidAccepted(dev, cmd.nsid)) return INVALID_NAMESPACE;
  if (cmd.nsid !== 0 && cmd.nsid !== NSID_BROADCAST) return NOT_NS_SPECIFIC;
  if ((cmd.cdw10 & F.CDW10_SV) !== 0) return NOT_SAVEABLE;
  return f.set(dev, cmd);
}

/** 0, FFFFFFFFh or an existing namespace (Get of a controller-wide feature ignores which). */
function nsidAccepted(dev: Device, nsid: number): boolean {
  return nsid === 0 || nsid === NSID_BROADCAST || nsid <= dev.namespaces.length;
}

function featureFor(dev: Device, fid: number): Feature | undefined {
  if (fid === F.FID_VOLATILE_WRITE_CACHE && !dev.config.volatileWriteCache) return undefined;
  return FEATURES.get(fid);
}

/** Pushes the effective interrupt coalescing values into the hot path's state words. */
export function applyCoalescing(dev: Device): void {
  const { threshold, time } = dev.features.effectiveCoalescing();
  dev.hp.setU32(L.ST_COALESCE_THR, threshold);
  dev.hp.setU32(L.ST_COALESCE_TIME, time);
}

/** Re-checks the composite temperature against the thresholds; raises the SMART event when crossed. */
export function checkTemperature(dev: Device): void {
  if (dev.health.updateTemperatureWarning(dev.features.tempOver, dev.features.tempUnder)) {
    dev.events.raise(AE_TYPE_SMART, AE_SMART_TEMPERATURE, LID_SMART);
  }
}

function anyIoQueue(dev: Device): boolean {
  for (let q = 1; q < L.MAX_QUEUES; q++) {
    if (dev.hp.x.sqExists(q) || dev.hp.x.cqExists(q)) return true;
  }
  return false;
}

/** Temperature Threshold selects: only the composite temperature exists (TMPSEL 0; Fh = all on Set). */
function thresholdSelect(cdw11: number, set: boolean): { under: boolean } | undefined {
  const tmpsel = (cdw11 >>> F.TMPSEL_SHIFT) & F.TMPSEL_MASK;
  const thsel = (cdw11 >>> F.THSEL_SHIFT) & F.THSEL_MASK;
  if (thsel > F.THSEL_UNDER) return undefined;
  if (tmpsel !== F.TMPSEL_COMPOSITE && !(set && tmpsel === F.TMPSEL_ALL)) return undefined;
  return { under: thsel === F.THSEL_UNDER };
}

/** Flushes every backend once; completes `cmd` later if any flush is asynchronous. */
function flushAll(dev: Device, cmd: Command): number {
  const waits: Promise<void>[] = [];
  try {
    for (const b of new Set(dev.namespaces.map((n) => n.backend))) {
      const r = b.flush();
      if (r) waits.push(r);
    }
  } catch (e) {
    dev.log("error", `write cache disable: flush failed: ${e}`);
    return INTERNAL_ERROR;
  }
  if (waits.length === 0) return 0;
  const held = dev.hold(cmd);
  Promise.all(waits).then(
    () => dev.complete(held, 0),
    (e) => {
      dev.log("error", `write cache disable: flush failed: ${e}`);
      dev.complete(held, INTERNAL_ERROR);
    },
  );
  return PENDING;
}

function timestampBytes(st: FeatureState): Uint8Array {
  const out = new Uint8Array(F.TIMESTAMP_DATA_SIZE);
  const ms = st.timestamp();
  const dv = new DataView(out.buffer);
  dv.setUint32(0, ms >>> 0, true);
  dv.setUint16(4, Math.floor(ms / 2 ** 32) & 0xffff, true);
  out[F.TS_ATTR_BYTE] = st.timestampOrigin << F.TS_ORIGIN_SHIFT; // Synch 0: the clock never stops
  return out;
}

const ok = (cmd: Command, dw0: number): number => {
  cmd.dw0 = dw0 >>> 0;
  return 0;
};

const FEATURES: ReadonlyMap<number, Feature> = new Map<number, Feature>([
  [F.FID_ARBITRATION, {
    get: (_d, c, st) => ok(c, st.arbitration),
    set: (d, c) => ((d.features.arbitration = (c.cdw11 & ARBITRATION_BITS) >>> 0), 0),
  }],
  [F.FID_POWER_MANAGEMENT, {
    get: (_d, c, st) => ok(c, st.powerState | (st.workloadHint << F.PM_WH_SHIFT)),
    set: (d, c) => {
      const ps = c.cdw11 & F.PM_PS_MASK;
      if (ps > NPSS) return INVALID_FIELD;
      d.features.powerState = ps;
      d.features.workloadHint = (c.cdw11 >>> F.PM_WH_SHIFT) & F.PM_WH_MASK;
      return 0;
    },
  }],
  [F.FID_TEMPERATURE_THRESHOLD, {
    get: (_d, c, st) => {
      const s = thresholdSelect(c.cdw11, false);
      if (!s) return INVALID_FIELD;
      return ok(c, s.under ? st.tempUnder : st.tempOver);
    },
    set: (d, c) => {
      const s = thresholdSelect(c.cdw11, true);
      if (!s) return INVALID_FIELD;
      if (s.under) d.features.tempUnder = c.cdw11 & F.TMPTH_MASK;
      else d.features.tempOver = c.cdw11 & F.TMPTH_MASK;
      checkTemperature(d);
      return 0;
    },
  }],
  [F.FID_ERROR_RECOVERY, {
    get: (_d, c, st) => ok(c, st.timeLimitedErrorRecovery),
    set: (d, c) => {
      // DULBE needs deallocated-block errors (NSFEAT bit 2), which this device does not report.
      if (c.cdw11 & F.ERR_DULBE) return INVALID_FIELD;
      d.features.timeLimitedErrorRecovery = c.cdw11 & F.ERR_TLER_MASK;
      return 0;
    },
  }],
  [F.FID_VOLATILE_WRITE_CACHE, {
    get: (_d, c, st) => ok(c, st.writeCacheEnabled ? F.VWC_WCE : 0),
    set: (d, c) => {
      const was = d.features.writeCacheEnabled;
      d.features.writeCacheEnabled = (c.cdw11 & F.VWC_WCE) !== 0;
      // Turning the cache off must leave nothing in it: data written so far becomes durable.
      return was && !d.features.writeCacheEnabled ? flushAll(d, c) : 0;
    },
  }],
  [F.FID_NUMBER_OF_QUEUES, {
    get: (_d, c, st) => ok(c, st.nsqa | (st.ncqa << F.NQ_NCQ_SHIFT)),
    set: (d, c) => {
      const nsqr = c.cdw11 & F.NQ_NSQ_MASK;
      const ncqr = c.cdw11 >>> F.NQ_NCQ_SHIFT;
      if (nsqr === F.NQ_INVALID || ncqr === F.NQ_INVALID) return INVALID_FIELD;
      if (anyIoQueue(d)) return SEQUENCE_ERROR;
      const max = d.config.maxIoQueues - 1;
      d.features.nsqa = Math.min(nsqr, max);
      d.features.ncqa = Math.min(ncqr, max);
      return ok(c, d.features.nsqa | (d.features.ncqa << F.NQ_NCQ_SHIFT));
    },
  }],
  [F.FID_INTERRUPT_COALESCING, {
    get: (_d, c, st) => ok(c, st.coalesceThreshold | (st.coalesceTime << F.IC_TIME_SHIFT)),
    set: (d, c) => {
      d.features.coalesceThreshold = c.cdw11 & F.IC_THR_MASK;
      d.features.coalesceTime = (c.cdw11 >>> F.IC_TIME_SHIFT) & F.IC_TIME_MASK;
      applyCoalescing(d);
      return 0;
    },
  }],
  [F.FID_INTERRUPT_VECTOR_CONFIG, {
    // Pin-based interrupts only: vector 0 is the one vector there is.
    get: (_d, c, st) => {
      if ((c.cdw11 & F.IVC_IV_MASK) !== 0) return INVALID_FIELD;
      return ok(c, st.coalesceDisabled ? F.IVC_CD : 0);
    },
    set: (d, c) => {
      if ((c.cdw11 & F.IVC_IV_MASK) !== 0) return INVALID_FIELD;
      d.features.coalesceDisabled = (c.cdw11 & F.IVC_CD) !== 0;
      applyCoalescing(d);
      return 0;
    },
  }],
  [F.FID_WRITE_ATOMICITY, {
    get: (_d, c, st) => ok(c, st.atomicityDisabled ? F.WA_DN : 0),
    set: (d, c) => ((d.features.atomicityDisabled = (c.cdw11 & F.WA_DN) !== 0), 0),
  }],
  [F.FID_ASYNC_EVENT_CONFIG, {
    get: (_d, c, st) => ok(c, st.asyncEventConfig),
    // SMART warnings and namespace attribute notices (OAES); other notices never happen here.
    set: (d, c) => ((d.features.asyncEventConfig = c.cdw11 & AEC_SUPPORTED), 0),
  }],
  [F.FID_TIMESTAMP, {
    get: (d, c, st) => sendToHost(d, c, timestampBytes(st)),
    set: (d, c) => {
      const data = receiveFromHost(d, c, F.TIMESTAMP_DATA_SIZE);
      if (typeof data === "number") return data;
      const dv = new DataView(data.buffer);
      d.features.setTimestamp(dv.getUint32(0, true) + dv.getUint16(4, true) * 2 ** 32);
      return 0;
    },
  }],
]);
