// v86's wasm, fetched and compiled once as the page opens (by index.html's first script, see
// early-files.ts): beside the saved state's download rather than after it. The emulator is made
// from the compiled module, and the state decoder uses the zstd decoder inside it (src/v86/zstd.ts).

import v86WasmUrl from "v86/build/v86.wasm?url";
import { takeEarly } from "./early-files.ts";

let compiled: Promise<WebAssembly.Module> | undefined;

async function fetchAndCompile(): Promise<WebAssembly.Module> {
  const res = await fetch(v86WasmUrl);
  if (!res.ok) throw new Error(`${v86WasmUrl}: HTTP ${res.status}`);
  // compileStreaming needs the server to say application/wasm; otherwise compile the bytes.
  if (/application\/wasm/i.test(res.headers.get("content-type") ?? "")) return WebAssembly.compileStreaming(res);
  return WebAssembly.compile(await res.arrayBuffer());
}

/** The compiled module (index.html's script started it, else the first call does). */
export function v86Module(): Promise<WebAssembly.Module> {
  compiled ??= takeEarly("v86Wasm")?.catch(fetchAndCompile) ?? fetchAndCompile();
  compiled.catch(() => (compiled = undefined));
  return compiled;
}

/** V86's `wasm_fn` option: the emulator instantiates the compiled module. */
export async function instantiateV86(imports: WebAssembly.Imports): Promise<WebAssembly.Exports> {
  return (await WebAssembly.instantiate(await v86Module(), imports)).exports;
}
