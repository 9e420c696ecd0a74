// What bootGuest() hands v86 and how it watches it: the config's checks, buffers v86 takes whole,
// v86's wasm option, and v86's own failures named with its version and what to do.

import type { V86, V86Options } from "v86";
import type { GuestConfig } from "./types.ts";

const MIB = 1 << 20;

export function bytesOf(b: ArrayBuffer | Uint8Array, what: string): Uint8Array {
  if (b instanceof Uint8Array) return b;
  if (b instanceof ArrayBuffer) return new Uint8Array(b);
  throw new TypeError(`bootGuest: ${what} must be an ArrayBuffer or a Uint8Array`);
}

/** An ArrayBuffer holding exactly these bytes (v86 wants whole buffers; copied only when it must be). */
export function ownBuffer(b: Uint8Array): ArrayBuffer {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer) return b.buffer;
  return b.slice().buffer;
}

export function v86WasmOptions(wasm: GuestConfig["v86Wasm"]): Partial<V86Options> {
  if (typeof wasm === "string") return { wasm_path: wasm };
  const source = wasm instanceof WebAssembly.Module ? wasm : bytesOf(wasm as ArrayBuffer | Uint8Array, "v86Wasm");
  return {
    wasm_fn: async (imports: WebAssembly.Imports) =>
      source instanceof WebAssembly.Module
        ? (await WebAssembly.instantiate(source, imports)).exports
        : (await WebAssembly.instantiate(source as Uint8Array<ArrayBuffer>, imports)).instance.exports,
  };
}

export function checkConfig(config: GuestConfig, memory: number): void {
  if (!config || typeof config !== "object") throw new TypeError("bootGuest: give a config object");
  if (typeof config.V86 !== "function") throw new TypeError("bootGuest: `V86` must be v86's V86 class (import { V86 } from \"v86\")");
  if (config.v86Wasm === undefined) throw new TypeError("bootGuest: `v86Wasm` (v86's v86.wasm: path, URL, bytes or module) is missing");
  if (config.bios === undefined) throw new TypeError("bootGuest: `bios` (SeaBIOS, e.g. bios-256k.bin) is missing");
  if (config.image === undefined) throw new TypeError("bootGuest: `image` (namespace 1's raw disk image) is missing");
  if (!Number.isSafeInteger(memory) || memory < 32 * MIB || memory > 2048 * MIB || memory % MIB !== 0) {
    throw new RangeError(`bootGuest: memory is bytes, a whole number of MiB from 32 MiB to 2 GiB (got ${memory})`);
  }
  if (config.initrd && !config.kernel) throw new TypeError("bootGuest: `initrd` needs `kernel`");
  if (config.initrd && memory < 64 * MIB) throw new RangeError("bootGuest: v86 places the initrd at 64 MiB: memory must be more than that");
}

/** The v86 releases v86-nvme works with (package.json's peer range; SUPPORTED_V86_RANGE in src/v86/v86-types.ts). */
const SUPPORTED_V86 = ">=0.5.10 <0.6.0";

/** An exception out of v86 itself, named with its version and what to do. */
export function v86Failed(e: unknown, version: string | undefined, when: string): Error {
  const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return new Error(
    `bootGuest: ${version ? `v86 ${version}` : "this v86"} failed inside itself ${when} (${what}); ` +
      `v86-nvme works with v86 ${SUPPORTED_V86}: install one of those (npm install v86@0.5)`,
    { cause: e },
  );
}

/** v86's main loop object (emulator.v86): one do_tick() per slice of guest time, from a timer. */
interface V86Loop {
  do_tick(): void;
  stop?(): void;
  next_tick?(delay: number): void;
}

/**
 * Until the returned function is called, an exception thrown inside v86's main loop (e.g. v86
 * 0.4.0's `DEBUG is not defined` at the guest's first serial byte) goes to `died` instead of out
 * of a timer callback, and the machine stops the way emulator.stop() expects.
 */
export function watchV86Loop(emulator: V86, died: (e: unknown) => void): () => void {
  const loop = (emulator as unknown as { v86?: V86Loop }).v86;
  if (!loop || typeof loop.do_tick !== "function") return () => {};
  const own = Object.prototype.hasOwnProperty.call(loop, "do_tick");
  const original = loop.do_tick;
  const watched = function (this: V86Loop): void {
    try {
      original.call(this);
    } catch (e) {
      died(e);
      // v86's own way down: the next tick sees `stopping` and sends emulator-stopped.
      this.stop?.();
      this.next_tick?.(0);
    }
  };
  loop.do_tick = watched;
  return () => {
    if (loop.do_tick !== watched) return;
    if (own) loop.do_tick = original;
    else delete (loop as Partial<V86Loop>).do_tick;
  };
}
