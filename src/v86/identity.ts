// What a snapshot must match to be restored: the image (a cheap identity and its size), the
// memory size and the controller configuration. Restoring into a guest with another image would
// leave the guest's page cache and file system state describing bytes that are not there.

import { canonicalOptionNames } from "../backends/option-names.ts";

/** What a snapshot was taken of; a restore or resume compares it field by field. */
export interface SnapshotIdentity {
  imageId: string;
  imageBytes: number;
  memory: number;
  /** The controller configuration, canonical JSON (backends replaced by their sizes). */
  nvme: string;
  ide: boolean;
}

const SAMPLES = 1024;
const SAMPLE_BYTES = 4096;

/** The ranges imageIdentity() reads of an image of `n` bytes, in order. */
function sampleRanges(n: number): [start: number, end: number][] {
  const clip = (s: number, e: number): [number, number] => [Math.max(0, s), Math.min(n, e)];
  const out = [clip(0, 1 << 20), clip(n - (1 << 20), n)];
  const step = Math.max(SAMPLE_BYTES, Math.floor(n / SAMPLES));
  for (let at = 0; at < n; at += step) out.push(clip(at, at + SAMPLE_BYTES));
  return out;
}

function hashSamples(n: number, samples: Uint8Array[]): string {
  let h1 = 0x811c9dc5 ^ n;
  let h2 = 0x9e3779b9 ^ Math.floor(n / 0x100000000);
  for (const part of samples) {
    for (let i = 0; i < part.length; i++) {
      const b = part[i];
      h1 = Math.imul(h1 ^ b, 0x01000193);
      h2 = Math.imul(h2 ^ b, 0x5bd1e995) ^ (h2 >>> 15);
    }
  }
  return `${(h1 >>> 0).toString(16).padStart(8, "0")}${(h2 >>> 0).toString(16).padStart(8, "0")}`;
}

/**
 * A 64-bit hash (hex) of the image's size, its first and last MiB and 1024 blocks of 4 KiB spread
 * evenly over it: a few MiB of reading whatever the image's size, and different for any two
 * images built apart (boot sectors, file system metadata and superblocks are all sampled).
 */
export function imageIdentity(image: Uint8Array): string {
  return hashSamples(image.byteLength, sampleRanges(image.byteLength).map(([s, e]) => image.subarray(s, e)));
}

/** imageIdentity() of an image of `bytes` read in pieces (a file read lazily). */
export async function imageIdentityOf(bytes: number, read: (start: number, end: number) => Promise<Uint8Array>): Promise<string> {
  return hashSamples(bytes, await Promise.all(sampleRanges(bytes).map(([s, e]) => read(s, e))));
}

function canonical(v: unknown): unknown {
  if (typeof v === "function" || v === undefined) return undefined;
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(canonical);
  // A block backend or wasm bytes/module: only its size matters to the guest.
  if ("byteLength" in v && ("tryRead" in v || ArrayBuffer.isView(v) || v instanceof ArrayBuffer)) return { bytes: (v as { byteLength: number }).byteLength };
  if (typeof WebAssembly !== "undefined" && v instanceof WebAssembly.Module) return undefined;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) {
    const x = canonical((v as Record<string, unknown>)[k]);
    if (x !== undefined) out[k] = x;
  }
  return out;
}

/** `o` (controller options) with aliases and old names renamed silently (option-names.ts), its namespaces too. */
function newNames(o: Record<string, unknown>): Record<string, unknown> {
  const out = canonicalOptionNames("controller", o);
  if (Array.isArray(out.namespaces)) {
    out.namespaces = out.namespaces.map((n: unknown) => (n && typeof n === "object" ? canonicalOptionNames("namespace", n as Record<string, unknown>) : n));
  }
  return out;
}

/**
 * The controller options as canonical JSON: the names of option-names.ts (an alias or an old name
 * gives the same key as the name), sorted keys, backends as their sizes, no functions, hot-path
 * wasm or command trace length (the host's, not the guest's).
 */
export function nvmeConfigKey(options: object): string {
  const { wasm: _wasm, log: _log, traceLength: _trace, ...rest } = newNames(options as Record<string, unknown>);
  return JSON.stringify(canonical(rest));
}

/** A recorded nvmeConfigKey under today's names (a state file of 0.1 keyed its options by their old names). */
function currentKey(key: string): string {
  try {
    const o: unknown = JSON.parse(key);
    return o && typeof o === "object" && !Array.isArray(o) ? nvmeConfigKey(o) : key;
  } catch {
    return key;
  }
}

function mib(bytes: number): string {
  return `${bytes / (1 << 20)} MiB`;
}

/** What about `snap` differs from `here`, as phrases ("memory 256 MiB (this guest: 128 MiB)"). */
export function mismatches(snap: SnapshotIdentity, here: SnapshotIdentity): string[] {
  const out: string[] = [];
  if (snap.imageBytes !== here.imageBytes) out.push(`another disk size: ${snap.imageBytes} bytes (this guest's image: ${here.imageBytes} bytes)`);
  else if (snap.imageId !== here.imageId) out.push(`another image: id ${snap.imageId} (this guest's image: ${here.imageId})`);
  if (snap.memory !== here.memory) out.push(`another memory size: ${mib(snap.memory)} (this guest: ${mib(here.memory)})`);
  if (snap.nvme !== here.nvme && currentKey(snap.nvme) !== currentKey(here.nvme)) {
    out.push(`another controller configuration: ${describeDiff(currentKey(snap.nvme), currentKey(here.nvme))}`);
  }
  if (snap.ide !== here.ide) out.push(`${snap.ide ? "an" : "no"} IDE disk (this guest: ${here.ide ? "one" : "none"})`);
  return out;
}

function describeDiff(a: string, b: string): string {
  let x: Record<string, unknown>;
  let y: Record<string, unknown>;
  try {
    x = JSON.parse(a) ?? {};
    y = JSON.parse(b) ?? {};
  } catch {
    return `${a} (this guest: ${b})`;
  }
  if (typeof x !== "object" || typeof y !== "object") return `${a} (this guest: ${b})`;
  const keys = [...new Set([...Object.keys(x), ...Object.keys(y)])].sort();
  const show = (v: unknown): string => (v === undefined ? "default" : JSON.stringify(v));
  return keys
    .filter((k) => JSON.stringify(x[k]) !== JSON.stringify(y[k]))
    .map((k) => `${k} ${show(x[k])} (this guest: ${show(y[k])})`)
    .join(", ");
}
