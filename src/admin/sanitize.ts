// Sanitize (84h), Block Erase only (SANICAP): every namespace of the subsystem is erased in the
// background after the command completes. Meanwhile the Sanitize Status log shows the progress, I/O
// gets Sanitize In Progress, and so do the admin commands the spec does not allow during a
// sanitize. The operation belongs to the device, not the controller: a controller reset leaves it
// running; a snapshot restored in the middle of one starts it again from the beginning. Persistent
// disks journal it (erase-journal.ts): each is marked before any block is erased and unmarked once
// its erase is durable, and one reopened with the mark finishes the erase first, as the spec has a
// sanitize continue after a power cycle; the Sanitize Status log then reports it completed.

import type { HandlerContext } from "../state/context.ts";
import type { Command } from "../command.ts";
import type { Namespace } from "../state/namespace.ts";
import * as O from "../spec/opcodes.ts";
import * as LOG from "../spec/logs.ts";
import { isJournaled } from "../backends/erase-journal.ts";
import { FORMAT_IN_PROGRESS, INVALID_FIELD, SUCCESS, type Status } from "../spec/status.ts";

// CDW10 fields
const SANACT_MASK = 0x7;
const SANACT_EXIT_FAILURE_MODE = 1;
const SANACT_BLOCK_ERASE = 2;
const NDAS = 1 << 9; // No-Deallocate After Sanitize

/** Each namespace is erased in this many steps, so the progress moves. */
const STEPS = 64;

export function sanitize(ctx: HandlerContext, cmd: Command): Status {
  const action = cmd.cdw10 & SANACT_MASK;
  if (action === SANACT_EXIT_FAILURE_MODE) return SUCCESS; // a sanitize never fails into that mode here
  if (action !== SANACT_BLOCK_ERASE) return INVALID_FIELD; // overwrite and crypto erase are not offered
  if (ctx.namespaces.some((ns) => ns.formatting)) return FORMAT_IN_PROGRESS;
  startSanitize(ctx, cmd.cdw10);
  return SUCCESS;
}

/** Starts (or, after a restore, starts again) the sanitize whose command had `cdw10`. */
export function startSanitize(ctx: HandlerContext, cdw10: number): void {
  const state = ctx.sanitize;
  const generation = state.begin(cdw10);
  const noDeallocate = (cdw10 & NDAS) !== 0;
  const total = ctx.namespaces.reduce((n, ns) => n + ns.backend.byteLength, 0);
  let erased = 0;
  const current = () => state.generation === generation;
  const run = async () => {
    // I/O acknowledged before the sanitize began lands first, then is erased with the rest.
    for (const ns of ctx.namespaces) for (let busy = ns.idle(); busy; busy = ns.idle()) await busy;
    await Promise.all(ctx.namespaces.map((ns) => ns.backend).filter(isJournaled).map((b) => b.beginErase("sanitize", cdw10)));
    for (const ns of ctx.namespaces) {
      const step = stepBytes(ns);
      for (let off = 0; off < ns.backend.byteLength; off += step) {
        if (!current()) return;
        const n = Math.min(step, ns.backend.byteLength - off);
        // Deallocated blocks read as zeros; with No-Deallocate they are written with zeros instead.
        await ns.erase(off, n, !noDeallocate);
        erased += n;
        state.progress(erased / total);
      }
      // A disk that caches writes keeps the erase only once flushed: the log must not say done before.
      if (isJournaled(ns.backend)) await ns.backend.endErase();
      else if (ns.backend.volatileWriteCache) await ns.backend.flush();
      ns.uncorrectable.clear();
      ns.zones?.resetAll();
    }
    if (current()) state.finish(noDeallocate);
  };
  run().catch((e: unknown) => {
    if (!current()) return;
    state.fail();
    ctx.log("error", `sanitize failed: ${e instanceof Error ? e.message : String(e)}`);
  });
}

function stepBytes(ns: Namespace): number {
  const block = 4096; // a multiple of every LBA format
  return Math.max(block, Math.ceil(ns.backend.byteLength / STEPS / block) * block);
}

/** Log pages a host may read while a sanitize runs. */
const LOGS_ALLOWED = new Set([LOG.LID_ERROR_INFO, LOG.LID_SMART, LOG.LID_FW_SLOT, LOG.LID_CHANGED_NS_LIST, LOG.LID_CMD_EFFECTS, LOG.LID_SANITIZE_STATUS]);

/** Admin commands allowed while a sanitize runs: queues, identify, features, the logs above, events, aborts. */
const ADMIN_ALLOWED = new Set([
  O.ADMIN_DELETE_SQ, O.ADMIN_CREATE_SQ, O.ADMIN_DELETE_CQ, O.ADMIN_CREATE_CQ, O.ADMIN_IDENTIFY, O.ADMIN_ABORT,
  O.ADMIN_SET_FEATURES, O.ADMIN_GET_FEATURES, O.ADMIN_ASYNC_EVENT_REQUEST, O.ADMIN_KEEP_ALIVE, O.ADMIN_DOORBELL_BUFFER_CONFIG,
]);

/** True when `cmd` must be refused with Sanitize In Progress. */
export function blockedBySanitize(ctx: HandlerContext, cmd: Command): boolean {
  adoptSanitizeReports(ctx);
  if (!ctx.sanitize.running) return false;
  if (cmd.opcode === O.ADMIN_GET_LOG_PAGE) return !LOGS_ALLOWED.has(cmd.cdw10 & LOG.CDW10_LID_MASK);
  return !ADMIN_ALLOWED.has(cmd.opcode);
}

/** The disks each device's sanitize status has heard from. */
const heard = new WeakMap<object, WeakSet<object>>();

/**
 * A persistent disk remembers the last sanitize completed on it (finished when it was reopened, if
 * a crash had cut it short): the log reports it. Asked at every admin command, as the first one
 * after a (re)load comes before any I/O queue exists; each disk is heard once per device.
 */
function adoptSanitizeReports(ctx: HandlerContext): void {
  for (const ns of ctx.namespaces) {
    const b = ns.backend;
    if (!isJournaled(b)) continue;
    const seen = heard.get(ctx.sanitize) ?? heard.set(ctx.sanitize, new WeakSet()).get(ctx.sanitize)!;
    if (seen.has(b)) continue;
    seen.add(b);
    const r = b.sanitizeReport();
    if (r) ctx.sanitize.completedBefore(r.cdw10, (r.cdw10 & NDAS) !== 0, r.finishedAtOpen);
  }
}

/** After a snapshot's restore: a sanitize that was running starts again from the beginning. */
export function resumeSanitize(ctx: HandlerContext): void {
  if (ctx.sanitize.running) startSanitize(ctx, ctx.sanitize.scdw10);
}
