// Doorbell Buffer Config (admin 7Ch): PRP1 is the shadow doorbell page, PRP2 the EventIdx page.
// From then on the shadow page holds every doorbell's value (see asm/doorbell.ts). A controller
// reset forgets both pages.

import type { HandlerContext } from "../state/context.ts";
import type { Command } from "../command.ts";
import { INVALID_FIELD, SUCCESS, type Status } from "../spec/status.ts";

export function doorbellBufferConfig(ctx: HandlerContext, cmd: Command): Status {
  const ok = ctx.hotPath.configureShadowDoorbells(cmd.prp1Lo, cmd.prp1Hi, cmd.prp2Lo, cmd.prp2Hi);
  if (!ok) {
    ctx.log("warn", `doorbell buffer config rejected: shadow 0x${hex(cmd.prp1Hi, cmd.prp1Lo)}, eventidx 0x${hex(cmd.prp2Hi, cmd.prp2Lo)} (unaligned or outside guest RAM)`);
    return INVALID_FIELD;
  }
  return SUCCESS;
}

function hex(hi: number, lo: number): string {
  return hi ? hi.toString(16) + lo.toString(16).padStart(8, "0") : lo.toString(16);
}
