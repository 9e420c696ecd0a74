// Create/Delete I/O Submission and Completion Queue. Rings are contiguous (CAP.CQR = 1), sized up
// to CAP.MQES + 1, and use interrupt vector 0 (pin-based interrupts have no other). Several SQs
// may name the same CQ; a CQ cannot be deleted while an SQ still completes into it.

import type { HandlerContext } from "../state/context.ts";
import type { Command } from "../command.ts";
import {
  CQ_INVALID, INVALID_FIELD, INVALID_INTERRUPT_VECTOR, INVALID_PRP_OFFSET, INVALID_QID, INVALID_QUEUE_DELETION,
  INVALID_QUEUE_SIZE, SUCCESS, type Status,
} from "../spec/status.ts";
import { SQE_SIZE_SHIFT, CQE_SIZE_SHIFT } from "../spec/queue.ts";

/** Queue id and 1's based size from CDW10 (QID 15:0, QSIZE 31:16 0's based). */
function idAndSize(cmd: Command): [number, number] {
  return [cmd.cdw10 & 0xffff, (cmd.cdw10 >>> 16) + 1];
}

/** Common checks: id in the allocated range, size within MQES, contiguous, page-aligned base. */
function checkNew(ctx: HandlerContext, cmd: Command, qid: number, size: number, allocated: number): Status {
  if (qid === 0 || qid > allocated + 1) return INVALID_QID;
  if (size < 2 || size > ctx.config.mqes) return INVALID_QUEUE_SIZE;
  if ((cmd.cdw11 & 1) === 0) return INVALID_FIELD; // PC = 0: non-contiguous queues are not offered
  const pageMask = ctx.hotPath.pageSize - 1;
  if ((cmd.prp1Lo & pageMask) !== 0) return INVALID_PRP_OFFSET;
  return SUCCESS;
}

export function createCq(ctx: HandlerContext, cmd: Command): Status {
  const [qid, size] = idAndSize(cmd);
  const s = checkNew(ctx, cmd, qid, size, ctx.features.ncqa);
  if (s !== SUCCESS) return s;
  if (ctx.hotPath.cqExists(qid)) return INVALID_QID;
  if (ctx.ioCqEntryShift !== CQE_SIZE_SHIFT) return INVALID_FIELD;
  if ((cmd.cdw11 >>> 16) !== 0) return INVALID_INTERRUPT_VECTOR;
  const interrupts = ((cmd.cdw11 >>> 1) & 1) !== 0;
  if (!ctx.hotPath.createCq(qid, cmd.prp1Lo, cmd.prp1Hi, size, interrupts)) return INVALID_FIELD; // ring outside RAM
  return SUCCESS;
}

export function createSq(ctx: HandlerContext, cmd: Command): Status {
  const [qid, size] = idAndSize(cmd);
  const s = checkNew(ctx, cmd, qid, size, ctx.features.nsqa);
  if (s !== SUCCESS) return s;
  if (ctx.hotPath.sqExists(qid)) return INVALID_QID;
  if (ctx.ioSqEntryShift !== SQE_SIZE_SHIFT) return INVALID_FIELD;
  const cqid = cmd.cdw11 >>> 16;
  if (cqid === 0 || !ctx.hotPath.cqExists(cqid)) return CQ_INVALID;
  if (!ctx.hotPath.createSq(qid, cmd.prp1Lo, cmd.prp1Hi, size, cqid)) return INVALID_FIELD;
  return SUCCESS;
}

export function deleteSq(ctx: HandlerContext, cmd: Command): Status {
  const qid = cmd.cdw10 & 0xffff;
  if (qid === 0 || !ctx.hotPath.sqExists(qid)) return INVALID_QID;
  ctx.abortSqCommands(qid);
  ctx.hotPath.deleteSq(qid);
  return SUCCESS;
}

export function deleteCq(ctx: HandlerContext, cmd: Command): Status {
  const qid = cmd.cdw10 & 0xffff;
  if (qid === 0 || !ctx.hotPath.cqExists(qid)) return INVALID_QID;
  if (ctx.hotPath.cqInUse(qid)) return INVALID_QUEUE_DELETION;
  ctx.hotPath.deleteCq(qid);
  return SUCCESS;
}
