// A fetched command: the SQE fields the handlers use, copied out of the hot path's SQE slot by
// HotPath.fetch (the slot is reused by the next fetch, so a command that completes later keeps
// its own copy).

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
  /** MPTR (SQE dwords 5:4): the separate metadata buffer of a block command. */
  mptrLo = 0;
  mptrHi = 0;
  /** Completion dwords 0 and 1 a handler may set before it returns its status. */
  dw0 = 0;
  dw1 = 0;

  clone(): Command {
    return Object.assign(new Command(), this);
  }

  /**
   * PSDT (flags bits 7:6): 0 PRPs, 1 an SGL for the data (offered for I/O commands; MPTR a
   * contiguous metadata buffer with both), 2 an SGL with MPTR pointing at a metadata SGL segment
   * (not offered), 3 reserved.
   */
  get psdt(): number {
    return (this.flags >>> 6) & 3;
  }

  /** Anything but PRPs. */
  get usesSgl(): boolean {
    return this.psdt !== 0;
  }

  /** FUSE (flags bits 1:0): fused operations are not supported. */
  get fused(): boolean {
    return (this.flags & 0x03) !== 0;
  }
}
