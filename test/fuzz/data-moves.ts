// The hostile host's data-management moves: Format NVM while I/O is in flight on the namespace (or
// on all of them), Copy with hostile range lists (overlapping, past the end, too many or too long
// ranges, another descriptor format), Write Uncorrectable followed by reads, Verifies and Copies of
// those blocks, Verify, now and then a Sanitize during I/O, and formats with metadata and protection
// information (MSET, PI, PIL) under reads, writes and Write Zeroes with hostile PRINFO, tags and
// MPTRs. None of them waits for its completion: the driver's reaping and the invariants take them
// like any other command.

import * as O from "../../src/spec/opcodes.ts";
import type { Rng } from "../driver/rng.ts";
import type { Sqe } from "../driver/host-driver.ts";

/** What the moves need of the hostile host. */
export interface DataMovePort {
  readonly r: Rng;
  /** An I/O queue id, if any exists. */
  ioQueue(): number | undefined;
  hasAdminQueue(): boolean;
  submit(qid: number, e: Sqe): number;
  /** A valid data buffer of `len` bytes: [prp1, prp2]. */
  buffer(len: number): [number, number];
  w32(addr: number, v: number): void;
  w64(addr: number, v: number): void;
}

/** The fuzz machine's namespaces are 256 KiB each; these reach past them too. */
const NSIDS = [1, 2, 3, 1, 2, 3, 0, 4, 0xffffffff];

function slba(r: Rng): number {
  return r.pick([r.below(512), r.below(64), 511, 512, 2 ** 32 - 1, 2 ** 40, r.u32()]);
}

/** A few valid-looking reads and writes on `nsid` (with PI fields and a metadata buffer now and then), left in flight. */
function someIo(p: DataMovePort, qid: number, nsid: number): void {
  const r = p.r;
  for (let i = r.below(4); i >= 0; i--) {
    const nlb = 1 + r.below(8);
    // Room for extended LBAs of 16 bytes of metadata, whatever the format.
    const [prp1, prp2] = p.buffer(nlb * 528);
    const slba = r.below(64);
    const f = r.chance(30) ? piFields(r, slba) : undefined;
    const opcode = r.pick([O.IO_WRITE, O.IO_READ, O.IO_WRITE_ZEROES, O.IO_COMPARE, O.IO_VERIFY]);
    p.submit(qid, { opcode, nsid, prp1, prp2, cdw10: slba, cdw12: (nlb - 1) | (f?.cdw12 ?? 0), cdw14: f?.cdw14, cdw15: f?.cdw15, mptr: f && metadataPointer(p, nlb) });
  }
}

/** PRINFO (CDW12 bits 29:26), ILBRT and LBAT/LBATM: mostly what a host that knows the LBA sends, sometimes anything. */
function piFields(r: Rng, slba: number): { cdw12: number; cdw14: number; cdw15: number } {
  return { cdw12: r.below(16) << 26, cdw14: r.chance(70) ? slba : r.u32(), cdw15: r.chance(70) ? r.below(4) | (0xffff << 16) : r.u32() };
}

/** A metadata buffer for `nlb` blocks of up to 16 bytes, or a hostile MPTR (unaligned, outside RAM, 0). */
function metadataPointer(p: DataMovePort, nlb: number): number {
  const r = p.r;
  if (r.chance(80)) return p.buffer(nlb * 16)[0];
  return r.pick([p.buffer(64)[0] + 2, 2 ** 32 - 8, 2 ** 40, 0, r.u32()]);
}

function format(p: DataMovePort, nsid: number): void {
  const r = p.r;
  // LBAFs 2-5 carry 8 or 16 bytes of metadata; MSET (bit 4), PI (7:5) and PIL (bit 8) place and protect it.
  const lbaf = r.chance(85) ? r.below(6) : r.below(16) | (r.below(4) << 12);
  const ses = r.chance(85) ? r.below(2) : r.below(8);
  const pi = r.chance(40) ? r.below(r.chance(90) ? 4 : 8) << 5 : 0;
  const placement = (r.chance(30) ? 1 << 4 : 0) | (r.chance(30) ? 1 << 8 : 0);
  p.submit(0, { opcode: O.ADMIN_FORMAT_NVM, nsid, cdw10: lbaf | pi | placement | (ses << 9) });
}

function copy(p: DataMovePort, qid: number, nsid: number): void {
  const r = p.r;
  const count = r.chance(90) ? 1 + r.below(8) : r.pick([128, 129, 256]);
  const [prp1, prp2] = p.buffer(Math.min(count, 128) * 32);
  for (let i = 0; i < Math.min(count, 128); i++) {
    const at = prp1 + i * 32; // the buffer is contiguous in guest memory
    p.w64(at + 8, slba(r));
    p.w32(at + 16, r.chance(80) ? r.below(16) : r.pick([255, 256, 2047, 0xffff]));
  }
  const cdw12 = ((count - 1) & 0xff) | (r.chance(10) ? r.below(16) << 8 : 0) | (r.chance(10) ? 1 << 30 : 0);
  const dest = slba(r);
  p.submit(qid, { opcode: O.IO_COPY, nsid, prp1, prp2, cdw10: dest % 2 ** 32, cdw11: Math.floor(dest / 2 ** 32), cdw12 });
}

function uncorrectableThenRead(p: DataMovePort, qid: number, nsid: number): void {
  const r = p.r;
  const start = r.below(512);
  const nlb = 1 + r.below(16);
  p.submit(qid, { opcode: O.IO_WRITE_UNCORRECTABLE, nsid, cdw10: start, cdw12: nlb - 1 });
  const at = Math.max(0, start - 2 + r.below(nlb + 4));
  const [prp1, prp2] = p.buffer(4 * 512);
  const opcode = r.pick([O.IO_READ, O.IO_VERIFY, O.IO_COMPARE, O.IO_WRITE]);
  p.submit(qid, { opcode, nsid, prp1, prp2, cdw10: at, cdw12: r.below(4) });
}

/** One data-management input. */
export function dataMove(p: DataMovePort): void {
  const r = p.r;
  const qid = p.ioQueue();
  const nsid = r.pick(NSIDS);
  if (qid === undefined || r.chance(25)) {
    if (!p.hasAdminQueue()) return;
    if (qid !== undefined && nsid >= 1 && nsid <= 3) someIo(p, qid, nsid);
    if (r.chance(3)) p.submit(0, { opcode: O.ADMIN_SANITIZE, cdw10: r.chance(80) ? 2 | (r.below(2) << 9) : r.u32() });
    else format(p, nsid);
    return;
  }
  switch (r.below(3)) {
    case 0: return copy(p, qid, nsid);
    case 1: return uncorrectableThenRead(p, qid, nsid);
    default: {
      const start = slba(r);
      p.submit(qid, { opcode: O.IO_VERIFY, nsid, cdw10: start % 2 ** 32, cdw11: Math.floor(start / 2 ** 32), cdw12: r.chance(80) ? r.below(64) : r.u32() });
    }
  }
}
