// A persistent disk in the Origin Private File System. A dedicated Worker (opfs-worker.ts) owns
// the disk's files through FileSystemSyncAccessHandles; this side decides where every block is
// read from (block-map.ts: the data file, zeros, or a base image such as an HTTP image or a
// File), keeps a read cache so hits complete synchronously, and talks to the worker in order.
//
// Guarantees:
// - The disk has a volatile write cache (volatileWriteCache = true): a plain write completes as
//   soon as its bytes are copied and queued for the worker; flush() resolves only after the
//   worker flushed the data file and then wrote and flushed the map pages naming those blocks,
//   and a FUA write resolves only after the same for everything before it. What a completed
//   flush covered survives a reload, a closed tab and a browser crash; unflushed writes may not.
// - A write the worker fails (quota exhausted: BackendError kind "capacity"; else "write") is
//   reported by the FUA write itself or by the next flush; its blocks then read as a read error
//   while the disk stays open and as their earlier contents or zeros after a reload; the map
//   never names a block whose write failed.
// - Zeroing and discarding only change the map (cheap, also for a whole disk); they become
//   persistent with the next flush. Space in the data file is not given back.
// - Seeded from a base: as a persistent overlay (blocks never written keep coming from the base,
//   which must be the same image on every reload: `baseId` is checked), or copied block by block
//   in the background (all-zero blocks are not stored) until the disk no longer needs the base.
// - Whole-disk erases (Format NVM, Sanitize) are journaled: never half done after a crash (erase-journal.ts).

import { BackendError, type ReadSource } from "./block-backend.ts";
import { BlockMap, FROM_BASE, FROM_FILE, FROM_ZERO, type MapPageWrite } from "./block-map.ts";
import { ChunkCache } from "./chunk-cache.ts";
import { beginErase, endErase, finishErase, sanitizeReport, type ErasingOp, type JournaledDisk, type RecoveredErase, type SanitizeReport } from "./erase-journal.ts";
import { Channel, startDiskWorker } from "./disk-worker.ts";
import type { Endpoint, Reply } from "./opfs-protocol.ts";
import { DISK_NAME, SPILL_PREFIX } from "./opfs-protocol.ts";
import { normalizeOptionNames } from "./option-names.ts";

export interface OpfsDiskOptions {
  /** The disk's name: its files are v86-nvme/NAME.data and NAME.map in the origin's private file system. */
  name: string;
  /** Size in bytes of a new disk without a base (default: the base's size, or the stored size). */
  size?: number;
  /** The image this disk starts as. Only read, never written. */
  base?: ReadSource;
  /** What identifies the base across reloads (say, its URL and size); a disk is never reopened over another base. */
  baseId?: string;
  /** "overlay" (default): unwritten blocks keep coming from the base. "copy": copy the base in, then drop it. */
  seed?: "overlay" | "copy";
  /** Start afresh: remove the stored disk first. */
  reset?: boolean;
  /** Map granularity in bytes (default 512; 4096 suits 4 KiB-block namespaces and halves the map). */
  blockSize?: number;
  /** Read cache: chunk size (default 64 KiB) and byte budget (default 16 MiB). */
  chunkSize?: number;
  cacheBytes?: number;
  /** Bytes of writes queued for the worker beyond which writes wait (default 32 MiB). */
  maxQueuedBytes?: number;
  /** Progress of copying the base in (seed "copy"). */
  onProgress?: (done: number, total: number) => void;
  /** @deprecated Use onProgress (this name goes in the next release). */
  onprogress?: (done: number, total: number) => void;
  /** The worker to use (default: a new module Worker running opfs-worker.ts). */
  worker?: Endpoint;
}

/** The stored disk does not fit the options (size, block size or base differ). */
export class OpfsMismatchError extends Error {}

const failure = (r: Reply) => (r.ok ? undefined : new BackendError(`persistent disk: ${r.error}`, r.kind));

export class OpfsBackend implements JournaledDisk {
  readonly volatileWriteCache = true;
  readonly discardZeroes = true;
  readonly byteLength: number;
  readonly blockSize: number;
  /** Resolves when the base is copied in (seed "copy"), or at once. */
  readonly copied: Promise<void>;
  private readonly cache: ChunkCache;
  /** Blocks whose last write failed: reading them is an error until they are written again. */
  private readonly poisoned = new Set<number>();
  /** For each block with a write under way: the sequence number of the latest one. */
  private readonly writing = new Map<number, number>();
  private writeSeq = 0;
  private queuedBytes = 0;
  /** Bytes of writes queued for the worker beyond which writes wait. */
  private readonly maxQueuedBytes: number;
  private drained: (() => void)[] = [];
  /** The first write failure since the last flush, reported by that flush. */
  private lateError: BackendError | undefined;
  /** Write failures heard of so far (the worker refuses map pages copied before it heard of one). */
  private failuresSeen = 0;
  private closed = false;
  /** The erase (Format NVM, sanitize) a crash had cut short, which open() finished. */
  recovered: RecoveredErase | undefined;

  private constructor(
    private readonly channel: Channel,
    readonly map: BlockMap,
    private readonly base: ReadSource | undefined,
    private readonly o: OpfsDiskOptions,
    copy: boolean,
  ) {
    this.byteLength = map.header.byteLength;
    this.blockSize = map.header.blockSize;
    this.maxQueuedBytes = o.maxQueuedBytes ?? 32 * 1024 * 1024;
    this.cache = new ChunkCache(this.byteLength, (_i, start, length) => this.fetch(start, length), {
      chunkSize: o.chunkSize ?? 64 * 1024,
      cacheBytes: o.cacheBytes ?? 16 * 1024 * 1024,
      readAhead: 2,
    });
    this.copied = copy ? this.copyBase() : Promise.resolve();
    this.copied.catch(() => {}); // reported to whoever awaits it; the disk goes on as an overlay
  }

  /** Opens (or creates) a persistent disk. */
  static async open(options: OpfsDiskOptions): Promise<OpfsBackend> {
    const o = normalizeOptionNames("disk", options, "OpfsBackend.open");
    if (!DISK_NAME.test(o.name)) throw new Error(`persistent disk: bad name "${o.name}" (letters, digits, . _ -)`);
    if (o.name.startsWith(SPILL_PREFIX)) throw new Error(`persistent disk: bad name "${o.name}" ("${SPILL_PREFIX}" names the overlay's scratch files, removed when left over)`);
    const endpoint = o.worker ?? startDiskWorker();
    const channel = new Channel(endpoint);
    const fail = (e: Error) => {
      if (!o.worker) (endpoint as Worker).terminate();
      throw e;
    };
    if (o.reset) {
      const r = await channel.call({ op: "remove", name: o.name });
      if (!r.ok) fail(new Error(`persistent disk ${o.name}: cannot remove: ${r.error}`));
    }
    const r = await channel.call({ op: "open", name: o.name });
    if (!r.ok) return fail(new Error(`persistent disk ${o.name}: ${r.error}`));
    let map: BlockMap | undefined;
    try {
      map = r.map && r.map.byteLength > 0 ? BlockMap.parse(new Uint8Array(r.map)) : undefined;
    } catch (e) {
      await channel.call({ op: "close" });
      return fail(new OpfsMismatchError(`persistent disk ${o.name}: ${e instanceof Error ? e.message : String(e)}`));
    }
    const baseId = o.baseId ?? (o.base ? `image of ${o.base.byteLength} bytes` : "");
    let fresh = false;
    if (map) {
      const h = map.header;
      const why =
        o.size !== undefined && o.size !== h.byteLength ? `it holds ${h.byteLength} bytes, not ${o.size}` :
        o.base && o.base.byteLength !== h.byteLength ? `it holds ${h.byteLength} bytes, the base ${o.base.byteLength}` :
        o.blockSize !== undefined && o.blockSize !== h.blockSize ? `its block size is ${h.blockSize}, not ${o.blockSize}` :
        h.hasBase && !h.detached && !o.base ? `it is an overlay over "${h.baseId}", which was not given` :
        h.hasBase && !h.detached && baseId !== h.baseId ? `it is an overlay over "${h.baseId}", not "${baseId}"` :
        !h.hasBase && o.base ? "it was created empty, without a base" :
        undefined;
      if (why) {
        await channel.call({ op: "close" });
        return fail(new OpfsMismatchError(`persistent disk ${o.name} does not fit: ${why} (open it with reset to start afresh)`));
      }
    } else {
      const size = o.size ?? o.base?.byteLength;
      if (size === undefined) {
        await channel.call({ op: "close" });
        return fail(new Error(`persistent disk ${o.name}: a new disk needs a size or a base`));
      }
      map = BlockMap.create({ blockSize: o.blockSize ?? 512, byteLength: size, hasBase: !!o.base, detached: false, baseId });
      fresh = true;
    }
    const copy = o.seed === "copy" && map.header.hasBase && !map.header.detached;
    const disk = new OpfsBackend(channel, map, map.header.hasBase && !map.header.detached ? o.base : undefined, o, copy);
    if (fresh) await disk.flush(); // the map file exists from now on
    disk.recovered = await finishErase(disk, o.name);
    return disk;
  }

  /** Removes a stored disk (it must not be open). */
  static async remove(name: string, worker?: Endpoint): Promise<void> {
    const endpoint = worker ?? startDiskWorker();
    try {
      const r = await new Channel(endpoint).call({ op: "remove", name });
      if (!r.ok) throw new Error(`persistent disk ${name}: cannot remove: ${r.error}`);
    } finally {
      if (!worker) (endpoint as Worker).terminate();
    }
  }

  beginErase(op: ErasingOp, cdw10 = 0): Promise<void> {
    return beginErase(this.map, () => this.flush(), op, cdw10);
  }

  endErase(): Promise<void> {
    return endErase(this.map, () => this.flush());
  }

  sanitizeReport(): SanitizeReport | undefined {
    return sanitizeReport(this.map, this.recovered);
  }

  /** Bytes of writes queued for the worker now. */
  get queued(): number {
    return this.queuedBytes;
  }

  private check(offset: number, length: number, kind: "read" | "write" = "read"): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.byteLength) {
      throw new RangeError(`persistent disk: range ${offset}+${length} outside ${this.byteLength} bytes`);
    }
    if (offset % this.blockSize !== 0 || length % this.blockSize !== 0) {
      throw new RangeError(`persistent disk: range ${offset}+${length} is not aligned to ${this.blockSize}-byte blocks`);
    }
    if (this.closed) throw new BackendError("persistent disk: closed", kind);
  }

  private checkPoison(offset: number, length: number): void {
    if (this.poisoned.size === 0) return;
    const first = offset / this.blockSize;
    const end = first + length / this.blockSize;
    for (const b of this.poisoned) {
      if (b >= first && b < end) throw new BackendError(`persistent disk: block at ${b * this.blockSize} was lost by a failed write`, "read");
    }
  }

  tryRead(offset: number, dst: Uint8Array): boolean {
    this.check(offset, dst.length);
    this.checkPoison(offset, dst.length);
    if (this.cache.tryRead(offset, dst)) return true;
    // Without any block in the data file the answer may be at hand: zeros, or a base cache hit.
    let ok = true;
    this.map.runs(offset / this.blockSize, dst.length / this.blockSize, (src, start, n) => {
      if (!ok) return;
      const at = start * this.blockSize - offset;
      const view = dst.subarray(at, at + n * this.blockSize);
      if (src === FROM_ZERO) view.fill(0);
      else if (src === FROM_FILE || !this.base!.tryRead(start * this.blockSize, view)) ok = false;
    });
    return ok;
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    try {
      this.check(offset, length);
      this.checkPoison(offset, length);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.cache.read(offset, length);
  }

  /** The disk's bytes at [start, start+length) as of now: the worker read is posted before any later write. */
  private fetch(start: number, length: number): Promise<Uint8Array> {
    const bs = this.blockSize;
    const runs: [number, number, number][] = [];
    let fileLo = Infinity;
    let fileHi = -1;
    let baseLo = Infinity;
    let baseHi = -1;
    this.map.runs(start / bs, length / bs, (src, s, n) => {
      runs.push([src, s, n]);
      if (src === FROM_FILE) [fileLo, fileHi] = [Math.min(fileLo, s), Math.max(fileHi, s + n)];
      if (src === FROM_BASE) [baseLo, baseHi] = [Math.min(baseLo, s), Math.max(baseHi, s + n)];
    });
    const fromFile = fileHi >= 0
      ? this.channel.call({ op: "read", offset: fileLo * bs, length: (fileHi - fileLo) * bs }).then((r) => {
          const e = failure(r);
          if (e || !r.ok || !r.data) throw e ?? new BackendError("persistent disk: empty read reply", "read");
          return new Uint8Array(r.data);
        })
      : undefined;
    const fromBase = baseHi >= 0 ? this.base!.read(baseLo * bs, (baseHi - baseLo) * bs) : undefined;
    return Promise.all([fromFile, fromBase]).then(([f, b]) => {
      const out = new Uint8Array(length);
      for (const [src, s, n] of runs) {
        const at = s * bs - start;
        if (src === FROM_FILE) out.set(f!.subarray((s - fileLo) * bs, (s - fileLo + n) * bs), at);
        else if (src === FROM_BASE) out.set(b!.subarray((s - baseLo) * bs, (s - baseLo + n) * bs), at);
      }
      return out;
    });
  }

  write(offset: number, src: Uint8Array, fua: boolean): void | Promise<void> {
    this.check(offset, src.length, "write");
    const copy = src.slice(); // src views guest RAM: copy before returning
    this.cache.update(offset, copy.length, copy);
    const p = this.post(offset, copy, fua, false);
    if (fua) return p.then((e) => {
      if (e) throw e;
    });
    if (this.queuedBytes > this.maxQueuedBytes) {
      return new Promise<void>((r) => this.drained.push(r));
    }
  }

  /** Maps the blocks to the data file and queues their bytes; resolves with the failure, if any. */
  private post(offset: number, data: Uint8Array, fua: boolean, copying: boolean): Promise<BackendError | undefined> {
    const bs = this.blockSize;
    const first = offset / bs;
    const length = data.length; // `data` is detached once posted
    const count = length / bs;
    const seq = ++this.writeSeq;
    for (let b = first; b < first + count; b++) {
      this.writing.set(b, seq);
      this.poisoned.delete(b);
    }
    this.map.setFile(first, count);
    const pages = fua ? this.map.takeDirty() : [];
    const buf = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? (data.buffer as ArrayBuffer) : data.slice().buffer;
    this.queuedBytes += length;
    const reply = this.channel.call({ op: "write", offset, data: buf, fua, map: pages, seen: this.failuresSeen }, [buf, ...pages.map((p) => p.data)]);
    return reply.then((r) => {
      this.queuedBytes -= length;
      if (this.queuedBytes <= this.maxQueuedBytes / 2) this.drained.splice(0).forEach((f) => f());
      const e = failure(r);
      if (!r.ok && r.failures !== undefined) this.failuresSeen = Math.max(this.failuresSeen, r.failures);
      if (e && fua) this.map.markDirty(pages);
      for (let b = first; b < first + count; b++) {
        if (this.writing.get(b) !== seq) continue; // a later write (or zeroing) owns the block now
        this.writing.delete(b);
        if (!e) continue;
        if (copying) this.map.setBase(b, 1); // still in the base: copy it some other time
        else {
          this.poisoned.add(b);
          this.map.setZero(b, 1);
        }
      }
      if (e) {
        this.cache.update(offset, length);
        if (!fua && !copying) this.lateError ??= e;
      }
      return e;
    });
  }

  flush(): Promise<void> {
    if (this.closed) return Promise.reject(new BackendError("persistent disk: closed", "write"));
    return this.persist();
  }

  private async persist(): Promise<void> {
    const pages = this.map.takeDirty();
    const r = await this.channel.call({ op: "flush", map: pages, seen: this.failuresSeen }, pages.map((p) => p.data));
    const e = failure(r);
    if (e) {
      this.map.markDirty(pages); // persisted by the next flush, as corrected by then
      this.lateError = undefined; // this is the failure it would report
      throw e;
    }
    const late = this.lateError;
    this.lateError = undefined;
    if (late) throw late;
  }

  discard(offset: number, length: number): void {
    this.writeZeroes(offset, length);
  }

  writeZeroes(offset: number, length: number): void {
    this.check(offset, length, "write");
    const first = offset / this.blockSize;
    const count = length / this.blockSize;
    this.map.setZero(first, count);
    if (this.writing.size) for (let b = first; b < first + count; b++) this.writing.delete(b);
    if (this.poisoned.size) for (const b of [...this.poisoned]) if (b >= first && b < first + count) this.poisoned.delete(b);
    this.cache.update(offset, length, null);
  }

  /** Copies every block still read from the base into the data file, then forgets the base. */
  private async copyBase(): Promise<void> {
    const bs = this.blockSize;
    const step = Math.max(bs, Math.floor((1024 * 1024) / bs) * bs);
    const total = this.byteLength;
    const limit = this.maxQueuedBytes / 2;
    const failures: Promise<BackendError | undefined>[] = [];
    this.o.onProgress?.(0, total);
    for (let off = 0; off < total; off += step) {
      const len = Math.min(step, total - off);
      const first = off / bs;
      if (this.map.count(first, len / bs, FROM_BASE) > 0) {
        const data = await this.base!.read(off, len);
        if (this.closed) return;
        // Decided now, after the wait: blocks written or zeroed meanwhile are not copied over.
        this.map.runs(first, len / bs, (src, s, n) => {
          if (src !== FROM_BASE) return;
          const bytes = data.subarray((s - first) * bs, (s - first + n) * bs);
          if (bytes.every((x) => x === 0)) this.map.setZero(s, n);
          else failures.push(this.post(s * bs, bytes.slice(), false, true));
        });
        while (this.queuedBytes > limit) await new Promise<void>((r) => this.drained.push(r));
      }
      this.o.onProgress?.(off + len, total);
    }
    const errors = (await Promise.all(failures)).filter((e): e is BackendError => !!e);
    if (errors.length) throw errors[0];
    if (this.map.count(0, this.map.blocks, FROM_BASE) > 0) throw new BackendError("persistent disk: blocks still in the base after copying", "write");
    this.map.detach();
    await this.persist();
  }

  /** Flushes and closes the disk's files (and the worker this disk started). */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.persist();
    } finally {
      this.closed = true;
      await this.channel.call({ op: "close" });
      if (!this.o.worker) (this.channel.endpoint as Worker).terminate();
    }
  }
}
