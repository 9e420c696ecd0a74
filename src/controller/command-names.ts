// Names of opcodes and statuses for people reading a command trace: the spec's words, shortened
// where the spec's are a sentence. An opcode or status without a name shows as its number.

import * as O from "../spec/opcodes.ts";
import * as S from "../spec/status.ts";

const ADMIN = new Map<number, string>([
  [O.ADMIN_DELETE_SQ, "Delete I/O SQ"], [O.ADMIN_CREATE_SQ, "Create I/O SQ"], [O.ADMIN_GET_LOG_PAGE, "Get Log Page"],
  [O.ADMIN_DELETE_CQ, "Delete I/O CQ"], [O.ADMIN_CREATE_CQ, "Create I/O CQ"], [O.ADMIN_IDENTIFY, "Identify"],
  [O.ADMIN_ABORT, "Abort"], [O.ADMIN_SET_FEATURES, "Set Features"], [O.ADMIN_GET_FEATURES, "Get Features"],
  [O.ADMIN_ASYNC_EVENT_REQUEST, "Async Event Request"], [O.ADMIN_NS_MANAGEMENT, "Namespace Management"],
  [O.ADMIN_FW_COMMIT, "Firmware Commit"], [O.ADMIN_FW_DOWNLOAD, "Firmware Download"],
  [O.ADMIN_NS_ATTACHMENT, "Namespace Attachment"], [O.ADMIN_KEEP_ALIVE, "Keep Alive"],
  [O.ADMIN_DOORBELL_BUFFER_CONFIG, "Doorbell Buffer Config"], [O.ADMIN_FORMAT_NVM, "Format NVM"], [O.ADMIN_SANITIZE, "Sanitize"],
]);

const IO = new Map<number, string>([
  [O.IO_FLUSH, "Flush"], [O.IO_WRITE, "Write"], [O.IO_READ, "Read"], [O.IO_WRITE_UNCORRECTABLE, "Write Uncorrectable"],
  [O.IO_COMPARE, "Compare"], [O.IO_WRITE_ZEROES, "Write Zeroes"], [O.IO_DATASET_MANAGEMENT, "Dataset Management"],
  [O.IO_VERIFY, "Verify"], [O.IO_COPY, "Copy"],
  // Zoned Namespace command set.
  [0x79, "Zone Management Send"], [0x7a, "Zone Management Receive"], [0x7d, "Zone Append"],
]);

/** The command's name: admin opcodes on SQ 0, I/O opcodes on the others. */
export function opName(sqid: number, opcode: number): string {
  return (sqid === 0 ? ADMIN : IO).get(opcode) ?? `opcode 0x${opcode.toString(16).padStart(2, "0")}`;
}

const key = (sct: number, sc: number) => sct | sc;
const STATUS = new Map<number, string>([
  [key(S.SCT_GENERIC, S.SC_SUCCESS), "Success"],
  [key(S.SCT_GENERIC, S.SC_INVALID_OPCODE), "Invalid Opcode"],
  [key(S.SCT_GENERIC, S.SC_INVALID_FIELD), "Invalid Field"],
  [key(S.SCT_GENERIC, S.SC_CID_CONFLICT), "Command ID Conflict"],
  [key(S.SCT_GENERIC, S.SC_DATA_TRANSFER_ERROR), "Data Transfer Error"],
  [key(S.SCT_GENERIC, S.SC_ABORTED_POWER_LOSS), "Aborted: Power Loss"],
  [key(S.SCT_GENERIC, S.SC_INTERNAL_ERROR), "Internal Error"],
  [key(S.SCT_GENERIC, S.SC_ABORT_REQUESTED), "Abort Requested"],
  [key(S.SCT_GENERIC, S.SC_ABORTED_SQ_DELETION), "Aborted: SQ Deletion"],
  [key(S.SCT_GENERIC, S.SC_INVALID_NAMESPACE), "Invalid Namespace"],
  [key(S.SCT_GENERIC, S.SC_COMMAND_SEQUENCE_ERROR), "Command Sequence Error"],
  [key(S.SCT_GENERIC, S.SC_INVALID_SGL_DESCRIPTOR), "Invalid SGL Descriptor"],
  [key(S.SCT_GENERIC, S.SC_INVALID_PRP_OFFSET), "Invalid PRP Offset"],
  [key(S.SCT_GENERIC, S.SC_SANITIZE_IN_PROGRESS), "Sanitize In Progress"],
  [key(S.SCT_GENERIC, S.SC_LBA_OUT_OF_RANGE), "LBA Out of Range"],
  [key(S.SCT_GENERIC, S.SC_CAPACITY_EXCEEDED), "Capacity Exceeded"],
  [key(S.SCT_GENERIC, S.SC_NAMESPACE_NOT_READY), "Namespace Not Ready"],
  [key(S.SCT_GENERIC, S.SC_FORMAT_IN_PROGRESS), "Format In Progress"],
  [key(S.SCT_COMMAND_SPECIFIC, S.SC_CQ_INVALID), "Completion Queue Invalid"],
  [key(S.SCT_COMMAND_SPECIFIC, S.SC_INVALID_QID), "Invalid Queue Identifier"],
  [key(S.SCT_COMMAND_SPECIFIC, S.SC_INVALID_QUEUE_SIZE), "Invalid Queue Size"],
  [key(S.SCT_COMMAND_SPECIFIC, S.SC_AER_LIMIT_EXCEEDED), "AER Limit Exceeded"],
  [key(S.SCT_COMMAND_SPECIFIC, S.SC_INVALID_LOG_PAGE), "Invalid Log Page"],
  [key(S.SCT_COMMAND_SPECIFIC, S.SC_INVALID_FORMAT), "Invalid Format"],
  [key(S.SCT_COMMAND_SPECIFIC, S.SC_COMMAND_SIZE_LIMIT_EXCEEDED), "Command Size Limit Exceeded"],
  [key(S.SCT_MEDIA, S.SC_WRITE_FAULT), "Write Fault"],
  [key(S.SCT_MEDIA, S.SC_UNRECOVERED_READ_ERROR), "Unrecovered Read Error"],
  [key(S.SCT_MEDIA, S.SC_COMPARE_FAILURE), "Compare Failure"],
  [key(S.SCT_MEDIA, S.SC_DEALLOCATED_OR_UNWRITTEN), "Deallocated or Unwritten Block"],
]);

/** The status's name (without DNR and More), or its type and code in hex. */
export function statusName(status: number): string {
  const s = status & (S.SCT_MASK | 0xff);
  return STATUS.get(s) ?? `SCT ${(s >>> 8).toString(16)}h SC ${(s & 0xff).toString(16).padStart(2, "0")}h`;
}
