// v86's own state inside a state file, checked before v86 sees it: its header and info block
// (what restore_state() would trip on), and the shape of its state tree against what this very
// v86 saves (set_state() trusts every entry's type and size).

import { StateFileError } from "./state-file-error.ts";
import { isCount, isObj, viewBytes } from "./untrusted.ts";

/** v86 0.5.x's own state header: magic and format version (src/state.js). */
const V86_STATE_MAGIC = 0x86768676;
const V86_STATE_VERSION = 6;


/** v86's own state header and info block inside the machine section (what restore_state() would trip on). */
export function checkV86State(m: Uint8Array): void {
  const bad = (what: string): never => {
    throw new StateFileError(`the state file's machine section (v86's save_state) is malformed: ${what}`);
  };
  if (m.byteLength < 16) bad("shorter than v86's header");
  const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
  if (dv.getUint32(0, true) !== V86_STATE_MAGIC) bad("no v86 state magic");
  if (dv.getUint32(4, true) !== V86_STATE_VERSION) bad(`v86 state version ${dv.getUint32(4, true)}, this v86 reads ${V86_STATE_VERSION}`);
  if (dv.getUint32(8, true) !== m.byteLength) bad("its length does not match v86's header");
  const infoLen = dv.getInt32(12, true);
  if (infoLen <= 0 || 16 + infoLen > m.byteLength) bad("info block length");
  let info: unknown;
  try {
    info = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(m.subarray(16, 16 + infoLen)));
  } catch {
    bad("info block is not JSON");
  }
  if (!isObj(info) || !Array.isArray(info.state) || !Array.isArray(info.buffer_infos)) return bad("info block fields");
  // v86 puts its buffers 4-byte aligned after the info block.
  const buffers = (16 + infoLen + 3) & ~3;
  for (const b of info.buffer_infos as unknown[]) {
    if (!isObj(b) || !isCount(b.offset) || !isCount(b.length) || buffers + b.offset + b.length > m.byteLength) bad("a buffer lies outside the section");
  }
}

/** A v86 state's tree (as its JSON info block has it) and its buffers. */
export interface V86StateTree {
  readonly state: unknown[];
  /** Each buffer's length in bytes, by buffer id. */
  readonly lengths: number[];
  buffer(id: number): Uint8Array;
}

/** v86's state (the machine section, checked by checkV86State) parsed: its state tree and its buffers. */
export function v86Tree(machine: Uint8Array): V86StateTree {
  const dv = new DataView(machine.buffer, machine.byteOffset, machine.byteLength);
  const infoLen = dv.getInt32(12, true);
  const info = JSON.parse(new TextDecoder().decode(machine.subarray(16, 16 + infoLen))) as { state: unknown[]; buffer_infos: { offset: number; length: number }[] };
  const base = (16 + infoLen + 3) & ~3;
  return {
    state: info.state,
    lengths: info.buffer_infos.map((b) => b.length),
    buffer: (id) => machine.subarray(base + info.buffer_infos[id].offset, base + info.buffer_infos[id].offset + info.buffer_infos[id].length),
  };
}

/** v86 0.5.x's guest RAM in its state: a bitmap of the non-zero 4 KiB pages (state[78]), those pages packed (state[77]). */
const V86_RAM_BITMAP = 78;
const V86_RAM_PAGES = 77;
/** v86's PCI bus: config spaces by pci_id (state[48][id], 64 dwords). */
const V86_PCI = 48;

/** The typed arrays v86's restore_state() rebuilds (src/state.js), with their element sizes. */
const V86_TYPED: Record<string, number> = {
  Uint8Array: 1, Int8Array: 1, Uint16Array: 2, Int16Array: 2, Uint32Array: 4, Int32Array: 4, Float32Array: 4, Float64Array: 8,
};

/** Top-level entries whose typed arrays legitimately differ in size from a fresh machine's: RAM (packed pages). */
const V86_FREE_SIZE = new Set([77]);

/** Where a typed array of any size may stand: state[index] paths whose length follows the guest, not the machine. */
function freeSize(path: (string | number)[]): boolean {
  return V86_FREE_SIZE.has(path[0] as number);
}

/**
 * Checks v86's state inside a machine section against `reference`, what this v86 saves for the
 * same machine (referenceState() of the fresh emulator the state is about to be restored into, or
 * its save_state()): every entry of the same kind — number, string, boolean, array of the same
 * length, typed array of the same type and size (guest RAM's packed pages excepted) — and every
 * object one v86 can rebuild. v86's set_state() assigns fields as it goes and trusts their
 * types and sizes: a damaged entry would throw half way through, or put a wrong-sized array
 * where the wasm reads. Throws a StateFileError naming the first entry that differs.
 */
export function checkV86StateAgainst(machine: ArrayBuffer | Uint8Array, reference: V86StateTree | ArrayBuffer | Uint8Array): void {
  const file = v86Tree(viewBytes(machine));
  const ref = "lengths" in reference ? reference : v86Tree(viewBytes(reference));
  const bad = (path: (string | number)[], what: string): never => {
    throw new StateFileError(`the state file's machine section (v86's save_state) does not fit this v86: state[${path.join("][")}] ${what}`);
  };
  const kind = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "array" : isObj(v) ? ("__state_type__" in v ? "typed array" : "object") : typeof v);
  const typed = (v: unknown, path: (string | number)[], lengths: number[]): { type: string; bytes: number } | undefined => {
    if (!isObj(v)) return undefined;
    const t = v.__state_type__;
    if (t === "Map") {
      if (!Array.isArray(v.args) || !v.args.every((e) => Array.isArray(e) && e.length === 2)) bad(path, "is a Map v86 cannot rebuild");
      return { type: "Map", bytes: -1 };
    }
    if (typeof t !== "string" || !Object.hasOwn(V86_TYPED, t) || Object.keys(v).length !== 2 || !Number.isSafeInteger(v.buffer_id)) return bad(path, "is an object v86 cannot rebuild");
    const id = v.buffer_id as number;
    if (id < 0 || id >= lengths.length) bad(path, `refers to buffer ${id}, of ${lengths.length}`);
    if (lengths[id] % V86_TYPED[t] !== 0) bad(path, `is a ${t} of ${lengths[id]} bytes (a partial element)`);
    return { type: t, bytes: lengths[id] };
  };
  const walk = (f: unknown, r: unknown, path: (string | number)[], depth: number): void => {
    if (depth > 64) bad(path, "is nested too deep");
    const ft = isObj(f) ? typed(f, path, file.lengths) : undefined;
    if (r === null || r === undefined || (Array.isArray(r) && r.length === 0)) {
      // Not set in a fresh machine (a device that never ran; the firmware's answer buffer, an
      // empty array until the BIOS asks): anything v86 can rebuild.
      if (Array.isArray(f)) f.forEach((x, i) => walk(x, null, [...path, i], depth + 1));
      return;
    }
    if (isObj(r)) {
      const rt = typed(r, path, ref.lengths);
      if (!ft || !rt || ft.type !== rt.type) return bad(path, `is ${ft ? `a ${ft.type}` : kind(f)} where this v86 has a ${rt?.type}`);
      if (rt.type !== "Map" && ft.bytes !== rt.bytes && !freeSize(path)) bad(path, `is ${ft.bytes} bytes where this v86 has ${rt.bytes}`);
      return;
    }
    if (kind(f) !== kind(r)) {
      // v86 leaves some numbers unset (undefined → null in JSON) until the device first runs.
      if (!(f === null && typeof r === "number") && !(r === null)) bad(path, `is ${kind(f)} where this v86 has ${kind(r)}`);
      return;
    }
    if (typeof f === "number" && !Number.isFinite(f)) bad(path, "is not a finite number");
    if (Array.isArray(f) && Array.isArray(r)) {
      if (f.length !== r.length) bad(path, `has ${f.length} entries where this v86 has ${r.length}`);
      f.forEach((x, i) => walk(x, r[i], [...path, i], depth + 1));
    }
  };
  if (!Array.isArray(file.state)) bad([], "is not an array");
  // The machine's own entries (0..255); v86-nvme's entry (256) is checked by the controller.
  const n = Math.max(Math.min(file.state.length, 256), Math.min(ref.state.length, 256));
  for (let i = 0; i < n; i++) walk(file.state[i] ?? null, ref.state[i] ?? null, [i], 0);
  // Entries past them (v86-nvme's) must still be what v86 rebuilds: known typed arrays, in range.
  for (let i = 256; i < file.state.length; i++) walk(file.state[i] ?? null, null, [i], 0);
  if (file.state[0] !== ref.state[0]) bad([0], `(memory size) is ${String(file.state[0])} where this machine has ${String(ref.state[0])}`);
  // v86's PCI set_state() takes a BAR whose low bit is set for an I/O BAR and reads the device's
  // pci_bars entry for it: a BIOS's size probe (all ones) saved mid-enumeration makes that a BAR
  // the device lacks, and the restore throws half way (reading 'original_bar' of undefined).
  const fp = file.state[V86_PCI];
  const rp = ref.state[V86_PCI];
  if (Array.isArray(fp) && Array.isArray(rp)) {
    for (let dev = 0; dev < 256; dev++) {
      const f = fp[dev];
      const r = rp[dev];
      if (!isObj(f) || !isObj(r)) continue;
      const fs = new DataView(file.buffer(f.buffer_id as number).slice().buffer);
      const rs = new DataView(ref.buffer(r.buffer_id as number).slice().buffer);
      for (let bar = 0; bar < 6 && 16 + 4 * bar + 4 <= Math.min(fs.byteLength, rs.byteLength); bar++) {
        if (fs.getUint32(16 + 4 * bar, true) & 1 && !(rs.getUint32(16 + 4 * bar, true) & 1)) {
          bad([V86_PCI, dev], `(PCI function ${dev >> 3}.${dev & 7}) has BAR${bar} as an I/O BAR this machine lacks (saved while the BIOS sized it?)`);
        }
      }
    }
  }
  // v86 copies the packed pages to the bitmap's pages in order: one bit too many or too few
  // shifts every page after it (the guest then runs whatever lands there).
  const bitmap = file.state[V86_RAM_BITMAP];
  const pages = file.state[V86_RAM_PAGES];
  if (isObj(bitmap) && isObj(pages) && typeof file.state[0] === "number") {
    const bits = file.buffer(bitmap.buffer_id as number);
    const n = Math.min(file.state[0] / 4096, bits.byteLength * 8);
    let set = 0;
    for (let i = 0; i < n; i++) set += (bits[i >> 3] >> (i & 7)) & 1;
    const packed = file.lengths[pages.buffer_id as number];
    if (packed !== set * 4096) bad([V86_RAM_PAGES], `(guest RAM) holds ${packed / 4096} pages where its bitmap (state[${V86_RAM_BITMAP}]) marks ${set}`);
  }
}
