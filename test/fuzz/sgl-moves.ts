// The hostile host's SGL moves: I/O commands whose data pointer is an SGL (PSDT 01b), now and then
// a fair one (a Data Block, or pieces over a Segment into a Last Segment, Bit Buckets on reads),
// mostly not: chains that loop, leave RAM or describe more than the transfer, bad descriptor
// types and sub types, Bit Buckets on writes, segments of bad lengths, segments pointing into the
// queues and shadow pages, random descriptors, and PSDT values the controller does not offer.

import type { Rng } from "../driver/rng.ts";
import { sglBytes, type Sqe, type SglDescriptor } from "../driver/host-driver.ts";
import * as O from "../../src/spec/opcodes.ts";

const DATA = 0;
const BUCKET = 1;
const SEGMENT = 2;
const LAST = 3;

/** What the moves need of the hostile host's machine. */
export interface SglMachine {
  r: Rng;
  /** Start and size of the data buffer area. */
  data: [number, number];
  /** 8 KiB of the host's own for segments. */
  segmentPage(): number;
  /** An address inside RAM the device also uses: a queue, a shadow page, the admin queues. */
  inside(): number;
  /** An address at or beyond the end of RAM, or with a high dword. */
  far(): number;
  fill(addr: number, bytes: Uint8Array): void;
}

/** Writes `descs` at `at` (guest RAM the host owns) and returns a descriptor of `type` for them. */
function put(m: SglMachine, at: number, descs: SglDescriptor[], type: number): SglDescriptor {
  descs.forEach((d, i) => m.fill(at + i * 16, sglBytes(d)));
  return { addr: at, len: descs.length * 16, type };
}

/** Splits `len` bytes into dword-multiple pieces over the data area (a Bit Bucket now and then). */
function pieces(m: SglMachine, len: number, buckets: boolean): SglDescriptor[] {
  const r = m.r;
  const [base, size] = m.data;
  const out: SglDescriptor[] = [];
  for (let left = len; left > 0; ) {
    const n = Math.min(left, 4 * (1 + r.below(r.chance(50) ? 64 : 2048)));
    out.push(buckets && r.chance(15) ? { addr: 0, len: n, type: BUCKET } : { addr: base + 4 * r.below((size - n) / 4), len: n, type: DATA });
    left -= n;
  }
  return out;
}

/** A fair SGL for `len` bytes: one Data Block, or pieces over one or two segments. */
function fair(m: SglMachine, len: number, read: boolean): SglDescriptor {
  const list = pieces(m, len, read);
  if (list.length === 1 && m.r.chance(50)) return list[0];
  const page = m.segmentPage();
  // A Segment at the page's start, the Last Segment 4 KiB into it (256 descriptors each at most).
  const cut = list.length > 2 && list.length < 500 && m.r.chance(50) ? Math.min(255, Math.max(1 + m.r.below(list.length - 1), list.length - 256)) : 0;
  if (!cut) return put(m, page, list.slice(0, 500), LAST);
  const last = put(m, page + 4096, list.slice(cut), LAST);
  return put(m, page, [...list.slice(0, cut), last], SEGMENT);
}

/** An SGL from the hostile menu for a transfer of `len` bytes. */
function hostile(m: SglMachine, len: number, read: boolean): SglDescriptor {
  const r = m.r;
  const page = m.segmentPage();
  switch (r.below(10)) {
    case 0: // a segment that chains to itself
      return put(m, page, [...pieces(m, Math.min(len, 64), false).slice(0, 4), { addr: page, len: 80, type: SEGMENT }], SEGMENT);
    case 1: // two segments chained to each other, zero-length data between
      put(m, page + 4096, [{ addr: 0, len: 0, type: DATA }, { addr: page, len: 32, type: SEGMENT }], SEGMENT);
      return put(m, page, [{ addr: 0, len: 0, type: DATA }, { addr: page + 4096, len: 32, type: SEGMENT }], SEGMENT);
    case 2: { // a data block or a segment outside RAM
      const list = pieces(m, len, read);
      list[r.below(list.length)] = { addr: m.far(), len: list[0].len, type: DATA };
      return r.chance(50) ? put(m, page, list.slice(0, 400), LAST) : { addr: m.far(), len: 16 * (1 + r.below(8)), type: r.pick([SEGMENT, LAST]) };
    }
    case 3: // more (or less) than the transfer
      return put(m, page, pieces(m, len + r.pick([-4, 4, 512, 4096]), read).slice(0, 500), LAST);
    case 4: { // bad types and sub types
      const list = pieces(m, len, read).slice(0, 400);
      const i = r.below(list.length);
      list[i] = { ...list[i], type: r.pick([4, 5, 6, 0xe, 0xf, r.below(16)]), subtype: r.chance(50) ? r.below(16) : 0 };
      return put(m, page, list, LAST);
    }
    case 5: // Bit Buckets whatever the direction
      return put(m, page, [{ addr: 0, len: 512, type: BUCKET }, ...pieces(m, Math.max(0, len - 512), false).slice(0, 400)], LAST);
    case 6: // a segment inside the queues or the shadow pages, of any length
      return { addr: m.inside(), len: r.pick([16, 32, 64, 4096, r.below(8192)]), type: r.pick([SEGMENT, LAST]) };
    case 7: { // segment descriptors out of place, segments of bad lengths
      const inner = put(m, page + 4096, pieces(m, len, read).slice(0, 200), LAST);
      const bad = { ...inner, len: r.pick([0, 8, inner.len + 8, 2 ** 32 - 16]) };
      return r.chance(50) ? put(m, page, [inner, ...pieces(m, 16, read)], r.pick([SEGMENT, LAST])) : put(m, page, [bad], SEGMENT);
    }
    case 8: // a data block not dword aligned or sized
      return { addr: m.data[0] + 1 + r.below(3), len: len - r.below(4), type: DATA };
    default: { // random bytes
      const b = new Uint8Array(16);
      for (let i = 0; i < 16; i++) b[i] = r.below(256);
      const dv = new DataView(b.buffer);
      return { addr: dv.getUint32(0, true) + (r.chance(80) ? 0 : dv.getUint32(4, true) * 2 ** 32), len: dv.getUint32(8, true), type: b[15] >> 4, subtype: b[15] & 15 };
    }
  }
}

/** One I/O command with an SGL, for namespace `nsid` of `bs`-byte blocks holding `blocks` of them. */
export function sglCommand(m: SglMachine, nsid: number, bs: number, blocks: number): Sqe {
  const r = m.r;
  const opcode = r.pick([O.IO_READ, O.IO_READ, O.IO_WRITE, O.IO_COMPARE, O.IO_DATASET_MANAGEMENT]);
  const read = opcode === O.IO_READ;
  const nlb = 1 + r.below(bs === 4096 ? 8 : 64);
  const len = opcode === O.IO_DATASET_MANAGEMENT ? 16 : nlb * bs;
  const sgl = r.chance(40) ? fair(m, len, read) : hostile(m, len, read);
  const flags = r.chance(95) ? 0x40 : r.pick([0x80, 0xc0, 0x41]);
  const slba = r.below(blocks - nlb + 1);
  if (opcode === O.IO_DATASET_MANAGEMENT) return { opcode, nsid, flags, sgl, cdw10: 0, cdw11: 4 };
  return { opcode, nsid, flags, sgl, cdw10: slba, cdw12: nlb - 1 };
}
