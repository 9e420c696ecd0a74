// v86's wasm, fetched and compiled once as the page opens: beside the saved state's download
// rather than after it. The emulator is made from the compiled module, and the state decoder
// uses the zstd decoder inside it (src/v86/zstd.ts).

import v86WasmUrl from "v86/build/v86.wasm?url";

let compiled: Promise<WebAssembly.Module> | undefined;

/** The compiled module (started on the first call; the page calls this as it loads). */
export function v86Module(): Promise<WebAssembly.Module> {
  compiled ??= (async () => {
    const res = await fetch(v86WasmUrl);
    if (!res.ok) throw new Error(`${v86WasmUrl}: HTTP ${res.status}`);
    // compileStreaming needs the server to say application/wasm; otherwise compile the bytes.
    if (/application\/wasm/i.test(res.headers.get("content-type") ?? "")) return WebAssembly.compileStreaming(res);
    return WebAssembly.compile(await res.arrayBuffer());
  })();
  compiled.catch(() => (compiled = undefined));
  return compiled;
}

/** V86's `wasm_fn` option: the emulator instantiates the compiled module. */
export async function instantiateV86(imports: WebAssembly.Imports): Promise<WebAssembly.Exports> {
  return (await WebAssembly.instantiate(await v86Module(), imports)).exports;
}
