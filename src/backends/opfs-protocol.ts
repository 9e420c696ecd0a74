// The messages between a persistent disk (main thread) and the Worker that owns its files in the
// Origin Private File System, and the worker's side of them. The worker is a plain file server:
// it owns two FileSystemSyncAccessHandles (data and map), handles one request at a time in the
// order they were posted, and decides nothing about blocks. Buffers travel transferred, not copied
// (a write's buffer comes back with its reply when asked, so that the sender can reuse it).
//
// Ordering is the contract the main thread builds on: a read posted after a write sees it, and a
// flush (or a FUA write) answers only after the data handle was flushed and then the map pages
// sent with it were written and flushed, so the map never names blocks whose data is not durable.
// Map pages are copied when a flush is posted; if a write failed that the main thread had not yet
// heard of by then (`seen` counts the failures it had), those pages may name the failed blocks,
// so the worker flushes the data but refuses the pages and answers with that failure; the main
// thread corrects its map and sends the pages again with the next flush.

import type { MapPageWrite } from "./block-map.ts";

export type Request =
  | { op: "open"; id: number; name: string }
  | { op: "read"; id: number; offset: number; length: number; into?: ArrayBuffer }
  | { op: "write"; id: number; offset: number; data: ArrayBuffer; length?: number; fua: boolean; map: MapPageWrite[]; seen: number; giveBack?: boolean }
  | { op: "flush"; id: number; map: MapPageWrite[]; seen: number }
  | { op: "close"; id: number }
  | { op: "remove"; id: number; name: string }
  | { op: "sweep"; id: number; prefix: string };

export type ErrorKind = "read" | "write" | "capacity";

export type Reply =
  | { id: number; ok: true; data?: ArrayBuffer; map?: ArrayBuffer }
  | { id: number; ok: false; error: string; kind: ErrorKind; failures?: number };

/** The part of FileSystemSyncAccessHandle the worker uses (a fake one in tests). */
export interface SyncHandle {
  read(buffer: Uint8Array, options: { at: number }): number;
  write(buffer: Uint8Array, options: { at: number }): number;
  flush(): void | Promise<void>;
  getSize(): number | Promise<number>;
  truncate(size: number): void | Promise<void>;
  close(): void | Promise<void>;
}

/** Opens (creating if needed) and removes a disk's files. */
export interface DiskFiles {
  open(name: string): Promise<{ data: SyncHandle; map: SyncHandle }>;
  remove(name: string): Promise<void>;
  /** Removes the files whose names start with `prefix`, except those open (in any page); how many went. */
  sweep?(prefix: string): Promise<number>;
}

/** The endpoint a Worker (or a test's stand-in) offers. */
export interface Endpoint {
  postMessage(message: unknown, transfer: Transferable[]): void;
  onmessage: ((e: MessageEvent) => void) | null;
}

/** Valid names: they become file names. */
export const DISK_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** How the overlay's scratch files start (spill.ts): swept when left over, so no disk may be named so. */
export const SPILL_PREFIX = "spill-";

function kindOf(e: unknown, fallback: ErrorKind): ErrorKind {
  const name = (e as { name?: string } | null)?.name;
  return name === "QuotaExceededError" ? "capacity" : fallback;
}

/** A persist refused because of a write failure the main thread had not seen. */
class Refused extends Error {
  constructor(readonly failure: { error: string; kind: ErrorKind }) {
    super(failure.error);
  }
}

const text = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

/** The worker's side: answers requests strictly in order. */
export class DiskFileServer {
  private handles: { data: SyncHandle; map: SyncHandle } | undefined;
  private queue: Promise<void> = Promise.resolve();
  /** Writes that failed so far, and the last failure. */
  private failures = 0;
  private lastFailure: { error: string; kind: ErrorKind } | undefined;

  constructor(
    private readonly files: DiskFiles,
    private readonly reply: (r: Reply, transfer: Transferable[]) => void,
  ) {}

  /** Queues a request; its reply is posted when every earlier one was answered. */
  receive(req: Request): void {
    this.queue = this.queue.then(() => this.handle(req));
  }

  private async handle(req: Request): Promise<void> {
    const fallback: ErrorKind = req.op === "read" || req.op === "open" ? "read" : "write";
    try {
      const r = await this.run(req);
      this.reply({ id: req.id, ok: true, ...r }, [r.data, r.map].filter((x): x is ArrayBuffer => !!x));
    } catch (e) {
      const failed = e instanceof Refused ? e.failure : { error: text(e), kind: kindOf(e, fallback) };
      if (req.op === "write" && !(e instanceof Refused)) {
        this.failures++;
        this.lastFailure = failed;
      }
      this.reply({ id: req.id, ok: false, ...failed, failures: this.failures }, []);
    }
  }

  private open(): { data: SyncHandle; map: SyncHandle } {
    if (!this.handles) throw new Error("disk not open");
    return this.handles;
  }

  private async run(req: Request): Promise<{ data?: ArrayBuffer; map?: ArrayBuffer }> {
    switch (req.op) {
      case "open": {
        if (this.handles) throw new Error("this worker already serves a disk");
        if (!DISK_NAME.test(req.name)) throw new Error(`bad disk name "${req.name}"`);
        this.handles = await this.files.open(req.name);
        const size = await this.handles.map.getSize();
        const map = new Uint8Array(size);
        if (size > 0 && this.handles.map.read(map, { at: 0 }) !== size) throw new Error("short read of the disk map");
        return { map: map.buffer };
      }
      case "read": {
        // Into the buffer handed over for reuse where it is large enough (the answer is its first `length` bytes).
        const out = req.into && req.into.byteLength >= req.length ? new Uint8Array(req.into, 0, req.length) : new Uint8Array(req.length);
        const n = this.open().data.read(out, { at: req.offset });
        // Past the end of the data file (never written there) the disk reads zeros; a reused buffer holds old bytes.
        if (n < req.length) out.fill(0, Math.max(0, n));
        return { data: out.buffer };
      }
      case "write": {
        const h = this.open();
        const length = req.length ?? req.data.byteLength;
        const n = h.data.write(new Uint8Array(req.data, 0, length), { at: req.offset });
        if (n !== length) throw new Error(`short write: ${n} of ${length} bytes`);
        if (req.fua) await this.persist(req.map, req.seen);
        // Sent back to be reused: buffers left to this side's garbage collector pile up here.
        return req.giveBack ? { data: req.data } : {};
      }
      case "flush":
        await this.persist(req.map, req.seen);
        return {};
      case "close": {
        const h = this.handles;
        this.handles = undefined;
        if (h) {
          await h.data.flush();
          await h.map.flush();
          await h.data.close();
          await h.map.close();
        }
        return {};
      }
      case "sweep": {
        if (!DISK_NAME.test(req.prefix)) throw new Error(`bad prefix "${req.prefix}"`);
        await this.files.sweep?.(req.prefix);
        return {};
      }
      case "remove": {
        if (this.handles) throw new Error("close the disk before removing it");
        if (!DISK_NAME.test(req.name)) throw new Error(`bad disk name "${req.name}"`);
        await this.files.remove(req.name);
        return {};
      }
    }
  }

  /**
   * Data first, then the map pages naming it (unless they may name a failed write), in steps that
   * a crash between any two file operations (or tearing any unflushed write) leaves readable:
   * 1. when some page clears bits, every page is first written with the bits it sets added to
   *    those it had, and flushed (block-map.ts: a block moving between the data file and zeros
   *    reads as one of the two meanwhile, never as the base);
   * 2. the pages as they are (those that clear bits), flushed;
   * 3. the header page (offset 0) last: it says how the bitmaps are read (a new disk, a disk
   *    that no longer needs its base), so it must not be durable before they are.
   */
  private async persist(pages: MapPageWrite[], seen: number): Promise<void> {
    const h = this.open();
    await h.data.flush();
    if (this.failures > seen) throw new Refused(this.lastFailure!);
    const bitmaps = pages.filter((p) => p.offset !== 0).map((p) => ({ offset: p.offset, bytes: new Uint8Array(p.data) }));
    const clearing = bitmaps.map((p) => {
      const old = new Uint8Array(p.bytes.length);
      h.map.read(old, { at: p.offset }); // past the end: zeros
      let clears = false;
      for (let i = 0; i < old.length; i++) {
        if (old[i] & ~p.bytes[i]) clears = true;
        old[i] |= p.bytes[i];
      }
      return clears ? { offset: p.offset, bytes: old } : undefined;
    });
    // Pages that only set bits are written as they are in step 1, those that clear bits again in step 2.
    const merged = clearing.some((p) => p) ? clearing.map((p, i) => p ?? bitmaps[i]) : [];
    const header = pages.filter((p) => p.offset === 0).map((p) => ({ offset: 0, bytes: new Uint8Array(p.data) }));
    const steps = [merged, merged.length ? bitmaps.filter((_p, i) => clearing[i]) : bitmaps, header];
    for (const step of steps) {
      if (step.length === 0) continue;
      for (const p of step) {
        const n = h.map.write(p.bytes, { at: p.offset });
        if (n !== p.bytes.length) throw new Error(`short write of the disk map: ${n} of ${p.bytes.length} bytes`);
      }
      await h.map.flush();
    }
  }
}
