// Metadata and end-to-end protection information through the whole controller: the LBA formats with
// 8 and 16 bytes of metadata in Identify Namespace, Format NVM and Namespace Management choosing
// them with a PI type, and Read, Write, Compare, Write Zeroes, Verify, Dataset Management and Copy
// moving metadata through MPTR or extended LBAs, PRACT and the PRCHK checks with their statuses,
// bad input, a backend that must fetch, and snapshots.
import { describe, it, expect } from "vitest";
import { HostDriver, pattern, type Cqe } from "./driver/host-driver.ts";
import { DeferredBackend } from "./driver/deferred-backend.ts";
import { MemoryBackend } from "../src/backends/memory.ts";
import { NvmeController } from "../src/controller/controller.ts";
import type { NamespaceOptions } from "../src/state/options.ts";
import * as O from "../src/spec/opcodes.ts";
import * as I from "../src/spec/identify.ts";
import * as P from "../src/spec/protection.ts";
import { CHUNK_BLOCKS, MetadataStore } from "../src/state/metadata.ts";
import { Namespace } from "../src/state/namespace.ts";

const MiB = 1 << 20;
const sc = (c: Cqe) => c.status & 0x7ff;
const GUARD = 0x282;
const APP = 0x283;
const REF = 0x284;
const INVALID_PI = 0x181;

async function ready(namespaces: NamespaceOptions[] = [{ backend: new MemoryBackend(MiB) }]) {
  const d = await HostDriver.create({ namespaces, mdts: 5 }, 16 << 20);
  await d.bringUp({ pairs: 1 });
  return d;
}

/** Format NVM with LBAF `lbaf`, PI type `pi`, PI first (`pil`), extended (`mset`). */
const format = (d: HostDriver, nsid: number, lbaf: number, pi = 0, o: { pil?: boolean; mset?: boolean } = {}) =>
  d.admin({ opcode: O.ADMIN_FORMAT_NVM, nsid, cdw10: lbaf | (o.mset ? P.FORMAT_MSET : 0) | (pi << P.FORMAT_PI_SHIFT) | (o.pil ? P.FORMAT_PIL : 0) });

/** The PI tuple of one block, big-endian as T10 has it. */
function tuple(guard: number, app: number, ref: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint16(0, guard);
  v.setUint16(2, app);
  v.setUint32(4, ref);
  return b;
}

/** PI for `data` in blocks of `bs` from reference tag `ref`, `ms` bytes of metadata each with the PI at `at`. */
function piFor(data: Uint8Array, bs: number, ref: number, o: { app?: number; ms?: number; at?: number; type3?: boolean } = {}): Uint8Array {
  const ms = o.ms ?? 8;
  const n = data.length / bs;
  const meta = new Uint8Array(n * ms);
  for (let i = 0; i < n; i++) {
    let crc = P.crc16T10Dif(data.subarray(i * bs, (i + 1) * bs));
    if ((o.at ?? 0) > 0) crc = P.crc16T10Dif(meta.subarray(i * ms, i * ms + o.at!), crc);
    meta.set(tuple(crc, o.app ?? 0x1234, o.type3 ? ref : ref + i), i * ms + (o.at ?? 0));
  }
  return meta;
}

interface Io {
  slba: number;
  nlb: number;
  prinfo?: number;
  ilbrt?: number;
  lbat?: number;
  lbatm?: number;
}

/** cdw fields of a block command with PRINFO (bits 29:26 of CDW12) and the tags. */
const fields = (io: Io) => ({
  cdw10: io.slba, cdw11: 0, cdw12: (io.nlb - 1) | ((io.prinfo ?? 0) << 26), cdw14: io.ilbrt ?? io.slba, cdw15: (io.lbat ?? 0) | ((io.lbatm ?? 0) << 16),
});
const PRACT = 8;
const CHK_ALL = 7;
const CHK_GUARD = 4;

async function writeMeta(d: HostDriver, io: Io, data: Uint8Array, meta?: Uint8Array, opcode: number = O.IO_WRITE): Promise<Cqe> {
  const [p1, p2, addr] = d.buffer(data.length);
  d.mem.fill(addr, data);
  let mptr = 0;
  if (meta) {
    mptr = d.mem.alloc(meta.length, 8);
    d.mem.fill(mptr, meta);
  }
  return d.run(1, { opcode, nsid: 1, prp1: p1, prp2: p2, mptr, ...fields(io) });
}

async function readMeta(d: HostDriver, io: Io, bytes: number, metaBytes: number): Promise<[Cqe, Uint8Array, Uint8Array]> {
  const [p1, p2, addr] = d.buffer(bytes);
  const mptr = d.mem.alloc(Math.max(metaBytes, 8), 8);
  const c = await d.run(1, { opcode: O.IO_READ, nsid: 1, prp1: p1, prp2: p2, mptr, ...fields(io) });
  return [c, d.mem.bytes(addr, bytes), d.mem.bytes(mptr, metaBytes)];
}

describe("Identify Namespace with metadata formats", () => {
  it("offers 8 and 16 bytes of metadata, extended or separate, PI types 1-3 first or last", async () => {
    const d = await ready();
    const [n] = await d.identify(I.CNS_NAMESPACE, 1);
    const v = new DataView(n.buffer, n.byteOffset);
    expect(n[I.IDN_NLBAF]).toBe(5);
    const lbaf = (i: number) => v.getUint32(I.IDN_LBAF0 + i * 4, true);
    expect([2, 3, 4, 5].map((i) => [lbaf(i) & 0xffff, (lbaf(i) >>> 16) & 0xff])).toEqual([[8, 9], [16, 9], [8, 12], [16, 12]]);
    expect(n[I.IDN_MC]).toBe(P.MC_EXTENDED | P.MC_SEPARATE);
    expect(n[I.IDN_DPC]).toBe(0x1f);
    expect([n[I.IDN_FLBAS], n[I.IDN_DPS]]).toEqual([0, 0]);
    expect((await format(d, 1, 3, 2, { pil: true, mset: true })).status).toBe(0);
    const [m] = await d.identify(I.CNS_NAMESPACE, 1);
    expect([m[I.IDN_FLBAS], m[I.IDN_DPS]]).toEqual([3 | P.FLBAS_EXTENDED, 2 | P.DPS_FIRST]);
  });

  it("refuses PI without room for it, a PI type beyond 3 and metadata on a zoned namespace", async () => {
    const d = await ready([{ backend: new MemoryBackend(MiB) }, { backend: new MemoryBackend(MiB), zoned: { zoneSizeBlocks: 256 } }]);
    expect(sc(await format(d, 1, 0, 1))).toBe(0x10a);
    expect(sc(await format(d, 1, 2, 4))).toBe(0x10a);
    expect(sc(await format(d, 2, 2))).toBe(0x10a);
    expect((await format(d, 1, 2, 3)).status).toBe(0);
  });

  it("starts a namespace in a metadata format from its options, and refuses bad ones clearly", async () => {
    const d = await ready([{ backend: new MemoryBackend(MiB), logicalBlockSize: 4096, metadataSize: 16, protectionType: 2, protectionFirst: true, metadataExtended: true }]);
    const [n] = await d.identify(I.CNS_NAMESPACE, 1);
    expect([n[I.IDN_FLBAS], n[I.IDN_DPS]]).toEqual([5 | P.FLBAS_EXTENDED, 2 | P.DPS_FIRST]);
    const ns = (o: Partial<NamespaceOptions>) => () => new Namespace(1, { backend: new MemoryBackend(MiB), ...o }, "S");
    expect(ns({ metadataSize: 4 as 8 })).toThrow(/namespace 1: metadataSize must be 0, 8 or 16/);
    expect(ns({ protectionType: 1 })).toThrow(/protectionType 1 needs metadataSize 8 or 16/);
    expect(ns({ metadataSize: 8, protectionType: 4 as 1 })).toThrow(/protectionType must be 0, 1, 2 or 3/);
    expect(ns({ metadataSize: 8, protectionFirst: 1 as unknown as boolean })).toThrow(/protectionFirst must be true or false/);
    expect(ns({ metadataSize: 8, zoned: { zoneSizeBlocks: 256 } })).toThrow(/a zoned namespace takes no metadata/);
    const z = await ready([{ backend: new MemoryBackend(MiB), zoned: { zoneSizeBlocks: 256 } }]);
    const [zn] = await z.identify(I.CNS_NAMESPACE, 1);
    expect([zn[I.IDN_MC], zn[I.IDN_DPC]]).toEqual([0, 0]);
  });

  it("creates a namespace with FLBAS and DPS from Namespace Management", async () => {
    const d = await ready([{ backend: new MemoryBackend(MiB) }]);
    const create = async (flbas: number, dps: number) => {
      const buf = d.mem.alloc(4096);
      const b = new Uint8Array(4096);
      const v = new DataView(b.buffer);
      v.setUint32(I.IDN_NSZE, 64, true);
      v.setUint32(I.IDN_NCAP, 64, true);
      b[I.IDN_FLBAS] = flbas;
      b[I.IDN_DPS] = dps;
      d.mem.fill(buf, b);
      return d.admin({ opcode: O.ADMIN_NS_MANAGEMENT, prp1: buf, cdw10: 0 });
    };
    const c = await create(4 | P.FLBAS_EXTENDED, 1);
    expect(c.status).toBe(0);
    const buf = d.mem.alloc(4096);
    await d.admin({ opcode: O.ADMIN_IDENTIFY, nsid: c.dw0, prp1: buf, cdw10: I.CNS_ALLOCATED_NAMESPACE });
    const n = d.mem.bytes(buf, 4096);
    expect([n[I.IDN_FLBAS], n[I.IDN_DPS]]).toEqual([4 | P.FLBAS_EXTENDED, 1]);
    expect(sc(await create(0, 1))).toBe(0x10a); // no metadata, no PI
    expect(sc(await create(2, 5))).toBe(0x10a);
  });
});

describe("separate metadata (MPTR) with PI type 1", () => {
  it("stores the host's PI, returns it on a read, and checks Guard, Application and Reference Tags", async () => {
    const disk = new MemoryBackend(MiB);
    const d = await ready([{ backend: disk }]);
    expect((await format(d, 1, 2, 1)).status).toBe(0);
    const data = pattern(4 * 512, 7);
    const meta = piFor(data, 512, 40);
    expect((await writeMeta(d, { slba: 40, nlb: 4, prinfo: CHK_ALL, lbat: 0x1234, lbatm: 0xffff }, data, meta)).status).toBe(0);
    const [c, back, backMeta] = await readMeta(d, { slba: 40, nlb: 4, prinfo: CHK_ALL, lbat: 0x1234, lbatm: 0xffff }, 2048, 32);
    expect(c.status).toBe(0);
    expect(back).toEqual(data);
    expect(backMeta).toEqual(meta);
    // Application Tag: checked under the mask only.
    expect(sc((await readMeta(d, { slba: 40, nlb: 4, prinfo: CHK_ALL, lbat: 0x1299, lbatm: 0xff00 }, 2048, 32))[0])).toBe(0);
    expect(sc((await readMeta(d, { slba: 40, nlb: 4, prinfo: 2, lbat: 0x1299, lbatm: 0xffff }, 2048, 32))[0])).toBe(APP);
    // Type 1 needs ILBRT to be the SLBA; a block whose tag is off fails the Reference Tag check.
    expect(sc((await readMeta(d, { slba: 40, nlb: 4, prinfo: 1, ilbrt: 41 }, 2048, 32))[0])).toBe(INVALID_PI);
    const shifted = piFor(data, 512, 41);
    expect(sc(await writeMeta(d, { slba: 40, nlb: 4, prinfo: 1 }, data, shifted))).toBe(REF);
    // A byte changed behind the host's back: the Guard no longer matches.
    disk.write(41 * 512 + 100, Uint8Array.of(data[612] ^ 0xff), false);
    expect(sc((await readMeta(d, { slba: 40, nlb: 4, prinfo: CHK_GUARD }, 2048, 32))[0])).toBe(GUARD);
    expect(sc((await readMeta(d, { slba: 40, nlb: 4, prinfo: 0 }, 2048, 32))[0])).toBe(0); // unchecked
    const badGuard = meta.slice();
    badGuard[8] ^= 1;
    expect(sc(await writeMeta(d, { slba: 80, nlb: 4, prinfo: CHK_GUARD }, data, badGuard))).toBe(GUARD);
  });

  it("reads unwritten and deallocated blocks with escape tags that pass every check", async () => {
    const d = await ready();
    expect((await format(d, 1, 2, 1)).status).toBe(0);
    const [c, , m] = await readMeta(d, { slba: 0, nlb: 8, prinfo: CHK_ALL }, 4096, 64);
    expect(c.status).toBe(0);
    expect(m.every((b) => b === 0xff)).toBe(true);
    const data = pattern(512, 1);
    expect((await writeMeta(d, { slba: 3, nlb: 1, prinfo: PRACT }, data)).status).toBe(0);
    const range = d.mem.alloc(16);
    d.mem.write32(range + 4, 1);
    d.mem.write64(range + 8, 3);
    expect((await d.run(1, { opcode: O.IO_DATASET_MANAGEMENT, nsid: 1, prp1: range, cdw10: 0, cdw11: 4 })).status).toBe(0);
    expect((await readMeta(d, { slba: 3, nlb: 1 }, 512, 8))[2].every((b) => b === 0xff)).toBe(true);
  });

  it("PRACT with 8 bytes of metadata: generated on a write, checked and stripped on a read (no MPTR)", async () => {
    const d = await ready();
    expect((await format(d, 1, 2, 1)).status).toBe(0);
    const data = pattern(8 * 512, 3);
    expect((await writeMeta(d, { slba: 100, nlb: 8, prinfo: PRACT, lbat: 0xbeef }, data)).status).toBe(0);
    expect((await readMeta(d, { slba: 100, nlb: 8, prinfo: PRACT | CHK_ALL, lbat: 0xbeef, lbatm: 0xffff }, 4096, 0))[0].status).toBe(0);
    const [c, back, meta] = await readMeta(d, { slba: 100, nlb: 8 }, 4096, 64);
    expect(c.status).toBe(0);
    expect(back).toEqual(data);
    expect(meta).toEqual(piFor(data, 512, 100, { app: 0xbeef }));
  });

  it("PRACT with 16 bytes: the PI goes first or last in the host's metadata, the Guard covering what precedes it", async () => {
    for (const pil of [true, false]) {
      const d = await ready();
      expect((await format(d, 1, 3, 1, { pil })).status).toBe(0);
      const data = pattern(2 * 512, 9);
      const host = pattern(32, 4);
      expect((await writeMeta(d, { slba: 6, nlb: 2, prinfo: PRACT, lbat: 7 }, data, host)).status).toBe(0);
      const [c, , meta] = await readMeta(d, { slba: 6, nlb: 2, prinfo: CHK_ALL, lbat: 7, lbatm: 0xffff }, 1024, 32);
      expect(c.status).toBe(0);
      const at = pil ? 0 : 8;
      const own = pil ? [8, 16] : [0, 8]; // the bytes beside the PI stay the host's
      expect(meta.subarray(own[0], own[1])).toEqual(host.subarray(own[0], own[1]));
      const expected = new Uint8Array(32);
      expected.set(host);
      expected.set(piFor(data, 512, 6, { app: 7, ms: 16, at }).subarray(at, at + 8), at);
      for (let i = 0; i < 2; i++) {
        const guard = (meta[i * 16 + at] << 8) | meta[i * 16 + at + 1];
        let crc = P.crc16T10Dif(data.subarray(i * 512, (i + 1) * 512));
        if (!pil) crc = P.crc16T10Dif(meta.subarray(i * 16, i * 16 + 8), crc);
        expect(guard).toBe(crc);
      }
    }
  });

  it("type 3: the Reference Tag is ILBRT for every block and an escape needs both tags", async () => {
    const d = await ready();
    expect((await format(d, 1, 2, 3)).status).toBe(0);
    const data = pattern(2 * 512, 5);
    expect((await writeMeta(d, { slba: 9, nlb: 2, prinfo: CHK_ALL, ilbrt: 77, lbat: 0x1234, lbatm: 0xffff }, data, piFor(data, 512, 77, { type3: true }))).status).toBe(0);
    expect((await readMeta(d, { slba: 9, nlb: 2, prinfo: CHK_ALL, ilbrt: 77, lbat: 0x1234, lbatm: 0xffff }, 1024, 16))[0].status).toBe(0);
    expect(sc((await readMeta(d, { slba: 9, nlb: 2, prinfo: 1, ilbrt: 78 }, 1024, 16))[0])).toBe(REF);
    // Application Tag FFFFh alone is no escape for type 3.
    const meta = new Uint8Array(8);
    meta.set(tuple(0, 0xffff, 5));
    expect(sc(await writeMeta(d, { slba: 20, nlb: 1, prinfo: CHK_GUARD }, pattern(512, 2), meta))).toBe(GUARD);
    meta.set(tuple(0, 0xffff, 0xffffffff));
    expect((await writeMeta(d, { slba: 20, nlb: 1, prinfo: CHK_GUARD }, pattern(512, 2), meta)).status).toBe(0);
  });

  it("checks MPTR: dword aligned, inside guest RAM", async () => {
    const d = await ready();
    expect((await format(d, 1, 2, 1)).status).toBe(0);
    const [p1] = d.buffer(512);
    const run = (mptr: number) => d.run(1, { opcode: O.IO_READ, nsid: 1, prp1: p1, mptr, ...fields({ slba: 0, nlb: 1 }) });
    expect(sc(await run(d.mem.alloc(64) + 2))).toBe(0x002);
    expect(sc(await run((16 << 20) - 4))).toBe(0x004);
    expect(sc(await run(2 ** 40))).toBe(0x004);
    expect((await run(d.mem.alloc(64) + 4)).status).toBe(0);
  });
  it("takes MPTR as a contiguous buffer beside an SGL data pointer (PSDT 01b); an SGL for the metadata (10b) is Invalid Field", async () => {
    const d = await ready();
    expect((await format(d, 1, 2, 1)).status).toBe(0);
    const data = pattern(2 * 512, 12);
    const meta = piFor(data, 512, 70);
    const buf = d.mem.alloc(1024);
    const mptr = d.mem.alloc(16, 8);
    d.mem.fill(buf, data);
    d.mem.fill(mptr, meta);
    const sgl = { addr: buf, len: 1024, type: 0 };
    expect((await d.run(1, { opcode: O.IO_WRITE, nsid: 1, flags: 0x40, sgl, mptr, ...fields({ slba: 70, nlb: 2, prinfo: CHK_ALL, lbat: 0x1234, lbatm: 0xffff }) })).status).toBe(0);
    d.mem.fill(buf, new Uint8Array(1024));
    d.mem.fill(mptr, new Uint8Array(16));
    expect((await d.run(1, { opcode: O.IO_READ, nsid: 1, flags: 0x40, sgl, mptr, ...fields({ slba: 70, nlb: 2, prinfo: CHK_ALL, lbat: 0x1234, lbatm: 0xffff }) })).status).toBe(0);
    expect(d.mem.bytes(buf, 1024)).toEqual(data);
    expect(d.mem.bytes(mptr, 16)).toEqual(meta);
    expect(sc(await d.run(1, { opcode: O.IO_READ, nsid: 1, flags: 0x80, sgl, mptr, ...fields({ slba: 70, nlb: 2 }) }))).toBe(0x002);
  });
});

describe("extended LBAs", () => {
  it("interleave each block's metadata after its data; PRACT with 8 bytes moves the data alone", async () => {
    const d = await ready();
    expect((await format(d, 1, 2, 1, { mset: true })).status).toBe(0);
    const data = pattern(3 * 512, 11);
    const meta = piFor(data, 512, 30);
    const ext = new Uint8Array(3 * 520);
    for (let i = 0; i < 3; i++) {
      ext.set(data.subarray(i * 512, (i + 1) * 512), i * 520);
      ext.set(meta.subarray(i * 8, (i + 1) * 8), i * 520 + 512);
    }
    expect((await writeMeta(d, { slba: 30, nlb: 3, prinfo: CHK_ALL, lbat: 0x1234, lbatm: 0xffff }, ext)).status).toBe(0);
    const [c, back] = await readMeta(d, { slba: 30, nlb: 3, prinfo: CHK_ALL, lbat: 0x1234, lbatm: 0xffff }, 3 * 520, 0);
    expect(c.status).toBe(0);
    expect(back).toEqual(ext);
    const [s, stripped] = await readMeta(d, { slba: 30, nlb: 3, prinfo: PRACT | CHK_GUARD }, 3 * 512, 0);
    expect(s.status).toBe(0);
    expect(stripped).toEqual(data);
  });
});

describe("other commands on a PI namespace", () => {
  it("Write Zeroes: PI made by PRACT passes the checks; without it the metadata is zeros", async () => {
    const d = await ready();
    expect((await format(d, 1, 2, 1)).status).toBe(0);
    const wz = (io: Io) => d.run(1, { opcode: O.IO_WRITE_ZEROES, nsid: 1, ...fields(io) });
    expect((await wz({ slba: 50, nlb: 4, prinfo: PRACT, lbat: 3 })).status).toBe(0);
    const [c, , m] = await readMeta(d, { slba: 50, nlb: 4, prinfo: CHK_ALL, lbat: 3, lbatm: 0xffff }, 2048, 32);
    expect(c.status).toBe(0);
    expect(m.subarray(8, 16)).toEqual(tuple(0, 3, 51));
    expect((await wz({ slba: 60, nlb: 1 })).status).toBe(0);
    expect(sc((await readMeta(d, { slba: 60, nlb: 1, prinfo: 1 }, 512, 8))[0])).toBe(REF);
    expect(sc(await wz({ slba: 60, nlb: 1, prinfo: PRACT | 1, ilbrt: 5 }))).toBe(INVALID_PI);
  });

  it("Compare checks the stored PI, then data and metadata", async () => {
    const d = await ready();
    expect((await format(d, 1, 2, 1)).status).toBe(0);
    const data = pattern(1024, 2);
    const meta = piFor(data, 512, 12);
    expect((await writeMeta(d, { slba: 12, nlb: 2 }, data, meta)).status).toBe(0);
    expect((await writeMeta(d, { slba: 12, nlb: 2, prinfo: CHK_ALL, lbat: 0x1234, lbatm: 0xffff }, data, meta, O.IO_COMPARE)).status).toBe(0);
    const other = meta.slice();
    other[2] ^= 1;
    expect(sc(await writeMeta(d, { slba: 12, nlb: 2 }, data, other, O.IO_COMPARE))).toBe(0x285);
    expect(sc(await writeMeta(d, { slba: 12, nlb: 2, prinfo: 2, lbat: 1, lbatm: 0xffff }, data, meta, O.IO_COMPARE))).toBe(APP);
  });

  it("Verify with PRCHK checks the stored PI, chunk by chunk", async () => {
    const disk = new MemoryBackend(MiB);
    const d = await ready([{ backend: disk }]);
    expect((await format(d, 1, 2, 1)).status).toBe(0);
    const data = pattern(600 * 512, 3);
    for (let at = 0; at < 600; at += 100) {
      expect((await writeMeta(d, { slba: 1000 + at, nlb: 100, prinfo: PRACT }, data.subarray(at * 512, (at + 100) * 512))).status).toBe(0);
    }
    const v = (io: Io) => d.run(1, { opcode: O.IO_VERIFY, nsid: 1, ...fields(io) });
    expect((await v({ slba: 1000, nlb: 600, prinfo: CHK_ALL })).status).toBe(0);
    disk.write((1000 + 555) * 512, Uint8Array.of(data[555 * 512] ^ 1), false);
    expect(sc(await v({ slba: 1000, nlb: 600, prinfo: CHK_GUARD }))).toBe(GUARD);
    expect((await v({ slba: 1000, nlb: 600 })).status).toBe(0); // no PRCHK: read only
  });

  it("Copy carries the metadata with the blocks", async () => {
    const d = await ready();
    expect((await format(d, 1, 3)).status).toBe(0);
    const data = pattern(1024, 8);
    const meta = pattern(32, 9);
    expect((await writeMeta(d, { slba: 0, nlb: 2 }, data, meta)).status).toBe(0);
    const list = d.mem.alloc(4096);
    d.mem.write64(list + 8, 0);
    d.mem.write32(list + 16, 1);
    expect((await d.run(1, { opcode: O.IO_COPY, nsid: 1, prp1: list, cdw10: 500 })).status).toBe(0);
    const [c, back, m] = await readMeta(d, { slba: 500, nlb: 2 }, 1024, 32);
    expect(c.status).toBe(0);
    expect(back).toEqual(data);
    expect(m).toEqual(meta);
  });

  it("waits for a backend that must fetch, then checks and delivers", async () => {
    const slow = new DeferredBackend(MiB);
    const d = await ready([{ backend: slow }]);
    const formatted = format(d, 1, 2, 1);
    for (let i = 0; i < 4; i++) await slow.release(); // the erase, then the flush that makes it durable
    expect((await formatted).status).toBe(0);
    const data = pattern(512, 4);
    const [p1, , addr] = d.buffer(512);
    d.mem.fill(addr, data);
    let cid = d.submit(1, { opcode: O.IO_WRITE, nsid: 1, prp1: p1, ...fields({ slba: 7, nlb: 1, prinfo: PRACT }) });
    d.ctrl.tick();
    await slow.release();
    expect(d.reap(1).find((c) => c.cid === cid)?.status).toBe(0);
    const mptr = d.mem.alloc(8);
    const [r1, , raddr] = d.buffer(512);
    cid = d.submit(1, { opcode: O.IO_READ, nsid: 1, prp1: r1, mptr, ...fields({ slba: 7, nlb: 1, prinfo: CHK_ALL }) });
    d.ctrl.tick();
    await slow.release();
    expect(d.reap(1).find((c) => c.cid === cid)?.status).toBe(0);
    expect(d.mem.bytes(raddr, 512)).toEqual(data);
    expect(d.mem.bytes(mptr, 8)).toEqual(piFor(data, 512, 7, { app: 0 }));
  });
});

describe("metadata in snapshots", () => {
  it("keeps protection settings and metadata, and refuses malformed ones", async () => {
    const d = await ready();
    expect((await format(d, 1, 2, 1)).status).toBe(0);
    const data = pattern(512, 6);
    expect((await writeMeta(d, { slba: 1000, nlb: 1, prinfo: PRACT, lbat: 9 }, data)).status).toBe(0);
    const state = structuredClone(d.ctrl.saveState());
    const old = d.ctrl;
    d.ctrl = await NvmeController.create({ namespaces: [{ backend: new MemoryBackend(MiB) }], mdts: 5 }, d.mem, d.host);
    old.reset();
    d.ctrl.restoreState(structuredClone(state));
    const [n] = await d.identify(I.CNS_NAMESPACE, 1);
    expect([n[I.IDN_FLBAS], n[I.IDN_DPS]]).toEqual([2, 1]);
    const [, , m] = await readMeta(d, { slba: 1000, nlb: 1 }, 512, 8);
    expect(m).toEqual(piFor(data, 512, 1000, { app: 9 }));
    const bad = (edit: (e: Record<string, unknown>) => void) => {
      const s = structuredClone(state);
      edit(s.data!.namespaces[0] as unknown as Record<string, unknown>);
      return () => d.ctrl.restoreState(s);
    };
    expect(bad((e) => ((e.metadata as { chunk: number }[])[0].chunk = 99))).toThrow(/metadata chunk 0 has index 99/);
    expect(bad((e) => ((e.metadata as { bytes: Uint8Array }[])[0].bytes = new Uint8Array(3)))).toThrow(/is not 16384 bytes/);
    expect(bad((e) => (e.protection = { extended: false, pi: 5, piFirst: false }))).toThrow(/LBA format 2/);
    expect(bad((e) => (e.protection = "x"))).toThrow(/protection settings/);
    expect(bad((e) => (e.metadata = 3))).toThrow(/not a list/);
  });
});

describe("MetadataStore", () => {
  it("reads unwritten blocks as ones, writes across chunks, erases and drops whole chunks", () => {
    const s = new MetadataStore(8, CHUNK_BLOCKS * 2 + 10);
    expect(s.read(0, 2).every((b) => b === 0xff)).toBe(true);
    const b = pattern(8 * 4, 1);
    s.write(CHUNK_BLOCKS - 2, b);
    expect(s.read(CHUNK_BLOCKS - 2, 4)).toEqual(b);
    expect(s.save().map((c) => [c.chunk, c.bytes.length])).toEqual([[0, CHUNK_BLOCKS * 8], [1, CHUNK_BLOCKS * 8]]);
    s.erase(CHUNK_BLOCKS, CHUNK_BLOCKS);
    expect(s.save().map((c) => c.chunk)).toEqual([0]);
    expect(s.read(CHUNK_BLOCKS - 1, 2).subarray(8).every((x) => x === 0xff)).toBe(true);
    s.write(CHUNK_BLOCKS * 2 + 9, pattern(8, 2));
    expect(s.save().find((c) => c.chunk === 2)?.bytes.length).toBe(80);
  });

  it("computes the T10-DIF CRC (check value of '123456789' is D0DBh)", () => {
    expect(P.crc16T10Dif(new TextEncoder().encode("123456789"))).toBe(0xd0db);
  });
});
