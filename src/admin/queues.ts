// Create/Delete I/O Submission and Completion Queue. Rings are contiguous (CAP.CQR = 1), sized up
// to CAP.MQES + 1, and use interrupt vector 0 (pin-based interrupts have no other). Several SQs
// may name the same CQ; a CQ cannot be deleted while an SQ still completes into it.

import type { Device } from "../device.ts";
import type { Command } from "../command.ts";
import * as S from "../spec/status.ts";
import { SQE_SIZE_SHIFT, CQE_SIZE_SHIFT } from "../spec/queue.ts";
import { MAX_QUEUES, ST_PAGE_SIZE } from "../../asm/layout.ts";

const invalidQid = S.SCT_COMMAND_SPECIFIC | S.SC_INVALID_QID | S.STATUS_DNR;
const invalidSize = S.SCT_COMMAND_SPECIFIC | S.SC_INVALID_QUEUE_SIZE | S.STATUS_DNR;
const invalidField = S.SCT_GENERIC | S.SC_INVALID_FIELD | S.STATUS_DNR;

/** Queue id and 1's based size from CDW10 (QID 15:0, QSIZE 31:16 0's based). */
function idAndSize(cmd: Command): [number, number] {
  return [cmd.cdw10 & 0xffff, (cmd.cdw10 >>> 16) + 1];
}

/** Common checks: id in the allocated range, size within MQES, contiguous, page-aligned base. */
function checkNew(dev: Device, cmd: Command, qid: number, size: number, allocated: number): number {
  if (qid === 0 || qid > allocated + 1) return invalidQid;
  if (size < 2 || size > dev.config.mqes) return invalidSize;
  if ((cmd.cdw11 & 1) === 0) return invalidField; // PC = 0: non-contiguous queues are not offered
  const pageMask = dev.hp.u32(ST_PAGE_SIZE) - 1;
  if ((cmd.prp1Lo & pageMask) !== 0) return S.SCT_GENERIC | S.SC_INVALID_PRP_OFFSET | S.STATUS_DNR;
  return 0;
}

export function createCq(dev: Device, cmd: Command): number {
  const [qid, size] = idAndSize(cmd);
  const s = checkNew(dev, cmd, qid, size, dev.features.ncqa);
  if (s) return s;
  if (dev.hp.x.cqExists(qid)) return invalidQid;
  if (dev.ioCqEntryShift !== CQE_SIZE_SHIFT) return invalidField;
  if ((cmd.cdw11 >>> 16) !== 0) return S.SCT_COMMAND_SPECIFIC | S.SC_INVALID_INTERRUPT_VECTOR | S.STATUS_DNR;
  const ien = (cmd.cdw11 >>> 1) & 1;
  if (!dev.hp.x.cqCreate(qid, cmd.prp1Lo, cmd.prp1Hi, size, ien)) return invalidField; // ring outside RAM
  return 0;
}

export function createSq(dev: Device, cmd: Command): number {
  const [qid, size] = idAndSize(cmd);
  const s = checkNew(dev, cmd, qid, size, dev.features.nsqa);
  if (s) return s;
  if (dev.hp.x.sqExists(qid)) return invalidQid;
  if (dev.ioSqEntryShift !== SQE_SIZE_SHIFT) return invalidField;
  const cqid = cmd.cdw11 >>> 16;
  if (cqid === 0 || !dev.hp.x.cqExists(cqid)) return S.SCT_COMMAND_SPECIFIC | S.SC_CQ_INVALID | S.STATUS_DNR;
  if (!dev.hp.x.sqCreate(qid, cmd.prp1Lo, cmd.prp1Hi, size, cqid)) return invalidField;
  return 0;
}

export function deleteSq(dev: Device, cmd: Command): number {
  const qid = cmd.cdw10 & 0xffff;
  if (qid === 0 || !dev.hp.x.sqExists(qid)) return invalidQid;
  dev.abortSqCommands(qid);
  dev.hp.x.sqDelete(qid);
  return 0;
}

export function deleteCq(dev: Device, cmd: Command): number {
  const qid = cmd.cdw10 & 0xffff;
  if (qid === 0 || !dev.hp.x.cqExists(qid)) return invalidQid;
  for (let sq = 1; sq < MAX_QUEUES; sq++) {
    if (dev.hp.x.sqExists(sq) && dev.hp.x.sqCqid(sq) === qid) {
      return S.SCT_COMMAND_SPECIFIC | S.SC_INVALID_QUEUE_DELETION | S.STATUS_DNR;
    }
  }
  dev.hp.x.cqDelete(qid);
  return 0;
}
