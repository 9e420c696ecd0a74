// State files as untrusted input: a round trip, and every refusal with the message that names it.
import { decompress } from "fzstd";
import { crc32 as zlibCrc32 } from "node:zlib";
import { describe, expect, it, vi } from "vitest";
import { checkV86StateAgainst, crc32, decodeStateFile, isZstdFrame, ReceivedCrc, StateFileError, stateMismatches } from "../../src/v86/state-file.ts";
import { compressState } from "../../src/node/zstd.ts";
import { build, container, identity, recrc, smallMachine, snapshotOf, split, V86_VERSION, v86Section } from "./helpers.ts";

// fzstd's decompress, watched: it must never get an output buffer (see the 48 MB test).
vi.mock("fzstd", async (original) => {
  const m = await original<typeof import("fzstd")>();
  return { ...m, decompress: vi.fn(m.decompress) };
});

function refusal(input: Uint8Array | ArrayBuffer): string {
  try {
    decodeStateFile(input);
  } catch (e) {
    expect(e).toBeInstanceOf(StateFileError);
    return (e as Error).message;
  }
  throw new Error("decoded without a refusal");
}

/** The container with its machine section replaced (the CRC recomputed). */
function withMachine(machine: Uint8Array): Uint8Array {
  const { header, sections } = split(container());
  return build(header, [machine, ...sections.slice(1)]);
}

describe("state file round trip", () => {
  it("decodes what it encoded, compressed or not", async () => {
    const snap = snapshotOf();
    const raw = container(snap);
    for (const input of [raw, await compressState(raw, 3), raw.slice().buffer]) {
      const { info, snapshot } = decodeStateFile(input);
      expect(info).toMatchObject({ format: 1, identity, v86Version: V86_VERSION, prompt: "guest# " });
      expect(Number.isNaN(Date.parse(info.createdAt))).toBe(false);
      expect(new Uint8Array(snapshot.machine)).toEqual(new Uint8Array(snap.machine));
      expect(snapshot.serial).toBe(snap.serial);
      expect(snapshot.identity).toEqual(identity);
      for (const k of ["pageIndex", "pageMask", "pageData", "zeros"] as const) expect(snapshot.overlay[k]).toEqual(snap.overlay[k]);
      expect(snapshot.overlay.byteLength).toBe(snap.overlay.byteLength);
      expect(snapshot.overlay.blockSize).toBe(snap.overlay.blockSize);
    }
  });

  it("says how much of its transcript a person saw (all of it when the file does not say)", () => {
    const snap = snapshotOf();
    expect(decodeStateFile(container(snap)).info.transcriptShown).toBe(snap.serial.length);
    const { header, sections } = split(container(snap));
    expect(decodeStateFile(build({ ...header, transcriptShown: 3 }, sections)).info.transcriptShown).toBe(3);
    const { transcriptShown: _, ...older } = header;
    expect(decodeStateFile(build(older, sections)).info.transcriptShown).toBe(snap.serial.length);
  });

  it("a 48 MB state decodes in about a second (fzstd gets no output buffer: it turned one into a string)", async () => {
    const pages = 6144;
    const pageData = new Uint8Array(pages * 8192);
    for (let i = 0; i < pageData.length; i += 4096) pageData[i] = i >>> 12;
    const snap = snapshotOf(undefined, { byteLength: 64 << 20, pageIndex: Float64Array.from({ length: pages }, (_, i) => i), pageMask: new Uint32Array(pages).fill(1), pageData });
    const z = await compressState(container(snap), 1);
    vi.mocked(decompress).mockClear();
    const t = performance.now();
    const { snapshot } = decodeStateFile(z);
    expect(snapshot.overlay.pageData.byteLength).toBe(pageData.byteLength);
    // Given a buffer, fzstd's `w == 1` joins all its bytes into a string (seconds; a RangeError
    // past ~256 MB). Timing alone is a weak witness on a loaded machine: the call is checked too.
    expect(vi.mocked(decompress).mock.calls).toHaveLength(1);
    expect(vi.mocked(decompress).mock.calls[0][1]).toBeUndefined();
    expect(performance.now() - t).toBeLessThan(10_000);
  });

  it("the machine section is a view of the bytes when they are its own to keep (decompressed, or given with own), else a copy", async () => {
    const raw = container(snapshotOf());
    const aliases = (input: Uint8Array, options = {}): boolean => {
      const m = decodeStateFile(input, options).snapshot.machine;
      return m instanceof Uint8Array && m.buffer === input.buffer;
    };
    expect(aliases(raw)).toBe(false);
    expect(aliases(raw, { own: true })).toBe(true);
    expect(isZstdFrame(raw)).toBe(false);
    const z = await compressState(raw, 3);
    expect(isZstdFrame(z)).toBe(true);
    expect(decodeStateFile(z).snapshot.machine).toBeInstanceOf(Uint8Array);
  });

  it("an empty overlay and an odd-length machine section", () => {
    const m = smallMachine();
    const snap = snapshotOf(m, { pageIndex: new Float64Array(0), pageMask: new Uint32Array(0), pageData: new Uint8Array(0), zeros: new Float64Array(0) });
    const { snapshot } = decodeStateFile(container(snap));
    expect(snapshot.overlay.pageIndex.length).toBe(0);
    expect(snapshot.machine.byteLength).toBe(m.byteLength);
  });
});

describe("refusals", () => {
  it("not a state file", () => {
    expect(refusal(new Uint8Array(0))).toMatch(/not a v86-nvme state file/);
    expect(refusal(new TextEncoder().encode("<!doctype html><html>not found</html>"))).toMatch(/not a v86-nvme state file/);
    expect(refusal(new Uint8Array(1000).fill(7))).toMatch(/not a v86-nvme state file/);
  });

  it("another format", () => {
    const c = container();
    new DataView(c.buffer).setUint32(8, 2, true);
    expect(refusal(c)).toMatch(/state file format 2; this v86-nvme reads format 1/);
  });

  it("truncated anywhere: in the fixed header, the JSON header, the sections", () => {
    const c = container();
    const jsonLen = new DataView(c.buffer).getUint32(12, true);
    const { header } = split(c);
    const last = header.sections[header.sections.length - 1];
    for (const n of [8, 12, 20, 23]) expect(refusal(c.subarray(0, n)), `at ${n}`).toMatch(/truncated/);
    for (const n of [24, 30, 24 + jsonLen - 1]) expect(refusal(c.subarray(0, n)), `at ${n}`).toMatch(/truncated or padded: \d+ bytes where its header says \d+/);
    for (const n of [header.sections[0].offset + 10, last.offset, c.byteLength - 1]) expect(refusal(c.subarray(0, n)), `at ${n}`).toMatch(/truncated or padded/);
    const padded = new Uint8Array(c.byteLength + 8);
    padded.set(c);
    expect(refusal(padded)).toMatch(/truncated or padded/);
  });

  it("truncated or damaged inside the zstd frame", async () => {
    const z = await compressState(container(), 3);
    for (const n of [4, 5, 8, Math.floor(z.byteLength / 2), z.byteLength - 1]) {
      expect(refusal(z.subarray(0, n)), `at ${n}`).toMatch(/zstd (frame|data) is (damaged or )?truncated/);
    }
    const flipped = z.slice();
    flipped[Math.floor(z.byteLength / 2)] ^= 0x55;
    expect(refusal(flipped)).toMatch(/zstd data is damaged|CRC-32|truncated|malformed/);
  });

  it("a CRC mismatch", () => {
    const c = container();
    c[c.byteLength - 3] ^= 1;
    expect(refusal(c)).toMatch(/damaged \(CRC-32 mismatch\)/);
  });

  it("a JSON header that is not JSON, or malformed", () => {
    const { header, sections } = split(container());
    expect(refusal(build(header, sections, { jsonText: JSON.stringify(header).slice(0, -1) + "," }))).toMatch(/header is not JSON/);
    const bad = (h: Record<string, unknown>): string => refusal(build(h, sections));
    expect(bad({ ...header, identity: undefined })).toMatch(/header is malformed: no identity/);
    expect(bad({ ...header, identity: { ...identity, memory: -1 } })).toMatch(/identity fields/);
    expect(bad({ ...header, identity: { ...identity, imageBytes: 1e300 } })).toMatch(/identity fields/);
    expect(bad({ ...header, prompt: 5 })).toMatch(/malformed: prompt/);
    expect(bad({ ...header, serial: null })).toMatch(/malformed: serial/);
    expect(bad({ ...header, overlay: { byteLength: 1 << 20, blockSize: 0 } })).toMatch(/overlay geometry/);
    expect(bad({ ...header, transcriptShown: (header.serial as string).length + 1 })).toMatch(/malformed: transcriptShown/);
    expect(bad({ ...header, transcriptShown: -1 })).toMatch(/malformed: transcriptShown/);
    expect(refusal(build({ ...header, sections: header.sections.slice(1) }, sections, { keepOffsets: true }))).toMatch(/section table/);
    expect(refusal(build([] as unknown as Record<string, unknown>, sections, { jsonText: "[1,2]" }))).toMatch(/not a JSON object/);
  });

  it("a section outside the file", () => {
    const { header, sections } = split(container());
    const t = header.sections;
    const moved = (i: number, s: Partial<{ offset: number; length: number; name: string }>): string =>
      refusal(build({ ...header, sections: t.map((x, k) => (k === i ? { ...x, ...s } : x)) }, sections, { keepOffsets: true }));
    const total = container().byteLength;
    expect(moved(4, { length: total })).toMatch(/section zeros lies outside the file/);
    expect(moved(0, { offset: 0 })).toMatch(/section machine lies outside the file/); // over the header
    expect(moved(2, { offset: t[2].offset + 4 })).toMatch(/section pageMask lies outside the file/); // misaligned
    expect(moved(1, { offset: 2 ** 53 })).toMatch(/section 1|section machine lies outside/); // the longer JSON covers the machine section
    expect(moved(1, { name: "other" })).toMatch(/section 1/);
  });

  it("v86's own header inside the machine section", () => {
    const state = [identity.memory];
    expect(refusal(withMachine(new Uint8Array(8)))).toMatch(/shorter than v86's header/);
    expect(refusal(withMachine(v86Section(state, [], { magic: 0x12345678 })))).toMatch(/no v86 state magic/);
    expect(refusal(withMachine(v86Section(state, [], { version: 5 })))).toMatch(/v86 state version 5, this v86 reads 6/);
    expect(refusal(withMachine(v86Section(state, [], { total: 4 })))).toMatch(/its length does not match v86's header/);
    expect(refusal(withMachine(v86Section(state, [], { infoLength: 0 })))).toMatch(/info block length/);
    expect(refusal(withMachine(v86Section(state, [], { infoLength: 1 << 20 })))).toMatch(/info block length/);
    expect(refusal(withMachine(v86Section(state, [], { infoLength: 5 })))).toMatch(/info block is not JSON/);
    const m = v86Section({ x: 1 }, []);
    expect(refusal(withMachine(m))).toMatch(/info block fields/);
  });

  it("v86's buffers outside the machine section", () => {
    const m = v86Section([identity.memory, { __state_type__: "Uint8Array", buffer_id: 0 }], [new Uint8Array(64)]);
    const info = JSON.parse(new TextDecoder().decode(m.subarray(16, 16 + new DataView(m.buffer).getInt32(12, true))));
    info.buffer_infos[0].length = 1 << 20;
    const text = new TextEncoder().encode(JSON.stringify(info));
    const out = new Uint8Array(m.byteLength + 64);
    out.set(m.subarray(0, 16));
    out.set(text, 16);
    const dv = new DataView(out.buffer);
    dv.setInt32(8, out.byteLength, true);
    dv.setInt32(12, text.byteLength, true);
    expect(refusal(withMachine(out))).toMatch(/a buffer lies outside the section/);
  });

  it("overlay arrays: index and masks of different lengths, partial elements", () => {
    expect(refusal(container(snapshotOf(undefined, { pageMask: new Uint32Array([1]) })))).toMatch(/overlay index and masks differ in length/);
    const { header, sections } = split(container());
    const odd = sections.slice();
    odd[1] = sections[1].subarray(0, 12);
    expect(refusal(build(header, odd))).toMatch(/pageIndex section has a partial element/);
  });

  it("a JSON header with a byte order mark or invalid UTF-8 is not JSON", () => {
    const { header, sections } = split(container());
    const c = build(header, sections);
    c[24] = 0xff;
    expect(refusal(recrc(c))).toMatch(/header is not JSON/);
  });
});

describe("mismatches", () => {
  const info = decodeStateFile(container()).info;

  it("none on the machine it was made for", () => {
    expect(stateMismatches(info, identity, V86_VERSION)).toEqual([]);
    expect(stateMismatches(info, identity, "")).toEqual([]); // unknown version here: not refused for it
  });

  it("names each differing field", () => {
    expect(stateMismatches(info, { ...identity, imageId: "ffffffffffffffff" }, V86_VERSION)).toEqual([`another image: id ${identity.imageId} (this guest's image: ffffffffffffffff)`]);
    expect(stateMismatches(info, { ...identity, imageBytes: 2 << 20 }, V86_VERSION)).toEqual(["another disk size: 1048576 bytes (this guest's image: 2097152 bytes)"]);
    expect(stateMismatches(info, { ...identity, memory: 128 << 20 }, V86_VERSION)).toEqual(["another memory size: 32 MiB (this guest: 128 MiB)"]);
    expect(stateMismatches(info, { ...identity, nvme: '{"mdts":5,"serial":"X"}' }, V86_VERSION)).toEqual(["another controller configuration: mdts default (this guest: 5)"]);
    expect(stateMismatches(info, { ...identity, ide: true }, V86_VERSION)).toEqual(["no IDE disk (this guest: one)"]);
    const all = stateMismatches(info, { imageId: "x", imageBytes: 4 << 20, memory: 64 << 20, nvme: "{}", ide: true }, "0.5.999");
    expect(all).toHaveLength(5);
    expect(all.join("; ")).toMatch(/disk size.*memory size.*controller configuration: serial "X" \(this guest: default\).*IDE disk.*another v86: 0\.5\.462\+g5f9a90f \(this one: 0\.5\.999\)/);
  });

  it("another v86 version", () => {
    expect(stateMismatches(info, identity, "0.5.300")).toEqual(["another v86: 0.5.462+g5f9a90f (this one: 0.5.300)"]);
  });
});

describe("garbage", () => {
  it("20 MB of garbage is refused in well under a second, with or without a zstd magic", () => {
    let seed = 1;
    const junk = new Uint8Array(20 << 20);
    for (let i = 0; i < junk.length; i += 4) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      junk[i] = seed >>> 24;
      junk[i + 1] = seed >>> 16;
      junk[i + 2] = seed >>> 8;
      junk[i + 3] = seed;
    }
    const cases: [string, Uint8Array][] = [["plain", junk]];
    const z = junk.slice();
    z.set([0x28, 0xb5, 0x2f, 0xfd], 0);
    cases.push(["zstd magic", z]);
    const big = junk.slice();
    big.set([0x28, 0xb5, 0x2f, 0xfd, 0xc0, 0, 0, 0, 0x80, 0, 0, 0, 0], 0); // declares 2 GiB
    cases.push(["zstd magic, 2 GiB declared", big]);
    const v = junk.slice();
    v.set(new TextEncoder().encode("V86NVMES"), 0);
    cases.push(["container magic", v]);
    for (const [what, input] of cases) {
      const t = performance.now();
      expect(refusal(input), what).toBeTruthy();
      expect(performance.now() - t, what).toBeLessThan(1000);
    }
  });
});

describe("v86's state against this v86's (checkV86StateAgainst)", () => {
  const ta = (t: string, id: number) => ({ __state_type__: t, buffer_id: id });
  const ref = (): unknown[] => {
    const s: unknown[] = [identity.memory, ta("Int32Array", 0), 5, [1, 2, [3, 4]], null, [], ta("Uint8Array", 1), true, "x"];
    s[256] = ["v86-nvme", 1];
    return s;
  };
  const bufs = (packed = 64): Uint8Array[] => [new Uint8Array(32), new Uint8Array(packed)];
  const check = (state: unknown[], buffers = bufs()): void => checkV86StateAgainst(v86Section(state, buffers), v86Section(ref(), bufs()));
  const refusedWith = (state: unknown[], buffers?: Uint8Array[]): string => {
    try {
      check(state, buffers);
    } catch (e) {
      expect(e).toBeInstanceOf(StateFileError);
      return (e as Error).message;
    }
    throw new Error("accepted");
  };

  it("accepts its own shape, numbers left unset, anything where this v86 has nothing yet", () => {
    check(ref());
    const s = ref();
    s[2] = null; // v86 leaves some numbers undefined until a device runs
    s[4] = [1, ta("Uint16Array", 1)]; // null in a fresh machine
    s[5] = ta("Uint8Array", 1); // [] in a fresh machine (the firmware's answer buffer)
    s[256] = ["v86-nvme", 1, ["nvme0", ["o"]]]; // the controller checks its own entry
    check(s);
  });

  it("refuses an entry of another kind, length, type or size, naming it", () => {
    const at = (i: number | number[], v: unknown): unknown[] => {
      const s = ref();
      if (Array.isArray(i)) ((s[i[0]] as unknown[])[i[1]] as unknown[])[i[2]] = v;
      else s[i] = v;
      return s;
    };
    expect(refusedWith(at(1, ta("Foo", 0)))).toMatch(/state\[1\] is an object v86 cannot rebuild/);
    expect(refusedWith(at(1, ta("constructor", 0)))).toMatch(/state\[1\] is an object v86 cannot rebuild/);
    expect(refusedWith(at(1, ta("Uint8Array", 0)))).toMatch(/state\[1\] is a Uint8Array where this v86 has a Int32Array/);
    expect(refusedWith(at(1, ta("Int32Array", 9)))).toMatch(/state\[1\] refers to buffer 9, of 2/);
    expect(refusedWith(at(1, ta("Int32Array", 1)))).toMatch(/state\[1\] is 64 bytes where this v86 has 32/);
    expect(refusedWith(at(1, 7))).toMatch(/state\[1\] is number where this v86 has a Int32Array/);
    expect(refusedWith(at(2, "5"))).toMatch(/state\[2\] is string where this v86 has number/);
    expect(refusedWith(at(2, [5]))).toMatch(/state\[2\] is array where this v86 has number/);
    expect(refusedWith(at(3, [1, 2]))).toMatch(/state\[3\] has 2 entries where this v86 has 3/);
    expect(refusedWith(at([3, 2, 1], { a: 1 }))).toMatch(/state\[3\]\[2\]\[1\] is an object v86 cannot rebuild/);
    expect(refusedWith(at(7, 1))).toMatch(/state\[7\] is number where this v86 has boolean/);
    expect(refusedWith(at(0, 64 << 20))).toMatch(/state\[0\] \(memory size\) is 67108864 where this machine has 33554432/);
    expect(refusedWith(at(4, ta("Float64Array", 0)), [new Uint8Array(32), new Uint8Array(64)].map((b, i) => (i === 0 ? b.subarray(0, 12) : b)))).toMatch(/partial element|bytes where/);
  });

  it("guest RAM: as many packed pages (state[77]) as its bitmap (state[78]) marks", () => {
    const s = ref();
    s[77] = ta("Uint8Array", 2);
    s[78] = ta("Uint8Array", 3);
    const bitmap = new Uint8Array(identity.memory / 4096 / 8);
    bitmap[0] = 0b101;
    bitmap[100] = 0x80;
    const reference = v86Section(s, [...bufs(), new Uint8Array(0), new Uint8Array(bitmap.byteLength)]);
    checkV86StateAgainst(v86Section(s, [...bufs(), new Uint8Array(3 * 4096), bitmap]), reference);
    const flipped = bitmap.slice();
    flipped[7] ^= 0x10;
    expect(() => checkV86StateAgainst(v86Section(s, [...bufs(), new Uint8Array(3 * 4096), flipped]), reference)).toThrow(
      /state\[77\] \(guest RAM\) holds 3 pages where its bitmap \(state\[78\]\) marks 4/,
    );
  });

  it("a PCI BAR saved mid-probe (low bit set where this machine has a memory BAR) is refused", () => {
    const s = ref();
    s[48] = [];
    (s[48] as unknown[])[0x20] = ta("Int32Array", 2);
    const space = new Int32Array(64);
    space[4] = 0xfebf0000 | 0; // a memory BAR0
    const reference = v86Section(s, [...bufs(), new Uint8Array(space.buffer)]);
    checkV86StateAgainst(v86Section(s, [...bufs(), new Uint8Array(space.buffer)]), reference);
    const probed = space.slice();
    probed[5] = -1; // BAR1 holds the BIOS's size probe
    expect(() => checkV86StateAgainst(v86Section(s, [...bufs(), new Uint8Array(probed.buffer)]), reference)).toThrow(
      /state\[48\]\[32\] \(PCI function 4\.0\) has BAR1 as an I\/O BAR this machine lacks/,
    );
  });

  it("lets guest RAM's packed pages (state[77]) differ in size", () => {
    const s = ref();
    s[77] = ta("Uint8Array", 2);
    checkV86StateAgainst(v86Section(s, [...bufs(), new Uint8Array(4096)]), v86Section(s, [...bufs(), new Uint8Array(64)]));
    expect(() => checkV86StateAgainst(v86Section(s, [...bufs(4096), new Uint8Array(64)]), v86Section(s, [...bufs(), new Uint8Array(64)]))).toThrow(
      /state\[6\] is 4096 bytes where this v86 has 64/,
    );
  });
});

describe("crc32", () => {
  it("is zlib's CRC-32 at every alignment and length, and in its running form", () => {
    const bytes = new Uint8Array(4096 + 64);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 23;
    for (const start of [0, 1, 2, 3, 4, 5, 7]) {
      for (const length of [0, 1, 3, 7, 8, 9, 15, 16, 17, 100, 4096]) {
        const piece = bytes.subarray(start, start + length);
        expect(crc32(piece), `${length} bytes at ${start}`).toBe(zlibCrc32(piece));
        const cut = length >> 1;
        expect(crc32(piece.subarray(cut), crc32(piece.subarray(0, cut)))).toBe(zlibCrc32(piece));
      }
    }
  });
});

describe("the CRC computed elsewhere", () => {
  it("a CRC received piece by piece equals the header's, whatever the pieces, and a wrong one is refused", () => {
    const raw = container();
    for (const cuts of [[1, 23, 24, 25, 100], [24], [7, 300], [raw.byteLength]]) {
      const crc = new ReceivedCrc();
      let at = 0;
      for (const cut of [...cuts, raw.byteLength]) {
        crc.update(raw.subarray(at, Math.max(at, cut)));
        at = Math.max(at, cut);
      }
      expect(crc.value >>> 0).toBe(new DataView(raw.buffer, raw.byteOffset).getUint32(16, true));
      expect(decodeStateFile(raw, { receivedCrc: crc.value }).info.prompt).toBe("guest# ");
    }
    expect(() => decodeStateFile(raw, { receivedCrc: 12345 })).toThrow(/CRC-32 mismatch/);
  });

  it("a faster CRC function is used instead of the JavaScript one", () => {
    const raw = container();
    const fast = vi.fn((bytes: Uint8Array) => crc32(bytes));
    decodeStateFile(raw, { crc32: fast });
    expect(fast).toHaveBeenCalledTimes(1);
    expect(fast.mock.calls[0][0].byteLength).toBe(raw.byteLength - 24);
    expect(() => decodeStateFile(raw, { crc32: () => 1 })).toThrow(/CRC-32 mismatch/);
  });
});
