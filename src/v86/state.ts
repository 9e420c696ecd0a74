// NVMe state inside v86's own save_state()/restore_state() files.
//
// How v86 0.5.462 saves (src/state.js): save_state(cpu) walks cpu.get_state(), an array indexed
// by fixed numbers (0..89 in use), recursing into arrays, replacing typed arrays by references
// into a binary block and calling get_state() on device objects; plain objects are not allowed.
// The result is JSON + buffers (optionally zstd). restore_state() rebuilds the typed arrays and
// hands the array to cpu.set_state(). PCI config spaces of every registered function are saved
// by v86 itself (index 48), the PIC with its line levels too (index 60).
//
// So the adapter wraps get_state/set_state on the CPU instance (both are looked up on the object
// when called): get_state stores one more entry at STATE_INDEX, set_state restores v86 first and
// then hands each device its blob. The entry is ["v86-nvme", FORMAT, [name, blob]...]; a blob is
// the device's structured-clone-able state encoded into tagged arrays (below), so typed arrays
// travel in v86's binary block and everything else as JSON. Restoring a file without an entry
// for a device resets that device (its guest addresses would belong to another machine).
// A state passed as V86's `initial_state` option is restored before `emulator-loaded`, i.e.
// before the device exists: restore with emulator.restore_state() after attaching instead.

import type { V86Cpu } from "./v86-types.ts";

export const STATE_INDEX = 256;
const MAGIC = "v86-nvme";
const FORMAT = 1;

export interface StateParticipant {
  name: string;
  save(): unknown;
  restore(state: unknown): void;
  /** Called when a restored file has no entry for this device. */
  missing(): void;
}

type Tagged = null | boolean | number | string | ArrayBufferView | Tagged[];

const VIEW_TYPES: Record<string, new (b: ArrayBuffer) => ArrayBufferView> = {
  Uint8Array, Int8Array, Uint16Array, Int16Array, Uint32Array, Int32Array, Uint8ClampedArray,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array,
};

/** Structured-clone-able value → arrays, primitives and Uint8Arrays only (what v86 can save). */
export function encodeValue(v: unknown): Tagged {
  if (v === null || typeof v === "boolean" || typeof v === "string") return v;
  if (typeof v === "number") return Number.isFinite(v) ? v : ["n", String(v)];
  if (v === undefined) return ["u"];
  if (typeof v === "bigint") return ["b", v.toString()];
  if (Array.isArray(v)) return ["a", ...v.map(encodeValue)];
  if (v instanceof ArrayBuffer) return ["ab", new Uint8Array(v.slice(0))];
  if (ArrayBuffer.isView(v)) {
    const name = v instanceof DataView ? "DataView" : v.constructor.name;
    if (name !== "DataView" && !VIEW_TYPES[name]) throw new TypeError(`state: cannot save a ${name}`);
    return ["v", name, new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength))];
  }
  if (v instanceof Map) return ["m", ...[...v].map(([k, x]) => ["a", encodeValue(k), encodeValue(x)] as Tagged)];
  if (v instanceof Set) return ["s", ...[...v].map(encodeValue)];
  if (v instanceof Date) return ["d", v.getTime()];
  if (typeof v === "object") {
    // Like structuredClone: any other object becomes a plain one with its own enumerable fields.
    const out: Tagged[] = ["o"];
    for (const [k, x] of Object.entries(v)) out.push(k, encodeValue(x));
    return out;
  }
  throw new TypeError(`state: cannot save a ${typeof v}`);
}

function bytes(x: unknown): Uint8Array {
  if (x instanceof Uint8Array) return x;
  throw new TypeError("state: expected bytes");
}

export function decodeValue(t: unknown): unknown {
  if (!Array.isArray(t)) return t;
  const items = t.slice(1);
  switch (t[0]) {
    case "n": return Number(t[1]);
    case "u": return undefined;
    case "b": return BigInt(t[1] as string);
    case "a": return items.map(decodeValue);
    case "ab": return bytes(t[1]).slice().buffer;
    case "v": {
      const copy = bytes(t[2]).slice().buffer;
      if (t[1] === "DataView") return new DataView(copy);
      const Ctor = VIEW_TYPES[t[1] as string];
      if (!Ctor) throw new TypeError(`state: unknown view type ${t[1]}`);
      return new Ctor(copy);
    }
    case "m": return new Map(items.map((e) => (decodeValue(e) as [unknown, unknown])));
    case "s": return new Set(items.map(decodeValue));
    case "d": return new Date(t[1] as number);
    case "o": {
      const o: Record<string, unknown> = {};
      for (let i = 0; i + 1 < items.length; i += 2) o[items[i] as string] = decodeValue(items[i + 1]);
      return o;
    }
    default: throw new TypeError(`state: unknown tag ${String(t[0])}`);
  }
}

const registries = new WeakMap<V86Cpu, Map<string, StateParticipant>>();

/** Adds a device to the CPU's save/restore; installs the wrappers on the first call. */
export function joinSaveState(cpu: V86Cpu, p: StateParticipant): () => void {
  let devices = registries.get(cpu);
  if (!devices) {
    const registry = new Map<string, StateParticipant>();
    devices = registry;
    registries.set(cpu, registry);
    const getState = cpu.get_state;
    const setState = cpu.set_state;
    cpu.get_state = function (this: V86Cpu): unknown[] {
      const state = getState.call(this);
      const entry: Tagged[] = [MAGIC, FORMAT];
      for (const d of registry.values()) entry.push([d.name, encodeValue(d.save())]);
      state[STATE_INDEX] = entry;
      return state;
    };
    cpu.set_state = function (this: V86Cpu, state: unknown[]): void {
      setState.call(this, state);
      const entry = state[STATE_INDEX];
      const blobs = new Map<string, unknown>();
      if (Array.isArray(entry) && entry[0] === MAGIC) {
        if (entry[1] !== FORMAT) throw new Error(`v86-nvme: state format ${entry[1]} is not ${FORMAT}`);
        for (const e of entry.slice(2)) if (Array.isArray(e)) blobs.set(e[0] as string, e[1]);
      }
      for (const d of registry.values()) {
        if (blobs.has(d.name)) d.restore(decodeValue(blobs.get(d.name)));
        else d.missing();
      }
    };
  }
  if (devices.has(p.name)) throw new Error(`${p.name}: a device of that name is already attached`);
  devices.set(p.name, p);
  return () => devices.delete(p.name);
}
