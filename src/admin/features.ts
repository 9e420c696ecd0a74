// Get Features / Set Features. Every feature is controller wide, changeable and not saveable;
// Select "saved" therefore answers the default. The table maps each feature to its handlers.

import type { HandlerContext } from "../state/context.ts";
import type { Command } from "../command.ts";
import { sendToHost, receiveFromHost } from "../state/context.ts";
import { FeatureState } from "../state/feature-state.ts";
import * as F from "../spec/features.ts";
import { AE_TYPE_SMART, AE_SMART_TEMPERATURE, LID_SMART } from "../spec/logs.ts";
import { NSID_BROADCAST } from "../spec/identify.ts";
import { FID_IO_COMMAND_SET_PROFILE, IOCSCI_MASK } from "../spec/zns.ts";
import {
  COMMAND_SEQUENCE_ERROR, FEATURE_NOT_NS_SPECIFIC, FEATURE_NOT_SAVEABLE, INTERNAL_ERROR, INVALID_FIELD, IOCS_COMBINATION_REJECTED,
  INVALID_NAMESPACE, LATER, SUCCESS, type HandlerResult, type Status,
} from "../spec/status.ts";
const NPSS = 0; // highest power state (Identify Controller NPSS)
const ARBITRATION_BITS = 0xffffff07; // AB 2:0, LPW, MPW, HPW
const AEC_SUPPORTED = F.AEC_SMART_MASK | F.AEC_NS_ATTR;

interface Feature {
  /** Answers from `st` (current values, or a fresh state for the defaults); sets cmd.dw0. */
  get(ctx: HandlerContext, cmd: Command, st: FeatureState): Status;
  set(ctx: HandlerContext, cmd: Command): HandlerResult;
}

export function getFeatures(ctx: HandlerContext, cmd: Command): Status {
  const fid = cmd.cdw10 & F.CDW10_FID_MASK;
  const sel = (cmd.cdw10 >>> F.CDW10_SEL_SHIFT) & F.CDW10_SEL_MASK;
  const f = featureFor(ctx, fid);
  if (!f || sel > F.SEL_SUPPORTED) return INVALID_FIELD;
  if (!nsidAccepted(ctx, cmd.nsid)) return INVALID_NAMESPACE;
  if (sel === F.SEL_SUPPORTED) {
    cmd.dw0 = F.CAP_CHANGEABLE;
    return SUCCESS;
  }
  const st = sel === F.SEL_CURRENT ? ctx.features : new FeatureState(ctx.config, () => ctx.now());
  return f.get(ctx, cmd, st);
}

export function setFeatures(ctx: HandlerContext, cmd: Command): HandlerResult {
  const f = featureFor(ctx, cmd.cdw10 & F.CDW10_FID_MASK);
  if (!f) return INVALID_FIELD;
  if (!nsidAccepted(ctx, cmd.nsid)) return INVALID_NAMESPACE;
  if (cmd.nsid !== 0 && cmd.nsid !== NSID_BROADCAST) return FEATURE_NOT_NS_SPECIFIC;
  if ((cmd.cdw10 & F.CDW10_SV) !== 0) return FEATURE_NOT_SAVEABLE;
  return f.set(ctx, cmd);
}

/** 0, FFFFFFFFh or an existing namespace (Get of a controller-wide feature ignores which). */
function nsidAccepted(ctx: HandlerContext, nsid: number): boolean {
  return nsid === 0 || nsid === NSID_BROADCAST || ctx.nsTable.valid(nsid);
}

function featureFor(ctx: HandlerContext, fid: number): Feature | undefined {
  if (fid === F.FID_VOLATILE_WRITE_CACHE && !ctx.config.volatileWriteCache) return undefined;
  return FEATURES.get(fid);
}

/** Pushes the effective interrupt coalescing values into the hot path's state words. */
export function applyCoalescing(ctx: Pick<HandlerContext, "features" | "hotPath">): void {
  const { threshold, time } = ctx.features.effectiveCoalescing();
  ctx.hotPath.setCoalescing(threshold, time);
}

/** Re-checks the composite temperature against the thresholds; raises the SMART event when crossed. */
export function checkTemperature(ctx: HandlerContext): void {
  if (ctx.health.updateTemperatureWarning(ctx.features.tempOver, ctx.features.tempUnder)) {
    ctx.events.raise(AE_TYPE_SMART, AE_SMART_TEMPERATURE, LID_SMART);
  }
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
function flushAll(ctx: HandlerContext, cmd: Command): HandlerResult {
  const waits: Promise<void>[] = [];
  try {
    for (const b of new Set(ctx.namespaces.map((n) => n.backend))) {
      const r = b.flush();
      if (r) waits.push(r);
    }
  } catch (e) {
    ctx.log("error", `write cache disable: flush failed: ${e}`);
    return INTERNAL_ERROR;
  }
  if (waits.length === 0) return SUCCESS;
  const held = ctx.hold(cmd);
  Promise.all(waits).then(
    () => ctx.complete(held, SUCCESS),
    (e) => {
      ctx.log("error", `write cache disable: flush failed: ${e}`);
      ctx.complete(held, INTERNAL_ERROR);
    },
  );
  return LATER;
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

const ok = (cmd: Command, dw0: number): Status => {
  cmd.dw0 = dw0 >>> 0;
  return SUCCESS;
};

const FEATURES: ReadonlyMap<number, Feature> = new Map<number, Feature>([
  [F.FID_ARBITRATION, {
    get: (_ctx, c, st) => ok(c, st.arbitration),
    set: (ctx, c) => ((ctx.features.arbitration = (c.cdw11 & ARBITRATION_BITS) >>> 0), SUCCESS),
  }],
  [F.FID_POWER_MANAGEMENT, {
    get: (_ctx, c, st) => ok(c, st.powerState | (st.workloadHint << F.PM_WH_SHIFT)),
    set: (ctx, c) => {
      const ps = c.cdw11 & F.PM_PS_MASK;
      if (ps > NPSS) return INVALID_FIELD;
      ctx.features.powerState = ps;
      ctx.features.workloadHint = (c.cdw11 >>> F.PM_WH_SHIFT) & F.PM_WH_MASK;
      return SUCCESS;
    },
  }],
  [F.FID_TEMPERATURE_THRESHOLD, {
    get: (_ctx, c, st) => {
      const s = thresholdSelect(c.cdw11, false);
      if (!s) return INVALID_FIELD;
      return ok(c, s.under ? st.tempUnder : st.tempOver);
    },
    set: (ctx, c) => {
      const s = thresholdSelect(c.cdw11, true);
      if (!s) return INVALID_FIELD;
      if (s.under) ctx.features.tempUnder = c.cdw11 & F.TMPTH_MASK;
      else ctx.features.tempOver = c.cdw11 & F.TMPTH_MASK;
      checkTemperature(ctx);
      return SUCCESS;
    },
  }],
  [F.FID_ERROR_RECOVERY, {
    get: (_ctx, c, st) => ok(c, st.timeLimitedErrorRecovery),
    set: (ctx, c) => {
      // DULBE needs deallocated-block errors (NSFEAT bit 2), which this device does not report.
      if (c.cdw11 & F.ERR_DULBE) return INVALID_FIELD;
      ctx.features.timeLimitedErrorRecovery = c.cdw11 & F.ERR_TLER_MASK;
      return SUCCESS;
    },
  }],
  [F.FID_VOLATILE_WRITE_CACHE, {
    get: (_ctx, c, st) => ok(c, st.writeCacheEnabled ? F.VWC_WCE : 0),
    set: (ctx, c) => {
      const was = ctx.features.writeCacheEnabled;
      ctx.features.writeCacheEnabled = (c.cdw11 & F.VWC_WCE) !== 0;
      // Turning the cache off must leave nothing in it: data written so far becomes durable.
      return was && !ctx.features.writeCacheEnabled ? flushAll(ctx, c) : SUCCESS;
    },
  }],
  [F.FID_NUMBER_OF_QUEUES, {
    get: (_ctx, c, st) => ok(c, st.nsqa | (st.ncqa << F.NQ_NCQ_SHIFT)),
    set: (ctx, c) => {
      const nsqr = c.cdw11 & F.NQ_NSQ_MASK;
      const ncqr = c.cdw11 >>> F.NQ_NCQ_SHIFT;
      if (nsqr === F.NQ_INVALID || ncqr === F.NQ_INVALID) return INVALID_FIELD;
      if (ctx.hotPath.hasIoQueues()) return COMMAND_SEQUENCE_ERROR;
      const max = ctx.config.maxIoQueues - 1;
      ctx.features.nsqa = Math.min(nsqr, max);
      ctx.features.ncqa = Math.min(ncqr, max);
      return ok(c, ctx.features.nsqa | (ctx.features.ncqa << F.NQ_NCQ_SHIFT));
    },
  }],
  [F.FID_INTERRUPT_COALESCING, {
    get: (_ctx, c, st) => ok(c, st.coalesceThreshold | (st.coalesceTime << F.IC_TIME_SHIFT)),
    set: (ctx, c) => {
      ctx.features.coalesceThreshold = c.cdw11 & F.IC_THR_MASK;
      ctx.features.coalesceTime = (c.cdw11 >>> F.IC_TIME_SHIFT) & F.IC_TIME_MASK;
      applyCoalescing(ctx);
      return SUCCESS;
    },
  }],
  [F.FID_INTERRUPT_VECTOR_CONFIG, {
    // Pin-based interrupts only: vector 0 is the one vector there is.
    get: (_ctx, c, st) => {
      if ((c.cdw11 & F.IVC_IV_MASK) !== 0) return INVALID_FIELD;
      return ok(c, st.coalesceDisabled ? F.IVC_CD : 0);
    },
    set: (ctx, c) => {
      if ((c.cdw11 & F.IVC_IV_MASK) !== 0) return INVALID_FIELD;
      ctx.features.coalesceDisabled = (c.cdw11 & F.IVC_CD) !== 0;
      applyCoalescing(ctx);
      return SUCCESS;
    },
  }],
  [F.FID_WRITE_ATOMICITY, {
    get: (_ctx, c, st) => ok(c, st.atomicityDisabled ? F.WA_DN : 0),
    set: (ctx, c) => ((ctx.features.atomicityDisabled = (c.cdw11 & F.WA_DN) !== 0), SUCCESS),
  }],
  [F.FID_ASYNC_EVENT_CONFIG, {
    get: (_ctx, c, st) => ok(c, st.asyncEventConfig),
    // SMART warnings and namespace attribute notices (OAES); other notices never happen here.
    set: (ctx, c) => ((ctx.features.asyncEventConfig = c.cdw11 & AEC_SUPPORTED), SUCCESS),
  }],
  [F.FID_TIMESTAMP, {
    get: (ctx, c, st) => sendToHost(ctx, c, timestampBytes(st)),
    set: (ctx, c) => {
      const data = receiveFromHost(ctx, c, F.TIMESTAMP_DATA_SIZE);
      if (!(data instanceof Uint8Array)) return data;
      const dv = new DataView(data.buffer);
      ctx.features.setTimestamp(dv.getUint32(0, true) + dv.getUint16(4, true) * 2 ** 32);
      return SUCCESS;
    },
  }],
  [FID_IO_COMMAND_SET_PROFILE, {
    // Index 0 of the I/O Command Set data structure (NVM with Zoned Namespace) is the only combination.
    get: (_ctx, c) => ok(c, 0),
    set: (ctx, c) => {
      if (ctx.hotPath.hasIoQueues()) return COMMAND_SEQUENCE_ERROR;
      return (c.cdw11 & IOCSCI_MASK) === 0 ? SUCCESS : IOCS_COMBINATION_REJECTED;
    },
  }],
]);
