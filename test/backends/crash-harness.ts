// Crash testing of the persistent disk below the browser: the real worker-side file server runs
// over in-memory files that log every file operation (data write, data flush, map write, map
// flush) in the order the worker issued them. A crash after the n-th operation is rebuilt from
// that log for every n: what was flushed stays, and the unflushed writes are kept (a tab or
// browser crash: the OS has them), lost, or torn sector by sector (a power cut). The disk is then
// reopened over the rebuilt files and checked against a model of what it promised.

import { MemoryBackend } from "../../src/backends/memory.ts";
import { FROM_FILE } from "../../src/backends/block-map.ts";
import type { OpfsBackend } from "../../src/backends/opfs.ts";
import { mulberry32 as rng } from "../../src/rng.ts";
import { DiskFileServer, type DiskFiles, type Endpoint, type Reply, type Request, type SyncHandle } from "../../src/backends/opfs-protocol.ts";

export type FileOp = { file: string; kind: "write"; at: number; bytes: Uint8Array } | { file: string; kind: "flush" };
export type Images = Map<string, Uint8Array>;

class MemFile {
  bytes: Uint8Array;
  size: number;
  constructor(init: Uint8Array = new Uint8Array(0)) {
    this.bytes = init.slice();
    this.size = init.length;
  }
  read(dst: Uint8Array, at: number): number {
    const n = Math.max(0, Math.min(dst.length, this.size - at));
    dst.fill(0);
    dst.set(this.bytes.subarray(at, at + n));
    return n;
  }
  write(src: Uint8Array, at: number): void {
    const end = at + src.length;
    if (end > this.bytes.length) {
      const grown = new Uint8Array(Math.max(end, this.bytes.length * 2));
      grown.set(this.bytes.subarray(0, this.size));
      this.bytes = grown;
    }
    if (at > this.size) this.bytes.fill(0, this.size, at);
    this.bytes.set(src, at);
    this.size = Math.max(this.size, end);
  }
  image(): Uint8Array {
    return this.bytes.slice(0, this.size);
  }
}

/** A disk's files in memory; every write and flush is appended to `log`. */
export class RecordingFiles implements DiskFiles {
  readonly log: FileOp[] = [];
  private readonly files = new Map<string, MemFile>();

  constructor(images: Images = new Map()) {
    for (const [name, bytes] of images) this.files.set(name, new MemFile(bytes));
  }

  private handle(name: string): SyncHandle {
    let f = this.files.get(name);
    if (!f) this.files.set(name, (f = new MemFile()));
    const file = f;
    return {
      read: (buf, { at }) => file.read(buf, at),
      write: (buf, { at }) => {
        this.log.push({ file: name, kind: "write", at, bytes: buf.slice() });
        file.write(buf, at);
        return buf.length;
      },
      flush: () => {
        this.log.push({ file: name, kind: "flush" });
      },
      getSize: () => file.size,
      truncate: (n) => {
        file.size = n;
      },
      close: () => {},
    };
  }

  async open(name: string) {
    return { data: this.handle(`${name}.data`), map: this.handle(`${name}.map`) };
  }

  async remove(name: string) {
    this.files.delete(`${name}.data`);
    this.files.delete(`${name}.map`);
  }

  /** The files as they are now (as if everything were flushed). */
  images(): Images {
    return new Map([...this.files].map(([n, f]) => [n, f.image()]));
  }
}

/** What happens to the writes not yet flushed when the crash comes. */
export type CrashMode = { kind: "kept" } | { kind: "lost" } | { kind: "torn"; sector: number; seed: number };

export const modeName = (m: CrashMode) => (m.kind === "torn" ? `torn/${m.sector}/${m.seed}` : m.kind);

/** The files after a crash that came when the first `n` operations of `log` had happened. */
export function crashImages(initial: Images, log: readonly FileOp[], n: number, mode: CrashMode): Images {
  const durable = new Map<string, MemFile>([...initial].map(([k, v]) => [k, new MemFile(v)]));
  const pending = new Map<string, FileOp[]>();
  const file = (name: string) => durable.get(name) ?? durable.set(name, new MemFile()).get(name)!;
  for (const op of log.slice(0, n)) {
    const list = pending.get(op.file) ?? pending.set(op.file, []).get(op.file)!;
    if (op.kind === "write") list.push(op);
    else {
      for (const w of list.splice(0)) if (w.kind === "write") file(op.file).write(w.bytes, w.at);
    }
  }
  const random = mode.kind === "torn" ? rng(mode.seed) : undefined;
  for (const [name, list] of pending) {
    for (const w of list) {
      if (w.kind !== "write" || mode.kind === "lost") continue;
      if (!random || mode.kind !== "torn") {
        file(name).write(w.bytes, w.at);
        continue;
      }
      for (let s = 0; s < w.bytes.length; s += mode.sector) {
        if (random() < 0.5) file(name).write(w.bytes.subarray(s, s + mode.sector), w.at + s);
      }
    }
  }
  return new Map([...durable].map(([k, f]) => [k, f.image()]));
}

/**
 * A worker over `files` reached through an Endpoint, like the real one: messages delivered
 * asynchronously, buffers transferred. `posted` sees each request as it is posted; `answered`
 * maps the id of each request answered with success to how many file operations had happened.
 */
export function recordingWorker(files: RecordingFiles, posted: (req: Request) => void = () => {}) {
  const answered = new Map<number, number>();
  let dead = false;
  const endpoint: Endpoint = {
    onmessage: null,
    postMessage(m: unknown, transfer: Transferable[]) {
      if (dead) return;
      posted(m as Request);
      const copy = structuredClone(m, { transfer }) as Request;
      setTimeout(() => server.receive(copy), 0);
    },
  };
  const server = new DiskFileServer(files, (r: Reply, transfer) => {
    if (r.ok) answered.set(r.id, files.log.length);
    const copy = structuredClone(r, { transfer });
    setTimeout(() => {
      if (!dead) endpoint.onmessage?.({ data: copy } as MessageEvent);
    }, 0);
  });
  return { endpoint, answered, kill: () => (dead = true) };
}

// Block contents: every 32-bit word of a block holds the same tag, so a block reads back as one
// version or shows that it was torn. Versions: a write's number (≥ 1), or one of these.
export const ZERO = -1;
export const BASE = -2;
const GARBAGE = -3;
const TORN = -4;
const versionName = (v: number) => (v === ZERO ? "zeros" : v === BASE ? "the base" : v === GARBAGE ? "garbage" : v === TORN ? "a torn mix" : `write #${v}`);

const tag = (version: number, block: number) => (version === BASE ? 0xba5e0000 + block : version * 65536 + block + 1) >>> 0;

/** The bytes of `count` blocks from `first`, as written by write #version (or the base). */
export function blockBytes(version: number, first: number, count: number, blockSize: number): Uint8Array {
  const words = new Uint32Array((count * blockSize) / 4);
  const per = blockSize / 4;
  for (let i = 0; i < count; i++) words.fill(tag(version, first + i), i * per, (i + 1) * per);
  return new Uint8Array(words.buffer);
}

function decode(bytes: Uint8Array, block: number): number {
  const w = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  if (!w.every((x) => x === w[0])) return TORN;
  if (w[0] === 0) return ZERO;
  if (w[0] === tag(BASE, block)) return BASE;
  const v = w[0] >>> 16;
  return (w[0] & 0xffff) === block + 1 && v > 0 ? v : GARBAGE;
}

/** A base image of `blocks` blocks in the base's pattern. */
export function baseImage(blocks: number, blockSize: number): MemoryBackend {
  return MemoryBackend.fromBuffer(blockBytes(BASE, 0, blocks, blockSize));
}

/** What each block of the disk should hold: its versions in order, and their state at each flush or FUA write. */
export class DiskModel {
  private readonly current: number[];
  private readonly history: number[][];
  private readonly snaps = new Map<number, { current: number[]; lengths: number[] }>();
  private seq = 0;

  /** `initial`: each block's version when the workload starts. */
  constructor(private readonly initial: readonly number[]) {
    this.current = initial.slice();
    this.history = initial.map(() => []);
  }

  /** Each block's latest version. */
  state(): number[] {
    return this.current.slice();
  }

  /** A new write number. */
  next(): number {
    return ++this.seq;
  }

  set(first: number, count: number, version: number): void {
    for (let b = first; b < first + count; b++) {
      this.current[b] = version;
      this.history[b].push(version);
    }
  }

  /** Call as each request is posted: a flush or FUA write promises the state as of now. */
  posted(req: Request): void {
    if (req.op === "flush" || (req.op === "write" && req.fua)) {
      this.snaps.set(req.id, { current: this.current.slice(), lengths: this.history.map((h) => h.length) });
    }
  }

  /** The versions each block may read after a crash once `done` file operations happened. */
  allowed(answered: ReadonlyMap<number, number>, done: number): Set<number>[] {
    let promise: { current: number[]; lengths: number[] } | undefined;
    let last = -1;
    for (const [id, s] of this.snaps) {
      const at = answered.get(id);
      if (at !== undefined && at <= done && id > last) [promise, last] = [s, id];
    }
    return this.history.map((h, b) => (promise ? new Set([promise.current[b], ...h.slice(promise.lengths[b])]) : new Set([this.initial[b], ...h])));
  }
}

/** The promises broken by a disk reopened after a crash (empty when it kept them all). */
export async function brokenPromises(disk: OpfsBackend, allowed: Set<number>[]): Promise<string[]> {
  const bs = disk.blockSize;
  const all = await disk.read(0, disk.byteLength);
  const out: string[] = [];
  for (let b = 0; b < allowed.length; b++) {
    const v = decode(all.subarray(b * bs, (b + 1) * bs), b);
    if (!allowed[b].has(v)) out.push(`block ${b} reads ${versionName(v)}, expected one of ${[...allowed[b]].map(versionName).join(", ")}`);
    else if (disk.map.source(b) === FROM_FILE && (v === ZERO || v === GARBAGE)) out.push(`the map names block ${b}, whose data is not there (${versionName(v)})`);
  }
  return out;
}

export interface WorkloadOptions {
  blocks: number;
  blockSize: number;
  steps: number;
  seed: number;
}

/**
 * A guest-like mix over `disk`: plain and FUA writes, zeroing, discards and flushes, several in
 * flight at a time (each posted in call order, as the controller does), the model updated first.
 */
export async function workload(disk: OpfsBackend, model: DiskModel, o: WorkloadOptions): Promise<void> {
  const random = rng(o.seed);
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < o.steps; i++) {
    const r = random();
    const first = Math.floor(random() * o.blocks);
    const count = Math.min(o.blocks - first, 1 + Math.floor(random() * 4));
    if (r < 0.6) {
      const v = model.next();
      const fua = r < 0.1;
      model.set(first, count, v);
      const p = disk.write(first * o.blockSize, blockBytes(v, first, count, o.blockSize), fua);
      if (p) inFlight.push(p);
    } else if (r < 0.72) {
      model.set(first, count, ZERO);
      if (r < 0.66) disk.writeZeroes(first * o.blockSize, count * o.blockSize);
      else disk.discard(first * o.blockSize, count * o.blockSize);
    } else if (r < 0.88) {
      inFlight.push(disk.flush());
    } else {
      await Promise.all(inFlight.splice(0));
    }
  }
  await Promise.all(inFlight);
}

/**
 * How a whole-disk erase (Format NVM, Sanitize) stands on a disk reopened after a crash: "erased",
 * "untouched" (reads as `before`), or a description of the half of each that must never be.
 */
export async function eraseOutcome(disk: OpfsBackend, before: Uint8Array): Promise<string> {
  const words = (b: Uint8Array) => new Uint32Array(b.buffer, b.byteOffset, b.length / 4);
  const now = words(await disk.read(0, disk.byteLength));
  const was = words(before);
  const per = disk.blockSize / 4;
  let zeroed = 0;
  let kept = 0;
  for (let w = 0; w < now.length; w += per) {
    let isZero = true;
    let same = true;
    let wasZero = true;
    for (let i = w; i < w + per; i++) {
      if (now[i] !== 0) isZero = false;
      if (now[i] !== was[i]) same = false;
      if (was[i] !== 0) wasZero = false;
    }
    if (isZero) zeroed += wasZero ? 0 : 1;
    else if (same) kept++;
    else return `block ${w / per} reads neither its data nor zeros`;
  }
  if (kept === 0) return "erased";
  if (zeroed === 0) return "untouched";
  return `half erased: ${zeroed} blocks zeroed, ${kept} kept`;
}
