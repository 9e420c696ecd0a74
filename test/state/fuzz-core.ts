// Damaged state files through the real resume path: decodeStateFile() and then bootGuest({ state })
// in a real v86 under Node. Shared by `npm run fuzz:state` (bench/fuzz-state.ts) and the slice in
// `npm test` (test/state/fuzz-slice.test.ts).
//
// The base state is a real one of the project's guest, taken early in its boot (SeaBIOS has
// enabled the NVMe controller and is loading syslinux), with 32 MiB of RAM and 256 KiB of VGA
// memory: the same kinds of sections, entries and controller state as a state at the prompt, but
// small enough that ten thousand damaged copies are checksummed, decoded and resumed in minutes.
//
// Every input gets one kind of damage:
//   a. the zstd-compressed file: bit flips, truncation, insertions, deletions, a rewritten frame header
//   b. the decompressed container, CRC recomputed so the damage reaches the deeper checks:
//      the fixed header's fields, the JSON header (wrong values, types, huge numbers, raw text),
//      v86's section (its header, its info block's buffer_infos and state tree, its buffers),
//      the controller's entry at state[256], the overlay's arrays and geometry
//   c. identity: another image, disk size, memory, controller configuration, IDE, v86 version
// Outcomes: refused (a StateFileError: which check), resumed (ran for a moment, then stopped), or
// a failure: another exception, an uncaught one, a hang, an emulator or timer left behind.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { V86, type V86Options } from "v86";
import { bootGuest } from "../../src/guest/machine.ts";
import type { Guest, GuestConfig } from "../../src/guest/types.ts";
import { decodeStateFile, encodeStateFile, StateFileError } from "../../src/v86/state-file.ts";
import { v86Zstd, type ZstdDecompress } from "../../src/v86/zstd.ts";
import { imageIdentity } from "../../src/v86/identity.ts";
import { compressState } from "../../src/node/zstd.ts";
import { BIOS, DISK_IMAGE, loadDisk, VGA_BIOS } from "../project-guest/image.ts";
import { build, FIXED, recrc, split } from "./helpers.ts";

export { DISK_IMAGE };

const require = createRequire(import.meta.url);

/** Everything loaded once: v86's compiled wasm, firmware, the image and its identity. */
export interface FuzzEnv {
  config: GuestConfig;
  /** v86's own zstd decoder, as bootGuest() under Node decodes states. */
  zstd: ZstdDecompress | undefined;
  /** Emulators created and not yet destroyed. */
  live: Set<object>;
  created: { n: number };
}

// 64 MiB: at 32 the default image's boot trips v86 ("#GP handler unimplemented") a few seconds in.
export const FUZZ_MEMORY = 64 << 20;
const VGA_MEMORY = 256 << 10;

export async function loadEnv(): Promise<FuzzEnv> {
  // From the start: a v86 trap in a guest's tick (also the base's) is recorded, not fatal.
  watch();
  const wasm = await WebAssembly.compile(readFileSync(require.resolve("v86/build/v86.wasm")));
  const image = loadDisk();
  const live = new Set<object>();
  const created = { n: 0 };
  // Counts emulators: every one bootGuest creates must be destroyed when a resume fails.
  class CountingV86 extends V86 {
    constructor(o: V86Options) {
      super(o);
      live.add(this);
      created.n++;
    }
    override async destroy(): Promise<void> {
      live.delete(this);
      return super.destroy();
    }
  }
  const config: GuestConfig = {
    V86: CountingV86 as unknown as typeof V86,
    v86Wasm: wasm,
    bios: readFileSync(BIOS),
    vgaBios: readFileSync(VGA_BIOS),
    image,
    imageId: imageIdentity(image),
    memory: FUZZ_MEMORY,
    v86Version: (require("v86/package.json") as { version: string }).version,
    nvme: { serial: "FUZZSTATE1" },
    v86Options: { vga_memory_size: VGA_MEMORY } as Partial<V86Options>,
    log: () => {},
  };
  return { config, zstd: v86Zstd(wasm), live, created };
}

/**
 * The base state: the guest a few seconds into its boot, NVMe enabled by SeaBIOS (container,
 * uncompressed), checked to resume. A state taken while SeaBIOS sizes the BARs does not (a BAR
 * holds the probe's all-ones, which v86's PCI set_state takes for an I/O BAR; resume refuses it):
 * then the guest boots on and a later state is taken.
 */
export async function makeBase(env: FuzzEnv, bootMs = 4000): Promise<Uint8Array> {
  const t0 = performance.now();
  const guest = await bootGuest(env.config, { readyWhen: () => performance.now() - t0 > bootMs, timeoutMs: 120_000 });
  try {
    for (let attempt = 0; ; attempt++) {
      const snap = await guest.snapshot();
      const container = encodeStateFile(snap, { v86Version: env.config.v86Version ?? "", prompt: "guest# " });
      const check = await bootGuest(env.config, { state: container }).then(
        async (g) => {
          await g.stop();
          return undefined;
        },
        (e: unknown) => e,
      );
      if (check === undefined) return container;
      if (attempt >= 5) throw new Error(`fuzz-state: no base state resumes (${String(check)})`);
      await settle(1500);
    }
  } finally {
    await guest.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Random numbers and evil values

export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  next(): number {
    // xorshift32
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s / 2 ** 32;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

function evil(r: Rng, like?: unknown): unknown {
  const n = typeof like === "number" ? like : 0;
  return r.pick<() => unknown>([
    () => -1,
    () => 0,
    () => 1,
    () => n + 1,
    () => n - 1,
    () => n * 2 + 1,
    () => -n,
    () => 0.5,
    () => n + 0.5,
    () => 2 ** 31,
    () => 2 ** 32,
    () => -(2 ** 31),
    () => 2 ** 53,
    () => 1e308,
    () => -1e308,
    () => null,
    () => true,
    () => false,
    () => "x",
    () => "",
    () => String(n),
    () => [],
    () => [1, 2, 3],
    () => ({}),
    () => ({ __state_type__: "Uint8Array", buffer_id: 0 }),
    () => "A".repeat(1 << 16),
  ])();
}

// ---------------------------------------------------------------------------------------------
// The base state taken apart

interface V86Parts {
  info: { state: unknown[]; buffer_infos: { offset: number; length: number }[] };
  buffers: Uint8Array;
}

export interface Base {
  container: Uint8Array;
  zst: Uint8Array;
  header: ReturnType<typeof split>["header"];
  sections: Uint8Array[];
  v86: V86Parts;
}

function v86Parts(m: Uint8Array): V86Parts {
  const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
  const infoLen = dv.getInt32(12, true);
  const info = JSON.parse(new TextDecoder().decode(m.subarray(16, 16 + infoLen)));
  return { info, buffers: m.slice((16 + infoLen + 3) & ~3) };
}

/** v86's section from an info object (any JSON) and the buffers block; header fields as given or right. */
function v86Join(info: unknown, buffers: Uint8Array, over: Partial<Record<0 | 1 | 2 | 3, number>> = {}): Uint8Array {
  const text = new TextEncoder().encode(typeof info === "string" ? info : JSON.stringify(info));
  const base = (16 + text.byteLength + 3) & ~3;
  const out = new Uint8Array(base + buffers.byteLength);
  const h = new Int32Array(out.buffer, 0, 4);
  h[0] = over[0] ?? 0x86768676 | 0;
  h[1] = over[1] ?? 6;
  h[2] = over[2] ?? out.byteLength;
  h[3] = over[3] ?? text.byteLength;
  out.set(text, 16);
  out.set(buffers, base);
  return out;
}

export async function takeApart(container: Uint8Array): Promise<Base> {
  const { header, sections } = split(container);
  return { container, zst: await compressState(container, 3), header, sections, v86: v86Parts(sections[0]) };
}

const clone = <T>(v: T): T => structuredClone(v);

/** Every path (array of keys) in a JSON value, with the value there. */
function paths(v: unknown, at: (string | number)[] = [], out: { path: (string | number)[]; value: unknown }[] = [], depth = 0): typeof out {
  out.push({ path: at, value: v });
  if (depth > 40) return out;
  if (Array.isArray(v)) v.forEach((x, i) => x !== null && x !== undefined && paths(x, [...at, i], out, depth + 1));
  else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out, depth + 1);
  return out;
}

function setAt(root: unknown, path: (string | number)[], value: unknown, remove = false): void {
  let o = root as Record<string | number, unknown>;
  for (let i = 0; i < path.length - 1; i++) o = o[path[i]] as Record<string | number, unknown>;
  const k = path[path.length - 1];
  if (remove) {
    if (Array.isArray(o)) o.splice(k as number, 1);
    else delete o[k];
  } else o[k] = value;
}

/** One change somewhere in a JSON tree (not at its root). */
function mutateTree(r: Rng, root: unknown, filter?: (p: (string | number)[]) => boolean): string {
  const all = paths(root).filter((p) => p.path.length > 0 && (!filter || filter(p.path)));
  if (all.length === 0) return "nothing to change";
  const { path, value } = r.pick(all);
  const where = path.join(".");
  const what = r.int(10);
  if (what === 0) {
    setAt(root, path, undefined, true);
    return `removed ${where}`;
  }
  if (what === 1 && Array.isArray(value)) {
    if (value.length > 0 && r.chance(0.5)) value.length = r.int(value.length);
    else value.push(evil(r));
    return `resized ${where}`;
  }
  if (what === 2 && value && typeof value === "object" && "__state_type__" in value) {
    const v = value as { __state_type__: string; buffer_id: number };
    if (r.chance(0.5)) v.__state_type__ = r.pick(["Uint8Array", "Int32Array", "Uint16Array", "Float64Array", "Uint32Array", "Map", "Foo", "constructor", "__proto__"]);
    else v.buffer_id = evil(r, v.buffer_id) as number;
    return `typed array ref ${where}`;
  }
  setAt(root, path, evil(r, value));
  return `value ${where}`;
}

// ---------------------------------------------------------------------------------------------
// Damage

export const KINDS = [
  "zstd bytes",
  "fixed header",
  "json values",
  "json text",
  "section table",
  "v86 header",
  "v86 buffer_infos",
  "v86 state tree",
  "v86 buffers",
  "controller entry",
  "overlay arrays",
  "identity",
] as const;
export type Kind = (typeof KINDS)[number];

export interface Damaged {
  kind: Kind;
  what: string;
  bytes: Uint8Array;
}

function withMachine(b: Base, m: Uint8Array, header = b.header): Uint8Array {
  return build(header, [m, ...b.sections.slice(1)]);
}

export function damage(b: Base, r: Rng, kind: Kind): Damaged {
  const d = (what: string, bytes: Uint8Array): Damaged => ({ kind, what, bytes });
  switch (kind) {
    case "zstd bytes": {
      const z = b.zst;
      const op = r.int(6);
      if (op === 0) {
        const n = r.chance(0.3) ? r.int(40) : r.int(z.byteLength);
        return d(`truncated at ${n}`, z.slice(0, n));
      }
      if (op === 1 || op === 2) {
        const out = z.slice();
        const k = 1 + r.int(8);
        for (let i = 0; i < k; i++) {
          const at = op === 1 ? r.int(Math.min(64, out.byteLength)) : r.int(out.byteLength);
          out[at] ^= 1 << r.int(8);
        }
        return d(`${k} bit flips${op === 1 ? " in the first 64 bytes" : ""}`, out);
      }
      if (op === 3) {
        const at = r.int(z.byteLength);
        const ins = new Uint8Array(1 + r.int(16)).map(() => r.int(256));
        const out = new Uint8Array(z.byteLength + ins.byteLength);
        out.set(z.subarray(0, at));
        out.set(ins, at);
        out.set(z.subarray(at), at + ins.byteLength);
        return d(`${ins.byteLength} bytes inserted at ${at}`, out);
      }
      if (op === 4) {
        const at = r.int(z.byteLength);
        const n = 1 + r.int(64);
        const out = new Uint8Array(z.byteLength - Math.min(n, z.byteLength - at));
        out.set(z.subarray(0, at));
        out.set(z.subarray(at + n), at);
        return d(`${n} bytes deleted at ${at}`, out);
      }
      const out = z.slice();
      const at = 4 + r.int(10);
      out[at] = r.int(256);
      return d(`frame header byte ${at} rewritten`, out);
    }
    case "fixed header": {
      const c = b.container.slice();
      const dv = new DataView(c.buffer);
      const field = r.pick([0, 8, 12, 16, 20]);
      if (field === 0) c[r.int(8)] ^= 1 << r.int(8);
      else dv.setUint32(field, r.chance(0.5) ? r.int(2 ** 32) >>> 0 : (dv.getUint32(field, true) + r.pick([-8, -1, 1, 8, 2 ** 31])) >>> 0, true);
      return d(`field at ${field}`, c);
    }
    case "json values": {
      const h = clone(b.header) as Record<string, unknown>;
      const what = mutateTree(r, h, (p) => p[0] !== "sections");
      return d(what, build(h, b.sections));
    }
    case "json text": {
      const text = new TextEncoder().encode(JSON.stringify(b.header));
      const op = r.int(3);
      let t: Uint8Array;
      if (op === 0) t = text.slice(0, r.int(text.byteLength));
      else {
        t = text.slice();
        for (let i = 1 + r.int(4); i > 0; i--) t[r.int(t.byteLength)] = op === 1 ? r.int(256) : r.pick([0x22, 0x2c, 0x7b, 0x7d, 0x5b, 0x5d, 0x3a, 0x30, 0x2d, 0x65]);
      }
      // The same bytes in the JSON header's place; the section table (inside it) as it was.
      const c = b.container.slice();
      const dv = new DataView(c.buffer);
      const jsonLen = dv.getUint32(12, true);
      if (t.byteLength > jsonLen) t = t.subarray(0, jsonLen);
      c.fill(0x20, FIXED, FIXED + jsonLen);
      c.set(t, FIXED);
      if (r.chance(0.3)) dv.setUint32(12, t.byteLength, true);
      return d(["truncated", "random bytes", "syntax bytes"][op], recrc(c));
    }
    case "section table": {
      const h = clone(b.header);
      const i = r.int(h.sections.length);
      const s = h.sections[i] as unknown as Record<string, unknown>;
      const key = r.pick(["offset", "length", "name"]);
      s[key] = key === "name" ? r.pick(["machine", "zeros", "x", 1]) : r.chance(0.6) ? (s[key] as number) + r.pick([-8, -4, -1, 1, 4, 8, 4096]) : evil(r, s[key]);
      if (r.chance(0.1)) h.sections = r.chance(0.5) ? h.sections.slice(1) : [...h.sections].reverse();
      return d(`section ${i} ${key}`, build(h, b.sections, { keepOffsets: true }));
    }
    case "v86 header": {
      const m = b.sections[0].slice();
      const dv = new DataView(m.buffer);
      const f = r.int(4);
      const old = dv.getInt32(f * 4, true);
      dv.setInt32(f * 4, r.chance(0.5) ? r.int(2 ** 32) | 0 : old + r.pick([-16, -4, -1, 1, 4, 16, 2 ** 30]), true);
      return d(`v86 header field ${f}`, withMachine(b, m));
    }
    case "v86 buffer_infos": {
      const info = clone(b.v86.info);
      const bi = info.buffer_infos;
      const op = r.int(4);
      if (op === 0) bi.splice(r.int(bi.length), 1);
      else if (op === 1) bi.push({ offset: r.int(1 << 20), length: r.int(1 << 20) });
      else {
        const e = bi[r.int(bi.length)] as unknown as Record<string, unknown>;
        const k = r.pick(["offset", "length"]);
        e[k] = r.chance(0.6) ? (e[k] as number) + r.pick([-4096, -4, -1, 1, 4, 4096]) : evil(r, e[k]);
      }
      return d(`buffer_infos ${["entry removed", "entry added", "entry changed", "entry changed"][op]}`, withMachine(b, v86Join(info, b.v86.buffers)));
    }
    case "v86 state tree": {
      const info = clone(b.v86.info);
      const what = r.chance(0.15)
        ? (() => {
            // a raw damage of the info block's text, still a valid v86 header around it
            const text = new TextEncoder().encode(JSON.stringify(info));
            text[r.int(text.byteLength)] = r.pick([0x22, 0x2c, 0x7b, 0x7d, 0x5b, 0x5d, 0x31, 0x2d]);
            return { what: "info text byte", m: v86Join(new TextDecoder().decode(text), b.v86.buffers) };
          })()
        : { what: mutateTree(r, info.state, (p) => p[0] !== 256), m: undefined };
      return d(what.what, withMachine(b, what.m ?? v86Join(info, b.v86.buffers)));
    }
    case "v86 buffers": {
      const buf = b.v86.buffers.slice();
      const bi = b.v86.info.buffer_infos;
      const e = bi[r.int(bi.length)];
      for (let i = 1 + r.int(16); i > 0; i--) if (e.length > 0) buf[e.offset + r.int(e.length)] = r.int(256);
      return d(`bytes of buffer ${bi.indexOf(e)}`, withMachine(b, v86Join(b.v86.info, buf)));
    }
    case "controller entry": {
      const info = clone(b.v86.info);
      const entry = info.state[256];
      const what = mutateTree(r, { e: entry }, (p) => p.length > 1 || r.chance(0.05));
      return d(`state[256] ${what}`, withMachine(b, v86Join(info, b.v86.buffers)));
    }
    case "overlay arrays": {
      const h = clone(b.header) as typeof b.header & { overlay: Record<string, unknown> };
      const secs = b.sections.slice();
      const op = r.int(6);
      const f64 = (a: number[]): Uint8Array => new Uint8Array(new Float64Array(a).buffer);
      const u32 = (a: number[]): Uint8Array => new Uint8Array(new Uint32Array(a).buffer);
      const pageIndex = Array.from(new Float64Array(secs[1].slice().buffer));
      if (op === 0) {
        const n = Math.max(2, pageIndex.length);
        const bad = Array.from({ length: n }, () => r.pick([r.int(1e6), -1, 2 ** 53, 1e300, 0.5, NaN, Infinity, 7]));
        secs[1] = f64(bad);
        secs[2] = u32(bad.map(() => r.int(2 ** 32)));
        secs[3] = new Uint8Array(n * (h.overlay.blockSize as number) * 32);
        return d("page numbers", build(h, secs));
      }
      if (op === 1) {
        secs[2] = u32([...Array.from(new Uint32Array(secs[2].slice().buffer)), 1]);
        return d("mask longer than index", build(h, secs));
      }
      if (op === 2) {
        secs[3] = secs[3].slice(0, Math.max(0, secs[3].byteLength - 512 * (1 + r.int(4))));
        return d("page data shorter", build(h, secs));
      }
      if (op === 3) {
        secs[4] = f64(r.pick([[5], [4096, 0], [0, 2 ** 60], [-512, 0], [0.5, 1], [NaN, NaN]]));
        return d("zeros ranges", build(h, secs));
      }
      if (op === 4) {
        h.overlay[r.pick(["byteLength", "blockSize"])] = r.pick([0, 1, 4096, 512 * 3, 2 ** 40, (h.overlay.byteLength as number) + 512]);
        return d("overlay geometry", build(h, secs));
      }
      secs[r.pick([1, 2, 4])] = new Uint8Array(3 + 8 * r.int(3));
      return d("partial element", build(h, secs));
    }
    case "identity": {
      const h = clone(b.header) as typeof b.header & { identity: Record<string, unknown> };
      const field = r.pick(["imageId", "imageBytes", "memory", "nvme", "ide", "v86Version"]);
      const id = h.identity;
      if (field === "imageId") id.imageId = "0000000000000000";
      else if (field === "imageBytes") id.imageBytes = (id.imageBytes as number) + 512;
      else if (field === "memory") id.memory = r.pick([64, 128, 256]) << 20;
      else if (field === "nvme") id.nvme = r.pick(['{"serial":"OTHER"}', "{}", '{"mdts":3,"serial":"FUZZSTATE1"}']);
      else if (field === "ide") id.ide = !id.ide;
      else (h as Record<string, unknown>).v86Version = "0.5.100";
      return d(`another ${field}`, build(h, b.sections));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Running one input

export type Outcome =
  | { type: "refused"; stage: "decode" | "boot"; check: string; ms: number }
  | { type: "resumed"; ms: number }
  /** Resumed, then v86 trapped (a Rust panic) running it: values no check can judge (guest RAM, registers). */
  | { type: "panicked"; what: string; stopHung: boolean; ms: number }
  | { type: "failure"; what: string; ms: number };

/** A refusal's message with numbers and quoted bits taken out: which check refused it. */
export function checkOf(message: string): string {
  return message
    .replace(/^bootGuest: /, "")
    .replace("the state could not be restored: the state file's machine section (v86's save_state) does not fit this v86:", "v86's state does not fit this v86:")
    .replace("the state file's machine section (v86's save_state) is malformed:", "v86's section is malformed:")
    .replace(/\(this guest[^)]*\)/g, "")
    .replace(/"[^"]*"/g, '"…"')
    .replace(/id [0-9a-f]{16}/g, "id …")
    .replace(/\b\d[\d.e+]*\b/g, "N")
    .slice(0, 110);
}

const uncaught: unknown[] = [];
let watching = false;

function watch(): void {
  if (watching) return;
  watching = true;
  process.on("uncaughtException", (e) => uncaught.push(e));
  process.on("unhandledRejection", (e) => uncaught.push(e));
}

function timers(): number {
  return process.getActiveResourcesInfo().filter((t) => t === "Timeout" || t === "Immediate").length;
}

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | "timeout"> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<"timeout">((res) => (t = setTimeout(() => res("timeout"), ms)))]);
  } finally {
    clearTimeout(t);
  }
}

export interface RunOptions {
  /** How long a resumed guest runs before it is stopped (ms of wall time). */
  runMs?: number;
  /** Limit for one whole input (decode + boot), beyond which it counts as a hang. */
  hangMs?: number;
}

/** One damaged input through decodeStateFile() and bootGuest({ state }). */
export async function runOne(env: FuzzEnv, bytes: Uint8Array, o: RunOptions = {}): Promise<Outcome> {
  watch();
  const before = uncaught.length;
  const t0 = performance.now();
  const ms = (): number => performance.now() - t0;
  let decoded: ReturnType<typeof decodeStateFile>;
  try {
    decoded = decodeStateFile(bytes, { zstd: env.zstd });
  } catch (e) {
    if (e instanceof StateFileError) return { type: "refused", stage: "decode", check: checkOf(e.message), ms: ms() };
    return { type: "failure", what: `decode threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, ms: ms() };
  }
  const liveBefore = env.live.size;
  let guest: Guest | undefined;
  let outcome: Outcome;
  try {
    const r = await withTimeout(bootGuest(env.config, { state: decoded, timeoutMs: o.hangMs ?? 20_000 }), o.hangMs ?? 20_000);
    if (r === "timeout") return { type: "failure", what: "hang: bootGuest did not settle", ms: ms() };
    guest = r;
    // Let it run: a state v86 took but cannot run (a trap, a panic) shows here.
    await settle(o.runMs ?? 150);
    outcome = { type: "resumed", ms: ms() };
  } catch (e) {
    outcome =
      e instanceof StateFileError
        ? { type: "refused", stage: "boot", check: checkOf(e.message), ms: ms() }
        : { type: "failure", what: `bootGuest threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, ms: ms() };
  }
  const trapped = uncaught.length > before;
  let stopHung = false;
  if (guest) {
    // After a trap v86's tick loop is gone: its stop() waits for an "emulator-stopped" that never comes.
    if ((await withTimeout(guest.stop(), 3000)) === "timeout") {
      stopHung = true;
      // destroy() awaits the same stop(): the emulator is dead anyway (no tick, no timer left).
      await withTimeout(guest.emulator.destroy(), 1000);
      env.live.delete(guest.emulator);
    }
  }
  await settle(5);
  if (uncaught.length > before) {
    const e = uncaught[before];
    const what = `${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
    if (trapped && outcome.type === "resumed") return { type: "panicked", what, stopHung, ms: ms() };
    return { type: "failure", what: `uncaught ${what} (after ${outcome.type})`, ms: ms() };
  }
  if (stopHung) return { type: "failure", what: `guest.stop() hung (after ${outcome.type})`, ms: ms() };
  if (env.live.size > liveBefore) return { type: "failure", what: `an emulator was left running (after ${outcome.type})`, ms: ms() };
  return outcome;
}

// ---------------------------------------------------------------------------------------------
// A run

export interface FuzzReport {
  iterations: number;
  seconds: number;
  byKind: Map<Kind, Map<string, number>>;
  refusedBy: Map<string, number>;
  resumed: number;
  panicked: { i: number; kind: Kind; what: string; trap: string; stopHung: boolean }[];
  failures: { i: number; kind: Kind; what: string; failure: string }[];
  decodeMs: number[];
  bootRefusalMs: number[];
  resumedMs: number[];
  /** Refusals over 1 s ("boot": after an emulator was made for it, which alone takes about that on a loaded machine). */
  slowRefusals: { i: number; kind: Kind; stage: "decode" | "boot"; ms: number }[];
  emulatorsCreated: number;
  emulatorsLive: number;
  timersBefore: number;
  timersAfter: number;
  resourcesAfter?: string[];
}

export async function fuzz(env: FuzzEnv, base: Base, iterations: number, seed: number, o: RunOptions & { progress?: (i: number, partial: FuzzReport) => void; kinds?: readonly Kind[]; trace?: (line: string) => void; from?: number } = {}): Promise<FuzzReport> {
  const r = new Rng(seed);
  const kinds = o.kinds ?? KINDS;
  const t0 = performance.now();
  const createdBefore = env.created.n;
  await settle(20);
  const rep: FuzzReport = {
    iterations, seconds: 0, byKind: new Map(), refusedBy: new Map(), resumed: 0, panicked: [], failures: [], decodeMs: [], bootRefusalMs: [],
    resumedMs: [], slowRefusals: [], emulatorsCreated: 0, emulatorsLive: 0, timersBefore: timers(), timersAfter: 0,
  };
  for (let i = 0; i < iterations; i++) {
    const kind = kinds[i % kinds.length];
    const dmg = damage(base, r, kind);
    if (o.from !== undefined && i < o.from) continue;
    if (o.trace) o.trace(`#${i} ${kind}: ${dmg.what}`);
    const out = await runOne(env, dmg.bytes, o);
    const label =
      out.type === "refused" ? `refused (${out.stage}): ${out.check}` : out.type === "resumed" ? "resumed" : out.type === "panicked" ? `resumed, then v86 trapped: ${out.what.slice(0, 60)}` : `FAILURE: ${out.what}`;
    const k = rep.byKind.get(kind) ?? new Map<string, number>();
    k.set(label, (k.get(label) ?? 0) + 1);
    rep.byKind.set(kind, k);
    if (out.type === "refused") {
      rep.refusedBy.set(`${out.stage}: ${out.check}`, (rep.refusedBy.get(`${out.stage}: ${out.check}`) ?? 0) + 1);
      (out.stage === "decode" ? rep.decodeMs : rep.bootRefusalMs).push(out.ms);
      if (out.ms > 1000) rep.slowRefusals.push({ i, kind, stage: out.stage, ms: out.ms });
    } else if (out.type === "resumed") {
      rep.resumed++;
      rep.resumedMs.push(out.ms);
    } else if (out.type === "panicked") rep.panicked.push({ i, kind, what: dmg.what, trap: out.what, stopHung: out.stopHung });
    else rep.failures.push({ i, kind, what: dmg.what, failure: out.what });
    o.progress?.(i + 1, rep);
  }
  // guest.stop() races v86's destroy() against a 2 s timer that stays pending: outwait it.
  await settle(2500);
  rep.seconds = (performance.now() - t0) / 1000;
  rep.emulatorsCreated = env.created.n - createdBefore;
  rep.emulatorsLive = env.live.size;
  rep.timersAfter = timers();
  rep.resourcesAfter = process.getActiveResourcesInfo();
  return rep;
}

const q = (a: number[], p: number): number => {
  if (a.length === 0) return NaN;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};

export function formatReport(rep: FuzzReport): string {
  const lines: string[] = [];
  const f = (n: number): string => (Number.isNaN(n) ? "-" : n.toFixed(1));
  lines.push(`${rep.iterations} inputs in ${rep.seconds.toFixed(1)} s; ${rep.resumed} resumed, ${rep.panicked.length} resumed then trapped in v86, ${rep.failures.length} failures`);
  lines.push("");
  lines.push("outcome by damage kind:");
  for (const [kind, m] of rep.byKind) {
    const n = [...m.values()].reduce((a, b) => a + b, 0);
    lines.push(`  ${kind} (${n})`);
    for (const [label, c] of [...m].sort((a, b) => b[1] - a[1])) lines.push(`    ${String(c).padStart(6)}  ${label}`);
  }
  lines.push("");
  lines.push("refused by check (all kinds):");
  for (const [label, c] of [...rep.refusedBy].sort((a, b) => b[1] - a[1])) lines.push(`  ${String(c).padStart(6)}  ${label}`);
  lines.push("");
  lines.push("times (ms):            n   median      p99      max");
  for (const [name, a] of [["refused at decode", rep.decodeMs], ["refused at resume", rep.bootRefusalMs], ["resumed (+run)", rep.resumedMs]] as const) {
    lines.push(`  ${name.padEnd(18)} ${String(a.length).padStart(6)} ${f(q(a, 0.5)).padStart(8)} ${f(q(a, 0.99)).padStart(8)} ${f(a.length ? Math.max(...a) : NaN).padStart(8)}`);
  }
  const slow = (stage: string): string => {
    const a = rep.slowRefusals.filter((s) => s.stage === stage);
    return `${a.length}${a.length ? ` (${a.slice(0, 4).map((s) => `#${s.i} ${s.kind} ${s.ms.toFixed(0)} ms`).join(", ")})` : ""}`;
  };
  lines.push(`refusals over 1 s: at decode ${slow("decode")}; at resume ${slow("boot")}`);
  lines.push(`emulators created ${rep.emulatorsCreated}, still live ${rep.emulatorsLive}; timers/immediates before ${rep.timersBefore}, after ${rep.timersAfter}${rep.resourcesAfter ? ` (active resources: ${rep.resourcesAfter.join(", ")})` : ""}`);
  if (rep.panicked.length) {
    lines.push("");
    lines.push("RESUMED, THEN v86 TRAPPED (value damage with the CRC recomputed; guest.stop() hung after the trap in " + rep.panicked.filter((p) => p.stopHung).length + "):");
    for (const x of rep.panicked.slice(0, 20)) lines.push(`  #${x.i} ${x.kind} (${x.what}): ${x.trap}`);
  }
  if (rep.failures.length) {
    lines.push("");
    lines.push("FAILURES:");
    for (const x of rep.failures.slice(0, 40)) lines.push(`  #${x.i} ${x.kind} (${x.what}): ${x.failure}`);
  }
  return lines.join("\n");
}
