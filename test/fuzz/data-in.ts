// How many bytes a command may store into guest memory, from the spec's reading of its fields
// (not from the device's handlers): Read moves NLB blocks, Identify a 4 KiB structure, Get Log
// Page and Zone Management Receive NUMD dwords, Get Features at most a 4 KiB attribute structure.
// Everything else only reads.

import * as O from "../../src/spec/opcodes.ts";
import { IO_ZONE_MGMT_RECV } from "../../src/spec/zns.ts";

export function dataInLength(sqid: number, opcode: number, cdw10: number, cdw11: number, cdw12: number, lbaSize: number): number {
  if (sqid === 0) {
    switch (opcode) {
      case O.ADMIN_IDENTIFY: return 4096;
      case O.ADMIN_GET_LOG_PAGE: return ((((cdw11 & 0xffff) << 16) | (cdw10 >>> 16)) >>> 0) * 4 + 4;
      case O.ADMIN_GET_FEATURES: return 4096;
      default: return 0;
    }
  }
  if (opcode === IO_ZONE_MGMT_RECV) return (cdw12 + 1) * 4; // a zone report of NUMD dwords
  return opcode === O.IO_READ ? ((cdw12 & 0xffff) + 1) * lbaSize : 0;
}
