// Which opcodes this controller supports and their effects: one table that both gates dispatch
// (admin and I/O) and fills the Commands Supported and Effects log, so the two never disagree.

import type { ControllerConfig } from "./options.ts";
import * as O from "../spec/opcodes.ts";
import { EFF_CSUPP, EFF_CSE_ANY_NS, EFF_LBCC, EFF_NCC, EFF_NIC } from "../spec/logs.ts";

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

export type SupportOptions = Pick<ControllerConfig, "shadowDoorbells">;

/** True when the controller implements admin `opcode` (Doorbell Buffer Config only with shadow doorbells on). */
export function adminCommandSupported(opcode: number, config: SupportOptions): boolean {
  if (opcode === O.ADMIN_DOORBELL_BUFFER_CONFIG && !config.shadowDoorbells) return false;
  return ADMIN_EFFECTS.has(opcode);
}

/** True when the controller implements I/O `opcode`. */
export function ioCommandSupported(opcode: number): boolean {
  return IO_EFFECTS.has(opcode);
}

