// NVM command set I/O: Read, Write (FUA), Compare, Flush, Write Zeroes, Dataset Management, and
// the data-management commands Verify, Copy and Write Uncorrectable (their own modules); on a
// zoned namespace the zone rules and commands (zns.ts) come first, on a namespace with metadata
// its handling (metadata-io.ts).
// Every command is checked whole (namespace, LBA range, MDTS, PRPs) before any data moves.
// Data at hand moves synchronously; a backend that must fetch or store asynchronously turns the
// command LATER and the completion is posted when it settles.

import type { HandlerContext } from "../state/context.ts";
import type { Command } from "../command.ts";
import type { Namespace } from "../state/namespace.ts";
import { receiveFromHost } from "../state/context.ts";
import { ioCommandSupported } from "../state/command-support.ts";
import * as O from "../spec/opcodes.ts";
import {
  COMPARE_FAILURE, FORMAT_IN_PROGRESS, INVALID_FIELD, INVALID_NAMESPACE, INVALID_OPCODE, LATER, LBA_OUT_OF_RANGE,
  SANITIZE_IN_PROGRESS, SUCCESS, type HandlerResult, type Status,
} from "../spec/status.ts";
import { failLater, failure, ignore, nlbOf, rewritten, settle, slbaOf, uncorrectable } from "./outcome.ts";
import { verify } from "./verify.ts";
import { copy } from "./copy.ts";
import { writeUncorrectable } from "./uncorrectable.ts";
import { executeZoned } from "./zns.ts";
import { withMetadata } from "./metadata-io.ts";
import { ZONED_IO_EFFECTS } from "../state/zones.ts";
const FUA = 1 << 30;
const DEAC = 1 << 25;
const BROADCAST_NSID = 0xffffffff;

/** Namespace of an I/O command, or undefined when the NSID names none. */
function namespaceOf(ctx: HandlerContext, cmd: Command): Namespace | undefined {
  return ctx.nsTable.attached(cmd.nsid);
}

export function executeIo(ctx: HandlerContext, cmd: Command): HandlerResult {
  if (!ioCommandSupported(cmd.opcode) && !ZONED_IO_EFFECTS.has(cmd.opcode)) return INVALID_OPCODE;
  if (cmd.fused) return INVALID_FIELD;
  if (ctx.sanitize.running) return SANITIZE_IN_PROGRESS;
  if (cmd.opcode === O.IO_FLUSH) return flush(ctx, cmd);
  const ns = namespaceOf(ctx, cmd);
  // A valid NSID that is not attached (inactive) is Invalid Field, per the spec's NSID rules.
  if (!ns) return ctx.nsTable.valid(cmd.nsid) ? INVALID_FIELD : INVALID_NAMESPACE;
  if (ns.formatting) return FORMAT_IN_PROGRESS;
  if (ns.zones) return executeZoned(ctx, cmd, ns, ns.zones, NAMESPACE_COMMANDS.get(cmd.opcode), write);
  // Zone commands are for zoned namespaces only.
  if (!ioCommandSupported(cmd.opcode)) return INVALID_OPCODE;
  // Every supported opcode but Flush has a handler (test/io.test.ts checks the two agree).
  const handler = NAMESPACE_COMMANDS.get(cmd.opcode)!;
  return ns.metaSize > 0 ? withMetadata(ctx, cmd, ns, handler) : handler(ctx, cmd, ns);
}

/** Checks range and size of a data command (at `slba`) and maps its PRPs. */
function prepare(ctx: HandlerContext, cmd: Command, ns: Namespace, toHost = false, slba = slbaOf(cmd)): Status {
  const nlb = nlbOf(cmd);
  if (!ns.inRange(slba, nlb)) return LBA_OUT_OF_RANGE;
  const bytes = nlb * ns.blockSize;
  if (bytes > ctx.config.mdtsBytes) return INVALID_FIELD;
  return ctx.dma.map(cmd, bytes, toHost);
}

/**
 * Whether the mapped data buffer splits a block between two segments: a buffer only
 * dword-aligned (Linux's O_DIRECT allows it) over pages that are not contiguous. Backends store
 * whole blocks, so such a transfer goes to and from them in one piece, copied once more.
 */
function splitsBlocks(ctx: HandlerContext, ns: Namespace): boolean {
  for (let i = 0; i < ctx.dma.segmentCount; i++) if (ctx.dma.segLen(i) % ns.blockSize !== 0) return true;
  return false;
}

function read(ctx: HandlerContext, cmd: Command, ns: Namespace): HandlerResult {
  const s = prepare(ctx, cmd, ns, true);
  if (s !== SUCCESS) return s;
  const bad = uncorrectable(ctx, ns, slbaOf(cmd), nlbOf(cmd));
  if (bad) return bad;
  const bytes = nlbOf(cmd) * ns.blockSize;
  const offset = slbaOf(cmd) * ns.blockSize;
  const n = ctx.dma.segmentCount;
  let off = offset;
  try {
    if (splitsBlocks(ctx, ns)) {
      const whole = new Uint8Array(bytes);
      if (!ns.backend.tryRead(offset, whole)) return readLater(ctx, cmd, ns, offset, bytes);
      ctx.dma.toGuest(whole);
    } else {
      for (let i = 0; i < n; i++) {
        const view = ctx.dma.segView(i);
        if (!ns.backend.tryRead(off, view)) return readLater(ctx, cmd, ns, offset, bytes);
        off += view.length;
      }
    }
  } catch (e) {
    return failure(ctx, e, false);
  }
  ctx.health.read(bytes);
  ctx.ioDone("read", bytes, ns.nsid);
  return SUCCESS;
}

/**
 * The bytes were not at hand: fetch them, then copy them along the segments mapped now. A backend
 * whose read() throws instead of rejecting fails the command at once, before it is held (a held
 * command that never completes would stay in flight, and a snapshot would run it a second time).
 */
function readLater(ctx: HandlerContext, cmd: Command, ns: Namespace, offset: number, bytes: number): HandlerResult {
  let fetched: Promise<Uint8Array>;
  try {
    fetched = ns.backend.read(offset, bytes);
  } catch (e) {
    return failure(ctx, e, false);
  }
  const segs = ctx.dma.saveSegments();
  ns.track(fetched);
  const c = ctx.hold(cmd);
  fetched.then(
    (data) => ctx.afterDma(() => {
      if (!ctx.isHeld(c)) return; // aborted or reset meanwhile: the buffer is no longer ours to fill
      ctx.dma.toGuestAt(segs, data);
      ctx.health.read(bytes);
      ctx.ioDone("read", bytes, ns.nsid);
      ctx.complete(c, SUCCESS);
    }),
    failLater(ctx, c, false),
  );
  return LATER;
}

/** Write at the command's SLBA, or at `slba` (a Zone Append's place in its zone). */
function write(ctx: HandlerContext, cmd: Command, ns: Namespace, slba = slbaOf(cmd)): HandlerResult {
  const s = prepare(ctx, cmd, ns, false, slba);
  if (s !== SUCCESS) return s;
  const bytes = nlbOf(cmd) * ns.blockSize;
  const offset = slba * ns.blockSize;
  // Without an enabled volatile cache every write must be durable when it completes.
  const fua = (cmd.cdw12 & FUA) !== 0 || !ctx.features.writeCacheEnabled;
  let gathered: Uint8Array | undefined;
  rewritten(ctx, ns, slba, nlbOf(cmd));
  if (splitsBlocks(ctx, ns)) ctx.dma.fromGuest((gathered = new Uint8Array(bytes)));
  const n = gathered ? 1 : ctx.dma.segmentCount;
  const waits: Promise<void>[] = [];
  let off = offset;
  try {
    for (let i = 0; i < n; i++) {
      const view = gathered ?? ctx.dma.segView(i);
      const r = ns.backend.write(off, view, fua);
      if (r instanceof Promise) waits.push(r);
      off += view.length;
    }
  } catch (e) {
    // The command fails now; parts already under way may still fail later, unheard.
    for (const w of waits) w.catch(ignore);
    return failure(ctx, e, true);
  }
  const done = () => {
    ctx.health.write(bytes);
    ctx.ioDone("write", bytes, ns.nsid);
    return SUCCESS;
  };
  if (waits.length === 0) return done();
  return settle(ctx, cmd, ns, () => Promise.all(waits).then(() => undefined), true, done);
}

function compare(ctx: HandlerContext, cmd: Command, ns: Namespace): HandlerResult {
  const s = prepare(ctx, cmd, ns);
  if (s !== SUCCESS) return s;
  const bytes = nlbOf(cmd) * ns.blockSize;
  const offset = slbaOf(cmd) * ns.blockSize;
  const bad = uncorrectable(ctx, ns, slbaOf(cmd), nlbOf(cmd));
  if (bad) return bad;
  const host = new Uint8Array(bytes);
  ctx.dma.fromGuest(host);
  const check = (disk: Uint8Array): Status => {
    for (let i = 0; i < bytes; i++) if (disk[i] !== host[i]) return COMPARE_FAILURE;
    ctx.health.read(bytes);
    return SUCCESS;
  };
  const disk = new Uint8Array(bytes);
  try {
    if (ns.backend.tryRead(offset, disk)) return check(disk);
  } catch (e) {
    return failure(ctx, e, false);
  }
  let fetched: Promise<Uint8Array>;
  try {
    fetched = ns.backend.read(offset, bytes);
  } catch (e) {
    return failure(ctx, e, false);
  }
  ns.track(fetched);
  const c = ctx.hold(cmd);
  fetched.then((d) => {
    if (ctx.isHeld(c)) ctx.complete(c, check(d));
  }, failLater(ctx, c, false));
  return LATER;
}

function flush(ctx: HandlerContext, cmd: Command): HandlerResult {
  let targets: readonly Namespace[];
  if (cmd.nsid === BROADCAST_NSID && ctx.config.volatileWriteCache) targets = ctx.namespaces;
  else {
    const ns = namespaceOf(ctx, cmd);
    if (!ns) return INVALID_NAMESPACE;
    targets = [ns];
  }
  if (!ctx.config.volatileWriteCache) return SUCCESS; // nothing is ever cached: every write is durable already
  return settle(ctx, cmd, undefined, () => {
    const waits = targets.map((ns) => ns.backend.flush()).filter((r): r is Promise<void> => r instanceof Promise);
    if (waits.length) return Promise.all(waits).then(() => undefined);
  }, true);
}

function writeZeroes(ctx: HandlerContext, cmd: Command, ns: Namespace): HandlerResult {
  const slba = slbaOf(cmd);
  const nlb = nlbOf(cmd);
  if (!ns.inRange(slba, nlb)) return LBA_OUT_OF_RANGE;
  const offset = slba * ns.blockSize;
  const length = nlb * ns.blockSize;
  const deallocate = (cmd.cdw12 & DEAC) !== 0 && ns.backend.discardZeroes;
  rewritten(ctx, ns, slba, nlb);
  return settle(ctx, cmd, ns, () => (deallocate ? ns.backend.discard(offset, length) : ns.backend.writeZeroes(offset, length)), true);
}

/** Dataset Management: only Deallocate (AD) acts; the attribute hints are accepted and ignored. */
function datasetManagement(ctx: HandlerContext, cmd: Command, ns: Namespace): HandlerResult {
  const ranges = (cmd.cdw10 & 0xff) + 1;
  if ((cmd.cdw11 & 4) === 0) return SUCCESS;
  const data = receiveFromHost(ctx, cmd, ranges * 16);
  if (!(data instanceof Uint8Array)) return data;
  const dv = new DataView(data.buffer);
  const list: [number, number][] = [];
  for (let i = 0; i < ranges; i++) {
    const nlb = dv.getUint32(i * 16 + 4, true);
    const slba = dv.getUint32(i * 16 + 8, true) + dv.getUint32(i * 16 + 12, true) * 2 ** 32;
    if (!ns.inRange(slba, nlb)) return LBA_OUT_OF_RANGE;
    if (nlb > 0) list.push([slba * ns.blockSize, nlb * ns.blockSize]);
  }
  // Deallocated blocks read as zeros (or not at all), never as an uncorrectable error.
  for (const [o, l] of list) {
    ns.uncorrectable.remove(o / ns.blockSize, l / ns.blockSize);
    ns.meta?.erase(o / ns.blockSize, l / ns.blockSize);
  }
  return settle(ctx, cmd, ns, () => {
    const waits = list.map(([o, l]) => ns.backend.discard(o, l)).filter((r): r is Promise<void> => r instanceof Promise);
    if (waits.length) return Promise.all(waits).then(() => undefined);
  }, true);
}

/** The handlers of the commands that work on a namespace, by opcode. */
export const NAMESPACE_COMMANDS: ReadonlyMap<number, (ctx: HandlerContext, cmd: Command, ns: Namespace) => HandlerResult> = new Map([
  [O.IO_READ, read],
  [O.IO_WRITE, write],
  [O.IO_COMPARE, compare],
  [O.IO_WRITE_ZEROES, writeZeroes],
  [O.IO_DATASET_MANAGEMENT, datasetManagement],
  [O.IO_VERIFY, verify],
  [O.IO_COPY, copy],
  [O.IO_WRITE_UNCORRECTABLE, writeUncorrectable],
]);
