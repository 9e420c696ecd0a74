// The hostile host's zone moves, on the fuzz machine's zoned namespace (and now and then on the
// others, where zone commands are no commands at all): Zone Management Send with every action,
// Select All and zone start LBAs or not, Zone Management Receive with hostile report sizes,
// filters and LBAs, Zone Append to zone starts and elsewhere, and writes near write pointers.
// None of them waits for its completion: reaping and the invariants take them like any other.

import * as O from "../../src/spec/opcodes.ts";
import * as Z from "../../src/spec/zns.ts";
import type { DataMovePort } from "./data-moves.ts";

/** The fuzz machine's zoned namespace: 16 zones of 32 blocks of 512 bytes (fuzzOptions). */
export const ZONED_NSID = 4;
export const ZONE_BLOCKS = 32;

export function zoneMove(p: DataMovePort): void {
  const r = p.r;
  const qid = p.ioQueue();
  if (qid === undefined) return;
  const nsid = r.chance(85) ? ZONED_NSID : r.pick([1, 2, 3, 0, 0xffffffff]);
  const zone = r.chance(90) ? r.below(16) : r.pick([16, 17, 2 ** 20, r.u32()]);
  const lba = zone * ZONE_BLOCKS + (r.chance(75) ? 0 : r.pick([1, ZONE_BLOCKS - 1, r.below(ZONE_BLOCKS)]));
  const at = { cdw10: lba % 2 ** 32, cdw11: r.chance(95) ? Math.floor(lba / 2 ** 32) : r.u32() };
  switch (r.below(4)) {
    case 0: { // Zone Management Send: any action, one zone or all
      const action = r.chance(90) ? r.pick([Z.ZSA_CLOSE, Z.ZSA_FINISH, Z.ZSA_OPEN, Z.ZSA_RESET, Z.ZSA_OFFLINE]) : r.pick([0, 6, Z.ZSA_SET_DESCRIPTOR_EXTENSION, r.below(256)]);
      p.submit(qid, { opcode: Z.IO_ZONE_MGMT_SEND, nsid, ...at, cdw13: action | (r.chance(20) ? Z.ZMS_SELECT_ALL : 0) | (r.chance(5) ? r.u32() & ~0x1ff : 0) });
      return;
    }
    case 1: { // Zone Management Receive: report sizes from a few bytes to past MDTS, any filter
      const dwords = r.pick([0, 1, 15, 16, 31, 64 + r.below(1024), 1 << 17, r.u32()]);
      const [prp1, prp2] = p.buffer(Math.min(dwords * 4 + 4, 64 << 10));
      const filter = r.chance(80) ? r.below(8) : r.below(256);
      p.submit(qid, {
        opcode: Z.IO_ZONE_MGMT_RECV, nsid, prp1, prp2, ...at, cdw12: dwords >>> 0,
        cdw13: (r.chance(90) ? Z.ZRA_REPORT : r.below(256)) | (filter << Z.ZRASF_SHIFT) | (r.chance(50) ? Z.ZMR_PARTIAL : 0),
      });
      return;
    }
    case 2: { // Zone Append, mostly to a zone's start
      const nlb = r.chance(90) ? 1 + r.below(8) : r.pick([ZONE_BLOCKS, ZONE_BLOCKS + 1, 128]);
      const [prp1, prp2] = p.buffer(Math.min(nlb * 512, 64 << 10));
      p.submit(qid, { opcode: Z.IO_ZONE_APPEND, nsid, prp1, prp2, ...at, cdw12: (nlb - 1) | (r.chance(20) ? 1 << 30 : 0) });
      return;
    }
    default: { // writes and reads near a zone's start, across zones now and then
      const nlb = 1 + r.below(r.chance(80) ? 4 : 40);
      const [prp1, prp2] = p.buffer(nlb * 512);
      p.submit(qid, { opcode: r.pick([O.IO_WRITE, O.IO_WRITE, O.IO_READ, O.IO_WRITE_ZEROES, O.IO_VERIFY, O.IO_COPY]), nsid, prp1, prp2, ...at, cdw12: nlb - 1 });
    }
  }
}
