// Any BlockBackend as one of v86's disk buffers, so the very same disk can be v86's IDE `hda`
// (or hdb, cdrom): `new V86({ hda: new V86DiskBuffer(disk), ... })`.
//
// v86 0.5.462 (src/buffer.js and its users) takes an object with get, set and load as a ready
// buffer and relies on:
//   byteLength                       size in bytes
//   load()                           then calls onload(); onprogress is optional
//   get(start, len, fn)              fn(bytes) now or later; bytes must not be kept by the caller
//   get_and_cache(start, len, fn)    the starter reads the MBR with it before booting
//   get_from_cache(start, len)       bytes or undefined, synchronously (IDE disk geometry from the MBR)
//   set(start, bytes, fn)            fire and forget: the IDE completes the write before fn runs,
//                                    and reuses `bytes` at once
//   get_buffer(fn)                   fn(ArrayBuffer) or fn() when there is no single buffer
//   get_state() / set_state(s)       saved inside v86 state files
// v86's IDE has no error path for its buffers and answers FLUSH CACHE itself, without telling the
// buffer. So: a failed read is reported to onerror and never answered (the guest's driver times
// out and retries; it never sees wrong bytes), and on a disk with a volatile write cache the
// adapter flushes on its own, flushDelayMs after the last write.
//
// The disk's contents are not part of v86 state files (get_state holds the size only): like the
// NVMe disk, the backend is the disk, and restoring a state over a disk that changed since gives
// the guest what a machine resumed over a changed disk gets.

import type { BlockBackend } from "./block-backend.ts";
import { consoleLog, type Log } from "./log.ts";

export interface V86BufferOptions {
  /** A read or write failed (default: an error line in `log`). */
  onerror?: (e: unknown, op: "read" | "write" | "flush", start: number, length: number) => void;
  /** The log the default onerror writes to (default: the console). */
  log?: Log;
  /** On a disk with a volatile write cache: flush this long after the last write (default 1000 ms; 0 = every write is FUA). */
  flushDelayMs?: number;
}

export class V86DiskBuffer {
  readonly byteLength: number;
  onload: ((e: object) => void) | undefined = undefined;
  onprogress: ((e: { loaded: number; total: number; lengthComputable: boolean }) => void) | undefined = undefined;
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  /** The last bytes handed out by get(), for get_from_cache() right after get_and_cache(). */
  private last: { start: number; bytes: Uint8Array } | undefined;

  constructor(readonly disk: BlockBackend, private readonly o: V86BufferOptions = {}) {
    this.byteLength = disk.byteLength;
  }

  private error(e: unknown, op: "read" | "write" | "flush", start: number, length: number): void {
    if (this.o.onerror) this.o.onerror(e, op, start, length);
    else (this.o.log ?? consoleLog)("error", `v86 disk buffer: ${op} ${start}+${length} failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  }

  load(): void {
    this.onprogress?.({ loaded: this.byteLength, total: this.byteLength, lengthComputable: true });
    this.onload?.(Object.create(null));
  }

  get(start: number, len: number, fn: (bytes: Uint8Array) => void, _options?: { signal?: AbortSignal }): void {
    const dst = new Uint8Array(len);
    let ok: boolean;
    try {
      ok = this.disk.tryRead(start, dst);
    } catch (e) {
      this.error(e, "read", start, len);
      return;
    }
    if (ok) {
      this.last = { start, bytes: dst };
      fn(dst);
      return;
    }
    this.disk.read(start, len).then(
      (bytes) => {
        this.last = { start, bytes };
        fn(bytes);
      },
      (e) => this.error(e, "read", start, len),
    );
  }

  get_and_cache(start: number, len: number, fn: (bytes: Uint8Array) => void, options?: { signal?: AbortSignal }): void {
    this.get(start, len, fn, options);
  }

  get_from_cache(start: number, len: number): Uint8Array | undefined {
    const l = this.last;
    if (l && start >= l.start && start + len <= l.start + l.bytes.length) return l.bytes.slice(start - l.start, start - l.start + len);
    const dst = new Uint8Array(len);
    try {
      return this.disk.tryRead(start, dst) ? dst : undefined;
    } catch {
      return undefined;
    }
  }

  set(start: number, slice: Uint8Array, fn: () => void): void {
    if (this.last && start < this.last.start + this.last.bytes.length && start + slice.length > this.last.start) this.last = undefined;
    const volatile = this.disk.volatileWriteCache;
    const fua = volatile && this.o.flushDelayMs === 0;
    let r: void | Promise<void>;
    try {
      r = this.disk.write(start, slice, fua); // copies `slice` before returning
    } catch (e) {
      this.error(e, "write", start, slice.length);
      return;
    }
    if (volatile && !fua) this.scheduleFlush();
    if (r instanceof Promise) r.then(fn, (e) => this.error(e, "write", start, slice.length));
    else fn();
  }

  private scheduleFlush(): void {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush();
    }, this.o.flushDelayMs ?? 1000);
  }

  /** Makes every write so far durable now (say, before the page goes away). */
  async flush(): Promise<void> {
    if (this.flushTimer !== undefined) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    try {
      await this.disk.flush();
    } catch (e) {
      this.error(e, "flush", 0, this.byteLength);
    }
  }

  get_buffer(fn: (buffer?: ArrayBuffer) => void): void {
    fn(); // no single buffer: use export.ts to take the disk home
  }

  get_state(): [number] {
    return [this.byteLength];
  }

  set_state(state: unknown[]): void {
    if (state[0] !== this.byteLength) {
      throw new Error(`v86 disk buffer: the saved state is of a ${state[0]}-byte disk, this one holds ${this.byteLength} bytes`);
    }
  }
}
