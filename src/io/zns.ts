// I/O on a zoned namespace (Zoned Namespace Command Set): Zone Management Send and Receive, Zone
// Append, and the zone rules the NVM commands obey there. Writes (Write, Write Zeroes) go only to
// a zone's write pointer and open it implicitly within the open and active limits; reads may not
// touch an offline zone, nor cross zones unless the namespace allows it. A write is checked
// against its zone before its handler runs, and the write pointer moves once the handler took it
// (a write still in flight has its place, so the next one may follow at once).

import type { HandlerContext } from "../state/context.ts";
import type { Command } from "../command.ts";
import type { Namespace } from "../state/namespace.ts";
import { sendToHost } from "../state/context.ts";
import { ZONED_IO_EFFECTS, type ZoneSet } from "../state/zones.ts";
import * as O from "../spec/opcodes.ts";
import * as Z from "../spec/zns.ts";
import { INVALID_FIELD, INVALID_OPCODE, LATER, LBA_OUT_OF_RANGE, SUCCESS, type HandlerResult } from "../spec/status.ts";
import { nlbOf, settle, slbaOf } from "./outcome.ts";

export type NamespaceHandler = (ctx: HandlerContext, cmd: Command, ns: Namespace) => HandlerResult;
/** The Write handler, writing at `slba` instead of the command's SLBA (a Zone Append's place). */
export type WriteAt = (ctx: HandlerContext, cmd: Command, ns: Namespace, slba: number) => HandlerResult;

const WRITES = new Set([O.IO_WRITE, O.IO_WRITE_ZEROES]);
const READS = new Set([O.IO_READ, O.IO_COMPARE, O.IO_VERIFY]);

/** Runs an I/O command on a zoned namespace; `handler` is the NVM command's own. */
export function executeZoned(ctx: HandlerContext, cmd: Command, ns: Namespace, zones: ZoneSet, handler: NamespaceHandler | undefined, writeAt: WriteAt): HandlerResult {
  switch (cmd.opcode) {
    case Z.IO_ZONE_MGMT_SEND: return send(ctx, cmd, ns, zones);
    case Z.IO_ZONE_MGMT_RECV: return receive(ctx, cmd, ns, zones);
    case Z.IO_ZONE_APPEND: return append(ctx, cmd, ns, zones, writeAt);
  }
  if (!handler || !ZONED_IO_EFFECTS.has(cmd.opcode)) return INVALID_OPCODE;
  const slba = slbaOf(cmd);
  const nlb = nlbOf(cmd);
  if (WRITES.has(cmd.opcode)) {
    if (!ns.inRange(slba, nlb)) return LBA_OUT_OF_RANGE;
    const w = zones.checkWrite(slba, nlb, false);
    if (w.status !== SUCCESS) return w.status;
    const r = handler(ctx, cmd, ns);
    if (r === SUCCESS || r === LATER) zones.wrote(w.at, nlb);
    return r;
  }
  if (READS.has(cmd.opcode) && ns.inRange(slba, nlb)) {
    const s = zones.checkRead(slba, nlb);
    if (s !== SUCCESS) return s;
  }
  return handler(ctx, cmd, ns);
}

/** Zone Append: the data goes to the zone's write pointer, and the completion says where (DW0, DW1). */
function append(ctx: HandlerContext, cmd: Command, ns: Namespace, zones: ZoneSet, writeAt: WriteAt): HandlerResult {
  const zslba = slbaOf(cmd);
  const nlb = nlbOf(cmd);
  if (!ns.inRange(zslba, nlb)) return LBA_OUT_OF_RANGE;
  const w = zones.checkWrite(zslba, nlb, true);
  if (w.status !== SUCCESS) return w.status;
  // Set before the write runs: a write that completes later completes a copy of the command.
  cmd.dw0 = w.at >>> 0;
  cmd.dw1 = Math.floor(w.at / 2 ** 32) >>> 0;
  const r = writeAt(ctx, cmd, ns, w.at);
  if (r === SUCCESS || r === LATER) zones.wrote(w.at, nlb);
  return r;
}

/** Zone Management Send: open, close, finish, reset or offline one zone, or all it applies to. */
function send(ctx: HandlerContext, cmd: Command, ns: Namespace, zones: ZoneSet): HandlerResult {
  const all = (cmd.cdw13 & Z.ZMS_SELECT_ALL) !== 0;
  const slba = slbaOf(cmd);
  if (!all && slba >= ns.blocks) return LBA_OUT_OF_RANGE;
  const { status, erase } = zones.manage(cmd.cdw13 & Z.ZSA_MASK, slba, all);
  if (status !== SUCCESS || erase.length === 0) return status;
  // A reset zone reads as zeros again.
  return settle(ctx, cmd, ns, () => {
    const waits = erase.map(([o, l]) => ns.erase(o, l)).filter((r): r is Promise<void> => r instanceof Promise);
    if (waits.length) return Promise.all(waits).then(() => undefined);
  }, true);
}

/** Zone Management Receive: Report Zones (no zone descriptor extensions, so no extended report). */
function receive(ctx: HandlerContext, cmd: Command, ns: Namespace, zones: ZoneSet): HandlerResult {
  const bytes = (cmd.cdw12 + 1) * 4; // NUMD, 0's based dwords
  const slba = slbaOf(cmd);
  if ((cmd.cdw13 & Z.ZRA_MASK) !== Z.ZRA_REPORT || bytes > ctx.config.mdtsBytes) return INVALID_FIELD;
  if (slba >= ns.blocks) return LBA_OUT_OF_RANGE;
  const report = zones.report(slba, (cmd.cdw13 >>> Z.ZRASF_SHIFT) & Z.ZRASF_MASK, (cmd.cdw13 & Z.ZMR_PARTIAL) !== 0, bytes);
  if (!(report instanceof Uint8Array)) return report;
  return sendToHost(ctx, cmd, report);
}
