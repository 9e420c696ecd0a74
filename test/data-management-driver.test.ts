// Formats and data-management commands through the whole controller: Format NVM, Sanitize and its
// log, Verify, Copy and Write Uncorrectable, each status path, I/O in flight, resets and snapshots.
import { describe, it, expect } from "vitest";
import { HostDriver, pattern, type Cqe } from "./driver/host-driver.ts";
import { DeferredBackend } from "./driver/deferred-backend.ts";
import { MemoryBackend } from "../src/backends/memory.ts";
import { NvmeController } from "../src/controller/controller.ts";
import { BackendError } from "../src/backends/block-backend.ts";
import type { NamespaceOptions } from "../src/state/options.ts";
import { COPY_LIMITS } from "../src/state/options.ts";
const { mcl: MCL, msrc: MSRC, mssrl: MSSRL } = COPY_LIMITS;
import { UNCORRECTABLE_LIMIT } from "../src/state/namespace.ts";
import { RangeSet } from "../src/backends/range-set.ts";
import * as O from "../src/spec/opcodes.ts";
import * as I from "../src/spec/identify.ts";
import * as LOG from "../src/spec/logs.ts";

const sc = (c: Cqe) => c.status & 0x7ff;
const MiB = 1 << 20;

/** A memory disk whose reads fail inside [badFrom, badTo). */
class FlakyDisk extends MemoryBackend {
  badFrom = 0;
  badTo = 0;
  override tryRead(offset: number, dst: Uint8Array): boolean {
    if (offset < this.badTo && offset + dst.length > this.badFrom) throw new BackendError("media error");
    return super.tryRead(offset, dst);
  }
}

async function ready(namespaces: NamespaceOptions[] = [{ backend: new MemoryBackend(MiB) }]) {
  const d = await HostDriver.create({ namespaces, mdts: 5 }, 16 << 20);
  await d.bringUp({ pairs: 1 });
  return d;
}

/** A new controller on the same guest memory taking over from `d`'s with `state`: the driver carries on. */
async function takeOver(d: HostDriver, namespaces: NamespaceOptions[], state: ReturnType<NvmeController["saveState"]>): Promise<HostDriver> {
  const old = d.ctrl;
  d.ctrl = await NvmeController.create({ namespaces, mdts: 5 }, d.mem, d.host);
  old.reset();
  d.ctrl.restoreState(structuredClone(state));
  return d;
}

const lba = (slba: number) => ({ cdw10: slba % 2 ** 32, cdw11: Math.floor(slba / 2 ** 32) });
const format = (d: HostDriver, nsid: number, lbaf: number, ses = 0, extra = 0) =>
  d.admin({ opcode: O.ADMIN_FORMAT_NVM, nsid, cdw10: lbaf | (ses << 9) | extra });
const uncor = (d: HostDriver, nsid: number, slba: number, n: number) => d.run(1, { opcode: O.IO_WRITE_UNCORRECTABLE, nsid, ...lba(slba), cdw12: n - 1 });
const verify = (d: HostDriver, nsid: number, slba: number, n: number) => d.run(1, { opcode: O.IO_VERIFY, nsid, ...lba(slba), cdw12: n - 1 });
const zeroes = (d: HostDriver, nsid: number, slba: number, n: number) => d.run(1, { opcode: O.IO_WRITE_ZEROES, nsid, ...lba(slba), cdw12: n - 1 });

/** Copy to `sdlba` from `ranges` ([slba, blocks]) with a format 0 range list; `cdw12` adds fields. */
function copy(d: HostDriver, nsid: number, sdlba: number, ranges: [number, number][], cdw12 = 0): Promise<Cqe> {
  const list = d.mem.alloc(Math.max(4096, ranges.length * 32));
  ranges.forEach(([s, n], i) => {
    d.mem.write64(list + i * 32 + 8, s);
    d.mem.write32(list + i * 32 + 16, (n - 1) & 0xffff);
  });
  const [p1, p2] = [list, ranges.length * 32 > 4096 ? list + 4096 : 0];
  return d.run(1, { opcode: O.IO_COPY, nsid, prp1: p1, prp2: p2, ...lba(sdlba), cdw12: ((ranges.length - 1) & 0xff) | cdw12 });
}

async function sanitizeLog(d: HostDriver): Promise<{ sprog: number; sstat: number; scdw10: number; etBlockErase: number; c: Cqe }> {
  const buf = d.mem.alloc(512);
  const c = await d.admin({ opcode: O.ADMIN_GET_LOG_PAGE, prp1: buf, cdw10: LOG.LID_SANITIZE_STATUS | ((512 / 4 - 1) << 16) });
  const b = d.mem.bytes(buf, 512);
  const v = new DataView(b.buffer, b.byteOffset);
  return { sprog: v.getUint16(0, true), sstat: v.getUint16(2, true), scdw10: v.getUint32(4, true), etBlockErase: v.getUint32(12, true), c };
}

function bytesOf(disk: MemoryBackend, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  disk.tryRead(offset, out);
  return out;
}

describe("Identify for formats and data management", () => {
  it("advertises two LBA formats, Format NVM, Sanitize block erase, Verify, Copy and Write Uncorrectable", async () => {
    const d = await ready([{ backend: new MemoryBackend(MiB), logicalBlockSize: 4096 }]);
    const [c] = await d.identify(I.CNS_CONTROLLER);
    const cv = new DataView(c.buffer, c.byteOffset);
    expect(cv.getUint16(I.IDC_OACS, true) & I.OACS_FORMAT).toBe(I.OACS_FORMAT);
    const oncs = cv.getUint16(I.IDC_ONCS, true);
    expect(oncs & (I.ONCS_WRITE_UNCORRECTABLE | I.ONCS_VERIFY | I.ONCS_COPY)).toBe(I.ONCS_WRITE_UNCORRECTABLE | I.ONCS_VERIFY | I.ONCS_COPY);
    expect(c[I.IDC_FNA]).toBe(0);
    expect(cv.getUint32(I.IDC_SANICAP, true)).toBe((I.SANICAP_BLOCK_ERASE | (1 << 30)) >>> 0);
    expect(cv.getUint16(I.IDC_OCFS, true)).toBe(I.OCFS_FORMAT0);
    const [n] = await d.identify(I.CNS_NAMESPACE, 1);
    const nv = new DataView(n.buffer, n.byteOffset);
    expect(n[I.IDN_NLBAF]).toBe(5);
    expect(n[I.IDN_FLBAS]).toBe(1); // the option picked the initial format
    expect((nv.getUint32(I.IDN_LBAF0, true) >>> 16) & 0xff).toBe(9);
    expect((nv.getUint32(I.IDN_LBAF0 + 4, true) >>> 16) & 0xff).toBe(12);
    expect(nv.getUint16(I.IDN_MSSRL, true)).toBe(MSSRL);
    expect(nv.getUint32(I.IDN_MCL, true)).toBe(MCL);
    expect(n[I.IDN_MSRC]).toBe(MSRC);
  });

  it("lists the new commands with their effects", async () => {
    const d = await ready();
    const buf = d.mem.alloc(4096);
    expect((await d.admin({ opcode: O.ADMIN_GET_LOG_PAGE, prp1: buf, cdw10: LOG.LID_CMD_EFFECTS | (1023 << 16) })).status).toBe(0);
    const v = new DataView(d.mem.bytes(buf, 4096).buffer);
    const acs = (op: number) => v.getUint32(LOG.EFFECTS_ACS + op * 4, true);
    const iocs = (op: number) => v.getUint32(LOG.EFFECTS_IOCS + op * 4, true);
    expect(acs(O.ADMIN_FORMAT_NVM)).toBe(LOG.EFF_CSUPP | LOG.EFF_LBCC | LOG.EFF_NCC | LOG.EFF_CSE_ANY_NS);
    expect(acs(O.ADMIN_SANITIZE)).toBe(LOG.EFF_CSUPP | LOG.EFF_LBCC | LOG.EFF_CSE_ANY_NS);
    expect(iocs(O.IO_VERIFY)).toBe(LOG.EFF_CSUPP);
    expect(iocs(O.IO_COPY)).toBe(LOG.EFF_CSUPP | LOG.EFF_LBCC);
    expect(iocs(O.IO_WRITE_UNCORRECTABLE)).toBe(LOG.EFF_CSUPP | LOG.EFF_LBCC);
  });
});

describe("Format NVM", () => {
  it("switches between 512 and 4096-byte blocks and leaves zeros behind", async () => {
    const disk = new MemoryBackend(MiB);
    const d = await ready([{ backend: disk }]);
    expect((await d.write(1, 1, 8, pattern(4096, 3))).status).toBe(0);
    expect((await format(d, 1, 1)).status).toBe(0);
    const [n] = await d.identify(I.CNS_NAMESPACE, 1);
    expect(n[I.IDN_FLBAS]).toBe(1);
    expect(new DataView(n.buffer, n.byteOffset).getUint32(I.IDN_NSZE, true)).toBe(MiB / 4096);
    expect(bytesOf(disk, 0, MiB).every((b) => b === 0)).toBe(true);
    const data = pattern(4096, 5);
    expect((await d.write(1, 1, 255, data, 4096)).status).toBe(0);
    const [c, back] = await d.read(1, 1, 255, 1, 4096);
    expect(c.status).toBe(0);
    expect(back).toEqual(data);
    expect(sc((await d.read(1, 1, 256, 1, 4096))[0])).toBe(0x080);
    expect((await format(d, 1, 0, 1)).status).toBe(0); // back to 512, with user data erase
    const [n0] = await d.identify(I.CNS_NAMESPACE, 1);
    expect(n0[I.IDN_FLBAS]).toBe(0);
    expect((await d.read(1, 1, 2047, 1))[0].status).toBe(0);
    expect(bytesOf(disk, 0, MiB).every((b) => b === 0)).toBe(true);
  });

  it("refuses what it does not offer", async () => {
    const d = await ready([{ backend: new MemoryBackend(MiB) }, { backend: new MemoryBackend(9 * 512) }]);
    expect(sc(await format(d, 1, 0, 2))).toBe(0x002); // cryptographic erase: not advertised
    expect(sc(await format(d, 1, 0, 5))).toBe(0x002);
    expect(sc(await format(d, 1, 6))).toBe(0x10a); // no seventh format
    expect(sc(await format(d, 1, 0, 0, 1 << 12))).toBe(0x10a); // LBAFU names format 16
    expect(sc(await format(d, 1, 0, 0, 1 << 5))).toBe(0x10a); // protection information without metadata
    expect(sc(await format(d, 2, 1))).toBe(0x10a); // 4608 bytes hold no whole 4096-byte block
    expect(sc(await format(d, 0, 0))).toBe(0x00b);
    expect(sc(await format(d, 3, 0))).toBe(0x002); // a valid NSID with nothing attached
    expect(sc(await format(d, 33, 0))).toBe(0x00b);
    expect(sc(await format(d, 0xffffffff, 1))).toBe(0x10a); // every namespace must take it
  });

  it("formats every namespace with NSID FFFFFFFFh", async () => {
    const a = new MemoryBackend(MiB);
    const b = new MemoryBackend(MiB);
    const d = await ready([{ backend: a }, { backend: b }]);
    a.write(0, pattern(512, 1));
    b.write(0, pattern(512, 2));
    expect((await format(d, 0xffffffff, 1)).status).toBe(0);
    for (const nsid of [1, 2]) expect((await d.identify(I.CNS_NAMESPACE, nsid))[0][I.IDN_FLBAS]).toBe(1);
    expect(bytesOf(a, 0, 512).every((x) => x === 0) && bytesOf(b, 0, 512).every((x) => x === 0)).toBe(true);
  });

  it("lets I/O under way finish first and answers new I/O with Format In Progress", async () => {
    const slow = new DeferredBackend(MiB);
    const d = await ready([{ backend: slow }]);
    const [p1, , addr] = d.buffer(512);
    d.mem.fill(addr, pattern(512, 7));
    const w = d.submit(1, { opcode: O.IO_WRITE, nsid: 1, prp1: p1, cdw10: 4 });
    d.ctrl.tick();
    const f = d.submit(0, { opcode: O.ADMIN_FORMAT_NVM, nsid: 1, cdw10: 1 });
    d.ctrl.tick();
    expect(sc(await verify(d, 1, 0, 1))).toBe(0x084);
    expect(slow.pending).toBe(1); // only the write: the format waits for it
    await slow.release(); // the write lands, then the erase starts
    await slow.release();
    await slow.release(); // the flush that makes the erase durable (the disk caches writes)
    const done = [...d.reap(1), ...d.reap(0)];
    expect(done.find((c) => c.cid === w)?.status).toBe(0);
    expect(done.find((c) => c.cid === f)?.status).toBe(0);
    expect(bytesOf(slow.disk, 0, MiB).every((b) => b === 0)).toBe(true);
    expect((await d.identify(I.CNS_NAMESPACE, 1))[0][I.IDN_FLBAS]).toBe(1);
  });
});

describe("Write Uncorrectable", () => {
  it("makes reads, Compare, Verify and Copy sources fail until the blocks are written again", async () => {
    const disk = new MemoryBackend(MiB);
    const d = await ready([{ backend: disk }]);
    expect((await uncor(d, 1, 10, 10)).status).toBe(0);
    expect(sc((await d.read(1, 1, 15, 1))[0])).toBe(0x281);
    expect(sc((await d.read(1, 1, 0, 11))[0])).toBe(0x281);
    expect((await d.read(1, 1, 0, 10))[0].status).toBe(0);
    expect((await d.read(1, 1, 20, 4))[0].status).toBe(0);
    expect(sc(await verify(d, 1, 5, 8))).toBe(0x281);
    expect(sc(await copy(d, 1, 100, [[0, 4], [19, 1]]))).toBe(0x281);
    const [p1] = d.buffer(512);
    expect(sc(await d.run(1, { opcode: O.IO_COMPARE, nsid: 1, prp1: p1, cdw10: 12 }))).toBe(0x281);
    expect((await d.write(1, 1, 12, pattern(512, 1))).status).toBe(0);
    expect((await d.read(1, 1, 12, 1))[0].status).toBe(0);
    expect(sc((await d.read(1, 1, 13, 1))[0])).toBe(0x281);
    expect((await zeroes(d, 1, 13, 7)).status).toBe(0);
    expect((await d.read(1, 1, 10, 2))[0].status).not.toBe(0);
    expect((await copy(d, 1, 10, [[0, 2]])).status).toBe(0); // a copy's destination is written too
    expect((await d.read(1, 1, 0, 40))[0].status).toBe(0);
    expect(sc(await uncor(d, 1, 2047, 2))).toBe(0x080);
  });

  it("is cleared by a format and by a sanitize", async () => {
    const d = await ready();
    await uncor(d, 1, 0, 1);
    expect((await format(d, 1, 0)).status).toBe(0);
    expect((await d.read(1, 1, 0, 1))[0].status).toBe(0);
    await uncor(d, 1, 0, 1);
    expect((await d.admin({ opcode: O.ADMIN_SANITIZE, cdw10: 2 })).status).toBe(0);
    for (let i = 0; i < 20 && (await sanitizeLog(d)).sprog !== 0xffff; i++) await new Promise((r) => setTimeout(r, 0));
    expect((await d.read(1, 1, 0, 1))[0].status).toBe(0);
  });

  it("keeps a bounded set of ranges", async () => {
    const d = await ready([{ backend: new MemoryBackend(2 * MiB) }]);
    for (let i = 0; i < UNCORRECTABLE_LIMIT; i++) expect((await uncor(d, 1, i * 2, 1)).status).toBe(0);
    expect(sc(await uncor(d, 1, 4000, 1))).toBe(0x002); // one range more than it keeps
    expect((await uncor(d, 1, 1, 1)).status).toBe(0); // merging two ranges into one is fine
  });

  it("survives a snapshot, and a malformed one is refused", async () => {
    const d = await ready();
    await uncor(d, 1, 100, 5);
    const state = structuredClone(d.ctrl.saveState());
    const e = await takeOver(d, [{ backend: new MemoryBackend(MiB) }], state);
    expect(sc((await e.read(1, 1, 104, 1))[0])).toBe(0x281);
    expect((await e.read(1, 1, 105, 1))[0].status).toBe(0);
    const bad = structuredClone(state);
    bad.data!.namespaces[0].uncorrectable = [100, 99];
    expect(() => e.ctrl.restoreState(bad)).toThrow(/snapshot refused: namespace 1: uncorrectable blocks has a bad bound 99/);
    const big = structuredClone(state);
    big.data!.namespaces[0].uncorrectable = [0, 4096];
    expect(() => e.ctrl.restoreState(big)).toThrow(/bad bound 4096/);
    const fmt = structuredClone(state);
    fmt.data!.namespaces[0].lbaf = 7;
    expect(() => e.ctrl.restoreState(fmt)).toThrow(/LBA format 7/);
  });
});

describe("RangeSet", () => {
  it("merges, splits and checks saved ranges", () => {
    const r = new RangeSet(4);
    r.add(10, 5);
    r.add(15, 5); // touching: one range
    expect(r.save()).toEqual([10, 20]);
    r.remove(12, 2);
    expect(r.save()).toEqual([10, 12, 14, 20]);
    expect(r.intersects(12, 2)).toBe(false);
    expect(r.intersects(11, 2)).toBe(true);
    r.remove(0, 100);
    expect(r.size).toBe(0);
    expect(() => RangeSet.check([1, 2, 2, 3], 10, 4, "x")).toThrow(/bad bound 2/); // adjacent: should have merged
    expect(() => RangeSet.check("no", 10, 4, "x")).toThrow(/not a list/);
    expect(() => RangeSet.check([0, 1, 3, 4, 6, 7, 8, 9, 10, 11], 20, 4, "x")).toThrow(/5 ranges/);
  });
});

describe("Verify", () => {
  it("reads the range without moving data and fails like a read", async () => {
    const disk = new FlakyDisk(MiB);
    const d = await ready([{ backend: disk }]);
    expect((await verify(d, 1, 0, 2048)).status).toBe(0);
    expect(sc(await verify(d, 1, 2047, 2))).toBe(0x080);
    disk.badFrom = 100 * 512;
    disk.badTo = 101 * 512;
    expect(sc(await verify(d, 1, 0, 2048))).toBe(0x281);
    expect((await verify(d, 1, 101, 10)).status).toBe(0);
  });

  it("waits for a backend that must fetch", async () => {
    const slow = new DeferredBackend(MiB);
    const d = await ready([{ backend: slow }]);
    const cid = d.submit(1, { opcode: O.IO_VERIFY, nsid: 1, cdw12: 2047 });
    d.ctrl.tick();
    for (let i = 0; i < 4 && slow.pending; i++) await slow.release(); // 1 MiB chunks, one after another
    expect(d.reap(1).find((c) => c.cid === cid)?.status).toBe(0);
  });
});

describe("Copy", () => {
  it("copies source ranges in order inside the device, overlapping ones as they were", async () => {
    const disk = new MemoryBackend(MiB);
    const d = await ready([{ backend: disk }]);
    const a = pattern(2 * 512, 1);
    const b = pattern(3 * 512, 2);
    disk.write(10 * 512, a);
    disk.write(50 * 512, b);
    expect((await copy(d, 1, 200, [[50, 3], [10, 2]])).status).toBe(0);
    expect(bytesOf(disk, 200 * 512, 3 * 512)).toEqual(b);
    expect(bytesOf(disk, 203 * 512, 2 * 512)).toEqual(a);
    expect((await copy(d, 1, 51, [[50, 3]])).status).toBe(0); // destination overlaps the source
    expect(bytesOf(disk, 51 * 512, 3 * 512)).toEqual(b);
  });

  it("enforces its limits with the spec's statuses", async () => {
    const d = await ready();
    expect(sc(await copy(d, 1, 0, [[10, 1]], 1 << 8))).toBe(0x002); // descriptor format 1
    expect(sc(await copy(d, 1, 0, Array.from({ length: MSRC + 2 }, (_, i) => [i, 1] as [number, number])))).toBe(0x183);
    expect((await copy(d, 1, 1000, Array.from({ length: MSRC + 1 }, (_, i) => [i, 1] as [number, number]))).status).toBe(0);
    expect(sc(await copy(d, 1, 0, [[0, MSSRL + 1]]))).toBe(0x183);
    const many = Array.from({ length: 9 }, (_, i) => [i * 200, MSSRL] as [number, number]);
    expect(sc(await copy(d, 1, 0, many))).toBe(0x183); // 9 × 256 blocks > MCL
    expect(sc(await copy(d, 1, 0, [[2047, 2]]))).toBe(0x080);
    expect(sc(await copy(d, 1, 2047, [[0, 2]]))).toBe(0x080);
    expect(sc(await copy(d, 1, 0, [[2 ** 40, 1]]))).toBe(0x080);
    expect(sc(await copy(d, 2, 0, [[0, 1]]))).toBe(0x002); // a valid NSID with nothing attached
    expect(sc(await copy(d, 33, 0, [[0, 1]]))).toBe(0x00b);
  });

  it("fails on a source media error and writes nothing", async () => {
    const disk = new FlakyDisk(MiB);
    const d = await ready([{ backend: disk }]);
    disk.write(300 * 512, pattern(512, 9));
    disk.badFrom = 5 * 512;
    disk.badTo = 6 * 512;
    expect(sc(await copy(d, 1, 300, [[0, 10]]))).toBe(0x281);
    expect(bytesOf(disk, 300 * 512, 512)).toEqual(pattern(512, 9));
  });

  it("works over a backend that must fetch and store", async () => {
    const slow = new DeferredBackend(MiB);
    slow.disk.write(0, pattern(1024, 4));
    const d = await ready([{ backend: slow }]);
    const list = d.mem.alloc(4096);
    d.mem.write64(list + 8, 0);
    d.mem.write32(list + 16, 1);
    const cid = d.submit(1, { opcode: O.IO_COPY, nsid: 1, prp1: list, cdw10: 64 });
    d.ctrl.tick();
    await slow.release(); // the read
    await slow.release(); // the write
    expect(d.reap(1).find((c) => c.cid === cid)?.status).toBe(0);
    expect(bytesOf(slow.disk, 64 * 512, 1024)).toEqual(pattern(1024, 4));
  });
});

describe("Sanitize", () => {
  it("erases every namespace in the background with its progress in the log", async () => {
    const slow = new DeferredBackend(MiB);
    const fast = new MemoryBackend(MiB);
    slow.disk.write(0, pattern(4096, 1));
    fast.write(0, pattern(4096, 2));
    const d = await ready([{ backend: fast }, { backend: slow }]);
    expect((await sanitizeLog(d)).sstat).toBe(LOG.SSTAT_NEVER);
    for (const bad of [0, 3, 4, 5, 7]) expect(sc(await d.admin({ opcode: O.ADMIN_SANITIZE, cdw10: bad }))).toBe(0x002);
    expect((await d.admin({ opcode: O.ADMIN_SANITIZE, cdw10: 1 })).status).toBe(0); // exit failure mode: none to leave
    expect((await d.admin({ opcode: O.ADMIN_SANITIZE, cdw10: 2 })).status).toBe(0);
    await slow.release(); // the first of namespace 2's steps
    const mid = await sanitizeLog(d);
    expect(mid.c.status).toBe(0);
    expect(mid.sstat & 7).toBe(LOG.SSTAT_IN_PROGRESS);
    expect(mid.sprog).toBeGreaterThanOrEqual(0x8000); // namespace 1 is done
    expect(mid.sprog).toBeLessThan(0xffff);
    expect(mid.scdw10).toBe(2);
    // Refused while it runs: I/O, Format, another Sanitize, most logs; allowed: Identify, features, the sanitize log.
    expect(sc((await d.read(1, 1, 0, 1))[0])).toBe(0x01d);
    expect(sc(await format(d, 1, 0))).toBe(0x01d);
    expect(sc(await d.admin({ opcode: O.ADMIN_SANITIZE, cdw10: 2 }))).toBe(0x01d);
    expect(sc(await d.admin({ opcode: O.ADMIN_GET_LOG_PAGE, prp1: d.mem.alloc(4096), cdw10: 0x80 | (127 << 16) }))).toBe(0x01d);
    expect((await d.identify(I.CNS_CONTROLLER))[1].status).toBe(0);
    expect((await d.admin({ opcode: O.ADMIN_GET_FEATURES, cdw10: 0x07 })).status).toBe(0);
    for (let i = 0; i < 80 && (await sanitizeLog(d)).sprog !== 0xffff; i++) await slow.release();
    const end = await sanitizeLog(d);
    expect(end.sstat).toBe(LOG.SSTAT_DONE | LOG.SSTAT_GLOBAL_DATA_ERASED);
    expect(end.sprog).toBe(0xffff);
    expect(end.etBlockErase).toBe(0xffffffff);
    expect(bytesOf(fast, 0, MiB).every((b) => b === 0) && bytesOf(slow.disk, 0, MiB).every((b) => b === 0)).toBe(true);
    expect((await d.write(1, 1, 0, pattern(512, 3))).status).toBe(0);
    expect((await sanitizeLog(d)).sstat).toBe(LOG.SSTAT_DONE); // user data written since
  });

  it("reports No-Deallocate After Sanitize", async () => {
    const d = await ready();
    expect((await d.admin({ opcode: O.ADMIN_SANITIZE, cdw10: 2 | (1 << 9) })).status).toBe(0);
    await new Promise((r) => setTimeout(r, 0));
    const log = await sanitizeLog(d);
    expect(log.sstat).toBe(LOG.SSTAT_DONE_NO_DEALLOCATE | LOG.SSTAT_GLOBAL_DATA_ERASED);
    expect(log.scdw10).toBe(2 | (1 << 9));
  });

  it("keeps running across a controller reset, and restarts from a snapshot taken while it ran", async () => {
    const slow = new DeferredBackend(MiB);
    slow.disk.write(0, pattern(4096, 1));
    const d = await ready([{ backend: slow }]);
    expect((await d.admin({ opcode: O.ADMIN_SANITIZE, cdw10: 2 })).status).toBe(0);
    await slow.release();
    d.ctrl.reset();
    await d.bringUp({ pairs: 1 });
    expect(sc((await d.read(1, 1, 0, 1))[0])).toBe(0x01d);
    const log = await sanitizeLog(d);
    expect(log.sstat & 7).toBe(LOG.SSTAT_IN_PROGRESS);
    expect(log.sprog).toBeGreaterThan(0);
    const state = structuredClone(d.ctrl.saveState());

    const slow2 = new DeferredBackend(MiB);
    slow2.disk.write(MiB - 4096, pattern(4096, 2));
    const e = await takeOver(d, [{ backend: slow2 }], state);
    expect((await sanitizeLog(e)).sstat & 7).toBe(LOG.SSTAT_IN_PROGRESS);
    for (let i = 0; i < 80 && (await sanitizeLog(e)).sprog !== 0xffff; i++) await slow2.release();
    expect((await sanitizeLog(e)).sstat & 7).toBe(LOG.SSTAT_DONE);
    expect(bytesOf(slow2.disk, 0, MiB).every((b) => b === 0)).toBe(true);
    const bad = structuredClone(state);
    bad.data!.sanitize.sstat = 9;
    expect(() => e.ctrl.restoreState(bad)).toThrow(/sanitize status 9/);
  });
});
