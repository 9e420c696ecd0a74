// Shared pieces of the fault tests: a backend that fails on command (the only stand-in they use;
// controller, hot path and guest memory are the real ones), readers for the Error Information and
// SMART log pages through the host driver, and a completion collector for many commands in flight.

import { MemoryBackend } from "../../src/backends/memory.ts";
import { BackendError, type BlockBackend } from "../../src/backends/block-backend.ts";
import { HostDriver, type Cqe, type Sqe } from "../driver/host-driver.ts";
import * as O from "../../src/spec/opcodes.ts";
import * as LOG from "../../src/spec/logs.ts";

/** Status values as the host driver reports them (CQE DW3 bits 31:17, without the phase tag). */
export const ST = {
  UNRECOVERED_READ: 0x281, // SCT 2 (media), SC 0x81
  WRITE_FAULT: 0x280, // SCT 2, SC 0x80
  CAPACITY_EXCEEDED: 0x4081, // SCT 0, SC 0x81, DNR
  ABORT_REQUESTED: 0x007,
  INTERNAL_ERROR: 0x006,
} as const;

/** Status code type and status code (no DNR, no More). */
export const sc = (s: number) => s & 0x7ff;

export type Op = "tryRead" | "read" | "write" | "flush" | "discard" | "writeZeroes";

/**
 * How one backend call fails: a synchronous throw, an asynchronous rejection, or a promise that
 * never settles; `kind` is the BackendError kind (undefined: a plain Error, as a bug would throw).
 */
export interface Failure {
  how: "throw" | "reject" | "hang";
  kind?: "read" | "write" | "capacity";
  plain?: boolean;
}

/**
 * A memory disk whose calls fail when `fault` says so. Reads that succeed go asynchronous when
 * `async` is set (tryRead misses), so both completion paths of the controller are driven.
 */
export class FaultyBackend implements BlockBackend {
  readonly disk: MemoryBackend;
  readonly volatileWriteCache: boolean;
  readonly discardZeroes = true;
  fault: (op: Op, offset: number, length: number) => Failure | undefined = () => undefined;
  async = false;
  /** Calls made per op, failed or not. */
  readonly calls: Record<Op, number> = { tryRead: 0, read: 0, write: 0, flush: 0, discard: 0, writeZeroes: 0 };
  /** Promises handed out that never settle. */
  hung = 0;

  constructor(readonly byteLength: number, o: { volatileWriteCache?: boolean } = {}) {
    this.disk = new MemoryBackend(byteLength);
    this.volatileWriteCache = o.volatileWriteCache ?? false;
  }

  private error(f: Failure, op: Op): Error {
    return f.plain ? new TypeError(`injected ${op} bug`) : new BackendError(`injected ${op} failure`, f.kind ?? (op === "read" || op === "tryRead" ? "read" : "write"));
  }

  /** Applies the failure for a call that returns a promise; undefined when the call should go on. */
  private failAsync<T>(op: Op, offset: number, length: number): Promise<T> | undefined {
    this.calls[op]++;
    const f = this.fault(op, offset, length);
    if (!f) return undefined;
    if (f.how === "throw") throw this.error(f, op);
    if (f.how === "reject") return Promise.reject(this.error(f, op));
    this.hung++;
    return new Promise<T>(() => {});
  }

  tryRead(offset: number, dst: Uint8Array): boolean {
    this.calls.tryRead++;
    const f = this.fault("tryRead", offset, dst.length);
    if (f?.how === "throw") throw this.error(f, "tryRead");
    if (f || this.async) return false;
    return this.disk.tryRead(offset, dst);
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    const r = this.failAsync<Uint8Array>("read", offset, length);
    if (r) return r;
    const out = new Uint8Array(length);
    this.disk.tryRead(offset, out);
    return new Promise((resolve) => setTimeout(() => resolve(out), 0));
  }

  write(offset: number, src: Uint8Array, _fua: boolean): void | Promise<void> {
    const r = this.failAsync<void>("write", offset, src.length);
    if (r) return r;
    this.disk.write(offset, src);
    if (this.async) return new Promise((resolve) => setTimeout(resolve, 0));
  }

  flush(): void | Promise<void> {
    const r = this.failAsync<void>("flush", 0, 0);
    if (r) return r;
  }

  discard(offset: number, length: number): void | Promise<void> {
    const r = this.failAsync<void>("discard", offset, length);
    if (r) return r;
    this.disk.discard(offset, length);
  }

  writeZeroes(offset: number, length: number): void | Promise<void> {
    const r = this.failAsync<void>("writeZeroes", offset, length);
    if (r) return r;
    this.disk.writeZeroes(offset, length);
  }
}

export interface ErrorEntry {
  count: number;
  sqid: number;
  cid: number;
  /** Status field without the phase tag (as in a CQE). */
  status: number;
  lba: number;
  nsid: number;
}

const u64 = (v: DataView, off: number) => v.getUint32(off, true) + v.getUint32(off + 4, true) * 2 ** 32;

/** Get Log Page 01h (all 64 entries): the used entries, newest first. */
export async function errorLog(d: HostDriver): Promise<ErrorEntry[]> {
  const buf = d.mem.alloc(4096);
  const c = await d.admin({ opcode: O.ADMIN_GET_LOG_PAGE, nsid: 0xffffffff, prp1: buf, cdw10: LOG.LID_ERROR_INFO | (1023 << 16) });
  if (c.status !== 0) throw new Error(`Get Log Page 01h failed: 0x${c.status.toString(16)}`);
  const v = new DataView(d.mem.bytes(buf, 4096).buffer);
  const out: ErrorEntry[] = [];
  for (let e = 0; e < 4096; e += LOG.ERROR_ENTRY_SIZE) {
    const count = u64(v, e + LOG.ERR_COUNT);
    if (count === 0) break;
    out.push({
      count,
      sqid: v.getUint16(e + LOG.ERR_SQID, true),
      cid: v.getUint16(e + LOG.ERR_CID, true),
      status: v.getUint16(e + LOG.ERR_STATUS, true) >>> 1,
      lba: u64(v, e + LOG.ERR_LBA),
      nsid: v.getUint32(e + LOG.ERR_NSID, true),
    });
  }
  return out;
}

export interface Smart {
  mediaErrors: number;
  errorEntries: number;
  hostReads: number;
  hostWrites: number;
}

/** Get Log Page 02h: the counters the fault tests look at. */
export async function smart(d: HostDriver): Promise<Smart> {
  const buf = d.mem.alloc(512);
  const c = await d.admin({ opcode: O.ADMIN_GET_LOG_PAGE, nsid: 0xffffffff, prp1: buf, cdw10: LOG.LID_SMART | (127 << 16) });
  if (c.status !== 0) throw new Error(`Get Log Page 02h failed: 0x${c.status.toString(16)}`);
  const v = new DataView(d.mem.bytes(buf, 512).buffer);
  return {
    mediaErrors: u64(v, LOG.SMART_MEDIA_ERRORS),
    errorEntries: u64(v, LOG.SMART_ERROR_ENTRIES),
    hostReads: u64(v, LOG.SMART_HOST_READS),
    hostWrites: u64(v, LOG.SMART_HOST_WRITES),
  };
}

/** Expects the newest error log entry to describe command `cid` of `sqid` with `status`. */
export function findEntry(log: ErrorEntry[], sqid: number, cid: number): ErrorEntry | undefined {
  return log.find((e) => e.sqid === sqid && e.cid === cid);
}

export interface Placed {
  qid: number;
  cid: number;
  sqe: Sqe;
  /** Guest address of the data buffer (0 when none). */
  addr: number;
  bytes: number;
}

/** A read or write placed with its own data buffer; `fill` goes into the buffer first. */
export function placeIo(d: HostDriver, qid: number, op: "read" | "write", slba: number, blocks: number, fill?: Uint8Array | number): Placed {
  const bytes = blocks * 512;
  const [prp1, prp2, addr] = d.buffer(bytes);
  if (fill instanceof Uint8Array) d.mem.fill(addr, fill);
  else if (fill !== undefined) d.mem.fill(addr, new Uint8Array(bytes).fill(fill));
  const sqe: Sqe = { opcode: op === "read" ? O.IO_READ : O.IO_WRITE, nsid: 1, prp1, prp2, cdw10: slba, cdw12: blocks - 1 };
  const cid = d.place(qid, sqe);
  return { qid, cid, sqe, addr, bytes };
}

/** Reaps every CQ the driver knows into `into` (tagged with the CQ id); returns how many arrived. */
export function reapAll(d: HostDriver, into: (Cqe & { cq: number })[]): number {
  let n = 0;
  for (const q of d.cqs.keys()) {
    for (const c of d.reap(q)) {
      into.push({ ...c, cq: q });
      n++;
    }
  }
  return n;
}

/** Ticks and yields until `done()` or `ms` pass; returns done(). */
export async function until(d: HostDriver, done: () => boolean, ms = 2000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!done() && Date.now() < end) {
    d.ctrl.tick();
    await new Promise((r) => setTimeout(r, 1));
  }
  return done();
}

/** Lets pending promise callbacks and timers run. */
export const settle = (ms = 5) => new Promise((r) => setTimeout(r, ms));
