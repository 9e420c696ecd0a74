// Doorbell Buffer Config (admin 7Ch): PRP1 is the shadow doorbell page, PRP2 the EventIdx page.
// From then on the shadow page holds every doorbell's value (see asm/doorbell.ts). A controller
// reset forgets both pages.

import type { Device } from "../device.ts";
import type { Command } from "../command.ts";
import * as S from "../spec/status.ts";

export function doorbellBufferConfig(dev: Device, cmd: Command): number {
  const ok = dev.hp.x.dbbufConfig(cmd.prp1Lo, cmd.prp1Hi, cmd.prp2Lo, cmd.prp2Hi);
  if (!ok) {
    dev.log("warn", `doorbell buffer config rejected: shadow 0x${hex(cmd.prp1Hi, cmd.prp1Lo)}, eventidx 0x${hex(cmd.prp2Hi, cmd.prp2Lo)} (unaligned or outside guest RAM)`);
    return S.SCT_GENERIC | S.SC_INVALID_FIELD | S.STATUS_DNR;
  }
  return 0;
}

function hex(hi: number, lo: number): string {
  return hi ? hi.toString(16) + lo.toString(16).padStart(8, "0") : lo.toString(16);
}
