// Snapshots: everything needed to resume a controller. Registers, the hot path's state region
// (queues, doorbells, shadow addresses, reservations), features, health, the error log, and the
// commands still in flight, which are executed again on restore (none of them has completed, so
// nothing acknowledged is lost). A snapshot fits only a controller configured the same way: its
// queue ids, namespace sizes and limits are baked into the guest's state.

import { Command } from "../command.ts";
import { LATER } from "../spec/status.ts";
import type { ErrorLogState } from "../state/error-log.ts";
import type { ControllerConfig } from "../state/options.ts";
import type { RegisterState } from "./registers.ts";
import { plainFields, assignPlainFields, type PlainFields } from "./plain-fields.ts";
import type { Device } from "./device.ts";

/** The configuration a snapshot depends on, named like the options that set it. */
export interface SnapshotConfig {
  namespaces: number;
  namespace_bytes: number[];
  logical_block_sizes: number[];
  max_ioqpairs: number;
  mqes: number;
  mdts: number;
  shadow_doorbells: boolean;
  volatile_write_cache: boolean;
}

export interface ControllerSnapshot {
  version: 1;
  /** Absent in snapshots from before it was recorded: not checked then. */
  config?: SnapshotConfig;
  regs: RegisterState;
  hot: Uint8Array;
  features: PlainFields;
  health: PlainFields;
  errors?: ErrorLogState;
  inflight: Command[];
  aers: Command[];
  telemetry: Record<string, number>;
}

function snapshotConfig(d: Device): SnapshotConfig {
  const c: ControllerConfig = d.config;
  return {
    namespaces: d.namespaces.length,
    namespace_bytes: d.namespaces.map((ns) => ns.blocks * ns.blockSize),
    logical_block_sizes: d.namespaces.map((ns) => ns.blockSize),
    max_ioqpairs: c.maxIoQueues,
    mqes: c.mqes,
    mdts: c.mdts,
    shadow_doorbells: c.shadowDoorbells,
    volatile_write_cache: c.volatileWriteCache,
  };
}

/** Throws, naming the first field where the snapshot's configuration differs from `d`'s. */
function checkConfig(d: Device, saved: SnapshotConfig): void {
  const ours = snapshotConfig(d);
  for (const key of Object.keys(ours) as (keyof SnapshotConfig)[]) {
    const a = JSON.stringify(saved[key]);
    const b = JSON.stringify(ours[key]);
    if (a !== b) throw new Error(`${d.name}: the snapshot was taken with ${key} ${a}, this controller has ${b}`);
  }
}

export function saveSnapshot(d: Device): ControllerSnapshot {
  return {
    version: 1,
    config: snapshotConfig(d),
    regs: d.regs.save(),
    hot: d.hotPath.saveState(),
    features: plainFields(d.features),
    health: plainFields(d.health),
    errors: d.errors.save(),
    inflight: d.inflight.all().map((c) => c.clone()),
    aers: d.events.parkedRequests().map((c) => c.clone()),
    telemetry: d.telemetry.snapshot(),
  };
}

export function restoreSnapshot(d: Device, s: ControllerSnapshot): void {
  if (!s || s.version !== 1) throw new Error(`${d.name}: unknown snapshot version`);
  if (s.config) checkConfig(d, s.config);
  d.inflight.clear();
  d.events.reset();
  d.regs.restore(s.regs);
  d.hotPath.restoreState(s.hot);
  assignPlainFields(d.features, s.features);
  assignPlainFields(d.health, s.health);
  if (s.errors) d.errors.restore(s.errors);
  d.telemetry.restore(s.telemetry);
  d.irq = false;
  for (const saved of s.aers) d.events.request(Object.assign(new Command(), saved));
  for (const saved of s.inflight) {
    const c = Object.assign(new Command(), saved);
    const result = d.dispatch(c);
    if (result !== LATER) d.post(c, result);
  }
  d.afterWork();
  d.resendIrq();
}
