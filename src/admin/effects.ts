// The Commands Supported and Effects log page, from the command support tables: the I/O commands
// of the command set the host names (CDW14 CSI): NVM, or Zoned Namespace.

import { EFFECTS_LOG_SIZE, EFFECTS_ACS, EFFECTS_IOCS } from "../spec/logs.ts";
import { CSI_ZNS } from "../spec/zns.ts";
import { ADMIN_EFFECTS, IO_EFFECTS, adminCommandSupported, type SupportOptions } from "../state/command-support.ts";
import { ZONED_IO_EFFECTS } from "../state/zones.ts";

/** The Commands Supported and Effects log page (4096 bytes) for command set `csi`. */
export function effectsLog(config: SupportOptions, csi = 0): Uint8Array {
  const out = new Uint8Array(EFFECTS_LOG_SIZE);
  const dv = new DataView(out.buffer);
  for (const [op, eff] of ADMIN_EFFECTS) {
    if (adminCommandSupported(op, config)) dv.setUint32(EFFECTS_ACS + op * 4, eff, true);
  }
  for (const [op, eff] of csi === CSI_ZNS ? ZONED_IO_EFFECTS : IO_EFFECTS) dv.setUint32(EFFECTS_IOCS + op * 4, eff, true);
  return out;
}
