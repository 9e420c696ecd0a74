// NVMe statuses. A Status is the 15-bit status field of completion dword 3 (bits 31:17, without
// the phase tag): (DNR << 14) | (More << 13) | (Status Code Type << 8) | Status Code. It is a
// number branded so that only status() makes one; a handler's answer is a Status or LATER.

import * as Z from "./zns.ts";

export const SCT_GENERIC = 0x000;
export const SCT_COMMAND_SPECIFIC = 0x100;
export const SCT_MEDIA = 0x200;
export const SCT_PATH = 0x300;
export const SCT_MASK = 0x700;
export const STATUS_DNR = 0x4000;
export const STATUS_MORE = 0x2000;

// Generic command status (SCT 0)
export const SC_SUCCESS = 0x00;
export const SC_INVALID_OPCODE = 0x01;
export const SC_INVALID_FIELD = 0x02;
export const SC_CID_CONFLICT = 0x03;
export const SC_DATA_TRANSFER_ERROR = 0x04;
export const SC_ABORTED_POWER_LOSS = 0x05;
export const SC_INTERNAL_ERROR = 0x06;
export const SC_ABORT_REQUESTED = 0x07;
export const SC_ABORTED_SQ_DELETION = 0x08;
export const SC_ABORTED_FUSE_FAIL = 0x09;
export const SC_ABORTED_FUSE_MISSING = 0x0a;
export const SC_INVALID_NAMESPACE = 0x0b;
export const SC_COMMAND_SEQUENCE_ERROR = 0x0c;
export const SC_INVALID_SGL_DESCRIPTOR = 0x0d;
export const SC_INVALID_SGL_COUNT = 0x0e;
export const SC_DATA_SGL_LENGTH_INVALID = 0x0f;
export const SC_SGL_DESCRIPTOR_TYPE_INVALID = 0x11;
export const SC_SGL_GRANULARITY_INVALID = 0x26;
export const SC_INVALID_PRP_OFFSET = 0x13;
export const SC_SANITIZE_FAILED = 0x1c;
export const SC_SANITIZE_IN_PROGRESS = 0x1d;
export const SC_ATOMIC_WRITE_UNIT_EXCEEDED = 0x14;
export const SC_INVALID_CMB_USE = 0x12;
export const SC_LBA_OUT_OF_RANGE = 0x80;
export const SC_CAPACITY_EXCEEDED = 0x81;
export const SC_NAMESPACE_NOT_READY = 0x82;
export const SC_FORMAT_IN_PROGRESS = 0x84;

// Command specific status (SCT 1)
export const SC_CQ_INVALID = 0x00;
export const SC_INVALID_QID = 0x01;
export const SC_INVALID_QUEUE_SIZE = 0x02;
export const SC_ABORT_LIMIT_EXCEEDED = 0x03;
export const SC_AER_LIMIT_EXCEEDED = 0x05;
export const SC_INVALID_FIRMWARE_SLOT = 0x06;
export const SC_INVALID_LOG_PAGE = 0x09;
export const SC_INVALID_FORMAT = 0x0a;
export const SC_INVALID_QUEUE_DELETION = 0x0c;
export const SC_FEATURE_NOT_SAVEABLE = 0x0d;
export const SC_FEATURE_NOT_CHANGEABLE = 0x0e;
export const SC_FEATURE_NOT_NS_SPECIFIC = 0x0f;
export const SC_INVALID_INTERRUPT_VECTOR = 0x08;
export const SC_CONFLICTING_ATTRIBUTES = 0x80;
export const SC_NS_INSUFFICIENT_CAPACITY = 0x15;
export const SC_NS_ID_UNAVAILABLE = 0x16;
export const SC_NS_ALREADY_ATTACHED = 0x18;
export const SC_NS_NOT_ATTACHED = 0x1a;
export const SC_THIN_PROVISIONING_NOT_SUPPORTED = 0x1b;
export const SC_CONTROLLER_LIST_INVALID = 0x1c;
export const SC_COMMAND_SIZE_LIMIT_EXCEEDED = 0x83;
export const SC_INVALID_PROTECTION_INFO = 0x81;

// Media and data integrity errors (SCT 2)
export const SC_WRITE_FAULT = 0x80;
export const SC_UNRECOVERED_READ_ERROR = 0x81;
export const SC_GUARD_CHECK_ERROR = 0x82;
export const SC_APP_TAG_CHECK_ERROR = 0x83;
export const SC_REF_TAG_CHECK_ERROR = 0x84;
export const SC_COMPARE_FAILURE = 0x85;
export const SC_DEALLOCATED_OR_UNWRITTEN = 0x87;

declare const brand: unique symbol;

/** An NVMe status (0 = success), built with status(). */
export type Status = number & { readonly [brand]: "Status" };

export type StatusCodeType = typeof SCT_GENERIC | typeof SCT_COMMAND_SPECIFIC | typeof SCT_MEDIA | typeof SCT_PATH;

/** A status of type `sct` with code `sc`; `dnr`: retrying the same command cannot succeed. */
export function status(sct: StatusCodeType, sc: number, dnr: boolean): Status {
  return (sct | (sc & 0xff) | (dnr ? STATUS_DNR : 0)) as Status;
}

/** The status field a completion queue entry carries (bits 31:17 of dword 3): the one conversion. */
export function statusField(s: Status): number {
  return s & 0x7fff;
}

export function statusCodeType(s: Status): StatusCodeType {
  return (s & SCT_MASK) as StatusCodeType;
}

/** A handler's answer for a command that completes later, through the context's complete(). */
export const LATER: unique symbol = Symbol("completes later");
export type HandlerResult = Status | typeof LATER;

export const SUCCESS = status(SCT_GENERIC, SC_SUCCESS, false);
export const INVALID_OPCODE = status(SCT_GENERIC, SC_INVALID_OPCODE, true);
export const INVALID_FIELD = status(SCT_GENERIC, SC_INVALID_FIELD, true);
export const CID_CONFLICT = status(SCT_GENERIC, SC_CID_CONFLICT, true);
export const DATA_TRANSFER_ERROR = status(SCT_GENERIC, SC_DATA_TRANSFER_ERROR, true);
export const INTERNAL_ERROR = status(SCT_GENERIC, SC_INTERNAL_ERROR, false);
export const ABORT_REQUESTED = status(SCT_GENERIC, SC_ABORT_REQUESTED, false);
export const ABORTED_SQ_DELETION = status(SCT_GENERIC, SC_ABORTED_SQ_DELETION, false);
export const INVALID_NAMESPACE = status(SCT_GENERIC, SC_INVALID_NAMESPACE, true);
export const COMMAND_SEQUENCE_ERROR = status(SCT_GENERIC, SC_COMMAND_SEQUENCE_ERROR, true);
export const INVALID_PRP_OFFSET = status(SCT_GENERIC, SC_INVALID_PRP_OFFSET, true);
export const INVALID_SGL_SEGMENT = status(SCT_GENERIC, SC_INVALID_SGL_DESCRIPTOR, true);
export const INVALID_SGL_COUNT = status(SCT_GENERIC, SC_INVALID_SGL_COUNT, true);
export const DATA_SGL_LENGTH_INVALID = status(SCT_GENERIC, SC_DATA_SGL_LENGTH_INVALID, true);
export const SGL_DESCRIPTOR_TYPE_INVALID = status(SCT_GENERIC, SC_SGL_DESCRIPTOR_TYPE_INVALID, true);
export const SGL_GRANULARITY_INVALID = status(SCT_GENERIC, SC_SGL_GRANULARITY_INVALID, true);
export const LBA_OUT_OF_RANGE = status(SCT_GENERIC, SC_LBA_OUT_OF_RANGE, true);
export const CAPACITY_EXCEEDED = status(SCT_GENERIC, SC_CAPACITY_EXCEEDED, true);
export const CQ_INVALID = status(SCT_COMMAND_SPECIFIC, SC_CQ_INVALID, true);
export const INVALID_QID = status(SCT_COMMAND_SPECIFIC, SC_INVALID_QID, true);
export const INVALID_QUEUE_SIZE = status(SCT_COMMAND_SPECIFIC, SC_INVALID_QUEUE_SIZE, true);
export const AER_LIMIT_EXCEEDED = status(SCT_COMMAND_SPECIFIC, SC_AER_LIMIT_EXCEEDED, false);
export const INVALID_INTERRUPT_VECTOR = status(SCT_COMMAND_SPECIFIC, SC_INVALID_INTERRUPT_VECTOR, true);
export const INVALID_LOG_PAGE = status(SCT_COMMAND_SPECIFIC, SC_INVALID_LOG_PAGE, true);
export const INVALID_QUEUE_DELETION = status(SCT_COMMAND_SPECIFIC, SC_INVALID_QUEUE_DELETION, true);
export const FEATURE_NOT_SAVEABLE = status(SCT_COMMAND_SPECIFIC, SC_FEATURE_NOT_SAVEABLE, true);
export const FEATURE_NOT_NS_SPECIFIC = status(SCT_COMMAND_SPECIFIC, SC_FEATURE_NOT_NS_SPECIFIC, true);
export const INVALID_FORMAT = status(SCT_COMMAND_SPECIFIC, SC_INVALID_FORMAT, true);
export const NS_INSUFFICIENT_CAPACITY = status(SCT_COMMAND_SPECIFIC, SC_NS_INSUFFICIENT_CAPACITY, true);
export const NS_ID_UNAVAILABLE = status(SCT_COMMAND_SPECIFIC, SC_NS_ID_UNAVAILABLE, true);
export const NS_ALREADY_ATTACHED = status(SCT_COMMAND_SPECIFIC, SC_NS_ALREADY_ATTACHED, true);
export const NS_NOT_ATTACHED = status(SCT_COMMAND_SPECIFIC, SC_NS_NOT_ATTACHED, true);
export const THIN_PROVISIONING_NOT_SUPPORTED = status(SCT_COMMAND_SPECIFIC, SC_THIN_PROVISIONING_NOT_SUPPORTED, true);
export const CONTROLLER_LIST_INVALID = status(SCT_COMMAND_SPECIFIC, SC_CONTROLLER_LIST_INVALID, true);
export const WRITE_FAULT = status(SCT_MEDIA, SC_WRITE_FAULT, false);
export const UNRECOVERED_READ_ERROR = status(SCT_MEDIA, SC_UNRECOVERED_READ_ERROR, false);
export const COMPARE_FAILURE = status(SCT_MEDIA, SC_COMPARE_FAILURE, true);
export const GUARD_CHECK_ERROR = status(SCT_MEDIA, SC_GUARD_CHECK_ERROR, true);
export const APP_TAG_CHECK_ERROR = status(SCT_MEDIA, SC_APP_TAG_CHECK_ERROR, true);
export const REF_TAG_CHECK_ERROR = status(SCT_MEDIA, SC_REF_TAG_CHECK_ERROR, true);
export const INVALID_PROTECTION_INFO = status(SCT_COMMAND_SPECIFIC, SC_INVALID_PROTECTION_INFO, true);
export const SANITIZE_IN_PROGRESS = status(SCT_GENERIC, SC_SANITIZE_IN_PROGRESS, false);
export const FORMAT_IN_PROGRESS = status(SCT_GENERIC, SC_FORMAT_IN_PROGRESS, false);
export const COMMAND_SIZE_LIMIT_EXCEEDED = status(SCT_COMMAND_SPECIFIC, SC_COMMAND_SIZE_LIMIT_EXCEEDED, true);
export const IOCS_COMBINATION_REJECTED = status(SCT_COMMAND_SPECIFIC, Z.SC_IOCS_COMBINATION_REJECTED, true);
export const INVALID_IOCS = status(SCT_COMMAND_SPECIFIC, Z.SC_INVALID_IOCS, true);
export const ZONE_BOUNDARY_ERROR = status(SCT_COMMAND_SPECIFIC, Z.SC_ZONE_BOUNDARY_ERROR, true);
export const ZONE_IS_FULL = status(SCT_COMMAND_SPECIFIC, Z.SC_ZONE_IS_FULL, true);
export const ZONE_IS_READ_ONLY = status(SCT_COMMAND_SPECIFIC, Z.SC_ZONE_IS_READ_ONLY, true);
export const ZONE_IS_OFFLINE = status(SCT_COMMAND_SPECIFIC, Z.SC_ZONE_IS_OFFLINE, true);
export const ZONE_INVALID_WRITE = status(SCT_COMMAND_SPECIFIC, Z.SC_ZONE_INVALID_WRITE, true);
export const TOO_MANY_ACTIVE_ZONES = status(SCT_COMMAND_SPECIFIC, Z.SC_TOO_MANY_ACTIVE_ZONES, true);
export const TOO_MANY_OPEN_ZONES = status(SCT_COMMAND_SPECIFIC, Z.SC_TOO_MANY_OPEN_ZONES, true);
export const INVALID_ZONE_STATE_TRANSITION = status(SCT_COMMAND_SPECIFIC, Z.SC_INVALID_ZONE_STATE_TRANSITION, true);
