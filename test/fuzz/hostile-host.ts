// A hostile host for the controller: mostly a plausible driver (bring-up, I/O with PRP lists,
// shadow doorbells, reaping), mixed with hostile moves: register writes mid-I/O (CC toggles,
// AQA/ASQ/ACQ at or beyond the end of RAM, 64-bit halves in any order), doorbells for queues that
// do not exist or with values past the queue size, random SQEs, PRPs with bad offsets or lists
// that leave RAM, loop onto themselves or point into the queues, SGLs as hostile (sgl-moves.ts),
// Doorbell Buffer Config at the edge of RAM or outside it, queues overlapping each other or the
// shadow pages, CQs deleted under their SQs, Aborts of unknown commands, AER floods, completions
// late from a slow backend.
//
// Every call into the device goes through `call`, which checks the invariants (invariants.ts).

import { hotPathOf, NvmeController, type ControllerHost, type NvmeOptions } from "../../src/controller/controller.ts";
import { MemoryBackend } from "../../src/backends/memory.ts";
import { DeferredBackend } from "../driver/deferred-backend.ts";
import { GuestMemory } from "../driver/guest-memory.ts";
import * as R from "../../src/spec/registers.ts";
import * as O from "../../src/spec/opcodes.ts";
import { DOORBELL_BASE } from "../../src/spec/queue.ts";
import { Rng } from "../driver/rng.ts";
import { needEvent, sqeBytes, type Sqe } from "../driver/host-driver.ts";
import { Invariants } from "./invariants.ts";
import { sglCommand } from "./sgl-moves.ts";
import { namespaceMove } from "./namespace-moves.ts";
import { dataMove, type DataMovePort } from "./data-moves.ts";
import { ZONE_BLOCKS, zoneMove } from "./zone-moves.ts";

// Guest RAM layout of the fuzz machine (512 KiB: small, so every call can be diffed whole).
export const RAM = 512 << 10;
export const ADMIN_SQ = 0x2000;
export const ADMIN_CQ = 0x3000;
const SHADOW = 0x4000;
const EVENTIDX = 0x6000;
const QUEUES = 0x8000; // 16 slots of 8 KiB
const DATA = 0x28000; // 256 KiB of data buffers
const DATA_SIZE = 0x40000;
const LISTS = 0x68000; // 8 PRP list pages of 8 KiB
export const SERIAL = "FUZZ0001";

const IO_OPCODES = [O.IO_READ, O.IO_WRITE, O.IO_FLUSH, O.IO_COMPARE, O.IO_WRITE_ZEROES, O.IO_DATASET_MANAGEMENT];
const ANY_OPCODES = [
  ...IO_OPCODES, O.IO_WRITE_UNCORRECTABLE, O.ADMIN_DELETE_SQ, O.ADMIN_CREATE_SQ, O.ADMIN_GET_LOG_PAGE, O.ADMIN_DELETE_CQ,
  O.ADMIN_CREATE_CQ, O.ADMIN_IDENTIFY, O.ADMIN_ABORT, O.ADMIN_SET_FEATURES, O.ADMIN_GET_FEATURES,
  O.ADMIN_ASYNC_EVENT_REQUEST, O.ADMIN_NS_MANAGEMENT, O.ADMIN_FW_COMMIT, O.ADMIN_KEEP_ALIVE,
  O.ADMIN_DOORBELL_BUFFER_CONFIG, O.ADMIN_FORMAT_NVM, 0x7f, 0xc0, 0xff,
];

/** The fuzz machine's controller: four namespaces, the third behind `slow`, the fourth zoned. */
export function fuzzOptions(slow: DeferredBackend): NvmeOptions {
  return {
    name: "fuzz0",
    serial: SERIAL,
    maxIoQueuePairs: 8,
    nn: 8,
    guestCapacity: 1 << 20,
    namespaces: [
      { backend: new MemoryBackend(256 << 10) },
      { backend: new MemoryBackend(256 << 10), logicalBlockSize: 4096 },
      { backend: slow },
      // Zoned (zone-moves.ts): 16 zones of 32 blocks, at most 3 open and 4 active.
      { backend: new MemoryBackend(ZONE_BLOCKS * 16 * 512), zoned: { zoneSizeBlocks: ZONE_BLOCKS, zoneCapacityBlocks: ZONE_BLOCKS - 4, maxOpen: 3, maxActive: 4 } },
    ],
  };
}

interface Sq { base: number; size: number; tail: number; cqid: number; cid: number }
interface Cq { base: number; size: number; head: number; phase: number }

/** The ControllerHost side: interrupt line, dirty ranges, and handler failures (device bugs). */
class FuzzHost implements ControllerHost {
  level = false;
  dirty: [number, number][] = [];
  internalErrors: string[] = [];
  setIrq(level: boolean): void {
    this.level = level;
  }
  markDirty(start: number, end: number): void {
    this.dirty.push([start, end]);
  }
  log(_level: string, msg: string): void {
    // A handler that threw is answered with Internal Error: whatever the input, that is a bug.
    if (/failed: /.test(msg) && /command/.test(msg) && this.internalErrors.length < 8) this.internalErrors.push(msg);
  }
}

export class HostileHost {
  readonly mem = new GuestMemory(RAM, 64 << 10, 64 << 10);
  readonly host = new FuzzHost();
  /** The slow namespace's backend: a second controller (pair-moves.ts) shares its peer's. */
  readonly slow: DeferredBackend;
  ctrl!: NvmeController;
  inv!: Invariants;
  readonly r: Rng;
  inputs = 0;
  readonly sqs = new Map<number, Sq>();
  private cqs = new Map<number, Cq>();
  private pageSize = 4096;
  private shadowOn = false;
  private listNext = 0;

  /** `namespaceMoves`: false keeps the namespace table as configured (snapshots for another controller). */
  /** `peer`: this host drives a second controller of the peer's NVM subsystem, in RAM of its own (pair-moves.ts). */
  constructor(seed: number, private readonly namespaceMoves = true, private readonly peer?: HostileHost) {
    this.r = new Rng(seed);
    this.slow = peer?.slow ?? new DeferredBackend(256 << 10);
  }

  async start(): Promise<void> {
    const options = this.peer ? { sharedWith: this.peer.ctrl, name: "fuzz1" } : fuzzOptions(this.slow);
    this.ctrl = await NvmeController.create(options, this.mem, this.host);
    this.inv = new Invariants(this.ctrl, this.mem, this.host);
  }

  // ---- guest memory, as the host writes it ----

  w32(addr: number, v: number): void {
    if (addr >= 0 && addr + 4 <= RAM) this.mem.write32(addr, v);
  }

  private w64(addr: number, v: number): void {
    this.w32(addr, v % 2 ** 32);
    this.w32(addr + 4, Math.floor(v / 2 ** 32));
  }

  private r32(addr: number): number {
    return addr >= 0 && addr + 4 <= RAM ? this.mem.read32(addr) : 0;
  }

  // ---- calls into the device ----

  mmio(off: number, v: number): void {
    this.inv.call(`write 0x${(v >>> 0).toString(16)} to BAR0+0x${off.toString(16)}`, () => this.ctrl.mmioWrite32(off, v >>> 0));
  }

  /** The device's clock: virtual, so a seed replays the same interrupt aggregation decisions. */
  private clockMs = 0;

  tick(): void {
    this.clockMs += this.r.below(2000) / 1000;
    this.inv.call("timer tick", () => this.ctrl.tick(this.clockMs));
    // After a shutdown notification a tick does nothing (the host may have freed the shadow pages).
    if (((this.ctrl.mmioRead32(R.REG_CC) >>> R.CC_SHN_SHIFT) & 3) === R.SHN_NONE) this.inv.checkInterruptLine();
  }

  /** Lets the slow namespace finish what it holds; completions run in the microtasks that follow. */
  async settle(): Promise<void> {
    await this.inv.callAsync("slow backend completions", async () => {
      void this.slow.release();
      for (let i = 0; i < 4; i++) await Promise.resolve();
    });
  }

  // ---- a driver's moves ----

  private place(qid: number, e: Sqe): number {
    const sq = this.sqs.get(qid)!;
    const cid = e.cid ?? (sq.cid = (sq.cid + 1) & 0xffff);
    this.mem.fill(sq.base + sq.tail * 64, sqeBytes(e, cid)); // our queues lie inside RAM
    sq.tail = (sq.tail + 1) % sq.size;
    return cid;
  }

  /** Rings doorbell `idx` with `value` through MMIO, the shadow page (EventIdx rule), or the shadow page only. */
  private ring(idx: number, value: number, old: number): void {
    const how = this.shadowOn && idx > 1 ? this.r.below(10) : 9;
    if (how < 7) {
      this.w32(SHADOW + idx * 4, value);
      const ei = this.r32(EVENTIDX + idx * 4);
      if (!needEvent(ei, value, old) || how === 6) return; // 6: a host that forgets to ring (the next tick finds it)
    }
    this.mmio(DOORBELL_BASE + idx * 4, value);
  }

  submit(qid: number, e: Sqe): number {
    const sq = this.sqs.get(qid)!;
    const old = sq.tail;
    const cid = this.place(qid, e);
    this.ring(qid * 2, sq.tail, old);
    return cid;
  }

  /** Consumes CQ entries by phase tag and acknowledges them; returns them as [cid, status]. */
  reap(cqid: number): [number, number][] {
    const cq = this.cqs.get(cqid);
    if (!cq) return [];
    const out: [number, number][] = [];
    const old = cq.head;
    for (let n = 0; n < cq.size; n++) {
      const dw3 = this.r32(cq.base + cq.head * 16 + 12);
      if (((dw3 >>> 16) & 1) !== cq.phase) break;
      out.push([dw3 & 0xffff, dw3 >>> 17]);
      cq.head = (cq.head + 1) % cq.size;
      if (cq.head === 0) cq.phase ^= 1;
    }
    if (out.length) {
      this.ring(cqid * 2 + 1, cq.head, old);
      if (cqid === 0 || !this.shadowOn) this.inv.checkInterruptLine();
    }
    return out;
  }

  /** An admin command, waited for; its status, or -1 when no completion came. */
  admin(e: Sqe): number {
    if (!this.sqs.has(0)) return -1;
    const cid = this.submit(0, e);
    const got = this.reap(0).find(([c]) => c === cid);
    return got ? got[1] : -1;
  }

  /** Controller reset and the bring-up a driver does; `full` adds I/O queues and shadow doorbells. */
  bringUp(full: boolean): boolean {
    this.mmio(R.REG_CC, 0);
    this.sqs.clear();
    this.cqs.clear();
    this.shadowOn = false;
    const entries = full ? 2 + this.r.below(63) : 16;
    const mps = full && this.r.chance(10) ? 1 : 0;
    this.pageSize = 4096 << mps;
    for (let i = 0; i < entries * 64; i += 4) this.w32(ADMIN_SQ + i, 0);
    for (let i = 0; i < entries * 16; i += 4) this.w32(ADMIN_CQ + i, 0);
    this.mmio(R.REG_AQA, ((entries - 1) << 16) | (entries - 1));
    this.mmio(R.REG_ASQ, ADMIN_SQ);
    this.mmio(R.REG_ASQ + 4, 0);
    this.mmio(R.REG_ACQ, ADMIN_CQ);
    this.mmio(R.REG_ACQ + 4, 0);
    this.mmio(R.REG_CC, R.CC_EN | (mps << R.CC_MPS_SHIFT) | (6 << R.CC_IOSQES_SHIFT) | (4 << R.CC_IOCQES_SHIFT));
    if (!(this.ctrl.mmioRead32(R.REG_CSTS) & R.CSTS_RDY)) {
      this.inv.violation("a valid enable did not make the controller ready");
      return false;
    }
    this.sqs.set(0, { base: ADMIN_SQ, size: entries, tail: 0, cqid: 0, cid: 0 });
    this.cqs.set(0, { base: ADMIN_CQ, size: entries, head: 0, phase: 1 });
    if (!full) return true;
    this.admin({ opcode: O.ADMIN_SET_FEATURES, cdw10: 0x07, cdw11: (7 << 16) | 7 });
    if (this.r.chance(75)) this.shadowOn = this.admin({ opcode: O.ADMIN_DOORBELL_BUFFER_CONFIG, prp1: SHADOW, prp2: EVENTIDX }) === 0;
    const pairs = 1 + this.r.below(4);
    for (let q = 1; q <= pairs; q++) this.createPair(q, this.r.chance(20) && q > 1 ? 1 : q);
    if (this.r.chance(20)) this.admin({ opcode: O.ADMIN_SET_FEATURES, cdw10: 0x08, cdw11: this.r.below(0x10000) });
    return true;
  }

  private slot(i: number): number {
    return QUEUES + (i % 16) * 0x2000;
  }

  private createPair(qid: number, cqid: number): void {
    if (cqid === qid) {
      const size = 2 + this.r.below(63);
      const base = this.r.chance(5) ? this.slot(this.r.below(16)) : this.slot(qid * 2);
      for (let i = 0; i < size * 16; i += 4) this.w32(base + i, 0);
      if (this.admin({ opcode: O.ADMIN_CREATE_CQ, prp1: base, cdw10: ((size - 1) << 16) | qid, cdw11: (this.r.chance(85) ? 2 : 0) | 1 }) === 0) {
        this.cqs.set(qid, { base, size, head: 0, phase: 1 });
      }
    }
    if (!this.cqs.has(cqid)) return;
    const size = 2 + this.r.below(63);
    const base = this.r.chance(5) ? this.slot(this.r.below(16)) : this.slot(qid * 2 + 1);
    if (this.admin({ opcode: O.ADMIN_CREATE_SQ, prp1: base, cdw10: ((size - 1) << 16) | qid, cdw11: (cqid << 16) | 1 }) === 0) {
      this.sqs.set(qid, { base, size, tail: 0, cqid, cid: 0 });
    }
  }

  // ---- data buffers and PRPs ----

  /** A PRP list page of our own (round robin). */
  private listPage(): number {
    const p = LISTS + (this.listNext++ % 8) * 0x2000;
    return p - (p % this.pageSize);
  }

  /** A valid buffer of `len` bytes: [prp1, prp2]. */
  buffer(len: number): [number, number] {
    const ps = this.pageSize;
    const start = DATA + ((this.r.below(DATA_SIZE - len - ps) >>> 2) << 2);
    const first = ps - (start % ps);
    if (len <= first) return [start, 0];
    if (len <= first + ps) return [start, start + first];
    const list = this.listPage();
    const pages = Math.ceil((len - first) / ps);
    const slots = ps / 8;
    if (pages > slots) return [start, 0]; // longer than one list page: leave it to MDTS checks
    for (let i = 0; i < pages; i++) this.w64(list + i * 8, start + first + i * ps);
    return [start, list];
  }

  /** A PRP pair from the hostile menu. */
  hostilePrps(len: number): [number, number] {
    const ps = this.pageSize;
    const far = () => this.r.pick([RAM, RAM - 2, RAM + 4096 * this.r.below(64), 2 ** 32 + this.r.below(RAM), 2 ** 52, 0xffff_f000, RAM - ps]);
    const inside = () => this.inside();
    switch (this.r.below(9)) {
      case 0: return this.buffer(Math.max(4, Math.min(len, 0x10000)));
      case 1: return [DATA + 1 + this.r.below(4096), this.r.below(3) ? 0 : DATA + ps + 2]; // bad offsets
      case 2: return [far(), far()];
      case 3: return [DATA, far()];
      case 4: { // a list whose entries leave RAM or are misaligned
        const list = this.listPage();
        for (let i = 0; i < ps / 8; i++) this.w64(list + i * 8, this.r.chance(50) ? far() : DATA + i * ps + (this.r.chance(10) ? 4 : 0));
        return [DATA, list + (this.r.chance(10) ? 8 : 0)];
      }
      case 5: { // a list whose chain entry points at itself
        const list = this.listPage();
        for (let i = 0; i < ps / 8 - 1; i++) this.w64(list + i * 8, DATA + i * ps);
        this.w64(list + ps - 8, list);
        return [DATA, list];
      }
      case 6: { // a list into the queues and shadow pages
        const list = this.listPage();
        for (let i = 0; i < ps / 8; i++) this.w64(list + i * 8, inside() & ~(ps - 1));
        return [DATA, list];
      }
      case 7: return [inside(), inside()];
      default: return [this.r.u32(), this.r.u32()];
    }
  }

  /** An address inside RAM the device uses too: a queue slot, the shadow pages, the admin queues, data. */
  private inside(): number {
    return this.r.pick([this.slot(this.r.below(16)), SHADOW, EVENTIDX, ADMIN_SQ, ADMIN_CQ, DATA + this.r.below(DATA_SIZE)]);
  }

  /** An I/O command whose data pointer is an SGL, mostly a hostile one (sgl-moves.ts). */
  private sglIo(): void {
    const qid = this.ioQueue();
    if (qid === undefined) return this.adminMove();
    const nsid = 1 + this.r.below(3);
    const bs = nsid === 2 ? 4096 : 512;
    const far = () => this.r.pick([RAM, RAM - 16, RAM + 4096 * this.r.below(64), 2 ** 32 + this.r.below(RAM), 2 ** 52, 0xf000_0000]);
    const m = { r: this.r, data: [DATA, DATA_SIZE] as [number, number], segmentPage: () => this.listPage(), inside: () => this.inside(), far, fill: (a: number, b: Uint8Array) => this.mem.fill(a, b) };
    this.submit(qid, sglCommand(m, nsid, bs, (256 << 10) / bs));
  }

  // ---- actions: each is one fuzz input ----

  private ioQueue(): number | undefined {
    const ids = [...this.sqs.keys()].filter((q) => q !== 0);
    return ids.length ? this.r.pick(ids) : undefined;
  }

  validIo(): void {
    const qid = this.ioQueue();
    if (qid === undefined) return this.adminMove();
    const nsid = 1 + this.r.below(3);
    const bs = nsid === 2 ? 4096 : 512;
    const blocks = (256 << 10) / bs;
    const nlb = 1 + this.r.below(nsid === 2 ? 8 : 64);
    const slba = this.r.below(blocks - nlb + 1);
    const opcode = this.r.pick(IO_OPCODES);
    if (opcode === O.IO_DATASET_MANAGEMENT) {
      const [p1] = this.buffer(16);
      this.w32(p1 + 4, nlb);
      this.w64(p1 + 8, slba);
      this.submit(qid, { opcode, nsid, prp1: p1, cdw10: 0, cdw11: 4 });
      return;
    }
    const [prp1, prp2] = this.buffer(nlb * bs);
    this.submit(qid, { opcode, nsid, prp1, prp2, cdw10: slba, cdw12: (nlb - 1) | (this.r.chance(10) ? 1 << 30 : 0) });
  }

  private hostileCommand(): void {
    const qids = [...this.sqs.keys()];
    if (!qids.length) return this.registerWrite();
    const qid = this.r.pick(qids);
    const [prp1, prp2] = this.hostilePrps(512 * (1 + this.r.below(256)));
    const small = () => (this.r.chance(30) ? this.r.u32() : this.r.below(64));
    this.submit(qid, {
      opcode: this.r.chance(80) ? this.r.pick(ANY_OPCODES) : this.r.below(256),
      nsid: this.r.pick([0, 1, 2, 3, 4, 0xffffffff, this.r.u32()]),
      flags: this.r.chance(90) ? 0 : this.r.below(256),
      cid: this.r.chance(10) ? this.r.below(4) : undefined, // duplicate CIDs now and then
      prp1, prp2, cdw10: small(), cdw11: small(), cdw12: small(), cdw13: this.r.u32(), cdw14: this.r.u32(), cdw15: this.r.u32(),
    });
  }

  private adminMove(): void {
    if (!this.sqs.has(0)) return this.registerWrite();
    const r = this.r;
    const qid = () => r.pick([0, 1, 2, 3, 4, 5, 8, 9, 127, 128, 0xffff]);
    const addr = () => r.pick([this.slot(r.below(16)), SHADOW, EVENTIDX, ADMIN_SQ, RAM - this.pageSize, RAM, RAM - 64, 2 ** 32, DATA + 8]);
    switch (r.below(12)) {
      case 0: this.admin({ opcode: O.ADMIN_CREATE_CQ, prp1: addr(), cdw10: (r.pick([0, 1, 63, 1023, 0xffff]) << 16) | qid(), cdw11: r.below(4) | (r.below(3) << 16) }); return;
      case 1: this.admin({ opcode: O.ADMIN_CREATE_SQ, prp1: addr(), cdw10: (r.pick([0, 1, 63, 1023, 0xffff]) << 16) | qid(), cdw11: (qid() << 16) | r.below(8) }); return;
      case 2: {
        const q = qid();
        if (this.admin({ opcode: O.ADMIN_DELETE_SQ, cdw10: q }) === 0) this.sqs.delete(q);
        return;
      }
      case 3: {
        const q = qid();
        if (this.admin({ opcode: O.ADMIN_DELETE_CQ, cdw10: q }) === 0) this.cqs.delete(q);
        return;
      }
      case 4: this.admin({ opcode: O.ADMIN_ABORT, cdw10: qid() | (r.below(8) << 16) }); return;
      case 5: for (let i = r.below(8); i >= 0; i--) this.submit(0, { opcode: O.ADMIN_ASYNC_EVENT_REQUEST }); return;
      case 6: {
        const on = this.admin({ opcode: O.ADMIN_DOORBELL_BUFFER_CONFIG, prp1: r.chance(50) ? SHADOW : addr(), prp2: r.chance(50) ? EVENTIDX : addr() }) === 0;
        // Only the usual pages are tracked as the host's own; elsewhere the device's view is the truth.
        if (on) this.shadowOn = this.r32(SHADOW) === hotPathOf(this.ctrl).doorbellValue(0);
        return;
      }
      case 7: {
        const [p1, p2] = this.hostilePrps(4096);
        this.admin({ opcode: O.ADMIN_GET_LOG_PAGE, nsid: r.pick([0, 1, 0xffffffff]), prp1: p1, prp2: p2, cdw10: r.pick([1, 2, 3, 4, 5, r.below(256)]) | (r.below(2048) << 16) | (r.below(2) << 15), cdw11: r.chance(10) ? r.u32() : 0, cdw12: r.chance(20) ? r.u32() : 0, cdw13: r.chance(10) ? r.u32() : 0 });
        return;
      }
      case 8: {
        const [p1, p2] = this.hostilePrps(4096);
        this.admin({ opcode: O.ADMIN_IDENTIFY, nsid: r.pick([0, 1, 2, 3, 4, 0xffffffff]), prp1: p1, prp2: p2, cdw10: r.chance(70) ? r.below(4) : r.u32() });
        return;
      }
      case 9: {
        const [p1, p2] = this.hostilePrps(4096);
        this.admin({ opcode: O.ADMIN_SET_FEATURES, nsid: r.pick([0, 1, 0xffffffff]), prp1: p1, prp2: p2, cdw10: r.chance(80) ? r.below(0x20) : r.u32(), cdw11: r.chance(50) ? r.below(0x10000) : r.u32() });
        return;
      }
      case 10: {
        const [p1, p2] = this.hostilePrps(4096);
        this.admin({ opcode: O.ADMIN_GET_FEATURES, nsid: r.pick([0, 1, 0xffffffff]), prp1: p1, prp2: p2, cdw10: r.below(0x20) | (r.below(4) << 8) });
        return;
      }
      default: this.admin({ opcode: r.pick([O.ADMIN_KEEP_ALIVE, O.ADMIN_FORMAT_NVM, O.ADMIN_NS_MANAGEMENT, O.ADMIN_FW_COMMIT, 0xc1]) });
    }
  }

  private hostileDoorbell(): void {
    const r = this.r;
    const idx = r.chance(60) ? r.below(20) : r.below(0x3000 / 4);
    const known = this.sqs.get(idx >> 1)?.size ?? this.cqs.get(idx >> 1)?.size ?? 64;
    const value = r.pick([r.below(known), known, known + 1, 0xffff, 0xffffffff, r.u32()]);
    const off = DOORBELL_BASE + idx * 4 + (r.chance(3) ? 1 + r.below(3) : 0);
    if (off < this.ctrl.bar0Size) this.mmio(off, value);
  }

  /** The host scribbles its own memory the device reads: shadow slots, EventIdx, SQ slots, CQ slots. */
  private scribble(): void {
    const r = this.r;
    const v = r.chance(50) ? r.below(80) : r.u32();
    switch (r.below(4)) {
      case 0: this.w32(SHADOW + r.below(64) * 4, v); break;
      case 1: this.w32(EVENTIDX + r.below(64) * 4, v); break;
      case 2: this.w32(this.slot(r.below(16)) + r.below(0x2000 / 4) * 4, v); break;
      default: this.w32(ADMIN_SQ + r.below(64 * 16) * 4, v);
    }
  }

  registerWrite(): void {
    const r = this.r;
    const edge = () => r.pick([0, RAM - 64, RAM - 4096, RAM, RAM + 4096, 0xfffff000, r.u32() & ~0xfff]);
    const cc = () => r.chance(50)
      ? (r.below(2) | (6 << R.CC_IOSQES_SHIFT) | (4 << R.CC_IOCQES_SHIFT) | (r.below(4) << R.CC_SHN_SHIFT * (r.chance(70) ? 0 : 1)))
      : r.u32();
    const moves: [number, () => number][] = [
      [R.REG_CC, cc],
      [R.REG_AQA, () => r.chance(50) ? r.below(0x1000) | (r.below(0x1000) << 16) : r.u32()],
      [R.REG_ASQ, edge], [R.REG_ASQ + 4, () => r.below(3)], [R.REG_ACQ, edge], [R.REG_ACQ + 4, () => r.below(3)],
      [R.REG_INTMS, () => r.below(2) ? 1 : r.u32()], [R.REG_INTMC, () => r.below(2) ? 1 : r.u32()],
      [R.REG_NSSR, () => r.chance(30) ? R.NSSR_RESET_VALUE : r.u32()],
      [R.REG_CSTS, () => r.u32()], [R.REG_CAP, () => r.u32()], [R.REG_VS, () => r.u32()],
      [r.below(0x1000 / 4) * 4, () => r.u32()],
    ];
    const [off, value] = r.pick(moves);
    this.writeRegister(off, value());
  }

  /** A register write; a disable or subsystem reset took the host's queues with it. */
  writeRegister(off: number, v: number): void {
    this.mmio(off, v);
    // A disable or subsystem reset took the queues with it.
    if (!(this.ctrl.mmioRead32(R.REG_CSTS) & R.CSTS_RDY)) {
      this.sqs.clear();
      this.cqs.clear();
      this.shadowOn = false;
    }
  }

  private readonly actions: [number, () => void | Promise<void>][] = [
    [30, () => this.validIo()],
    [6, () => this.sglIo()],
    [12, () => this.hostileCommand()],
    [8, () => this.adminMove()],
    [14, () => { for (const q of [...this.cqs.keys()]) this.reap(q); }],
    [10, () => this.tick()],
    [4, () => this.settle()],
    [6, () => this.hostileDoorbell()],
    [4, () => this.scribble()],
    [5, () => this.registerWrite()],
    [2, () => { this.bringUp(true); }],
    [4, () => this.namespaceMoves && namespaceMove({
      r: this.r, ctrl: this.ctrl, admin: (e) => this.admin(e), write32: (a, v) => this.w32(a, v),
      buffer: (len, hostile) => (hostile ? this.hostilePrps(len) : this.buffer(len)), call: (what, fn) => this.inv.call(what, fn),
    })],
    [4, () => dataMove(this.dataPort())],
    [3, () => zoneMove(this.dataPort())],
  ];

  private dataPort(): DataMovePort {
    return {
      r: this.r, ioQueue: () => this.ioQueue(), hasAdminQueue: () => this.sqs.has(0), submit: (q, e) => this.submit(q, e),
      buffer: (len) => this.buffer(len), w32: (a, v) => this.w32(a, v), w64: (a, v) => this.w64(a, v),
    };
  }
  private readonly weights = this.actions.map(([w]) => w);
  private readonly total = this.weights.reduce((a, b) => a + b, 0);

  /** One fuzz input. */
  async step(): Promise<void> {
    this.inputs++;
    const r = this.actions[this.r.weighted(this.weights, this.total)][1]();
    if (r) await r;
  }

  /**
   * An episode: a full bring-up, `steps` inputs, then what must hold whatever came before: after
   * the slow backend settled, a controller reset leaves nothing pending, and a driver bringing the
   * controller up again gets a normal Identify.
   */
  async episode(steps: number, afterStep?: () => void): Promise<void> {
    this.bringUp(true);
    for (let i = 0; i < steps; i++) {
      await this.step();
      afterStep?.();
    }
    await this.finish();
  }

  /** An episode's end: the slow backend settled, a reset leaves nothing pending, a fresh Identify is normal. */
  async finish(): Promise<void> {
    await this.settle();
    if (!this.bringUp(false)) return;
    await this.settle(); // late completions of the old queues must go nowhere
    this.inv.checkQuiet();
    const id = DATA;
    for (let i = 0; i < 4096; i += 4) this.w32(id + i, 0);
    const status = this.admin({ opcode: O.ADMIN_IDENTIFY, prp1: id, cdw10: 1 });
    const sn = new TextDecoder().decode(this.mem.bytes(id + 4, SERIAL.length));
    if (status !== 0 || sn !== SERIAL) this.inv.violation(`after a reset, Identify Controller answered status 0x${status.toString(16)} with serial "${sn}"`);
  }
}
