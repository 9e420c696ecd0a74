// NVM command set I/O: Read, Write (FUA), Compare, Flush, Write Zeroes, Dataset Management.
// Every command is checked whole (namespace, LBA range, MDTS, PRPs) before any data moves.
// Data at hand moves synchronously; a backend that must fetch or store asynchronously turns the
// command PENDING and the completion is posted when it settles.

import type { Device } from "../device.ts";
import type { Command } from "../command.ts";
import type { Namespace } from "./namespace.ts";
import { BackendError } from "../backends/block-backend.ts";
import { receiveFromHost } from "../device.ts";
import { PENDING } from "../device.ts";
import { isSupported } from "../admin/effects.ts";
import * as O from "../spec/opcodes.ts";
import * as S from "../spec/status.ts";

const INVALID_FIELD = S.SCT_GENERIC | S.SC_INVALID_FIELD | S.STATUS_DNR;
const LBA_OUT_OF_RANGE = S.SCT_GENERIC | S.SC_LBA_OUT_OF_RANGE | S.STATUS_DNR;
const INVALID_NS = S.SCT_GENERIC | S.SC_INVALID_NAMESPACE | S.STATUS_DNR;
const READ_ERROR = S.SCT_MEDIA | S.SC_UNRECOVERED_READ_ERROR;
const WRITE_FAULT = S.SCT_MEDIA | S.SC_WRITE_FAULT;
const CAPACITY_EXCEEDED = S.SCT_GENERIC | S.SC_CAPACITY_EXCEEDED | S.STATUS_DNR;
const FUA = 1 << 30;
const DEAC = 1 << 25;
const BROADCAST_NSID = 0xffffffff;

function failure(dev: Device, e: unknown, write: boolean): number {
  dev.log("error", `backend ${write ? "write" : "read"} failed: ${e instanceof Error ? e.message : String(e)}`);
  // A full quota is no data integrity error: it is not counted in SMART's media errors.
  if (e instanceof BackendError && e.kind === "capacity") return CAPACITY_EXCEEDED;
  dev.health.mediaError();
  return write ? WRITE_FAULT : READ_ERROR;
}

const ignore = () => {};

/** The completion of a held command whose backend failed; nothing is counted for one already dropped. */
function failLater(dev: Device, c: Command, write: boolean): (e: unknown) => void {
  return (e) => {
    if (dev.isHeld(c)) dev.complete(c, failure(dev, e, write));
  };
}

/** SLBA (CDW11:CDW10) and the 1's based block count (CDW12 NLB 15:0) of a block command. */
const slbaOf = (cmd: Command) => cmd.cdw10 + cmd.cdw11 * 2 ** 32;
const nlbOf = (cmd: Command) => (cmd.cdw12 & 0xffff) + 1;

/** Runs `op`; a Promise result makes the command PENDING until it settles. */
function settle(dev: Device, cmd: Command, op: () => void | Promise<void>, write: boolean, after?: () => number): number {
  let r: void | Promise<void>;
  try {
    r = op();
  } catch (e) {
    return failure(dev, e, write);
  }
  if (!(r instanceof Promise)) return after ? after() : 0;
  const c = dev.hold(cmd);
  r.then(
    () => {
      if (dev.isHeld(c)) dev.complete(c, after ? after() : 0);
    },
    failLater(dev, c, write),
  );
  return PENDING;
}

/** Namespace of an I/O command, or undefined when the NSID names none. */
function namespaceOf(dev: Device, cmd: Command): Namespace | undefined {
  return cmd.nsid >= 1 && cmd.nsid <= dev.namespaces.length ? dev.namespaces[cmd.nsid - 1] : undefined;
}

export function executeIo(dev: Device, cmd: Command): number {
  if (!isSupported(false, cmd.opcode)) return S.SCT_GENERIC | S.SC_INVALID_OPCODE | S.STATUS_DNR;
  if (cmd.fused || cmd.usesSgl) return INVALID_FIELD;
  if (cmd.opcode === O.IO_FLUSH) return flush(dev, cmd);
  const ns = namespaceOf(dev, cmd);
  if (!ns) return INVALID_NS;
  switch (cmd.opcode) {
    case O.IO_READ: return read(dev, cmd, ns);
    case O.IO_WRITE: return write(dev, cmd, ns);
    case O.IO_COMPARE: return compare(dev, cmd, ns);
    case O.IO_WRITE_ZEROES: return writeZeroes(dev, cmd, ns);
    case O.IO_DATASET_MANAGEMENT: return datasetManagement(dev, cmd, ns);
    default: return S.SCT_GENERIC | S.SC_INVALID_OPCODE | S.STATUS_DNR;
  }
}

/** Checks range and size of a data command and maps its PRPs; returns an NVMe status. */
function prepare(dev: Device, cmd: Command, ns: Namespace, toHost = false): number {
  const nlb = nlbOf(cmd);
  if (!ns.inRange(slbaOf(cmd), nlb)) return LBA_OUT_OF_RANGE;
  const bytes = nlb * ns.blockSize;
  if (bytes > dev.config.mdtsBytes) return INVALID_FIELD;
  return dev.dma.map(cmd, bytes, toHost);
}

function read(dev: Device, cmd: Command, ns: Namespace): number {
  const s = prepare(dev, cmd, ns, true);
  if (s) return s;
  const bytes = nlbOf(cmd) * ns.blockSize;
  const offset = slbaOf(cmd) * ns.blockSize;
  const n = dev.dma.segmentCount;
  let off = offset;
  try {
    for (let i = 0; i < n; i++) {
      const view = dev.dma.segView(i);
      if (!ns.backend.tryRead(off, view)) return readLater(dev, cmd, ns, offset, bytes);
      off += view.length;
    }
  } catch (e) {
    return failure(dev, e, false);
  }
  dev.health.read(bytes);
  dev.ioDone("read", bytes, ns.nsid);
  return 0;
}

/**
 * The bytes were not at hand: fetch them, then copy them along the segments mapped now. A backend
 * whose read() throws instead of rejecting fails the command at once, before it is held (a held
 * command that never completes would stay in flight, and a snapshot would run it a second time).
 */
function readLater(dev: Device, cmd: Command, ns: Namespace, offset: number, bytes: number): number {
  let fetched: Promise<Uint8Array>;
  try {
    fetched = ns.backend.read(offset, bytes);
  } catch (e) {
    return failure(dev, e, false);
  }
  const segs = dev.dma.saveSegments();
  const c = dev.hold(cmd);
  fetched.then(
    (data) => {
      if (!dev.isHeld(c)) return; // aborted or reset meanwhile: the buffer is no longer ours to fill
      dev.dma.toGuestAt(segs, data);
      dev.health.read(bytes);
      dev.ioDone("read", bytes, ns.nsid);
      dev.complete(c, 0);
    },
    failLater(dev, c, false),
  );
  return PENDING;
}

function write(dev: Device, cmd: Command, ns: Namespace): number {
  const s = prepare(dev, cmd, ns);
  if (s) return s;
  const bytes = nlbOf(cmd) * ns.blockSize;
  const offset = slbaOf(cmd) * ns.blockSize;
  // Without an enabled volatile cache every write must be durable when it completes.
  const fua = (cmd.cdw12 & FUA) !== 0 || !dev.features.writeCacheEnabled;
  const n = dev.dma.segmentCount;
  const waits: Promise<void>[] = [];
  let off = offset;
  try {
    for (let i = 0; i < n; i++) {
      const r = ns.backend.write(off, dev.dma.segView(i), fua);
      if (r instanceof Promise) waits.push(r);
      off += dev.dma.segLen(i);
    }
  } catch (e) {
    // The command fails now; parts already under way may still fail later, unheard.
    for (const w of waits) w.catch(ignore);
    return failure(dev, e, true);
  }
  const done = () => {
    dev.health.write(bytes);
    dev.ioDone("write", bytes, ns.nsid);
    return 0;
  };
  if (waits.length === 0) return done();
  return settle(dev, cmd, () => Promise.all(waits).then(() => undefined), true, done);
}

function compare(dev: Device, cmd: Command, ns: Namespace): number {
  const s = prepare(dev, cmd, ns);
  if (s) return s;
  const bytes = nlbOf(cmd) * ns.blockSize;
  const offset = slbaOf(cmd) * ns.blockSize;
  const host = new Uint8Array(bytes);
  dev.dma.fromGuest(host);
  const check = (disk: Uint8Array) => {
    for (let i = 0; i < bytes; i++) if (disk[i] !== host[i]) return S.SCT_MEDIA | S.SC_COMPARE_FAILURE | S.STATUS_DNR;
    dev.health.read(bytes);
    return 0;
  };
  const disk = new Uint8Array(bytes);
  try {
    if (ns.backend.tryRead(offset, disk)) return check(disk);
  } catch (e) {
    return failure(dev, e, false);
  }
  let fetched: Promise<Uint8Array>;
  try {
    fetched = ns.backend.read(offset, bytes);
  } catch (e) {
    return failure(dev, e, false);
  }
  const c = dev.hold(cmd);
  fetched.then((d) => {
    if (dev.isHeld(c)) dev.complete(c, check(d));
  }, failLater(dev, c, false));
  return PENDING;
}

function flush(dev: Device, cmd: Command): number {
  let targets: readonly Namespace[];
  if (cmd.nsid === BROADCAST_NSID && dev.config.volatileWriteCache) targets = dev.namespaces;
  else {
    const ns = namespaceOf(dev, cmd);
    if (!ns) return INVALID_NS;
    targets = [ns];
  }
  if (!dev.config.volatileWriteCache) return 0; // nothing is ever cached: every write is durable already
  return settle(dev, cmd, () => {
    const waits = targets.map((ns) => ns.backend.flush()).filter((r): r is Promise<void> => r instanceof Promise);
    if (waits.length) return Promise.all(waits).then(() => undefined);
  }, true);
}

function writeZeroes(dev: Device, cmd: Command, ns: Namespace): number {
  const slba = slbaOf(cmd);
  const nlb = nlbOf(cmd);
  if (!ns.inRange(slba, nlb)) return LBA_OUT_OF_RANGE;
  const offset = slba * ns.blockSize;
  const length = nlb * ns.blockSize;
  const deallocate = (cmd.cdw12 & DEAC) !== 0 && ns.backend.discardZeroes;
  return settle(dev, cmd, () => (deallocate ? ns.backend.discard(offset, length) : ns.backend.writeZeroes(offset, length)), true);
}

/** Dataset Management: only Deallocate (AD) acts; the attribute hints are accepted and ignored. */
function datasetManagement(dev: Device, cmd: Command, ns: Namespace): number {
  const ranges = (cmd.cdw10 & 0xff) + 1;
  if ((cmd.cdw11 & 4) === 0) return 0;
  const data = receiveFromHost(dev, cmd, ranges * 16);
  if (typeof data === "number") return data;
  const dv = new DataView(data.buffer);
  const list: [number, number][] = [];
  for (let i = 0; i < ranges; i++) {
    const nlb = dv.getUint32(i * 16 + 4, true);
    const slba = dv.getUint32(i * 16 + 8, true) + dv.getUint32(i * 16 + 12, true) * 2 ** 32;
    if (!ns.inRange(slba, nlb)) return LBA_OUT_OF_RANGE;
    if (nlb > 0) list.push([slba * ns.blockSize, nlb * ns.blockSize]);
  }
  return settle(dev, cmd, () => {
    const waits = list.map(([o, l]) => ns.backend.discard(o, l)).filter((r): r is Promise<void> => r instanceof Promise);
    if (waits.length) return Promise.all(waits).then(() => undefined);
  }, true);
}
