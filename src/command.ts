// A fetched command: the SQE fields the handlers use, copied out of the hot path's SQE slot (the
// slot is reused by the next fetch, so a command that completes later keeps its own copy).

import type { HotPath } from "./hotpath.ts";
import * as L from "../asm/layout.ts";
import * as Q from "./spec/queue.ts";

export class Command {
  sqid = 0;
  cqid = 0;
  opcode = 0;
  flags = 0;
  cid = 0;
  nsid = 0;
  cdw10 = 0;
  cdw11 = 0;
  cdw12 = 0;
  cdw13 = 0;
  cdw14 = 0;
  cdw15 = 0;
  prp1Lo = 0;
  prp1Hi = 0;
  prp2Lo = 0;
  prp2Hi = 0;
  /** Completion dwords 0 and 1 a handler may set before it returns its status. */
  dw0 = 0;
  dw1 = 0;

  /** Loads the SQE the hot path just fetched from `sqid`. */
  load(hp: HotPath, sqid: number, cqid: number): this {
    const dv = hp.view();
    const b = hp.state + L.ST_SQE;
    this.sqid = sqid;
    this.cqid = cqid;
    const dw0 = dv.getUint32(b, true);
    this.opcode = dw0 & 0xff;
    this.flags = (dw0 >>> 8) & 0xff;
    this.cid = dw0 >>> 16;
    this.nsid = dv.getUint32(b + Q.SQE_NSID, true);
    this.prp1Lo = dv.getUint32(b + Q.SQE_PRP1, true);
    this.prp1Hi = dv.getUint32(b + Q.SQE_PRP1 + 4, true);
    this.prp2Lo = dv.getUint32(b + Q.SQE_PRP2, true);
    this.prp2Hi = dv.getUint32(b + Q.SQE_PRP2 + 4, true);
    this.cdw10 = dv.getUint32(b + Q.SQE_CDW10, true);
    this.cdw11 = dv.getUint32(b + Q.SQE_CDW11, true);
    this.cdw12 = dv.getUint32(b + Q.SQE_CDW12, true);
    this.cdw13 = dv.getUint32(b + Q.SQE_CDW13, true);
    this.cdw14 = dv.getUint32(b + Q.SQE_CDW14, true);
    this.cdw15 = dv.getUint32(b + Q.SQE_CDW15, true);
    this.dw0 = 0;
    this.dw1 = 0;
    return this;
  }

  clone(): Command {
    return Object.assign(new Command(), this);
  }

  /** PSDT (flags bits 7:6): 0 means PRPs; anything else asks for SGLs, which we do not offer. */
  get usesSgl(): boolean {
    return (this.flags & 0xc0) !== 0;
  }

  /** FUSE (flags bits 1:0): fused operations are not supported. */
  get fused(): boolean {
    return (this.flags & 0x03) !== 0;
  }
}
