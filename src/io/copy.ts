// Copy (19h) with source range entries of format 0: the device reads every source range from the
// backend and writes them, in order, to the destination; no data passes through the host. The
// limits (the configuration's copyLimits) are advertised in Identify Namespace and checked before
// anything moves.

import type { HandlerContext } from "../state/context.ts";
import type { Command } from "../command.ts";
import type { Namespace } from "../state/namespace.ts";
import { receiveFromHost } from "../state/context.ts";
import { COMMAND_SIZE_LIMIT_EXCEEDED, INVALID_FIELD, LATER, LBA_OUT_OF_RANGE, SUCCESS, type HandlerResult } from "../spec/status.ts";
import { failLater, failure, readBytes, rewritten, settle, slbaOf, uncorrectable } from "./outcome.ts";

const NR_MASK = 0xff; // CDW12 7:0, 0's based
const DF_SHIFT = 8; // CDW12 11:8 descriptor format
const DF_MASK = 0xf;
const FUA = 1 << 30;
const RANGE_SIZE = 32; // format 0 entry: SLBA at 8 (u64), NLB at 16 (u16, 0's based)

export function copy(ctx: HandlerContext, cmd: Command, ns: Namespace): HandlerResult {
  if (((cmd.cdw12 >>> DF_SHIFT) & DF_MASK) !== 0) return INVALID_FIELD;
  const { mssrl, mcl, msrc } = ctx.config.copyLimits;
  const count = (cmd.cdw12 & NR_MASK) + 1;
  if (count > msrc + 1) return COMMAND_SIZE_LIMIT_EXCEEDED;
  const list = receiveFromHost(ctx, cmd, count * RANGE_SIZE);
  if (!(list instanceof Uint8Array)) return list;
  const dv = new DataView(list.buffer);
  const ranges: [number, number][] = [];
  let total = 0;
  for (let i = 0; i < count; i++) {
    const at = i * RANGE_SIZE;
    const slba = dv.getUint32(at + 8, true) + dv.getUint32(at + 12, true) * 2 ** 32;
    const nlb = dv.getUint16(at + 16, true) + 1;
    if (nlb > mssrl) return COMMAND_SIZE_LIMIT_EXCEEDED;
    total += nlb;
    if (total > mcl) return COMMAND_SIZE_LIMIT_EXCEEDED;
    if (!ns.inRange(slba, nlb)) return LBA_OUT_OF_RANGE;
    ranges.push([slba, nlb]);
  }
  const sdlba = slbaOf(cmd);
  if (!ns.inRange(sdlba, total)) return LBA_OUT_OF_RANGE;
  for (const [slba, nlb] of ranges) {
    const bad = uncorrectable(ctx, ns, slba, nlb);
    if (bad) return bad;
  }
  const fua = (cmd.cdw12 & FUA) !== 0 || !ctx.features.writeCacheEnabled;
  const store = (parts: Uint8Array[]): void | Promise<void> => {
    const data = new Uint8Array(total * ns.blockSize);
    let off = 0;
    for (const p of parts) {
      data.set(p, off);
      off += p.length;
    }
    // Metadata goes along as it is (no PI is checked or made anew); read before the destination's is dropped.
    const meta = ranges.map(([slba, nlb]) => ns.meta?.read(slba, nlb));
    rewritten(ctx, ns, sdlba, total);
    let at = sdlba;
    for (const [i, m] of meta.entries()) {
      if (m) ns.meta?.write(at, m);
      at += ranges[i][1];
    }
    return ns.backend.write(sdlba * ns.blockSize, data, fua);
  };
  // Every source is read before the destination is written, so overlapping ranges copy the old data.
  let parts: (Uint8Array | Promise<Uint8Array>)[];
  try {
    parts = ranges.map(([slba, nlb]) => readBytes(ns, slba * ns.blockSize, nlb * ns.blockSize));
  } catch (e) {
    return failure(ctx, e, false);
  }
  if (parts.every((p): p is Uint8Array => p instanceof Uint8Array)) return settle(ctx, cmd, ns, () => store(parts as Uint8Array[]), true);
  const read = ns.track(Promise.all(parts));
  const c = ctx.hold(cmd);
  read.then((data) => {
    if (!ctx.isHeld(c)) return; // aborted or reset before anything was written: nothing is
    let w: void | Promise<void>;
    try {
      w = store(data);
    } catch (e) {
      ctx.complete(c, failure(ctx, e, true));
      return;
    }
    if (!(w instanceof Promise)) return ctx.complete(c, SUCCESS);
    ns.track(w).then(() => {
      if (ctx.isHeld(c)) ctx.complete(c, SUCCESS);
    }, failLater(ctx, c, true));
  }, failLater(ctx, c, false));
  return LATER;
}
