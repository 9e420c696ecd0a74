// The Commands Supported and Effects log page, from the command support table.

import { EFFECTS_LOG_SIZE, EFFECTS_ACS, EFFECTS_IOCS } from "../spec/logs.ts";
import { ADMIN_EFFECTS, IO_EFFECTS, adminCommandSupported, type SupportOptions } from "../state/command-support.ts";

/** The Commands Supported and Effects log page (4096 bytes). */
export function effectsLog(config: SupportOptions): Uint8Array {
  const out = new Uint8Array(EFFECTS_LOG_SIZE);
  const dv = new DataView(out.buffer);
  for (const [op, eff] of ADMIN_EFFECTS) {
    if (adminCommandSupported(op, config)) dv.setUint32(EFFECTS_ACS + op * 4, eff, true);
  }
  for (const [op, eff] of IO_EFFECTS) dv.setUint32(EFFECTS_IOCS + op * 4, eff, true);
  return out;
}
