// Verify (0Ch): the range is read from the backend and the bytes dropped, so it fails exactly where
// a read would (media errors, blocks marked uncorrectable) while nothing reaches the host.

import type { HandlerContext } from "../state/context.ts";
import type { Command } from "../command.ts";
import type { Namespace } from "../state/namespace.ts";
import { LBA_OUT_OF_RANGE, type HandlerResult } from "../spec/status.ts";
import { nlbOf, readBytes, settle, slbaOf, uncorrectable } from "./outcome.ts";

/** Bytes read per backend call: a 65536-block Verify never needs its whole range in memory. */
const CHUNK = 1 << 20;

export function verify(ctx: HandlerContext, cmd: Command, ns: Namespace): HandlerResult {
  const slba = slbaOf(cmd);
  const nlb = nlbOf(cmd);
  if (!ns.inRange(slba, nlb)) return LBA_OUT_OF_RANGE;
  const bad = uncorrectable(ctx, ns, slba, nlb);
  if (bad) return bad;
  return settle(ctx, cmd, ns, () => readThrough(ns, slba * ns.blockSize, nlb * ns.blockSize), false);
}

/** Reads [offset, offset + length) chunk by chunk; undefined when every chunk was at hand. */
function readThrough(ns: Namespace, offset: number, length: number): void | Promise<void> {
  const end = offset + length;
  for (let off = offset; off < end; off += CHUNK) {
    const n = Math.min(CHUNK, end - off);
    const r = readBytes(ns, off, n);
    if (r instanceof Promise) return r.then(() => readThrough(ns, off + n, end - off - n));
  }
}
