// Builders for state files by hand: a small v86-like machine section (v86 0.5.x's own layout) and
// containers whose fields, JSON header and sections can be set one by one, the CRC recomputed.

import { crc32, encodeStateFile, type MachineSnapshot } from "../../src/v86/state-file.ts";
import type { SnapshotIdentity } from "../../src/v86/identity.ts";

export const V86_MAGIC = 0x86768676;
export const V86_VERSION = "0.5.462+g5f9a90f";
export const FIXED = 24;

export const identity: SnapshotIdentity = { imageId: "0123456789abcdef", imageBytes: 1 << 20, memory: 32 << 20, nvme: '{"serial":"X"}', ide: false };

/** v86's save_state() layout: Int32 [magic, version, total, info length], info JSON, buffers 4-aligned. */
export function v86Section(state: unknown, buffers: Uint8Array[], over: { magic?: number; version?: number; total?: number; infoLength?: number } = {}): Uint8Array {
  const infos: { offset: number; length: number }[] = [];
  let at = 0;
  for (const b of buffers) {
    infos.push({ offset: at, length: b.byteLength });
    at = (at + b.byteLength + 3) & ~3;
  }
  const info = new TextEncoder().encode(JSON.stringify({ buffer_infos: infos, state }));
  const base = (16 + info.byteLength + 3) & ~3;
  const out = new Uint8Array(base + at);
  const h = new Int32Array(out.buffer, 0, 4);
  h[0] = over.magic ?? V86_MAGIC | 0;
  h[1] = over.version ?? 6;
  h[2] = over.total ?? out.byteLength;
  h[3] = over.infoLength ?? info.byteLength;
  out.set(info, 16);
  buffers.forEach((b, i) => out.set(b, base + infos[i].offset));
  return out;
}

/** A v86-like state: memory size, a few registers and typed arrays, and the v86-nvme entry. */
export function smallMachine(): Uint8Array {
  const regs = new Int32Array([1, 2, 3, 4, 5, 6, 7, 8]);
  const ram = new Uint8Array(4096).map((_, i) => i & 0xff);
  const state: unknown[] = [identity.memory, { __state_type__: "Int32Array", buffer_id: 0 }, 0, { __state_type__: "Uint8Array", buffer_id: 1 }];
  state[256] = ["v86-nvme", 1, ["nvme0", ["o", "intx", ["o", "level", false, "asserted", false, "assertedIrq", -1]]]];
  return v86Section(state, [new Uint8Array(regs.buffer), ram]);
}

export function snapshotOf(machine: Uint8Array = smallMachine(), overlay: Partial<MachineSnapshot["overlay"]> = {}): MachineSnapshot {
  const pageData = new Uint8Array(2 * 4096).map((_, i) => (i * 13) & 0xff);
  return {
    format: 1,
    identity,
    machine: machine.slice().buffer,
    overlay: {
      byteLength: identity.imageBytes,
      blockSize: 512,
      pageIndex: new Float64Array([3, 9]),
      pageMask: new Uint32Array([0xff, 0x1]),
      pageData,
      zeros: new Float64Array([0, 4096]),
      ...overlay,
    },
    serial: "boot...\r\nguest# ",
  };
}

export function container(snapshot: MachineSnapshot = snapshotOf()): Uint8Array {
  return encodeStateFile(snapshot, { v86Version: V86_VERSION, prompt: "guest# " });
}

/** The container's JSON header (parsed) and its sections' bytes. */
export function split(c: Uint8Array): { header: Record<string, unknown> & { sections: { name: string; offset: number; length: number }[] }; sections: Uint8Array[] } {
  const dv = new DataView(c.buffer, c.byteOffset, c.byteLength);
  const jsonLen = dv.getUint32(12, true);
  const header = JSON.parse(new TextDecoder().decode(c.subarray(FIXED, FIXED + jsonLen)));
  const sections = (header.sections as { offset: number; length: number }[]).map((s) => c.slice(s.offset, s.offset + s.length));
  return { header, sections };
}

/**
 * A container from a header object and sections, laid out like encodeStateFile() does unless
 * `keepOffsets` (then the header's section table stands as given, sections written where it
 * says when they fit). The CRC is right unless `crc` is given.
 */
export function build(header: Record<string, unknown>, sections: Uint8Array[], opts: { keepOffsets?: boolean; crc?: number; format?: number; total?: number; jsonText?: string } = {}): Uint8Array {
  const align8 = (n: number): number => (n + 7) & ~7;
  const table = header.sections as { name: string; offset: number; length: number }[];
  let json = opts.jsonText ?? JSON.stringify(header);
  let base = align8(FIXED + new TextEncoder().encode(json).byteLength);
  if (!opts.keepOffsets && !opts.jsonText) {
    for (let i = 0; i < 4; i++) {
      let at = base;
      const laid = sections.map((s, k) => {
        const e = { ...table[k], offset: at, length: s.byteLength };
        at = align8(at + s.byteLength);
        return e;
      });
      json = JSON.stringify({ ...header, sections: laid });
      const nb = align8(FIXED + new TextEncoder().encode(json).byteLength);
      if (nb === base) break;
      base = nb;
    }
  }
  const parsed = JSON.parse(opts.jsonText === undefined ? json : JSON.stringify(header)) as { sections: { offset: number; length: number }[] };
  const jsonBytes = new TextEncoder().encode(json);
  let end = align8(FIXED + jsonBytes.byteLength);
  (parsed.sections ?? []).forEach((s, k) => {
    const n = sections[k]?.byteLength ?? 0;
    if (Number.isSafeInteger(s.offset) && s.offset + n < 1 << 28) end = Math.max(end, align8(s.offset + n));
  });
  const out = new Uint8Array(end);
  const dv = new DataView(out.buffer);
  out.set(new TextEncoder().encode("V86NVMES"), 0);
  dv.setUint32(8, opts.format ?? 1, true);
  dv.setUint32(12, jsonBytes.byteLength, true);
  dv.setUint32(20, opts.total ?? out.byteLength, true);
  out.set(jsonBytes, FIXED);
  (parsed.sections ?? []).forEach((s, k) => {
    const b = sections[k];
    if (b && Number.isSafeInteger(s.offset) && s.offset >= FIXED + jsonBytes.byteLength && s.offset + b.byteLength <= out.byteLength) out.set(b, s.offset);
  });
  dv.setUint32(16, opts.crc ?? crc32(out.subarray(FIXED)), true);
  return out;
}

/** Rewrites the CRC after the bytes were changed by hand. */
export function recrc(c: Uint8Array): Uint8Array {
  new DataView(c.buffer, c.byteOffset, c.byteLength).setUint32(16, crc32(c.subarray(FIXED)), true);
  return c;
}
