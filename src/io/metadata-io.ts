// Block commands on a namespace formatted with metadata (io/protection.ts for its PI). The data
// still goes to the backend; each block's metadata goes to the namespace's metadata store. It
// travels in a buffer of its own (MPTR: contiguous, dword aligned, inside guest RAM) or, with
// extended LBAs, after each block's data in the data buffer. With PRACT on a format whose
// metadata is just the 8-byte PI, no metadata travels: the controller generates it on a write
// and strips it on a read. These commands move their data through one buffer here, not the hot
// path's segment by segment copies.

import type { HandlerContext } from "../state/context.ts";
import type { Command } from "../command.ts";
import type { Namespace } from "../state/namespace.ts";
import * as O from "../spec/opcodes.ts";
import { PI_NONE, PI_SIZE } from "../spec/protection.ts";
import {
  COMPARE_FAILURE, DATA_TRANSFER_ERROR, INVALID_FIELD, LATER, LBA_OUT_OF_RANGE, SUCCESS, type HandlerResult, type Status,
} from "../spec/status.ts";
import { failLater, failure, nlbOf, readBytes, rewritten, settle, slbaOf, uncorrectable } from "./outcome.ts";
import { checkPi, checks, generatePi, piFields, prinfoValid, type PiFields } from "./protection.ts";

type Handler = (ctx: HandlerContext, cmd: Command, ns: Namespace) => HandlerResult;

const FUA = 1 << 30;
/** Blocks a Verify reads and checks at a time. */
const VERIFY_CHUNK_BLOCKS = 256;

/** `cmd` on namespace `ns` (which has metadata); `base` is the handler of a namespace without. */
export function withMetadata(ctx: HandlerContext, cmd: Command, ns: Namespace, base: Handler): HandlerResult {
  switch (cmd.opcode) {
    case O.IO_READ:
      return read(ctx, cmd, ns);
    case O.IO_WRITE:
      return write(ctx, cmd, ns);
    case O.IO_COMPARE:
      return compare(ctx, cmd, ns);
    case O.IO_WRITE_ZEROES:
      return writeZeroes(ctx, cmd, ns, base);
    case O.IO_VERIFY:
      return verify(ctx, cmd, ns, base);
    default:
      return base(ctx, cmd, ns);
  }
}

/** What a Read, Write or Compare moves. */
interface Plan {
  slba: number;
  nlb: number;
  f: PiFields;
  /** Metadata bytes to or from the host: none when PRACT strips or inserts an 8-byte PI. */
  metaBytes: number;
  /** The metadata is in the data buffer, after each block. */
  extended: boolean;
  mptr: number;
}

const hasPi = (ns: Namespace) => ns.protection.pi !== PI_NONE;

/** The blocks of a command and its PI fields, checked: in range, ILBRT as the PI type needs it. */
function blocksOf(cmd: Command, ns: Namespace): { slba: number; nlb: number; f: PiFields } | Status {
  const slba = slbaOf(cmd);
  const nlb = nlbOf(cmd);
  if (!ns.inRange(slba, nlb)) return LBA_OUT_OF_RANGE;
  const f = piFields(cmd);
  const s = hasPi(ns) ? prinfoValid(ns, f, slba) : SUCCESS;
  return s === SUCCESS ? { slba, nlb, f } : s;
}

/** Checks a data command whole (range, PRINFO, size, data pointer, MPTR) and maps its data buffer. */
function plan(ctx: HandlerContext, cmd: Command, ns: Namespace, toHost: boolean): Plan | Status {
  const b = blocksOf(cmd, ns);
  if (typeof b === "number") return b;
  const { slba, nlb, f } = b;
  const metaBytes = hasPi(ns) && f.pract && ns.metaSize === PI_SIZE ? 0 : nlb * ns.metaSize;
  const extended = ns.protection.extended;
  const dataBytes = nlb * ns.blockSize + (extended ? metaBytes : 0);
  if (dataBytes > ctx.config.mdtsBytes) return INVALID_FIELD;
  const s = ctx.dma.map(cmd, dataBytes, toHost);
  if (s !== SUCCESS) return s;
  if (!extended && metaBytes > 0) {
    if (cmd.mptrLo % 4 !== 0) return INVALID_FIELD; // MPTR must be dword aligned
    if (!ctx.dma.inRam(cmd.mptrLo, cmd.mptrHi, metaBytes)) return DATA_TRANSFER_ERROR;
  }
  return { slba, nlb, f, metaBytes, extended, mptr: cmd.mptrLo };
}

/** Each block's data followed by its metadata, as extended LBAs lay them out. */
function interleave(ns: Namespace, data: Uint8Array, meta: Uint8Array, nlb: number): Uint8Array {
  const bs = ns.blockSize;
  const ms = ns.metaSize;
  const out = new Uint8Array(nlb * (bs + ms));
  for (let i = 0; i < nlb; i++) {
    out.set(data.subarray(i * bs, (i + 1) * bs), i * (bs + ms));
    out.set(meta.subarray(i * ms, (i + 1) * ms), i * (bs + ms) + bs);
  }
  return out;
}

function deinterleave(ns: Namespace, buf: Uint8Array, nlb: number): [Uint8Array, Uint8Array] {
  const bs = ns.blockSize;
  const ms = ns.metaSize;
  const data = new Uint8Array(nlb * bs);
  const meta = new Uint8Array(nlb * ms);
  for (let i = 0; i < nlb; i++) {
    data.set(buf.subarray(i * (bs + ms), i * (bs + ms) + bs), i * bs);
    meta.set(buf.subarray(i * (bs + ms) + bs, (i + 1) * (bs + ms)), i * ms);
  }
  return [data, meta];
}

/** The data and metadata the host sends (the metadata undefined when none travels). */
function fromHost(ctx: HandlerContext, ns: Namespace, p: Plan): [Uint8Array, Uint8Array | undefined] {
  const buf = new Uint8Array(p.nlb * ns.blockSize + (p.extended ? p.metaBytes : 0));
  ctx.dma.fromGuest(buf);
  if (p.metaBytes === 0) return [buf, undefined];
  return p.extended ? deinterleave(ns, buf, p.nlb) : [buf, ctx.dma.readAt(p.mptr, p.metaBytes)];
}

/** Reads the command's blocks, now or later, and completes with what `finish` makes of them. */
function readThen(ctx: HandlerContext, cmd: Command, ns: Namespace, p: Plan, finish: (data: Uint8Array) => Status): HandlerResult {
  let r: Uint8Array | Promise<Uint8Array>;
  try {
    r = readBytes(ns, p.slba * ns.blockSize, p.nlb * ns.blockSize);
  } catch (e) {
    return failure(ctx, e, false);
  }
  if (!(r instanceof Promise)) return finish(r);
  ns.track(r);
  const c = ctx.hold(cmd);
  r.then((d) => ctx.afterDma(() => {
    if (ctx.isHeld(c)) ctx.complete(c, finish(d));
  }), failLater(ctx, c, false));
  return LATER;
}

/** The stored PI checked as PRCHK asks; a failure counts as a media and data integrity error. */
function checkStored(ctx: HandlerContext, ns: Namespace, f: PiFields, data: Uint8Array, meta: Uint8Array, nlb: number, first = 0): Status {
  if (!hasPi(ns)) return SUCCESS;
  const s = checkPi(ns, f, data, meta, nlb, first);
  if (s !== SUCCESS) ctx.health.mediaError();
  return s;
}

function read(ctx: HandlerContext, cmd: Command, ns: Namespace): HandlerResult {
  const p = plan(ctx, cmd, ns, true);
  if (typeof p === "number") return p;
  const bad = uncorrectable(ctx, ns, p.slba, p.nlb);
  if (bad) return bad;
  const segs = ctx.dma.saveSegments();
  return readThen(ctx, cmd, ns, p, (data) => {
    const meta = ns.meta!.read(p.slba, p.nlb);
    const s = checkStored(ctx, ns, p.f, data, meta, p.nlb);
    if (s !== SUCCESS) return s;
    if (p.extended && p.metaBytes > 0) ctx.dma.toGuestAt(segs, interleave(ns, data, meta, p.nlb));
    else {
      ctx.dma.toGuestAt(segs, data);
      if (p.metaBytes > 0) ctx.dma.writeAt(p.mptr, meta);
    }
    ctx.health.read(data.length);
    ctx.ioDone("read", data.length, ns.nsid);
    return SUCCESS;
  });
}

function write(ctx: HandlerContext, cmd: Command, ns: Namespace): HandlerResult {
  const p = plan(ctx, cmd, ns, false);
  if (typeof p === "number") return p;
  const [data, sent] = fromHost(ctx, ns, p);
  const meta = sent ?? new Uint8Array(p.nlb * ns.metaSize);
  if (hasPi(ns)) {
    if (p.f.pract) generatePi(ns, p.f, data, meta, p.nlb);
    else {
      const s = checkPi(ns, p.f, data, meta, p.nlb);
      if (s !== SUCCESS) return s;
    }
  }
  const fua = (cmd.cdw12 & FUA) !== 0 || !ctx.features.writeCacheEnabled;
  rewritten(ctx, ns, p.slba, p.nlb);
  ns.meta!.write(p.slba, meta);
  return settle(ctx, cmd, ns, () => ns.backend.write(p.slba * ns.blockSize, data, fua), true, () => {
    ctx.health.write(data.length);
    ctx.ioDone("write", data.length, ns.nsid);
    return SUCCESS;
  });
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

/** Compare: the stored PI checked as for a read, then data and (when sent) metadata compared. */
function compare(ctx: HandlerContext, cmd: Command, ns: Namespace): HandlerResult {
  const p = plan(ctx, cmd, ns, false);
  if (typeof p === "number") return p;
  const bad = uncorrectable(ctx, ns, p.slba, p.nlb);
  if (bad) return bad;
  const [hostData, hostMeta] = fromHost(ctx, ns, p);
  return readThen(ctx, cmd, ns, p, (data) => {
    const meta = ns.meta!.read(p.slba, p.nlb);
    const s = checkStored(ctx, ns, p.f, data, meta, p.nlb);
    if (s !== SUCCESS) return s;
    if (!same(data, hostData) || (hostMeta && !same(meta, hostMeta))) return COMPARE_FAILURE;
    ctx.health.read(data.length);
    return SUCCESS;
  });
}

/** Write Zeroes zeros the metadata too; with PRACT on a PI format, the controller writes PI for the zeros. */
function writeZeroes(ctx: HandlerContext, cmd: Command, ns: Namespace, base: Handler): HandlerResult {
  const b = blocksOf(cmd, ns);
  if (typeof b === "number") return b;
  const { slba, nlb, f } = b;
  const r = base(ctx, cmd, ns);
  if (r !== SUCCESS && r !== LATER) return r;
  const meta = new Uint8Array(nlb * ns.metaSize);
  if (hasPi(ns) && f.pract) generatePi(ns, f, undefined, meta, nlb);
  ns.meta!.write(slba, meta);
  return r;
}

/** Verify with PRCHK on a PI format: the blocks are read and their PI checked, a chunk at a time. */
function verify(ctx: HandlerContext, cmd: Command, ns: Namespace, base: Handler): HandlerResult {
  if (!hasPi(ns) || !checks(piFields(cmd))) return base(ctx, cmd, ns);
  const b = blocksOf(cmd, ns);
  if (typeof b === "number") return b;
  const { slba, nlb, f } = b;
  const bad = uncorrectable(ctx, ns, slba, nlb);
  if (bad) return bad;
  let result: Status = SUCCESS;
  const from = (i: number): void | Promise<void> => {
    for (; i < nlb; i += VERIFY_CHUNK_BLOCKS) {
      const n = Math.min(VERIFY_CHUNK_BLOCKS, nlb - i);
      const at = i;
      const check = (data: Uint8Array) => (result = checkStored(ctx, ns, f, data, ns.meta!.read(slba + at, n), n, at));
      const r = readBytes(ns, (slba + i) * ns.blockSize, n * ns.blockSize);
      if (r instanceof Promise) return r.then((d) => (check(d) === SUCCESS ? from(at + n) : undefined));
      if (check(r) !== SUCCESS) return;
    }
  };
  return settle(ctx, cmd, ns, from.bind(undefined, 0), false, () => result);
}
