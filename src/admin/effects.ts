// Which opcodes this controller supports and their effects: one table that both gates dispatch
// (isSupported) and fills the Commands Supported and Effects log, so the two never disagree.

import type { ControllerConfig } from "../state/options.ts";
import * as O from "../spec/opcodes.ts";
import { EFF_CSUPP, EFF_CSE_ANY_NS, EFF_LBCC, EFF_NCC, EFF_NIC, EFFECTS_LOG_SIZE, EFFECTS_ACS, EFFECTS_IOCS } from "../spec/logs.ts";

export const ADMIN_EFFECTS: ReadonlyMap<number, number> = new Map([
  [O.ADMIN_DELETE_SQ, EFF_CSUPP],
  [O.ADMIN_CREATE_SQ, EFF_CSUPP],
  [O.ADMIN_GET_LOG_PAGE, EFF_CSUPP],
  [O.ADMIN_DELETE_CQ, EFF_CSUPP],
  [O.ADMIN_CREATE_CQ, EFF_CSUPP],
  [O.ADMIN_IDENTIFY, EFF_CSUPP],
  [O.ADMIN_ABORT, EFF_CSUPP],
  [O.ADMIN_SET_FEATURES, EFF_CSUPP],
  [O.ADMIN_GET_FEATURES, EFF_CSUPP],
  [O.ADMIN_ASYNC_EVENT_REQUEST, EFF_CSUPP],
  [O.ADMIN_KEEP_ALIVE, EFF_CSUPP],
  [O.ADMIN_DOORBELL_BUFFER_CONFIG, EFF_CSUPP],
  [O.ADMIN_NS_MANAGEMENT, EFF_CSUPP | EFF_NIC | EFF_CSE_ANY_NS],
  [O.ADMIN_NS_ATTACHMENT, EFF_CSUPP | EFF_NIC | EFF_CSE_ANY_NS],
  // A format changes the blocks and the namespace's format (NCC); with NSID FFFFFFFFh, every namespace.
  [O.ADMIN_FORMAT_NVM, EFF_CSUPP | EFF_LBCC | EFF_NCC | EFF_CSE_ANY_NS],
  [O.ADMIN_SANITIZE, EFF_CSUPP | EFF_LBCC | EFF_CSE_ANY_NS],
]);

export const IO_EFFECTS: ReadonlyMap<number, number> = new Map([
  [O.IO_FLUSH, EFF_CSUPP],
  [O.IO_WRITE, EFF_CSUPP | EFF_LBCC],
  [O.IO_READ, EFF_CSUPP],
  [O.IO_COMPARE, EFF_CSUPP],
  [O.IO_WRITE_ZEROES, EFF_CSUPP | EFF_LBCC],
  [O.IO_DATASET_MANAGEMENT, EFF_CSUPP | EFF_LBCC],
  [O.IO_WRITE_UNCORRECTABLE, EFF_CSUPP | EFF_LBCC],
  [O.IO_VERIFY, EFF_CSUPP],
  [O.IO_COPY, EFF_CSUPP | EFF_LBCC],
]);

type Options = Pick<ControllerConfig, "shadowDoorbells">;

/**
 * True when the controller implements `opcode`. Doorbell Buffer Config depends on the
 * configuration: pass it (without one, the opcode counts as supported).
 */
export function isSupported(admin: boolean, opcode: number, config?: Options): boolean {
  if (!admin) return IO_EFFECTS.has(opcode);
  if (opcode === O.ADMIN_DOORBELL_BUFFER_CONFIG && config && !config.shadowDoorbells) return false;
  return ADMIN_EFFECTS.has(opcode);
}

/** The Commands Supported and Effects log page (4096 bytes). */
export function effectsLog(config: Options): Uint8Array {
  const out = new Uint8Array(EFFECTS_LOG_SIZE);
  const dv = new DataView(out.buffer);
  for (const [op, eff] of ADMIN_EFFECTS) {
    if (isSupported(true, op, config)) dv.setUint32(EFFECTS_ACS + op * 4, eff, true);
  }
  for (const [op, eff] of IO_EFFECTS) dv.setUint32(EFFECTS_IOCS + op * 4, eff, true);
  return out;
}
