// A software NVMe host driver for tests, shaped after how Linux drives a controller: bring-up
// through CC/CSTS, admin queue, Identify, Set Features (Number of Queues), Doorbell Buffer Config,
// I/O queue pairs, submit with (shadow) doorbells, reap completions by phase tag, CQ head updates.

import { NvmeController, type ControllerHost } from "../../src/controller/controller.ts";
import type { NvmeOptions } from "../../src/state/options.ts";
import { GuestMemory } from "./guest-memory.ts";
import { Rng } from "./rng.ts";
import * as R from "../../src/spec/registers.ts";
import * as O from "../../src/spec/opcodes.ts";

/** How the driver rings doorbells once a shadow page is configured. */
export type ShadowMode = "never" | "always" | "some" | "alternate";

export interface Sqe {
  opcode: number;
  nsid?: number;
  cid?: number;
  flags?: number;
  prp1?: number;
  prp2?: number;
  /** MPTR: the separate metadata buffer. */
  mptr?: number;
  /** An SGL descriptor for DPTR instead of prp1/prp2 (flags then need PSDT 01b: 0x40). */
  sgl?: SglDescriptor;
  cdw10?: number;
  cdw11?: number;
  cdw12?: number;
  cdw13?: number;
  cdw14?: number;
  cdw15?: number;
}

export interface Cqe {
  dw0: number;
  dw1: number;
  sqHead: number;
  sqid: number;
  cid: number;
  status: number; // 15-bit status field without the phase tag
}

interface SqState { qid: number; base: number; size: number; tail: number; cqid: number; nextCid: number }
interface CqState { qid: number; base: number; size: number; head: number; phase: number }

export class RecordingHost implements ControllerHost {
  level = false;
  rises = 0;
  dirty: [number, number][] = [];
  logs: string[] = [];
  io: [string, number][] = [];
  setIrq(level: boolean): void {
    if (level && !this.level) this.rises++;
    this.level = level;
  }
  markDirty(start: number, end: number): void {
    this.dirty.push([start, end]);
  }
  log(level: string, msg: string): void {
    this.logs.push(`${level}: ${msg}`);
  }
  ioDone(kind: string, bytes: number): void {
    this.io.push([kind, bytes]);
  }
  /** PCI Bus Master Enable, as a test sets it. */
  bus = true;
  busMaster(): boolean {
    return this.bus;
  }
}

export class HostDriver {
  readonly mem: GuestMemory;
  readonly host = new RecordingHost();
  ctrl!: NvmeController;
  readonly sqs = new Map<number, SqState>();
  readonly cqs = new Map<number, CqState>();
  shadow = 0;
  eventIdx = 0;
  shadowMode: ShadowMode = "always";
  /** Queues that use the shadow page in "some" mode. */
  shadowQueues = new Set<number>([1]);
  private alt = 0;
  mmioWrites = 0;
  pageSize = 4096;

  constructor(ramSize = 4 << 20) {
    this.mem = new GuestMemory(ramSize);
  }

  static async create(options: NvmeOptions, ramSize?: number): Promise<HostDriver> {
    const d = new HostDriver(ramSize);
    d.ctrl = await NvmeController.create(options, d.mem, d.host);
    return d;
  }

  reg(off: number): number {
    return this.ctrl.mmioRead32(off);
  }

  setReg(off: number, v: number): void {
    this.ctrl.mmioWrite32(off, v);
  }

  /** Canary bytes outside guest RAM that the device overwrote (must stay empty). */
  brokenCanaries(): number[] {
    return this.mem.brokenCanaries();
  }

  /** CC.EN = 1 with a fresh admin queue pair; returns CSTS. */
  enable(adminEntries = 32, mps = 0): number {
    const asq = this.mem.alloc(adminEntries * 64);
    const acq = this.mem.alloc(adminEntries * 16);
    this.pageSize = 4096 << mps;
    this.setReg(R.REG_AQA, ((adminEntries - 1) << 16) | (adminEntries - 1));
    this.setReg(R.REG_ASQ, asq);
    this.setReg(R.REG_ASQ + 4, 0);
    this.setReg(R.REG_ACQ, acq);
    this.setReg(R.REG_ACQ + 4, 0);
    this.sqs.clear();
    this.cqs.clear();
    this.shadow = this.eventIdx = 0;
    this.sqs.set(0, { qid: 0, base: asq, size: adminEntries, tail: 0, cqid: 0, nextCid: 0 });
    this.cqs.set(0, { qid: 0, base: acq, size: adminEntries, head: 0, phase: 1 });
    this.setReg(R.REG_CC, R.CC_EN | (mps << R.CC_MPS_SHIFT) | (6 << R.CC_IOSQES_SHIFT) | (4 << R.CC_IOCQES_SHIFT));
    return this.reg(R.REG_CSTS);
  }

  disable(): void {
    this.setReg(R.REG_CC, 0);
    this.sqs.clear();
    this.cqs.clear();
    this.shadow = this.eventIdx = 0;
  }

  private usesShadow(qid: number): boolean {
    if (!this.shadow || qid === 0) return false; // like Linux: the admin queue always rings MMIO
    switch (this.shadowMode) {
      case "never": return false;
      case "always": return true;
      case "some": return this.shadowQueues.has(qid);
      case "alternate": return (this.alt++ & 1) === 0;
    }
  }

  /** Writes doorbell `idx` the way the host is configured to. */
  ringDoorbell(idx: number, value: number, old: number): void {
    const qid = idx >> 1;
    if (this.usesShadow(qid)) {
      this.mem.write32(this.shadow + idx * 4, value);
      const ei = this.mem.read32(this.eventIdx + idx * 4);
      if (!needEvent(ei, value, old)) return;
    }
    this.mmioWrites++;
    this.setReg(0x1000 + idx * 4, value);
  }

  /** Places an SQE at the tail of SQ `qid`, without ringing. Returns the CID used. */
  place(qid: number, e: Sqe): number {
    const sq = this.sqs.get(qid);
    if (!sq) throw new Error(`no SQ ${qid}`);
    const cid = e.cid ?? sq.nextCid++ & 0xffff;
    this.mem.fill(sq.base + sq.tail * 64, sqeBytes(e, cid));
    sq.tail = (sq.tail + 1) % sq.size;
    return cid;
  }

  /** Rings SQ `qid`'s tail doorbell with what has been placed. */
  ring(qid: number, old?: number): void {
    const sq = this.sqs.get(qid)!;
    this.ringDoorbell(qid * 2, sq.tail, old ?? (sq.tail - 1 + sq.size) % sq.size);
  }

  submit(qid: number, e: Sqe): number {
    const cid = this.place(qid, e);
    this.ring(qid);
    return cid;
  }

  /** Completions waiting in CQ `cqid`, consumed and acknowledged (CQ head doorbell). */
  reap(cqid: number, max = Infinity): Cqe[] {
    const cq = this.cqs.get(cqid)!;
    const out: Cqe[] = [];
    const old = cq.head;
    while (out.length < max) {
      const a = cq.base + cq.head * 16;
      const dw3 = this.mem.read32(a + 12);
      if (((dw3 >>> 16) & 1) !== cq.phase) break;
      const dw2 = this.mem.read32(a + 8);
      out.push({ dw0: this.mem.read32(a), dw1: this.mem.read32(a + 4), sqHead: dw2 & 0xffff, sqid: dw2 >>> 16, cid: dw3 & 0xffff, status: dw3 >>> 17 });
      cq.head = (cq.head + 1) % cq.size;
      if (cq.head === 0) cq.phase ^= 1;
    }
    if (out.length) this.ringDoorbell(cqid * 2 + 1, cq.head, old);
    return out;
  }

  /** Submits and returns the completion, ticking the device timer until it arrives. */
  async run(qid: number, e: Sqe, maxTicks = 1000): Promise<Cqe> {
    const cid = this.submit(qid, e);
    const cqid = this.sqs.get(qid)!.cqid;
    for (let t = 0; t < maxTicks; t++) {
      const got = this.reap(cqid, 1);
      if (got.length) {
        if (got[0].cid !== cid) throw new Error(`expected cid ${cid}, got ${got[0].cid}`);
        return got[0];
      }
      this.ctrl.tick();
      await Promise.resolve();
      if (t > 10) await new Promise((r) => setTimeout(r, 0));
    }
    throw new Error(`no completion for cid ${cid} on SQ ${qid}`);
  }

  admin(e: Sqe): Promise<Cqe> {
    return this.run(0, e);
  }

  /** Identify into a fresh page; returns the 4 KiB it returned and the completion. */
  async identify(cns: number, nsid = 0): Promise<[Uint8Array, Cqe]> {
    const buf = this.mem.alloc(4096);
    const c = await this.admin({ opcode: O.ADMIN_IDENTIFY, nsid, prp1: buf, cdw10: cns });
    return [this.mem.bytes(buf, 4096), c];
  }

  async setNumQueues(n: number): Promise<Cqe> {
    return this.admin({ opcode: O.ADMIN_SET_FEATURES, cdw10: 0x07, cdw11: ((n - 1) << 16) | (n - 1) });
  }

  async configureShadow(): Promise<Cqe> {
    this.shadow = this.mem.alloc(this.pageSize, this.pageSize);
    this.eventIdx = this.mem.alloc(this.pageSize, this.pageSize);
    const c = await this.admin({ opcode: O.ADMIN_DOORBELL_BUFFER_CONFIG, prp1: this.shadow, prp2: this.eventIdx });
    if (c.status !== 0) this.shadow = this.eventIdx = 0;
    return c;
  }

  async createCq(qid: number, size: number, ien = true): Promise<Cqe> {
    const base = this.mem.alloc(size * 16, this.pageSize);
    const c = await this.admin({ opcode: O.ADMIN_CREATE_CQ, prp1: base, cdw10: ((size - 1) << 16) | qid, cdw11: (ien ? 2 : 0) | 1 });
    if (c.status === 0) this.cqs.set(qid, { qid, base, size, head: 0, phase: 1 });
    return c;
  }

  async createSq(qid: number, size: number, cqid: number): Promise<Cqe> {
    const base = this.mem.alloc(size * 64, this.pageSize);
    const c = await this.admin({ opcode: O.ADMIN_CREATE_SQ, prp1: base, cdw10: ((size - 1) << 16) | qid, cdw11: (cqid << 16) | 1 });
    if (c.status === 0) this.sqs.set(qid, { qid, base, size, tail: 0, cqid, nextCid: 0 });
    return c;
  }

  async deleteSq(qid: number): Promise<Cqe> {
    const c = await this.admin({ opcode: O.ADMIN_DELETE_SQ, cdw10: qid });
    if (c.status === 0) this.sqs.delete(qid);
    return c;
  }

  async deleteCq(qid: number): Promise<Cqe> {
    const c = await this.admin({ opcode: O.ADMIN_DELETE_CQ, cdw10: qid });
    if (c.status === 0) this.cqs.delete(qid);
    return c;
  }

  /** The Linux-like bring-up: enable, identify, queues, shadow doorbells, `pairs` I/O queue pairs. */
  async bringUp(opts: { pairs?: number; queueSize?: number; shadow?: boolean } = {}): Promise<void> {
    const csts = this.enable();
    if (!(csts & R.CSTS_RDY)) throw new Error(`controller not ready: CSTS 0x${csts.toString(16)}`);
    const [, c] = await this.identify(1);
    if (c.status) throw new Error(`identify failed: 0x${c.status.toString(16)}`);
    const pairs = opts.pairs ?? 1;
    await this.setNumQueues(pairs);
    if (opts.shadow ?? true) {
      const s = await this.configureShadow();
      if (s.status) throw new Error(`doorbell buffer config failed: 0x${s.status.toString(16)}`);
    }
    for (let q = 1; q <= pairs; q++) {
      const a = await this.createCq(q, opts.queueSize ?? 64);
      const b = await this.createSq(q, opts.queueSize ?? 64, q);
      if (a.status || b.status) throw new Error(`queue ${q} creation failed: 0x${a.status.toString(16)}/0x${b.status.toString(16)}`);
    }
  }

  /** A data buffer with a PRP list when it spans more than two pages; returns [prp1, prp2, dataAddr]. */
  buffer(bytes: number, offset = 0): [number, number, number] {
    const ps = this.pageSize;
    const data = this.mem.alloc(bytes + offset + ps, ps) + offset;
    const first = ps - (data % ps);
    if (bytes <= first) return [data, 0, data];
    if (bytes <= first + ps) return [data, data + first, data];
    const pages = Math.ceil((bytes - first) / ps);
    const list = this.mem.alloc(pages * 8, ps);
    for (let i = 0; i < pages; i++) this.mem.write64(list + i * 8, data + first + i * ps);
    return [data, list, data];
  }

  async read(qid: number, nsid: number, slba: number, blocks: number, blockSize = 512): Promise<[Cqe, Uint8Array]> {
    const [p1, p2, addr] = this.buffer(blocks * blockSize);
    const c = await this.run(qid, { opcode: O.IO_READ, nsid, prp1: p1, prp2: p2, cdw10: slba % 2 ** 32, cdw11: Math.floor(slba / 2 ** 32), cdw12: blocks - 1 });
    return [c, this.mem.bytes(addr, blocks * blockSize)];
  }

  async write(qid: number, nsid: number, slba: number, data: Uint8Array, blockSize = 512, fua = false): Promise<Cqe> {
    const [p1, p2, addr] = this.buffer(data.length);
    this.mem.fill(addr, data);
    return this.run(qid, { opcode: O.IO_WRITE, nsid, prp1: p1, prp2: p2, cdw10: slba % 2 ** 32, cdw11: Math.floor(slba / 2 ** 32), cdw12: (data.length / blockSize - 1) | (fua ? 1 << 30 : 0) });
  }
}

/** Linux's nvme_dbbuf_need_event: ring MMIO when the update moved past EventIdx. */
export function needEvent(eventIdx: number, newIdx: number, old: number): boolean {
  return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - old) & 0xffff);
}

/** An SGL descriptor: `type` is the identifier byte's high nibble (0 Data Block, 1 Bit Bucket, 2 Segment, 3 Last Segment), `subtype` its low one. */
export interface SglDescriptor { addr: number; len: number; type: number; subtype?: number }

/** The 16 bytes of an SGL descriptor. */
export function sglBytes(d: SglDescriptor): Uint8Array {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, d.addr % 2 ** 32 >>> 0, true);
  dv.setUint32(4, Math.floor(d.addr / 2 ** 32) >>> 0, true);
  dv.setUint32(8, d.len >>> 0, true);
  b[15] = ((d.type & 15) << 4) | ((d.subtype ?? 0) & 15);
  return b;
}

/** The 64 bytes of a submission queue entry. */
export function sqeBytes(e: Sqe, cid: number): Uint8Array {
  const b = new Uint8Array(64);
  const dv = new DataView(b.buffer);
  const u64 = (off: number, v: number) => {
    dv.setUint32(off, v % 2 ** 32 >>> 0, true);
    dv.setUint32(off + 4, Math.floor(v / 2 ** 32) >>> 0, true);
  };
  dv.setUint32(0, ((e.opcode & 0xff) | ((e.flags ?? 0) << 8) | (cid << 16)) >>> 0, true);
  dv.setUint32(4, (e.nsid ?? 0) >>> 0, true);
  u64(16, e.mptr ?? 0);
  u64(24, e.prp1 ?? 0);
  u64(32, e.prp2 ?? 0);
  if (e.sgl) b.set(sglBytes(e.sgl), 24);
  [e.cdw10, e.cdw11, e.cdw12, e.cdw13, e.cdw14, e.cdw15].forEach((v, i) => dv.setUint32(40 + i * 4, (v ?? 0) >>> 0, true));
  return b;
}

/** Deterministic bytes for data checks. */
export function pattern(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  const r = new Rng(seed * 2654435761);
  for (let i = 0; i < len; i++) out[i] = r.u32() & 0xff;
  return out;
}

/** Byte-exact equality of two buffers, cheap for megabytes (vitest's deep equality is not). */
export function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
