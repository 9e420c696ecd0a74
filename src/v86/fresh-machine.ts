// Resuming a state into an emulator that has not run yet (autostart off, nothing loaded but the
// BIOSes), without the work v86 does for an arbitrary machine:
// - The reference a state file's shape is checked against (checkV86StateAgainst) is the shape of
//   what this emulator would save, read from its devices' get_state() without save_state()'s work:
//   no 4 KiB page of guest RAM tested for zeros (RAM's packed pages may be of any size), no byte
//   of its buffers copied (the VGA memory alone is 8 MB): they are views of the devices' arrays.
// - v86's restore zeroes all of guest RAM before writing the state's pages. In a fresh emulator
//   only the first MiB (where v86 put the BIOSes) was ever written; the rest is memory the system
//   has not handed out yet, and touching it costs a page fault per 4 KiB (most of a second for
//   128 MiB on a machine where faults are dear) to write zeros over zeros.
// - v86's restore copies every buffer out of the state before its devices copy them again (guest
//   RAM's pages into the wasm memory, the VGA memory into its own): the big ones are handed to
//   set_state() as views of the state instead, 40 MB less to copy into fresh memory.
// The first two work by standing in for one of v86's wasm functions for the duration of one call
// (cpu-stand-in.ts).

import { standIn } from "./cpu-stand-in.ts";
import { restoreState } from "./rewind.ts";
import { viewBytes } from "./untrusted.ts";
import { v86Tree, type V86StateTree } from "./v86-state-check.ts";

/** The part of guest RAM a fresh emulator has written: v86 loads the BIOS and VGA BIOS below 1 MiB. */
const WRITTEN_BELOW = 1 << 20;

type Emulator = { restore_state(state: ArrayBuffer): Promise<void> | void; v86?: { cpu?: unknown } };

/**
 * Buffers over this size go to set_state() as views of the state: v86 copies those (guest RAM's
 * pages, the VGA memory). Smaller ones are copies, as a device may keep what it is given, and a
 * kept view would keep the whole state alive.
 */
const VIEW_OVER = 1 << 20;

/** What v86's state tree names its typed arrays by (src/state.js). */
const TYPED: Record<string, { new (b: ArrayBufferLike, offset?: number, length?: number): ArrayBufferView; BYTES_PER_ELEMENT: number }> = {
  Uint8Array, Int8Array, Uint16Array, Int16Array, Uint32Array, Int32Array, Float32Array, Float64Array,
};

/** v86's state tree with its typed arrays (and Maps) rebuilt over `buffers`, as v86's restore does. */
function rebuild(v: unknown, buffers: Uint8Array[]): unknown {
  if (typeof v !== "object" || v === null) return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = rebuild(v[i], buffers);
    return v;
  }
  const { __state_type__: type, buffer_id: id, args } = v as { __state_type__: string; buffer_id: number; args?: Iterable<[unknown, unknown]> };
  if (type === "Map") return new Map(args);
  const Ctor = TYPED[type];
  let b = buffers[id];
  if (b.byteOffset % Ctor.BYTES_PER_ELEMENT !== 0) b = b.slice();
  return new Ctor(b.buffer, b.byteOffset, b.byteLength / Ctor.BYTES_PER_ELEMENT);
}

/** v86's restore of a state checked against this v86 (checkV86StateAgainst), copying only what must be copied. */
function setState(emulator: Emulator, state: Uint8Array): Promise<void> | void {
  const cpu = emulator.v86?.cpu as { set_state?(tree: unknown[]): void } | undefined;
  if (typeof cpu?.set_state !== "function") return restoreState(emulator, state);
  const tree = v86Tree(state);
  const buffers = tree.lengths.map((length, id) => (length > VIEW_OVER ? tree.buffer(id) : tree.buffer(id).slice()));
  cpu.set_state(rebuild(tree.state, buffers) as unknown[]);
}

/**
 * v86's save_object() (src/state.js) of `v` without copying: each typed array becomes the entry
 * v86 writes for it, and a view of its bytes is pushed to `buffers` (its buffer id is its place there).
 */
function treeOf(v: unknown, buffers: Uint8Array[]): unknown {
  if (typeof v !== "object" || v === null) return v;
  if (Array.isArray(v)) return v.map((x) => treeOf(x, buffers));
  if (v instanceof Map) return { __state_type__: "Map", args: Array.from(v, ([k, x]) => [treeOf(k, buffers), treeOf(x, buffers)]) };
  // A typed array, or v86's stand-in for one over its wasm memory (src/lib.js's view(), a Proxy).
  const typed = v as { BYTES_PER_ELEMENT?: number; buffer: ArrayBuffer; byteOffset: number; length: number; constructor: { name: string } };
  if (typed.BYTES_PER_ELEMENT) {
    const id = buffers.push(new Uint8Array(typed.buffer, typed.byteOffset, typed.length * typed.BYTES_PER_ELEMENT)) - 1;
    return { __state_type__: typed.constructor.name.replace("bound ", ""), buffer_id: id };
  }
  const device = v as { get_state?(): ArrayLike<unknown>; constructor: { name: string } };
  if (typeof device.get_state !== "function") throw new Error(`v86 keeps a ${device.constructor.name} in its state that it cannot save`);
  return Array.from(device.get_state(), (x) => treeOf(x, buffers));
}

/**
 * What `emulator` would save (the reference checkV86StateAgainst takes), guest RAM as if it were
 * all zeros, read from the machine as it is: its buffers are views of the devices' own arrays, so
 * check with it before the machine runs. A v86 without get_state() on its CPU is asked to save.
 */
export async function referenceState(emulator: Emulator & { save_state(): Promise<ArrayBuffer> }): Promise<V86StateTree> {
  const cpu = emulator.v86?.cpu as { get_state?: unknown } | undefined;
  const zeroed = <T>(fn: () => Promise<T> | T): Promise<T> => standIn<() => boolean, T>(cpu, "is_memory_zeroed", () => () => true, fn);
  if (typeof cpu?.get_state !== "function") return v86Tree(new Uint8Array(await zeroed(() => emulator.save_state())));
  return zeroed(() => {
    const buffers: Uint8Array[] = [];
    // As JSON gives it back (v86's info block is JSON): undefined and NaN read as null.
    const state = JSON.parse(JSON.stringify(treeOf(cpu, buffers))) as unknown[];
    return { state, lengths: buffers.map((b) => b.byteLength), buffer: (id) => buffers[id] };
  });
}

/**
 * restore_state() into an emulator that has not run and holds nothing above 1 MiB, of a state
 * checked with checkV86StateAgainst: v86's zeroing of guest RAM is kept to the first MiB, and its
 * big buffers are read where they lie in `state` (which may be a view).
 */
export function restoreFresh(emulator: Emulator, state: ArrayBuffer | Uint8Array): Promise<void> {
  return standIn<(addr: number, length: number) => void, void>(
    emulator.v86?.cpu,
    "zero_memory",
    (own) => (addr, length) => {
      if (addr < WRITTEN_BELOW) own(addr, Math.min(length, WRITTEN_BELOW - addr));
    },
    async () => setState(emulator, viewBytes(state)),
  );
}
