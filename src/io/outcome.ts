// How an I/O command ends: a backend failure turned into its status, an operation that may settle
// later turned into a held command, and the block fields every block command shares.

import type { HandlerContext } from "../state/context.ts";
import type { Command } from "../command.ts";
import type { Namespace } from "../state/namespace.ts";
import { BackendError } from "../backends/block-backend.ts";
import { CAPACITY_EXCEEDED, LATER, SUCCESS, UNRECOVERED_READ_ERROR, WRITE_FAULT, type HandlerResult, type Status } from "../spec/status.ts";

export function failure(ctx: HandlerContext, e: unknown, write: boolean): Status {
  ctx.log("error", `backend ${write ? "write" : "read"} failed: ${e instanceof Error ? e.message : String(e)}`);
  // A full quota is no data integrity error: it is not counted in SMART's media errors.
  if (e instanceof BackendError && e.kind === "capacity") return CAPACITY_EXCEEDED;
  ctx.health.mediaError();
  return write ? WRITE_FAULT : UNRECOVERED_READ_ERROR;
}

export const ignore = () => {};

/** The completion of a held command whose backend failed; nothing is counted for one already dropped. */
export function failLater(ctx: HandlerContext, c: Command, write: boolean): (e: unknown) => void {
  return (e) => {
    if (ctx.isHeld(c)) ctx.complete(c, failure(ctx, e, write));
  };
}

/** SLBA (CDW11:CDW10) and the 1's based block count (CDW12 NLB 15:0) of a block command. */
export const slbaOf = (cmd: Command) => cmd.cdw10 + cmd.cdw11 * 2 ** 32;
export const nlbOf = (cmd: Command) => (cmd.cdw12 & 0xffff) + 1;

/**
 * Runs `op`; a Promise result makes the command complete LATER, when it settles, and counts as I/O
 * under way on `ns` (which a format waits for) until then.
 */
export function settle(
  ctx: HandlerContext, cmd: Command, ns: Namespace | undefined, op: () => void | Promise<void>, write: boolean, after?: () => Status,
): HandlerResult {
  let r: void | Promise<void>;
  try {
    r = op();
  } catch (e) {
    return failure(ctx, e, write);
  }
  if (!(r instanceof Promise)) return after ? after() : SUCCESS;
  if (ns) ns.track(r);
  const c = ctx.hold(cmd);
  r.then(
    () => {
      if (ctx.isHeld(c)) ctx.complete(c, after ? after() : SUCCESS);
    },
    failLater(ctx, c, write),
  );
  return LATER;
}

/** `length` bytes of the namespace from `offset`: now when at hand, else a Promise (which throws or rejects on a media error). */
export function readBytes(ns: Namespace, offset: number, length: number): Uint8Array | Promise<Uint8Array> {
  const out = new Uint8Array(length);
  return ns.backend.tryRead(offset, out) ? out : ns.backend.read(offset, length);
}

/** Unrecovered Read Error for a read touching blocks marked uncorrectable, counted like a media error. */
export function uncorrectable(ctx: HandlerContext, ns: Namespace, slba: number, nlb: number): Status | undefined {
  if (!ns.uncorrectable.intersects(slba, nlb)) return undefined;
  ctx.health.mediaError();
  return UNRECOVERED_READ_ERROR;
}

/** Blocks rewritten: no longer uncorrectable, their old metadata gone, and the subsystem no longer only erased. */
export function rewritten(ctx: HandlerContext, ns: Namespace, slba: number, nlb: number): void {
  ns.uncorrectable.remove(slba, nlb);
  ns.meta?.erase(slba, nlb);
  ctx.sanitize.written();
}
