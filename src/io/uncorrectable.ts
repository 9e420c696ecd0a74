// Write Uncorrectable (04h): marks blocks so that reads of them (and Verify, and Copy sources) fail
// with Unrecovered Read Error until they are written again. The namespace keeps the marks as a
// bounded interval set; the data underneath is left as it was.

import type { HandlerContext } from "../state/context.ts";
import type { Command } from "../command.ts";
import type { Namespace } from "../state/namespace.ts";
import { INVALID_FIELD, LBA_OUT_OF_RANGE, SUCCESS, type Status } from "../spec/status.ts";
import { nlbOf, slbaOf } from "./outcome.ts";

export function writeUncorrectable(ctx: HandlerContext, cmd: Command, ns: Namespace): Status {
  const slba = slbaOf(cmd);
  const nlb = nlbOf(cmd);
  if (!ns.inRange(slba, nlb)) return LBA_OUT_OF_RANGE;
  if (ns.uncorrectable.add(slba, nlb)) return SUCCESS;
  ctx.log("warn", `namespace ${ns.nsid}: Write Uncorrectable refused: ${ns.uncorrectable.limit} ranges are marked already`);
  return INVALID_FIELD;
}
