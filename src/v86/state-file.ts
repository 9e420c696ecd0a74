// State files (`<image>.state.zst`): a machine snapshot as one file that Node, the Playwright
// fixture and a page can resume from, zstd-compressed as a whole.
//
// Inside the zstd frame (little endian):
//   0  "V86NVMES"                 magic
//   8  u32 format                 STATE_FILE_FORMAT
//  12  u32 header bytes           the JSON header's length
//  16  u32 CRC-32                 of every byte after this fixed part (zstd frames carry none here)
//  20  u32 total bytes            of the container
//  24  JSON header                identity, v86 version, transcript, overlay geometry, sections
//      sections                   8-byte aligned: v86's save_state(), the overlay's arrays
//
// A state file is untrusted input: decodeStateFile() checks every length, offset and type (and
// v86's own header inside the machine section) before anything reaches v86 or the disk, so a
// damaged file is refused with a StateFileError naming what is wrong.

import { decompress } from "fzstd";
import type { OverlaySnapshot } from "../backends/overlay.ts";
import { mismatches, type SnapshotIdentity } from "./identity.ts";
import { StateFileError } from "./state-file-error.ts";
import { isCount, isObj, viewBytes } from "./untrusted.ts";
import { checkV86State } from "./v86-state-check.ts";
import type { ZstdDecompress } from "./zstd.ts";

export { StateFileError };
export { checkV86StateAgainst, type V86StateTree } from "./v86-state-check.ts";

/** A whole machine at one moment: v86's state, namespace 1's overlay, the console transcript. */
export interface MachineSnapshot {
  readonly format: 1;
  readonly identity: SnapshotIdentity;
  /**
   * v86's save_state(): CPU, RAM, devices and the NVMe controller. decodeStateFile() gives a view
   * of the decompressed file (no 40 MB copy); snapshot() an ArrayBuffer.
   */
  readonly machine: ArrayBuffer | Uint8Array;
  /** Namespace 1's copy-on-write overlay. */
  readonly overlay: OverlaySnapshot;
  /** The serial console's transcript when taken. */
  readonly serial: string;
}

export const STATE_FILE_FORMAT = 1;
const MAGIC = "V86NVMES";
const FIXED = 24;
const ZSTD_MAGIC = 0xfd2fb528;
/** Largest decompressed state accepted: 2 GiB of guest RAM plus room for the overlay. */
const MAX_BYTES = 2.5 * 2 ** 30;

/** What a state file says about itself (its JSON header, minus the section table). */
export interface StateFileInfo {
  format: number;
  /** What the snapshot was taken of: image, RAM, controller configuration. */
  identity: SnapshotIdentity;
  /** The v86 version that saved it ("" when unknown); v86 restores only its own states. */
  v86Version: string;
  /** The shell prompt the guest was waiting at. */
  prompt: string;
  /** When it was made (ISO 8601). */
  createdAt: string;
  /**
   * The saver's v86 clock (performance.now) when it was taken: v86's timers are readings of it,
   * so a resumer moves its clock past this first (advanceV86Clock). 0 when unknown.
   */
  clockMs: number;
  /**
   * How much of the console transcript (the snapshot's `serial`) a person at the console saw: what
   * follows is the commands that made the state (guest.saveState() zeroes free memory through
   * exec()). Its whole length for a file that does not say.
   */
  transcriptShown: number;
}

interface Section {
  name: string;
  offset: number;
  length: number;
}

interface Header extends StateFileInfo {
  serial: string;
  overlay: { byteLength: number; blockSize: number };
  sections: Section[];
}

const SECTIONS = ["machine", "pageIndex", "pageMask", "pageData", "zeros"] as const;

/** CRC-32 tables for slicing by 8 (eight bytes a step: ~4x the byte-wise loop's speed). */
let crcTables: Int32Array | undefined;

function tables(): Int32Array {
  if (crcTables) return crcTables;
  const t = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) for (let k = 1; k < 8; k++) t[k * 256 + n] = t[(k - 1) * 256 + n] >>> 8 ^ t[t[(k - 1) * 256 + n] & 0xff];
  crcTables = t;
  return t;
}

/** Whether this machine stores words little-endian (every browser's and Node's does): crc32 then reads words. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** CRC-32 (IEEE), the zip/PNG one; `prev`: the CRC of the bytes before these (zlib's running form). */
export function crc32(bytes: Uint8Array, prev = 0): number {
  const t = tables();
  let c = ~prev;
  let i = 0;
  const lead = (4 - (bytes.byteOffset & 3)) & 3;
  if (LITTLE_ENDIAN && bytes.length >= lead + 8) {
    // Bytes up to a 4-byte boundary, then eight bytes as two 32-bit reads (~1.4x the byte reads).
    for (; i < lead; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
    const w = new Int32Array(bytes.buffer, bytes.byteOffset + i, ((bytes.length - i) >> 3) << 1);
    for (let k = 0; k < w.length; k += 2) {
      const a = c ^ w[k];
      const b = w[k + 1];
      c =
        t[1792 + (a & 0xff)] ^ t[1536 + ((a >>> 8) & 0xff)] ^ t[1280 + ((a >>> 16) & 0xff)] ^ t[1024 + (a >>> 24)] ^
        t[768 + (b & 0xff)] ^ t[512 + ((b >>> 8) & 0xff)] ^ t[256 + ((b >>> 16) & 0xff)] ^ t[b >>> 24];
    }
    i += w.length * 4;
  }
  for (; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/**
 * The CRC a decompressed state file's header holds, computed piece by piece as the file arrives
 * (decodeStateFile's `receivedCrc`): the first 24 bytes, the fixed part, are not covered.
 */
export class ReceivedCrc {
  private at = 0;
  private crc = 0;

  update(chunk: Uint8Array): void {
    const skip = Math.max(0, FIXED - this.at);
    if (skip < chunk.byteLength) this.crc = crc32(skip > 0 ? chunk.subarray(skip) : chunk, this.crc);
    this.at += chunk.byteLength;
  }

  get value(): number {
    return this.crc;
  }
}

const align8 = (n: number): number => (n + 7) & ~7;


/** The snapshot as an uncompressed container (compress it with zstd to get a state file). */
export function encodeStateFile(snapshot: MachineSnapshot, info: { v86Version: string; prompt: string; clockMs?: number; transcriptShown?: number }): Uint8Array {
  const o = snapshot.overlay;
  const parts: Record<(typeof SECTIONS)[number], Uint8Array> = {
    machine: viewBytes(snapshot.machine),
    pageIndex: viewBytes(o.pageIndex),
    pageMask: viewBytes(o.pageMask),
    pageData: viewBytes(o.pageData),
    zeros: viewBytes(o.zeros),
  };
  // Offsets depend on the header's length and the header holds them: lay out relative to the
  // sections' start, then shift once the header's size is known.
  let at = 0;
  const rel = SECTIONS.map((name) => {
    const s = { name, offset: at, length: parts[name].byteLength };
    at = align8(at + s.length);
    return s;
  });
  const header = (base: number): Header => ({
    format: STATE_FILE_FORMAT,
    identity: snapshot.identity,
    v86Version: info.v86Version,
    prompt: info.prompt,
    createdAt: new Date().toISOString(),
    clockMs: info.clockMs ?? 0,
    transcriptShown: Math.min(info.transcriptShown ?? snapshot.serial.length, snapshot.serial.length),
    serial: snapshot.serial,
    overlay: { byteLength: o.byteLength, blockSize: o.blockSize },
    sections: rel.map((s) => ({ ...s, offset: s.offset + base })),
  });
  // The base only grows the JSON by a few digits: iterate until it is stable.
  let base = 0;
  let json = new TextEncoder().encode(JSON.stringify(header(base)));
  for (let i = 0; i < 4 && align8(FIXED + json.byteLength) !== base; i++) {
    base = align8(FIXED + json.byteLength);
    json = new TextEncoder().encode(JSON.stringify(header(base)));
  }
  const total = base + at;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  out.set(new TextEncoder().encode(MAGIC), 0);
  dv.setUint32(8, STATE_FILE_FORMAT, true);
  dv.setUint32(12, json.byteLength, true);
  dv.setUint32(20, total, true);
  out.set(json, FIXED);
  for (const s of rel) out.set(parts[s.name as (typeof SECTIONS)[number]], base + s.offset);
  dv.setUint32(16, crc32(out.subarray(FIXED)), true);
  return out;
}

/** The decompressed size a zstd frame header declares, or undefined when it declares none. */
function zstdContentSize(b: Uint8Array): number | undefined {
  if (b.byteLength < 6) throw new StateFileError("the zstd frame is truncated (no frame header)");
  const fhd = b[4];
  if (fhd & 8) throw new StateFileError("the zstd frame header is damaged (reserved bit set)");
  // A state file is compressed without a dictionary; fzstd would ignore one and decode garbage.
  if (fhd & 3) throw new StateFileError("the zstd frame needs a dictionary: not a state file's (damaged header?)");
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const at = 5 + (single ? 0 : 1);
  const fcsBytes = fcsFlag === 0 ? (single ? 1 : 0) : [0, 2, 4, 8][fcsFlag];
  if (fcsBytes === 0) return undefined;
  if (at + fcsBytes > b.byteLength) throw new StateFileError("the zstd frame is truncated (in its header)");
  let size = 0;
  for (let i = fcsBytes - 1; i >= 0; i--) size = size * 256 + b[at + i];
  if (fcsBytes === 2) size += 256;
  return size;
}

function unzstd(bytes: Uint8Array, fast: ZstdDecompress | undefined): Uint8Array {
  const declared = zstdContentSize(bytes);
  if (declared !== undefined && declared > MAX_BYTES) {
    throw new StateFileError(`the zstd frame declares ${declared} bytes, more than any state (damaged header?)`);
  }
  try {
    if (fast && declared !== undefined) return fast(bytes, declared);
    // No output buffer: fzstd compares it with 1 (`w == 1`), which turns a Uint8Array into a
    // string of all its bytes — seconds for a real state, and a RangeError past ~256 MB. Given
    // none, it allocates the frame's declared size itself.
    const out = decompress(bytes);
    if (declared !== undefined && out.byteLength !== declared) throw new Error(`${out.byteLength} bytes instead of the ${declared} its header declares`);
    return out;
  } catch (e) {
    if (e instanceof StateFileError) throw e;
    throw new StateFileError(`the zstd data is damaged or truncated (${e instanceof Error ? e.message : String(e)})`);
  }
}


function checkHeader(h: unknown, total: number, base: number): Header {
  const bad = (what: string): never => {
    throw new StateFileError(`the state file's header is malformed: ${what}`);
  };
  if (!isObj(h)) return bad("not a JSON object");
  const id = h.identity;
  if (!isObj(id)) return bad("no identity");
  if (typeof id.imageId !== "string" || !isCount(id.imageBytes) || !isCount(id.memory) || typeof id.nvme !== "string" || typeof id.ide !== "boolean") {
    return bad("identity fields");
  }
  for (const k of ["v86Version", "prompt", "createdAt", "serial"]) if (typeof h[k] !== "string") bad(k);
  if (h.clockMs !== undefined && !(typeof h.clockMs === "number" && Number.isFinite(h.clockMs) && h.clockMs >= 0)) bad("clockMs");
  if (h.transcriptShown !== undefined && !(isCount(h.transcriptShown) && h.transcriptShown <= (h.serial as string).length)) bad("transcriptShown");
  const ov = h.overlay;
  if (!isObj(ov) || !isCount(ov.byteLength) || !isCount(ov.blockSize) || ov.blockSize === 0) return bad("overlay geometry");
  if (!Array.isArray(h.sections) || h.sections.length !== SECTIONS.length) return bad("section table");
  h.sections.forEach((s: unknown, i: number) => {
    if (!isObj(s) || s.name !== SECTIONS[i] || !isCount(s.offset) || !isCount(s.length)) bad(`section ${i}`);
    const { offset, length } = s as unknown as Section;
    if (offset < base || offset % 8 !== 0 || offset + length > total) bad(`section ${SECTIONS[i]} lies outside the file`);
  });
  return h as unknown as Header;
}

/** A typed array over `len` bytes of `src` at `offset`, copied (the file's buffer may go). */
function take<T>(Ctor: { new (b: ArrayBuffer): T; BYTES_PER_ELEMENT: number }, src: Uint8Array, s: Section, what: string): T {
  if (s.length % Ctor.BYTES_PER_ELEMENT !== 0) throw new StateFileError(`the state file's ${what} section has a partial element`);
  return new Ctor(src.slice(s.offset, s.offset + s.length).buffer);
}

export interface DecodeOptions {
  /**
   * A faster zstd decoder than the JavaScript one used by default: v86Zstd() of v86's wasm module
   * (C zstd in wasm, 2-3 times the speed).
   */
  zstd?: ZstdDecompress;
  /**
   * The bytes are the caller's to give (not changed after): an uncompressed file's machine section
   * stays a view of them instead of a 40 MB copy. A decompressed one always does.
   */
  own?: boolean;
  /** A faster CRC-32 (IEEE) than the JavaScript one: Node's zlib.crc32. */
  crc32?: (bytes: Uint8Array) => number;
  /**
   * The CRC-32 of the decompressed file's bytes after its fixed 24-byte part, computed by the
   * caller while they arrived (the page does, as the download comes in): checked against the
   * header instead of reading 40 MB again.
   */
  receivedCrc?: number;
}

/** True when `bytes` begin with a zstd frame's magic: a state file as stored (not yet decompressed). */
export function isZstdFrame(bytes: Uint8Array | ArrayBuffer): boolean {
  const b = viewBytes(bytes);
  return b.byteLength >= 4 && new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true) === ZSTD_MAGIC;
}

/** A state file (zstd-compressed or not) → its info and the snapshot in it; StateFileError when damaged. */
export function decodeStateFile(input: Uint8Array | ArrayBuffer, options: DecodeOptions = {}): { info: StateFileInfo; snapshot: MachineSnapshot } {
  let bytes = viewBytes(input);
  const compressed = isZstdFrame(bytes);
  if (compressed) bytes = unzstd(bytes, options.zstd);
  // Decompressed bytes are this call's own: the machine section may stay a view of them.
  const own = compressed || options.own === true;
  if (bytes.byteLength < FIXED && bytes.byteLength >= 8 && new TextDecoder().decode(bytes.subarray(0, 8)) === MAGIC) {
    throw new StateFileError(`the state file is truncated: ${bytes.byteLength} bytes, inside its ${FIXED}-byte fixed header`);
  }
  if (bytes.byteLength < FIXED || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    throw new StateFileError("not a v86-nvme state file (no V86NVMES magic; made by guest.saveState() or `npm run make:state`)");
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const format = dv.getUint32(8, true);
  if (format !== STATE_FILE_FORMAT) throw new StateFileError(`state file format ${format}; this v86-nvme reads format ${STATE_FILE_FORMAT}: make the state again`);
  const total = dv.getUint32(20, true);
  if (total !== bytes.byteLength) throw new StateFileError(`the state file is truncated or padded: ${bytes.byteLength} bytes where its header says ${total}`);
  const jsonLen = dv.getUint32(12, true);
  if (FIXED + jsonLen > total) throw new StateFileError("the state file's header runs past its end");
  const crc = options.receivedCrc ?? (options.crc32 ?? crc32)(bytes.subarray(FIXED));
  if (crc >>> 0 !== dv.getUint32(16, true)) throw new StateFileError("the state file is damaged (CRC-32 mismatch)");
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(FIXED, FIXED + jsonLen)));
  } catch {
    throw new StateFileError("the state file's header is not JSON");
  }
  const h = checkHeader(parsed, total, FIXED + jsonLen);
  const [machineS, indexS, maskS, dataS, zerosS] = h.sections;
  const machine = own ? bytes.subarray(machineS.offset, machineS.offset + machineS.length) : bytes.slice(machineS.offset, machineS.offset + machineS.length);
  checkV86State(machine);
  const snapshot: MachineSnapshot = {
    format: 1,
    identity: { ...h.identity },
    machine,
    overlay: {
      byteLength: h.overlay.byteLength,
      blockSize: h.overlay.blockSize,
      pageIndex: take(Float64Array, bytes, indexS, "pageIndex"),
      pageMask: take(Uint32Array, bytes, maskS, "pageMask"),
      pageData: take(Uint8Array, bytes, dataS, "pageData"),
      zeros: take(Float64Array, bytes, zerosS, "zeros"),
    },
    serial: h.serial,
  };
  if (snapshot.overlay.pageIndex.length !== snapshot.overlay.pageMask.length) throw new StateFileError("the state file's overlay index and masks differ in length");
  const { identity, v86Version, prompt, createdAt } = h;
  const clockMs = h.clockMs ?? 0;
  const transcriptShown = h.transcriptShown ?? h.serial.length;
  return { info: { format, identity, v86Version, prompt, createdAt, clockMs, transcriptShown }, snapshot };
}

/** Why a state cannot resume on this machine (empty: it can), each naming what differs. */
export function stateMismatches(info: StateFileInfo, here: SnapshotIdentity, v86Version: string): string[] {
  const out = mismatches(info.identity, here);
  if (info.v86Version && v86Version && info.v86Version !== v86Version) out.push(`another v86: ${info.v86Version} (this one: ${v86Version})`);
  return out;
}
