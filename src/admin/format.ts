// Format NVM (80h): switches a namespace (or, with NSID FFFFFFFFh, every namespace) to another LBA
// format (with its metadata placement MSET and protection PI, PIL) and erases it. FNA is 0: each namespace formats and erases on its own. Whatever the
// Secure Erase Setting (none or user data erase; cryptographic erase is not offered), the blocks
// read as zeros afterwards: the backend deallocates them (a copy-on-write disk drops its overlay
// and zeros the base under it) or writes zeros. On a persistent disk the erase is journaled: a
// crash leaves the namespace erased or untouched, and a reopened disk finishes one cut short.
//
// I/O already under way on the namespace finishes first (it was acknowledged, or will be, against
// the old format); I/O arriving meanwhile gets Format In Progress, which Linux retries.

import type { HandlerContext } from "../state/context.ts";
import type { Command } from "../command.ts";
import type { Namespace } from "../state/namespace.ts";
import { LBA_FORMATS, type Protection } from "../state/namespace.ts";
import { FORMAT_MSET, FORMAT_PI_SHIFT, FORMAT_PIL } from "../spec/protection.ts";
import { NSID_BROADCAST } from "../spec/identify.ts";
import { isJournaled } from "../backends/erase-journal.ts";
import {
  FORMAT_IN_PROGRESS, INTERNAL_ERROR, INVALID_FIELD, INVALID_FORMAT, INVALID_NAMESPACE, LATER, SUCCESS, type HandlerResult, type Status,
} from "../spec/status.ts";

// CDW10 fields
const LBAF_MASK = 0xf; // bits 3:0, LBAFU (13:12) the upper bits
const LBAFU_SHIFT = 12;
const LBAFU_MASK = 0x3;
const PI_MASK = 0x7;
const SES_SHIFT = 9; // bits 11:9
const SES_MASK = 0x7;
const SES_USER_DATA_ERASE = 1;

export function formatNvm(ctx: HandlerContext, cmd: Command): HandlerResult {
  const lbaf = (cmd.cdw10 & LBAF_MASK) | (((cmd.cdw10 >>> LBAFU_SHIFT) & LBAFU_MASK) << 4);
  const ses = (cmd.cdw10 >>> SES_SHIFT) & SES_MASK;
  if (ses > SES_USER_DATA_ERASE) return INVALID_FIELD;
  let targets: Namespace[];
  if (cmd.nsid === NSID_BROADCAST) targets = [...ctx.namespaces];
  else {
    const ns = ctx.nsTable.attached(cmd.nsid);
    // A valid NSID with no namespace attached is Invalid Field, as for I/O.
    if (!ns) return ctx.nsTable.valid(cmd.nsid) ? INVALID_FIELD : INVALID_NAMESPACE;
    targets = [ns];
  }
  const p = protectionOf(cmd.cdw10);
  if (lbaf >= LBA_FORMATS.length || !targets.every((ns) => ns.formatUsable(lbaf, p))) return INVALID_FORMAT;
  if (targets.some((ns) => ns.formatting)) return FORMAT_IN_PROGRESS;
  for (const ns of targets) ns.formatting = true;
  let done: void | Promise<void>;
  try {
    done = formatAll(targets, lbaf, p);
  } catch (e) {
    return failed(ctx, targets, e);
  }
  // Another controller of the subsystem learns of the new format from the Changed Namespace List.
  const told = (): void => ctx.nsTable.changedElsewhere(targets.map((ns) => ns.nsid));
  if (!(done instanceof Promise)) {
    for (const ns of targets) ns.formatting = false;
    told();
    return SUCCESS;
  }
  // A reset drops the command, not the format: it runs to its end and only the completion is lost.
  const c = ctx.hold(cmd);
  done.then(
    () => {
      for (const ns of targets) ns.formatting = false;
      told();
      if (ctx.isHeld(c)) ctx.complete(c, SUCCESS);
    },
    (e) => {
      const s = failed(ctx, targets, e);
      if (ctx.isHeld(c)) ctx.complete(c, s);
    },
  );
  return LATER;
}

/** MSET, PI and PIL: where the metadata goes and what protects it (a format without metadata ignores them). */
function protectionOf(cdw10: number): Protection {
  return { extended: (cdw10 & FORMAT_MSET) !== 0, pi: (cdw10 >>> FORMAT_PI_SHIFT) & PI_MASK, piFirst: (cdw10 & FORMAT_PIL) !== 0 };
}

function failed(ctx: HandlerContext, targets: Namespace[], e: unknown): Status {
  for (const ns of targets) ns.formatting = false;
  ctx.log("error", `Format NVM failed: ${e instanceof Error ? e.message : String(e)}`);
  return INTERNAL_ERROR;
}

/** Formats each namespace in turn; undefined when all of it happened now. */
function formatAll(targets: Namespace[], lbaf: number, p: Protection): void | Promise<void> {
  for (let i = 0; i < targets.length; i++) {
    const r = formatOne(targets[i], lbaf, p);
    if (r instanceof Promise) return r.then(() => formatAll(targets.slice(i + 1), lbaf, p));
  }
}

/** Waits until no I/O is under way on `ns`, erases it and switches its format; its zones are empty again. */
function formatOne(ns: Namespace, lbaf: number, p: Protection): void | Promise<void> {
  const busy = ns.idle();
  if (busy) return busy.then(() => formatOne(ns, lbaf, p)); // a copy may start its write as its reads end
  const formatted = () => {
    ns.setFormat(lbaf, p);
    ns.zones?.resetAll();
  };
  const b = ns.backend;
  // Marked under way (durably) before the first block goes; done only once the erase is durable.
  if (isJournaled(b)) return ns.track(b.beginErase("format").then(() => ns.erase(0, b.byteLength)).then(() => b.endErase())).then(formatted);
  const erased = durably(ns, ns.erase(0, b.byteLength));
  if (erased instanceof Promise) return ns.track(erased).then(formatted);
  formatted();
}

/** After `erased`, a flush where the disk caches writes: a completed erase must outlive a crash. */
function durably(ns: Namespace, erased: void | Promise<void>): void | Promise<void> {
  if (!ns.backend.volatileWriteCache) return erased;
  return erased instanceof Promise ? erased.then(() => ns.backend.flush()) : ns.backend.flush();
}
